/* query_cache.h: the inside of the series cache (query_cache.c) that
 * query_sqlite.c uses; query.h declares the part the rest of the daemon sees
 * (query_cache_new, _destroy, _stats, query_use_cache).
 *
 * Ownership: an entry returned by query_cache_get() holds a reference; give
 * it back with query_cache_release(). Entries are immutable once published,
 * so a reader uses one outside the cache's lock while another thread may
 * evict it (it is freed at the last release).
 */
#ifndef ERWATCH_QUERY_CACHE_H
#define ERWATCH_QUERY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "query.h"

/* A whole series read into memory while it was being bucketed. */
typedef struct {
    int on;       /* collecting */
    size_t limit; /* points the cache would take at most; past it, stop */
    size_t n, cap;
    int64_t *step;
    double *value, *time;
} query_collect_t;

/* Appends a row; past c->limit frees what was collected (too big to
 * cache) and keeps nothing more. */
void query_collect_push(query_collect_t *c, int64_t step, double v, double t);
/* Frees the arrays and zeroes *c. */
void query_collect_free(query_collect_t *c);

typedef struct query_centry query_centry_t;

/* The current copy of series sid for this snapshot's key (series.last_step,
 * runs.last_seen), with a reference taken, or NULL (a miss; a stale copy
 * is dropped). */
query_centry_t *query_cache_get(query_cache_t *c, int64_t sid, int64_t last_step, double last_seen);
void query_cache_release(query_cache_t *c, query_centry_t *e);
/* The answer for window v from a cached copy: what query_series_view gives
 * from SQLite (the points, or the same downsample stream over them). */
void query_cache_view(const query_centry_t *e, const query_view_t *v, series_t *out);
/* The most points one cached series may hold: half the budget. */
size_t query_cache_max_points(const query_cache_t *c);
/* Publishes the collected series (taking its arrays; *col is left empty)
 * when it is large enough to be worth keeping, evicting the least recently
 * used entries beyond the budget. */
void query_cache_add(query_cache_t *c, int64_t sid, int64_t last_step, double last_seen,
                     query_collect_t *col);

#endif
