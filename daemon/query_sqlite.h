/* query_sqlite.h: the inside of the query side's SQLite backend
 * (query_sqlite.c) that its other files (query_sqlite_latest.c,
 * query_sqlite_alerts.c, query_sqlite_run.c) use: the connection, and
 * their functions that fill the backend's table (query_backend.h). Only
 * daemon/query_sqlite*.c include it. Internal names use the query__ prefix.
 */
#ifndef ERWATCH_QUERY_SQLITE_H
#define ERWATCH_QUERY_SQLITE_H

#include <sqlite3.h>

#include "query_backend.h"

/* The read-only connection; valid until the query_t is closed. */
sqlite3 *query__db(query_t *q);

/* The backend's members of the same names (contracts in query.h). */
long query__sqlite_latest(query_t *q, double since, size_t limit, query_latest_fn fn, void *ctx,
                          int *more, char *err, size_t errlen);
int query__sqlite_alerts(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err,
                         size_t errlen);
int query__sqlite_run(query_t *q, const query_run_key_t *k, strbuf_t *out, char *err,
                      size_t errlen);

#endif
