/* worker.h: the metric stage. N threads pop decoded batches, compute the
 * metric set (worker_compute) and push one result_t per batch to the
 * writer's queue. Each thread owns its scratch memory (metrics_ws_t); the
 * batches themselves are owned by whoever popped them, so workers share
 * nothing mutable but the queues and the counters.
 */
#ifndef ERWATCH_WORKER_H
#define ERWATCH_WORKER_H

#include "batch.h"
#include "metrics.h"
#include "queue.h"
#include "stats.h"

typedef struct workers workers_t;

/* Starts n threads reading `in` and writing `out`. default_set (EW_MBIT
 * bits) is what a batch gets when its header names no `metrics`. NULL on
 * failure. */
workers_t *workers_start(int n, queue_t *in, queue_t *out, stats_t *stats, unsigned default_set);
/* Waits for the threads to finish: they stop once `in` is closed and
 * drained. Frees the pool and sets *w to NULL. */
void workers_join(workers_t **w);

/* The per-batch computation, pure apart from scratch memory: fills *r with
 * every metric of the batch's set (its header's `metrics`, else
 * default_set) that applies to its support and views, the singular-value
 * spectrum (sphere support), and its scalars. The views are read, not
 * changed: the kernels normalise a copy where a metric needs unit rows. */
void worker_compute(batch_t *b, unsigned default_set, metrics_ws_t *ws, result_t *r);

#endif
