/* test_summary.c: the series summaries (store_summary.c, query_summary.c)
 * against oracles.
 *
 *  - The table against a rebuild in plain SQL from the points (GROUP BY
 *    step >> level), after random groups of appends, rewritten steps,
 *    undefined values, gaps, rewinds (resume), failed commits, run
 *    deletion (the two-phase purge) and the background build of series
 *    written with plain SQL, including a version-2 file.
 *  - The bucketed view from the summaries against the same bucketing of
 *    the raw points of the window, on random windows (starting and ending
 *    mid-cell) and budgets, with wall times.
 *
 * Every test gets its own directory under /tmp, removed at the end.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fault.h"
#include "query.h"
#include "store.h"
#include "store_runs.h"
#include "store_sqlite.h"
#include "store_summary.h"
#include "test.h"

/* ---------------------------------------------------------------- helpers */

#define MAX_DIRS 16
static char g_dirs[MAX_DIRS][64];
static int g_ndirs;

static void tmp_db(char *path, size_t len)
{
    char *dir = g_dirs[g_ndirs];
    snprintf(dir, sizeof g_dirs[0], "/tmp/ew-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    g_ndirs++;
    snprintf(path, len, "%s/erwatch.db", dir);
}

static void tmp_cleanup(void)
{
    for (int i = 0; i < g_ndirs; i++) {
        DIR *d = opendir(g_dirs[i]);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                    unlinkat(dirfd(d), e->d_name, 0);
            closedir(d);
        }
        rmdir(g_dirs[i]);
    }
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(uint64_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return n ? g_rng % n : g_rng;
}

/* A result of run/tag at step with metrics "a" and "b": a = v, b = -v
 * (NaN stays NaN: undefined). */
static result_t *mk(const char *run, uint64_t step, double v)
{
    result_t *r = calloc(1, sizeof *r);
    snprintf(r->run, sizeof r->run, "%s", run);
    snprintf(r->tag, sizeof r->tag, "t");
    r->step = step;
    r->recv_time = 1700000000.0 + (double)step + (double)rnd(1000) / 1000.0;
    r->wall_time = r->recv_time;
    r->client_time = NAN;
    r->views = 0; /* scalars only */
    r->support = EW_SUPPORT_SPHERE;
    r->rank = -1;
    r->world = -1;
    r->npoints = 2;
    snprintf(r->points[0].metric, sizeof r->points[0].metric, "a");
    snprintf(r->points[1].metric, sizeof r->points[1].metric, "b");
    r->points[0].value = v;
    r->points[1].value = -v;
    return r;
}

/* Writes and frees n results; returns store_write's value. */
static long put(store_t *s, result_t **r, size_t n)
{
    char err[256] = "";
    long rc = store_write(s, r, n, err, sizeof err);
    if (rc < 0 && !strstr(err, "injected"))
        fprintf(stderr, "  store_write: %s\n", err);
    for (size_t i = 0; i < n; i++)
        result_destroy(&r[i]);
    return rc;
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = INT64_MIN;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "  %s: %s\n", sql, sqlite3_errmsg(db));
        return v;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The summaries a rebuild from the points gives (steps >= 0 here, so
 * SQLite's >> is the floor). */
#define ORACLE                                                                                     \
    "SELECT o.sid, o.level, o.bucket, o.n, o.vmin, o.vmax, o.ls, p.value, p.wall_time FROM"        \
    " (SELECT p.series_id AS sid, l.level AS level, p.step >> l.level AS bucket,"                  \
    " count(*) AS n, min(p.value) AS vmin, max(p.value) AS vmax, max(p.step) AS ls"                \
    " FROM points AS p, (SELECT 8 AS level UNION ALL SELECT 12 UNION ALL SELECT 16) AS l"          \
    " GROUP BY 1, 2, 3) AS o JOIN points AS p ON p.series_id = o.sid AND p.step = o.ls"
#define STORED                                                                                     \
    "SELECT series_id, level, bucket, n, vmin, vmax, last_step, last_value, last_time"             \
    " FROM summaries"

/* Rows in the table and not in the rebuild, plus the reverse (0: equal);
 * prints the first of each. */
static int64_t diff_rows(sqlite3 *db)
{
    static const char *const q[2] = {
        "SELECT count(*), min(printf('%d %d %d n=%d [%s,%s] last %d %s %s', s.series_id,"
        " s.level, s.bucket, s.n, s.vmin, s.vmax, s.last_step, s.last_value, s.last_time))"
        " FROM (" STORED " EXCEPT " ORACLE ") AS s",
        "SELECT count(*), min(printf('%d %d %d n=%d [%s,%s] last %d %s %s', s.sid, s.level,"
        " s.bucket, s.n, s.vmin, s.vmax, s.ls, s.value, s.wall_time))"
        " FROM (" ORACLE " EXCEPT " STORED ") AS s",
    };
    int64_t total = 0;
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, q[i], -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "  diff_rows: %s\n", sqlite3_errmsg(db));
            return -1;
        }
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
            fprintf(stderr, "  %lld rows %s, e.g. %s\n", (long long)sqlite3_column_int64(st, 0),
                    i ? "missing from summaries" : "in summaries, not in a rebuild",
                    sqlite3_column_text(st, 1));
            total += sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    return total;
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        exit(2);
    sqlite3_busy_timeout(db, 2000);
    return db;
}

/* Builds every series left to build; returns the build steps taken. */
static long build_all(store_t *s, long max_points)
{
    long steps = 0, n;
    while ((n = store_summary_build(store__summary(s), max_points)) > 0)
        steps++;
    return n < 0 ? -1 : steps;
}

/* ---------------------------------------------------------------- writer */

/* Random groups: appends with gaps, undefined values, steps written again
 * (in the same group and later), a step of one group written twice, a
 * failed commit; the table equals the rebuild after every group. */
TEST(writer_matches_rebuild)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    sqlite3 *db = raw_open(path);
    uint64_t top[2] = {0, 0};
    for (int g = 0; g < 120; g++) {
        result_t *r[40];
        size_t n = 1 + rnd(40);
        for (size_t i = 0; i < n; i++) {
            int run = (int)rnd(2);
            uint64_t step;
            uint64_t k = rnd(10);
            if (k < 6) /* append, sometimes past a cell or two */
                step = top[run] += 1 + (rnd(4) == 0 ? rnd(700) : 0);
            else if (k < 9) /* rewrite an earlier step (or fill a gap) */
                step = rnd(top[run] + 1);
            else
                step = top[run]; /* the last step again */
            double v = rnd(12) == 0 ? NAN : (double)rnd(2000) / 8.0 - 100.0;
            r[i] = mk(run ? "r1" : "r0", step, v);
        }
        if (g % 17 == 5)
            ew_fault_arm(EW_FAULT_STORE_COMMIT, 1, 1);
        long rc = put(s, r, n);
        ew_fault_reset();
        if (g % 17 == 5)
            ASSERT_EQ(rc, -1);
        else
            ASSERT_GE(rc, 0);
        int64_t d = diff_rows(db);
        if (d != 0)
            fprintf(stderr, "  after group %d\n", g);
        ASSERT_EQ(d, 0);
    }
    ASSERT_GT(one_int(db, "SELECT count(*) FROM summaries WHERE level = 12"), 0);
    ASSERT_GT(one_int(db, "SELECT count(*) FROM points"), 1000);
    ASSERT_EQ(one_int(db, "SELECT count(*) FROM series WHERE summarized = 0"), 0);
    sqlite3_close(db);
    store_close(&s);
}

/* A resume rewinds the run to a step inside a cell, on a cell edge, and to
 * 0; the table equals the rebuild. */
TEST(rewind_matches_rebuild)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    sqlite3 *db = raw_open(path);
    static const uint64_t at[] = {70000, 65536, 300, 0};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        for (uint64_t st = at[k]; st < 90000; st += 1 + rnd(40)) {
            result_t *r = mk("run", st, (double)rnd(100));
            snprintf(r->launch, sizeof r->launch, "L%zu", k);
            r->resume = k > 0;
            ASSERT_GE(put(s, &r, 1), 0);
        }
        /* the next launch resumes at at[k + 1] */
        ASSERT_EQ(diff_rows(db), 0);
    }
    ASSERT_EQ(one_int(db, "SELECT count(*) FROM series"), 2);
    sqlite3_close(db);
    store_close(&s);
}

/* Deleting a run: its summaries go in the purge, before its series rows;
 * the other run's stay equal to the rebuild. */
TEST(purge_removes_summaries)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    for (uint64_t st = 0; st < 40000; st += 1 + rnd(3)) {
        result_t *r[2] = {mk("gone", st, (double)rnd(50)), mk("kept", st, (double)rnd(50))};
        ASSERT_GE(put(s, r, 2), 0);
    }
    sqlite3 *db = raw_open(path);
    int64_t before = one_int(db, "SELECT count(*) FROM summaries");
    store_deleted_t del;
    ASSERT_EQ(store_run_delete(s, "gone", 1.0, &del, err, sizeof err), 0);
    free(del.sids);
    store_forget_ids(s);
    long n, steps = 0;
    while ((n = store_purge_step(s, 50, err, sizeof err)) > 0)
        steps++;
    ASSERT_EQ(n, 0);
    ASSERT_GT(steps, 10);
    ASSERT_EQ(one_int(db, "SELECT count(*) FROM runs_deleted"), 0);
    int64_t after = one_int(db, "SELECT count(*) FROM summaries");
    ASSERT_LT(after, before);
    ASSERT_EQ(one_int(db, "SELECT count(*) FROM summaries WHERE series_id NOT IN"
                          " (SELECT id FROM series)"),
              0);
    ASSERT_EQ(diff_rows(db), 0);
    sqlite3_close(db);
    store_close(&s);
}

/* Points written with plain SQL (series.summarized = 0) are built a few
 * points per step while the writer appends to the same series. */
TEST(build_matches_rebuild)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *r = mk("run", 0, 1.0);
    ASSERT_GE(put(s, &r, 1), 0);
    sqlite3 *db = raw_open(path);
    /* 30000 more points of "a" by hand, and a second series */
    ASSERT_EQ(sqlite3_exec(db,
                           "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
                           " WHERE i < 30000)"
                           " INSERT INTO points SELECT s.id, c.i * 3, (c.i * 7919) % 1000,"
                           " 1.7e9 + c.i FROM c, series AS s WHERE s.metric = 'a';"
                           "INSERT INTO series (run_id, tag, metric) SELECT run_id, tag, 'c'"
                           " FROM series WHERE metric = 'a';"
                           "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c"
                           " WHERE i < 5000)"
                           " INSERT INTO points SELECT s.id, c.i * 11,"
                           " CASE WHEN c.i % 13 = 0 THEN NULL ELSE c.i % 97 END, 1.7e9"
                           " FROM c, series AS s WHERE s.metric = 'c';"
                           "UPDATE series SET summarized = 0, last_step = 90000;",
                           NULL, NULL, NULL),
              SQLITE_OK);
    store_forget_ids(s);
    /* build in small steps, appending in between */
    long n, steps = 0;
    uint64_t st = 90001;
    while ((n = store_summary_build(store__summary(s), 1000)) > 0) {
        steps++;
        result_t *w = mk("run", st, (double)rnd(1000));
        st += 1 + rnd(300);
        ASSERT_GE(put(s, &w, 1), 0);
    }
    ASSERT_EQ(n, 0);
    ASSERT_GT(steps, 30);
    ASSERT_EQ(one_int(db, "SELECT count(*) FROM series WHERE summarized = 0"), 0);
    ASSERT_EQ(diff_rows(db), 0);
    sqlite3_close(db);
    store_close(&s);
}

/* A version-2 file (no summaries table, no series.summarized) is migrated
 * on open and built. */
TEST(version_2_file_is_migrated_and_built)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    for (uint64_t st = 0; st < 5000; st += 1 + rnd(5)) {
        result_t *r = mk("old", st, (double)rnd(100));
        ASSERT_GE(put(s, &r, 1), 0);
    }
    store_close(&s);
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(
        sqlite3_exec(db,
                     "PRAGMA legacy_alter_table = ON; DROP TABLE summaries;"
                     "DROP INDEX series_unsummarized;"
                     "CREATE TABLE s2 (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL"
                     " REFERENCES runs(id), tag TEXT NOT NULL, metric TEXT NOT NULL,"
                     " last_step INTEGER, vmax REAL, vmin REAL, UNIQUE (run_id, tag, metric));"
                     "INSERT INTO s2 SELECT id, run_id, tag, metric, last_step, vmax, vmin"
                     " FROM series; DROP TABLE series; ALTER TABLE s2 RENAME TO series;"
                     "PRAGMA user_version = 2;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), -1);
    ASSERT_HAS(err, "erwatchd updates the file");
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(one_int(db, "PRAGMA user_version"), EW_SCHEMA_VERSION);
    ASSERT_EQ(one_int(db, "SELECT count(*) FROM series WHERE summarized = 0"), 2);
    ASSERT_GT(build_all(s, 100000), 0);
    ASSERT_EQ(one_int(db, "SELECT count(*) FROM series WHERE summarized = 0"), 0);
    ASSERT_EQ(diff_rows(db), 0);
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    query_close(&q);
    sqlite3_close(db);
    store_close(&s);
}

/* ---------------------------------------------------------------- reader */

/* The window's points bucketed by downsample() itself: the oracle. */
static void raw_view(sqlite3 *db, int64_t sid, const query_view_t *v, series_t *out)
{
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT step, value, wall_time FROM points WHERE series_id = ?1"
                       " AND step > ?2 AND step < ?3 ORDER BY step",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, v->after);
    sqlite3_bind_int64(st, 3, v->before);
    size_t n = 0, cap = 0;
    int64_t *step = NULL;
    double *val = NULL, *tm = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            step = realloc(step, cap * sizeof *step);
            val = realloc(val, cap * sizeof *val);
            tm = realloc(tm, cap * sizeof *tm);
        }
        step[n] = sqlite3_column_int64(st, 0);
        val[n] = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        tm[n++] = sqlite3_column_double(st, 2);
    }
    sqlite3_finalize(st);
    memset(out, 0, sizeof *out);
    if (n > v->points) {
        downsample_stream_t ds;
        downsample_begin(&ds, step[0], step[n - 1], v->points, v->with_time, out);
        for (size_t i = 0; i < n; i++)
            downsample_push(&ds, step[i], val[i], tm[i]);
        downsample_end(&ds);
    } else {
        downsample(step, val, n, v->points, out);
    }
    free(step);
    free(val);
    free(tm);
}

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Compares two views; prints the first difference. */
static int same_view(const series_t *a, const series_t *b)
{
    if (a->n != b->n || a->bucketed != b->bucketed) {
        fprintf(stderr, "  n %zu vs %zu, bucketed %d vs %d\n", a->n, b->n, a->bucketed,
                b->bucketed);
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        int ok = a->step[i] == b->step[i] && same_double(a->value[i], b->value[i]);
        if (a->bucketed)
            ok = ok && same_double(a->min[i], b->min[i]) && same_double(a->max[i], b->max[i]);
        if (a->time && b->time)
            ok = ok && a->time[i] == b->time[i];
        if (!ok) {
            fprintf(stderr,
                    "  bucket %zu: step %lld vs %lld, value %g vs %g, min %g vs %g, max %g vs %g\n",
                    i, (long long)a->step[i], (long long)b->step[i], a->value[i], b->value[i],
                    a->bucketed ? a->min[i] : 0.0, b->bucketed ? b->min[i] : 0.0,
                    a->bucketed ? a->max[i] : 0.0, b->bucketed ? b->max[i] : 0.0);
            return 0;
        }
    }
    return 1;
}

TEST(view_matches_raw_buckets)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    /* 60000 steps with gaps (some wider than a level-12 cell), undefined
     * values, then a few hundred steps written again */
    uint64_t st = 5;
    result_t *batch[256];
    size_t nb = 0;
    for (int i = 0; i < 60000; i++) {
        st += rnd(50) == 0 ? 1 + rnd(9000) : 1 + rnd(20);
        double v = rnd(40) == 0 ? NAN : (double)rnd(100000) / 16.0;
        batch[nb++] = mk("run", st, v);
        if (nb == 256) {
            ASSERT_GE(put(s, batch, nb), 0);
            nb = 0;
        }
    }
    for (int i = 0; i < 300; i++) {
        batch[nb++] = mk("run", rnd(st), (double)rnd(100000) / 16.0 + 5000.0);
        if (nb == 256) {
            ASSERT_GE(put(s, batch, nb), 0);
            nb = 0;
        }
    }
    if (nb)
        ASSERT_GE(put(s, batch, nb), 0);
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(diff_rows(db), 0);
    int64_t sid = one_int(db, "SELECT id FROM series WHERE metric = 'a'");
    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    int gridded = 0;
    for (int k = 0; k < 300; k++) {
        int64_t a = (int64_t)rnd(st + 10) - 5, b = (int64_t)rnd(st + 10) - 5;
        if (k == 0) {
            a = INT64_MIN;
            b = INT64_MAX;
        }
        if (a > b) {
            int64_t t = a;
            a = b;
            b = t;
        }
        if (a == b)
            b++;
        query_view_t v = {.run = "run",
                          .tag = "t",
                          .metric = "a",
                          .after = a,
                          .before = b,
                          .points = 1 + rnd(k % 3 ? 600 : 3000),
                          .with_time = k % 2};
        series_t got, want;
        ASSERT_EQ(query_series_view(q, &v, &got, err, sizeof err), 0);
        raw_view(db, sid, &v, &want);
        if (want.bucketed && want.n && downsample_grid(a + 1, b - 1, v.points))
            gridded++;
        int same = same_view(&got, &want);
        if (!same)
            fprintf(stderr, "  window (%lld, %lld) points %zu\n", (long long)a, (long long)b,
                    v.points);
        series_free(&got);
        series_free(&want);
        ASSERT(same);
    }
    ASSERT_GT(gridded, 50);
    /* The summaries were read: a change to them shows in the answer. */
    ASSERT_EQ(sqlite3_exec(db, "UPDATE summaries SET vmax = 1e9", NULL, NULL, NULL), SQLITE_OK);
    query_view_t v = {.run = "run",
                      .tag = "t",
                      .metric = "a",
                      .after = INT64_MIN,
                      .before = INT64_MAX,
                      .points = 100};
    series_t got;
    ASSERT_EQ(query_series_view(q, &v, &got, err, sizeof err), 0);
    int big = 0;
    for (size_t i = 0; i < got.n; i++)
        big += got.max[i] == 1e9;
    series_free(&got);
    ASSERT_GT(big, 50);
    query_close(&q);
    sqlite3_close(db);
    store_close(&s);
}

int main(void)
{
    int rc = test_main((test_case_t[]){
        T(writer_matches_rebuild),
        T(rewind_matches_rebuild),
        T(purge_removes_summaries),
        T(build_matches_rebuild),
        T(version_2_file_is_migrated_and_built),
        T(view_matches_raw_buckets),
        {0},
    });
    tmp_cleanup();
    return rc;
}
