/* queue.c: bounded blocking FIFO (see queue.h). A ring buffer under one
 * mutex with two condition variables: not_full wakes producers, not_empty
 * wakes consumers. Items and bytes are both bounded; an item bigger than the
 * whole byte budget gets in when the queue is empty, so it cannot deadlock.
 * The producer may reserve part of the byte budget for what it holds
 * outside the queue (queue_set_reserved).
 */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    void *item;
    size_t bytes;
} s_slot_t;

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_full;
    pthread_cond_t not_empty;
    s_slot_t *ring;
    size_t cap, head, count;
    size_t bytes, max_bytes;
    size_t blocked;  /* producers waiting in queue_push now */
    size_t reserved; /* held by the producer, counted against max_bytes */
    int closed;
};

queue_t *queue_new(size_t max_items, size_t max_bytes)
{
    if (max_items == 0)
        max_items = 1;
    queue_t *q = calloc(1, sizeof(*q));
    if (!q)
        abort();
    q->ring = calloc(max_items, sizeof(*q->ring));
    if (!q->ring)
        abort();
    q->cap = max_items;
    q->max_bytes = max_bytes;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_full, &ca);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

void queue_destroy(queue_t **qp)
{
    queue_t *q = qp ? *qp : NULL;
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    free(q->ring);
    free(q);
    *qp = NULL;
}

static int s_has_room(const queue_t *q, size_t bytes)
{
    if (q->count == q->cap)
        return 0;
    return q->count == 0 || q->bytes + q->reserved + bytes <= q->max_bytes;
}

void queue_set_reserved(queue_t *q, size_t bytes)
{
    pthread_mutex_lock(&q->lock);
    size_t was = q->reserved;
    q->reserved = bytes;
    if (bytes < was) /* producers may fit now */
        pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

int queue_wait_room(queue_t *q, size_t bytes)
{
    pthread_mutex_lock(&q->lock);
    while (!q->closed && !s_has_room(q, bytes))
        pthread_cond_wait(&q->not_full, &q->lock);
    int rc = q->closed ? -EPIPE : 0;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

size_t queue_max_bytes(const queue_t *q)
{
    return q->max_bytes; /* set once at creation */
}

int queue_push(queue_t *q, void *item, size_t bytes)
{
    pthread_mutex_lock(&q->lock);
    if (!q->closed && !s_has_room(q, bytes)) {
        q->blocked++;
        while (!q->closed && !s_has_room(q, bytes))
            pthread_cond_wait(&q->not_full, &q->lock);
        q->blocked--;
    }
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return -EPIPE;
    }
    q->ring[(q->head + q->count) % q->cap] = (s_slot_t){item, bytes};
    q->count++;
    q->bytes += bytes;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* Called with the lock held and count > 0. */
static void *s_take(queue_t *q)
{
    s_slot_t s = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->bytes -= s.bytes;
    /* Several producers may fit now that bytes were freed. */
    pthread_cond_broadcast(&q->not_full);
    return s.item;
}

void *queue_pop(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->lock);
    void *item = q->count ? s_take(q) : NULL;
    pthread_mutex_unlock(&q->lock);
    return item;
}

void *queue_pop_timed(queue_t *q, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed) {
        if (pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline) == ETIMEDOUT)
            break;
    }
    void *item = q->count ? s_take(q) : NULL;
    pthread_mutex_unlock(&q->lock);
    return item;
}

int queue_is_drained(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    int drained = q->closed && q->count == 0;
    pthread_mutex_unlock(&q->lock);
    return drained;
}

int queue_is_closed(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    int closed = q->closed;
    pthread_mutex_unlock(&q->lock);
    return closed;
}

void queue_close(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

size_t queue_blocked(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->blocked;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void queue_depth(queue_t *q, size_t *items, size_t *bytes)
{
    pthread_mutex_lock(&q->lock);
    if (items)
        *items = q->count;
    if (bytes)
        *bytes = q->bytes;
    pthread_mutex_unlock(&q->lock);
}
