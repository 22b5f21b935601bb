/* writer.h: the single writer thread. It owns the store (the only SQLite
 * write connection), pops results and commits them in groups: one
 * transaction per group of up to EW_WRITER_GROUP results or commit_ms,
 * whichever comes first, so throughput does not pay one fsync per batch and
 * latency stays bounded.
 *
 * No loss: when a transaction fails (disk full, database locked by another
 * program), the group is kept and retried with backoff; meanwhile the writer
 * pops nothing, so back-pressure reaches ingest and clients drop instead.
 * The one exception is a shutdown with the database still failing after a
 * grace period: what is left is counted as lost, and the exit status says
 * so, rather than the daemon never stopping.
 */
#ifndef ERWATCH_WRITER_H
#define ERWATCH_WRITER_H

#include "batch.h"
#include "queue.h"
#include "stats.h"
#include "store.h"

#define EW_WRITER_GROUP 256

typedef struct writer writer_t;

/* Called on the writer thread after each group is committed, with the
 * group (still owned by the writer; freed after the call) and the store
 * (the same thread may use it, e.g. for a transaction of its own). Once the
 * queue is drained at shutdown it is called one last time with n = 0,
 * before the store closes. (alerts_hook_run() is the one the daemon uses.) */
typedef void (*writer_hook_fn)(void *ctx, store_t *store, result_t *const *results, size_t n);

/* Called on the writer thread between groups and, when idle, every
 * EW_WRITER_TICK_MS (lifecycle_tick() is the one the daemon uses): work
 * that must be done by the one writer but not in a group's transaction.
 * load says how much ingest there is: WRITER_IDLE (no result for a second),
 * WRITER_FLOWING (results arrive and the writer keeps up), WRITER_BEHIND (a
 * quarter of a group or more waits: do the least). Returns 1 when it has
 * more to do at once (the writer then calls it again as soon as nothing
 * waits). */
enum { WRITER_IDLE = 0, WRITER_FLOWING = 1, WRITER_BEHIND = 2 };
typedef int (*writer_tick_fn)(void *ctx, store_t *store, int load);
#define EW_WRITER_TICK_MS 100

/* Takes ownership of store. Starts the thread. NULL on failure. */
writer_t *writer_start(store_t *store, queue_t *results, int commit_ms, stats_t *stats);
/* The same with a hook (NULL: none) set before the thread starts. */
writer_t *writer_start_hooked(store_t *store, queue_t *results, int commit_ms, stats_t *stats,
                              writer_hook_fn hook, void *hook_ctx);
/* The same with a tick (NULL: none) too. */
writer_t *writer_start_ticked(store_t *store, queue_t *results, int commit_ms, stats_t *stats,
                              writer_hook_fn hook, void *hook_ctx, writer_tick_fn tick,
                              void *tick_ctx);
/* Tells the writer the daemon is stopping: from now on a failing database
 * gets a bounded grace (writer.c) instead of endless retries. Call it as
 * soon as the stop is decided, before joining the stages upstream. */
void writer_shutdown_begins(writer_t *w);
/* The grace above is 15 s; tests shorten it. Call before
 * writer_shutdown_begins(). */
void writer_set_shutdown_grace(writer_t *w, double seconds);
/* Waits until the results queue is closed and everything in it is
 * committed (or, with the database failing at shutdown, counted in
 * store_lost and logged), closes the store, frees. */
void writer_join(writer_t **w);

#endif
