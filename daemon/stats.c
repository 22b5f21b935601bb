/* stats.c: the daemon's counters (see stats.h). Relaxed atomics: these are
 * tallies read by /api/health, never used to order memory between threads. */
#include "stats.h"

#include <string.h>

void stats_init(stats_t *s, double now)
{
    memset(s, 0, sizeof(*s));
    s->start_time = now;
    s->store_up = 1;
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
