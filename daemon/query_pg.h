/* query_pg.h: the inside of the query side's PostgreSQL backend
 * (query_pg.c) that its other files (query_pg_run.c, query_pg_alerts.c,
 * query_pg_latest.c) use: running a statement on the handle's connection,
 * reading result columns, and their functions that fill the backend's table
 * (query_backend.h). Only daemon/query_pg*.c include it. Internal names use
 * the query__pg_ prefix.
 *
 * Every statement is a constant string with bound text parameters, named
 * by an index into query_pg.c's table and prepared on first use on each
 * connection. A statement that fails because the connection is gone
 * (PostgreSQL restarted, the network cut) makes the call return -EAGAIN;
 * when it was the first statement of the call, the connection is
 * re-opened once and the statement retried first, so a connection that
 * broke while it sat in http.c's pool costs no failed request.
 */
#ifndef ERWATCH_QUERY_PG_H
#define ERWATCH_QUERY_PG_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "query_backend.h"

/* The statements (SQL text in query_pg.c). */
enum {
    QPG_RUNS,
    QPG_RUNS_PAGE,
    QPG_RUNS_COUNT,
    QPG_SERIES_ID,
    QPG_POINTS,
    QPG_DROPPED,
    QPG_VIEW_HEAD,
    QPG_VIEW_LAST,
    QPG_BUCKET,
    QPG_BUCKET_WIDE,
    QPG_SUMMARIZED,
    QPG_SUMMARY,
    QPG_SHAPE,
    QPG_RUN_SERIES,
    QPG_RUN_ID,
    QPG_SPEC_RANGE,
    QPG_SPEC_LAST,
    QPG_BEGIN,
    QPG_COMMIT,
    QPG_ROLLBACK,
    QPG_LATEST,
    QPG_ALERTS,
    QPG_ALERTS_RUN,
    QPG_ALERTS_TAG,
    QPG_ALERTS_RUN_TAG,
    QPG_RUN_BY_NAME,
    QPG_RUN_BY_LAUNCH,
    QPG_RUN_BY_BASE,
    QPG_LAUNCHES,
    QPG_NSTMT
};

/* Marks the start of one query.h call on q: its first statement may
 * re-open a broken connection and be retried once. */
void query__pg_enter(query_t *q);

/* Runs statement `which` with n <= 8 text parameters (NULL: SQL NULL;
 * bytes that are not UTF-8, which PostgreSQL refuses, are sent as 0x01, so
 * they match nothing, as in SQLite), results in text (binary = 0) or
 * binary format. Returns the result (PGRES_TUPLES_OK
 * or PGRES_COMMAND_OK; the caller PQclear()s it), or NULL with err filled
 * and *rc (OUT) set to -EAGAIN (the connection is gone) or -EIO. */
PGresult *query__pg_exec(query_t *q, int which, int n, const char *const *params, int binary,
                         int *rc, char *err, size_t errlen);

/* A read-only REPEATABLE READ transaction around reads that must agree:
 * begin returns 0 or a code as query__pg_exec's; end commits when rc is 0
 * (returning 0 or its failure's code), else rolls back and returns rc. */
int query__pg_begin(query_t *q, char *err, size_t errlen);
int query__pg_end(query_t *q, int rc, char *err, size_t errlen);

/* Text result columns: NULL as 1 from query__pg_null; integers and reals
 * parsed exactly (PostgreSQL prints float8 in shortest round-trip form). */
int query__pg_null(const PGresult *r, int row, int col);
int64_t query__pg_int(const PGresult *r, int row, int col);
double query__pg_real(const PGresult *r, int row, int col);      /* NULL: NaN */
const char *query__pg_text(const PGresult *r, int row, int col); /* NULL: "" */

/* The backend's members of the same names (contracts in query.h). */
long query__pg_latest(query_t *q, double since, size_t limit, query_latest_fn fn, void *ctx,
                      int *more, char *err, size_t errlen);
int query__pg_alerts(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err, size_t errlen);
int query__pg_run(query_t *q, const query_run_key_t *k, strbuf_t *out, char *err, size_t errlen);

#endif
