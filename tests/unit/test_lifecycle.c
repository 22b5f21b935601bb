/* test_lifecycle.c: deleting and renaming runs (store_runs.c, lifecycle.c),
 * what follows in memory (the alert engine, the series cache), retention,
 * the CSRF check of the API's writes (http_runs.c), the retention flags,
 * and the run list's pages, filters and `since` (query_runs_filtered,
 * params_runs) that the dashboard's live updates rest on.
 *
 * Real database files under /tmp, removed at the end; the writer thread is
 * the real one (writer.c) with lifecycle_tick as its tick.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <sqlite3.h>

#include "alerts.h"
#include "config.h"
#include "http_runs.h"
#include "lifecycle.h"
#include "params.h"
#include "query.h"
#include "queue.h"
#include "rules.h"
#include "stats.h"
#include "store.h"
#include "store_runs.h"
#include "store_sqlite.h" /* store__db: this test looks inside the file */
#include "test.h"
#include "writer.h"

static char s_dir[64];

static void s_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", s_dir, name);
}

/* A result of run/tag at step with metrics m0..m(np-1) = step + i, received
 * at recv. */
static result_t *s_result(const char *run, const char *tag, uint64_t step, int np, double recv)
{
    result_t *r = calloc(1, sizeof *r);
    snprintf(r->run, sizeof r->run, "%s", run);
    snprintf(r->tag, sizeof r->tag, "%s", tag);
    r->step = step;
    r->recv_time = r->wall_time = recv;
    r->client_time = NAN;
    r->n = 64;
    r->d = 16;
    r->views = 1;
    r->kappa = 10;
    r->rank = r->world = -1;
    r->npoints = np;
    for (int i = 0; i < np; i++) {
        snprintf(r->points[i].metric, sizeof r->points[i].metric, "m%d", i);
        r->points[i].value = (double)step + i;
    }
    r->nspectrum = 4;
    for (int i = 0; i < 4; i++)
        r->spectrum[i] = 0.25f;
    return r;
}

/* Stores steps [from, to) of run (np metrics each) in groups of 100. */
static int s_fill(store_t *s, const char *run, uint64_t from, uint64_t to, int np, double recv)
{
    char err[256];
    result_t *g[100];
    for (uint64_t st = from; st < to;) {
        size_t n = 0;
        while (n < 100 && st < to)
            g[n++] = s_result(run, "t", st++, np, recv);
        long rc = store_write(s, g, n, err, sizeof err);
        for (size_t i = 0; i < n; i++)
            free(g[i]);
        if (rc < 0) {
            fprintf(stderr, "  store_write: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static int64_t s_int(store_t *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = INT64_MIN;
    if (sqlite3_prepare_v2(store__db(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "  %s: %s\n", sql, sqlite3_errmsg(store__db(s)));
    sqlite3_finalize(st);
    return v;
}

/* One integer read through a connection of its own (-1 when it fails). */
static int64_t s_file_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void s_exec(store_t *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(store__db(s), sql, NULL, NULL, &msg) != SQLITE_OK)
        fprintf(stderr, "  %s: %s\n", sql, msg);
    sqlite3_free(msg);
}

/* ---------------------------------------------------------------- store */

TEST(delete_hides_at_once_then_purges_in_small_steps)
{
    char path[128], err[256];
    s_path(path, sizeof path, "del.db");
    store_t *s = NULL;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(s_int(s, "PRAGMA auto_vacuum"), 2); /* a new file: incremental */
    ASSERT_EQ(s_fill(s, "gone", 0, 3000, 3, 1e9), 0);
    ASSERT_EQ(s_fill(s, "kept", 0, 100, 3, 1e9 + 1), 0);
    s_exec(s, "INSERT INTO alerts (rule, run, tag, metric, severity, state, first_step,"
              " first_time, last_step, last_time, summary, description) VALUES"
              " ('R', 'gone', 't', 'm0', 'page', 'firing', 1, 1, 2, 2, '', ''),"
              " ('R', 'kept', 't', 'm0', 'page', 'firing', 1, 1, 2, 2, '', '')");

    store_deleted_t del;
    int64_t summaries = s_int(s, "SELECT count(*) FROM summaries WHERE series_id IN (SELECT s.id"
                                 " FROM series AS s JOIN runs AS r ON r.id = s.run_id"
                                 " WHERE r.name = 'gone')");
    ASSERT_GT(summaries, 0);
    ASSERT_EQ(store_run_delete(s, "nope", 5.0, &del, err, sizeof err), -ENOENT);
    ASSERT_EQ(store_run_delete(s, "gone", 5.0, &del, err, sizeof err), 0);
    ASSERT_EQ(del.nsids, 3);
    ASSERT_EQ(del.alerts, 1);
    free(del.sids);
    /* Invisible at once through every documented view ... */
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM runs WHERE name = 'gone'"), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'gone'"), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM batch_info WHERE run = 'gone'"), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM alerts WHERE run = 'gone'"), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM alerts WHERE run = 'kept'"), 1);
    /* ... while its rows wait for the purge, and its id is reserved. */
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM points"), 3 * 3100);
    int64_t gone_id = s_int(s, "SELECT id FROM runs_deleted");
    store_forget_ids(s);
    ASSERT_EQ(s_fill(s, "new", 0, 1, 1, 1e9 + 2), 0);
    ASSERT_GT(s_int(s, "SELECT id FROM runs WHERE name = 'new'"), gone_id);

    long n, steps = 0, total = 0;
    while ((n = store_purge_step(s, 1000, err, sizeof err)) > 0) {
        ASSERT_LE(n, 1000);
        steps++;
        total += n;
    }
    ASSERT_EQ(n, 0);
    /* 9000 points and their summaries, 3 series rows, 3000 batches, 3000
     * spectra, the tombstone */
    ASSERT_EQ(total, 9000 + summaries + 3 + 3000 + 3000 + 1);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM summaries WHERE series_id NOT IN"
                       " (SELECT id FROM series)"),
              0);
    ASSERT_GE(steps, 15);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM runs_deleted"), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM points"), 3 * 100 + 1);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'kept'"), 300);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM batches"), 101);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM spectra"), 101);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series"), 4);
    store_close(&s);
}

TEST(purge_resumes_after_reopen)
{
    char path[128], err[256];
    s_path(path, sizeof path, "resume.db");
    store_t *s = NULL;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(s_fill(s, "r", 0, 500, 2, 1e9), 0);
    store_deleted_t del;
    ASSERT_EQ(store_run_delete(s, "r", 5.0, &del, err, sizeof err), 0);
    free(del.sids);
    ASSERT_GT(store_purge_step(s, 100, err, sizeof err), 0);
    store_close(&s);
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM runs_deleted"), 1);
    while (store_purge_step(s, 100, err, sizeof err) > 0)
        ;
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM points") + s_int(s, "SELECT count(*) FROM batches") +
                  s_int(s, "SELECT count(*) FROM series") +
                  s_int(s, "SELECT count(*) FROM runs_deleted"),
              0);
    store_close(&s);
}

TEST(rename_moves_run_and_alerts_or_changes_nothing)
{
    char path[128], err[256];
    s_path(path, sizeof path, "mv.db");
    store_t *s = NULL;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(s_fill(s, "a", 0, 10, 2, 1e9), 0);
    ASSERT_EQ(s_fill(s, "b", 0, 5, 2, 1e9), 0);
    s_exec(s, "INSERT INTO alerts (rule, run, tag, metric, severity, state, first_step,"
              " first_time, last_step, last_time, summary, description) VALUES"
              " ('R', 'a', 't', 'm0', 'page', 'resolved', 1, 1, 2, 2, '', '')");
    ASSERT_EQ(store_run_rename(s, "a", "b", err, sizeof err), -EEXIST);
    ASSERT_EQ(store_run_rename(s, "zz", "c", err, sizeof err), -ENOENT);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'a'"), 20);
    ASSERT_EQ(store_run_rename(s, "a", "c \"quoted\"", err, sizeof err), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'a'"), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'c \"quoted\"'"), 20);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM alerts WHERE run = 'c \"quoted\"'"), 1);
    /* Later batches under the old name start a new run. */
    store_forget_ids(s);
    ASSERT_EQ(s_fill(s, "a", 100, 101, 2, 1e9), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'a'"), 2);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'c \"quoted\"'"), 20);
    store_close(&s);
}

/* ---------------------------------------------------------------- alerts */

TEST(alert_engine_follows_delete_and_rename)
{
    char err[256];
    rules_t *rs = NULL;
    ASSERT_EQ(rules_parse("alert Low scalar=m0 when value < 1 for 1 batches severity=page\n"
                          "alert Lower scalar=m0 when value < 0.5 for 5 batches\n",
                          "test", &rs, err, sizeof err),
              0);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    result_t *r = s_result("x", "t", 1, 1, 10);
    r->points[0].value = 0.1;
    alerts_observe(a, r, 10, &ch); /* Low fires, Lower is pending */
    snprintf(r->run, sizeof r->run, "y");
    alerts_observe(a, r, 10, &ch);
    uint64_t pending, firing;
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(firing, 2);
    ASSERT_EQ(pending, 2);

    alert_changes_clear(&ch);
    alerts_run_changed(a, "x", "x2", 20, &ch);
    ASSERT_EQ(ch.n, 2); /* Low under x resolved, then firing under x2 */
    ASSERT_EQ(ch.v[0].a.state, ALERT_RESOLVED);
    ASSERT_STREQ(ch.v[0].a.run, "x");
    ASSERT_EQ(ch.v[1].a.state, ALERT_FIRING);
    ASSERT_STREQ(ch.v[1].a.run, "x2");
    int64_t id = ch.v[1].a.id;
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(firing, 2);
    /* The renamed state goes on: no new episode under the new name. */
    alert_changes_clear(&ch);
    snprintf(r->run, sizeof r->run, "x2");
    r->step = 2;
    alerts_observe(a, r, 30, &ch);
    alerts_flush(a, &ch);
    for (size_t i = 0; i < ch.n; i++)
        if (!strcmp(ch.v[i].a.alertname, "Low"))
            ASSERT_EQ(ch.v[i].a.id, id);

    alert_changes_clear(&ch);
    alerts_run_changed(a, "y", NULL, 40, &ch);
    ASSERT_EQ(ch.n, 1);
    ASSERT_EQ(ch.v[0].a.state, ALERT_RESOLVED);
    ASSERT_STREQ(ch.v[0].a.run, "y");
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(firing, 1);
    ASSERT_EQ(pending, 1);
    /* y again: a new episode with a new id, not the deleted one. */
    alert_changes_clear(&ch);
    snprintf(r->run, sizeof r->run, "y");
    r->step = 7;
    alerts_observe(a, r, 50, &ch);
    ASSERT_GE(ch.n, 1);
    ASSERT_GT(ch.v[0].a.id, id);
    ASSERT_EQ(ch.v[0].a.first_step, 7);
    alerts_flush(a, &ch); /* the dirty list holds no freed state (ASan) */
    free(r);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

/* ---------------------------------------------------------------- cache */

TEST(series_cache_forgets_deleted_series)
{
    char path[128], err[256];
    s_path(path, sizeof path, "cache.db");
    store_t *s = NULL;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(s_fill(s, "big", 0, 60000, 1, 1e9), 0); /* above the cache's minimum */
    int64_t sid = s_int(s, "SELECT id FROM series");
    query_t *q = NULL;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    query_cache_t *c = query_cache_new(64u << 20);
    query_use_cache(q, c);
    query_view_t v = {.run = "big",
                      .tag = "t",
                      .metric = "m0",
                      .after = INT64_MIN,
                      .before = INT64_MAX,
                      .points = 1000}; /* buckets too narrow for the summaries */
    series_t out;
    uint64_t hits, misses;
    size_t bytes;
    ASSERT_EQ(query_series_view(q, &v, &out, err, sizeof err), 0);
    series_free(&out);
    query_cache_stats(c, &hits, &misses, &bytes);
    ASSERT_GT(bytes, 0);
    int64_t other = sid + 1;
    query_cache_forget(c, &other, 1);
    query_cache_stats(c, &hits, &misses, &bytes);
    ASSERT_GT(bytes, 0);
    query_cache_forget(c, &sid, 1);
    query_cache_stats(c, &hits, &misses, &bytes);
    ASSERT_EQ(bytes, 0);
    query_close(&q);
    query_cache_destroy(&c);
    store_close(&s);
}

/* ---------------------------------------------------------------- run list */

/* The "run" values of a JSON run list, comma-joined, into out. */
static void s_names(const char *json, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t o = 0;
    for (const char *p = json; (p = strstr(p, "{\"run\":\"")) != NULL;) {
        p += 8;
        const char *e = strchr(p, '"');
        o += (size_t)snprintf(out + o, outlen - o, "%s%.*s", o ? "," : "", (int)(e - p), p);
        p = e;
    }
}

TEST(run_list_pages_filters_and_since)
{
    char path[128], err[256], names[512];
    s_path(path, sizeof path, "list.db");
    store_t *s = NULL;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    /* r0 oldest .. r9 newest; r5 is "a_b%x" to test LIKE escaping */
    for (int i = 0; i < 10; i++) {
        char run[32];
        snprintf(run, sizeof run, i == 5 ? "a_b%%x" : "r%d", i);
        ASSERT_EQ(s_fill(s, run, 0, 2, 2, 1000.0 + i), 0);
    }
    query_t *q = NULL;
    ASSERT_EQ(query_open(&q, path, err, sizeof err), 0);
    strbuf_t b;
    strbuf_init(&b);
    query_runs_filter_t f = {.limit = 3, .offset = 2};
    ASSERT_EQ(query_runs_filtered(q, &f, &b, 0, ",\"epoch\":\"e\"", err, sizeof err), 0);
    s_names(b.data, names, sizeof names);
    ASSERT_STREQ(names, "r7,r6,a_b%x");
    ASSERT(strstr(b.data, "],\"total\":10,\"epoch\":\"e\"}"));
    ASSERT(strstr(b.data, "\"metrics\":[\"m0\",\"m1\"]}],\"id\":"));

    strbuf_reset(&b);
    query_runs_filter_t g = {.limit = -1, .match = "B%"}; /* literal %, any case */
    ASSERT_EQ(query_runs_filtered(q, &g, &b, 0, NULL, err, sizeof err), 0);
    s_names(b.data, names, sizeof names);
    ASSERT_STREQ(names, "a_b%x");
    ASSERT(strstr(b.data, "\"total\":1}"));
    strbuf_reset(&b);
    g.match = "_"; /* not a wildcard */
    ASSERT_EQ(query_runs_filtered(q, &g, &b, 0, NULL, err, sizeof err), 0);
    s_names(b.data, names, sizeof names);
    ASSERT_STREQ(names, "a_b%x");

    strbuf_reset(&b);
    query_runs_filter_t h = {.limit = -1,
                             .nnames = 2,
                             .names = {"r1", "nope"},
                             .nids = 1,
                             .ids = {s_int(s, "SELECT id FROM runs WHERE name = 'r8'")}};
    ASSERT_EQ(query_runs_filtered(q, &h, &b, 0, NULL, err, sizeof err), 0);
    s_names(b.data, names, sizeof names);
    ASSERT_STREQ(names, "r8,r1");

    /* since: only what changed, the total still counts every run */
    strbuf_reset(&b);
    query_runs_filter_t k = {.limit = 50, .has_since = 1, .since = 1008.0};
    ASSERT_EQ(query_runs_filtered(q, &k, &b, 0, NULL, err, sizeof err), 0);
    s_names(b.data, names, sizeof names);
    ASSERT_STREQ(names, "r9,r8");
    ASSERT(strstr(b.data, "\"total\":10}"));
    strbuf_reset(&b);
    k.since = 2000;
    ASSERT_EQ(query_runs_filtered(q, &k, &b, 0, NULL, err, sizeof err), 0);
    ASSERT_STREQ(b.data, "{\"runs\":[],\"total\":10}");
    /* CSV: the same filters, one line per series */
    strbuf_reset(&b);
    query_runs_filter_t c = {.limit = 1};
    ASSERT_EQ(query_runs_filtered(q, &c, &b, 1, NULL, err, sizeof err), 0);
    ASSERT_STREQ(b.data, "run,tag,metric,last_step,last_seen,dropped\n"
                         "r9,t,m0,1,1009,0\nr9,t,m1,1,1009,0\n");
    strbuf_free(&b);
    query_close(&q);
    store_close(&s);
}

/* A query string of repeated keys, for params_runs. */
typedef struct {
    const char *k[8], *v[8];
    int n;
} s_qs_t;

static const char *s_qs_get(void *ctx, const char *name, size_t *len)
{
    s_qs_t *q = ctx;
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->k[i], name)) {
            *len = strlen(q->v[i]);
            return q->v[i];
        }
    return NULL;
}

static size_t s_qs_all(void *ctx, const char *name, const char **vals, size_t *lens, size_t max)
{
    s_qs_t *q = ctx;
    size_t k = 0;
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->k[i], name)) {
            if (k < max) {
                vals[k] = q->v[i];
                lens[k] = strlen(q->v[i]);
            }
            k++;
        }
    return k;
}

TEST(run_list_parameters)
{
    s_qs_t qs = {{"limit", "offset", "q", "run", "run", "id", "since"},
                 {"50", "100", "sim", "a,b", "c", "7", "1700000000.5"},
                 7};
    params_t p = {s_qs_get, &qs, s_qs_all};
    query_runs_filter_t f;
    int csv = -1;
    char msg[256];
    ASSERT_EQ(params_runs(&p, &f, &csv, msg, sizeof msg), 0);
    ASSERT_EQ(f.limit, 50);
    ASSERT_EQ(f.offset, 100);
    ASSERT_STREQ(f.match, "sim");
    ASSERT_EQ(f.nnames, 2);
    ASSERT_STREQ(f.names[0], "a,b");
    ASSERT_STREQ(f.names[1], "c");
    ASSERT_EQ(f.nids, 1);
    ASSERT_EQ(f.ids[0], 7);
    ASSERT_EQ(f.has_since, 1);
    ASSERT_EQ(f.since, 1700000000.5);
    ASSERT_EQ(csv, 0);
    s_qs_t none = {{0}, {0}, 0};
    p.ctx = &none;
    ASSERT_EQ(params_runs(&p, &f, &csv, msg, sizeof msg), 0);
    ASSERT_EQ(f.limit, -1);
    ASSERT_EQ(f.offset, 0);
    ASSERT_NULL(f.match);
    ASSERT_EQ(f.nnames, 0);
    ASSERT_EQ(f.nids, 0);
    ASSERT_EQ(f.has_since, 0);
    static const struct {
        const char *k, *v, *says;
    } bad[] = {
        {"limit", "0", "'limit'"},    {"limit", "100001", "'limit'"}, {"offset", "-1", "'offset'"},
        {"since", "soon", "'since'"}, {"since", "nan", "'since'"},    {"id", "0", "'id'"},
        {"id", "x", "'id'"},          {"run", "", "'run'"},           {"format", "xml", "'format'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_qs_t one = {{bad[i].k}, {bad[i].v}, 1};
        p.ctx = &one;
        msg[0] = '\0';
        ASSERT_EQ(params_runs(&p, &f, &csv, msg, sizeof msg), -1);
        if (!strstr(msg, bad[i].says))
            fprintf(stderr, "  %s=%s: %s\n", bad[i].k, bad[i].v, msg);
        ASSERT(strstr(msg, bad[i].says));
    }
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    lifecycle_t *l;
    int rc;
    char msg[512];
    const char *run, *to;
} s_call_t;

static void *s_call(void *arg)
{
    s_call_t *c = arg;
    c->rc = c->to ? lifecycle_rename(c->l, c->run, c->to, c->msg, sizeof c->msg)
                  : lifecycle_delete(c->l, c->run, NULL, c->msg, sizeof c->msg);
    return NULL;
}

static int s_listened;
static void s_listener(void *ctx, const char *run, const char *new_name, const int64_t *sids,
                       size_t nsids)
{
    (void)ctx;
    (void)run;
    (void)sids;
    s_listened += new_name ? 1000 : (int)nsids;
}

TEST(writer_serves_requests_and_retention_between_groups)
{
    char path[128], err[256];
    s_path(path, sizeof path, "writer.db");
    store_t *s = NULL;
    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    double now = ew_now();
    ASSERT_EQ(s_fill(s, "old", 0, 200, 2, now - 3 * 86400), 0);
    ASSERT_EQ(s_fill(s, "older", 0, 200, 2, now - 4 * 86400), 0);
    ASSERT_EQ(s_fill(s, "fresh", 0, 200, 2, now), 0);
    ASSERT_EQ(s_fill(s, "other", 0, 10, 1, now), 0);

    stats_t st;
    stats_init(&st, now);
    lifecycle_config_t lc = {.retention_s = 2 * 86400, .stats = &st};
    lifecycle_t *l = lifecycle_new(&lc);
    s_listened = 0;
    lifecycle_listen(l, s_listener, NULL);
    queue_t *q = queue_new(64, (size_t)-1);
    writer_t *w = writer_start_ticked(s, q, 5, &st, NULL, NULL, lifecycle_tick, l);
    ASSERT(w);

    s_call_t calls[4] = {
        {.l = l, .run = "fresh", .to = "renamed"},
        {.l = l, .run = "nothing"},
        {.l = l, .run = "other", .to = "renamed2"},
        {.l = l, .run = "bad\nname"},
    };
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, s_call, &calls[i]);
    /* results keep flowing meanwhile */
    for (uint64_t i = 0; i < 50; i++)
        queue_push(q, s_result("live", "t", i, 1, now), 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ(calls[0].rc, 0);
    ASSERT_EQ(calls[1].rc, -ENOENT);
    ASSERT(strstr(calls[1].msg, "no run named 'nothing'"));
    ASSERT_EQ(calls[2].rc, 0);
    ASSERT_EQ(calls[3].rc, -EINVAL);
    ASSERT(strstr(calls[3].msg, "control character"));
    s_call_t again = {.l = l, .run = "renamed", .to = "renamed2"};
    s_call(&again);
    ASSERT_EQ(again.rc, -EEXIST);
    ASSERT(strstr(again.msg, "already exists"));

    /* Retention: both runs past 2 days go, the purge empties them. Wait
     * for what is asserted (runs_deleted empty, read through a second
     * connection: WAL lets it read beside the writer), not for a row
     * count, which the summaries' rows make hard to predict; bounded at
     * 60 s, for sanitizer builds on a loaded machine. */
    for (int i = 0; i < 6000 && (stats_get(&st.retention_deleted) < 2 ||
                                 s_file_int(path, "SELECT count(*) FROM runs_deleted") != 0);
         i++)
        usleep(10000);
    ASSERT_EQ(stats_get(&st.retention_deleted), 2);
    ASSERT_EQ(stats_get(&st.runs_deleted), 2);
    ASSERT_EQ(stats_get(&st.runs_renamed), 2);
    ASSERT_EQ(s_listened, 2000 + 2 + 2);
    queue_close(q);
    writer_join(&w); /* closes the store */
    lifecycle_destroy(&l);
    queue_destroy(&q);

    ASSERT_EQ(store_open(&s, path, err, sizeof err), 0);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM runs"), 3); /* renamed, renamed2, live */
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'renamed'"), 400);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM series_points WHERE run = 'live'"), 50);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM points"), 400 + 10 + 50);
    ASSERT_EQ(s_int(s, "SELECT count(*) FROM runs_deleted"), 0);
    store_close(&s);
}

TEST(request_after_close_is_cancelled)
{
    lifecycle_t *l = lifecycle_new(NULL);
    lifecycle_close(l);
    char msg[256];
    ASSERT_EQ(lifecycle_delete(l, "x", NULL, msg, sizeof msg), -ECANCELED);
    lifecycle_destroy(&l);
    ASSERT_NULL(l);
}

/* ---------------------------------------------------------------- CSRF */

TEST(write_check_refuses_what_a_web_page_can_send)
{
    char msg[512];
    http_write_headers_t h = {0};
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 403); /* a plain form post */
    ASSERT(strstr(msg, HTTP_WRITE_HEADER));
    h.marker = "1";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 0); /* the CLI */
    h.host = "127.0.0.1:8080";
    h.sec_fetch_site = "cross-site";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 403);
    h.sec_fetch_site = "same-site";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 403);
    h.sec_fetch_site = "same-origin";
    h.origin = "http://evil.example";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 403);
    h.origin = "null";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 403);
    h.origin = "http://127.0.0.1:8080";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 0);
    h.host = "[::1]:8080";
    h.origin = "http://[::1]:8080";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 0);
    h.host = "localhost:8080";
    h.origin = "http://localhost:8080";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 0);
    /* DNS rebinding: same origin as far as the browser knows, a DNS name */
    h.host = "attacker.example:8080";
    h.origin = "http://attacker.example:8080";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 403);
    ASSERT(strstr(msg, "DNS"));
    h.origin = NULL;
    h.sec_fetch_site = "none";
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 403);
    h.marker = "yes";
    h.sec_fetch_site = NULL;
    ASSERT_EQ(http_runs_write_check(&h, msg, sizeof msg), 403);
}

/* ---------------------------------------------------------------- flags */

TEST(retention_flags)
{
    int64_t b;
    ASSERT_EQ(config_parse_size("500MB", &b), 0);
    ASSERT_EQ(b, 500000000);
    ASSERT_EQ(config_parse_size("2GiB", &b), 0);
    ASSERT_EQ(b, 2147483648LL);
    ASSERT_EQ(config_parse_size("1.5tb", &b), 0);
    ASSERT_EQ(b, 1500000000000LL);
    ASSERT_EQ(config_parse_size("1048576", &b), 0);
    ASSERT_EQ(b, 1048576);
    ASSERT_EQ(config_parse_size("10 GB", &b), -1);
    ASSERT_EQ(config_parse_size("-1GB", &b), -1);
    ASSERT_EQ(config_parse_size("GB", &b), -1);
    ASSERT_EQ(config_parse_size("5PB", &b), -1);

    config_t c;
    char err[256];
    char *ok[] = {"erwatchd", "--retention-days", "0.5", "--retention-size", "20GB", NULL};
    config_defaults(&c);
    ASSERT_EQ(config_parse(&c, 5, ok, stdout, err, sizeof err), 0);
    ASSERT_MIXED(c.retention_s, 43200.0, 1e-12);
    ASSERT_EQ(c.retention_bytes, 20000000000LL);
    char *bad_days[] = {"erwatchd", "--retention-days", "0", NULL};
    config_defaults(&c);
    ASSERT_EQ(config_parse(&c, 3, bad_days, stdout, err, sizeof err), -1);
    ASSERT(strstr(err, "--retention-days '0'"));
    char *bad_size[] = {"erwatchd", "--retention-size", "100kB", NULL};
    config_defaults(&c);
    ASSERT_EQ(config_parse(&c, 3, bad_size, stdout, err, sizeof err), -1);
    ASSERT(strstr(err, "at least 1MiB"));
}

/* ---------------------------------------------------------------- main */

static void s_rmdir(void)
{
    DIR *d = opendir(s_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(s_dir);
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/ew-lifecycle-XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 2;
    }
    int rc = test_main((test_case_t[]){
        T(delete_hides_at_once_then_purges_in_small_steps),
        T(purge_resumes_after_reopen),
        T(rename_moves_run_and_alerts_or_changes_nothing),
        T(alert_engine_follows_delete_and_rename),
        T(series_cache_forgets_deleted_series),
        T(run_list_pages_filters_and_since),
        T(run_list_parameters),
        T(writer_serves_requests_and_retention_between_groups),
        T(request_after_close_is_cancelled),
        T(write_check_refuses_what_a_web_page_can_send),
        T(retention_flags),
        {0},
    });
    s_rmdir();
    return rc;
}
