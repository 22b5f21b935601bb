/* test_queue.c: the bounded queue: FIFO order, item and byte bounds,
 * blocking back-pressure, close as a sentinel, many producers/consumers. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "queue.h"
#include "test.h"

TEST(fifo_order)
{
    queue_t *q = queue_new(8, 1000);
    for (intptr_t i = 1; i <= 5; i++)
        ASSERT_EQ(queue_push(q, (void *)i, 10), 0);
    size_t items, bytes;
    queue_depth(q, &items, &bytes);
    ASSERT_EQ(items, 5);
    ASSERT_EQ(bytes, 50);
    for (intptr_t i = 1; i <= 5; i++)
        ASSERT_EQ((intptr_t)queue_pop(q), i);
    queue_destroy(&q);
    ASSERT_NULL(q);
}

TEST(close_drains_then_null)
{
    queue_t *q = queue_new(4, 100);
    ASSERT_EQ(queue_push(q, (void *)1, 1), 0);
    queue_close(q);
    ASSERT_EQ(queue_push(q, (void *)2, 1), -EPIPE);
    ASSERT(!queue_is_drained(q));
    ASSERT_EQ((intptr_t)queue_pop(q), 1);
    ASSERT_NULL(queue_pop(q));
    ASSERT(queue_is_drained(q));
    queue_destroy(&q);
}

TEST(pop_timed_times_out)
{
    queue_t *q = queue_new(4, 100);
    ASSERT_NULL(queue_pop_timed(q, 20));
    ASSERT(!queue_is_drained(q));
    queue_destroy(&q);
}

/* An item bigger than the whole budget still gets in when empty. */
TEST(oversized_item_admitted_when_empty)
{
    queue_t *q = queue_new(4, 100);
    ASSERT_EQ(queue_push(q, (void *)1, 500), 0);
    ASSERT_EQ((intptr_t)queue_pop(q), 1);
    queue_destroy(&q);
}

typedef struct {
    queue_t *q;
    atomic_int done;
    int rc; /* queue_push's return, read after the join */
} s_blocker_t;

static void *s_push_one(void *arg)
{
    s_blocker_t *b = arg;
    b->rc = queue_push(b->q, (void *)3, 60);
    atomic_store(&b->done, 1);
    return NULL;
}

/* Waits (at most 10 s) until n producers are blocked in queue_push: the
 * queue's own count says so, no sleep stands in for it. */
static size_t s_wait_blocked(queue_t *q, size_t n)
{
    for (int i = 0; i < 10000 && queue_blocked(q) < n; i++)
        usleep(1000);
    return queue_blocked(q);
}

/* A push that would exceed the byte bound blocks until a pop frees room:
 * this is the back-pressure the daemon relies on. */
TEST(byte_bound_blocks_producer)
{
    s_blocker_t b = {queue_new(100, 100), 0, 1};
    ASSERT_EQ(queue_push(b.q, (void *)1, 60), 0);
    ASSERT_EQ(queue_blocked(b.q), 0);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, s_push_one, &b), 0);
    size_t blocked = s_wait_blocked(b.q, 1);
    int done_while_full = atomic_load(&b.done);
    ASSERT_EQ((intptr_t)queue_pop(b.q), 1); /* frees room: unblocks it */
    pthread_join(t, NULL);
    ASSERT_EQ(blocked, 1);
    ASSERT_EQ(done_while_full, 0);
    ASSERT_EQ(b.rc, 0);
    ASSERT_EQ(queue_blocked(b.q), 0);
    ASSERT_EQ((intptr_t)queue_pop(b.q), 3);
    queue_destroy(&b.q);
}

TEST(close_wakes_blocked_producer)
{
    s_blocker_t b = {queue_new(1, 100), 0, 1};
    ASSERT_EQ(queue_push(b.q, (void *)1, 1), 0);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, s_push_one, &b), 0);
    size_t blocked = s_wait_blocked(b.q, 1);
    queue_close(b.q);
    pthread_join(t, NULL);
    ASSERT_EQ(blocked, 1);
    ASSERT_EQ(atomic_load(&b.done), 1);
    ASSERT_EQ(b.rc, -EPIPE); /* its item was refused, not queued */
    ASSERT_EQ((intptr_t)queue_pop(b.q), 1);
    ASSERT_NULL(queue_pop(b.q));
    queue_destroy(&b.q);
}

#define S_PER_PRODUCER 20000
typedef struct {
    queue_t *q;
    intptr_t base;
    atomic_llong *sum;
    atomic_int *count;
    int failed_pushes; /* producer only */
} s_mp_t;

static void *s_producer(void *arg)
{
    s_mp_t *m = arg;
    for (intptr_t i = 1; i <= S_PER_PRODUCER; i++)
        if (queue_push(m->q, (void *)(m->base + i), 8) != 0)
            m->failed_pushes++;
    return NULL;
}

static void *s_consumer(void *arg)
{
    s_mp_t *m = arg;
    void *p;
    while ((p = queue_pop(m->q)) != NULL) {
        atomic_fetch_add(m->sum, (long long)(intptr_t)p);
        atomic_fetch_add(m->count, 1);
    }
    return NULL;
}

/* Every item pushed by 4 producers is popped exactly once by 3 consumers
 * through a small queue (so producers block often). */
TEST(many_producers_consumers_lose_nothing)
{
    queue_t *q = queue_new(16, 64);
    atomic_llong sum = 0;
    atomic_int count = 0;
    s_mp_t p[4], c = {q, 0, &sum, &count, 0};
    pthread_t pt[4], ct[3];
    long long expect = 0;
    for (int i = 0; i < 4; i++) {
        p[i] = (s_mp_t){q, (intptr_t)i * 1000000, &sum, &count, 0};
        for (long long k = 1; k <= S_PER_PRODUCER; k++)
            expect += i * 1000000LL + k;
        pthread_create(&pt[i], NULL, s_producer, &p[i]);
    }
    for (int i = 0; i < 3; i++)
        pthread_create(&ct[i], NULL, s_consumer, &c);
    for (int i = 0; i < 4; i++)
        pthread_join(pt[i], NULL);
    queue_close(q);
    for (int i = 0; i < 3; i++)
        pthread_join(ct[i], NULL);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(p[i].failed_pushes, 0);
    ASSERT_EQ(atomic_load(&count), 4 * S_PER_PRODUCER);
    ASSERT_EQ(atomic_load(&sum), expect);
    queue_destroy(&q);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(fifo_order),
        T(close_drains_then_null),
        T(pop_timed_times_out),
        T(oversized_item_admitted_when_empty),
        T(byte_bound_blocks_producer),
        T(close_wakes_blocked_producer),
        T(many_producers_consumers_lose_nothing),
        {0},
    });
}
