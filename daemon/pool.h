/* pool.h: pooling the ranks of a distributed job. Each rank sends its local
 * slice of a step's batch as a part (header `pool` true, `rank`, `world`);
 * the pool holds the parts of one (run, tag, step) until all `world` have
 * come, then hands back one batch whose rows are the parts' rows in rank
 * order, which the workers compute exactly as a batch of that many rows.
 *
 * A group still missing parts when its timeout runs out (counted from its
 * first part) is handed back with the parts that came (a partial batch);
 * so is the oldest group when the caller needs memory back. Parts of a step
 * already handed back (late), of a rank already held (duplicate), or that
 * disagree with the group's first part on what the metrics depend on
 * (mismatch) are refused, and the caller counts them.
 *
 * Pure: no I/O, no threads, no clock of its own (the caller passes `now`).
 * One pool belongs to one thread (ingest's).
 *
 * Ownership: a part given to pool_add() belongs to the pool when it is held
 * or completes a group (*part is then set to NULL); a refused part stays the
 * caller's. Every batch the pool hands back is owned by the caller.
 */
#ifndef ERWATCH_POOL_H
#define ERWATCH_POOL_H

#include <stddef.h>

#include "batch.h"

typedef struct pool pool_t;

typedef enum {
    POOL_HELD = 0,  /* waiting for its siblings */
    POOL_COMPLETE,  /* the last part: *ready is the pooled batch */
    POOL_LATE,      /* its step was already handed back */
    POOL_DUPLICATE, /* this rank's part of the step is already held */
    POOL_MISMATCH,  /* it disagrees with the step's first part */
    POOL_TOO_LARGE, /* the step would pass EW_N_MAX rows or EW_ELEMS_MAX values */
} pool_verdict_t;

/* timeout_s: how long a group waits for its missing parts. */
pool_t *pool_new(double timeout_s);
/* Frees every part still held. */
void pool_destroy(pool_t **p);

/* Offers a part (a decoded batch with h.pool set). now is a monotonic clock
 * in seconds. On POOL_COMPLETE *ready is the pooled batch; on the refusals
 * msg (OUT) says why, for the log. */
pool_verdict_t pool_add(pool_t *p, batch_t **part, double now, batch_t **ready, char *msg,
                        size_t msglen);

/* A group whose timeout has run out by now, pooled from the parts it has,
 * or NULL when none has (call until NULL). */
batch_t *pool_take_expired(pool_t *p, double now);
/* The oldest group, pooled from the parts it has, or NULL when the pool is
 * empty: for memory pressure and shutdown. (A group is always partial here:
 * a complete one is handed back by pool_add at once.) */
batch_t *pool_take_oldest(pool_t *p);

size_t pool_groups(const pool_t *p);
size_t pool_bytes(const pool_t *p); /* bytes of the parts held */
/* When the oldest group's timeout runs out (monotonic seconds), or a
 * negative number when the pool is empty. */
double pool_next_deadline(const pool_t *p);

/* The pooled batch of parts (n of them, any order, all with the same
 * header settings): rows concatenated in rank order, h.n their sum,
 * h.ranks = n, h.dropped the sum of the parts', the rest of the header
 * (scalars, time) from the lowest rank present. Consumes the parts. Exposed
 * for the unit tests. */
batch_t *pool_merge(batch_t **parts, size_t n);

#endif
