/* erwatch_alerts.c: the reply channel of the C client library (erwatch.h):
 * a training job asks erwatchd which alerts are firing for its run, over
 * the daemon's HTTP API (GET /api/alerts?run=R&state=firing, documented in
 * schema/protocol.md), so that it can checkpoint or stop itself.
 *
 * Design decisions:
 *  - A plain HTTP poll with libcurl, bounded by one timeout for the whole
 *    call (connect included), with CURLOPT_NOSIGNAL: no SIGALRM, which a
 *    training process (and its threads) must not receive from a library.
 *  - A fresh easy handle per call: a poll every few seconds or hundred
 *    steps costs a loopback connect, and nothing is shared between threads.
 *  - The count is read from the answer's "count" key. That key is written by
 *    the daemon after the alerts array, and a raw `"count":` cannot occur
 *    inside a JSON string (quotes there are escaped), so the last occurrence
 *    is the key.
 *  - Never prints, aborts or exits: every failure is a negative errno.
 */
#include "erwatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define S_BODY_MAX (64u << 20) /* refuse absurd answers rather than grow */
#define S_DEFAULT_TIMEOUT_MS 1000

typedef struct {
    char *p;
    size_t len, cap;
    int overflow;
} s_body_t;

static size_t s_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    s_body_t *b = ud;
    size_t n = size * nmemb;
    if (b->len + n + 1 > S_BODY_MAX) {
        b->overflow = 1;
        return 0; /* stops the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->overflow = 1;
            return 0;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static int s_count(const char *body, long *out)
{
    const char *key = "\"count\":", *hit = NULL;
    for (const char *p = strstr(body, key); p; p = strstr(p + 1, key))
        hit = p;
    if (strncmp(body, "{\"alerts\":[", 11) != 0 || !hit)
        return -1;
    char *end = NULL;
    errno = 0;
    long n = strtol(hit + strlen(key), &end, 10);
    if (errno || end == hit + strlen(key) || n < 0)
        return -1;
    *out = n;
    return 0;
}

static int s_curl_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    case CURLE_URL_MALFORMAT: return -EINVAL;
    default: return -EIO;
    }
}

int erwatch_alerts(const char *http_url, const char *run, int timeout_ms, char *buf,
                   size_t len)
{
    if (!run || !*run || (!buf && len))
        return -EINVAL;
    if (buf && len)
        buf[0] = '\0';
    if (!http_url) {
        const char *env = getenv("ERWATCH_HTTP");
        http_url = env && *env ? env : ERWATCH_DEFAULT_HTTP;
    }
    if (timeout_ms <= 0)
        timeout_ms = S_DEFAULT_TIMEOUT_MS;

    CURL *h = curl_easy_init();
    if (!h)
        return -ENOMEM;
    int rc = 0;
    s_body_t body = { 0 };
    char *esc = curl_easy_escape(h, run, 0);
    size_t ulen = strlen(http_url) + (esc ? strlen(esc) : 0) + 64;
    char *url = esc ? malloc(ulen) : NULL;
    if (!url) {
        rc = -ENOMEM;
        goto out;
    }
    size_t base = strlen(http_url);
    while (base > 0 && http_url[base - 1] == '/')
        base--;
    memcpy(url, http_url, base);
    snprintf(url + base, ulen - base, "/api/alerts?state=firing&run=%s", esc);

    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "liberwatch");
    CURLcode cr = curl_easy_perform(h);
    if (body.overflow) {
        rc = -ENOMEM;
        goto out;
    }
    if (cr != CURLE_OK) {
        rc = s_curl_errno(cr);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    long count = 0;
    if (status == 404 && body.p && strstr(body.p, "no such endpoint")) {
        rc = -ENOTSUP; /* an erwatchd without alerting */
        goto out;
    }
    if (status != 200 || !body.p || s_count(body.p, &count) != 0) {
        rc = -EPROTO;
        goto out;
    }
    if (buf && len) {
        if (body.len + 1 > len) {
            rc = -ENOSPC;
            goto out;
        }
        memcpy(buf, body.p, body.len + 1);
    }
    rc = count > 1000000 ? 1000000 : (int)count;
out:
    free(body.p);
    free(url);
    curl_free(esc);
    curl_easy_cleanup(h);
    return rc;
}
