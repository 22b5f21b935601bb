/* query_sqlite_run.c: GET /api/run's reads on SQLite (query_run in
 * query.h). The runs row is found one of three ways (by name, by launch, as
 * a resume would find it: the same rule as store_sqlite.c's, latest run of
 * that base, else the run of that name); its config is stored JSON text,
 * checked by the decoder with jansson, and goes out as it is. Statements are
 * prepared per request, like query_sqlite_alerts.c: the endpoint is asked
 * once per launch or selection, not per point. */
#include "query_sqlite.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define S_COLS "id, name, base, launch, first_seen, last_seen, last_step, config, notes"

static void s_real(strbuf_t *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        strbuf_puts(b, "null");
    else
        strbuf_json_num(b, sqlite3_column_double(st, col));
}

static void s_int(strbuf_t *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        strbuf_puts(b, "null");
    else
        strbuf_printf(b, "%" PRId64, (int64_t)sqlite3_column_int64(st, col));
}

static void s_str(strbuf_t *b, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (t)
        strbuf_json_str(b, (const char *)t);
    else
        strbuf_puts(b, "null");
}

/* Runs one SELECT S_COLS with up to two text parameters; on a row, appends
 * the run object without its launches (left open) and sets *id. Returns
 * SQLITE_ROW, SQLITE_DONE (no row) or an error. */
static int s_find(sqlite3 *db, const char *sql, const char *a, const char *b, strbuf_t *out,
                  int64_t *id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        strbuf_puts(out, "{\"run\":");
        s_str(out, st, 1);
        strbuf_puts(out, ",\"base\":");
        s_str(out, st, 2);
        strbuf_puts(out, ",\"launch\":");
        s_str(out, st, 3);
        strbuf_puts(out, ",\"first_seen\":");
        s_real(out, st, 4);
        strbuf_puts(out, ",\"last_seen\":");
        s_real(out, st, 5);
        strbuf_puts(out, ",\"last_step\":");
        s_int(out, st, 6);
        strbuf_puts(out, ",\"config\":");
        const unsigned char *cfg = sqlite3_column_text(st, 7);
        strbuf_puts(out, cfg ? (const char *)cfg : "null"); /* a JSON object */
        strbuf_puts(out, ",\"notes\":");
        s_str(out, st, 8);
    }
    sqlite3_finalize(st);
    return rc;
}

static int s_launches(sqlite3 *db, int64_t id, strbuf_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT launch, name, resumed, first_step, first_seen"
                                " FROM launches WHERE run_id = ?1 ORDER BY first_seen, rowid",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    strbuf_puts(out, ",\"launches\":[");
    for (int n = 0; (rc = sqlite3_step(st)) == SQLITE_ROW; n++) {
        strbuf_puts(out, n ? ",{\"launch\":" : "{\"launch\":");
        s_str(out, st, 0);
        strbuf_puts(out, ",\"name\":");
        s_str(out, st, 1);
        strbuf_puts(out, sqlite3_column_int(st, 2) ? ",\"resumed\":true" : ",\"resumed\":false");
        strbuf_puts(out, ",\"first_step\":");
        s_int(out, st, 3);
        strbuf_puts(out, ",\"first_seen\":");
        s_real(out, st, 4);
        strbuf_putc(out, '}');
    }
    sqlite3_finalize(st);
    strbuf_puts(out, "]}");
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int query__sqlite_run(query_t *q, const query_run_key_t *r, strbuf_t *out, char *err, size_t errlen)
{
    sqlite3 *db = query__db(q);
    size_t start = out->len;
    int64_t id = 0;
    int rc;
    if (r->run) {
        rc = s_find(db, "SELECT " S_COLS " FROM runs WHERE name = ?1", r->run, NULL, out, &id);
    } else if (r->launch) {
        rc = s_find(db,
                    "SELECT r.id, r.name, r.base, r.launch, r.first_seen, r.last_seen,"
                    " r.last_step, r.config, r.notes FROM launches AS l"
                    " JOIN runs AS r ON r.id = l.run_id WHERE l.launch = ?1 AND l.name = ?2",
                    r->launch, r->name, out, &id);
    } else {
        rc = s_find(db, "SELECT " S_COLS " FROM runs WHERE base = ?1 ORDER BY id DESC LIMIT 1",
                    r->resume, NULL, out, &id);
        if (rc == SQLITE_DONE)
            rc = s_find(db, "SELECT " S_COLS " FROM runs WHERE name = ?1", r->resume, NULL, out,
                        &id);
    }
    if (rc == SQLITE_ROW)
        rc = s_launches(db, id, out);
    if (rc == SQLITE_OK)
        return 0;
    out->len = start;
    out->data[start] = '\0';
    if (rc == SQLITE_DONE)
        return -ENOENT;
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    return -EIO;
}
