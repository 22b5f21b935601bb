/* summary.h: the resolutions of the series summaries (schema/README.md,
 * "summaries") and the one way a summary cell is accumulated, shared by the
 * writer (store_summary.c), the reader (query_summary.c) and the display
 * bucketing (downsample.c). Pure: no I/O, no allocation.
 *
 * A cell of level L holds the points of one series with step >> L equal to
 * its bucket: steps [bucket * 2^L, (bucket + 1) * 2^L - 1]. Cells are fed
 * points (or finer cells) in ascending step order; a NaN value (NULL in the
 * database: undefined) counts as a point and as the last value, and is
 * ignored by min and max, as downsample.h does.
 */
#ifndef ERWATCH_SUMMARY_H
#define ERWATCH_SUMMARY_H

#include <math.h>
#include <stdint.h>

/* log2 of the bucket widths in steps, finest first; each is 16 times the
 * one before it (schema/README.md says why these). */
#define SUMMARY_NLEVELS 3
#define SUMMARY_LEVEL_0 8
#define SUMMARY_LEVEL_STEP 4
#define SUMMARY_LEVEL(i) (SUMMARY_LEVEL_0 + SUMMARY_LEVEL_STEP * (i))

typedef struct {
    int64_t bucket;
    int64_t n;    /* points */
    double lo;    /* smallest defined value; NaN: none */
    double hi;    /* largest */
    int64_t last; /* step of the last point */
    double last_value, last_time;
} summary_cell_t;

/* step >> level rounded towards minus infinity (a plain >> of a negative
 * number is implementation-defined in C). */
static inline int64_t summary_bucket(int64_t step, int level)
{
    return step >= 0 ? step >> level : -(((-(step + 1)) >> level) + 1);
}

/* The first and last step of a bucket (never overflow: |bucket| <=
 * 2^(63 - level)). */
static inline int64_t summary_first_step(int64_t bucket, int level)
{
    return bucket * ((int64_t)1 << level);
}

static inline int64_t summary_last_step(int64_t bucket, int level)
{
    return summary_first_step(bucket, level) + (((int64_t)1 << level) - 1);
}

static inline void summary_cell_start(summary_cell_t *c, int64_t bucket)
{
    c->bucket = bucket;
    c->n = 0;
    c->lo = c->hi = NAN;
    c->last = 0;
    c->last_value = c->last_time = NAN;
}

/* Adds n points whose defined values lie in [lo, hi] (NaN: none) and whose
 * last point is (last, value, time), all after what c holds. */
static inline void summary_cell_add(summary_cell_t *c, int64_t n, double lo, double hi,
                                    int64_t last, double value, double time)
{
    c->n += n;
    if (!isnan(lo) && (isnan(c->lo) || lo < c->lo))
        c->lo = lo;
    if (!isnan(hi) && (isnan(c->hi) || hi > c->hi))
        c->hi = hi;
    c->last = last;
    c->last_value = value;
    c->last_time = time;
}

#endif
