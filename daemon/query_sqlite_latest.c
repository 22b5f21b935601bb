/* query_sqlite_latest.c: the SQLite backend's latest point of each series of the recently active
 * runs (query.h), for GET /metrics. One indexed join: runs by last_seen,
 * their series, and for each series the point at series.last_step (the
 * points table's primary key). Reads the query_t's own read-only
 * connection; never the writer's.
 */
#include "query_sqlite.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

long query__sqlite_latest(query_t *q, double since, size_t limit, query_latest_fn fn, void *ctx,
                          int *more, char *err, size_t errlen)
{
    static const char sql[] = "SELECT r.name, s.tag, s.metric, s.last_step, p.value"
                              "  FROM runs r JOIN series s ON s.run_id = r.id"
                              "  JOIN points p ON p.series_id = s.id AND p.step = s.last_step"
                              " WHERE r.last_seen >= ?1"
                              " ORDER BY r.last_seen DESC, r.id, s.tag, s.metric"
                              " LIMIT ?2";
    sqlite3 *db = query__db(q);
    sqlite3_stmt *st = NULL;
    *more = 0;
    if (sqlite3_prepare_v3(db, sql, -1, 0, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return -EIO;
    }
    sqlite3_bind_double(st, 1, since);
    /* One row past the limit says whether the limit cut anything. */
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
    long n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)n == limit) {
            *more = 1;
            continue;
        }
        const char *run = (const char *)sqlite3_column_text(st, 0);
        const char *tag = (const char *)sqlite3_column_text(st, 1);
        const char *metric = (const char *)sqlite3_column_text(st, 2);
        double v = sqlite3_column_type(st, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 4);
        if (!run || !tag || !metric)
            continue;
        n++;
        if (fn(ctx, run, tag, metric, sqlite3_column_int64(st, 3), v) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return -EIO;
    }
    sqlite3_finalize(st);
    return n;
}
