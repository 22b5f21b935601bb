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
 *  - Buckets at least 2^8 steps wide snap to the grid of a summary level
 *    (summary.h): a step is bucketed as the last step of its grid cell
 *    would be (capped at the last step). Since a bucket is at least one
 *    cell wide, no bucket empties for it, and a whole cell always falls in
 *    one bucket, which is what lets query_summary.c read cells instead of
 *    points with the same answer.
 *  - One pass, O(n): steps are ascending, so bucket indices never decrease
 *    and a bucket is finished as soon as the index changes.
 *  - NaN (metric undefined) is kept as the bucket's value when it is the last
 *    point, and ignored by min/max; a bucket of NaNs only has NaN min and max.
 *  - The bucketing itself is a stream (begin / push / end) so that query_sqlite.c
 *    can feed it rows straight from SQLite without materialising a million
 *    points; downsample() on an array is a loop over that stream, so both
 *    give the same buckets by construction.
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
        fprintf(stderr, "erwatchd: out of memory (downsample, %zu x %zu)\n", n, size);
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
    free(s->time);
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

/* The first offset that falls in bucket b: ceil(b * span / p), i.e. the
 * least off with floor(off * p / span) >= b; UINT64_MAX past the end. */
static uint64_t s_bucket_start(size_t b, uint64_t p, uint64_t span)
{
    if (b >= p)
        return UINT64_MAX;
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128;
    u128 x = ((u128)b * span + p - 1) / p;
    return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
#else
    long double x = ceill((long double)b * (long double)span / (long double)p);
    return x >= 18446744073709551615.0L ? UINT64_MAX : (uint64_t)x;
#endif
}

void downsample_begin(downsample_stream_t *ds, int64_t first, int64_t last, size_t buckets,
                      int with_time, series_t *out)
{
    memset(ds, 0, sizeof *ds);
    memset(out, 0, sizeof *out);
    if (buckets == 0)
        buckets = 1;
    ds->out = out;
    ds->buckets = buckets;
    out->bucketed = 1;
    out->step = s_alloc(buckets, sizeof *out->step);
    out->value = s_alloc(buckets, sizeof *out->value);
    out->min = s_alloc(buckets, sizeof *out->min);
    out->max = s_alloc(buckets, sizeof *out->max);
    if (with_time)
        out->time = s_alloc(buckets, sizeof *out->time);

    /* span = number of integer steps in [first, last]; it wraps to 0 only
     * when the range covers all 2^64 int64 values, which we treat as 2^64 - 1
     * (the last step then shares the last bucket with its neighbour). */
    ds->first = (uint64_t)first;
    ds->span = (uint64_t)last - ds->first + 1;
    if (ds->span == 0)
        ds->span = UINT64_MAX;
    ds->last = last;
    ds->grid = downsample_grid(first, last, buckets);
    ds->lo = ds->hi = NAN;
    ds->next = 0; /* the first push computes its bucket */
}

int downsample_grid(int64_t first, int64_t last, size_t buckets)
{
    uint64_t span = (uint64_t)last - (uint64_t)first + 1;
    if (span == 0)
        span = UINT64_MAX;
    uint64_t width = span / (buckets ? buckets : 1);
    for (int i = SUMMARY_NLEVELS - 1; i >= 0; i--)
        if (width >= (uint64_t)1 << SUMMARY_LEVEL(i))
            return SUMMARY_LEVEL(i);
    return 0;
}

static void s_emit(downsample_stream_t *ds)
{
    series_t *o = ds->out;
    o->step[ds->nb] = ds->prev_step;
    o->value[ds->nb] = ds->prev_value;
    o->min[ds->nb] = ds->lo;
    o->max[ds->nb] = ds->hi;
    if (o->time)
        o->time[ds->nb] = ds->prev_time;
    ds->nb++;
    ds->lo = ds->hi = NAN;
}

/* Adds points (one, or a summary cell's) whose bucket is that of step key
 * and whose last point is (step, value, time). */
static void s_push(downsample_stream_t *ds, int64_t key, double lo, double hi, int64_t step,
                   double value, double time)
{
    uint64_t off = (uint64_t)key - ds->first;
    size_t b = ds->cur;
    if (off >= ds->next || ds->pushed == 0) {
        b = s_bucket_of(off, ds->buckets, ds->span);
        if (b >= ds->buckets)
            b = ds->buckets - 1;
        ds->next = s_bucket_start(b + 1, ds->buckets, ds->span);
    }
    if (ds->pushed > 0 && step < ds->prev_step)
        ds->unordered = 1;
    if (b < ds->cur) /* steps not ascending: never write past `buckets` */
        b = ds->cur;
    if (ds->pushed > 0 && b != ds->cur)
        s_emit(ds);
    ds->cur = b;
    if (!isnan(lo) && (isnan(ds->lo) || lo < ds->lo))
        ds->lo = lo;
    if (!isnan(hi) && (isnan(ds->hi) || hi > ds->hi))
        ds->hi = hi;
    ds->prev_step = step;
    ds->prev_value = value;
    ds->prev_time = time;
    ds->pushed++;
}

/* The step whose bucket a point at `step` takes: the last step of its grid
 * cell, or the last step pushed when that comes first. */
static int64_t s_key(const downsample_stream_t *ds, int64_t step)
{
    if (!ds->grid)
        return step;
    int64_t end = summary_last_step(summary_bucket(step, ds->grid), ds->grid);
    return end < ds->last ? end : ds->last;
}

void downsample_push(downsample_stream_t *ds, int64_t step, double value, double time)
{
    s_push(ds, s_key(ds, step), value, value, step, value, time);
}

void downsample_push_cell(downsample_stream_t *ds, const summary_cell_t *c)
{
    if (c->n > 0)
        s_push(ds, s_key(ds, c->last), c->lo, c->hi, c->last, c->last_value, c->last_time);
}

void downsample_end(downsample_stream_t *ds)
{
    if (ds->pushed > 0)
        s_emit(ds);
    ds->out->n = ds->nb;
}

int downsample(const int64_t *step, const double *value, size_t n, size_t buckets, series_t *out)
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
    downsample_stream_t ds;
    downsample_begin(&ds, step[0], step[n - 1], buckets, 0, out);
    for (size_t i = 0; i < n; i++)
        downsample_push(&ds, step[i], value[i], 0.0);
    downsample_end(&ds);
    return 0;
}
