/* query_pair.c: the query side on two databases holding the same rows, for
 * tests/integration/test_query_pg.py (SQLite vs PostgreSQL). Not a test
 * suite itself: it prints TAP-like lines the Python suite relays.
 *
 *   query_pair compare DB_A DB_B [SEED]
 *       calls every query.h function on both with the same arguments (every
 *       run filter, series windows and point budgets at random, spectra,
 *       alerts filters, run lookups, latest, client_dropped) and prints
 *       "ok NAME (N calls)" or "not ok NAME" with both answers of the first
 *       difference. Exit 0 when everything agreed.
 *   query_pair serve DB [DB...]
 *       serves each database through http.c on an ephemeral loopback port
 *       (no writer, no stats), prints "port N" per database, and stops when
 *       stdin closes.
 *
 * DB_A's answers decide what is asked (the series, tags and launches it
 * lists); A's "alerts" objects may lack "daemon" (a SQLite file older than
 * that column), which is then removed from B's before comparing.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "query.h"
#include "strbuf.h"

typedef struct {
    const char *name;
    long calls, failed;
    long bucketed, grid; /* series answers bucketed; of them on the summaries' grid */
} s_check_t;

static query_t *s_a, *s_b;
static int s_failed;
static uint64_t s_rng = 88172645463325252ull;

static uint64_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static int64_t s_plus(int64_t v, int64_t d) /* v + d, d >= 0, saturating */
{
    return v > INT64_MAX - d ? INT64_MAX : v + d;
}

static int64_t s_between(int64_t lo, int64_t hi) /* inclusive, hi >= lo */
{
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    return span == 0 ? (int64_t)s_rand() : (int64_t)((uint64_t)lo + s_rand() % span);
}

/* Records one comparison; prints the first difference of each check. */
static void s_same(s_check_t *c, int equal, const char *what, const char *a, const char *b)
{
    c->calls++;
    if (equal)
        return;
    if (c->failed++ == 0)
        printf("# %s: %s differs\n#   A: %.3000s\n#   B: %.3000s\n", c->name, what, a, b);
}

static void s_done(s_check_t *c)
{
    if (c->failed) {
        printf("not ok %s (%ld of %ld calls differ)\n", c->name, c->failed, c->calls);
        s_failed = 1;
    } else {
        printf("ok %s (%ld calls", c->name, c->calls);
        if (c->bucketed)
            printf(", %ld bucketed, %ld of them wide enough for the summaries", c->bucketed,
                   c->grid);
        printf(")\n");
    }
    fflush(stdout);
}

/* Removes "daemon":<string>, after "id":N from every alert of s (in place). */
static void s_strip_daemon(strbuf_t *s)
{
    char *p;
    while ((p = strstr(s->data, ",\"daemon\":\"")) != NULL) {
        char *q = p + 11;
        while (*q && *q != '"') {
            if (*q == '\\' && q[1])
                q++;
            q++;
        }
        if (*q)
            q++;
        memmove(p, q, strlen(q) + 1);
        s->len = strlen(s->data);
    }
}

/* Both calls' code and text: "rc=N err=E out=...". */
static void s_describe(strbuf_t *d, long rc, const char *err, const strbuf_t *out)
{
    strbuf_printf(d, "rc=%ld err=%s out=%s", rc, rc < 0 ? err : "", out ? out->data : "");
}

static void s_cmp_text(s_check_t *c, const char *what, long ra, const char *ea, strbuf_t *oa,
                       long rb, const char *eb, strbuf_t *ob)
{
    strbuf_t da, db;
    strbuf_init(&da);
    strbuf_init(&db);
    /* Messages carry each database's name and driver wording: codes and
     * outputs must agree; the text of a database error need not. */
    s_describe(&da, ra, "", oa);
    s_describe(&db, rb, "", ob);
    s_same(c, strcmp(da.data, db.data) == 0, what, da.data, db.data);
    if (ra < 0 && ra != -ENOENT)
        printf("# %s: %s failed on A: %s\n", c->name, what, ea);
    if (rb < 0 && rb != -ENOENT)
        printf("# %s: %s failed on B: %s\n", c->name, what, eb);
    strbuf_free(&da);
    strbuf_free(&db);
}

/* ---------------------------------------------------------------- series */

static int s_dbl_same(double x, double y)
{
    return (isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof x) == 0;
}

static void s_series_text(strbuf_t *b, int rc, const series_t *s)
{
    strbuf_printf(b, "rc=%d n=%zu bucketed=%d time=%d:", rc, s->n, s->bucketed, s->time != NULL);
    for (size_t i = 0; i < s->n && b->len < 2500; i++) {
        strbuf_printf(b, " %" PRId64 "=%a", s->step[i], s->value[i]);
        if (s->bucketed)
            strbuf_printf(b, "[%a,%a]", s->min[i], s->max[i]);
        if (s->time)
            strbuf_printf(b, "@%a", s->time[i]);
    }
}

static int s_series_equal(int ra, const series_t *a, int rb, const series_t *b)
{
    if (ra != rb || a->n != b->n || a->bucketed != b->bucketed || !a->time != !b->time)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->step[i] != b->step[i] || !s_dbl_same(a->value[i], b->value[i]))
            return 0;
        if (a->bucketed && (!s_dbl_same(a->min[i], b->min[i]) || !s_dbl_same(a->max[i], b->max[i])))
            return 0;
        if (a->time && !s_dbl_same(a->time[i], b->time[i]))
            return 0;
    }
    return 1;
}

static void s_cmp_series(s_check_t *c, const char *what, int ra, series_t *a, int rb, series_t *b)
{
    int eq = s_series_equal(ra, a, rb, b);
    if (ra == 0 && a->bucketed && a->n > 0) {
        c->bucketed++;
        c->grid += downsample_grid(a->step[0], a->step[a->n - 1], a->n) > 0;
    }
    strbuf_t ta, tb;
    strbuf_init(&ta);
    strbuf_init(&tb);
    if (!eq) {
        s_series_text(&ta, ra, a);
        s_series_text(&tb, rb, b);
    }
    s_same(c, eq, what, ta.data, tb.data);
    strbuf_free(&ta);
    strbuf_free(&tb);
    series_free(a);
    series_free(b);
}

static const size_t s_budgets[] = {1, 2, 3, 5, 17, 100, 257, 1000, 2000, 4000, 100000};

/* v - 1, v or v + 1 at random, saturating at the ends of int64_t (a
 * series may hold step 2^63 - 1). */
static int64_t s_nudge(int64_t v)
{
    int64_t d = (int64_t)(s_rand() % 3) - 1;
    if ((d > 0 && v == INT64_MAX) || (d < 0 && v == INT64_MIN))
        return v;
    return v + d;
}

/* A random window bound around [lo, hi] (the series' steps). */
static int64_t s_bound(int64_t lo, int64_t hi, int open)
{
    switch (s_rand() % 6) {
    case 0:
        return open;
    case 1:
        return s_nudge(lo);
    case 2:
        return s_nudge(hi);
    default:
        return s_between(lo, hi);
    }
}

static void s_one_series(s_check_t *raw, s_check_t *view, const char *run, const char *tag,
                         const char *metric, int windows)
{
    char ea[256] = "", eb[256] = "", what[512];
    series_t a, b;
    int ra = query_series(s_a, run, tag, metric, INT64_MIN, INT64_MAX, &a, ea, sizeof ea);
    int rb = query_series(s_b, run, tag, metric, INT64_MIN, INT64_MAX, &b, eb, sizeof eb);
    int64_t lo = ra == 0 && a.n ? a.step[0] : 0, hi = ra == 0 && a.n ? a.step[a.n - 1] : 0;
    if (ra == 0 && a.n > 2000)
        windows *= 4; /* the long series: wide windows, summaries on SQLite's side */
    snprintf(what, sizeof what, "series(%s, %s, %s) whole", run, tag, metric);
    s_cmp_series(raw, what, ra, &a, rb, &b);
    if (lo > hi)
        return;
    for (int w = 0; w < windows; w++) {
        int64_t after = s_bound(lo, hi, 0), before = s_bound(lo, hi, 0);
        if (s_rand() % 4 == 0)
            after = INT64_MIN;
        if (s_rand() % 4 == 0)
            before = INT64_MAX;
        if (after > before) {
            int64_t t = after;
            after = before;
            before = t;
        }
        if (after == before)
            before = before == INT64_MAX ? before : before + 1;
        if (after >= before)
            continue;
        query_view_t v = {.run = run,
                          .tag = tag,
                          .metric = metric,
                          .after = after,
                          .before = before,
                          .points = s_budgets[s_rand() % (sizeof s_budgets / sizeof s_budgets[0])],
                          .with_time = (int)(s_rand() % 2)};
        snprintf(what, sizeof what,
                 "view(%s, %s, %s, after=%" PRId64 ", before=%" PRId64 ", points=%zu, time=%d)",
                 run, tag, metric, after, before, v.points, v.with_time);
        ra = query_series_view(s_a, &v, &a, ea, sizeof ea);
        rb = query_series_view(s_b, &v, &b, eb, sizeof eb);
        s_cmp_series(view, what, ra, &a, rb, &b);
        if (w % 8 == 0) {
            ra = query_series(s_a, run, tag, metric, after, before, &a, ea, sizeof ea);
            rb = query_series(s_b, run, tag, metric, after, before, &b, eb, sizeof eb);
            s_cmp_series(raw, what, ra, &a, rb, &b);
        }
    }
}

/* ---------------------------------------------------------------- the rest */

typedef int (*s_text_fn)(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen);

static void s_cmp_call(s_check_t *c, const char *what, s_text_fn fn, void *arg, int strip)
{
    strbuf_t oa, ob;
    strbuf_init(&oa);
    strbuf_init(&ob);
    char ea[256] = "", eb[256] = "";
    int ra = fn(s_a, arg, &oa, ea, sizeof ea);
    int rb = fn(s_b, arg, &ob, eb, sizeof eb);
    if (strip && !strstr(oa.data, "\"daemon\":"))
        s_strip_daemon(&ob);
    s_cmp_text(c, what, ra, ea, &oa, rb, eb, &ob);
    strbuf_free(&oa);
    strbuf_free(&ob);
}

typedef struct {
    const query_runs_filter_t *f;
    int csv;
} s_runs_arg_t;

static int s_runs_fn(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen)
{
    s_runs_arg_t *r = arg;
    if (!r->f)
        return query_runs(q, out, r->csv, err, errlen);
    return query_runs_filtered(q, r->f, out, r->csv, ",\"x\":1", err, errlen);
}

static int s_alerts_fn(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen)
{
    return query_alerts(q, arg, out, err, errlen);
}

static int s_run_fn(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen)
{
    return query_run(q, arg, out, err, errlen);
}

typedef struct {
    const char *run, *tag;
    int64_t after, before;
    size_t points;
} s_spec_arg_t;

static int s_spec_fn(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen)
{
    s_spec_arg_t *s = arg;
    return query_spectrum(q, s->run, s->tag, s->after, s->before, s->points, out, err, errlen);
}

static int s_shape_fn(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen)
{
    const char **rt = arg;
    query_shape_t sh;
    int rc = query_batch_shape(q, rt[0], rt[1], &sh, err, errlen);
    if (rc == 0)
        strbuf_printf(out, "%" PRId64 " %" PRId64 " %" PRId64 " %a %d", sh.step, sh.n, sh.d,
                      sh.kappa, sh.discrete);
    return rc;
}

static int s_hint_fn(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen)
{
    const char **rt = arg;
    (void)err;
    (void)errlen;
    return query_series_hint(q, rt[0], rt[1], out);
}

static int s_latest_cb(void *ctx, const char *run, const char *tag, const char *metric,
                       int64_t step, double value)
{
    strbuf_printf(ctx, "%s|%s|%s|%" PRId64 "|%a\n", run, tag, metric, step, value);
    return 0;
}

typedef struct {
    double since;
    size_t limit;
} s_latest_arg_t;

static int s_latest_fn(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen)
{
    s_latest_arg_t *l = arg;
    int more = 0;
    long n = query_latest(q, l->since, l->limit, s_latest_cb, out, &more, err, errlen);
    strbuf_printf(out, "n=%ld more=%d", n, more);
    return n < 0 ? (int)n : 0;
}

static int s_dropped_fn(query_t *q, void *arg, strbuf_t *out, char *err, size_t errlen)
{
    (void)arg;
    (void)err;
    (void)errlen;
    strbuf_printf(out, "%" PRId64, query_client_dropped(q));
    return 0;
}

/* ---------------------------------------------------------------- compare */

static int s_compare(const char *da, const char *dbb)
{
    char err[512];
    int rc = query_open(&s_a, da, err, sizeof err);
    if (rc != 0) {
        printf("not ok open A (%d: %s)\n", rc, err);
        return 1;
    }
    rc = query_open(&s_b, dbb, err, sizeof err);
    if (rc != 0) {
        printf("not ok open B (%d: %s)\n", rc, err);
        query_close(&s_a);
        return 1;
    }

    /* What A has: the run list decides what is asked. */
    strbuf_t list;
    strbuf_init(&list);
    if (query_runs(s_a, &list, 0, err, sizeof err) != 0) {
        printf("not ok runs on A: %s\n", err);
        return 1;
    }
    json_error_t jerr;
    json_t *root = json_loads(list.data, 0, &jerr);
    json_t *runs = json_object_get(root, "runs");
    size_t nruns = json_array_size(runs);
    printf("# A has %zu runs\n", nruns);

    s_check_t c_runs = {"runs", 0, 0, 0, 0}, c_filt = {"runs_filtered", 0, 0, 0, 0},
              c_raw = {"series", 0, 0, 0, 0}, c_view = {"series_view", 0, 0, 0, 0},
              c_hint = {"series_hint", 0, 0, 0, 0}, c_shape = {"batch_shape", 0, 0, 0, 0},
              c_spec = {"spectrum", 0, 0, 0, 0}, c_latest = {"latest", 0, 0, 0, 0},
              c_alerts = {"alerts", 0, 0, 0, 0}, c_run = {"run", 0, 0, 0, 0},
              c_drop = {"client_dropped", 0, 0, 0, 0};

    for (int csv = 0; csv < 2; csv++) {
        s_runs_arg_t ra = {NULL, csv};
        s_cmp_call(&c_runs, csv ? "runs csv" : "runs json", s_runs_fn, &ra, 0);
    }

    /* runs_filtered: every filter alone and combined, pages, csv */
    const char *matches[] = {NULL,    "a",          "A", "_",  "%",  "\\",
                             "mixed", "MIXED CASE", "ü", "zz", "pha"};
    for (size_t m = 0; m < sizeof matches / sizeof *matches; m++) {
        for (int k = 0; k < 12; k++) {
            query_runs_filter_t f;
            memset(&f, 0, sizeof f);
            f.match = matches[m];
            f.limit = k % 3 == 0 ? -1 : (int64_t)(s_rand() % 5);
            f.offset = k % 4 == 0 ? 0 : (int64_t)(s_rand() % 4);
            if (k % 3 == 1 && nruns) {
                f.nnames = 1 + s_rand() % 3;
                for (size_t i = 0; i < f.nnames; i++)
                    f.names[i] = json_string_value(
                        json_object_get(json_array_get(runs, s_rand() % nruns), "run"));
                f.names[f.nnames++] = "no such run";
            }
            if (k % 5 == 2 && nruns) {
                f.nids = 1 + s_rand() % 3;
                for (size_t i = 0; i < f.nids; i++)
                    f.ids[i] = (int64_t)json_integer_value(
                        json_object_get(json_array_get(runs, s_rand() % nruns), "id"));
                f.ids[f.nids++] = 999999;
            }
            if (k % 2 == 1 && nruns) {
                f.has_since = 1;
                json_t *ls = json_object_get(json_array_get(runs, s_rand() % nruns), "last_seen");
                f.since = json_is_number(ls) ? json_number_value(ls) : 0;
                if (k % 4 == 3)
                    f.since += 1e-3;
            }
            char what[256];
            snprintf(what, sizeof what, "runs_filtered(match=%s, k=%d)", f.match ? f.match : "-",
                     k);
            s_runs_arg_t ra = {&f, k % 6 == 5};
            s_cmp_call(&c_filt, what, s_runs_fn, &ra, 0);
        }
    }

    /* every series, every tag */
    for (size_t i = 0; i < nruns; i++) {
        json_t *r = json_array_get(runs, i);
        const char *run = json_string_value(json_object_get(r, "run"));
        json_t *tags = json_object_get(r, "tags");
        const char *unknown[2][2] = {{run, "no-such-tag"}, {"no-such-run", "t"}};
        for (int u = 0; u < 2; u++) {
            s_cmp_call(&c_hint, "hint unknown", s_hint_fn, unknown[u], 0);
            s_cmp_call(&c_shape, "shape unknown", s_shape_fn, unknown[u], 0);
        }
        for (size_t t = 0; t < json_array_size(tags); t++) {
            json_t *tg = json_array_get(tags, t);
            const char *tag = json_string_value(json_object_get(tg, "tag"));
            const char *rt[2] = {run, tag};
            s_cmp_call(&c_hint, "hint", s_hint_fn, rt, 0);
            s_cmp_call(&c_shape, "shape", s_shape_fn, rt, 0);
            json_t *metrics = json_object_get(tg, "metrics");
            for (size_t m = 0; m < json_array_size(metrics); m++)
                s_one_series(&c_raw, &c_view, run, tag,
                             json_string_value(json_array_get(metrics, m)), 60);
            series_t a, b;
            char ea[256], eb[256];
            int xa = query_series(s_a, run, tag, "no-such-metric", INT64_MIN, INT64_MAX, &a, ea,
                                  sizeof ea);
            int xb = query_series(s_b, run, tag, "no-such-metric", INT64_MIN, INT64_MAX, &b, eb,
                                  sizeof eb);
            s_cmp_series(&c_raw, "unknown metric", xa, &a, xb, &b);
            /* spectra: whole, random windows and budgets */
            int64_t last = json_integer_value(json_object_get(tg, "last_step"));
            for (int w = 0; w < 25; w++) {
                s_spec_arg_t sa = {run, tag, INT64_MIN, INT64_MAX, 1000};
                if (w > 0) {
                    sa.after = w % 3 == 0 ? INT64_MIN : s_between(-2, s_plus(last, 2));
                    sa.before = w % 5 == 0 ? INT64_MAX : s_between(sa.after, s_plus(last, 3));
                    if (sa.before <= sa.after)
                        sa.before = s_plus(sa.after, 1);
                    sa.points = s_budgets[s_rand() % 9];
                }
                char what[256];
                snprintf(what, sizeof what, "spectrum(%s, %s, %" PRId64 ", %" PRId64 ", %zu)", run,
                         tag, sa.after, sa.before, sa.points);
                s_cmp_call(&c_spec, what, s_spec_fn, &sa, 0);
            }
        }
        s_spec_arg_t none = {run, "no-such-tag", INT64_MIN, INT64_MAX, 10};
        s_cmp_call(&c_spec, "spectrum unknown tag", s_spec_fn, &none, 0);

        /* run: by name, by its launches, as a resume of its base */
        query_run_key_t k = {.run = run};
        s_cmp_call(&c_run, "run by name", s_run_fn, &k, 0);
        strbuf_t one;
        strbuf_init(&one);
        if (query_run(s_a, &k, &one, err, sizeof err) == 0) {
            json_t *o = json_loads(one.data, 0, &jerr);
            json_t *ls = json_object_get(o, "launches");
            for (size_t l = 0; l < json_array_size(ls); l++) {
                json_t *x = json_array_get(ls, l);
                query_run_key_t kl = {.launch = json_string_value(json_object_get(x, "launch")),
                                      .name = json_string_value(json_object_get(x, "name"))};
                if (kl.launch && kl.name)
                    s_cmp_call(&c_run, "run by launch", s_run_fn, &kl, 0);
            }
            const char *base = json_string_value(json_object_get(o, "base"));
            query_run_key_t kr = {.resume = base ? base : run};
            s_cmp_call(&c_run, "run by resume", s_run_fn, &kr, 0);
            json_decref(o);
        }
        strbuf_free(&one);
    }
    query_run_key_t kn = {.run = "no such run"}, kl = {.launch = "nope", .name = "x"},
                    kr = {.resume = "nope"};
    s_cmp_call(&c_run, "run unknown", s_run_fn, &kn, 0);
    s_cmp_call(&c_run, "launch unknown", s_run_fn, &kl, 0);
    s_cmp_call(&c_run, "resume unknown", s_run_fn, &kr, 0);

    /* alerts: every state set, run and tag filters, limits */
    const char *alert_runs[] = {NULL, "bad-run", "good-run", "nope"};
    const char *alert_tags[] = {NULL, "proj", "enc"};
    for (unsigned states = 0; states < 16; states += 2)
        for (size_t r = 0; r < 4; r++)
            for (size_t t = 0; t < 3; t++) {
                alerts_filter_t f = {.run = alert_runs[r],
                                     .tag = alert_tags[t],
                                     .states = states,
                                     .limit = (size_t)(s_rand() % 3 == 0 ? 1 + s_rand() % 3 : 0)};
                s_cmp_call(&c_alerts, "alerts", s_alerts_fn, &f, 1);
            }

    /* latest: everything, a cut, recent runs only */
    for (int l = 0; l < 12; l++) {
        s_latest_arg_t la = {0, l % 3 == 0 ? 1000000 : (size_t)(1 + s_rand() % 20)};
        if (l % 2 == 1 && nruns) {
            json_t *ls = json_object_get(json_array_get(runs, s_rand() % nruns), "last_seen");
            la.since = json_is_number(ls) ? json_number_value(ls) : 0;
        }
        s_cmp_call(&c_latest, "latest", s_latest_fn, &la, 0);
    }
    s_cmp_call(&c_drop, "client_dropped", s_dropped_fn, NULL, 0);

    s_check_t *all[] = {&c_runs, &c_filt, &c_raw,    &c_view,   &c_hint, &c_shape,
                        &c_spec, &c_run,  &c_alerts, &c_latest, &c_drop};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        s_done(all[i]);
    json_decref(root);
    strbuf_free(&list);
    query_close(&s_a);
    query_close(&s_b);
    return s_failed;
}

/* ---------------------------------------------------------------- serve */

static int s_serve(int n, char **dbs)
{
    http_t *h[8] = {0};
    int rc = 0;
    for (int i = 0; i < n && i < 8; i++) {
        char err[512];
        http_config_t cfg = {.host = "127.0.0.1", .port = 0, .db_path = dbs[i], .threads = 4};
        h[i] = http_start(&cfg, err, sizeof err);
        if (!h[i]) {
            printf("error %s\n", err);
            rc = 1;
            break;
        }
        printf("port %d\n", http_port(h[i]));
    }
    fflush(stdout);
    if (rc == 0) {
        char line[256];
        while (fgets(line, sizeof line, stdin))
            ;
    }
    for (int i = 0; i < 8; i++)
        http_stop(&h[i]);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "compare") == 0) {
        if (argc >= 5)
            s_rng ^= strtoull(argv[4], NULL, 10) * 0x9E3779B97F4A7C15ull;
        return s_compare(argv[2], argv[3]);
    }
    if (argc >= 3 && strcmp(argv[1], "serve") == 0)
        return s_serve(argc - 2, argv + 2);
    fprintf(stderr, "usage: query_pair compare DB_A DB_B [SEED] | serve DB...\n");
    return 2;
}
