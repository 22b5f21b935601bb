/* query_pg_alerts.c: GET /api/alerts's reads on PostgreSQL (query_alerts
 * in query.h).
 *
 * One constant statement per combination of the run and tag filters (so a
 * filter on run uses alerts_by_run); the states are bound as an array. The
 * columns are those of query_sqlite_alerts.c with `daemon` (which erwatchd
 * raised the alert) after `id`, written by their PostgreSQL type as SQLite's
 * backend writes them by storage class: integers exact, reals through
 * strbuf_json_num, NULL as null. `id` is the database's number, unique
 * across the daemons that share it.
 */
#include "query_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alerts.h"

/* PostgreSQL's type oids (catalog/pg_type_d.h, stable since 7.x). */
#define S_INT8OID 20
#define S_INT2OID 21
#define S_INT4OID 23
#define S_FLOAT4OID 700
#define S_FLOAT8OID 701

int query__pg_alerts(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err, size_t errlen)
{
    char states[64] = "{", limit[32];
    size_t k = 1;
    for (int s = ALERT_PENDING; s <= ALERT_RESOLVED; s++)
        if (!f->states || (f->states & (1u << s)))
            k += (size_t)snprintf(states + k, sizeof states - k, "%s%s", k > 1 ? "," : "",
                                  alert_state_name((alert_state_t)s));
    snprintf(states + k, sizeof states - k, "}");
    snprintf(limit, sizeof limit, "%zu", f->limit ? f->limit : (size_t)ALERTS_QUERY_LIMIT_DEFAULT);
    const char *p[4] = {states, limit, NULL, NULL};
    int n = 2, which = QPG_ALERTS;
    if (f->run && f->tag) {
        which = QPG_ALERTS_RUN_TAG;
        p[n++] = f->run;
        p[n++] = f->tag;
    } else if (f->run) {
        which = QPG_ALERTS_RUN;
        p[n++] = f->run;
    } else if (f->tag) {
        which = QPG_ALERTS_TAG;
        p[n++] = f->tag;
    }
    query__pg_enter(q);
    int rc = 0;
    PGresult *r = query__pg_exec(q, which, n, p, 0, &rc, err, errlen);
    if (!r)
        return rc == -EAGAIN ? rc : -1;
    int rows = PQntuples(r), cols = PQnfields(r);
    strbuf_puts(out, "{\"alerts\":[");
    for (int i = 0; i < rows; i++) {
        strbuf_puts(out, i ? ",{" : "{");
        for (int c = 0; c < cols; c++) {
            if (c)
                strbuf_putc(out, ',');
            strbuf_json_str(out, PQfname(r, c));
            strbuf_putc(out, ':');
            if (PQgetisnull(r, i, c)) {
                strbuf_puts(out, "null");
                continue;
            }
            switch (PQftype(r, c)) {
            case S_INT8OID:
            case S_INT4OID:
            case S_INT2OID:
                strbuf_printf(out, "%" PRId64, query__pg_int(r, i, c));
                break;
            case S_FLOAT8OID:
            case S_FLOAT4OID:
                strbuf_json_num(out, query__pg_real(r, i, c));
                break;
            default:
                strbuf_json_str(out, PQgetvalue(r, i, c));
            }
        }
        strbuf_putc(out, '}');
    }
    strbuf_printf(out, "],\"count\":%d}", rows);
    PQclear(r);
    return 0;
}
