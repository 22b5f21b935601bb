/* cmd_query.c: `erwatch query runs|series`, reads the daemon's HTTP API.
 *
 * Answers are JSON, parsed with jansson (api.h), and printed as an aligned
 * table: `runs` one row per run with readable local times, `series` one row
 * per point. --csv prints CSV instead: for `series` the server's own CSV
 * verbatim, for `runs` the same rows as the table with times in Unix
 * seconds. Errors from the server ({"error": "..."}) are shown as one line.
 */
#include "api.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const S_CMD = "erwatch query";

static void s_usage(FILE *f)
{
    fprintf(f, "usage: erwatch query [--http URL] runs [--csv]\n"
               "       erwatch query [--http URL] series --run R --tag T --metric M\n"
               "                     [--after S] [--before S] [--points P] [--csv]\n"
               "\n"
               "Reads erwatchd's HTTP API and prints an aligned table (or CSV).\n"
               "\n"
               "  runs      one row per run: its tags, metric count, last step, first\n"
               "            and last time seen (local time, YYYY-MM-DD HH:MM:SS) and\n"
               "            the client-reported drop count; --csv gives the times in\n"
               "            Unix seconds\n"
               "  series    the points of one series: step, value (and min, max when\n"
               "            --points buckets them); --csv prints the server's CSV\n"
               "\n"
               "options:\n"
               "  --http URL      API base URL (default $ERWATCH_HTTP, else\n"
               "                  http://127.0.0.1:8080)\n"
               "  --run R, --tag T, --metric M   the series to read\n"
               "  --after S       only steps > S\n"
               "  --before S      only steps < S\n"
               "  --points P      at most P points (min/max buckets)\n"
               "  --csv           print CSV\n"
               "  -h, --help      this help\n");
}

/* ---------------------------------------------------------------- table */

/* Rows of owned strings; row 0 is the header. */
typedef struct {
    char ***rows;
    size_t *ncols;
    size_t nrows;
    int oom;
} s_table_t;

static void s_table_free(s_table_t *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols[r]; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    free(t->rows);
    free(t->ncols);
    memset(t, 0, sizeof *t);
}

static void s_table_row(s_table_t *t)
{
    char ***rows = realloc(t->rows, (t->nrows + 1) * sizeof *rows);
    size_t *nc = rows ? realloc(t->ncols, (t->nrows + 1) * sizeof *nc) : NULL;
    if (rows)
        t->rows = rows;
    if (!nc) {
        t->oom = 1;
        return;
    }
    t->ncols = nc;
    t->rows[t->nrows] = NULL;
    t->ncols[t->nrows] = 0;
    t->nrows++;
}

/* Appends a cell to the last row. */
static void s_table_cell(s_table_t *t, const char *text)
{
    if (t->oom || t->nrows == 0)
        return;
    size_t r = t->nrows - 1;
    char **row = realloc(t->rows[r], (t->ncols[r] + 1) * sizeof *row);
    char *copy = strdup(text ? text : "");
    if (row)
        t->rows[r] = row;
    if (!row || !copy) {
        free(copy);
        t->oom = 1;
        return;
    }
    row[t->ncols[r]++] = copy;
}

static void s_table_num(s_table_t *t, const json_t *v)
{
    char buf[32];
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_number(v))
        cli_fmt_num(buf, json_number_value(v));
    else
        buf[0] = '\0'; /* null: undefined */
    s_table_cell(t, buf);
}

static void s_table_csv(const s_table_t *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols[r]; c++) {
            if (c)
                putchar(',');
            cli_csv_field(stdout, t->rows[r][c]);
        }
        putchar('\n');
    }
}

/* Display width of a UTF-8 string: its code points. */
static size_t s_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static int s_is_number(const char *s)
{
    if (!*s)
        return 1; /* an empty (null) cell does not make a column textual */
    char *end;
    (void)strtod(s, &end);
    return *end == '\0';
}

/* Line breaks inside a cell would break the table: show them as spaces. */
static void s_put_cell(const char *s, size_t w, int right)
{
    const char *shown = *s ? s : "-";
    size_t sw = s_width(shown);
    if (right)
        for (size_t k = sw; k < w; k++)
            putchar(' ');
    for (const char *p = shown; *p; p++)
        putchar(*p == '\n' || *p == '\r' ? ' ' : *p);
    if (!right)
        for (size_t k = sw; k < w; k++)
            putchar(' ');
}

static void s_print_table(const s_table_t *t)
{
    size_t ncols = 0;
    for (size_t r = 0; r < t->nrows; r++)
        if (t->ncols[r] > ncols)
            ncols = t->ncols[r];
    if (ncols == 0)
        return;
    size_t *w = calloc(ncols, sizeof *w);
    int *right = calloc(ncols, sizeof *right);
    if (!w || !right) {
        free(w);
        free(right);
        return;
    }
    for (size_t c = 0; c < ncols; c++)
        right[c] = t->nrows > 1;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols[r]; c++) {
            const char *cell = t->rows[r][c];
            size_t cw = s_width(*cell ? cell : "-");
            if (cw > w[c])
                w[c] = cw;
            if (r > 0 && !s_is_number(cell))
                right[c] = 0;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = c < t->ncols[r] ? t->rows[r][c] : "";
            int last = c + 1 == ncols;
            /* No trailing blanks: the last left-aligned cell is not padded. */
            s_put_cell(cell, last && !right[c] ? 0 : w[c], right[c]);
            if (!last)
                fputs("  ", stdout);
        }
        putchar('\n');
        if (r == 0) {
            for (size_t c = 0; c < ncols; c++) {
                for (size_t k = 0; k < w[c]; k++)
                    putchar('-');
                if (c + 1 < ncols)
                    fputs("  ", stdout);
            }
            putchar('\n');
        }
    }
    free(w);
    free(right);
}

/* ---------------------------------------------------------------- queries */

/* Unix seconds as local "YYYY-MM-DD HH:MM:SS" ("" when not a number). */
static void s_time_cell(s_table_t *t, const json_t *v, int raw)
{
    char buf[32] = "";
    if (json_is_number(v)) {
        double sec = json_number_value(v);
        if (raw) {
            cli_fmt_num(buf, sec);
        } else {
            time_t tt = (time_t)sec;
            struct tm tm;
            if (localtime_r(&tt, &tm))
                strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
        }
    }
    s_table_cell(t, buf);
}

/* /api/runs: one row per run. */
static int s_runs(cli_api_t *api, int csv)
{
    int rc;
    json_t *j = cli_api_get_json(api, "/api/runs", NULL, &rc);
    if (!j)
        return rc;
    json_t *runs = json_object_get(j, "runs");
    if (!json_is_array(runs)) {
        json_decref(j);
        return cli_fail(S_CMD, CLI_RUNTIME, "%s/api/runs: no \"runs\" array in the answer",
                        api->base);
    }
    s_table_t t = {0};
    static const char *const cols[] = {"run",        "tags",      "metrics", "last_step",
                                       "first_seen", "last_seen", "dropped"};
    s_table_row(&t);
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
        s_table_cell(&t, cols[c]);
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        s_table_row(&t);
        s_table_cell(&t, json_string_value(json_object_get(r, "run")));
        /* tags joined with ',', and how many series they hold */
        char tags[1024] = "";
        size_t tl = 0, nmetrics = 0, k;
        json_t *tag;
        json_array_foreach(json_object_get(r, "tags"), k, tag)
        {
            const char *name = json_string_value(json_object_get(tag, "tag"));
            int n = snprintf(tags + tl, sizeof tags - tl, "%s%s", k ? "," : "", name ? name : "?");
            if (n > 0 && (size_t)n < sizeof tags - tl)
                tl += (size_t)n;
            nmetrics += json_array_size(json_object_get(tag, "metrics"));
        }
        s_table_cell(&t, tags);
        char num[32];
        snprintf(num, sizeof num, "%zu", nmetrics);
        s_table_cell(&t, num);
        s_table_num(&t, json_object_get(r, "last_step"));
        s_time_cell(&t, json_object_get(r, "first_seen"), csv);
        s_time_cell(&t, json_object_get(r, "last_seen"), csv);
        s_table_num(&t, json_object_get(r, "dropped"));
    }
    json_decref(j);
    if (t.oom)
        rc = cli_fail(S_CMD, CLI_RUNTIME, "out of memory");
    else if (csv)
        s_table_csv(&t);
    else
        s_print_table(&t);
    s_table_free(&t);
    return rc;
}

/* /api/series: one row per point (params: name, value pairs). */
static int s_series(cli_api_t *api, const char *const *params, int csv)
{
    int rc;
    if (csv) { /* the server's CSV, verbatim */
        const char *p[16];
        size_t n = 0;
        for (; params[n]; n++)
            p[n] = params[n];
        p[n++] = "format";
        p[n++] = "csv";
        p[n] = NULL;
        erwatch__body_t body = {0};
        rc = cli_api_get(api, "/api/series", p, &body);
        if (rc == 0 && body.len && fwrite(body.data, 1, body.len, stdout) != body.len)
            rc = cli_fail(S_CMD, CLI_RUNTIME, "cannot write output");
        erwatch__body_free(&body);
        return rc;
    }
    json_t *j = cli_api_get_json(api, "/api/series", params, &rc);
    if (!j)
        return rc;
    int bucketed = json_is_true(json_object_get(j, "bucketed"));
    static const char *const keys[] = {"step", "value", "min", "max"};
    size_t ncols = bucketed ? 4 : 2;
    json_t *col[4];
    for (size_t c = 0; c < ncols; c++)
        col[c] = json_object_get(j, keys[c]);
    s_table_t t = {0};
    s_table_row(&t);
    for (size_t c = 0; c < ncols; c++)
        s_table_cell(&t, keys[c]);
    for (size_t i = 0; i < json_array_size(col[0]); i++) {
        s_table_row(&t);
        for (size_t c = 0; c < ncols; c++)
            s_table_num(&t, json_array_get(col[c], i));
    }
    json_decref(j);
    if (t.oom)
        rc = cli_fail(S_CMD, CLI_RUNTIME, "out of memory");
    else
        s_print_table(&t);
    s_table_free(&t);
    return rc;
}

/* ---------------------------------------------------------------- command */

int cmd_query(int argc, char **argv)
{
    static const cli_opt_t opts[] = {
        {"help", 'h', 0}, {"http", 0, 1},  {"csv", 0, 0},    {"run", 0, 1},    {"tag", 0, 1},
        {"metric", 0, 1}, {"after", 0, 1}, {"before", 0, 1}, {"points", 0, 1}, {NULL, 0, 0},
    };
    enum { O_HELP, O_HTTP, O_CSV, O_RUN, O_TAG, O_METRIC, O_AFTER, O_BEFORE, O_POINTS };
    /* Series options as given (NULL when absent), by option index. */
    const char *given[O_POINTS + 1] = {0};
    const char *what = NULL, *base = NULL;
    int csv = 0;
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
            if (what)
                return cli_fail(S_CMD, CLI_USAGE, "unexpected argument '%s'", v);
            if (strcmp(v, "runs") != 0 && strcmp(v, "series") != 0)
                return cli_fail(S_CMD, CLI_USAGE,
                                "unknown query '%s' (known: "
                                "runs, series)",
                                v);
            what = v;
            continue;
        }
        switch (k) {
        case O_HELP:
            s_usage(stdout);
            return CLI_OK;
        case O_HTTP:
            base = v;
            break;
        case O_CSV:
            csv = 1;
            break;
        case O_AFTER:
        case O_BEFORE:
            if (cli_parse_i64(S_CMD, k == O_AFTER ? "--after" : "--before", v, INT64_MIN, INT64_MAX,
                              &iv) != 0)
                return CLI_USAGE;
            given[k] = v;
            break;
        case O_POINTS:
            if (cli_parse_i64(S_CMD, "--points", v, 1, 1000000, &iv) != 0)
                return CLI_USAGE;
            given[k] = v;
            break;
        default:
            given[k] = v;
            break;
        }
    }
    if (!what)
        return cli_fail(S_CMD, CLI_USAGE,
                        "missing query: runs or series "
                        "(see --help)");
    static const char *const names[] = {
        [O_RUN] = "run",     [O_TAG] = "tag",       [O_METRIC] = "metric",
        [O_AFTER] = "after", [O_BEFORE] = "before", [O_POINTS] = "points"};
    int series = strcmp(what, "series") == 0;
    for (int k = O_RUN; k <= O_POINTS; k++) {
        if (!series && given[k])
            return cli_fail(S_CMD, CLI_USAGE, "--%s applies to 'series' only", names[k]);
        if (series && k <= O_METRIC && !given[k])
            return cli_fail(S_CMD, CLI_USAGE,
                            "series needs --run, --tag and "
                            "--metric");
    }
    cli_api_t api;
    int rc = cli_api_open(&api, S_CMD, base);
    if (rc != 0)
        return rc;
    if (series) {
        const char *params[16];
        size_t n = 0;
        for (int k = O_RUN; k <= O_POINTS; k++)
            if (given[k]) {
                params[n++] = names[k];
                params[n++] = given[k];
            }
        params[n] = NULL;
        rc = s_series(&api, params, csv);
    } else {
        rc = s_runs(&api, csv);
    }
    if (rc == 0 && fflush(stdout) != 0)
        rc = cli_fail(S_CMD, CLI_RUNTIME, "cannot write output");
    cli_api_close(&api);
    return rc;
}
