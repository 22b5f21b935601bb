/* writer.h: the single writer thread. It owns the store (the only SQLite
 * write connection), pops results and commits them in groups: one
 * transaction per group of up to EW_WRITER_GROUP results or commit_ms,
 * whichever comes first, so throughput does not pay one fsync per batch and
 * latency stays bounded.
 *
 * No loss: when a transaction fails (disk full, database locked by another
 * program), the group is kept and retried with backoff; meanwhile the writer
 * pops nothing, so back-pressure reaches ingest and clients drop instead.
 */
#ifndef ERWATCH_WRITER_H
#define ERWATCH_WRITER_H

#include "queue.h"
#include "stats.h"
#include "store.h"

#define EW_WRITER_GROUP 256

typedef struct writer writer_t;

/* Takes ownership of store. Starts the thread. NULL on failure. */
writer_t *writer_start(store_t *store, queue_t *results, int commit_ms, stats_t *stats);
/* Waits until the results queue is closed and everything in it is
 * committed (or, after repeated failures at shutdown, given up and
 * logged), closes the store, frees. */
void writer_join(writer_t **w);

#endif
