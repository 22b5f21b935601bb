/* query_sqlite_alerts.c: GET /api/alerts's reads on SQLite (query_alerts
 * in query.h).
 *
 * The statement is built from the filters given (each one a bound
 * parameter, never pasted text) so that a filter on run uses the
 * alerts_by_run index. Rows are streamed into JSON by column type: NULL
 * (not yet fired, not resolved) stays null, integers stay exact.
 */
#include "query_sqlite.h"

#include <stdio.h>
#include <string.h>

#include "alerts.h"

static const char s_columns[] =
    "id, daemon, rule, run, tag, metric, severity, state, value, first_step, first_time,"
    " fired_step, fired_time, last_step, last_time, resolved_step, resolved_time,"
    " summary, description";

int query__sqlite_alerts(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err,
                         size_t errlen)
{
    sqlite3 *db = query__db(q);
    char sql[1024];
    int k = snprintf(sql, sizeof sql, "SELECT %s FROM alerts WHERE 1", s_columns);
    if (f->run)
        k += snprintf(sql + k, sizeof sql - (size_t)k, " AND run = ?1");
    if (f->tag)
        k += snprintf(sql + k, sizeof sql - (size_t)k, " AND tag = ?2");
    if (f->states) {
        k += snprintf(sql + k, sizeof sql - (size_t)k, " AND state IN (");
        int first = 1;
        for (int s = ALERT_PENDING; s <= ALERT_RESOLVED; s++) {
            if (!(f->states & (1u << s)))
                continue;
            k += snprintf(sql + k, sizeof sql - (size_t)k, "%s'%s'", first ? "" : ", ",
                          alert_state_name((alert_state_t)s));
            first = 0;
        }
        k += snprintf(sql + k, sizeof sql - (size_t)k, ")");
    }
    snprintf(sql + k, sizeof sql - (size_t)k, " ORDER BY id DESC LIMIT ?3");

    size_t mark = out->len;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (f->run)
            sqlite3_bind_text(st, 1, f->run, -1, SQLITE_STATIC);
        if (f->tag)
            sqlite3_bind_text(st, 2, f->tag, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3,
                           (sqlite3_int64)(f->limit ? f->limit : ALERTS_QUERY_LIMIT_DEFAULT));
    }
    size_t count = 0;
    strbuf_puts(out, "{\"alerts\":[");
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW)
            break;
        strbuf_puts(out, count++ ? ",{" : "{");
        int n = sqlite3_column_count(st);
        for (int i = 0; i < n; i++) {
            if (i)
                strbuf_putc(out, ',');
            strbuf_json_str(out, sqlite3_column_name(st, i));
            strbuf_putc(out, ':');
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                strbuf_printf(out, "%lld", (long long)sqlite3_column_int64(st, i));
                break;
            case SQLITE_FLOAT:
                strbuf_json_num(out, sqlite3_column_double(st, i));
                break;
            case SQLITE_TEXT:
                strbuf_json_str(out, (const char *)sqlite3_column_text(st, i));
                break;
            default:
                strbuf_puts(out, "null");
            }
        }
        strbuf_putc(out, '}');
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        out->len = mark;
        out->data[mark] = '\0';
        return -1;
    }
    sqlite3_finalize(st);
    strbuf_printf(out, "],\"count\":%zu}", count);
    return 0;
}
