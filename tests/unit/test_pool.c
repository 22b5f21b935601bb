/* test_pool.c: the pool of a distributed job's parts (pool.c): rows merged
 * in rank order whatever the arrival order, the refusals (late, duplicate,
 * mismatch, too large), expiry after the timeout, eviction of the oldest,
 * bytes accounting, and the memory of steps already handed back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "test.h"

/* A part of (run, "t", step) from rank of world: n rows of d, row i of
 * rank r filled with 1000 * r + i (so the merged order is visible). */
static batch_t *s_part(const char *run, uint64_t step, int rank, int world, uint32_t n, uint32_t d,
                       int views)
{
    batch_t *b = calloc(1, sizeof *b);
    snprintf(b->h.run, sizeof b->h.run, "%s", run);
    snprintf(b->h.tag, sizeof b->h.tag, "t");
    b->h.step = step;
    b->h.n = n;
    b->h.d = d;
    b->h.views = views;
    b->h.kappa = 10;
    b->h.t = 2;
    b->h.alpha = 2;
    b->h.rank = rank;
    b->h.world = world;
    b->h.pool = 1;
    b->h.dropped = (uint64_t)rank;
    b->recv_time = 100.0 + rank;
    for (int v = 0; v < views; v++) {
        b->view[v] = malloc((size_t)n * d * sizeof(float));
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < d; j++)
                b->view[v][i * d + j] = (float)(1000 * rank + (int)i) + (v ? 0.5f : 0.0f);
    }
    b->bytes = sizeof *b + (size_t)views * n * d * sizeof(float);
    return b;
}

static pool_verdict_t s_add(pool_t *p, batch_t *b, double now, batch_t **ready)
{
    char msg[200];
    pool_verdict_t v = pool_add(p, &b, now, ready, msg, sizeof msg);
    if (b) /* refused: still ours */
        batch_destroy(&b);
    return v;
}

TEST(parts_merge_in_rank_order_whatever_the_arrival)
{
    pool_t *p = pool_new(10);
    static const int order[4] = {2, 0, 3, 1};
    static const uint32_t rows[4] = {3, 1, 4, 2};
    batch_t *ready = NULL;
    for (int k = 0; k < 4; k++) {
        int r = order[k];
        pool_verdict_t v = s_add(p, s_part("a", 7, r, 4, rows[r], 2, 2), 1.0, &ready);
        ASSERT_EQ(v, k < 3 ? POOL_HELD : POOL_COMPLETE);
    }
    ASSERT_NOT_NULL(ready);
    if (!ready)
        return;
    ASSERT_EQ(ready->h.n, 10);
    ASSERT_EQ(ready->h.ranks, 4);
    ASSERT_EQ(ready->h.pool, 0);
    ASSERT_EQ(ready->h.dropped, 0 + 1 + 2 + 3);
    ASSERT_EQ(ready->recv_time, 100.0);
    ASSERT_EQ(ready->bytes, sizeof *ready + 2 * 10 * 2 * sizeof(float));
    /* rows: rank 0's (3), rank 1's (1), rank 2's (4), rank 3's (2) */
    static const float want[10] = {0, 1, 2, 1000, 2000, 2001, 2002, 2003, 3000, 3001};
    for (int i = 0; i < 10; i++) {
        ASSERT_EQ(ready->view[0][2 * i], want[i]);
        ASSERT_EQ(ready->view[1][2 * i + 1], want[i] + 0.5f);
    }
    ASSERT_EQ(pool_groups(p), 0);
    ASSERT_EQ(pool_bytes(p), 0);
    batch_destroy(&ready);
    pool_destroy(&p);
    ASSERT_NULL(p);
}

TEST(refusals_leave_the_part_with_the_caller)
{
    pool_t *p = pool_new(10);
    batch_t *ready = NULL;
    ASSERT_EQ(s_add(p, s_part("a", 1, 0, 2, 2, 3, 1), 0, &ready), POOL_HELD);
    ASSERT_EQ(s_add(p, s_part("a", 1, 0, 2, 2, 3, 1), 0, &ready), POOL_DUPLICATE);
    ASSERT_EQ(s_add(p, s_part("a", 1, 1, 2, 2, 4, 1), 0, &ready), POOL_MISMATCH); /* d */
    ASSERT_EQ(s_add(p, s_part("a", 1, 1, 2, 2, 3, 2), 0, &ready), POOL_MISMATCH); /* views */
    batch_t *k = s_part("a", 1, 1, 2, 2, 3, 1);
    k->h.kappa = 20;
    ASSERT_EQ(s_add(p, k, 0, &ready), POOL_MISMATCH);
    batch_t *big = s_part("a", 1, 1, 2, 1, 3, 1);
    big->h.n = EW_N_MAX; /* the view holds 1 row; the check never reads it */
    ASSERT_EQ(s_add(p, big, 0, &ready), POOL_TOO_LARGE);
    ASSERT_NULL(ready);
    ASSERT_EQ(pool_groups(p), 1);
    ASSERT_EQ(s_add(p, s_part("a", 1, 1, 2, 2, 3, 1), 0, &ready), POOL_COMPLETE);
    ASSERT_NOT_NULL(ready);
    if (ready)
        ASSERT_EQ(ready->h.ranks, 2);
    batch_destroy(&ready);
    /* the step went out: a third part of it is late */
    ASSERT_EQ(s_add(p, s_part("a", 1, 1, 2, 2, 3, 1), 0, &ready), POOL_LATE);
    /* other runs, tags and steps are not */
    ASSERT_EQ(s_add(p, s_part("b", 1, 1, 2, 2, 3, 1), 0, &ready), POOL_HELD);
    ASSERT_EQ(s_add(p, s_part("a", 2, 1, 2, 2, 3, 1), 0, &ready), POOL_HELD);
    pool_destroy(&p); /* frees what it holds (ASan: no leak) */
}

/* Every setting a part must share with the step's first part: each one
 * changed alone is refused with its name in the message, and the step
 * still completes from the parts that agree. */
TEST(every_setting_that_differs_is_refused_by_name)
{
    static const char *const fields[] = {"world", "d", "views", "dtype", "support", "metrics",
                                         "kappa", "t", "alpha", "eps",   "iters"};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        pool_t *p = pool_new(10);
        batch_t *ready = NULL;
        char msg[200];
        ASSERT_EQ(s_add(p, s_part("a", 1, 0, 2, 2, 3, 1), 0, &ready), POOL_HELD);
        batch_t *b = s_part("a", 1, 1, 2, 2, 3, 1);
        ew_header_t *h = &b->h;
        switch (f) {
        case 0:
            h->world = 3;
            break;
        case 1:
            h->d = 4;
            break;
        case 2:
            h->views = 2;
            break;
        case 3:
            h->dtype = EW_DTYPE_F64;
            break;
        case 4:
            h->support = EW_SUPPORT_DISCRETE;
            break;
        case 5:
            h->metrics = EW_MBIT(EW_M_ER_ENTROPY);
            break;
        case 6:
            h->kappa += 1;
            break;
        case 7:
            h->t += 0.5;
            break;
        case 8:
            h->alpha += 1;
            break;
        case 9:
            h->eps += 0.01;
            break;
        case 10:
            h->iters += 1;
            break;
        }
        pool_verdict_t v = pool_add(p, &b, 0, &ready, msg, sizeof msg);
        ASSERT_EQ(v, POOL_MISMATCH);
        char want[64];
        snprintf(want, sizeof want, "differs in %s ", fields[f]);
        ASSERT_HAS(msg, want);
        batch_destroy(&b);
        ASSERT_EQ(s_add(p, s_part("a", 1, 1, 2, 2, 3, 1), 0, &ready), POOL_COMPLETE);
        batch_destroy(&ready);
        pool_destroy(&p);
    }
}

TEST(timeout_hands_back_a_partial_batch_then_late)
{
    pool_t *p = pool_new(0.5);
    batch_t *ready = NULL;
    ASSERT_EQ(s_add(p, s_part("a", 3, 2, 3, 2, 2, 1), 10.0, &ready), POOL_HELD);
    ASSERT_EQ(s_add(p, s_part("a", 4, 0, 3, 2, 2, 1), 10.2, &ready), POOL_HELD);
    ASSERT_EQ(s_add(p, s_part("a", 3, 0, 3, 5, 2, 1), 10.3, &ready), POOL_HELD);
    ASSERT_EQ(pool_next_deadline(p), 10.5);
    ASSERT_NULL(pool_take_expired(p, 10.49));
    batch_t *b = pool_take_expired(p, 10.5);
    ASSERT_NOT_NULL(b);
    if (b) {
        ASSERT_EQ(b->h.step, 3);
        ASSERT_EQ(b->h.ranks, 2);
        ASSERT_EQ(b->h.n, 7);
        ASSERT_EQ(b->view[0][0], 0.0f); /* rank 0 first */
        ASSERT_EQ(b->view[0][2 * 5], 2000.0f);
    }
    batch_destroy(&b);
    ASSERT_NULL(pool_take_expired(p, 10.6)); /* step 4 waits until 10.7 */
    ASSERT_EQ(pool_groups(p), 1);
    ASSERT_EQ(s_add(p, s_part("a", 3, 1, 3, 2, 2, 1), 10.6, &ready), POOL_LATE);
    b = pool_take_oldest(p);
    ASSERT_NOT_NULL(b);
    if (b)
        ASSERT_EQ(b->h.step, 4);
    batch_destroy(&b);
    ASSERT_NULL(pool_take_oldest(p));
    ASSERT_EQ(pool_next_deadline(p), -1.0);
    pool_destroy(&p);
}

TEST(bytes_count_parts_and_group_memory)
{
    pool_t *p = pool_new(10);
    batch_t *ready = NULL;
    batch_t *a = s_part("a", 1, 0, 1000, 4, 8, 1);
    size_t part = a->bytes;
    ASSERT_EQ(s_add(p, a, 0, &ready), POOL_HELD);
    ASSERT_GE(pool_bytes(p), part + 1000 * sizeof(void *));
    size_t one = pool_bytes(p);
    ASSERT_EQ(s_add(p, s_part("a", 1, 1, 1000, 4, 8, 1), 0, &ready), POOL_HELD);
    ASSERT_EQ(pool_bytes(p), one + part);
    batch_t *b = pool_take_oldest(p);
    ASSERT_EQ(pool_bytes(p), 0);
    batch_destroy(&b);
    pool_destroy(&p);
}

TEST(done_steps_are_remembered_in_bounded_memory)
{
    pool_t *p = pool_new(10);
    batch_t *ready = NULL;
    /* 100,000 steps out (more than two generations of the done set) */
    for (uint64_t s = 0; s < 100000; s++) {
        ASSERT_EQ(s_add(p, s_part("f", s, 0, 2, 1, 1, 1), 0, &ready), POOL_HELD);
        batch_t *b = pool_take_oldest(p);
        batch_destroy(&b);
    }
    /* the most recent are remembered as done */
    ASSERT_EQ(s_add(p, s_part("f", 99999, 1, 2, 1, 1, 1), 0, &ready), POOL_LATE);
    ASSERT_EQ(s_add(p, s_part("f", 70000, 1, 2, 1, 1, 1), 0, &ready), POOL_LATE);
    /* the oldest were forgotten: a part of one starts a new group */
    ASSERT_EQ(s_add(p, s_part("f", 0, 1, 2, 1, 1, 1), 0, &ready), POOL_HELD);
    pool_destroy(&p);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(parts_merge_in_rank_order_whatever_the_arrival),
        T(refusals_leave_the_part_with_the_caller),
        T(every_setting_that_differs_is_refused_by_name),
        T(timeout_hands_back_a_partial_batch_then_late),
        T(bytes_count_parts_and_group_memory),
        T(done_steps_are_remembered_in_bounded_memory),
        {0},
    });
}
