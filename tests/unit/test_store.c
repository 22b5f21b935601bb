/* test_store.c: the writer (store_sqlite.c) and the readers (query_sqlite.c) against real
 * database files: round trips through query_* and through the documented
 * series_points view, replacement of duplicate steps, NULL for undefined
 * values, all-or-nothing groups, reopening, refusing files that are not ours,
 * and reading while a write transaction is open (WAL).
 *
 * Every test gets its own directory under /tmp (mkdtemp); all of them are
 * removed when the suite ends, failed tests included.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "query.h"
#include "store.h"
#include "strbuf.h"
#include "test.h"

/* ---------------------------------------------------------------- helpers */

#define MAX_DIRS 64
static char g_dirs[MAX_DIRS][64];
static int g_ndirs;

/* A fresh directory; *path is "<dir>/erwatch.db" (not created). */
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
            while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                /* files, and the directory one test puts there */
                if (unlinkat(dirfd(d), e->d_name, 0) != 0)
                    unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
            }
            closedir(d);
        }
        rmdir(g_dirs[i]);
    }
    g_ndirs = 0;
}

/* A result with `np` points named metric[i] = value[i]. Free with free(). */
static result_t *mk(const char *run, const char *tag, uint64_t step, int np,
                    const char *const *metric, const double *value)
{
    result_t *r = calloc(1, sizeof *r);
    snprintf(r->run, sizeof r->run, "%s", run);
    snprintf(r->tag, sizeof r->tag, "%s", tag);
    r->step = step;
    r->recv_time = 1700000000.0 + (double)step;
    r->wall_time = r->recv_time;
    r->client_time = NAN;
    r->n = 256;
    r->d = 128;
    r->views = 1;
    r->support = EW_SUPPORT_SPHERE;
    r->kappa = 10.0;
    r->rank = -1;
    r->world = -1;
    r->npoints = np;
    for (int i = 0; i < np; i++) {
        snprintf(r->points[i].metric, sizeof r->points[i].metric, "%s", metric[i]);
        r->points[i].value = value[i];
    }
    return r;
}

/* The usual two-metric result: er_entropy = v, loss = 2v. */
static result_t *mk2(const char *run, const char *tag, uint64_t step, double v)
{
    static const char *const m[] = {"er_entropy", "loss"};
    double vals[] = {v, 2 * v};
    return mk(run, tag, step, 2, m, vals);
}

static void free_all(result_t **r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i]);
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "raw_open %s: %s\n", path, sqlite3_errmsg(db));
        exit(2);
    }
    sqlite3_busy_timeout(db, 2000);
    return db;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "  raw_exec(%s): %s\n", sql, msg);
    sqlite3_free(msg);
    return rc;
}

/* First column of the first row as int64 (INT64_MIN when no row or error,
 * -999 when NULL), or as double / text below. */
static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = INT64_MIN;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "  raw_int(%s): %s\n", sql, sqlite3_errmsg(db));
        return v;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -999 : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static double raw_double(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    double v = -12345.0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return v;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char g_text[1024];
static const char *raw_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    g_text[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return "(error)";
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(g_text, sizeof g_text, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return g_text;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- a tiny JSON syntax checker (enough to prove the body parses) ---- */

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *js_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *js_seq(const char *p, int depth, char close, int object)
{
    p = js_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            if (!(p = js_string(p)))
                return NULL;
            p = js_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        if (!(p = js_value(p, depth + 1)))
            return NULL;
        p = js_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
        p = js_ws(p);
    }
}

static const char *js_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = js_ws(p);
    switch (*p) {
    case '{':
        return js_seq(p, depth, '}', 1);
    case '[':
        return js_seq(p, depth, ']', 0);
    case '"':
        return js_string(p);
    case 't':
        return strncmp(p, "true", 4) ? NULL : p + 4;
    case 'f':
        return strncmp(p, "false", 5) ? NULL : p + 5;
    case 'n':
        return strncmp(p, "null", 4) ? NULL : p + 4;
    default:
        return js_number(p);
    }
}

static int json_valid(const char *s)
{
    const char *p = js_value(s, 0);
    return p && *js_ws(p) == '\0';
}

/* ---------------------------------------------------------------- tests */

TEST(json_checker_sanity)
{
    ASSERT(json_valid("{\"a\":[1,2.5,-0.1e+3,null,true,\"x\\\"y\"],\"b\":{}}"));
    ASSERT(!json_valid("{\"a\":[1,]}"));
    ASSERT(!json_valid("{\"a\":\"x\"y\"}"));
    ASSERT(!json_valid("{\"a\":1"));
}

TEST(new_db_has_schema_and_wal)
{
    char path[128], err[256];
    tmp_db(path, sizeof path);
    store_t *s = NULL;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_NOT_NULL(s);
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "PRAGMA application_id"), EW_APPLICATION_ID);
    ASSERT_EQ(raw_int(db, "PRAGMA user_version"), EW_SCHEMA_VERSION);
    ASSERT_STREQ(raw_text(db, "PRAGMA journal_mode"), "wal");
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN "
                          "('runs','series','points','batches',"
                          "'series_points','batch_info')"),
              6);
    sqlite3_close(db);
    store_close(&s);
    ASSERT_NULL(s);
    store_close(&s); /* harmless */
}

TEST(round_trip)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *g[3] = {mk2("r1", "projector", 1, 0.5), mk2("r1", "projector", 2, 0.25),
                      mk2("r1", "backbone", 2, 4.0)};
    g[1]->world = 4;
    g[1]->rank = 3;
    g[1]->wall_time = g[1]->client_time = 1600000000.5; /* a client time */
    g[2]->dropped = 7;
    ASSERT_EQ(store_write(s, g, 3, err, sizeof err), 6);

    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    series_t ser;
    ASSERT_EQ(
        query_series(q, "r1", "projector", "loss", INT64_MIN, INT64_MAX, &ser, err, sizeof err), 0);
    ASSERT_EQ(ser.n, 2);
    ASSERT_EQ(ser.bucketed, 0);
    ASSERT_EQ(ser.step[0], 1);
    ASSERT_EQ(ser.step[1], 2);
    ASSERT_EQ(ser.value[0], 1.0);
    ASSERT_EQ(ser.value[1], 0.5);
    series_free(&ser);
    /* after < step < before, both exclusive */
    ASSERT_EQ(query_series(q, "r1", "projector", "er_entropy", 1, 3, &ser, err, sizeof err), 0);
    ASSERT_EQ(ser.n, 1);
    ASSERT_EQ(ser.step[0], 2);
    series_free(&ser);
    ASSERT_EQ(query_series(q, "r1", "projector", "er_entropy", 0, 2, &ser, err, sizeof err), 0);
    ASSERT_EQ(ser.n, 1);
    ASSERT_EQ(ser.step[0], 1);
    series_free(&ser);
    ASSERT_EQ(
        query_series(q, "r1", "projector", "nope", INT64_MIN, INT64_MAX, &ser, err, sizeof err),
        -ENOENT);
    ASSERT_EQ(
        query_series(q, "r2", "projector", "loss", INT64_MIN, INT64_MAX, &ser, err, sizeof err),
        -ENOENT);
    ASSERT_EQ(query_client_dropped(q), 7);

    /* The documented view, with plain sqlite3 calls. */
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT step, value, wall_time FROM "
                                 "series_points WHERE run = 'r1' AND tag = "
                                 "'projector' AND metric = 'er_entropy' "
                                 "ORDER BY step",
                                 -1, &st, NULL),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int64(st, 0), 1);
    ASSERT_EQ(sqlite3_column_double(st, 1), 0.5);
    ASSERT_EQ(sqlite3_column_double(st, 2), 1700000001.0);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int64(st, 0), 2);
    ASSERT_EQ(sqlite3_column_double(st, 1), 0.25);
    ASSERT_EQ(sqlite3_column_double(st, 2), 1600000000.5);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    /* runs: first/last seen are receive times, last_step the max step, world
     * the latest sent, dropped the latest report. */
    ASSERT_EQ(raw_double(db, "SELECT first_seen FROM runs"), 1700000001.0);
    ASSERT_EQ(raw_double(db, "SELECT last_seen FROM runs"), 1700000002.0);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM runs"), 2);
    ASSERT_EQ(raw_int(db, "SELECT world FROM runs"), 4);
    ASSERT_EQ(raw_int(db, "SELECT dropped FROM runs"), 7);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series"), 4);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM series WHERE tag = "
                          "'projector' AND metric = 'loss'"),
              2);

    /* batches: one row per batch, NULL for what the client did not send */
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM batches"), 3);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM batch_info WHERE run = 'r1' "
                          "AND n = 256 AND d = 128 AND views = 1 AND support "
                          "= 'sphere' AND kappa = 10.0"),
              3);
    ASSERT_EQ(raw_int(db, "SELECT rank FROM batches WHERE step = 1"), -999);
    ASSERT_EQ(raw_int(db, "SELECT client_time IS NULL FROM batches WHERE "
                          "step = 1"),
              1);
    ASSERT_EQ(raw_int(db, "SELECT rank FROM batches WHERE step = 2 AND tag = "
                          "'projector'"),
              3);
    ASSERT_EQ(raw_double(db, "SELECT client_time FROM batches WHERE step = 2 AND "
                             "tag = 'projector'"),
              1600000000.5);
    ASSERT_EQ(raw_int(db, "SELECT dropped FROM batch_info WHERE tag = "
                          "'backbone'"),
              7);
    sqlite3_close(db);
    query_close(&q);
    ASSERT_NULL(q);
    store_close(&s);
    free_all(g, 3);
}

TEST(duplicate_step_replaces)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *a = mk2("r", "t", 5, 1.0);
    result_t *b = mk2("r", "t", 5, 3.0);
    result_t *c = mk2("r", "t", 5, 9.0);
    ASSERT_EQ(store_write(s, &a, 1, err, sizeof err), 2);
    ASSERT_EQ(store_write(s, &b, 1, err, sizeof err), 2); /* a later group */
    result_t *g[2] = {a, c};                              /* within a group */
    ASSERT_EQ(store_write(s, g, 2, err, sizeof err), 4);

    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM points"), 2);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series"), 2);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM runs"), 1);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM batches"), 1);
    ASSERT_EQ(raw_double(db, "SELECT value FROM series_points WHERE metric = "
                             "'er_entropy'"),
              9.0);
    ASSERT_EQ(raw_double(db, "SELECT value FROM series_points WHERE metric = "
                             "'loss'"),
              18.0);
    sqlite3_close(db);
    store_close(&s);
    free(a);
    free(b);
    free(c);
}

/* A batch's spectrum lands in `spectra` as little-endian float32s, a later
 * batch for the same step replaces it, and a result without one adds no row. */
TEST(spectrum_round_trip)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *a = mk2("r", "t", 5, 1.0), *b = mk2("r", "t", 5, 2.0), *c = mk2("r", "t", 6, 3.0);
    a->nspectrum = 2;
    a->spectrum[0] = 0.75f;
    a->spectrum[1] = 0.25f;
    b->nspectrum = 3;
    b->spectrum[0] = 0.5f;
    b->spectrum[1] = 0.25f;
    b->spectrum[2] = 0.25f;
    result_t *g[3] = {a, b, c};
    ASSERT_EQ(store_write(s, g, 3, err, sizeof err), 6);
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM spectra"), 1);
    ASSERT_EQ(raw_int(db, "SELECT k FROM spectrum_info WHERE run = 'r' AND step = 5"), 3);
    sqlite3_stmt *st;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT vals FROM spectra", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_bytes(st, 0), 12);
    const unsigned char *v = sqlite3_column_blob(st, 0);
    float f[3];
    for (int i = 0; i < 3; i++) {
        uint32_t u = (uint32_t)v[4 * i] | (uint32_t)v[4 * i + 1] << 8 |
                     (uint32_t)v[4 * i + 2] << 16 | (uint32_t)v[4 * i + 3] << 24;
        memcpy(&f[i], &u, 4);
    }
    sqlite3_finalize(st);
    ASSERT_EQ(f[0], 0.5f);
    ASSERT_EQ(f[1], 0.25f);
    ASSERT_EQ(f[2], 0.25f);
    sqlite3_close(db);

    /* served by query_spectrum; then 100 more steps bucketed to 10 */
    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    strbuf_t out;
    strbuf_init(&out);
    ASSERT_EQ(query_spectrum(q, "r", "t", INT64_MIN, INT64_MAX, 100, &out, err, sizeof err), 0);
    ASSERT_STREQ(out.data, "{\"run\":\"r\",\"tag\":\"t\",\"bucketed\":false,"
                           "\"step\":[5],\"values\":[[0.5,0.25,0.25]]}");
    ASSERT_EQ(query_spectrum(q, "r", "nope", INT64_MIN, INT64_MAX, 100, &out, err, sizeof err),
              -ENOENT);
    ASSERT_EQ(query_spectrum(q, "r", "t", 5, INT64_MAX, 100, &out, err, sizeof err), -ENOENT);
    result_t *many[100];
    for (int i = 0; i < 100; i++) {
        many[i] = mk2("r", "t", 100 + (uint64_t)i, 1.0);
        many[i]->nspectrum = 1;
        many[i]->spectrum[0] = 1.0f;
    }
    ASSERT_EQ(store_write(s, many, 100, err, sizeof err), 200);
    strbuf_reset(&out);
    ASSERT_EQ(query_spectrum(q, "r", "t", 99, INT64_MAX, 10, &out, err, sizeof err), 0);
    ASSERT_HAS(out.data, "\"bucketed\":true");
    ASSERT_HAS(out.data, "\"step\":[109,119,129,139,149,159,169,179,189,199]");
    strbuf_free(&out);
    free_all(many, 100);
    query_close(&q);
    store_close(&s);
    free(a);
    free(b);
    free(c);
}

/* Each series keeps its largest and smallest value (what the alert engine
 * reads after a restart, by a seek instead of a scan), NaN ignored; a file
 * from a build without those columns gets them, filled, when reopened. */
TEST(series_value_range_kept_and_backfilled)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *g[4] = {mk2("r", "t", 1, 3.0), mk2("r", "t", 2, NAN), mk2("r", "t", 3, -1.5),
                      mk2("r", "t", 4, 2.0)};
    ASSERT_EQ(store_write(s, g, 2, err, sizeof err), 4);
    ASSERT_EQ(store_write(s, g + 2, 2, err, sizeof err), 4); /* a later group */
    double hi = 0, lo = 0;
    ASSERT_EQ(store_series_range(s, "r", "t", "er_entropy", &hi, &lo), 0);
    ASSERT_EQ(hi, 3.0);
    ASSERT_EQ(lo, -1.5);
    ASSERT_EQ(store_series_range(s, "r", "t", "loss", &hi, &lo), 0); /* loss = 2v */
    ASSERT_EQ(hi, 6.0);
    ASSERT_EQ(lo, -3.0);
    ASSERT_EQ(store_series_range(s, "r", "t", "nope", &hi, &lo), -1);
    store_close(&s);

    sqlite3 *db = raw_open(path);
    ASSERT_EQ(sqlite3_exec(db,
                           "ALTER TABLE series DROP COLUMN vmax;"
                           "ALTER TABLE series DROP COLUMN vmin;",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(store_series_range(s, "r", "t", "er_entropy", &hi, &lo), 0);
    ASSERT_EQ(hi, 3.0);
    ASSERT_EQ(lo, -1.5);
    store_close(&s);
    free_all(g, 4);
}

TEST(nan_stored_as_null)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    static const char *const m[] = {"er_entropy", "er_reconstruction"};
    double v[] = {NAN, 0.75};
    result_t *r = mk("r", "t", 3, 2, m, v);
    ASSERT_EQ(store_write(s, &r, 1, err, sizeof err), 2);

    sqlite3 *db = raw_open(path);
    ASSERT_STREQ(raw_text(db, "SELECT typeof(value) FROM series_points WHERE "
                              "metric = 'er_entropy'"),
                 "null");
    ASSERT_STREQ(raw_text(db, "SELECT typeof(value) FROM series_points WHERE "
                              "metric = 'er_reconstruction'"),
                 "real");
    sqlite3_close(db);

    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    series_t ser;
    ASSERT_EQ(query_series(q, "r", "t", "er_entropy", INT64_MIN, INT64_MAX, &ser, err, sizeof err),
              0);
    ASSERT_EQ(ser.n, 1);
    ASSERT_NAN(ser.value[0]);
    series_free(&ser);
    query_close(&q);
    store_close(&s);
    free(r);
}

/* A failure in the middle of a group leaves nothing of the group, and the
 * id caches do not remember rows that were rolled back. */
TEST(rollback_leaves_nothing)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *base = mk2("old", "t", 1, 1.0);
    ASSERT_EQ(store_write(s, &base, 1, err, sizeof err), 2);

    /* 1. a CHECK constraint (n >= 1) fails on the third result */
    result_t *g[3] = {mk2("new", "t", 10, 1.0), mk2("old", "t2", 11, 2.0),
                      mk2("new", "t", 12, 3.0)};
    g[2]->n = 0;
    err[0] = '\0';
    ASSERT_EQ(store_write(s, g, 3, err, sizeof err), -1);
    ASSERT_HAS(err, "CHECK constraint failed");
    ASSERT_HAS(err, "'new'");
    ASSERT_HAS(err, "step 12");

    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM runs"), 1);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series"), 2);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM points"), 2);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM batches"), 1);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM runs"), 1);

    /* the same runs again, fixed: stored under fresh, correct ids */
    g[2]->n = 64;
    ASSERT_EQ(store_write(s, g, 3, err, sizeof err), 6);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM runs"), 2);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM points"), 8);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = "
                          "'new' AND tag = 't'"),
              4);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM points WHERE series_id NOT IN "
                          "(SELECT id FROM series)"),
              0);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series WHERE run_id NOT IN "
                          "(SELECT id FROM runs)"),
              0);

    /* 2. an injected failure on a point, after a new series was made in the
     * same group (a trigger, added by another connection) */
    ASSERT_EQ(raw_exec(db, "CREATE TRIGGER inject BEFORE INSERT ON points "
                           "WHEN NEW.step = 999 BEGIN SELECT RAISE(ABORT, "
                           "'injected failure'); END"),
              SQLITE_OK);
    static const char *const m[] = {"fresh_metric"};
    double one = 1.0;
    result_t *h[2] = {mk("new", "t", 998, 1, m, &one), mk2("new", "t", 999, 5)};
    ASSERT_EQ(store_write(s, h, 2, err, sizeof err), -1);
    ASSERT_HAS(err, "injected failure");
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series WHERE metric = "
                          "'fresh_metric'"),
              0);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM points WHERE step >= 998"), 0);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM runs WHERE name = 'new'"), 12);
    ASSERT_EQ(raw_exec(db, "DROP TRIGGER inject"), SQLITE_OK);
    ASSERT_EQ(store_write(s, h, 2, err, sizeof err), 3);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE metric = "
                          "'fresh_metric' AND step = 998"),
              1);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM runs WHERE name = 'new'"), 999);

    /* 3. an invalid result (too many points) is refused the same way */
    result_t *bad = mk2("new", "t", 2000, 1.0);
    bad->npoints = EW_RESULT_POINTS_MAX + 1;
    result_t *k[2] = {mk2("new", "t", 1999, 1.0), bad};
    ASSERT_EQ(store_write(s, k, 2, err, sizeof err), -1);
    ASSERT_HAS(err, "invalid result");
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM points WHERE step = 1999"), 0);

    sqlite3_close(db);
    store_close(&s);
    free(base);
    free_all(g, 3);
    free_all(h, 2);
    free_all(k, 2);
}

TEST(reopen_keeps_data)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *a = mk2("r", "t", 1, 1.0);
    ASSERT_EQ(store_write(s, &a, 1, err, sizeof err), 2);
    store_close(&s);

    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *b = mk2("r", "t", 2, 2.0);
    ASSERT_EQ(store_write(s, &b, 1, err, sizeof err), 2);
    store_close(&s);

    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    series_t ser;
    ASSERT_EQ(query_series(q, "r", "t", "er_entropy", INT64_MIN, INT64_MAX, &ser, err, sizeof err),
              0);
    ASSERT_EQ(ser.n, 2);
    ASSERT_EQ(ser.value[0], 1.0);
    ASSERT_EQ(ser.value[1], 2.0);
    series_free(&ser);
    query_close(&q);

    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM runs"), 1);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series"), 2);
    ASSERT_EQ(raw_double(db, "SELECT first_seen FROM runs"), 1700000001.0);
    sqlite3_close(db);
    free(a);
    free(b);
}

TEST(refuses_newer_schema)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    store_close(&s);
    sqlite3 *db = raw_open(path);
    char sql[64], want[32];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", EW_SCHEMA_VERSION + 1);
    snprintf(want, sizeof want, "version %d", EW_SCHEMA_VERSION + 1);
    ASSERT_EQ(raw_exec(db, sql), SQLITE_OK);
    sqlite3_close(db);

    ASSERT_EQ(store_open(&s, path, err, sizeof err), -1);
    ASSERT_NULL(s);
    ASSERT_HAS(err, "newer");
    ASSERT_HAS(err, path);
    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), -1);
    ASSERT_NULL(q);
    ASSERT_HAS(err, want);
}

TEST(refuses_other_sqlite_db_untouched)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_exec(db, "CREATE TABLE notes (x TEXT); INSERT INTO notes "
                           "VALUES ('mine')"),
              SQLITE_OK);
    sqlite3_close(db);

    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), -1);
    ASSERT_HAS(err, "not an erwatch database");
    ASSERT_HAS(err, path);

    db = raw_open(path);
    ASSERT_STREQ(raw_text(db, "PRAGMA journal_mode"), "delete");
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM sqlite_schema"), 1);
    ASSERT_STREQ(raw_text(db, "SELECT x FROM notes"), "mine");
    sqlite3_close(db);

    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), -1);
    ASSERT_HAS(err, "not an erwatch database");
}

TEST(refuses_non_database_file)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    for (int i = 0; i < 100; i++)
        fputs("this is a text file, not a database\n", f);
    fclose(f);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), -1);
    ASSERT_HAS(err, path);
    ASSERT_HAS(err, "not a database");
    struct stat sb;
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(sb.st_size, 100 * 36); /* untouched */
}

TEST(empty_file_becomes_database)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    store_close(&s);
}

TEST(cannot_open_names_path)
{
    char err[256] = "";
    store_t *s;
    const char *path = "/nonexistent-ew-dir/sub/erwatch.db";
    ASSERT_EQ(store_open(&s, path, err, sizeof err), -1);
    ASSERT_NULL(s);
    ASSERT_HAS(err, path);
    ASSERT_HAS(err, "cannot open");
    ASSERT_HAS(err, "No such file or directory");

    query_t *q; /* no file: "not there yet", not an error (http.c: 503 not ready) */
    ASSERT_EQ(query_open(&q, path, err, sizeof err), -ENOENT);
    ASSERT_HAS(err, path);

    /* a directory where the file should be */
    char dpath[128];
    tmp_db(dpath, sizeof dpath);
    ASSERT_EQ(mkdir(dpath, 0700), 0);
    ASSERT_EQ(store_open(&s, dpath, err, sizeof err), -1);
    ASSERT_HAS(err, dpath);

    /* permission: meaningless as root, who may write anywhere */
    if (geteuid() != 0) {
        char ppath[128];
        tmp_db(ppath, sizeof ppath);
        ASSERT_EQ(store_open(&s, ppath, err, sizeof err), 0);
        store_close(&s);
        ASSERT_EQ(chmod(ppath, 0400), 0);
        ASSERT_EQ(store_open(&s, ppath, err, sizeof err), -1);
        ASSERT_HAS(err, ppath);
        ASSERT_HAS(err, "permission denied");
        chmod(ppath, 0600);
    }
}

/* WAL: readers see the last commit while a write transaction is open, and a
 * reader's open snapshot does not stop the writer. */
TEST(read_while_writing)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *a = mk2("committed", "t", 1, 1.0);
    ASSERT_EQ(store_write(s, &a, 1, err, sizeof err), 2);

    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);

    /* Another writer holds an open write transaction. */
    sqlite3 *w = raw_open(path);
    ASSERT_EQ(raw_exec(w, "BEGIN IMMEDIATE; INSERT INTO runs (name, "
                          "last_seen) VALUES ('uncommitted', 2e9)"),
              SQLITE_OK);
    double t0 = now_s();
    strbuf_t b;
    strbuf_init(&b);
    ASSERT_EQ(query_runs(q, &b, 0, err, sizeof err), 0);
    ASSERT_LT(now_s() - t0, 1.0); /* did not wait for the lock */
    ASSERT_HAS(b.data, "\"committed\"");
    ASSERT_HASNT(b.data, "uncommitted");
    series_t ser;
    ASSERT_EQ(
        query_series(q, "committed", "t", "loss", INT64_MIN, INT64_MAX, &ser, err, sizeof err), 0);
    ASSERT_EQ(ser.n, 1);
    series_free(&ser);
    ASSERT_EQ(raw_exec(w, "ROLLBACK"), SQLITE_OK);

    /* A reader holds a snapshot open; the store still commits. */
    sqlite3 *r = raw_open(path);
    sqlite3_stmt *st;
    ASSERT_EQ(sqlite3_prepare_v2(r, "SELECT count(*) FROM points", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ(raw_exec(r, "BEGIN"), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int(st, 0), 2);
    sqlite3_reset(st);
    result_t *c = mk2("committed", "t", 2, 2.0);
    t0 = now_s();
    ASSERT_EQ(store_write(s, &c, 1, err, sizeof err), 2);
    ASSERT_LT(now_s() - t0, 1.0);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW); /* same snapshot */
    ASSERT_EQ(sqlite3_column_int(st, 0), 2);
    sqlite3_reset(st);
    ASSERT_EQ(raw_exec(r, "COMMIT"), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW); /* a new snapshot */
    ASSERT_EQ(sqlite3_column_int(st, 0), 4);
    sqlite3_finalize(st);

    /* The long-lived query_t sees the new commit too. */
    ASSERT_EQ(
        query_series(q, "committed", "t", "loss", INT64_MIN, INT64_MAX, &ser, err, sizeof err), 0);
    ASSERT_EQ(ser.n, 2);
    series_free(&ser);

    strbuf_free(&b);
    sqlite3_close(r);
    sqlite3_close(w);
    query_close(&q);
    store_close(&s);
    free(a);
    free(c);
}

/* A writer thread commits groups while this thread reads through its own
 * query_t: no reader error, and what it sees only grows. */
typedef struct {
    store_t *s;
    int groups;
    atomic_int done;
    long written;
} writer_arg_t;

static void *writer_main(void *p)
{
    writer_arg_t *a = p;
    char err[256];
    result_t *g[16];
    for (int it = 0; it < a->groups; it++) {
        for (int i = 0; i < 16; i++)
            g[i] = mk2("live", i % 2 ? "a" : "b", (uint64_t)(it * 8 + i / 2), it);
        long n = store_write(a->s, g, 16, err, sizeof err);
        free_all(g, 16);
        if (n < 0) {
            fprintf(stderr, "  writer: %s\n", err);
            break;
        }
        a->written += n;
    }
    atomic_store(&a->done, 1);
    return NULL;
}

TEST(concurrent_reader_and_writer)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    writer_arg_t a = {.groups = 150};
    atomic_init(&a.done, 0);
    ASSERT_EQ(store_open(&a.s, path, err, sizeof err), 0);
    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, writer_main, &a), 0);
    size_t seen = 0;
    int reads = 0, errors = 0, shrank = 0;
    strbuf_t b;
    strbuf_init(&b);
    while (!atomic_load(&a.done) || reads < 5) {
        series_t ser;
        int rc = query_series(q, "live", "a", "loss", INT64_MIN, INT64_MAX, &ser, err, sizeof err);
        if (rc == 0) {
            if (ser.n < seen)
                shrank = 1;
            seen = ser.n;
            series_free(&ser);
        } else if (rc != -ENOENT) {
            errors++;
        }
        strbuf_reset(&b);
        if (query_runs(q, &b, reads % 2, err, sizeof err) != 0)
            errors++;
        reads++;
    }
    pthread_join(th, NULL);
    strbuf_free(&b);
    ASSERT_EQ(errors, 0);
    ASSERT_EQ(shrank, 0);
    ASSERT_EQ(a.written, 150 * 16 * 2);
    series_t ser;
    ASSERT_EQ(query_series(q, "live", "a", "loss", INT64_MIN, INT64_MAX, &ser, err, sizeof err), 0);
    ASSERT_EQ(ser.n, 150 * 8);
    for (size_t i = 1; i < ser.n; i++)
        ASSERT_GT(ser.step[i], ser.step[i - 1]);
    series_free(&ser);
    query_close(&q);
    store_close(&a.s);
}

TEST(query_runs_json)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);

    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    strbuf_t b;
    strbuf_init(&b);
    ASSERT_EQ(query_runs(q, &b, 0, err, sizeof err), 0);
    ASSERT_STREQ(b.data, "{\"runs\":[]}");
    strbuf_reset(&b);

    static const char *const m1[] = {"loss", "er_entropy"};
    static const char *const m2[] = {"lr"};
    double v2[] = {0.5, 0.25};
    result_t *g[4] = {
        mk("we\"ird\\run", "projector", 12, 2, m1, v2),
        mk("we\"ird\\run", "backbone", 7, 1, m2, v2), mk("plain", "projector", 3, 2, m1, v2),
        mk("empty", "t", 1, 0, NULL, NULL), /* a run without series */
    };
    g[0]->recv_time = 1700000100.5; /* seen last: listed first */
    g[1]->recv_time = 1700000050.0;
    g[0]->dropped = 1;
    g[1]->dropped = 3; /* the latest report */
    g[2]->world = 8;
    g[3]->recv_time = 1600000000.0;
    ASSERT_EQ(store_write(s, g, 4, err, sizeof err), 5);

    ASSERT_EQ(query_runs(q, &b, 0, err, sizeof err), 0);
    const char *j = b.data;
    if (!json_valid(j))
        T_FAIL_("invalid JSON: %s", j);
    ASSERT_PREFIX(j, "{\"runs\":[{\"run\":\"we\\\"ird\\\\run\","
                     "\"first_seen\":1700000050,\"last_seen\":1700000100.5,"
                     "\"last_step\":12,\"dropped\":3,\"world\":null,"
                     "\"base\":\"we\\\"ird\\\\run\",\"launch\":null,"
                     "\"tags\":[");
    ASSERT_HAS(j, "{\"tag\":\"backbone\",\"last_step\":7,\"metrics\":"
                  "[\"lr\"]},{\"tag\":\"projector\",\"last_step\":12,"
                  "\"metrics\":[\"er_entropy\",\"loss\"]}],\"id\":");
    ASSERT_HAS(j, "{\"run\":\"plain\",");
    ASSERT_HAS(j, "\"world\":8,\"base\":\"plain\",\"launch\":null,"
                  "\"tags\":[{\"tag\":\"projector\"");
    ASSERT_HAS(j, "{\"run\":\"empty\",\"first_seen\":1600000000,"
                  "\"last_seen\":1600000000,\"last_step\":1,\"dropped\":0,"
                  "\"world\":null,\"base\":\"empty\",\"launch\":null,\"tags\":[],\"id\":");
    ASSERT_LT(strstr(j, "\"plain\""), strstr(j, "\"empty\""));

    /* appends to what the buffer holds */
    strbuf_reset(&b);
    strbuf_puts(&b, "X");
    ASSERT_EQ(query_runs(q, &b, 1, err, sizeof err), 0);
    ASSERT_STREQ(b.data, "Xrun,tag,metric,last_step,last_seen,dropped\n"
                         "\"we\"\"ird\\run\",backbone,lr,7,1700000100.5,3\n"
                         "\"we\"\"ird\\run\",projector,er_entropy,12,1700000100.5,3\n"
                         "\"we\"\"ird\\run\",projector,loss,12,1700000100.5,3\n"
                         "plain,projector,er_entropy,3,1700000003,0\n"
                         "plain,projector,loss,3,1700000003,0\n");

    ASSERT_EQ(query_client_dropped(q), 3);
    strbuf_free(&b);
    query_close(&q);
    store_close(&s);
    free_all(g, 4);
}

TEST(run_fields_aggregate)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *g[3] = {mk2("r", "t", 50, 1.0), mk2("r", "t", 20, 1.0), mk2("r", "u", 30, 1.0)};
    g[0]->dropped = 1;
    g[0]->world = 2;
    g[1]->dropped = 5; /* latest report wins, even when it is smaller */
    g[2]->dropped = 4;
    ASSERT_EQ(store_write(s, g, 3, err, sizeof err), 6);
    result_t *h = mk2("r", "t", 10, 1.0); /* an older step, later */
    h->recv_time = 1800000000.0;
    ASSERT_EQ(store_write(s, &h, 1, err, sizeof err), 2);

    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM runs"), 50);
    ASSERT_EQ(raw_int(db, "SELECT dropped FROM runs"), 0);
    ASSERT_EQ(raw_int(db, "SELECT world FROM runs"), 2); /* kept when absent */
    ASSERT_EQ(raw_double(db, "SELECT last_seen FROM runs"), 1800000000.0);
    ASSERT_EQ(raw_double(db, "SELECT first_seen FROM runs"), 1700000020.0);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM series WHERE tag = 't' AND "
                          "metric = 'loss'"),
              50);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM series WHERE tag = 'u' AND "
                          "metric = 'loss'"),
              30);
    sqlite3_close(db);

    /* the sum over runs of their latest drop count */
    result_t *o = mk2("other", "t", 1, 1.0);
    o->dropped = 6;
    ASSERT_EQ(store_write(s, &o, 1, err, sizeof err), 2);
    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    ASSERT_EQ(query_client_dropped(q), 6);
    query_close(&q);
    store_close(&s);
    free_all(g, 3);
    free(h);
    free(o);
}

/* Enough series to make the id cache grow and rehash several times. */
TEST(many_series_cache)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    enum { R = 40, M = 8 };
    static const char *const m[M] = {"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"};
    double v[M] = {0, 1, 2, 3, 4, 5, 6, 7};
    result_t *g[R];
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < R; i++) {
            char run[32];
            snprintf(run, sizeof run, "run%d", i % 10);
            char tag[32];
            snprintf(tag, sizeof tag, "tag%d", i / 10);
            g[i] = mk(run, tag, (uint64_t)step, M, m, v);
        }
        ASSERT_EQ(store_write(s, g, R, err, sizeof err), R * M);
        free_all(g, R);
    }
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM runs"), 10);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series"), R * M);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM points"), 3 * R * M);
    ASSERT_EQ(raw_int(db, "SELECT count(DISTINCT series_id) FROM points"), R * M);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = "
                          "'run3' AND tag = 'tag2' AND metric = 'm5' AND "
                          "value = 5"),
              3);
    sqlite3_close(db);
    store_close(&s);
}

/* ---------------------------------------------------------------- launches */

/* mk2 with a launch (and resume). */
static result_t *mkl(const char *run, uint64_t step, double v, const char *launch, int resume)
{
    result_t *r = mk2(run, "t", step, v);
    snprintf(r->launch, sizeof r->launch, "%s", launch);
    r->resume = resume;
    return r;
}

/* Writes one result and frees it; returns the stored run name (static). */
static char g_stored[EW_NAME_MAX + 1];
static const char *put1(store_t *s, result_t *r)
{
    char err[256] = "";
    long n = store_write(s, &r, 1, err, sizeof err);
    if (n < 0)
        fprintf(stderr, "  store_write: %s\n", err);
    snprintf(g_stored, sizeof g_stored, "%s", r->resume_missing ? "(refused)" : r->stored_run);
    result_destroy(&r);
    return g_stored;
}

TEST(two_launches_one_name_kept_apart)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    for (int i = 0; i < 5; i++)
        ASSERT_STREQ(put1(s, mkl("exp", (uint64_t)i, 1.0 + i, "L1", 0)), "exp");
    /* the second launch starts again at step 0: its own run */
    for (int i = 0; i < 3; i++)
        ASSERT_STREQ(put1(s, mkl("exp", (uint64_t)i, 100.0 + i, "L2", 0)), "exp.2");
    ASSERT_STREQ(put1(s, mkl("exp", 5, 6.0, "L1", 0)), "exp"); /* L1 goes on */
    /* batches without a launch: the run of that name, as always */
    ASSERT_STREQ(put1(s, mk2("exp", "t", 9, 9.0)), "exp");
    store_close(&s);

    /* a restart remembers which launch went where; a third launch is .3 */
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_STREQ(put1(s, mkl("exp", 3, 103.0, "L2", 0)), "exp.2");
    ASSERT_STREQ(put1(s, mkl("exp", 0, 7.0, "L3", 0)), "exp.3");
    /* the same launch under another name: its own run too */
    ASSERT_STREQ(put1(s, mkl("other", 0, 1.0, "L3", 0)), "other");
    store_close(&s);

    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = 'exp' AND metric = "
                          "'er_entropy'"),
              7);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = 'exp' AND metric = "
                          "'er_entropy' AND value >= 100"),
              0);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = 'exp.2' AND metric = "
                          "'er_entropy' AND value >= 100"),
              4);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = 'exp.2'"), 8);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM runs WHERE base = 'exp'"), 3);
    ASSERT_STREQ(raw_text(db, "SELECT launch FROM runs WHERE name = 'exp.2'"), "L2");
    ASSERT_STREQ(raw_text(db, "SELECT group_concat(launch || '>' || name || '>' || run_id, ' ')"
                              " FROM (SELECT * FROM launches ORDER BY rowid)"),
                 "L1>exp>1 L2>exp>2 L3>exp>3 L3>other>4");
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM runs WHERE name = 'exp.2'"), 3);
    sqlite3_close(db);
}

TEST(suffix_fits_the_name_limit)
{
    char path[128], err[256] = "", name[EW_NAME_MAX + 1];
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    /* 126 bytes of 'a' then a two-byte character: 128 bytes */
    memset(name, 'a', 126);
    memcpy(name + 126, "\xc3\xa9", 3);
    ASSERT_STREQ(put1(s, mkl(name, 0, 1.0, "A", 0)), name);
    const char *second = put1(s, mkl(name, 0, 1.0, "B", 0));
    ASSERT_EQ(strlen(second), 128);
    ASSERT_EQ(memcmp(second, name, 126), 0);
    ASSERT_STREQ(second + 126, ".2"); /* the character is cut whole */
    store_close(&s);
}

TEST(resume_rewinds_earlier_launches)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    /* launch A: steps 0..9, value = step; one spectrum per step */
    result_t *g[10];
    for (int i = 0; i < 10; i++) {
        g[i] = mkl("exp", (uint64_t)i, (double)i, "A", 0);
        g[i]->nspectrum = 2;
        g[i]->spectrum[0] = 0.75f;
        g[i]->spectrum[1] = 0.25f;
    }
    ASSERT_EQ(store_write(s, g, 10, err, sizeof err), 20);
    for (int i = 0; i < 10; i++)
        result_destroy(&g[i]);

    /* launch B resumes from a checkpoint at step 5 (value -1), in the same
     * group as a late batch of A at step 9: one consistent history */
    result_t *h[3] = {mkl("exp", 9, 9.0, "A", 0), mkl("exp", 5, -1.0, "B", 1),
                      mkl("exp", 6, 0.5, "B", 1)};
    ASSERT_EQ(store_write(s, h, 3, err, sizeof err), 6);
    ASSERT_STREQ(h[1]->stored_run, "exp");
    ASSERT_EQ(h[0]->rewind_from, -1);
    ASSERT_EQ(h[1]->rewind_from, 5);
    ASSERT_EQ(h[2]->rewind_from, -1); /* once per launch */
    for (int i = 0; i < 3; i++)
        result_destroy(&h[i]);

    sqlite3 *db = raw_open(path);
    ASSERT_STREQ(raw_text(db, "SELECT group_concat(step || '=' || value, ' ') FROM (SELECT * FROM"
                              " series_points WHERE run = 'exp' AND metric = 'er_entropy'"
                              " ORDER BY step)"),
                 "0=0.0 1=1.0 2=2.0 3=3.0 4=4.0 5=-1.0 6=0.5");
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM batches"), 7);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM spectra"), 5);
    ASSERT_EQ(raw_int(db, "SELECT max(step) FROM spectra"), 4);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM runs"), 6);
    ASSERT_EQ(raw_int(db, "SELECT last_step FROM series WHERE metric = 'er_entropy'"), 6);
    ASSERT_EQ(raw_double(db, "SELECT vmax FROM series WHERE metric = 'er_entropy'"), 4.0);
    ASSERT_EQ(raw_double(db, "SELECT vmin FROM series WHERE metric = 'er_entropy'"), -1.0);
    ASSERT_STREQ(raw_text(db, "SELECT launch FROM runs"), "B");
    ASSERT_EQ(raw_int(db, "SELECT resumed FROM launches WHERE launch = 'B'"), 1);
    ASSERT_EQ(raw_int(db, "SELECT first_step FROM launches WHERE launch = 'B'"), 5);
    sqlite3_close(db);

    /* a resume continues the latest launch of the name: exp.2 now */
    ASSERT_STREQ(put1(s, mkl("exp", 0, 1.0, "C", 0)), "exp.2");
    ASSERT_STREQ(put1(s, mkl("exp", 3, 1.0, "C", 0)), "exp.2");
    ASSERT_STREQ(put1(s, mkl("exp", 1, 2.0, "D", 1)), "exp.2");
    /* ... or the run given by its stored name */
    ASSERT_STREQ(put1(s, mkl("exp.2", 2, 2.0, "E", 1)), "exp.2");
    store_close(&s);
    db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = 'exp.2' AND metric = "
                          "'er_entropy'"),
              3); /* steps 0 (C), 1 (D), 2 (E) */
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = 'exp' AND metric = "
                          "'er_entropy'"),
              7); /* untouched */
    sqlite3_close(db);
}

TEST(resume_of_unknown_run_changes_nothing)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_STREQ(put1(s, mkl("exp", 0, 1.0, "A", 0)), "exp");
    result_t *g[3] = {mkl("nope", 4, 1.0, "B", 1), mkl("nope", 5, 1.0, "B", 1),
                      mkl("exp", 1, 2.0, "A", 0)};
    ASSERT_EQ(store_write(s, g, 3, err, sizeof err), 2); /* A's point only */
    ASSERT_EQ(g[0]->resume_missing, 1);
    ASSERT_EQ(g[1]->resume_missing, 2);
    ASSERT_EQ(g[2]->resume_missing, 0);
    for (int i = 0; i < 3; i++)
        result_destroy(&g[i]);
    store_close(&s);
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM runs"), 1);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM launches"), 1);
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM batches"), 2);
    sqlite3_close(db);
}

TEST(config_and_notes_queryable)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    result_t *r = mkl("exp", 0, 1.0, "A", 0);
    r->config = strdup("{\"lr\": 0.05, \"opt\": {\"name\": \"sgd\"}}");
    r->notes = strdup("warm-up 10 epochs");
    ASSERT_STREQ(put1(s, r), "exp");
    ASSERT_STREQ(put1(s, mkl("exp", 1, 1.0, "A", 0)), "exp"); /* keeps them */
    r = mkl("exp", 0, 1.0, "B", 0);
    r->config = strdup("{\"lr\": 0.1}");
    ASSERT_STREQ(put1(s, r), "exp.2");
    store_close(&s);
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_double(db, "SELECT json_extract(config, '$.lr') FROM runs WHERE name = 'exp'"),
              0.05);
    ASSERT_STREQ(raw_text(db, "SELECT json_extract(config, '$.opt.name') FROM runs"), "sgd");
    ASSERT_STREQ(raw_text(db, "SELECT notes FROM runs WHERE name = 'exp'"), "warm-up 10 epochs");
    ASSERT_EQ(raw_int(db, "SELECT notes FROM runs WHERE name = 'exp.2'"), -999);
    ASSERT_STREQ(raw_text(db, "SELECT group_concat(name, ',') FROM (SELECT name FROM runs"
                              " WHERE json_extract(config, '$.lr') > 0.07)"),
                 "exp.2");
    sqlite3_close(db);
}

TEST(version_1_file_is_migrated)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_STREQ(put1(s, mk2("old", "t", 3, 1.0)), "old");
    store_close(&s);
    /* back to what a version-1 build wrote */
    sqlite3 *db = raw_open(path);
    ASSERT_EQ(raw_exec(db, "PRAGMA legacy_alter_table = ON; DROP INDEX runs_by_base;"
                           "DROP TABLE launches;"
                           "CREATE TABLE r1 (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                           " first_seen REAL, last_seen REAL, last_step INTEGER,"
                           " dropped INTEGER NOT NULL DEFAULT 0, world INTEGER);"
                           "INSERT INTO r1 SELECT id, name, first_seen, last_seen, last_step,"
                           " dropped, world FROM runs;"
                           "DROP TABLE runs; ALTER TABLE r1 RENAME TO runs;"
                           "PRAGMA user_version = 1;"),
              SQLITE_OK);
    sqlite3_close(db);
    query_t *q;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), -1);
    ASSERT_HAS(err, "erwatchd updates the file");
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_STREQ(put1(s, mkl("old", 0, 1.0, "A", 0)), "old.2");
    store_close(&s);
    db = raw_open(path);
    ASSERT_EQ(raw_int(db, "PRAGMA user_version"), EW_SCHEMA_VERSION);
    ASSERT_STREQ(raw_text(db, "SELECT base FROM runs WHERE name = 'old'"), "old");
    ASSERT_EQ(raw_int(db, "SELECT count(*) FROM series_points WHERE run = 'old'"), 2);
    sqlite3_close(db);
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    query_close(&q);
}

TEST(empty_group_is_noop)
{
    char path[128], err[256] = "";
    tmp_db(path, sizeof path);
    store_t *s;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(store_write(s, NULL, 0, err, sizeof err), 0);
    store_close(&s);
}

int main(void)
{
    int rc = test_main((test_case_t[]){
        T(json_checker_sanity),
        T(new_db_has_schema_and_wal),
        T(round_trip),
        T(duplicate_step_replaces),
        T(spectrum_round_trip),
        T(series_value_range_kept_and_backfilled),
        T(nan_stored_as_null),
        T(rollback_leaves_nothing),
        T(reopen_keeps_data),
        T(refuses_newer_schema),
        T(refuses_other_sqlite_db_untouched),
        T(refuses_non_database_file),
        T(empty_file_becomes_database),
        T(cannot_open_names_path),
        T(read_while_writing),
        T(concurrent_reader_and_writer),
        T(query_runs_json),
        T(run_fields_aggregate),
        T(many_series_cache),
        T(empty_group_is_noop),
        T(two_launches_one_name_kept_apart),
        T(suffix_fits_the_name_limit),
        T(resume_rewinds_earlier_launches),
        T(resume_of_unknown_run_changes_nothing),
        T(config_and_notes_queryable),
        T(version_1_file_is_migrated),
        {0},
    });
    tmp_cleanup();
    return rc;
}
