/* cmd_query.c: `erwatch query runs|series`, reads the daemon's HTTP API.
 *
 * Always asks the server for CSV (format=csv): with --csv it is printed
 * verbatim, so scripts see exactly what the server wrote; otherwise it is
 * parsed (RFC 4180 quoting) and printed as an aligned table. Errors from the
 * server are JSON ({"error": "..."}) and are shown as one line.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static const char *const S_CMD = "erwatch query";

#define S_DEFAULT_URL "http://127.0.0.1:8080"

static void s_usage(FILE *f)
{
    fprintf(f,
        "usage: erwatch query [--http URL] runs [--csv]\n"
        "       erwatch query [--http URL] series --run R --tag T --metric M\n"
        "                     [--after S] [--before S] [--points P] [--csv]\n"
        "\n"
        "Reads erwatchd's HTTP API and prints an aligned table (or, with --csv,\n"
        "the server's CSV verbatim).\n"
        "\n"
        "  runs      every (run, tag, metric) with its last step, last time seen\n"
        "            and the client-reported drop count\n"
        "  series    the points of one series: step, value (and min, max when\n"
        "            --points buckets them)\n"
        "\n"
        "options:\n"
        "  --http URL      API base URL (default $ERWATCH_HTTP, else " S_DEFAULT_URL ")\n"
        "  --run R, --tag T, --metric M   the series to read\n"
        "  --after S       only steps > S\n"
        "  --before S      only steps < S\n"
        "  --points P      at most P points (min/max buckets)\n"
        "  --csv           print the server's CSV\n"
        "  -h, --help      this help\n");
}

/* ---------------------------------------------------------------- buffer */

typedef struct {
    char *data;
    size_t len, cap;
    int oom;
} s_buf_t;

static size_t s_on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_buf_t *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nd = realloc(b->data, cap);
        if (!nd) {
            b->oom = 1;
            return 0; /* makes curl stop with CURLE_WRITE_ERROR */
        }
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* ---------------------------------------------------------------- JSON */

/* Decodes the JSON string at *p (just after its opening quote) into out
 * (NUL-terminated, UTF-8). Returns 0 and moves *p past the closing quote. */
static int s_json_string(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p;
    size_t o = 0;
    while (s < end && *s != '"') {
        unsigned cp;
        if (*s == '\\') {
            if (++s >= end)
                return -1;
            switch (*s) {
            case 'n': cp = '\n'; break;
            case 't': cp = '\t'; break;
            case 'r': cp = '\r'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'u': {
                if (end - s < 5)
                    return -1;
                char hex[5] = { s[1], s[2], s[3], s[4], 0 };
                char *e;
                cp = (unsigned)strtoul(hex, &e, 16);
                if (*e)
                    return -1;
                s += 4;
                /* A surrogate pair spells one code point. */
                if (cp >= 0xd800 && cp < 0xdc00 && end - s >= 7 && s[1] == '\\' &&
                    s[2] == 'u') {
                    char lo_hex[5] = { s[3], s[4], s[5], s[6], 0 };
                    unsigned lo = (unsigned)strtoul(lo_hex, &e, 16);
                    if (!*e && lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        s += 6;
                    }
                }
                break;
            }
            default: cp = (unsigned char)*s; break; /* \" \\ \/ */
            }
            s++;
        } else {
            cp = (unsigned char)*s++;
            if (o + 1 < cap)
                out[o++] = (char)cp;
            continue;
        }
        char u[4];
        size_t k;
        if (cp < 0x80) { u[0] = (char)cp; k = 1; }
        else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3f)); k = 2; }
        else if (cp < 0x10000) { u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[2] = (char)(0x80 | (cp & 0x3f)); k = 3; }
        else { u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); k = 4; }
        for (size_t i = 0; i < k && o + 1 < cap; i++)
            out[o++] = u[i];
    }
    if (s >= end)
        return -1;
    out[o] = '\0';
    *p = s + 1;
    return 0;
}

/* The value of the top-level "error" key of a JSON object, when it is a
 * string; other members are skipped. Returns 0 with out filled, or -1. */
static int s_json_error(const char *body, size_t len, char *out, size_t cap)
{
    const char *p = body, *end = body + len;
    char key[64];
    int depth = 0;
    while (p < end && *p != '{')
        p++;
    if (p >= end)
        return -1;
    p++;
    depth = 1;
    while (p < end && depth > 0) {
        char ch = *p;
        if (ch == '"') {
            p++;
            int at_key = depth == 1;
            if (s_json_string(&p, end, key, sizeof key) != 0)
                return -1;
            if (!at_key)
                continue;
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
            if (p >= end || *p != ':')
                continue; /* a string value, not a key */
            p++;
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
            if (strcmp(key, "error") == 0 && p < end && *p == '"') {
                p++;
                return s_json_string(&p, end, out, cap);
            }
        } else {
            if (ch == '{' || ch == '[')
                depth++;
            else if (ch == '}' || ch == ']')
                depth--;
            p++;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------- CSV */

typedef struct {
    char ***rows;   /* rows[r][c], NUL-terminated strings */
    size_t *ncols;
    size_t nrows;
} s_csv_t;

static void s_csv_free(s_csv_t *t)
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

/* Appends a field to the last row. Returns 0 or -1 (OOM). */
static int s_csv_push_field(s_csv_t *t, const char *f, size_t len)
{
    size_t r = t->nrows - 1;
    char **row = realloc(t->rows[r], (t->ncols[r] + 1) * sizeof *row);
    char *copy = malloc(len + 1);
    if (!row || !copy) {
        free(copy);
        if (row)
            t->rows[r] = row;
        return -1;
    }
    memcpy(copy, f, len);
    copy[len] = '\0';
    row[t->ncols[r]++] = copy;
    t->rows[r] = row;
    return 0;
}

static int s_csv_new_row(s_csv_t *t)
{
    char ***rows = realloc(t->rows, (t->nrows + 1) * sizeof *rows);
    if (!rows)
        return -1;
    t->rows = rows;
    size_t *nc = realloc(t->ncols, (t->nrows + 1) * sizeof *nc);
    if (!nc)
        return -1;
    t->ncols = nc;
    t->rows[t->nrows] = NULL;
    t->ncols[t->nrows] = 0;
    t->nrows++;
    return 0;
}

/* RFC 4180: fields split by ',', records by CRLF or LF, a quoted field may
 * hold ',', line breaks and "" for a quote. Returns 0, -1 OOM, -2 syntax. */
static int s_csv_parse(const char *s, size_t len, s_csv_t *t)
{
    memset(t, 0, sizeof *t);
    size_t i = 0;
    char *field = malloc(len + 1);
    if (!field)
        return -1;
    int rc = 0;
    while (i < len && rc == 0) {
        if (s_csv_new_row(t) != 0) {
            rc = -1;
            break;
        }
        for (;;) { /* one field per iteration */
            size_t fl = 0;
            if (i < len && s[i] == '"') {
                i++;
                for (;;) {
                    if (i >= len) {
                        rc = -2; /* unterminated quote */
                        break;
                    }
                    if (s[i] == '"') {
                        if (i + 1 < len && s[i + 1] == '"') {
                            field[fl++] = '"';
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    field[fl++] = s[i++];
                }
                if (rc)
                    break;
                if (i < len && s[i] != ',' && s[i] != '\n' && s[i] != '\r') {
                    rc = -2; /* text after a closing quote */
                    break;
                }
            } else {
                while (i < len && s[i] != ',' && s[i] != '\n' && s[i] != '\r')
                    field[fl++] = s[i++];
            }
            if (s_csv_push_field(t, field, fl) != 0) {
                rc = -1;
                break;
            }
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i < len && s[i] == '\r')
                i++;
            if (i < len && s[i] == '\n')
                i++;
            break; /* end of record */
        }
    }
    free(field);
    return rc;
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

static void s_print_table(const s_csv_t *t)
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

/* ---------------------------------------------------------------- HTTP */

/* Appends "&name=<escaped value>" (or "?..." for the first) to url. */
static int s_add_param(CURL *h, char *url, size_t cap, const char *name,
                       const char *value)
{
    char *esc = curl_easy_escape(h, value, 0);
    if (!esc)
        return -1;
    size_t len = strlen(url);
    int n = snprintf(url + len, cap - len, "%c%s=%s",
                     strchr(url, '?') ? '&' : '?', name, esc);
    curl_free(esc);
    return n < 0 || (size_t)n >= cap - len ? -1 : 0;
}

/* GETs url into body. Returns 0 with *status set, or prints the error and
 * returns the exit code. base is the URL the user gave, for messages. */
static int s_get(CURL *h, const char *url, const char *base, s_buf_t *body,
                 long *status)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "erwatch-cli");
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_COULDNT_CONNECT)
        return cli_fail(S_CMD, CLI_RUNTIME, "cannot reach %s (is erwatchd "
                        "running?)", base);
    if (rc == CURLE_COULDNT_RESOLVE_HOST)
        return cli_fail(S_CMD, CLI_RUNTIME, "cannot resolve the host of %s", base);
    if (rc == CURLE_WRITE_ERROR && body->oom)
        return cli_fail(S_CMD, CLI_RUNTIME, "out of memory reading the answer");
    if (rc != CURLE_OK)
        return cli_fail(S_CMD, CLI_RUNTIME, "%s: %s", base,
                        *errbuf ? errbuf : curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

static int s_report_http_error(long status, const s_buf_t *body)
{
    char msg[1024];
    if (body->data && s_json_error(body->data, body->len, msg, sizeof msg) == 0)
        return cli_fail(S_CMD, CLI_RUNTIME, "%s (HTTP %ld)", msg, status);
    /* Not our JSON (a proxy, another server): show its first line. */
    const char *b = body->data ? body->data : "";
    size_t n = strcspn(b, "\r\n");
    if (n > 200)
        n = 200;
    return cli_fail(S_CMD, CLI_RUNTIME, "HTTP %ld%s%.*s", status, n ? ": " : "",
                    (int)n, b);
}

/* ---------------------------------------------------------------- command */

int cmd_query(int argc, char **argv)
{
    static const cli_opt_t opts[] = {
        { "help", 'h', 0 },  { "http", 0, 1 },   { "csv", 0, 0 },
        { "run", 0, 1 },     { "tag", 0, 1 },    { "metric", 0, 1 },
        { "after", 0, 1 },   { "before", 0, 1 }, { "points", 0, 1 },
        { NULL, 0, 0 },
    };
    enum { O_HELP, O_HTTP, O_CSV, O_RUN, O_TAG, O_METRIC, O_AFTER, O_BEFORE,
           O_POINTS };
    /* Series options as given (NULL when absent), by option index. */
    const char *given[O_POINTS + 1] = { 0 };
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
                return cli_fail(S_CMD, CLI_USAGE, "unknown query '%s' (known: "
                                "runs, series)", v);
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
            if (cli_parse_i64(S_CMD, k == O_AFTER ? "--after" : "--before", v,
                              INT64_MIN, INT64_MAX, &iv) != 0)
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
        return cli_fail(S_CMD, CLI_USAGE, "missing query: runs or series "
                        "(see --help)");
    static const char *const names[] = { [O_RUN] = "run", [O_TAG] = "tag",
                                         [O_METRIC] = "metric", [O_AFTER] = "after",
                                         [O_BEFORE] = "before", [O_POINTS] = "points" };
    int series = strcmp(what, "series") == 0;
    for (int k = O_RUN; k <= O_POINTS; k++) {
        if (!series && given[k])
            return cli_fail(S_CMD, CLI_USAGE, "--%s applies to 'series' only",
                            names[k]);
        if (series && k <= O_METRIC && !given[k])
            return cli_fail(S_CMD, CLI_USAGE, "series needs --run, --tag and "
                            "--metric");
    }
    if (!base) {
        const char *env = getenv("ERWATCH_HTTP");
        base = env && *env ? env : S_DEFAULT_URL;
    }
    /* The base without trailing slashes, so "/api/..." appends cleanly. */
    char url[8192];
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (bl == 0 || bl > 4096)
        return cli_fail(S_CMD, CLI_USAGE, "--http: bad URL '%s'", base);
    snprintf(url, sizeof url, "%.*s/api/%s", (int)bl, base, series ? "series" : "runs");

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return cli_fail(S_CMD, CLI_RUNTIME, "cannot initialise libcurl");
    CURL *h = curl_easy_init();
    if (!h) {
        curl_global_cleanup();
        return cli_fail(S_CMD, CLI_RUNTIME, "cannot initialise libcurl");
    }
    int rc = 0;
    if (series)
        for (int k = O_RUN; k <= O_POINTS && rc == 0; k++)
            if (given[k] && s_add_param(h, url, sizeof url, names[k], given[k]) != 0)
                rc = cli_fail(S_CMD, CLI_USAGE, "parameters too long");
    if (rc == 0 && s_add_param(h, url, sizeof url, "format", "csv") != 0)
        rc = cli_fail(S_CMD, CLI_USAGE, "parameters too long");

    s_buf_t body = { 0 };
    long status = 0;
    if (rc == 0)
        rc = s_get(h, url, base, &body, &status);
    if (rc == 0 && (status < 200 || status > 299))
        rc = s_report_http_error(status, &body);
    if (rc == 0 && csv) {
        if (body.len && fwrite(body.data, 1, body.len, stdout) != body.len)
            rc = cli_fail(S_CMD, CLI_RUNTIME, "cannot write output");
    } else if (rc == 0) {
        s_csv_t t;
        int prc = s_csv_parse(body.data ? body.data : "", body.len, &t);
        if (prc == -1)
            rc = cli_fail(S_CMD, CLI_RUNTIME, "out of memory");
        else if (prc == -2)
            rc = cli_fail(S_CMD, CLI_RUNTIME, "the server's CSV is malformed "
                          "(try --csv to see it)");
        else
            s_print_table(&t);
        s_csv_free(&t);
    }
    if (rc == 0 && fflush(stdout) != 0)
        rc = cli_fail(S_CMD, CLI_RUNTIME, "cannot write output");
    free(body.data);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return rc;
}
