/* stats.h: the daemon's counters, shared by every stage and read by
 * GET /api/health. Plain C11 atomics (relaxed: counters, not
 * synchronisation); one stats_t per daemon, owned by main().
 */
#ifndef ERWATCH_STATS_H
#define ERWATCH_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "decode.h"

typedef struct {
    double start_time;                       /* wall clock at start */
    atomic_uint_fast64_t received;           /* messages read from ZeroMQ */
    atomic_uint_fast64_t accepted;           /* decoded and queued */
    atomic_uint_fast64_t rejected[EW_REJ_COUNT];
    atomic_uint_fast64_t computed;           /* batches through a worker */
    atomic_uint_fast64_t stored;             /* batches committed */
    atomic_uint_fast64_t points_written;
    atomic_uint_fast64_t store_errors;       /* failed transactions */
    atomic_uint_fast64_t store_lost;         /* results given up at shutdown */
    atomic_uint_fast64_t undefined_metrics;  /* NaN results (stored NULL) */
} stats_t;

void stats_init(stats_t *s, double now);
uint64_t stats_get(const atomic_uint_fast64_t *c);
void stats_inc(atomic_uint_fast64_t *c, uint64_t by);
uint64_t stats_rejected_total(const stats_t *s);

#endif
