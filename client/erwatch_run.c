/* erwatch_run.c: erwatch_run_name() of the C client library (erwatch.h):
 * which run the daemon stores a launch's batches of one run name under
 * (GET /api/run?launch=ID&name=NAME, schema/protocol.md "Launches"), and
 * erwatch_resume_target(): which run a resume would continue.
 *
 * Same rules as erwatch_alerts.c: one libcurl easy handle per call, one
 * timeout for the whole call, CURLOPT_NOSIGNAL, no proxy for loopback, the
 * shared body sink (erwatch_body.h); the answer is parsed with jansson.
 * Never prints, aborts or exits.
 */
#include "erwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "erwatch_alloc.h"
#include "erwatch_body.h"

#define S_BODY_MAX (1u << 20) /* an /api/run answer is small */

/* GET /api/run?k1=v1[&k2=v2]: copies the answer's "run" into buf. */
static int s_get_run(const char *http_url, const char *k1, const char *v1, const char *k2,
                     const char *v2, int timeout_ms, char *buf, size_t len)
{
    buf[0] = '\0';
    if (!http_url) {
        const char *env = getenv("ERWATCH_HTTP");
        http_url = env && *env ? env : ERWATCH_DEFAULT_HTTP;
    }
    if (timeout_ms <= 0)
        timeout_ms = 1000;
    CURL *h = curl_easy_init();
    if (!h)
        return -ENOMEM;
    int rc = 0;
    erwatch__body_t body = {.max = S_BODY_MAX};
    char *e1 = curl_easy_escape(h, v1, 0), *e2 = v2 ? curl_easy_escape(h, v2, 0) : NULL;
    char *url = NULL;
    size_t base = strlen(http_url);
    while (base > 0 && http_url[base - 1] == '/')
        base--;
    size_t ulen = base + (e1 ? strlen(e1) : 0) + (e2 ? strlen(e2) : 0) + 64;
    if (!e1 || (v2 && !e2) || !(url = erwatch__malloc(ulen))) {
        rc = -ENOMEM;
        goto out;
    }
    if (v2)
        snprintf(url, ulen, "%.*s/api/run?%s=%s&%s=%s", (int)base, http_url, k1, e1, k2, e2);
    else
        snprintf(url, ulen, "%.*s/api/run?%s=%s", (int)base, http_url, k1, e1);
    long status;
    if ((rc = erwatch__http_get(h, url, timeout_ms, &body, &status)) != 0)
        goto out;
    json_t *root = body.data ? json_loadb(body.data, body.len, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(root, "run"));
    if (status == 404 && root && json_is_string(json_object_get(root, "error")) &&
        strstr(json_string_value(json_object_get(root, "error")), "no such endpoint"))
        rc = -ENOTSUP; /* an erwatchd without launches */
    else if (status == 404 && root)
        rc = -ENOENT;
    else if (status != 200 || !name)
        rc = -EPROTO;
    else if (strlen(name) + 1 > len)
        rc = -ENOSPC;
    else
        memcpy(buf, name, strlen(name) + 1);
    json_decref(root);
out:
    erwatch__body_free(&body);
    free(url);
    curl_free(e1);
    curl_free(e2);
    curl_easy_cleanup(h);
    return rc;
}

int erwatch_run_name(const char *http_url, const char *launch, const char *run, int timeout_ms,
                     char *buf, size_t len)
{
    if (!launch || !*launch || !run || !*run || !buf || len == 0)
        return -EINVAL;
    return s_get_run(http_url, "launch", launch, "name", run, timeout_ms, buf, len);
}

int erwatch_resume_target(const char *http_url, const char *run, int timeout_ms, char *buf,
                          size_t len)
{
    if (!run || !*run || !buf || len == 0)
        return -EINVAL;
    return s_get_run(http_url, "resume", run, NULL, NULL, timeout_ms, buf, len);
}
