/* ingest.h: the ZeroMQ PULL stage. One thread reads multipart messages,
 * decodes them (decode.h) and pushes accepted batches into the work queue.
 *
 * Back-pressure: queue_push() blocks when the work queue is full, so ingest
 * stops reading; ZeroMQ's high-water marks then fill and clients drop.
 * Pooled parts (one rank's slice of a distributed job's step) wait in the
 * pool (pool.h), owned by this thread, whose bytes count against the work
 * queue's bound; the oldest waiting step is sent on, partial, when the
 * bound needs room.
 * Shutdown: ingest_stop() makes the thread read what ZeroMQ already holds
 * (bounded in time), queue it and every step still in the pool, then close
 * the work queue (the sentinel that lets workers finish).
 */
#ifndef ERWATCH_INGEST_H
#define ERWATCH_INGEST_H

#include <stddef.h>

#include "queue.h"
#include "stats.h"

typedef struct ingest ingest_t;

/* Binds endpoint (in the caller's thread, so errors are reported at
 * start). Returns NULL with err filled ("cannot bind ZeroMQ endpoint
 * tcp://127.0.0.1:5557: Address already in use"). */
ingest_t *ingest_new(const char *endpoint, queue_t *work, stats_t *stats,
                     char *err, size_t errlen);
/* How long a pooled step waits for its missing ranks' parts (pool.h);
 * call before ingest_start(). Default EW_POOL_TIMEOUT_MS_DEFAULT (batch.h). */
void ingest_set_pool_timeout(ingest_t *in, int ms);
/* The endpoint actually bound (the port filled in for "tcp://host:*"). */
const char *ingest_endpoint(const ingest_t *in);
int ingest_start(ingest_t *in);
/* Stops reading, drains what is buffered, closes the work queue, joins. */
void ingest_stop(ingest_t *in);
void ingest_destroy(ingest_t **in);

#endif
