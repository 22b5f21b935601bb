/* downsample.h: reduces a series to at most P buckets for display, keeping
 * every spike visible. Pure: no I/O, no allocation beyond the output.
 *
 * Buckets split [first step, last step] into P equal step ranges. Each
 * non-empty bucket reports its last point (step and value) and the min and
 * max value in it, so a collapse spike is never averaged away. When a
 * bucket is at least 2^8 steps wide, its edges are rounded down to the
 * grid of the widest summary level (summary.h) no wider than a bucket:
 * a step then counts where the last step of its grid cell (or the last
 * step, if smaller) would, so every grid cell lies in one bucket and the
 * stored summaries (query_summary.c) can stand for its points. The
 * answer is the same whoever computes it (raw points, the in-memory
 * copy, the summaries); buckets are then up to one cell wider or
 * narrower than span / P, and never empty for that reason. NaN values
 * (undefined metric) are kept as the last value when they are last, and are
 * ignored by min/max (a bucket of only NaNs has NaN min and max).
 */
#ifndef ERWATCH_DOWNSAMPLE_H
#define ERWATCH_DOWNSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "summary.h"

typedef struct {
    size_t n;      /* points (or buckets) */
    int bucketed;  /* 1 when min/max are filled */
    int64_t *step; /* owned by the series */
    double *value;
    double *min; /* NULL unless bucketed */
    double *max;
    double *time; /* wall time of each point (of a bucket's last point);
                     NULL unless the reader asked for it */
} series_t;

void series_free(series_t *s);

/* step must be ascending. When n <= buckets, *out is a copy with
 * bucketed = 0. Otherwise at most `buckets` buckets. buckets >= 1.
 * Returns 0 (aborts on OOM). */
int downsample(const int64_t *step, const double *value, size_t n, size_t buckets, series_t *out);

/* The same bucketing fed one point at a time, so a reader can stream rows
 * from the database straight into buckets without holding them all.
 * Usage: downsample_begin() with the first and last step of the points that
 * will be pushed (first <= last) and buckets >= 1, then downsample_push()
 * for each point in ascending step order, then downsample_end(). *out gets
 * at most `buckets` buckets, bucketed = 1, and a time array when with_time.
 * For the same points, the buckets are exactly those of downsample() (which
 * is built on this). A step that goes backwards sets ds->unordered (and is
 * put in the current bucket) so the caller can notice and fall back. */
typedef struct {
    series_t *out;
    size_t buckets;
    uint64_t first, span;
    int64_t last;
    int grid;       /* the summary level of the grid (summary.h), 0: none */
    size_t cur, nb; /* open bucket index, buckets emitted */
    uint64_t next;  /* first step offset of bucket cur + 1 (no division
                       per point: only when the bucket changes) */
    size_t pushed;
    int unordered;
    int64_t prev_step;
    double prev_value, prev_time, lo, hi;
} downsample_stream_t;

void downsample_begin(downsample_stream_t *ds, int64_t first, int64_t last, size_t buckets,
                      int with_time, series_t *out);
void downsample_push(downsample_stream_t *ds, int64_t step, double value, double time);
void downsample_end(downsample_stream_t *ds);
/* Pushes a summary cell of level ds->grid whose points all lie in [first,
 * last], in the same ascending order as points; or, with any grid, a group
 * of points known to share one bucket (the PostgreSQL backend buckets in
 * SQL: query_pg.c): the bucket is that of the group's last point. */
void downsample_push_cell(downsample_stream_t *ds, const summary_cell_t *c);
/* The grid level downsample_begin() picks for [first, last] and buckets:
 * the largest summary level whose width is at most span / buckets, or 0. */
int downsample_grid(int64_t first, int64_t last, size_t buckets);

#endif
