/* stats.c: the daemon's counters (see stats.h). Relaxed atomics: these are
 * tallies read by /api/health, never used to order memory between threads. */
#include "stats.h"

#include <string.h>

void stats_init(stats_t *s, double now)
{
    memset(s, 0, sizeof(*s));
    s->start_time = now;
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
