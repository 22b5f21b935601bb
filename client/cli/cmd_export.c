/* cmd_export.c: `erwatch export RUN [--tag T] [--format csv|json]`, one
 * run's series as one wide table: a row per step, a column per metric and
 * scalar, the shape pandas users reach for (pd.read_csv / pd.read_json).
 *
 * It reads the daemon's HTTP API as `erwatch query` does (api.h): the run's
 * series from /api/runs, then each series whole from /api/series (never
 * bucketed: a series too long for one answer is refused with a message,
 * not thinned). The series come sorted by step, so the table is a k-way
 * merge of their step arrays; a metric without a point at a step, or an
 * undefined one (null), is an empty cell (null in JSON).
 */
#include "api.h"
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const S_CMD = "erwatch export";

/* The most points one /api/series answer gives (daemon/params.h). */
#define S_POINTS_MAX "1000000"

static void s_usage(FILE *f)
{
    fprintf(f, "usage: erwatch export RUN [--tag T] [--format csv|json] [--http URL]\n"
               "                      [--after S] [--before S]\n"
               "\n"
               "Prints one run's series as one wide table: a row per step, a column\n"
               "per metric and scalar, ready for pandas:\n"
               "\n"
               "  erwatch export RUN > run.csv;   pd.read_csv('run.csv')\n"
               "  erwatch export RUN --format json > run.json;   pd.read_json('run.json')\n"
               "\n"
               "Columns: step, time (the batch's wall clock, Unix seconds), then one per\n"
               "series, named after the metric, or TAG/METRIC when the run has several\n"
               "tags and --tag does not pick one. A missing or undefined value is an\n"
               "empty cell (null in JSON). JSON: an array of one object per row.\n"
               "\n"
               "options:\n"
               "  --tag T             only the series of tag T\n"
               "  --format F          csv (default) or json\n"
               "  --http URL          API base URL (default $ERWATCH_HTTP, else\n"
               "                      http://127.0.0.1:8080)\n"
               "  --after S, --before S   only steps > S, < S\n"
               "  -h, --help          this help\n");
}

typedef struct {
    char *name;                  /* the column's name */
    json_t *answer;              /* the /api/series answer, owned */
    json_t *step, *value, *time; /* its arrays (borrowed) */
    size_t at;                   /* next point to merge */
} s_col_t;

static int64_t s_step_at(const s_col_t *c)
{
    return (int64_t)json_integer_value(json_array_get(c->step, c->at));
}

/* The run's object from /api/runs, or NULL with *rc set (message printed). */
static json_t *s_find_run(cli_api_t *api, const char *run, json_t **all, int *rc)
{
    *all = cli_api_get_json(api, "/api/runs", NULL, rc);
    if (!*all)
        return NULL;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(*all, "runs"), i, r)
    {
        const char *name = json_string_value(json_object_get(r, "run"));
        if (name && strcmp(name, run) == 0)
            return r;
    }
    *rc =
        cli_fail(S_CMD, CLI_RUNTIME, "no run '%s' at %s (see erwatch query runs)", run, api->base);
    return NULL;
}

/* Fetches every (tag, metric) series of the run into cols (caller frees). */
static int s_fetch(cli_api_t *api, const char *run, const json_t *r, const char *only_tag,
                   const char *after, const char *before, s_col_t **cols_out, size_t *ncols)
{
    const json_t *tags = json_object_get(r, "tags");
    size_t ntags = 0, i;
    json_t *tag;
    json_array_foreach(tags, i, tag)
    {
        const char *tn = json_string_value(json_object_get(tag, "tag"));
        if (!only_tag || (tn && strcmp(tn, only_tag) == 0))
            ntags++;
    }
    if (ntags == 0) {
        char list[1024] = "";
        size_t len = 0;
        json_array_foreach(tags, i, tag)
        {
            int n = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                             json_string_value(json_object_get(tag, "tag")));
            if (n > 0 && (size_t)n < sizeof list - len)
                len += (size_t)n;
        }
        if (only_tag)
            return cli_fail(S_CMD, CLI_RUNTIME, "run '%s' has no tag '%s' (its tags: %s)", run,
                            only_tag, *list ? list : "none");
        return cli_fail(S_CMD, CLI_RUNTIME, "run '%s' has no series yet", run);
    }
    s_col_t *cols = NULL;
    size_t n = 0;
    int rc = 0;
    json_array_foreach(tags, i, tag)
    {
        const char *tn = json_string_value(json_object_get(tag, "tag"));
        if (!tn || (only_tag && strcmp(tn, only_tag) != 0))
            continue;
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(tag, "metrics"), k, m)
        {
            const char *mn = json_string_value(m);
            if (!mn || rc != 0)
                continue;
            const char *params[16] = {"run", run,      "tag",        tn,     "metric",
                                      mn,    "points", S_POINTS_MAX, "time", "1"};
            size_t np = 10;
            if (after) {
                params[np++] = "after";
                params[np++] = after;
            }
            if (before) {
                params[np++] = "before";
                params[np++] = before;
            }
            params[np] = NULL;
            json_t *ans = cli_api_get_json(api, "/api/series", params, &rc);
            if (!ans)
                break;
            if (json_is_true(json_object_get(ans, "bucketed"))) {
                json_decref(ans);
                rc = cli_fail(S_CMD, CLI_RUNTIME,
                              "series %s/%s has more than %s points; "
                              "export it in parts with --after and --before",
                              tn, mn, S_POINTS_MAX);
                break;
            }
            s_col_t *nc = realloc(cols, (n + 1) * sizeof *cols);
            size_t len = strlen(tn) + strlen(mn) + 2;
            char *name = malloc(len);
            if (!nc || !name) {
                free(name);
                if (nc)
                    cols = nc;
                json_decref(ans);
                rc = cli_fail(S_CMD, CLI_RUNTIME, "out of memory");
                break;
            }
            cols = nc;
            if (ntags > 1)
                snprintf(name, len, "%s/%s", tn, mn);
            else
                snprintf(name, len, "%s", mn);
            cols[n++] = (s_col_t){.name = name,
                                  .answer = ans,
                                  .step = json_object_get(ans, "step"),
                                  .value = json_object_get(ans, "value"),
                                  .time = json_object_get(ans, "time")};
        }
        if (rc != 0)
            break;
    }
    *cols_out = cols;
    *ncols = n;
    return rc;
}

static void s_json_key(const char *k)
{
    json_t *s = json_string(k);
    char *txt = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    fputs(txt ? txt : "\"?\"", stdout);
    free(txt);
    json_decref(s);
}

/* Writes the merged table. */
static void s_write(s_col_t *cols, size_t ncols, int json)
{
    char num[32];
    if (json) {
        fputs("[", stdout);
    } else {
        fputs("step,time", stdout);
        for (size_t c = 0; c < ncols; c++) {
            putchar(',');
            cli_csv_field(stdout, cols[c].name);
        }
        putchar('\n');
    }
    for (int first = 1;; first = 0) {
        int any = 0;
        int64_t step = 0;
        for (size_t c = 0; c < ncols; c++) {
            if (cols[c].at >= json_array_size(cols[c].step))
                continue;
            int64_t s = s_step_at(&cols[c]);
            if (!any || s < step)
                step = s;
            any = 1;
        }
        if (!any)
            break;
        /* the row's time: the first series with a point at this step */
        double t = NAN;
        for (size_t c = 0; c < ncols && isnan(t); c++)
            if (cols[c].at < json_array_size(cols[c].step) && s_step_at(&cols[c]) == step &&
                json_is_number(json_array_get(cols[c].time, cols[c].at)))
                t = json_number_value(json_array_get(cols[c].time, cols[c].at));
        if (json) {
            printf("%s\n{\"step\":%" PRId64 ",\"time\":%s", first ? "" : ",", step,
                   isnan(t) ? "null" : cli_fmt_num(num, t));
        } else {
            printf("%" PRId64 ",%s", step, cli_fmt_num(num, t));
        }
        for (size_t c = 0; c < ncols; c++) {
            s_col_t *col = &cols[c];
            const json_t *v = NULL;
            if (col->at < json_array_size(col->step) && s_step_at(col) == step)
                v = json_array_get(col->value, col->at++);
            int have = json_is_number(v) && isfinite(json_number_value(v));
            if (json) {
                putchar(',');
                s_json_key(col->name);
                printf(":%s", have ? cli_fmt_num(num, json_number_value(v)) : "null");
            } else {
                printf(",%s", have ? cli_fmt_num(num, json_number_value(v)) : "");
            }
        }
        fputs(json ? "}" : "\n", stdout);
    }
    if (json)
        fputs("\n]\n", stdout);
}

int cmd_export(int argc, char **argv)
{
    static const cli_opt_t opts[] = {
        {"help", 'h', 0}, {"http", 0, 1},   {"tag", 0, 1}, {"format", 0, 1},
        {"after", 0, 1},  {"before", 0, 1}, {NULL, 0, 0},
    };
    enum { O_HELP, O_HTTP, O_TAG, O_FORMAT, O_AFTER, O_BEFORE };
    const char *run = NULL, *base = NULL, *tag = NULL, *after = NULL, *before = NULL;
    int json = 0;
    int64_t iv;

    cli_args_t a;
    cli_args_init(&a, S_CMD, argc, argv);
    for (;;) {
        const char *v;
        int k = cli_next(&a, opts, &v);
        if (k == CLI_DONE)
            break;
        if (k == CLI_BAD)
            return CLI_USAGE;
        if (k == CLI_ARG) {
            if (run)
                return cli_fail(S_CMD, CLI_USAGE, "unexpected argument '%s' (one RUN)", v);
            run = v;
            continue;
        }
        switch (k) {
        case O_HELP:
            s_usage(stdout);
            return CLI_OK;
        case O_HTTP:
            base = v;
            break;
        case O_TAG:
            tag = v;
            break;
        case O_FORMAT:
            if (strcmp(v, "csv") != 0 && strcmp(v, "json") != 0)
                return cli_fail(S_CMD, CLI_USAGE, "--format must be csv or json, got '%s'", v);
            json = strcmp(v, "json") == 0;
            break;
        case O_AFTER:
        case O_BEFORE:
            if (cli_parse_i64(S_CMD, k == O_AFTER ? "--after" : "--before", v, INT64_MIN, INT64_MAX,
                              &iv) != 0)
                return CLI_USAGE;
            *(k == O_AFTER ? &after : &before) = v;
            break;
        }
    }
    if (!run)
        return cli_fail(S_CMD, CLI_USAGE, "missing RUN (see --help)");

    cli_api_t api;
    int rc = cli_api_open(&api, S_CMD, base);
    if (rc != 0)
        return rc;
    json_t *all = NULL;
    s_col_t *cols = NULL;
    size_t ncols = 0;
    json_t *r = s_find_run(&api, run, &all, &rc);
    if (r)
        rc = s_fetch(&api, run, r, tag, after, before, &cols, &ncols);
    if (rc == 0) {
        s_write(cols, ncols, json);
        if (fflush(stdout) != 0)
            rc = cli_fail(S_CMD, CLI_RUNTIME, "cannot write output");
    }
    for (size_t c = 0; c < ncols; c++) {
        free(cols[c].name);
        json_decref(cols[c].answer);
    }
    free(cols);
    json_decref(all);
    cli_api_close(&api);
    return rc;
}
