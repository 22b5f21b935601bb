/* test_writer.c: the writer thread stores results in arrival order even
 * when workers hand them over out of order, groups commits (at most
 * EW_WRITER_GROUP results, at most commit_ms of waiting, as the writer hook
 * sees them), and stores everything before writer_join returns. */
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "batch.h"
#include "queue.h"
#include "stats.h"
#include "store.h"
#include "test.h"
#include "writer.h"

static char s_dir[64];

static result_t *s_result(uint64_t seq, uint64_t step, double loss)
{
    result_t *r = calloc(1, sizeof(*r));
    r->seq = seq;
    snprintf(r->run, sizeof(r->run), "w");
    snprintf(r->tag, sizeof(r->tag), "t");
    r->step = step;
    r->recv_time = r->wall_time = 1.7e9 + (double)seq;
    r->client_time = NAN;
    r->n = 4;
    r->d = 2;
    r->views = 1;
    r->kappa = 10;
    r->rank = r->world = -1;
    r->npoints = 1;
    snprintf(r->points[0].metric, sizeof(r->points[0].metric), "loss");
    r->points[0].value = loss;
    return r;
}

static double s_value(const char *db, uint64_t step)
{
    sqlite3 *c;
    sqlite3_stmt *st;
    double v = -1;
    sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL);
    sqlite3_prepare_v2(c, "SELECT value FROM series_points WHERE step = ?", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)step);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    return v;
}

/* Three results for the same step arrive as seq 2, 0, 1: the value of seq 2
 * (the last batch the daemon received) must be the one stored. */
TEST(out_of_order_results_stored_in_arrival_order)
{
    char db[128], err[256];
    snprintf(db, sizeof(db), "%s/w1.db", s_dir);
    store_t *store = NULL;
    ASSERT_EQ(store_open(&store, db, err, sizeof(err)), 0);
    queue_t *q = queue_new(64, (size_t)-1);
    stats_t st;
    stats_init(&st, 0);
    writer_t *w = writer_start(store, q, 5, &st);
    ASSERT(w);
    ASSERT_EQ(queue_push(q, s_result(2, 7, 3.0), 1), 0);
    usleep(30 * 1000); /* longer than commit_ms: seq 2 must still wait */
    ASSERT_EQ(queue_push(q, s_result(0, 7, 1.0), 1), 0);
    ASSERT_EQ(queue_push(q, s_result(1, 7, 2.0), 1), 0);
    for (uint64_t a = 3; a + 1 < 200; a += 2) { /* a tail, swapped in pairs */
        ASSERT_EQ(queue_push(q, s_result(a + 1, 100 + a + 1, (double)(a + 1)), 1), 0);
        ASSERT_EQ(queue_push(q, s_result(a, 100 + a, (double)a), 1), 0);
    }
    ASSERT_EQ(queue_push(q, s_result(199, 299, 199.0), 1), 0);
    queue_close(q);
    writer_join(&w);
    ASSERT_NULL(w);
    ASSERT_EQ(s_value(db, 7), 3.0);
    ASSERT_EQ(stats_get(&st.stored), 200);
    ASSERT_EQ(stats_get(&st.store_lost), 0);
    queue_destroy(&q);
    unlink(db);
}

/* What the writer hook saw: one entry per committed group. */
typedef struct {
    size_t sizes[64];
    uint64_t first_seq[64];
    atomic_int groups;
    int finals;    /* calls with n = 0 (the shutdown call) */
    int gaps;      /* a group not starting where the previous one ended */
    uint64_t next; /* seq expected next */
} s_groups_t;

static void s_hook(void *ctx, store_t *store, result_t *const *r, size_t n)
{
    s_groups_t *g = ctx;
    (void)store;
    if (n == 0) {
        g->finals++;
        return;
    }
    int i = atomic_load(&g->groups);
    if (i < 64) {
        g->sizes[i] = n;
        g->first_seq[i] = r[0]->seq;
    }
    for (size_t k = 0; k < n; k++)
        if (r[k]->seq != g->next++)
            g->gaps++;
    atomic_store(&g->groups, i + 1);
}

/* With everything queued before the writer starts, groups are full:
 * 600 results commit as 256 + 256 + 88, three transactions, in order. */
TEST(commits_in_groups_of_at_most_EW_WRITER_GROUP)
{
    char db[128], err[256];
    snprintf(db, sizeof(db), "%s/w2.db", s_dir);
    store_t *store = NULL;
    ASSERT_EQ(store_open(&store, db, err, sizeof(err)), 0);
    queue_t *q = queue_new(1024, (size_t)-1);
    for (uint64_t i = 0; i < 600; i++)
        ASSERT_EQ(queue_push(q, s_result(i, i, (double)i), 1), 0);
    queue_close(q);
    stats_t st;
    stats_init(&st, 0);
    s_groups_t g = {0};
    writer_t *w = writer_start_hooked(store, q, 60 * 1000, &st, s_hook, &g);
    ASSERT_NOT_NULL(w);
    writer_join(&w); /* a 60 s commit_ms: only the size bound ends a group */
    ASSERT_EQ(atomic_load(&g.groups), 3);
    ASSERT_EQ(g.sizes[0], EW_WRITER_GROUP);
    ASSERT_EQ(g.sizes[1], EW_WRITER_GROUP);
    ASSERT_EQ(g.sizes[2], 600 - 2 * EW_WRITER_GROUP);
    ASSERT_EQ(g.gaps, 0);
    ASSERT_EQ(g.finals, 1);
    ASSERT_EQ(stats_get(&st.stored), 600);
    ASSERT_EQ(s_value(db, 599), 599.0);
    queue_destroy(&q);
    unlink(db);
}

/* A lone result is committed once commit_ms has passed, not held until
 * more arrive: the group closes on time with the queue still open. */
TEST(commit_ms_bounds_the_wait)
{
    char db[128], err[256];
    snprintf(db, sizeof(db), "%s/w3.db", s_dir);
    store_t *store = NULL;
    ASSERT_EQ(store_open(&store, db, err, sizeof(err)), 0);
    queue_t *q = queue_new(64, (size_t)-1);
    stats_t st;
    stats_init(&st, 0);
    s_groups_t g = {0};
    ASSERT_EQ(queue_push(q, s_result(0, 1, 1.0), 1), 0);
    ASSERT_EQ(queue_push(q, s_result(1, 2, 2.0), 1), 0);
    writer_t *w = writer_start_hooked(store, q, 100, &st, s_hook, &g);
    ASSERT_NOT_NULL(w);
    for (int i = 0; i < 10000 && atomic_load(&g.groups) == 0; i++)
        usleep(1000); /* at most 10 s */
    int groups_open = atomic_load(&g.groups);
    ASSERT_EQ(queue_push(q, s_result(2, 3, 3.0), 1), 0);
    queue_close(q);
    writer_join(&w);
    ASSERT_EQ(groups_open, 1); /* committed while the queue was open */
    ASSERT_EQ(g.sizes[0], 2);  /* both results in one transaction */
    ASSERT_EQ(atomic_load(&g.groups), 2);
    ASSERT_EQ(g.sizes[1], 1);
    ASSERT_EQ(g.gaps, 0);
    ASSERT_EQ(stats_get(&st.stored), 3);
    queue_destroy(&q);
    unlink(db);
}

int main(void)
{
    snprintf(s_dir, sizeof(s_dir), "/tmp/ew-writer-XXXXXX");
    if (!mkdtemp(s_dir))
        return 1;
    int rc = test_main((test_case_t[]){
        T(out_of_order_results_stored_in_arrival_order),
        T(commits_in_groups_of_at_most_EW_WRITER_GROUP),
        T(commit_ms_bounds_the_wait),
        {0},
    });
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
