/* writer.c: the single SQLite writer thread (see writer.h).
 *
 * Order: workers finish batches out of order, but a later batch for the
 * same (run, tag, step) must replace an earlier one, so the writer stores
 * results in arrival order. Ingest stamps each accepted batch with a
 * sequence number; results wait in a small min-heap until every earlier
 * one has arrived. The wait is short: at most one batch per worker is in
 * flight ahead of a held result, and ingest runs at most EW_SEQ_WINDOW
 * sequence numbers ahead of what the writer has taken (stats.h), which
 * bounds the heap whatever the mix of slow and fast batches. */
#include "writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "batch.h"
#include "log.h"

/* While running, a failing database is retried without end (back-pressure
 * does the rest). Once shutdown begins, retries get this many seconds in
 * all; after that the writer counts what is left as lost (store_lost, the
 * exit status) instead of storing it, so a daemon asked to stop always
 * stops, even with its database locked or its disk full. */
#define S_SHUTDOWN_GRACE_S 15.0

struct writer {
    store_t *store;
    queue_t *results;
    stats_t *stats;
    int commit_ms;
    pthread_t thread;
    /* reorder buffer: min-heap on seq */
    result_t **heap;
    size_t nheap, capheap;
    uint64_t next_seq;
    atomic_int stopping; /* writer_shutdown_begins() was called */
    double grace_s;      /* S_SHUTDOWN_GRACE_S; tests shorten it */
    double give_up_at;   /* monotonic; 0 until a failure during shutdown */
    int discarding;      /* the grace is over: count, do not store */
    writer_hook_fn hook; /* after each commit (alerting), on this thread */
    void *hook_ctx;
    writer_tick_fn tick; /* between groups and when idle (run life cycle) */
    double last_result;  /* monotonic: when the last group was stored */
    void *tick_ctx;
};

static void s_heap_push(writer_t *w, result_t *r)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? 2 * w->capheap : 16;
        w->heap = realloc(w->heap, w->capheap * sizeof(*w->heap));
        if (!w->heap)
            abort();
    }
    size_t i = w->nheap++;
    while (i > 0 && w->heap[(i - 1) / 2]->seq > r->seq) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = r;
}

static result_t *s_heap_pop(writer_t *w)
{
    result_t *top = w->heap[0], *last = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap && w->heap[c + 1]->seq < w->heap[c]->seq)
            c++;
        if (w->heap[c]->seq >= last->seq)
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->nheap)
        w->heap[i] = last;
    return top;
}

/* The next result in arrival order. timeout_ms < 0 waits as long as it
 * takes. Returns NULL on timeout, or once the queue is closed and drained
 * and nothing is held. */
static result_t *s_next(writer_t *w, int timeout_ms)
{
    double deadline = ew_monotonic() + timeout_ms / 1000.0;
    for (;;) {
        if (w->nheap && w->heap[0]->seq <= w->next_seq) {
            result_t *r = s_heap_pop(w);
            w->next_seq = r->seq + 1;
            /* ingest reads this to keep its run-ahead bounded (stats.h) */
            atomic_store_explicit(&w->stats->next_store_seq, w->next_seq, memory_order_release);
            return r;
        }
        result_t *r;
        if (timeout_ms < 0) {
            r = queue_pop(w->results);
        } else {
            double left_ms = (deadline - ew_monotonic()) * 1000.0;
            r = left_ms > 0 ? queue_pop_timed(w->results, (int)left_ms + 1) : NULL;
        }
        if (r) {
            s_heap_push(w, r);
            continue;
        }
        if (!w->nheap || !queue_is_drained(w->results))
            return NULL;
        /* Closed, drained, and still a gap: a batch that never produced a
         * result (a bug). Store what is held rather than lose it. */
        log_error("writer: result %llu never arrived; storing later ones anyway",
                  (unsigned long long)w->next_seq);
        w->next_seq = w->heap[0]->seq;
    }
}

/* Logs what the store decided about launches in a committed group (a new
 * run name, a rewind, a refused resume) and counts the refused results.
 * Returns how many results were refused. */
static size_t s_count_launches(writer_t *w, result_t **group, size_t n)
{
    size_t refused = 0;
    for (size_t i = 0; i < n; i++) {
        const result_t *r = group[i];
        if (!r)
            continue;
        if (r->resume_missing) {
            refused++;
            if (r->resume_missing == 1)
                log_warn("launch %s asked to resume run \"%s\", which does not exist: its "
                         "batches are not stored (rejected.resume_unknown); start it without "
                         "resume to make a new run",
                         r->launch, r->run);
        } else if (r->rewind_from >= 0) {
            log_info("launch %s resumes run \"%s\" at step %lld: its points at steps >= %lld "
                     "from earlier launches are removed",
                     r->launch, r->stored_run, (long long)r->rewind_from,
                     (long long)r->rewind_from);
        }
    }
    if (refused)
        stats_inc(&w->stats->rejected[EW_REJ_RESUME_UNKNOWN], refused);
    return refused;
}

static void s_commit(writer_t *w, result_t **group, size_t n)
{
    char err[512];
    int delay_ms = 50, failures = 0;
    for (;;) {
        if (w->discarding) {
            stats_inc(&w->stats->store_lost, n);
            break;
        }
        double t0 = ew_monotonic();
        long pts = store_write(w->store, group, n, err, sizeof(err));
        if (pts >= 0) {
            stats_observe_commit(w->stats, ew_monotonic() - t0);
            size_t refused = s_count_launches(w, group, n);
            stats_store_ok(w->stats);
            if (failures)
                log_info("writer: database writable again; %zu result(s) stored", n);
            /* The hook (the alert engine) first: a batch counted as stored
             * has also been evaluated, so a client that waits for the
             * count sees the alerts it caused. */
            if (w->hook)
                w->hook(w->hook_ctx, w->store, group, n);
            stats_inc(&w->stats->points_written, (uint64_t)pts);
            stats_inc(&w->stats->stored, n - refused);
            break;
        }
        stats_inc(&w->stats->store_errors, 1);
        stats_store_failed(w->stats, err, ew_now());
        failures++;
        if (failures == 1 || failures % 20 == 0)
            log_error("writer: cannot store %zu result(s), retrying (attempt %d): %s", n, failures,
                      err);
        if (atomic_load(&w->stopping)) {
            double now = ew_monotonic();
            if (w->give_up_at == 0)
                w->give_up_at = now + w->grace_s;
            if (now >= w->give_up_at) {
                log_error("writer: database still failing %g s into shutdown; results "
                          "not yet stored are counted as lost (store_lost) from now on",
                          w->grace_s);
                w->discarding = 1;
                continue;
            }
        }
        usleep((useconds_t)delay_ms * 1000);
        delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
    }
    for (size_t i = 0; i < n; i++)
        result_destroy(&group[i]);
}

/* The tick's load (writer.h): behind when a quarter of a group or more
 * waits, flowing when a result came in the last second, else idle. */
static int s_load(writer_t *w)
{
    size_t items, bytes;
    queue_depth(w->results, &items, &bytes);
    if (items + w->nheap >= EW_WRITER_GROUP / 4)
        return WRITER_BEHIND;
    return ew_monotonic() - w->last_result < 1.0 ? WRITER_FLOWING : WRITER_IDLE;
}

static void *s_run(void *arg)
{
    writer_t *w = arg;
    result_t *group[EW_WRITER_GROUP];
    int more = 0; /* the tick has work left */
    for (;;) {
        /* with work left, only look whether results wait (1 ms) */
        result_t *first = s_next(w, !w->tick ? -1 : more ? 1 : EW_WRITER_TICK_MS);
        if (!first) {
            if (!w->tick || (!w->nheap && queue_is_drained(w->results)))
                break; /* closed and drained */
            more = w->tick(w->tick_ctx, w->store, s_load(w));
            continue;
        }
        size_t n = 0;
        group[n++] = first;
        double deadline = ew_monotonic() + w->commit_ms / 1000.0;
        while (n < EW_WRITER_GROUP) {
            double left_ms = (deadline - ew_monotonic()) * 1000.0;
            if (left_ms <= 0)
                break;
            result_t *r = s_next(w, (int)left_ms + 1);
            if (!r)
                break;
            group[n++] = r;
        }
        s_commit(w, group, n);
        w->last_result = ew_monotonic();
        if (w->tick)
            more = w->tick(w->tick_ctx, w->store, s_load(w));
    }
    if (w->hook)
        w->hook(w->hook_ctx, w->store, NULL, 0);
    return NULL;
}

writer_t *writer_start(store_t *store, queue_t *results, int commit_ms, stats_t *stats)
{
    return writer_start_hooked(store, results, commit_ms, stats, NULL, NULL);
}

writer_t *writer_start_hooked(store_t *store, queue_t *results, int commit_ms, stats_t *stats,
                              writer_hook_fn hook, void *hook_ctx)
{
    return writer_start_ticked(store, results, commit_ms, stats, hook, hook_ctx, NULL, NULL);
}

writer_t *writer_start_ticked(store_t *store, queue_t *results, int commit_ms, stats_t *stats,
                              writer_hook_fn hook, void *hook_ctx, writer_tick_fn tick,
                              void *tick_ctx)
{
    writer_t *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->store = store;
    w->results = results;
    w->stats = stats;
    w->commit_ms = commit_ms;
    w->hook = hook;
    w->hook_ctx = hook_ctx;
    w->tick = tick;
    w->tick_ctx = tick_ctx;
    w->grace_s = S_SHUTDOWN_GRACE_S;
    if (pthread_create(&w->thread, NULL, s_run, w) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

void writer_set_shutdown_grace(writer_t *w, double seconds)
{
    w->grace_s = seconds; /* read by the writer only after `stopping` is set */
}

void writer_shutdown_begins(writer_t *w)
{
    atomic_store(&w->stopping, 1);
}

void writer_join(writer_t **wp)
{
    writer_t *w = wp ? *wp : NULL;
    if (!w)
        return;
    pthread_join(w->thread, NULL);
    store_close(&w->store);
    free(w->heap);
    free(w);
    *wp = NULL;
}
