/* query_backend.h: the seam between the query API (query.h) and the
 * databases behind it, the read side of store_backend.h: one table of
 * functions per backend, chosen once by query_open() from the --db
 * argument; query_backend.c calls q->ops->runs(...) and never asks which backend it
 * has. Every backend's knowledge lives in its own files (query_sqlite*.c,
 * query_pg*.c);
 * only those and query_backend.c include this header.
 *
 * A backend's handle starts with a query_t (its first member), so a
 * query_t * is also a pointer to the backend's own struct.
 */
#ifndef ERWATCH_QUERY_BACKEND_H
#define ERWATCH_QUERY_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "query.h"

typedef struct query_ops query_ops_t;

struct query {
    const query_ops_t *ops;
};

/* Each member has the contract of the query.h function of the same name. */
struct query_ops {
    const char *name; /* "sqlite", "postgresql" */
    /* 1 when db (the --db argument) names a database of this backend. */
    int (*accepts)(const char *db);
    int (*open)(query_t **out, const char *db, char *err, size_t errlen);
    void (*close)(query_t *q); /* frees q */
    void (*use_cache)(query_t *q, query_cache_t *c);
    int (*runs)(query_t *q, strbuf_t *out, int csv, char *err, size_t errlen);
    int (*runs_filtered)(query_t *q, const query_runs_filter_t *f, strbuf_t *out, int csv,
                         const char *extra, char *err, size_t errlen);
    int (*series)(query_t *q, const char *run, const char *tag, const char *metric, int64_t after,
                  int64_t before, series_t *out, char *err, size_t errlen);
    int (*series_view)(query_t *q, const query_view_t *v, series_t *out, char *err, size_t errlen);
    int (*series_hint)(query_t *q, const char *run, const char *tag, strbuf_t *out);
    int (*batch_shape)(query_t *q, const char *run, const char *tag, query_shape_t *out, char *err,
                       size_t errlen);
    int (*spectrum)(query_t *q, const char *run, const char *tag, int64_t after, int64_t before,
                    size_t points, strbuf_t *out, char *err, size_t errlen);
    int64_t (*client_dropped)(query_t *q);
    long (*latest)(query_t *q, double since, size_t limit, query_latest_fn fn, void *ctx, int *more,
                   char *err, size_t errlen);
    int (*alerts)(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err, size_t errlen);
    int (*run)(query_t *q, const query_run_key_t *k, strbuf_t *out, char *err, size_t errlen);
};

/* The backends, in query_backend.c's order of asking (the last accepts anything). */
extern const query_ops_t query_pg_ops;
extern const query_ops_t query_sqlite_ops;

#endif
