/* downsample.h: reduces a series to at most P buckets for display, keeping
 * every spike visible. Pure: no I/O, no allocation beyond the output.
 *
 * Buckets split [first step, last step] into P equal step ranges. Each
 * non-empty bucket reports its last point (step and value) and the min and
 * max value in it, so a collapse spike is never averaged away. NaN values
 * (undefined metric) are kept as the last value when they are last, and are
 * ignored by min/max (a bucket of only NaNs has NaN min and max).
 */
#ifndef ERWATCH_DOWNSAMPLE_H
#define ERWATCH_DOWNSAMPLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n;         /* points (or buckets) */
    int bucketed;     /* 1 when min/max are filled */
    int64_t *step;    /* owned by the series */
    double *value;
    double *min;      /* NULL unless bucketed */
    double *max;
} series_t;

void series_free(series_t *s);

/* step must be ascending. When n <= buckets, *out is a copy with
 * bucketed = 0. Otherwise at most `buckets` buckets. buckets >= 1.
 * Returns 0 (aborts on OOM). */
int downsample(const int64_t *step, const double *value, size_t n,
               size_t buckets, series_t *out);

#endif
