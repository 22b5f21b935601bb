/* query_pg_run.c: GET /api/run's reads on PostgreSQL (query_run in
 * query.h): the runs row found by name, by launch, or as a resume would
 * find it (the latest run of that base, else the run of that name), then
 * its launches; the same JSON as query_sqlite_run.c. The config is stored
 * JSON text (checked by the decoder) and goes out as it is. Both reads
 * share one snapshot.
 */
#include "query_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void s_real(strbuf_t *b, const PGresult *r, int row, int col)
{
    if (query__pg_null(r, row, col))
        strbuf_puts(b, "null");
    else
        strbuf_json_num(b, query__pg_real(r, row, col));
}

static void s_int(strbuf_t *b, const PGresult *r, int row, int col)
{
    if (query__pg_null(r, row, col))
        strbuf_puts(b, "null");
    else
        strbuf_printf(b, "%" PRId64, query__pg_int(r, row, col));
}

static void s_str(strbuf_t *b, const PGresult *r, int row, int col)
{
    if (query__pg_null(r, row, col))
        strbuf_puts(b, "null");
    else
        strbuf_json_str(b, query__pg_text(r, row, col));
}

/* Runs one statement of the runs columns; on a row appends the run object
 * without its launches (left open) and sets *id. 1 (a row), 0 (none) or a
 * negative code with err filled. */
static int s_find(query_t *q, int which, const char *a, const char *b, strbuf_t *out, int64_t *id,
                  char *err, size_t errlen)
{
    const char *p[2] = {a, b};
    int rc = 0;
    PGresult *r = query__pg_exec(q, which, b ? 2 : 1, p, 0, &rc, err, errlen);
    if (!r)
        return rc;
    int found = PQntuples(r) > 0;
    if (found) {
        *id = query__pg_int(r, 0, 0);
        strbuf_puts(out, "{\"run\":");
        s_str(out, r, 0, 1);
        strbuf_puts(out, ",\"base\":");
        s_str(out, r, 0, 2);
        strbuf_puts(out, ",\"launch\":");
        s_str(out, r, 0, 3);
        strbuf_puts(out, ",\"first_seen\":");
        s_real(out, r, 0, 4);
        strbuf_puts(out, ",\"last_seen\":");
        s_real(out, r, 0, 5);
        strbuf_puts(out, ",\"last_step\":");
        s_int(out, r, 0, 6);
        strbuf_puts(out, ",\"config\":");
        strbuf_puts(out, query__pg_null(r, 0, 7) ? "null" : query__pg_text(r, 0, 7));
        strbuf_puts(out, ",\"notes\":");
        s_str(out, r, 0, 8);
    }
    PQclear(r);
    return found;
}

static int s_launches(query_t *q, int64_t id, strbuf_t *out, char *err, size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *p[1] = {ids};
    int rc = 0;
    PGresult *r = query__pg_exec(q, QPG_LAUNCHES, 1, p, 0, &rc, err, errlen);
    if (!r)
        return rc;
    strbuf_puts(out, ",\"launches\":[");
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        strbuf_puts(out, i ? ",{\"launch\":" : "{\"launch\":");
        s_str(out, r, i, 0);
        strbuf_puts(out, ",\"name\":");
        s_str(out, r, i, 1);
        strbuf_puts(out, query__pg_int(r, i, 2) ? ",\"resumed\":true" : ",\"resumed\":false");
        strbuf_puts(out, ",\"first_step\":");
        s_int(out, r, i, 3);
        strbuf_puts(out, ",\"first_seen\":");
        s_real(out, r, i, 4);
        strbuf_putc(out, '}');
    }
    strbuf_puts(out, "]}");
    PQclear(r);
    return 0;
}

static int s_run_body(query_t *q, const query_run_key_t *k, strbuf_t *out, char *err, size_t errlen)
{
    int64_t id = 0;
    int rc;
    if (k->run) {
        rc = s_find(q, QPG_RUN_BY_NAME, k->run, NULL, out, &id, err, errlen);
    } else if (k->launch) {
        rc = s_find(q, QPG_RUN_BY_LAUNCH, k->launch, k->name, out, &id, err, errlen);
    } else {
        rc = s_find(q, QPG_RUN_BY_BASE, k->resume, NULL, out, &id, err, errlen);
        if (rc == 0)
            rc = s_find(q, QPG_RUN_BY_NAME, k->resume, NULL, out, &id, err, errlen);
    }
    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    return s_launches(q, id, out, err, errlen);
}

int query__pg_run(query_t *q, const query_run_key_t *k, strbuf_t *out, char *err, size_t errlen)
{
    size_t start = out->len;
    query__pg_enter(q);
    int rc = query__pg_begin(q, err, errlen);
    if (rc == 0)
        rc = query__pg_end(q, s_run_body(q, k, out, err, errlen), err, errlen);
    if (rc == 0)
        return 0;
    out->len = start;
    out->data[start] = '\0';
    return rc == -EAGAIN || rc == -ENOENT ? rc : -EIO;
}
