/* query.h: read-only access to the database for the HTTP API and tools.
 *
 * Each query_t is one read-only SQLite connection (WAL: it never blocks the
 * writer). A query_t is used by one thread at a time; http.c keeps a small
 * pool of them.
 */
#ifndef ERWATCH_QUERY_H
#define ERWATCH_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "downsample.h"
#include "strbuf.h"

typedef struct query query_t;

/* Opens path read-only. Returns 0, or -1 with err filled. */
int query_open(query_t **out, const char *path, char *err, size_t errlen);
void query_close(query_t **q);

/* Appends the run list as JSON (the body of GET /api/runs) or CSV.
 * Returns 0 or -1 (database error, message in err). */
int query_runs(query_t *q, strbuf_t *out, int csv, char *err, size_t errlen);

/* Reads the points of (run, tag, metric) with after < step < before (pass
 * INT64_MIN / INT64_MAX for open ends) into *out (not bucketed).
 * Returns 0, -ENOENT for an unknown series, or -EIO with err filled. */
int query_series(query_t *q, const char *run, const char *tag,
                 const char *metric, int64_t after, int64_t before,
                 series_t *out, char *err, size_t errlen);

/* Sum over runs of the latest client-reported drop count. -1 on error. */
int64_t query_client_dropped(query_t *q);

#endif
