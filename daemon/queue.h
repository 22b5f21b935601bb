/* queue.h: a bounded, blocking, multi-producer multi-consumer FIFO of
 * pointers, bounded both in items and in bytes (each item carries its size).
 *
 * Back-pressure is the point: queue_push() blocks while the queue is full, so
 * a stage that produces faster than the next consumes simply stops (ingest
 * stops reading ZeroMQ, whose high-water mark then pushes back to clients).
 * An item larger than the byte bound is admitted when the queue is empty, so
 * nothing can deadlock. queue_close() is the shutdown sentinel: pushes fail,
 * pops drain what is left and then return NULL.
 */
#ifndef ERWATCH_QUEUE_H
#define ERWATCH_QUEUE_H

#include <stddef.h>

typedef struct queue queue_t;

queue_t *queue_new(size_t max_items, size_t max_bytes);
void queue_destroy(queue_t **q); /* the queue must be empty or its items
                                    already freed by the owner */

/* Blocks while full. Returns 0, or -EPIPE when the queue is closed. */
int queue_push(queue_t *q, void *item, size_t bytes);
/* Blocks while empty and open. Returns an item, or NULL once closed and
 * drained. */
void *queue_pop(queue_t *q);
/* Like queue_pop but waits at most timeout_ms; NULL on timeout too
 * (queue_is_drained() tells the two apart). */
void *queue_pop_timed(queue_t *q, int timeout_ms);
int queue_is_drained(queue_t *q);
int queue_is_closed(queue_t *q);
void queue_close(queue_t *q);
void queue_depth(queue_t *q, size_t *items, size_t *bytes); /* OUT: both */
/* How many producers are waiting in queue_push for room right now: lets a
 * test know a producer is blocked instead of guessing with a sleep. */
size_t queue_blocked(queue_t *q);

/* Bytes the producer holds outside the queue that count against its byte
 * bound (ingest's pool of parts waiting for their siblings): pushes wait
 * while bytes + reserved + the item's would pass the bound. */
void queue_set_reserved(queue_t *q, size_t bytes);
/* Blocks until an item of `bytes` would fit beside what is queued and
 * reserved (or the queue is empty, or closed). Returns 0, or -EPIPE when
 * closed. */
int queue_wait_room(queue_t *q, size_t bytes);
size_t queue_max_bytes(const queue_t *q);

#endif
