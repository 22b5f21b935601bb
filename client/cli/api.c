/* api.c: the CLI's client of erwatchd's HTTP API (see api.h). One easy
 * handle per command, reused for each request; answers are read into the
 * client code's one body sink (erwatch_body.h) and parsed with jansson.
 */
#include "api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define S_DEFAULT_URL "http://127.0.0.1:8080"
#define S_URL_MAX 8192

int cli_api_open(cli_api_t *a, const char *cmd, const char *base)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    if (!base) {
        const char *env = getenv("ERWATCH_HTTP");
        base = env && *env ? env : S_DEFAULT_URL;
    }
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (bl == 0 || bl > 4096)
        return cli_fail(cmd, CLI_USAGE, "--http: bad URL '%s'", base);
    a->base = base;
    a->baselen = bl;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return cli_fail(cmd, CLI_RUNTIME, "cannot initialise libcurl");
    a->h = curl_easy_init();
    if (!a->h) {
        curl_global_cleanup();
        return cli_fail(cmd, CLI_RUNTIME, "cannot initialise libcurl");
    }
    return 0;
}

void cli_api_close(cli_api_t *a)
{
    if (a->h) {
        curl_easy_cleanup(a->h);
        curl_global_cleanup();
    }
    a->h = NULL;
}

/* The server's {"error": "..."} as one line, else the body's first line. */
static int s_http_error(const cli_api_t *a, long status, const erwatch__body_t *body)
{
    const char *b = body->data ? body->data : "";
    json_t *j = json_loadb(b, body->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "error"));
    int rc;
    if (msg) {
        rc = cli_fail(a->cmd, CLI_RUNTIME, "%s (HTTP %ld)", msg, status);
    } else { /* not our JSON (a proxy, another server) */
        size_t n = strcspn(b, "\r\n");
        if (n > 200)
            n = 200;
        rc = cli_fail(a->cmd, CLI_RUNTIME, "HTTP %ld%s%.*s", status, n ? ": " : "", (int)n, b);
    }
    json_decref(j);
    return rc;
}

static int s_request(cli_api_t *a, const char *path, const char *const *params, int post,
                     erwatch__body_t *body)
{
    char url[S_URL_MAX];
    int n = snprintf(url, sizeof url, "%.*s%s", (int)a->baselen, a->base, path);
    for (size_t i = 0; params && params[i] && n > 0 && (size_t)n < sizeof url; i += 2) {
        char *esc = curl_easy_escape(a->h, params[i + 1], 0);
        if (!esc)
            return cli_fail(a->cmd, CLI_RUNTIME, "out of memory");
        n += snprintf(url + n, sizeof url - (size_t)n, "%c%s=%s", i ? '&' : '?', params[i], esc);
        curl_free(esc);
    }
    if (n < 0 || (size_t)n >= sizeof url)
        return cli_fail(a->cmd, CLI_USAGE, "parameters too long");

    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = a->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, erwatch__body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "erwatch-cli");
    struct curl_slist *hdr = NULL;
    if (post) {
        /* the header the API's writes require, which a web page cannot send */
        hdr = curl_slist_append(NULL, "X-Erwatch-Request: 1");
        if (!hdr)
            return cli_fail(a->cmd, CLI_RUNTIME, "out of memory");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    if (rc == CURLE_COULDNT_CONNECT)
        return cli_fail(a->cmd, CLI_RUNTIME, "cannot reach %s (is erwatchd running?)", a->base);
    if (rc == CURLE_COULDNT_RESOLVE_HOST)
        return cli_fail(a->cmd, CLI_RUNTIME, "cannot resolve the host of %s", a->base);
    if (rc == CURLE_WRITE_ERROR && (body->oom || body->overflow))
        return cli_fail(a->cmd, CLI_RUNTIME, "out of memory reading the answer");
    if (rc != CURLE_OK)
        return cli_fail(a->cmd, CLI_RUNTIME, "%s: %s", a->base,
                        *errbuf ? errbuf : curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return s_http_error(a, status, body);
    return 0;
}

int cli_api_get(cli_api_t *a, const char *path, const char *const *params, erwatch__body_t *body)
{
    return s_request(a, path, params, 0, body);
}

int cli_api_post(cli_api_t *a, const char *path, const char *const *params, erwatch__body_t *body)
{
    return s_request(a, path, params, 1, body);
}

json_t *cli_api_get_json(cli_api_t *a, const char *path, const char *const *params, int *rc)
{
    erwatch__body_t body = {0};
    *rc = cli_api_get(a, path, params, &body);
    if (*rc != 0) {
        erwatch__body_free(&body);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
    erwatch__body_free(&body);
    if (!json_is_object(j)) {
        *rc = cli_fail(a->cmd, CLI_RUNTIME, "%s%s is not a JSON object%s%s", a->base, path,
                       j ? "" : ": ", j ? "" : jerr.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

const char *cli_fmt_num(char *out, double v)
{
    if (!isfinite(v)) {
        out[0] = '\0';
        return out;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return out;
}

void cli_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
