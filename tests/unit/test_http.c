/* test_http.c: the JSON API end to end over loopback.
 *
 * main() builds one fixture before the tests run: a temporary directory with
 * a database written through store.h (the writer's own code), a stats_t with
 * known counters, an input queue holding one item, and http_start() on
 * 127.0.0.1 port 0. Tests talk to it with libcurl and check status codes,
 * headers and bodies; a few start extra servers (missing database, port in
 * use, IPv6, localhost). Everything is removed at the end.
 *
 * Fixture data: run "r1", tag "train", steps 0..99 with
 *   erank = step * 0.5, except step 50 = 1000 (the spike)
 *   maybe = step, except step 3 = NaN (undefined metric)
 *   "spa ce/é+&=" = 42 at step 0 only (a name that needs URL encoding)
 * and run "r2", tag "val", step 5, x = 1. Client drop counts: r1 7, r2 0.
 * Run "ref", tag "p" (n = 4, d = 8, kappa 10, sphere), steps 0..2, and run
 * "refd", tag "p" (discrete), step 0, carry the metrics that have reference
 * levels. The dashboard's files are a small tree in <tmp>/web.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "batch.h"
#include "decode.h"
#include "downsample.h"
#include "http.h"
#include "metrics.h"
#include "metrics_levels.h"
#include "query.h"
#include "queue.h"
#include "rules.h"
#include "stats.h"
#include "store.h"
#include "test.h"

#define S_NSTEPS 100
#define S_SPIKE_STEP 50
#define S_SPIKE 1000.0
#define S_NAN_STEP 3
#define S_ODD_METRIC "spa ce/\xc3\xa9+&="

static char s_dir[64];
static char s_db[128];
static store_t *s_store;
static stats_t s_stats;
static queue_t *s_inq;
static http_t *s_http;
static int s_port;
static char s_web[160];
static http_t *s_webhttp; /* the fixture with a web directory */
static int s_webport;

#define S_INDEX "<!doctype html><title>erwatch test</title>\n"
#define S_APPJS "export const x = 1;\n"

/* ------------------------------------------------------------ fixture */

static result_t *s_result(const char *run, const char *tag, uint64_t step, uint64_t dropped)
{
    result_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    snprintf(r->run, sizeof r->run, "%s", run);
    snprintf(r->tag, sizeof r->tag, "%s", tag);
    r->step = step;
    r->wall_time = 1.7e9 + (double)step;
    r->recv_time = r->wall_time;
    r->client_time = NAN;
    r->n = 4;
    r->d = 8;
    r->views = 1;
    r->support = EW_SUPPORT_SPHERE;
    r->kappa = EW_KAPPA_DEFAULT;
    r->rank = -1;
    r->world = -1;
    r->dropped = dropped;
    return r;
}

static void s_point(result_t *r, const char *metric, double v)
{
    result_point_t *p = &r->points[r->npoints++];
    snprintf(p->metric, sizeof p->metric, "%s", metric);
    p->value = v;
}

static double s_erank(int step)
{
    return step == S_SPIKE_STEP ? S_SPIKE : step * 0.5;
}

static int s_write_fixture(char *err, size_t errlen)
{
    result_t *rs[S_NSTEPS + 1];
    for (int i = 0; i < S_NSTEPS; i++) {
        rs[i] = s_result("r1", "train", (uint64_t)i, 7);
        s_point(rs[i], "erank", s_erank(i));
        s_point(rs[i], "maybe", i == S_NAN_STEP ? NAN : (double)i);
        if (i == 0)
            s_point(rs[i], S_ODD_METRIC, 42.0);
    }
    rs[S_NSTEPS] = s_result("r2", "val", 5, 0);
    s_point(rs[S_NSTEPS], "x", 1.0);
    long n = store_write(s_store, rs, S_NSTEPS + 1, err, errlen);
    for (int i = 0; i <= S_NSTEPS; i++)
        free(rs[i]);
    if (n < 0)
        return -1;

    static const char *const refm[] = {"er_entropy", "rankme", "std_l2", "uniform", "w2", "loss"};
    result_t *ref[4];
    for (int i = 0; i < 3; i++) {
        ref[i] = s_result("ref", "p", (uint64_t)i, 0);
        for (size_t k = 0; k < sizeof refm / sizeof refm[0]; k++)
            s_point(ref[i], refm[k], (double)k + i);
        ref[i]->nspectrum = 2; /* spectra for /api/spectrum */
        ref[i]->spectrum[0] = 0.5f + 0.125f * (float)i;
        ref[i]->spectrum[1] = 0.5f - 0.125f * (float)i;
    }
    ref[3] = s_result("refd", "p", 0, 0);
    /* (big: see s_write_big) */
    ref[3]->support = EW_SUPPORT_DISCRETE;
    s_point(ref[3], "er_entropy", 1.0);
    n = store_write(s_store, ref, 4, err, errlen);
    for (int i = 0; i < 4; i++)
        free(ref[i]);
    return n < 0 ? -1 : 0;
}

/* Run "big", tag "t", metric "v": S_BIG points (enough to be cached),
 * v = sin(step / 100) with a spike at step 30001, written in groups. */
#define S_BIG 60000
static double s_big(int64_t step)
{
    return step == 30001 ? 50.0 : sin((double)step / 100.0);
}

static int s_write_big(char *err, size_t errlen)
{
    enum { G = 2000 };
    result_t *rs[G];
    for (int g = 0; g < S_BIG / G; g++) {
        for (int i = 0; i < G; i++) {
            int64_t step = (int64_t)g * G + i;
            rs[i] = s_result("big", "t", (uint64_t)step, 0);
            s_point(rs[i], "v", s_big(step));
        }
        long n = store_write(s_store, rs, G, err, errlen);
        for (int i = 0; i < G; i++)
            free(rs[i]);
        if (n < 0)
            return -1;
    }
    return 0;
}

static int s_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* <tmp>/web: index.html, static/{app.js,style.css,logo.svg,blob.bin},
 * static/vendor/v.css, static/.hidden, static/link.js -> /etc/passwd. */
static int s_write_web(void)
{
    char p[256];
    snprintf(s_web, sizeof s_web, "%s/web", s_dir);
    snprintf(p, sizeof p, "%s/static/vendor", s_web);
    if (mkdir(s_web, 0755) || snprintf(p, sizeof p, "%s/static", s_web) < 0 || mkdir(p, 0755) ||
        snprintf(p, sizeof p, "%s/static/vendor", s_web) < 0 || mkdir(p, 0755))
        return -1;
    static const struct {
        const char *name, *text;
    } files[] = {
        {"index.html", S_INDEX},          {"static/app.js", S_APPJS},
        {"static/style.css", "body{}\n"}, {"static/logo.svg", "<svg/>\n"},
        {"static/blob.bin", "xyz"},       {"static/vendor/v.css", ".v{}\n"},
        {"static/.hidden", "secret\n"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", s_web, files[i].name);
        if (s_write_file(p, files[i].text) != 0)
            return -1;
    }
    snprintf(p, sizeof p, "%s/static/link.js", s_web);
    return symlink("/etc/passwd", p);
}

static int s_setup(void)
{
    char err[512] = "";
    snprintf(s_dir, sizeof s_dir, "/tmp/ew-http-XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(s_db, sizeof s_db, "%s/erwatch.db", s_dir);
    if (store_open(&s_store, s_db, err, sizeof err) != 0 || s_write_fixture(err, sizeof err) != 0 ||
        s_write_big(err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    stats_init(&s_stats, (double)now.tv_sec - 12.0); /* up for 12 s */
    stats_inc(&s_stats.received, 5);
    stats_inc(&s_stats.accepted, 4);
    stats_inc(&s_stats.rejected[EW_REJ_SHAPE], 1);
    stats_inc(&s_stats.computed, 4);
    stats_inc(&s_stats.stored, 3);
    stats_inc(&s_stats.points_written, 42);
    stats_inc(&s_stats.store_errors, 2);
    stats_inc(&s_stats.undefined_metrics, 1);

    s_inq = queue_new(16, 1 << 20);
    if (queue_push(s_inq, (void *)1, 100) != 0)
        return -1;

    http_config_t cfg = {.host = "127.0.0.1",
                         .port = 0,
                         .db_path = s_db,
                         .threads = 4,
                         .stats = &s_stats,
                         .in_queue = s_inq,
                         .out_queue = NULL};
    s_http = http_start(&cfg, err, sizeof err);
    if (!s_http) {
        fprintf(stderr, "http_start: %s\n", err);
        return -1;
    }
    s_port = http_port(s_http);
    if (s_port <= 0 || s_write_web() != 0)
        return -1;
    cfg.web_dir = s_web;
    s_webhttp = http_start(&cfg, err, sizeof err);
    if (!s_webhttp) {
        fprintf(stderr, "http_start (web): %s\n", err);
        return -1;
    }
    s_webport = http_port(s_webhttp);
    return 0;
}

/* Removes dir and everything below it (the fixture's own tree only). */
static void s_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                s_rmtree(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void s_teardown(void)
{
    http_stop(&s_http);
    http_stop(&s_webhttp);
    store_close(&s_store);
    if (s_inq) {
        (void)queue_pop_timed(s_inq, 0);
        queue_destroy(&s_inq);
    }
    if (!s_dir[0] || strncmp(s_dir, "/tmp/ew-http-", 13) != 0)
        return;
    s_rmtree(s_dir);
}

/* ------------------------------------------------------------ HTTP client */

typedef struct {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    char ctype[128];
    char allow[64];
    char cache[64];
    char etag[64];
    char csp[256];
    char nosniff[32];
} s_resp_t;

static size_t s_on_body(char *p, size_t size, size_t n, void *ud)
{
    s_resp_t *r = ud;
    size_t add = size * n;
    char *b = realloc(r->body, r->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, add);
    r->len += add;
    b[r->len] = '\0';
    r->body = b;
    return add;
}

static void s_header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && *v == ' ')
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n'))
        end--;
    snprintf(out, outlen, "%.*s", (int)(end - v), v);
}

static size_t s_on_header(char *p, size_t size, size_t n, void *ud)
{
    s_resp_t *r = ud;
    s_header_value(p, size * n, "Allow", r->allow, sizeof r->allow);
    s_header_value(p, size * n, "Cache-Control", r->cache, sizeof r->cache);
    s_header_value(p, size * n, "Content-Type", r->ctype, sizeof r->ctype);
    s_header_value(p, size * n, "ETag", r->etag, sizeof r->etag);
    s_header_value(p, size * n, "Content-Security-Policy", r->csp, sizeof r->csp);
    s_header_value(p, size * n, "X-Content-Type-Options", r->nosniff, sizeof r->nosniff);
    return size * n;
}

/* Performs one request to a full URL, sending the URL's path exactly as
 * written ("/static/../x" is not folded by curl) and an optional extra
 * header line. Returns 0, or -1 on transport error. */
static int s_fetch_h(const char *method, const char *url, const char *header, s_resp_t *r);

static int s_fetch(const char *method, const char *url, s_resp_t *r)
{
    return s_fetch_h(method, url, NULL, r);
}

static int s_fetch_h(const char *method, const char *url, const char *header, s_resp_t *r)
{
    memset(r, 0, sizeof *r);
    r->body = calloc(1, 1);
    CURL *c = curl_easy_init();
    if (!c || !r->body)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    struct curl_slist *hdrs = header ? curl_slist_append(NULL, header) : NULL;
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else
        fprintf(stderr, "  curl %s %s: %s\n", method, url, curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return rc == CURLE_OK ? 0 : -1;
}

/* A request to the fixture server; path includes the query string. */
static int s_req(const char *method, const char *path, s_resp_t *r)
{
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s_port, path);
    return s_fetch(method, url, r);
}

/* A request to the fixture server that has a web directory. */
static int s_wreq(const char *method, const char *path, const char *header, s_resp_t *r)
{
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s_webport, path);
    return s_fetch_h(method, url, header, r);
}

static void s_resp_free(s_resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* ------------------------------------------------------------ JSON peeking */

/* Parses the array after "key":[ into out (null -> NaN). Returns the number
 * of elements, or -1 when the key is missing. */
static long s_json_array(const char *body, const char *key, double *out, size_t max)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":[", key);
    const char *p = strstr(body, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    long n = 0;
    while (*p && *p != ']') {
        double v;
        if (strncmp(p, "null", 4) == 0) {
            v = NAN;
            p += 4;
        } else {
            char *end;
            v = strtod(p, &end);
            if (end == p)
                return -1;
            p = end;
        }
        if ((size_t)n < max)
            out[n] = v;
        n++;
        if (*p == ',')
            p++;
    }
    return *p == ']' ? n : -1;
}

/* The integer after `"key":` at its first occurrence, or -1. */
static long long s_json_int(const char *body, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(body, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

#define ASSERT_JSON_CT(r)                                                                          \
    do {                                                                                           \
        ASSERT_STREQ((r).ctype, "application/json; charset=utf-8");                                \
        ASSERT_STREQ((r).cache, "no-store");                                                       \
    } while (0)

/* ------------------------------------------------------------ health */

TEST(health_fields_and_counters)
{
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/api/health", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_JSON_CT(r);
    ASSERT_HAS(r.body, "{\"status\":\"ok\",\"version\":\"0.1.0\",\"uptime_s\":");
    ASSERT_HAS(r.body, "\"batches\":{\"received\":5,\"accepted\":4,"
                       "\"rejected\":1,\"computed\":4,\"stored\":3}");
    ASSERT_EQ(s_json_int(r.body, "points_written"), 42);
    ASSERT_EQ(s_json_int(r.body, "store_errors"), 2);
    ASSERT_EQ(s_json_int(r.body, "undefined_metrics"), 1);
    ASSERT_EQ(s_json_int(r.body, "client_dropped"), 7);
    /* Every rejection reason is listed, by its protocol name. */
    for (int i = 0; i < EW_REJ_COUNT; i++) {
        char want[64];
        snprintf(want, sizeof want, "\"%s\":%d", decode_reason_name(i), i == EW_REJ_SHAPE ? 1 : 0);
        ASSERT_HAS(r.body, want);
    }
    ASSERT_HAS(r.body, "\"queue\":{\"in\":{\"items\":1,\"bytes\":100},"
                       "\"out\":{\"items\":0,\"bytes\":0}}");
    /* The fixture's daemon started 12 s before the tests. */
    ASSERT_HAS(r.body, "\"uptime_s\":");
    const char *u = strstr(r.body, "\"uptime_s\":");
    double up = strtod(u + 11, NULL);
    ASSERT_GE(up, 11.0);
    ASSERT_LT(up, 600.0);
    s_resp_free(&r);
}

TEST(head_has_headers_no_body)
{
    s_resp_t r;
    ASSERT_EQ(s_req("HEAD", "/api/health", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_JSON_CT(r);
    ASSERT_EQ(r.len, 0);
    s_resp_free(&r);
}

/* ------------------------------------------------------------ runs */

TEST(runs_json_lists_runs)
{
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/api/runs", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_JSON_CT(r);
    ASSERT_HAS(r.body, "\"r1\"");
    ASSERT_HAS(r.body, "\"r2\"");
    s_resp_free(&r);
    ASSERT_EQ(s_req("GET", "/api/runs?format=json", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_HAS(r.body, "\"r1\"");
    s_resp_free(&r);
}

TEST(runs_csv)
{
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/api/runs?format=csv", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.ctype, "text/csv; charset=utf-8");
    ASSERT_STREQ(r.cache, "no-store");
    ASSERT_HAS(r.body, "r1");
    ASSERT_NE(r.body[0], '{');
    ASSERT_NE(r.body[0], '[');
    s_resp_free(&r);
}

/* ------------------------------------------------------------ series */

TEST(series_values_equal_written)
{
    s_resp_t r;
    double v[S_NSTEPS + 1], st[S_NSTEPS + 1];
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=erank", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_JSON_CT(r);
    ASSERT_HAS(r.body, "{\"run\":\"r1\",\"tag\":\"train\",\"metric\":\"erank\","
                       "\"bucketed\":false,");
    ASSERT_HASNT(r.body, "\"min\"");
    ASSERT_EQ(s_json_array(r.body, "step", st, S_NSTEPS + 1), S_NSTEPS);
    ASSERT_EQ(s_json_array(r.body, "value", v, S_NSTEPS + 1), S_NSTEPS);
    for (int i = 0; i < S_NSTEPS; i++) {
        ASSERT_EQ(st[i], i);
        ASSERT_MIXED(v[i], s_erank(i), 0);
    }
    s_resp_free(&r);
}

TEST(series_nan_is_null)
{
    s_resp_t r;
    double v[S_NSTEPS];
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=maybe", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(s_json_array(r.body, "value", v, S_NSTEPS), S_NSTEPS);
    ASSERT_NAN(v[S_NAN_STEP]);
    ASSERT_MIXED(v[S_NAN_STEP + 1], S_NAN_STEP + 1, 0);
    ASSERT_HAS(r.body, ",null,");
    s_resp_free(&r);
}

TEST(series_open_range_after_before)
{
    s_resp_t r;
    double st[S_NSTEPS];
    ASSERT_EQ(s_req("GET",
                    "/api/series?run=r1&tag=train&metric=erank&after=10"
                    "&before=20",
                    &r),
              0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(s_json_array(r.body, "step", st, S_NSTEPS), 9);
    ASSERT_EQ(st[0], 11);
    ASSERT_EQ(st[8], 19);
    s_resp_free(&r);

    /* The extreme bounds are accepted and mean "everything". */
    ASSERT_EQ(s_req("GET",
                    "/api/series?run=r1&tag=train&metric=erank"
                    "&after=-9223372036854775808&before=9223372036854775807",
                    &r),
              0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(s_json_array(r.body, "step", st, S_NSTEPS), S_NSTEPS);
    s_resp_free(&r);

    /* An empty window of an existing series is not an error. */
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=erank&after=500", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(s_json_array(r.body, "step", st, S_NSTEPS), 0);
    s_resp_free(&r);
}

TEST(series_bucketed_keeps_spike)
{
    s_resp_t r;
    double st[8], v[8], mn[8], mx[8];
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=erank&points=3", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_HAS(r.body, "\"bucketed\":true");
    ASSERT_EQ(s_json_array(r.body, "step", st, 8), 3);
    ASSERT_EQ(s_json_array(r.body, "value", v, 8), 3);
    ASSERT_EQ(s_json_array(r.body, "min", mn, 8), 3);
    ASSERT_EQ(s_json_array(r.body, "max", mx, 8), 3);
    ASSERT_EQ(st[2], S_NSTEPS - 1);
    int spike = 0;
    for (int i = 0; i < 3; i++) {
        ASSERT_LE(mn[i], v[i]);
        ASSERT_LE(v[i], mx[i]);
        spike |= mx[i] == S_SPIKE;
    }
    if (!spike)
        T_FAIL_("no bucket's max is the spike %g: max = %g, %g, %g", (double)S_SPIKE, mx[0], mx[1],
                mx[2]);
    ASSERT_EQ(mn[0], 0);
    s_resp_free(&r);

    /* Exactly P points: returned as they are. */
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=erank&points=100", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_HAS(r.body, "\"bucketed\":false");
    s_resp_free(&r);
}

TEST(series_csv)
{
    s_resp_t r;
    ASSERT_EQ(s_req("GET",
                    "/api/series?run=r1&tag=train&metric=maybe&format=csv"
                    "&before=5",
                    &r),
              0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.ctype, "text/csv; charset=utf-8");
    ASSERT_STREQ(r.cache, "no-store");
    ASSERT_STREQ(r.body, "step,value\n0,0\n1,1\n2,2\n3,\n4,4\n");
    s_resp_free(&r);

    ASSERT_EQ(s_req("GET",
                    "/api/series?run=r1&tag=train&metric=erank&format=csv"
                    "&points=3",
                    &r),
              0);
    ASSERT_EQ(r.status, 200);
    ASSERT_PREFIX(r.body, "step,value,min,max\n");
    int lines = 0;
    for (const char *p = r.body; *p; p++)
        lines += *p == '\n';
    ASSERT_EQ(lines, 4);
    ASSERT_HAS(r.body, ",1000\n");
    s_resp_free(&r);
}

TEST(series_name_needing_url_encoding)
{
    CURL *c = curl_easy_init();
    ASSERT(c);
    char *m = curl_easy_escape(c, S_ODD_METRIC, 0);
    char path[512];
    snprintf(path, sizeof path, "/api/series?run=r1&tag=train&metric=%s", m);
    curl_free(m);
    curl_easy_cleanup(c);

    s_resp_t r;
    double v[4];
    ASSERT_EQ(s_req("GET", path, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_HAS(r.body, "\"metric\":\"" S_ODD_METRIC "\"");
    ASSERT_EQ(s_json_array(r.body, "value", v, 4), 1);
    ASSERT_MIXED(v[0], 42, 0);
    s_resp_free(&r);
}

/* ------------------------------------------------------------ refs, time */

/* The "ref" object of a series answer: 1 and the two levels when present
 * (null -> NaN), 0 when the answer has none. */
static int s_ref(const char *body, double *collapsed, double *ideal)
{
    const char *p = strstr(body, "\"ref\":{\"collapsed\":");
    if (!p)
        return 0;
    p += strlen("\"ref\":{\"collapsed\":");
    *collapsed = strncmp(p, "null", 4) == 0 ? NAN : strtod(p, NULL);
    const char *q = strstr(p, "\"ideal\":");
    if (!q)
        return 0;
    q += strlen("\"ideal\":");
    *ideal = strncmp(q, "null", 4) == 0 ? NAN : strtod(q, NULL);
    return 1;
}

TEST(series_reference_levels)
{
    static const struct {
        const char *run, *metric;
        int has;
        double collapsed, ideal;
    } cases[] = {
        {"ref", "rankme", 1, 1.0, 4.0},                 /* min(N, d) = min(4, 8) */
        {"ref", "std_l2", 1, 0.0, 0.35355339059327373}, /* 1/sqrt(8) */
        {"ref", "w2", 1, 1.4142135623730951, 0.0},
        /* discrete: every sample on one prototype, uniform use of all 8,
         * with the estimator's +1e-7 floor */
        {"refd", "er_entropy", 1, -9.999999500000033e-08, 2.079440741680156},
        {"ref", "loss", 0, 0, 0},
        {"r1", "erank", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/series?run=%s&tag=p&metric=%s", cases[i].run,
                 cases[i].metric);
        if (strcmp(cases[i].run, "r1") == 0)
            snprintf(path, sizeof path, "/api/series?run=r1&tag=train&metric=erank");
        s_resp_t r;
        ASSERT_EQ(s_req("GET", path, &r), 0);
        ASSERT_EQ(r.status, 200);
        double c = 0, id = 0;
        int has = s_ref(r.body, &c, &id);
        if (has != cases[i].has) {
            fprintf(stderr, "  %s: %s\n", path, r.body);
            s_resp_free(&r);
            ASSERT(0);
        }
        if (has) {
            ASSERT_MIXED(c, cases[i].collapsed, 1e-15);
            ASSERT_MIXED(id, cases[i].ideal, 1e-15);
            ASSERT_HAS(r.body, "\"n\":4,\"d\":8,\"kappa\":10,\"support\":");
        }
        s_resp_free(&r);
    }

    /* er_entropy on the sphere: the alert rules' levels (metrics_levels):
     * c(d, kappa) - kappa collapsed, a uniform spread for this N, d, kappa
     * ideal, which lies below the estimator's ceiling (ln N higher). */
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/api/series?run=ref&tag=p&metric=er_entropy", &r), 0);
    double c = 0, id = 0;
    ASSERT(s_ref(r.body, &c, &id));
    double want_i, want_c;
    ASSERT_EQ(metrics_levels("er_entropy", EW_SUPPORT_SPHERE, 4, 8, 10.0, &want_i, &want_c), 0);
    ASSERT_MIXED(c, want_c, 0);
    ASSERT_MIXED(id, want_i, 0);
    ASSERT_MIXED(c, metrics_vmf_log_norm(8, 10.0) - 10.0, 1e-15);
    ASSERT_GT(id, c);
    ASSERT_LT(id, c + log(4.0));
    ASSERT_HAS(r.body, "\"support\":\"sphere\",\"step\":2}}");
    s_resp_free(&r);

    /* uniformity (t = 2): 0 collapsed; the uniform distribution's value,
     * ln E exp(-2|x-y|^2), is negative and above -4 (its d -> inf limit). */
    ASSERT_EQ(s_req("GET", "/api/series?run=ref&tag=p&metric=uniform", &r), 0);
    ASSERT(s_ref(r.body, &c, &id));
    ASSERT_MIXED(c, 0.0, 0);
    ASSERT_LT(id, -3.0);
    ASSERT_GT(id, -4.0);
    s_resp_free(&r);

    /* CSV has no place for levels: unchanged. */
    ASSERT_EQ(s_req("GET", "/api/series?run=ref&tag=p&metric=rankme&format=csv", &r), 0);
    ASSERT_STREQ(r.body, "step,value\n0,1\n1,2\n2,3\n");
    s_resp_free(&r);
}

TEST(series_wall_time_on_request)
{
    s_resp_t r;
    double t[8], st[8];
    ASSERT_EQ(s_req("GET",
                    "/api/series?run=r1&tag=train&metric=erank&after=4"
                    "&before=8&time=1",
                    &r),
              0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(s_json_array(r.body, "step", st, 8), 3);
    ASSERT_EQ(s_json_array(r.body, "time", t, 8), 3);
    for (int i = 0; i < 3; i++)
        ASSERT_MIXED(t[i], 1.7e9 + st[i], 0);
    s_resp_free(&r);

    /* Buckets carry the time of their last point. */
    ASSERT_EQ(s_req("GET",
                    "/api/series?run=r1&tag=train&metric=erank&points=3"
                    "&time=1",
                    &r),
              0);
    ASSERT_EQ(s_json_array(r.body, "step", st, 8), 3);
    ASSERT_EQ(s_json_array(r.body, "time", t, 8), 3);
    for (int i = 0; i < 3; i++)
        ASSERT_MIXED(t[i], 1.7e9 + st[i], 0);
    s_resp_free(&r);

    ASSERT_EQ(s_req("GET",
                    "/api/series?run=r1&tag=train&metric=maybe&before=3"
                    "&time=1&format=csv",
                    &r),
              0);
    ASSERT_STREQ(r.body, "step,value,time\n0,0,1700000000\n1,1,1700000001\n"
                         "2,2,1700000002\n");
    s_resp_free(&r);

    /* time=0 is the default; anything else is refused. */
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=erank&time=0", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_HASNT(r.body, "\"time\"");
    s_resp_free(&r);
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=erank&time=2", &r), 0);
    ASSERT_EQ(r.status, 400);
    ASSERT_HAS(r.body, "'time'");
    s_resp_free(&r);
}

/* The buckets streamed out of SQLite equal downsample() of the same points,
 * for every budget, in windows too. */
TEST(series_streamed_buckets_equal_downsample)
{
    int64_t all[S_NSTEPS];
    double vals[S_NSTEPS];
    for (int i = 0; i < S_NSTEPS; i++) {
        all[i] = i;
        vals[i] = s_erank(i);
    }
    static const int windows[][2] = {{-1, S_NSTEPS}, {10, 90}, {48, 53}};
    for (size_t w = 0; w < 3; w++) {
        int a = windows[w][0], b = windows[w][1];
        for (size_t p = 1; p < 40; p = p * 2 + 1) {
            series_t want;
            ASSERT_EQ(downsample(all + a + 1, vals + a + 1, (size_t)(b - a - 1), p, &want), 0);
            char path[256];
            snprintf(path, sizeof path,
                     "/api/series?run=r1&tag=train&metric=erank&after=%d"
                     "&before=%d&points=%zu",
                     a, b, p);
            s_resp_t r;
            double st[64], v[64], mn[64], mx[64];
            ASSERT_EQ(s_req("GET", path, &r), 0);
            ASSERT_EQ(r.status, 200);
            long n = s_json_array(r.body, "step", st, 64);
            ASSERT_EQ(n, (long)want.n);
            ASSERT_EQ(s_json_array(r.body, "value", v, 64), n);
            ASSERT_HAS(r.body, want.bucketed ? "\"bucketed\":true" : "\"bucketed\":false");
            if (want.bucketed) {
                ASSERT_EQ(s_json_array(r.body, "min", mn, 64), n);
                ASSERT_EQ(s_json_array(r.body, "max", mx, 64), n);
            }
            for (long i = 0; i < n; i++) {
                ASSERT_EQ(st[i], want.step[i]);
                ASSERT_MIXED(v[i], want.value[i], 0);
                if (want.bucketed) {
                    ASSERT_MIXED(mn[i], want.min[i], 0);
                    ASSERT_MIXED(mx[i], want.max[i], 0);
                }
            }
            series_free(&want);
            s_resp_free(&r);
        }
    }
}

/* Live updates are polling: after=<last step held> returns only the new
 * points, and nothing (not an error) when there is none. */
TEST(polling_after_last_step)
{
    s_resp_t r;
    double st[8];
    ASSERT_EQ(s_req("GET",
                    "/api/series?run=r1&tag=train&metric=erank&after=97"
                    "&points=500",
                    &r),
              0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(s_json_array(r.body, "step", st, 8), 2);
    ASSERT_EQ(st[0], 98);
    ASSERT_EQ(st[1], 99);
    s_resp_free(&r);
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=erank&after=99", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(s_json_array(r.body, "step", st, 8), 0);
    s_resp_free(&r);
}

TEST(spectrum_route)
{
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/api/spectrum?run=ref&tag=p", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_JSON_CT(r);
    ASSERT_STREQ(r.body, "{\"run\":\"ref\",\"tag\":\"p\",\"bucketed\":false,"
                         "\"step\":[0,1,2],\"values\":[[0.5,0.5],[0.625,0.375],"
                         "[0.75,0.25]]}");
    s_resp_free(&r);
    ASSERT_EQ(s_req("GET", "/api/spectrum?run=ref&tag=p&after=0&points=1", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_HAS(r.body, "\"bucketed\":true,\"step\":[2],\"values\":[[0.75,0.25]]");
    s_resp_free(&r);
    /* nothing stored: 404, which the dashboard shows as "no spectrum yet" */
    const char *none[] = {"/api/spectrum?run=r1&tag=train", "/api/spectrum?run=nope&tag=p",
                          "/api/spectrum?run=ref&tag=p&after=2"};
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(s_req("GET", none[i], &r), 0);
        ASSERT_EQ(r.status, 404);
        ASSERT_HAS(r.body, "{\"error\":\"no spectrum run=");
        s_resp_free(&r);
    }
    const char *bad[][2] = {{"/api/spectrum?tag=p", "'run'"},
                            {"/api/spectrum?run=ref", "'tag'"},
                            {"/api/spectrum?run=ref&tag=p&points=4001", "'points'"},
                            {"/api/spectrum?run=ref&tag=p&after=x", "'after'"},
                            {"/api/spectrum?run=ref&tag=p&format=csv", "'format'"}};
    for (size_t i = 0; i < 5; i++) {
        ASSERT_EQ(s_req("GET", bad[i][0], &r), 0);
        ASSERT_EQ(r.status, 400);
        ASSERT_HAS(r.body, bad[i][1]);
        s_resp_free(&r);
    }
}

/* ------------------------------------------------------------ cache */

static int s_same_series(const series_t *a, const series_t *b)
{
    if (a->n != b->n || a->bucketed != b->bucketed || !a->time != !b->time)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->step[i] != b->step[i] || memcmp(&a->value[i], &b->value[i], sizeof(double)) != 0)
            return 0;
        if (a->bucketed &&
            (memcmp(&a->min[i], &b->min[i], 8) != 0 || memcmp(&a->max[i], &b->max[i], 8) != 0))
            return 0;
        if (a->time && a->time[i] != b->time[i])
            return 0;
    }
    return 1;
}

/* Every window of a cached series equals what SQLite gives without the
 * cache; a write to the run (append, or a rewrite of an old step with a
 * later receive time, as the daemon stamps them) is seen at once. */
TEST(cache_answers_equal_sqlite_and_follow_writes)
{
    char err[256];
    query_t *cq = NULL, *pq = NULL;
    query_cache_t *cache = query_cache_new(64u << 20);
    ASSERT_EQ(query_open(&cq, s_db, err, sizeof err), 0);
    ASSERT_EQ(query_open(&pq, s_db, err, sizeof err), 0);
    query_use_cache(cq, cache);
    uint64_t hits, misses;
    size_t bytes;

    query_view_t full = {.run = "big",
                         .tag = "t",
                         .metric = "v",
                         .after = INT64_MIN,
                         .before = INT64_MAX,
                         .points = 700};
    series_t a, b;
    ASSERT_EQ(query_series_view(cq, &full, &a, err, sizeof err), 0);
    ASSERT_EQ(query_series_view(pq, &full, &b, err, sizeof err), 0);
    ASSERT(a.bucketed && s_same_series(&a, &b));
    series_free(&a);
    series_free(&b);
    query_cache_stats(cache, &hits, &misses, &bytes);
    ASSERT_EQ(hits, 0);
    ASSERT_EQ(misses, 1);
    ASSERT_EQ(bytes, S_BIG * 24);

    static const int64_t win[][2] = {
        {INT64_MIN, INT64_MAX}, {29000, 31000}, {100, 600},     {-50, 10},
        {59990, INT64_MAX},     {30000, 30002}, {70000, 80000},
    };
    static const size_t pts[] = {1, 7, 700, 2001, 100000};
    for (size_t w = 0; w < sizeof win / sizeof win[0]; w++)
        for (size_t p = 0; p < sizeof pts / sizeof pts[0]; p++)
            for (int t = 0; t < 2; t++) {
                query_view_t v = full;
                v.after = win[w][0];
                v.before = win[w][1];
                v.points = pts[p];
                v.with_time = t;
                ASSERT_EQ(query_series_view(cq, &v, &a, err, sizeof err), 0);
                ASSERT_EQ(query_series_view(pq, &v, &b, err, sizeof err), 0);
                int same = s_same_series(&a, &b);
                if (!same)
                    fprintf(stderr,
                            "  window %" PRId64 "..%" PRId64 " points %zu time %d: %zu vs %zu\n",
                            v.after, v.before, v.points, t, a.n, b.n);
                series_free(&a);
                series_free(&b);
                ASSERT(same);
            }
    query_cache_stats(cache, &hits, &misses, &bytes);
    ASSERT_EQ(hits, 7 * 5 * 2);
    ASSERT_EQ(misses, 1);

    /* an appended step: a miss, and the new point is there */
    result_t *r = s_result("big", "t", S_BIG, 0);
    s_point(r, "v", 7.0);
    r->recv_time = 1.8e9;
    ASSERT_EQ(store_write(s_store, &r, 1, err, sizeof err), 1);
    free(r);
    query_view_t tail = full;
    tail.after = S_BIG - 2;
    ASSERT_EQ(query_series_view(cq, &tail, &a, err, sizeof err), 0);
    ASSERT_EQ(a.n, 2);
    ASSERT_EQ(a.step[1], S_BIG);
    ASSERT_MIXED(a.value[1], 7.0, 0);
    series_free(&a);
    query_cache_stats(cache, &hits, &misses, &bytes);
    ASSERT_EQ(misses, 2);

    /* refill, then rewrite an old step: seen */
    ASSERT_EQ(query_series_view(cq, &full, &a, err, sizeof err), 0);
    series_free(&a);
    r = s_result("big", "t", 5, 0);
    s_point(r, "v", -3.0);
    r->recv_time = 1.8e9 + 1;
    ASSERT_EQ(store_write(s_store, &r, 1, err, sizeof err), 1);
    free(r);
    query_view_t five = full;
    five.after = 4;
    five.before = 6;
    ASSERT_EQ(query_series_view(cq, &five, &a, err, sizeof err), 0);
    ASSERT_EQ(a.n, 1);
    ASSERT_MIXED(a.value[0], -3.0, 0);
    series_free(&a);

    /* a series larger than half the budget is not kept */
    query_cache_t *small = query_cache_new(1u << 20);
    query_use_cache(cq, small);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(query_series_view(cq, &full, &a, err, sizeof err), 0);
        series_free(&a);
    }
    query_cache_stats(small, &hits, &misses, &bytes);
    ASSERT_EQ(hits, 0);
    ASSERT_EQ(bytes, 0);

    query_close(&cq);
    query_close(&pq);
    query_cache_destroy(&cache);
    query_cache_destroy(&small);
    ASSERT_NULL(cache);
}

/* Readers on their own connections share one cache while the series is
 * rewritten under them (for TSan; answers stay well formed). */
#define S_CACHE_READERS 4

static query_cache_t *s_shared_cache;

static void *s_cache_reader(void *arg)
{
    intptr_t bad = 0;
    char err[256];
    query_t *q = NULL;
    if (query_open(&q, s_db, err, sizeof err) != 0)
        return (void *)1;
    query_use_cache(q, s_shared_cache);
    for (int i = 0; i < 30; i++) {
        query_view_t v = {.run = "big",
                          .tag = "t",
                          .metric = "v",
                          .after = (i % 3) ? (intptr_t)arg * 1000 + i * 100 : INT64_MIN,
                          .before = INT64_MAX,
                          .points = 50 + (size_t)i};
        series_t s;
        if (query_series_view(q, &v, &s, err, sizeof err) != 0 || s.n == 0 || s.n > v.points)
            bad++;
        for (size_t k = 1; k < s.n; k++)
            bad += s.step[k] <= s.step[k - 1];
        series_free(&s);
    }
    query_close(&q);
    return (void *)bad;
}

TEST(cache_shared_by_concurrent_readers)
{
    s_shared_cache = query_cache_new(64u << 20);
    pthread_t t[S_CACHE_READERS];
    for (intptr_t i = 0; i < S_CACHE_READERS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, s_cache_reader, (void *)i), 0);
    char err[256];
    for (int i = 0; i < 10; i++) { /* rewrites that invalidate the copy */
        result_t *r = s_result("big", "t", (uint64_t)(100 + i), 0);
        s_point(r, "v", (double)i);
        r->recv_time = 1.9e9 + i;
        store_write(s_store, &r, 1, err, sizeof err);
        free(r);
    }
    intptr_t bad = 0;
    for (int i = 0; i < S_CACHE_READERS; i++) {
        void *b;
        pthread_join(t[i], &b);
        bad += (intptr_t)b;
    }
    query_cache_destroy(&s_shared_cache);
    ASSERT_EQ(bad, 0);
}

/* ------------------------------------------------------------ static files */

TEST(static_files_with_content_types)
{
    static const struct {
        const char *path, *ctype, *body;
    } cases[] = {
        {"/", "text/html; charset=utf-8", S_INDEX},
        {"/index.html", "text/html; charset=utf-8", S_INDEX},
        {"/static/app.js", "text/javascript; charset=utf-8", S_APPJS},
        {"/static/style.css", "text/css; charset=utf-8", "body{}\n"},
        {"/static/logo.svg", "image/svg+xml", "<svg/>\n"},
        {"/static/blob.bin", "application/octet-stream", "xyz"},
        {"/static/vendor/v.css", "text/css; charset=utf-8", ".v{}\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_resp_t r;
        ASSERT_EQ(s_wreq("GET", cases[i].path, NULL, &r), 0);
        if (r.status != 200 || strcmp(r.ctype, cases[i].ctype) != 0 ||
            strcmp(r.body, cases[i].body) != 0) {
            fprintf(stderr, "  %s -> %ld %s: %s\n", cases[i].path, r.status, r.ctype, r.body);
            s_resp_free(&r);
            ASSERT(0);
        }
        ASSERT_STREQ(r.cache, "no-cache");
        ASSERT_STREQ(r.nosniff, "nosniff");
        ASSERT_EQ(r.etag[0], '"');
        if (i < 2)
            ASSERT_HAS(r.csp, "default-src 'self'");
        s_resp_free(&r);
    }
    /* HEAD: the headers, no body. */
    s_resp_t r;
    ASSERT_EQ(s_wreq("HEAD", "/static/app.js", NULL, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.len, 0);
    ASSERT_STREQ(r.ctype, "text/javascript; charset=utf-8");
    s_resp_free(&r);
    /* The API is still there beside the files. */
    ASSERT_EQ(s_wreq("GET", "/api/runs", NULL, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_HAS(r.body, "\"r1\"");
    s_resp_free(&r);
}

TEST(static_etag_revalidates_with_304)
{
    s_resp_t r;
    ASSERT_EQ(s_wreq("GET", "/static/app.js", NULL, &r), 0);
    char hdr[128];
    snprintf(hdr, sizeof hdr, "If-None-Match: %s", r.etag);
    s_resp_free(&r);
    ASSERT_EQ(s_wreq("GET", "/static/app.js", hdr, &r), 0);
    ASSERT_EQ(r.status, 304);
    ASSERT_EQ(r.len, 0);
    s_resp_free(&r);
    ASSERT_EQ(s_wreq("GET", "/static/app.js", "If-None-Match: \"stale\"", &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.body, S_APPJS);
    s_resp_free(&r);
}

TEST(static_path_traversal_rejected)
{
    static const char *const paths[] = {
        "/static/../../etc/passwd",
        "/static/../index.html",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fetc%2fpasswd",
        "/static/vendor/../app.js",
        "/static/./app.js",
        "/static//app.js",
        "/static/.hidden",
        "/static/",
        "/static/vendor",
        "/static/vendor/",
        "/static/app.js/",
        "/static/nope.js",
        "/static/a%00.js", /* MHD decodes %00 and the path ends there:
                              "/static/a", which does not exist */
        "/static/link.js", /* a symlink out of the tree */
        "/static/%5c..%5cetc",
        "/../etc/passwd",
        "//etc/passwd",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        s_resp_t r;
        ASSERT_EQ(s_wreq("GET", paths[i], NULL, &r), 0);
        if (r.status != 404 || strstr(r.body, "root:")) {
            fprintf(stderr, "  %s -> %ld %s\n", paths[i], r.status, r.body);
            s_resp_free(&r);
            ASSERT(0);
        }
        s_resp_free(&r);
    }
}

TEST(static_other_methods_are_405)
{
    s_resp_t r;
    ASSERT_EQ(s_wreq("POST", "/static/app.js", NULL, &r), 0);
    ASSERT_EQ(r.status, 405);
    ASSERT_STREQ(r.allow, "GET, HEAD");
    s_resp_free(&r);
}

TEST(no_web_dir_explains_on_root)
{
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/", &r), 0);
    ASSERT_EQ(r.status, 404);
    ASSERT_STREQ(r.ctype, "text/html; charset=utf-8");
    ASSERT_HAS(r.body, "--web DIR");
    s_resp_free(&r);
    ASSERT_EQ(s_req("GET", "/static/app.js", &r), 0);
    ASSERT_EQ(r.status, 404);
    s_resp_free(&r);
}

TEST(web_dir_without_index_fails_at_start)
{
    char err[512] = "";
    http_config_t cfg = {
        .host = "127.0.0.1", .port = 0, .db_path = s_db, .threads = 1, .web_dir = s_dir};
    ASSERT_NULL(http_start(&cfg, err, sizeof err));
    ASSERT_HAS(err, "no index.html");
    ASSERT_HAS(err, s_dir);
}

TEST(find_web_dir_reports_a_directory_with_index)
{
    char dir[4096];
    int rc = http_find_web_dir(dir, sizeof dir);
    if (rc == 0) {
        char p[4200];
        snprintf(p, sizeof p, "%s/index.html", dir);
        struct stat st;
        ASSERT_EQ(dir[0], '/');
        ASSERT_EQ(stat(p, &st), 0);
    } else {
        ASSERT_EQ(rc, -ENOENT);
    }
}

/* ------------------------------------------------------------ errors */

TEST(bad_parameters_are_400_naming_the_parameter)
{
    static const struct {
        const char *path;
        const char *param;
    } cases[] = {
        {"/api/series", "'run'"},
        {"/api/series?tag=train&metric=erank", "'run'"},
        {"/api/series?run=r1&metric=erank", "'tag'"},
        {"/api/series?run=r1&tag=train", "'metric'"},
        {"/api/series?run=&tag=train&metric=erank", "'run'"},
        {"/api/series?run=r1&tag=&metric=erank", "'tag'"},
        {"/api/series?run=r1&tag=train&metric=", "'metric'"},
        {"/api/series?run=r%00x&tag=train&metric=erank", "'run'"},
        {"/api/series?run=r1&tag=train&metric=erank&after=abc", "'after'"},
        {"/api/series?run=r1&tag=train&metric=erank&after=1.5", "'after'"},
        {"/api/series?run=r1&tag=train&metric=erank&after=", "'after'"},
        {"/api/series?run=r1&tag=train&metric=erank&after=%201", "'after'"},
        {"/api/series?run=r1&tag=train&metric=erank&after=-", "'after'"},
        {"/api/series?run=r1&tag=train&metric=erank"
         "&after=9223372036854775808",
         "'after'"},
        {"/api/series?run=r1&tag=train&metric=erank"
         "&before=-9223372036854775809",
         "'before'"},
        {"/api/series?run=r1&tag=train&metric=erank&before=12abc", "'before'"},
        {"/api/series?run=r1&tag=train&metric=erank&before=0x10", "'before'"},
        {"/api/series?run=r1&tag=train&metric=erank&after=5&before=5", "'after'"},
        {"/api/series?run=r1&tag=train&metric=erank&after=6&before=5", "'before'"},
        {"/api/series?run=r1&tag=train&metric=erank&points=0", "'points'"},
        {"/api/series?run=r1&tag=train&metric=erank&points=-1", "'points'"},
        {"/api/series?run=r1&tag=train&metric=erank&points=1000001", "'points'"},
        {"/api/series?run=r1&tag=train&metric=erank&points=3.0", "'points'"},
        {"/api/series?run=r1&tag=train&metric=erank&points=", "'points'"},
        {"/api/series?run=r1&tag=train&metric=erank"
         "&points=99999999999999999999",
         "'points'"},
        {"/api/series?run=r1&tag=train&metric=erank&format=xml", "'format'"},
        {"/api/series?run=r1&tag=train&metric=erank&format=JSON", "'format'"},
        {"/api/runs?format=xml", "'format'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_resp_t r;
        ASSERT_EQ(s_req("GET", cases[i].path, &r), 0);
        if (r.status != 400 || !strstr(r.body, "{\"error\":\"") ||
            !strstr(r.body, cases[i].param)) {
            fprintf(stderr, "  %s -> %ld %s\n", cases[i].path, r.status, r.body);
            s_resp_free(&r);
            ASSERT(0);
        }
        ASSERT_JSON_CT(r);
        s_resp_free(&r);
    }

    /* The largest allowed points value is accepted. */
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=erank&points=1000000", &r), 0);
    ASSERT_EQ(r.status, 200);
    s_resp_free(&r);
}

TEST(unknown_series_is_404)
{
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/api/series?run=r1&tag=train&metric=nope", &r), 0);
    ASSERT_EQ(r.status, 404);
    ASSERT_JSON_CT(r);
    /* the message lists what the run has, so a typo is one look away */
    ASSERT_STREQ(r.body, "{\"error\":\"no series run=r1 tag=train metric=nope; run 'r1' tag "
                         "'train' has: erank, maybe, spa ce/é+&=\"}");
    s_resp_free(&r);
    ASSERT_EQ(s_req("GET", "/api/series?run=zz&tag=train&metric=erank", &r), 0);
    ASSERT_EQ(r.status, 404);
    ASSERT_HAS(r.body, "no run 'zz'");
    s_resp_free(&r);
}

TEST(unknown_route_is_404)
{
    const char *paths[] = {"/api",    "/api/nope",    "/api/runs/", "/api/healthz",
                           "/static", "/favicon.ico", "/index.htm"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        s_resp_t r;
        ASSERT_EQ(s_req("GET", paths[i], &r), 0);
        ASSERT_EQ(r.status, 404);
        ASSERT_JSON_CT(r);
        ASSERT_HAS(r.body, "{\"error\":\"");
        s_resp_free(&r);
    }
}

TEST(other_methods_are_405_with_allow)
{
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        s_resp_t r;
        ASSERT_EQ(s_req(methods[i], "/api/health", &r), 0);
        ASSERT_EQ(r.status, 405);
        ASSERT_STREQ(r.allow, "GET, HEAD");
        ASSERT_JSON_CT(r);
        ASSERT_HAS(r.body, "{\"error\":\"");
        s_resp_free(&r);
    }
}

/* ------------------------------------------------------------ listening */

TEST(port_in_use_gives_clear_message)
{
    char err[256] = "", want[256];
    http_config_t cfg = {.host = "127.0.0.1", .port = s_port, .db_path = s_db, .threads = 1};
    http_t *h = http_start(&cfg, err, sizeof err);
    ASSERT_NULL(h);
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d: Address already in use", s_port);
    ASSERT_STREQ(err, want);
    /* The first server is unharmed. */
    s_resp_t r;
    ASSERT_EQ(s_req("GET", "/api/health", &r), 0);
    ASSERT_EQ(r.status, 200);
    s_resp_free(&r);
}

TEST(bad_host_and_port_are_rejected)
{
    char err[256] = "";
    http_config_t cfg = {.host = "no.such.host.invalid", .port = 0, .db_path = s_db, .threads = 1};
    ASSERT_NULL(http_start(&cfg, err, sizeof err));
    ASSERT_HAS(err, "cannot listen on no.such.host.invalid:0: ");
    cfg.host = "127.0.0.1";
    cfg.port = 70000;
    ASSERT_NULL(http_start(&cfg, err, sizeof err));
    ASSERT_HAS(err, "port");
}

static int s_have_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

TEST(ipv6_loopback)
{
    if (!s_have_ipv6_loopback()) {
        printf("# skip ipv6_loopback: no IPv6 loopback on this machine\n");
        return;
    }
    char err[256] = "";
    http_config_t cfg = {
        .host = "::1", .port = 0, .db_path = s_db, .threads = 2, .stats = &s_stats};
    http_t *h = http_start(&cfg, err, sizeof err);
    if (!h)
        T_FAIL_("http_start ::1: %s", err);
    char url[128];
    snprintf(url, sizeof url,
             "http://[::1]:%d/api/series?run=r1&tag=train"
             "&metric=erank&points=3",
             http_port(h));
    s_resp_t r;
    int rc = s_fetch("GET", url, &r);
    http_stop(&h);
    ASSERT_NULL(h);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_HAS(r.body, "\"bucketed\":true");
    s_resp_free(&r);

    /* Bracketed form, as written in URLs, works too. */
    cfg.host = "[::1]";
    h = http_start(&cfg, err, sizeof err);
    if (!h)
        T_FAIL_("http_start [::1]: %s", err);
    http_stop(&h);
}

TEST(localhost_is_allowed)
{
    char err[256] = "";
    http_config_t cfg = {.host = "localhost", .port = 0, .db_path = s_db, .threads = 1};
    http_t *h = http_start(&cfg, err, sizeof err);
    if (!h)
        T_FAIL_("http_start localhost: %s", err);
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/api/health", http_port(h));
    s_resp_t r;
    int rc = s_fetch("GET", url, &r);
    http_stop(&h);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(r.status, 200);
    /* No stats and no queues: zeros, not a crash. */
    ASSERT_HAS(r.body, "\"received\":0");
    ASSERT_HAS(r.body, "\"queue\":{\"in\":{\"items\":0,\"bytes\":0}");
    s_resp_free(&r);
}

/* ------------------------------------------------------------ database */

TEST(missing_database_is_503)
{
    char err[256] = "", db[160];
    snprintf(db, sizeof db, "%s/not-yet.db", s_dir);
    http_config_t cfg = {.host = "127.0.0.1", .port = 0, .db_path = db, .threads = 2};
    http_t *h = http_start(&cfg, err, sizeof err);
    if (!h)
        T_FAIL_("http_start: %s", err);
    char url[256];
    s_resp_t r;
    long status[3];
    char body[3][2048];
    const char *paths[3] = {"/api/runs", "/api/series?run=r1&tag=train&metric=erank",
                            "/api/health"};
    for (int i = 0; i < 3; i++) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", http_port(h), paths[i]);
        status[i] = s_fetch("GET", url, &r) == 0 ? r.status : -1;
        snprintf(body[i], sizeof body[i], "%s", r.body ? r.body : "");
        s_resp_free(&r);
    }
    http_stop(&h);
    ASSERT_EQ(status[0], 503);
    ASSERT_STREQ(body[0], "{\"error\":\"database not ready\"}");
    ASSERT_EQ(status[1], 503);
    ASSERT_STREQ(body[1], "{\"error\":\"database not ready\"}");
    ASSERT_EQ(status[2], 200);
    ASSERT_HAS(body[2], "\"client_dropped\":0");
    /* Looking must not create the file. */
    struct stat st;
    ASSERT_NE(stat(db, &st), 0);
    ASSERT_EQ(errno, ENOENT);
}

/* Many clients at once: the read pool hands out connections safely and
 * every answer is complete (run under `make tsan` too). */
#define S_CLIENTS 8
#define S_REQS 20

static void *s_client(void *arg)
{
    intptr_t bad = 0;
    (void)arg;
    for (int i = 0; i < S_REQS; i++) {
        s_resp_t r;
        const char *path = (i % 3 == 0)   ? "/api/runs"
                           : (i % 3 == 1) ? "/api/health"
                                          : "/api/series?run=r1&tag=train"
                                            "&metric=erank&points=7";
        if (s_req("GET", path, &r) != 0 || r.status != 200 || r.len == 0 ||
            r.body[r.len - 1] != '}')
            bad++;
        s_resp_free(&r);
    }
    return (void *)bad;
}

TEST(concurrent_requests)
{
    pthread_t t[S_CLIENTS];
    for (int i = 0; i < S_CLIENTS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, s_client, NULL), 0);
    intptr_t bad = 0;
    for (int i = 0; i < S_CLIENTS; i++) {
        void *b;
        pthread_join(t[i], &b);
        bad += (intptr_t)b;
    }
    ASSERT_EQ(bad, 0);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    if (s_setup() != 0) {
        s_teardown();
        curl_global_cleanup();
        printf("not ok setup\n# 0 passed, 1 failed\n");
        return 1;
    }
    int rc = test_main((test_case_t[]){
        T(health_fields_and_counters),
        T(head_has_headers_no_body),
        T(runs_json_lists_runs),
        T(runs_csv),
        T(series_values_equal_written),
        T(series_nan_is_null),
        T(series_open_range_after_before),
        T(series_bucketed_keeps_spike),
        T(series_csv),
        T(series_name_needing_url_encoding),
        T(series_reference_levels),
        T(series_wall_time_on_request),
        T(series_streamed_buckets_equal_downsample),
        T(polling_after_last_step),
        T(spectrum_route),
        T(cache_answers_equal_sqlite_and_follow_writes),
        T(cache_shared_by_concurrent_readers),
        T(static_files_with_content_types),
        T(static_etag_revalidates_with_304),
        T(static_path_traversal_rejected),
        T(static_other_methods_are_405),
        T(no_web_dir_explains_on_root),
        T(web_dir_without_index_fails_at_start),
        T(find_web_dir_reports_a_directory_with_index),
        T(bad_parameters_are_400_naming_the_parameter),
        T(unknown_series_is_404),
        T(unknown_route_is_404),
        T(other_methods_are_405_with_allow),
        T(port_in_use_gives_clear_message),
        T(bad_host_and_port_are_rejected),
        T(ipv6_loopback),
        T(localhost_is_allowed),
        T(missing_database_is_503),
        T(concurrent_requests),
        {0},
    });
    s_teardown();
    curl_global_cleanup();
    return rc;
}
