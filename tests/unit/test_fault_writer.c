/* test_fault_writer.c: every failure path of storing a group, walked with
 * the store's fault points (daemon/fault.h) the SQLite way: fail the 1st
 * statement, then the 2nd, ... until a group goes through untouched. Each
 * run must end with the database exactly as a run without faults leaves it
 * (no accepted batch lost, nothing half-stored, nothing twice), the failure
 * counted in store_errors, and (under make asan) nothing leaked. */
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "batch.h"
#include "fault.h"
#include "queue.h"
#include "stats.h"
#include "store.h"
#include "strbuf.h"
#include "test.h"
#include "writer.h"

static char s_dir[64];

/* Result i of a small mixed workload: two runs, two tags, a spectrum on
 * some, an undefined value, so a group takes every kind of statement. */
static result_t *s_result(uint64_t i)
{
    result_t *r = calloc(1, sizeof(*r));
    r->seq = i;
    snprintf(r->run, sizeof(r->run), "run%d", (int)(i % 2));
    snprintf(r->tag, sizeof(r->tag), "%s", i % 3 ? "proj" : "back");
    r->step = i / 2;
    r->recv_time = r->wall_time = 1.7e9 + (double)i;
    r->client_time = NAN;
    r->n = 8;
    r->d = 4;
    r->views = 1;
    r->support = EW_SUPPORT_SPHERE;
    r->kappa = 10;
    r->rank = r->world = -1;
    r->dropped = i;
    r->npoints = 3;
    snprintf(r->points[0].metric, sizeof(r->points[0].metric), "loss");
    r->points[0].value = 1.0 / (1.0 + (double)i);
    snprintf(r->points[1].metric, sizeof(r->points[1].metric), "er_entropy");
    r->points[1].value = i % 4 ? -(double)i : NAN;
    snprintf(r->points[2].metric, sizeof(r->points[2].metric), "rankme");
    r->points[2].value = 2.0 + (double)i;
    if (i % 2) {
        r->nspectrum = 4;
        for (int k = 0; k < 4; k++)
            r->spectrum[k] = 0.4f - 0.1f * (float)k;
    }
    return r;
}

/* Everything a reader can see of the stored data, as one string (ids are
 * left out: they are not part of what was accepted). */
static char *s_dump(const char *db)
{
    static const char *const q[] = {
        "SELECT name, first_seen, last_seen, last_step, dropped, world FROM runs ORDER BY name",
        "SELECT r.name, s.tag, s.metric, s.last_step, s.vmax, s.vmin FROM series s JOIN runs r "
        "ON r.id = s.run_id ORDER BY 1, 2, 3",
        "SELECT run, tag, metric, step, value, wall_time FROM series_points ORDER BY 1, 2, 3, 4",
        "SELECT r.name, b.tag, b.step, b.n, b.d, b.recv_time, b.dropped FROM batches b JOIN runs r "
        "ON r.id = b.run_id ORDER BY 1, 2, 3",
        "SELECT r.name, s.tag, s.step, s.k, hex(s.vals) FROM spectra s JOIN runs r ON r.id = "
        "s.run_id "
        "ORDER BY 1, 2, 3",
    };
    sqlite3 *c;
    strbuf_t b;
    strbuf_init(&b);
    if (sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        strbuf_printf(&b, "[cannot open %s]\n", db);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(c, q[i], -1, &st, NULL) != SQLITE_OK) {
            strbuf_printf(&b, "[%s: %s]\n", q[i], sqlite3_errmsg(c));
            continue;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int k = 0; k < sqlite3_column_count(st); k++) {
                const unsigned char *t = sqlite3_column_text(st, k);
                strbuf_printf(&b, "%s%s", k ? "|" : "", t ? (const char *)t : "NULL");
            }
            strbuf_putc(&b, '\n');
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(c);
    char *dump = strbuf_steal(&b);
    strbuf_free(&b); /* steal leaves a fresh empty buffer */
    return dump;
}

/* One writer life: n results queued, a writer with commit_ms 60 s (so a
 * group ends only on size or on the queue closing), closed, joined. */
static void s_run(const char *db, size_t n, stats_t *st)
{
    char err[256];
    store_t *store = NULL;
    if (store_open(&store, db, err, sizeof err) != 0) {
        fprintf(stderr, "  store_open: %s\n", err);
        return;
    }
    queue_t *q = queue_new(1024, (size_t)-1);
    for (uint64_t i = 0; i < n; i++)
        queue_push(q, s_result(i), 1);
    queue_close(q);
    stats_init(st, 0);
    writer_t *w = writer_start(store, q, 60 * 1000, st);
    writer_join(&w);
    queue_destroy(&q);
}

static char *s_reference(size_t n)
{
    char db[128];
    snprintf(db, sizeof db, "%s/ref%zu.db", s_dir, n);
    stats_t st;
    s_run(db, n, &st);
    char *dump = s_dump(db);
    unlink(db);
    return dump;
}

/* Statement k of one group fails, for every k: the writer rolls back,
 * retries (after 50 ms) and stores the group whole. */
TEST(writer_retries_each_failed_statement_and_loses_nothing)
{
    enum { N = 6 };
    char *want = s_reference(N);
    ASSERT_HAS(want, "run1|proj|rankme|");
    long k = 1;
    for (;; k++) {
        char db[128];
        snprintf(db, sizeof db, "%s/stmt%ld.db", s_dir, k);
        stats_t st;
        ew_fault_arm(EW_FAULT_STORE_STMT, k, 1);
        s_run(db, N, &st);
        long fired = ew_fault_fired(EW_FAULT_STORE_STMT);
        ew_fault_reset();
        char *got = s_dump(db);
        unlink(db);
        int same = strcmp(got, want) == 0;
        if (!same)
            fprintf(stderr, "  statement %ld failing: stored\n%s\n  instead of\n%s\n", k, got,
                    want);
        free(got);
        if (!same)
            free(want);
        ASSERT(same);
        ASSERT_EQ(stats_get(&st.stored), N);
        ASSERT_EQ(stats_get(&st.store_lost), 0);
        ASSERT_EQ(stats_get(&st.store_errors), fired);
        if (!fired)
            break; /* the group took fewer than k statements: all walked */
    }
    free(want);
    printf("# %ld statements of a %d-result group each failed once\n", k - 1, N);
    ASSERT_GT(k - 1, 10); /* BEGIN, runs, series, points, batches, ..., COMMIT */
}

/* The same walk one level down, across two groups: group A is stored, then
 * statement k of group B fails. Nothing of B may be stored (its new series
 * rows and the ids the store cached for them are rolled back), A must be
 * intact, and B written again must give what A+B give without a fault. */
TEST(store_failed_group_leaves_nothing_and_a_retry_completes_it)
{
    enum { NA = 4, NB = 5 };
    char *want_a = s_reference(NA), *want_ab = s_reference(NA + NB);
    result_t *r[NA + NB];
    for (size_t i = 0; i < NA + NB; i++)
        r[i] = s_result(i);
    long k = 1;
    int ok = 1;
    for (; ok; k++) {
        char db[128], err[256];
        snprintf(db, sizeof db, "%s/grp%ld.db", s_dir, k);
        store_t *s = NULL;
        if (store_open(&s, db, err, sizeof err) != 0)
            break;
        long pa = store_write(s, r, NA, err, sizeof err);
        ew_fault_arm(EW_FAULT_STORE_STMT, k, 1);
        long pb = store_write(s, r + NA, NB, err, sizeof err);
        long fired = ew_fault_fired(EW_FAULT_STORE_STMT);
        ew_fault_reset();
        char *mid = s_dump(db);
        long pb2 = fired ? store_write(s, r + NA, NB, err, sizeof err) : pb;
        store_close(&s);
        char *end = s_dump(db);
        unlink(db);
        ok = pa == NA * 3 && pb2 == NB * 3 && (fired ? pb == -1 : pb == NB * 3) &&
             (!fired || strstr(err, "injected fault")) &&
             strcmp(fired ? want_a : want_ab, mid) == 0 && strcmp(want_ab, end) == 0;
        if (!ok)
            fprintf(stderr,
                    "  statement %ld of group B failing (fired %ld): points %ld, %ld, %ld; "
                    "err \"%s\"\n  after the failure:\n%s\n  after the retry:\n%s\n",
                    k, fired, pa, pb, pb2, err, mid, end);
        free(mid);
        free(end);
        if (!fired)
            break;
    }
    for (size_t i = 0; i < NA + NB; i++)
        result_destroy(&r[i]);
    free(want_a);
    free(want_ab);
    ASSERT(ok);
    printf("# %ld statements of the second group each failed once\n", k - 1);
    ASSERT_GT(k - 1, 10);
}

/* COMMIT fails three times running: three retries with backoff, then the
 * group is stored once; the hook (alerting) sees it once, after the commit. */
static void s_count_hook(void *ctx, store_t *store, result_t *const *r, size_t n)
{
    (void)store;
    (void)r;
    *(size_t *)ctx += n;
}

TEST(writer_retries_a_failing_commit)
{
    enum { N = 5 };
    char *want = s_reference(N);
    char db[128], err[256];
    snprintf(db, sizeof db, "%s/commit.db", s_dir);
    store_t *store = NULL;
    ASSERT_EQ(store_open(&store, db, err, sizeof err), 0);
    queue_t *q = queue_new(64, (size_t)-1);
    for (uint64_t i = 0; i < N; i++)
        ASSERT_EQ(queue_push(q, s_result(i), 1), 0);
    queue_close(q);
    stats_t st;
    stats_init(&st, 0);
    size_t hooked = 0;
    ew_fault_arm(EW_FAULT_STORE_COMMIT, 1, 3);
    writer_t *w = writer_start_hooked(store, q, 60 * 1000, &st, s_count_hook, &hooked);
    ASSERT_NOT_NULL(w);
    writer_join(&w);
    long fired = ew_fault_fired(EW_FAULT_STORE_COMMIT);
    ew_fault_reset();
    queue_destroy(&q);
    char *got = s_dump(db);
    int same = strcmp(got, want) == 0;
    free(got);
    free(want);
    ASSERT(same);
    ASSERT_EQ(fired, 3);
    ASSERT_EQ(stats_get(&st.store_errors), 3);
    ASSERT_EQ(stats_get(&st.stored), N);
    ASSERT_EQ(hooked, N);
}

/* A database that never recovers while the daemon stops: after the grace
 * the writer counts what it holds as lost (store_lost) and returns, rather
 * than never stopping; stored + lost = accepted, nothing freed twice or
 * leaked. */
TEST(writer_at_shutdown_counts_what_it_cannot_store_as_lost)
{
    enum { N = 300 }; /* two groups: 256 + 44 */
    char db[128], err[256];
    snprintf(db, sizeof db, "%s/lost.db", s_dir);
    store_t *store = NULL;
    ASSERT_EQ(store_open(&store, db, err, sizeof err), 0);
    queue_t *q = queue_new(1024, (size_t)-1);
    for (uint64_t i = 0; i < N; i++)
        ASSERT_EQ(queue_push(q, s_result(i), 1), 0);
    stats_t st;
    stats_init(&st, 0);
    ew_fault_arm(EW_FAULT_STORE_COMMIT, 1, -1);
    writer_t *w = writer_start(store, q, 60 * 1000, &st);
    ASSERT_NOT_NULL(w);
    writer_set_shutdown_grace(w, 0.3);
    writer_shutdown_begins(w);
    queue_close(q);
    writer_join(&w);
    long fired = ew_fault_fired(EW_FAULT_STORE_COMMIT);
    ew_fault_reset();
    queue_destroy(&q);
    ASSERT_GE(fired, 1);
    ASSERT_EQ(stats_get(&st.stored), 0);
    ASSERT_EQ(stats_get(&st.store_lost), N);
    ASSERT_EQ(stats_get(&st.store_errors), fired);
    char *got = s_dump(db);
    ASSERT_HASNT(got, "run0");
    free(got);
}

int main(void)
{
    snprintf(s_dir, sizeof(s_dir), "/tmp/ew-fault-writer-XXXXXX");
    if (!mkdtemp(s_dir))
        return 1;
    int rc = test_main((test_case_t[]){
        T(writer_retries_each_failed_statement_and_loses_nothing),
        T(store_failed_group_leaves_nothing_and_a_retry_completes_it),
        T(writer_retries_a_failing_commit),
        T(writer_at_shutdown_counts_what_it_cannot_store_as_lost),
        {0},
    });
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
