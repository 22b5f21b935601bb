/* query.h: read-only access to the database for the HTTP API and tools.
 *
 * Each query_t is one read-only connection of the backend the --db argument
 * names (query_backend.h): SQLite (query_sqlite.c: WAL, so it never blocks
 * the writer) or PostgreSQL (query_pg.c). A query_t is used by one thread
 * at a time; http.c keeps a small pool of them.
 *
 * Besides the codes each function lists, every call may return -EAGAIN
 * (err filled) when the database server cannot be reached (PostgreSQL
 * restarting): the request may be tried again later; the handle re-opens
 * its connection on its next call, so it may be kept or closed.
 */
#ifndef ERWATCH_QUERY_H
#define ERWATCH_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "downsample.h"
#include "query_filter.h"
#include "strbuf.h"

typedef struct query query_t;

/* Opens db (the --db argument: a file path for SQLite, a postgresql://
 * URI for PostgreSQL) read-only. Returns 0; -ENOENT when the database does
 * not exist yet (no file; no erwatch tables: the writer has not created
 * it); -EAGAIN when the server cannot be reached; or -1 with err filled
 * (not an erwatch database, another schema version, ...). */
int query_open(query_t **out, const char *db, char *err, size_t errlen);
void query_close(query_t **q);

/* Appends the run list as JSON (the body of GET /api/runs) or CSV.
 * Returns 0 or -1 (database error, message in err). */
int query_runs(query_t *q, strbuf_t *out, int csv, char *err, size_t errlen);

/* The same for the runs f selects (query_filter.h), most recently seen
 * first, one page of them: the cost follows the page, not the number of
 * runs. The JSON object ends with "total" (the runs matching every filter
 * but since, limit and offset) and then extra (NULL: nothing), a fragment
 * such as ,"epoch":"..". Returns 0 or -1 (err filled, out unchanged). */
int query_runs_filtered(query_t *q, const query_runs_filter_t *f, strbuf_t *out, int csv,
                        const char *extra, char *err, size_t errlen);

/* Reads the points of (run, tag, metric) with after < step < before (pass
 * INT64_MIN / INT64_MAX for open ends) into *out (not bucketed).
 * Returns 0, -ENOENT for an unknown series, or -EIO with err filled. */
int query_series(query_t *q, const char *run, const char *tag, const char *metric, int64_t after,
                 int64_t before, series_t *out, char *err, size_t errlen);

/* What the dashboard asks for: one series, a step window, a point budget. */
typedef struct {
    const char *run, *tag, *metric;
    int64_t after, before; /* after < step < before; INT64_MIN/MAX: open */
    size_t points;         /* at most this many points or buckets, >= 1 */
    int with_time;         /* also fill out->time (wall time, Unix s) */
} query_view_t;

/* Reads the series of v reduced to at most v->points entries into *out:
 * the points themselves when no more fall in the window, otherwise the
 * buckets of downsample(), computed while the rows stream out of SQLite
 * (never materialised). All reads happen in one read transaction.
 * Returns 0, -ENOENT for an unknown series, or -EIO with err filled. */
int query_series_view(query_t *q, const query_view_t *v, series_t *out, char *err, size_t errlen);

/* A cache of whole series in memory, shared by the connections of one
 * process (http.c owns one): a zoom, reload or second tab on a large series
 * that has not changed is answered without reading SQLite. Thread-safe.
 * query_cache.c explains when a copy counts as unchanged. */
typedef struct query_cache query_cache_t;

query_cache_t *query_cache_new(size_t max_bytes);
/* Frees the cache; no query_t may use it any more. */
void query_cache_destroy(query_cache_t **c);
/* Drops the copies of series sids[0..n) (their run was deleted: the ids
 * may be given to new series once its rows are gone). */
void query_cache_forget(query_cache_t *c, const int64_t *sids, size_t n);
/* Makes q use c (NULL: none) for query_series_view. */
void query_use_cache(query_t *q, query_cache_t *c);
/* OUT: hits, misses, bytes held. */
void query_cache_stats(query_cache_t *c, uint64_t *hits, uint64_t *misses, size_t *bytes);

/* The shape of the latest (highest step) batch of (run, tag), from which
 * reference levels such as 1/sqrt(d) are computed. */
typedef struct {
    int64_t step, n, d;
    double kappa;
    int discrete; /* support: 0 sphere, 1 discrete */
} query_shape_t;

/* Appends to out what run has, for a "no such series" answer: "no run
 * 'R'", "run 'R' tag 'T' has: m1, m2", or "run 'R' has no tag 'T' (its
 * tags: a, b)". Returns 0 or -EIO. */
int query_series_hint(query_t *q, const char *run, const char *tag, strbuf_t *out);

/* Returns 0 with *out, -ENOENT when (run, tag) has no batch, -EIO with err
 * filled. */
int query_batch_shape(query_t *q, const char *run, const char *tag, query_shape_t *out, char *err,
                      size_t errlen);

/* Appends the singular-value spectra of (run, tag) with after < step <
 * before as the JSON body of GET /api/spectrum:
 *   {"run":..,"tag":..,"bucketed":B,"step":[..],"values":[[..],..]}
 * With more than `points` spectra in the window, the last spectrum of each
 * of `points` equal step ranges. Returns 0, -ENOENT when (run, tag) has no
 * spectrum in the window, or -EIO with err filled (out unchanged). */
int query_spectrum(query_t *q, const char *run, const char *tag, int64_t after, int64_t before,
                   size_t points, strbuf_t *out, char *err, size_t errlen);

/* Sum over runs of the latest client-reported drop count. -1 on error. */
int64_t query_client_dropped(query_t *q);

/* The latest point of every series of the runs that sent since `since`
 * (Unix seconds, runs.last_seen), most recently active run first, at most
 * limit points: what GET /metrics exposes (query_sqlite_latest.c). fn is called once
 * per point (value NaN when the metric was undefined) and returns 0 to go
 * on. Returns the number of points given to fn, or -EIO with err filled;
 * *more (OUT) is set when points were left out by the limit. */
typedef int (*query_latest_fn)(void *ctx, const char *run, const char *tag, const char *metric,
                               int64_t step, double value);
long query_latest(query_t *q, double since, size_t limit, query_latest_fn fn, void *ctx, int *more,
                  char *err, size_t errlen);

/* Appends {"alerts":[{...}, ...],"count":N} (most recent episode first;
 * the columns of the alerts table, schema/README.md) for GET /api/alerts.
 * Returns 0, or -1 with err filled (out is then left as it was). */
int query_alerts(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err, size_t errlen);

/* Appends the body of GET /api/run for the run k names: {"run":..,"base":..,
 * "launch":..,"first_seen":..,"last_seen":..,"last_step":..,"config":{..},
 * "notes":..,"launches":[..]}. Returns 0, -ENOENT (no such run; out
 * unchanged), or -EIO with err filled (out unchanged). */
int query_run(query_t *q, const query_run_key_t *k, strbuf_t *out, char *err, size_t errlen);

#endif
