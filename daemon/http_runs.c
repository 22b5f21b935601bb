/* http_runs.c: POST /api/runs/delete and /api/runs/rename, and their CSRF
 * check (see http_runs.h). Everything but the lifecycle call is pure, so
 * the check is unit-tested without a server or a browser. */
#include "http_runs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- check */

/* Whether the Host header names an IP address or localhost (any port). */
static int s_host_is_literal(const char *host)
{
    char name[256];
    size_t n;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end || (end[1] && end[1] != ':'))
            return 0;
        n = (size_t)(end - host - 1);
        if (n >= sizeof name)
            return 0;
        memcpy(name, host + 1, n);
        name[n] = '\0';
        unsigned char buf[16];
        return inet_pton(AF_INET6, name, buf) == 1;
    }
    n = strcspn(host, ":");
    if (n >= sizeof name || (host[n] && strchr(host + n + 1, ':')))
        return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    unsigned char buf[4];
    return strcasecmp(name, "localhost") == 0 || inet_pton(AF_INET, name, buf) == 1;
}

unsigned http_runs_write_check(const http_write_headers_t *h, char *msg, size_t msglen)
{
    if (!h->marker || strcmp(h->marker, "1") != 0) {
        snprintf(msg, msglen,
                 "this request changes data: it needs the header '" HTTP_WRITE_HEADER
                 ": 1' (erwatch rm and erwatch mv send it), which a web page cannot send");
        return 403;
    }
    int browser = h->origin || h->sec_fetch_site;
    if (h->sec_fetch_site && strcmp(h->sec_fetch_site, "same-origin") != 0 &&
        strcmp(h->sec_fetch_site, "none") != 0) {
        snprintf(msg, msglen, "refused: a %s request may not change data", h->sec_fetch_site);
        return 403;
    }
    if (h->origin) {
        const char *o = h->origin;
        size_t skip = strncmp(o, "http://", 7) == 0 ? 7 : strncmp(o, "https://", 8) == 0 ? 8 : 0;
        if (!skip || !h->host || strcasecmp(o + skip, h->host) != 0) {
            snprintf(msg, msglen, "refused: a request from another origin may not change data");
            return 403;
        }
    }
    if (browser && (!h->host || !s_host_is_literal(h->host))) {
        snprintf(msg, msglen,
                 "refused: from a browser, data can be changed only at an IP address or "
                 "localhost, not at a DNS name (DNS rebinding)");
        return 403;
    }
    return 0;
}

/* ---------------------------------------------------------------- writes */

static void s_error(strbuf_t *b, const char *msg)
{
    strbuf_puts(b, "{\"error\":");
    strbuf_json_str(b, msg);
    strbuf_putc(b, '}');
}

/* A required name parameter: NULL with the 400 message in body. */
static const char *s_name(const params_t *p, const char *name, strbuf_t *body)
{
    int bad;
    const char *v = params_get(p, name, &bad);
    char msg[128];
    if (!v || !*v || bad) {
        snprintf(msg, sizeof msg, "%s parameter '%s'",
                 !v    ? "missing"
                 : bad ? "a NUL byte in"
                       : "empty",
                 name);
        s_error(body, msg);
        return NULL;
    }
    return v;
}

static unsigned s_status(int rc)
{
    switch (rc) {
    case 0:
        return 200;
    case -ENOENT:
        return 404;
    case -EEXIST:
        return 409;
    case -EINVAL:
        return 400;
    case -ETIMEDOUT:
    case -ECANCELED:
        return 503;
    default:
        return 500;
    }
}

unsigned http_runs_delete(lifecycle_t *l, const params_t *p, strbuf_t *body)
{
    const char *run = s_name(p, "run", body);
    if (!run)
        return 400;
    if (!l) {
        s_error(body, "this daemon cannot delete runs");
        return 503;
    }
    char msg[512];
    lifecycle_result_t res = {0};
    int rc = lifecycle_delete(l, run, &res, msg, sizeof msg);
    if (rc != 0) {
        s_error(body, msg);
        return s_status(rc);
    }
    strbuf_puts(body, "{\"deleted\":");
    strbuf_json_str(body, run);
    strbuf_printf(body, ",\"series\":%zu,\"alerts\":%" PRId64 "}", res.series, res.alerts);
    return 200;
}

unsigned http_runs_rename(lifecycle_t *l, const params_t *p, strbuf_t *body)
{
    const char *run = s_name(p, "run", body);
    const char *to = run ? s_name(p, "to", body) : NULL;
    if (!run || !to)
        return 400;
    if (!l) {
        s_error(body, "this daemon cannot rename runs");
        return 503;
    }
    char msg[512];
    int rc = lifecycle_rename(l, run, to, msg, sizeof msg);
    if (rc != 0) {
        s_error(body, msg);
        return s_status(rc);
    }
    strbuf_puts(body, "{\"renamed\":");
    strbuf_json_str(body, run);
    strbuf_puts(body, ",\"to\":");
    strbuf_json_str(body, to);
    strbuf_putc(body, '}');
    return 200;
}

/* ---------------------------------------------------------------- reads */

void http_runs_health(strbuf_t *b, const stats_t *s)
{
    strbuf_printf(b,
                  ",\"runs\":{\"deleted\":%" PRIu64 ",\"renamed\":%" PRIu64
                  ",\"retention_deleted\":%" PRIu64 ",\"rows_purged\":%" PRIu64 "}",
                  s ? stats_get(&s->runs_deleted) : 0, s ? stats_get(&s->runs_renamed) : 0,
                  s ? stats_get(&s->retention_deleted) : 0, s ? stats_get(&s->rows_purged) : 0);
}

void http_runs_epoch(const stats_t *s, char *out, size_t outlen)
{
    if (!s) {
        snprintf(out, outlen, "0-0");
        return;
    }
    snprintf(out, outlen, "%.6f-%" PRIu64, s->start_time,
             stats_get(&s->runs_deleted) + stats_get(&s->runs_renamed));
}
