/* stats.c: the daemon's counters (see stats.h). Relaxed atomics: these are
 * tallies read by /api/health, never used to order memory between threads. */
#include "stats.h"

#include <stdio.h>
#include <string.h>

void stats_init(stats_t *s, double now)
{
    memset(s, 0, sizeof(*s));
    s->start_time = now;
    s->store_up = 1;
    pthread_mutex_init(&s->store_lock, NULL);
}

const double stats_commit_le[EW_COMMIT_BUCKETS - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
};

void stats_observe_commit(stats_t *s, double seconds)
{
    int i = 0;
    while (i < EW_COMMIT_BUCKETS - 1 && !(seconds <= stats_commit_le[i]))
        i++;
    stats_inc(&s->commit_hist[i], 1);
    stats_inc(&s->commit_count, 1);
    stats_inc(&s->commit_us_sum, seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0);
}

uint64_t stats_get(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void stats_inc(atomic_uint_fast64_t *c, uint64_t by)
{
    atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

void stats_set(atomic_uint_fast64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

uint64_t stats_rejected_total(const stats_t *s)
{
    uint64_t t = 0;
    for (int i = 0; i < EW_REJ_COUNT; i++)
        t += stats_get(&s->rejected[i]);
    return t;
}

void stats_store_failed(stats_t *s, const char *msg, double now)
{
    stats_set(&s->store_up, 0);
    pthread_mutex_lock(&s->store_lock);
    if (s->store_failing_since == 0)
        s->store_failing_since = now > 0 ? now : 1e-9;
    snprintf(s->store_error, sizeof s->store_error, "%s", msg);
    pthread_mutex_unlock(&s->store_lock);
}

void stats_store_ok(stats_t *s)
{
    stats_set(&s->store_up, 1);
    pthread_mutex_lock(&s->store_lock);
    s->store_failing_since = 0;
    s->store_error[0] = '\0';
    pthread_mutex_unlock(&s->store_lock);
}

int stats_store_state(stats_t *s, char *msg, size_t msglen, double *since)
{
    pthread_mutex_lock(&s->store_lock);
    int failing = s->store_failing_since != 0;
    *since = s->store_failing_since;
    snprintf(msg, msglen, "%s", s->store_error);
    pthread_mutex_unlock(&s->store_lock);
    return failing;
}
