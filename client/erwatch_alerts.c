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
 *  - The answer is parsed with jansson: it must be an object with an
 *    "alerts" array and a non-negative integer "count", else -EPROTO.
 *  - Never prints, aborts or exits: every failure is a negative errno.
 */
#include "erwatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "erwatch_alloc.h"
#include "erwatch_body.h"

#define S_BODY_MAX (64u << 20) /* refuse absurd answers rather than grow */
#define S_DEFAULT_TIMEOUT_MS 1000

/* The "count" of an /api/alerts answer. Returns 0, or -1 when body is
 * not such an answer. */
static int s_count(const char *body, size_t len, long *out)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *count = json_object_get(root, "count");
    int rc = -1;
    if (json_is_array(json_object_get(root, "alerts")) && json_is_integer(count) &&
        json_integer_value(count) >= 0) {
        json_int_t n = json_integer_value(count);
        *out = n > 1000000 ? 1000000 : (long)n;
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int erwatch_alerts(const char *http_url, const char *run, int timeout_ms, char *buf, size_t len)
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
    erwatch__body_t body = {.max = S_BODY_MAX};
    char *esc = curl_easy_escape(h, run, 0);
    size_t ulen = strlen(http_url) + (esc ? strlen(esc) : 0) + 64;
    char *url = esc ? erwatch__malloc(ulen) : NULL;
    if (!url) {
        rc = -ENOMEM;
        goto out;
    }
    size_t base = strlen(http_url);
    while (base > 0 && http_url[base - 1] == '/')
        base--;
    memcpy(url, http_url, base);
    snprintf(url + base, ulen - base, "/api/alerts?state=firing&run=%s", esc);

    long status;
    if ((rc = erwatch__http_get(h, url, timeout_ms, &body, &status)) != 0)
        goto out;
    long count = 0;
    if (status == 404 && body.data && strstr(body.data, "no such endpoint")) {
        rc = -ENOTSUP; /* an erwatchd without alerting */
        goto out;
    }
    if (status != 200 || !body.data || s_count(body.data, body.len, &count) != 0) {
        rc = -EPROTO;
        goto out;
    }
    if (buf && len) {
        if (body.len + 1 > len) {
            rc = -ENOSPC;
            goto out;
        }
        memcpy(buf, body.data, body.len + 1);
    }
    rc = (int)count;
out:
    erwatch__body_free(&body);
    free(url);
    curl_free(esc);
    curl_easy_cleanup(h);
    return rc;
}
