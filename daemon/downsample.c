/* downsample.c: reduces a series to at most P buckets for display without
 * hiding a spike (downsample.h states the contract).
 *
 * Design decisions:
 *  - Buckets are equal ranges of integer steps. With span = last - first + 1
 *    integer steps, step s falls in bucket floor((s - first) * P / span), so
 *    the P buckets hold runs of consecutive steps whose lengths differ by at
 *    most one, and the first and last steps always land in the first and last
 *    buckets. The product is computed exactly (128-bit when it could overflow
 *    64 bits), so bucket boundaries do not wobble with floating point.
 *  - One pass, O(n): steps are ascending, so bucket indices never decrease
 *    and a bucket is finished as soon as the index changes.
 *  - NaN (metric undefined) is kept as the bucket's value when it is the last
 *    point, and ignored by min/max; a bucket of NaNs only has NaN min and max.
 */
#include "downsample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *s_alloc(size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = calloc(n, size);
    if (!p) {
        fprintf(stderr, "erwatchd: out of memory (downsample, %zu x %zu)\n",
                n, size);
        abort();
    }
    return p;
}

void series_free(series_t *s)
{
    if (!s)
        return;
    free(s->step);
    free(s->value);
    free(s->min);
    free(s->max);
    memset(s, 0, sizeof *s);
}

/* floor(off * p / span) for off < span, exactly. */
static size_t s_bucket_of(uint64_t off, uint64_t p, uint64_t span)
{
    if (p == 0 || off <= UINT64_MAX / p)
        return (size_t)(off * p / span);
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128;
    return (size_t)(((u128)off * p) / span);
#else
    return (size_t)((long double)off * (long double)p / (long double)span);
#endif
}

int downsample(const int64_t *step, const double *value, size_t n,
               size_t buckets, series_t *out)
{
    memset(out, 0, sizeof *out);
    if (buckets == 0)
        buckets = 1;
    if (n <= buckets) {
        out->n = n;
        out->step = s_alloc(n, sizeof *out->step);
        out->value = s_alloc(n, sizeof *out->value);
        if (n) {
            memcpy(out->step, step, n * sizeof *step);
            memcpy(out->value, value, n * sizeof *value);
        }
        return 0;
    }

    out->bucketed = 1;
    out->step = s_alloc(buckets, sizeof *out->step);
    out->value = s_alloc(buckets, sizeof *out->value);
    out->min = s_alloc(buckets, sizeof *out->min);
    out->max = s_alloc(buckets, sizeof *out->max);

    /* span = number of integer steps in [first, last]; it wraps to 0 only
     * when the range covers all 2^64 int64 values, which we treat as 2^64 - 1
     * (the last step then shares the last bucket with its neighbour). */
    uint64_t first = (uint64_t)step[0];
    uint64_t span = (uint64_t)step[n - 1] - first + 1;
    if (span == 0)
        span = UINT64_MAX;

    size_t nb = 0;     /* buckets emitted */
    size_t cur = 0;    /* index of the open bucket */
    double lo = NAN, hi = NAN;
    for (size_t i = 0; i < n; i++) {
        size_t b = s_bucket_of((uint64_t)step[i] - first, buckets, span);
        if (b >= buckets)
            b = buckets - 1;
        if (b < cur) /* steps not ascending: never write past `buckets` */
            b = cur;
        if (i > 0 && b != cur) {
            out->step[nb] = step[i - 1];
            out->value[nb] = value[i - 1];
            out->min[nb] = lo;
            out->max[nb] = hi;
            nb++;
            lo = hi = NAN;
        }
        cur = b;
        double v = value[i];
        if (!isnan(v)) {
            if (isnan(lo) || v < lo)
                lo = v;
            if (isnan(hi) || v > hi)
                hi = v;
        }
    }
    out->step[nb] = step[n - 1];
    out->value[nb] = value[n - 1];
    out->min[nb] = lo;
    out->max[nb] = hi;
    out->n = nb + 1;
    return 0;
}
