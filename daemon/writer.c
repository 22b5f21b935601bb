/* writer.c: the single SQLite writer thread (see writer.h). */
#include "writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "batch.h"
#include "log.h"

/* At shutdown a failing database is retried this many times before the
 * remaining results are reported lost; while running, retries never stop. */
#define S_SHUTDOWN_RETRIES 10

struct writer {
    store_t *store;
    queue_t *results;
    stats_t *stats;
    int commit_ms;
    pthread_t thread;
};

static void s_commit(writer_t *w, result_t **group, size_t n)
{
    char err[512];
    int delay_ms = 50, failures = 0;
    for (;;) {
        long pts = store_write(w->store, group, n, err, sizeof(err));
        if (pts >= 0) {
            stats_inc(&w->stats->stored, n);
            stats_inc(&w->stats->points_written, (uint64_t)pts);
            if (failures)
                log_info("writer: database writable again; %zu result(s) stored", n);
            break;
        }
        stats_inc(&w->stats->store_errors, 1);
        failures++;
        if (failures == 1 || failures % 20 == 0)
            log_error("writer: cannot store %zu result(s), retrying (attempt %d): %s", n,
                      failures, err);
        if (queue_is_closed(w->results) && failures >= S_SHUTDOWN_RETRIES) {
            log_error("writer: giving up at shutdown; %zu result(s) NOT stored", n);
            stats_inc(&w->stats->store_lost, n);
            break;
        }
        usleep((useconds_t)delay_ms * 1000);
        delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
    }
    for (size_t i = 0; i < n; i++)
        result_destroy(&group[i]);
}

static void *s_run(void *arg)
{
    writer_t *w = arg;
    result_t *group[EW_WRITER_GROUP];
    for (;;) {
        result_t *first = queue_pop(w->results);
        if (!first)
            break; /* closed and drained */
        size_t n = 0;
        group[n++] = first;
        double deadline = ew_monotonic() + w->commit_ms / 1000.0;
        while (n < EW_WRITER_GROUP) {
            double left_ms = (deadline - ew_monotonic()) * 1000.0;
            if (left_ms <= 0)
                break;
            result_t *r = queue_pop_timed(w->results, (int)left_ms + 1);
            if (!r)
                break;
            group[n++] = r;
        }
        s_commit(w, group, n);
    }
    return NULL;
}

writer_t *writer_start(store_t *store, queue_t *results, int commit_ms, stats_t *stats)
{
    writer_t *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->store = store;
    w->results = results;
    w->stats = stats;
    w->commit_ms = commit_ms;
    if (pthread_create(&w->thread, NULL, s_run, w) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

void writer_join(writer_t **wp)
{
    writer_t *w = wp ? *wp : NULL;
    if (!w)
        return;
    pthread_join(w->thread, NULL);
    store_close(&w->store);
    free(w);
    *wp = NULL;
}
