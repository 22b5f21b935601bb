/* query_cache.c: the cache of whole series in memory behind
 * query_series_view (query.h, query_cache.h).
 *
 * Series of at least Q_CACHE_MIN_POINTS points are kept in memory, shared
 * by every connection of the process (http.c makes one cache), so that
 * zooming into a million-point series, a reload or a second tab does not
 * scan it again: a window is then a binary search plus one pass over its
 * points in memory, through the same downsample stream, so the answer is
 * the same as from SQLite by construction.
 *
 * When a copy is stale: every batch the writer stores raises its run's
 * runs.last_seen to the batch's receive time, and an appended step raises
 * series.last_step; a copy is used only while both are what they were in
 * the snapshot it was read from (read in the same transaction as the
 * lookup). Receive times only grow unless the wall clock steps back; a copy
 * older than Q_CACHE_TTL_S is read again regardless, which bounds that
 * case. A live run therefore misses on every commit: its panels get new
 * points through after= polls, not whole-series reads.
 *
 * Filled by the whole-series bucketed read (the dashboard's first request
 * for a panel): ew_bucket() appends each row to q->col as it buckets it.
 * Entries are immutable once published; a reference count lets a reader
 * use one outside the lock while another thread evicts it. Least recently
 * used entries go first when the byte budget is exceeded. */
#include "query_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

#define Q_CACHE_MIN_POINTS 50000
#define Q_CACHE_TTL_S 60.0

struct query_centry {
    struct query_centry *prev, *next; /* LRU order, head = most recent */
    int64_t sid, last_step;
    double last_seen, born;
    int refs, dead;
    size_t n, bytes;
    int64_t *step;
    double *value, *time;
};
typedef struct query_centry s_centry_t;

struct query_cache {
    pthread_mutex_t lock;
    s_centry_t *head, *tail;
    size_t bytes, max_bytes;
    uint64_t hits, misses;
};

void query_collect_free(query_collect_t *c)
{
    free(c->step);
    free(c->value);
    free(c->time);
    memset(c, 0, sizeof *c);
}

void query_collect_push(query_collect_t *c, int64_t step, double v, double t)
{
    if (c->n == c->limit) {
        /* Too big for the cache: stop now rather than copy all of it and
         * throw the copy away (a 10M-point series is 240 MB). */
        query_collect_free(c);
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->step = ew_xrealloc(c->step, c->cap * sizeof *c->step);
        c->value = ew_xrealloc(c->value, c->cap * sizeof *c->value);
        c->time = ew_xrealloc(c->time, c->cap * sizeof *c->time);
    }
    c->step[c->n] = step;
    c->value[c->n] = v;
    c->time[c->n] = t;
    c->n++;
}

query_cache_t *query_cache_new(size_t max_bytes)
{
    query_cache_t *c = ew_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    return c;
}

static void s_centry_free(s_centry_t *e)
{
    free(e->step);
    free(e->value);
    free(e->time);
    free(e);
}

/* Takes e out of the LRU list (lock held); frees it unless in use. */
static void s_cache_unlink(query_cache_t *c, s_centry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
    c->bytes -= e->bytes;
    e->dead = 1;
    if (e->refs == 0)
        s_centry_free(e);
}

void query_cache_destroy(query_cache_t **cp)
{
    if (!cp || !*cp)
        return;
    query_cache_t *c = *cp;
    while (c->head)
        s_cache_unlink(c, c->head); /* no reader is left (http_stop) */
    pthread_mutex_destroy(&c->lock);
    free(c);
    *cp = NULL;
}

void query_cache_forget(query_cache_t *c, const int64_t *sids, size_t n)
{
    if (!c || !n)
        return;
    pthread_mutex_lock(&c->lock);
    for (s_centry_t *e = c->head, *next; e; e = next) {
        next = e->next;
        for (size_t i = 0; i < n; i++)
            if (e->sid == sids[i]) {
                s_cache_unlink(c, e);
                break;
            }
    }
    pthread_mutex_unlock(&c->lock);
}

void query_cache_stats(query_cache_t *c, uint64_t *hits, uint64_t *misses, size_t *bytes)
{
    pthread_mutex_lock(&c->lock);
    *hits = c->hits;
    *misses = c->misses;
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
}

query_centry_t *query_cache_get(query_cache_t *c, int64_t sid, int64_t last_step, double last_seen)
{
    pthread_mutex_lock(&c->lock);
    s_centry_t *e = c->head;
    while (e && e->sid != sid)
        e = e->next;
    if (e && (e->last_step != last_step || e->last_seen != last_seen ||
              ew_monotonic() - e->born > Q_CACHE_TTL_S)) {
        s_cache_unlink(c, e);
        e = NULL;
    }
    if (e) {
        e->refs++;
        c->hits++;
        if (c->head != e) { /* to the front */
            e->prev->next = e->next;
            if (e->next)
                e->next->prev = e->prev;
            else
                c->tail = e->prev;
            e->prev = NULL;
            e->next = c->head;
            c->head->prev = e;
            c->head = e;
        }
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

void query_cache_release(query_cache_t *c, query_centry_t *e)
{
    pthread_mutex_lock(&c->lock);
    if (--e->refs == 0 && e->dead)
        s_centry_free(e);
    pthread_mutex_unlock(&c->lock);
}

size_t query_cache_max_points(const query_cache_t *c)
{
    return c->max_bytes / 2 / (sizeof(int64_t) + 2 * sizeof(double));
}

void query_cache_add(query_cache_t *c, int64_t sid, int64_t last_step, double last_seen,
                     query_collect_t *col)
{
    size_t bytes = col->n * (sizeof(int64_t) + 2 * sizeof(double));
    if (col->n < Q_CACHE_MIN_POINTS || bytes > c->max_bytes / 2) {
        query_collect_free(col);
        return;
    }
    s_centry_t *e = ew_xcalloc(1, sizeof *e);
    e->sid = sid;
    e->last_step = last_step;
    e->last_seen = last_seen;
    e->born = ew_monotonic();
    /* Charge what is held: the arrays grew in doublings, give back the rest. */
    e->n = col->n;
    e->bytes = bytes;
    e->step = ew_xrealloc(col->step, col->n * sizeof *col->step);
    e->value = ew_xrealloc(col->value, col->n * sizeof *col->value);
    e->time = ew_xrealloc(col->time, col->n * sizeof *col->time);
    memset(col, 0, sizeof *col);

    pthread_mutex_lock(&c->lock);
    for (s_centry_t *o = c->head; o; o = o->next)
        if (o->sid == sid) {
            s_cache_unlink(c, o);
            break;
        }
    while (c->tail && c->bytes + bytes > c->max_bytes)
        s_cache_unlink(c, c->tail);
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
    c->bytes += bytes;
    pthread_mutex_unlock(&c->lock);
}

/* First index with step > x (steps ascending). */
static size_t s_upper(const int64_t *st, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index with step >= x. */
static size_t s_lower(const int64_t *st, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void query_cache_view(const query_centry_t *e, const query_view_t *v, series_t *out)
{
    size_t i0 = s_upper(e->step, e->n, v->after);
    /* before == INT64_MAX: no upper bound, a step of INT64_MAX included
     * (as query_sqlite.c's s_bind_before) */
    size_t i1 = v->before == INT64_MAX ? e->n : s_lower(e->step, e->n, v->before);
    size_t n = i1 > i0 ? i1 - i0 : 0;
    memset(out, 0, sizeof *out);
    if (n <= v->points) {
        out->n = n;
        if (n) {
            out->step = ew_xrealloc(NULL, n * sizeof *out->step);
            out->value = ew_xrealloc(NULL, n * sizeof *out->value);
            memcpy(out->step, e->step + i0, n * sizeof *out->step);
            memcpy(out->value, e->value + i0, n * sizeof *out->value);
            if (v->with_time) {
                out->time = ew_xrealloc(NULL, n * sizeof *out->time);
                memcpy(out->time, e->time + i0, n * sizeof *out->time);
            }
        }
        return;
    }
    downsample_stream_t ds;
    downsample_begin(&ds, e->step[i0], e->step[i1 - 1], v->points, v->with_time, out);
    for (size_t i = i0; i < i1; i++)
        downsample_push(&ds, e->step[i], e->value[i], e->time[i]);
    downsample_end(&ds);
}
