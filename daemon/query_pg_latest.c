/* query_pg_latest.c: the PostgreSQL backend's latest point of each series
 * of the recently active runs (query.h), for GET /metrics: the query of
 * query_sqlite_latest.c (runs by last_seen, their series, the point at
 * series.last_step), in the same order, one row past the limit to tell
 * whether it cut anything.
 */
#include "query_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

long query__pg_latest(query_t *q, double since, size_t limit, query_latest_fn fn, void *ctx,
                      int *more, char *err, size_t errlen)
{
    char s[32], l[32];
    snprintf(s, sizeof s, "%.17g", since);
    snprintf(l, sizeof l, "%zu", limit + 1);
    const char *p[2] = {s, l};
    *more = 0;
    query__pg_enter(q);
    int rc = 0;
    PGresult *r = query__pg_exec(q, QPG_LATEST, 2, p, 0, &rc, err, errlen);
    if (!r)
        return rc;
    long n = 0;
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        if ((size_t)n == limit) {
            *more = 1;
            break;
        }
        n++;
        if (fn(ctx, query__pg_text(r, i, 0), query__pg_text(r, i, 1), query__pg_text(r, i, 2),
               query__pg_int(r, i, 3), query__pg_real(r, i, 4)) != 0)
            break;
    }
    PQclear(r);
    return n;
}
