/* lifecycle.h: deleting and renaming runs, and retention, all done by the
 * writer thread, the only one that writes the database.
 *
 * Other threads (the HTTP API's handlers) ask with lifecycle_delete() and
 * lifecycle_rename(), which queue the request and wait for the writer's
 * answer. The writer calls lifecycle_tick() between the groups it stores
 * and when idle (writer.h): it answers the requests, removes deleted runs'
 * rows a bounded number per transaction (store_runs.h), applies the
 * retention limits, and gives free pages back to the file system. Nothing
 * it does holds the write lock for long, so ingest never stalls behind it.
 *
 * After a run is deleted or renamed the listeners are called on the writer
 * thread, so in-memory state follows: the alert engine's states and the
 * HTTP series cache.
 *
 * Ownership: lifecycle_new() returns an owned object; it borrows stats.
 * lifecycle_destroy(&l) frees it once the writer and every caller of
 * lifecycle_delete/rename have stopped.
 */
#ifndef ERWATCH_LIFECYCLE_H
#define ERWATCH_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "store.h"

/* Rows removed per purge transaction: a few milliseconds of work. */
#define LIFECYCLE_PURGE_ROWS 5000
/* How long lifecycle_delete/rename wait for the writer. */
#define LIFECYCLE_WAIT_MS 10000

typedef struct {
    double retention_s;      /* delete runs whose last batch is older; 0: off */
    int64_t retention_bytes; /* delete the oldest runs while the data is
                                larger than this; 0: off */
    stats_t *stats;          /* counters; may be NULL */
} lifecycle_config_t;

typedef struct lifecycle lifecycle_t;

/* Called on the writer thread once a deletion (new_name NULL) or a rename
 * is committed. sids: the deleted run's series ids (none for a rename). */
typedef void (*lifecycle_listener_fn)(void *ctx, const char *run, const char *new_name,
                                      const int64_t *sids, size_t nsids);

lifecycle_t *lifecycle_new(const lifecycle_config_t *cfg);
/* Adds a listener (at most 4), before the writer starts. */
void lifecycle_listen(lifecycle_t *l, lifecycle_listener_fn fn, void *ctx);
void lifecycle_destroy(lifecycle_t **l);

/* What a request did, for the caller's answer. */
typedef struct {
    int64_t alerts; /* alert episodes deleted with the run */
    size_t series;  /* series the deleted run had */
} lifecycle_result_t;

/* From any thread: deletes the run, or renames it, through the writer, and
 * waits for the outcome (at most LIFECYCLE_WAIT_MS). Returns 0 (out filled
 * when not NULL), -ENOENT (no such run), -EEXIST (new_name is taken),
 * -EINVAL (a name breaks the protocol's rule, or new_name == old),
 * -ETIMEDOUT (the writer did not get to it; nothing changed), -ECANCELED
 * (the daemon is stopping) or -EIO (database error); msg (OUT) says it in
 * words in every case but 0. */
int lifecycle_delete(lifecycle_t *l, const char *run, lifecycle_result_t *out, char *msg,
                     size_t msglen);
int lifecycle_rename(lifecycle_t *l, const char *old, const char *new_name, char *msg,
                     size_t msglen);

/* The writer's tick (writer.h): answers requests, purges, applies
 * retention. load: WRITER_IDLE, _FLOWING or _BEHIND (writer.h); while
 * ingest runs, purging takes a tenth of the time at most. Returns 1 when
 * work is left that should continue soon (a purge in progress), else 0. */
int lifecycle_tick(void *l, store_t *store, int load);

/* Fails the requests still queued (-ECANCELED), refuses new ones and ends
 * the ticks' work (waiting for one in progress): from its return on no
 * listener is called. Call it before stopping what the listeners touch. */
void lifecycle_close(lifecycle_t *l);

#endif
