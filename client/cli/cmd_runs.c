/* cmd_runs.c: `erwatch rm RUN` and `erwatch mv OLD NEW`, through the
 * daemon's HTTP API (POST /api/runs/delete and /rename), found the way
 * `erwatch query` finds it (--http, $ERWATCH_HTTP, the default URL).
 *
 * The daemon's writer thread does the work, so both are safe while
 * training jobs write; the CLI never opens the database. The request
 * carries the header the API requires of writes (X-Erwatch-Request), which
 * a web page cannot send. Errors from the server ({"error": "..."}) are
 * printed as one line.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define S_DEFAULT_URL "http://127.0.0.1:8080"

typedef struct {
    char *data;
    size_t len;
    int oom;
} s_buf_t;

static size_t s_on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_buf_t *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > (1u << 20))
        return 0; /* our answers are small: a bigger one is not ours */
    char *nd = realloc(b->data, b->len + n + 1);
    if (!nd) {
        b->oom = 1;
        return 0;
    }
    memcpy(nd + b->len, ptr, n);
    b->data = nd;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* Appends code point cp as UTF-8. */
static size_t s_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The string value of "error" in the daemon's {"error":"..."} answers (the
 * API writes the key first), decoded into out. 0, or -1 when the body is
 * not such an answer. */
static int s_error_text(const char *body, char *out, size_t cap)
{
    const char *p = strstr(body ? body : "", "{\"error\":\"");
    if (!p || cap < 8)
        return -1;
    p += 10;
    size_t o = 0;
    while (*p && *p != '"' && o + 5 < cap) {
        unsigned cp = (unsigned char)*p++;
        if (cp == '\\') {
            char e = *p++;
            if (e == 'u') {
                char hex[5] = {0};
                for (int i = 0; i < 4 && *p; i++)
                    hex[i] = *p++;
                cp = (unsigned)strtoul(hex, NULL, 16);
                if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
                    char lo[5] = {0};
                    for (int i = 0; i < 4 && p[2 + i]; i++)
                        lo[i] = p[2 + i];
                    unsigned l = (unsigned)strtoul(lo, NULL, 16);
                    if (l >= 0xdc00 && l < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (l - 0xdc00);
                        p += 6;
                    }
                }
                o += s_utf8(out + o, cp);
                continue;
            }
            cp = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : (unsigned char)e;
            if (!e)
                break;
        }
        out[o++] = (char)cp;
    }
    out[o] = '\0';
    return 0;
}

/* POSTs base + path with the parameters; prints the outcome. */
static int s_post(const char *cmd, const char *base, const char *path, const char *const *names,
                  const char *const *values, int n, const char *done)
{
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (bl == 0 || bl > 4096)
        return cli_fail(cmd, CLI_USAGE, "--http: bad URL '%s'", base);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return cli_fail(cmd, CLI_RUNTIME, "cannot initialise libcurl");
    CURL *h = curl_easy_init();
    if (!h) {
        curl_global_cleanup();
        return cli_fail(cmd, CLI_RUNTIME, "cannot initialise libcurl");
    }
    char url[8192];
    int len = snprintf(url, sizeof url, "%.*s%s", (int)bl, base, path);
    for (int i = 0; i < n; i++) {
        char *esc = curl_easy_escape(h, values[i], 0);
        if (esc)
            len += snprintf(url + len, sizeof url - (size_t)len, "%c%s=%s", i ? '&' : '?',
                            names[i], esc);
        curl_free(esc);
        if (!esc || len >= (int)sizeof url) {
            curl_easy_cleanup(h);
            curl_global_cleanup();
            return cli_fail(cmd, CLI_USAGE, "run names too long");
        }
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "X-Erwatch-Request: 1");
    s_buf_t body = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "erwatch-cli");
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    curl_global_cleanup();

    int rc = CLI_OK;
    char msg[1024];
    if (cc == CURLE_COULDNT_CONNECT)
        rc = cli_fail(cmd, CLI_RUNTIME, "cannot reach %s (is erwatchd running?)", base);
    else if (cc == CURLE_COULDNT_RESOLVE_HOST)
        rc = cli_fail(cmd, CLI_RUNTIME, "cannot resolve the host of %s", base);
    else if (cc != CURLE_OK)
        rc = cli_fail(cmd, CLI_RUNTIME, "%s: %s", base, *errbuf ? errbuf : curl_easy_strerror(cc));
    else if (status < 200 || status > 299) {
        if (s_error_text(body.data, msg, sizeof msg) == 0)
            rc = cli_fail(cmd, CLI_RUNTIME, "%s", msg);
        else
            rc = cli_fail(cmd, CLI_RUNTIME, "HTTP %ld from %s%s", status, base,
                          status == 404 || status == 405 ? " (an erwatchd older than rm/mv?)"
                                                         : "");
    } else {
        printf("%s\n", done);
    }
    free(body.data);
    return rc;
}

static int s_run(const char *cmd, int argc, char **argv, int nargs, const char *usage)
{
    static const cli_opt_t opts[] = {
        {"help", 'h', 0},
        {"http", 0, 1},
        {NULL, 0, 0},
    };
    const char *base = NULL, *args[2] = {NULL, NULL};
    int nargs_seen = 0;
    cli_args_t a;
    cli_args_init(&a, cmd, argc, argv);
    for (;;) {
        const char *v;
        int k = cli_next(&a, opts, &v);
        if (k == CLI_DONE)
            break;
        if (k == CLI_BAD)
            return CLI_USAGE;
        if (k == CLI_ARG) {
            if (nargs_seen == nargs)
                return cli_fail(cmd, CLI_USAGE, "unexpected argument '%s' (see --help)", v);
            args[nargs_seen++] = v;
        } else if (k == 0) {
            fputs(usage, stdout);
            return CLI_OK;
        } else {
            base = v;
        }
    }
    if (nargs_seen < nargs)
        return cli_fail(cmd, CLI_USAGE, "%s (see --help)",
                        nargs == 1 ? "which run? erwatch rm RUN"
                                   : "erwatch mv OLD NEW needs both names");
    for (int i = 0; i < nargs; i++) {
        const char *why = cli_name_problem(args[i]);
        if (why)
            return cli_fail(cmd, CLI_USAGE, "run name '%s' %s", args[i], why);
    }
    if (nargs == 2 && strcmp(args[0], args[1]) == 0)
        return cli_fail(cmd, CLI_USAGE, "run '%s' already has that name", args[0]);
    if (!base) {
        const char *env = getenv("ERWATCH_HTTP");
        base = env && *env ? env : S_DEFAULT_URL;
    }
    char done[600];
    if (nargs == 1) {
        static const char *const names[] = {"run"};
        snprintf(done, sizeof done, "deleted run '%s'", args[0]);
        return s_post(cmd, base, "/api/runs/delete", names, args, 1, done);
    }
    static const char *const names[] = {"run", "to"};
    snprintf(done, sizeof done, "renamed run '%s' to '%s'", args[0], args[1]);
    return s_post(cmd, base, "/api/runs/rename", names, args, 2, done);
}

int cmd_rm(int argc, char **argv)
{
    return s_run("erwatch rm", argc, argv, 1,
                 "usage: erwatch rm [--http URL] RUN\n"
                 "\n"
                 "Deletes a run: its points, batches, spectra and alerts. erwatchd does\n"
                 "it (safe while jobs write); batches that arrive later under the same\n"
                 "name start a new run. Exit code 1 when there is no such run.\n"
                 "\n"
                 "options:\n"
                 "  --http URL   API base URL (default $ERWATCH_HTTP, else " S_DEFAULT_URL ")\n"
                 "  -h, --help   this help\n");
}

int cmd_mv(int argc, char **argv)
{
    return s_run("erwatch mv", argc, argv, 2,
                 "usage: erwatch mv [--http URL] OLD NEW\n"
                 "\n"
                 "Renames a run, its alerts with it. erwatchd does it (safe while jobs\n"
                 "write); batches that arrive later under OLD start a new run OLD.\n"
                 "Refused, with nothing changed, when NEW exists or OLD does not.\n"
                 "\n"
                 "options:\n"
                 "  --http URL   API base URL (default $ERWATCH_HTTP, else " S_DEFAULT_URL ")\n"
                 "  -h, --help   this help\n");
}
