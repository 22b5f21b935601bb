/* erwatch_body.c: the libcurl body sink of the client code (see
 * erwatch_body.h). The buffer doubles, so a body of n bytes costs O(n)
 * copies whatever the chunk sizes libcurl hands over.
 */
#include "erwatch_body.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "erwatch_alloc.h"

size_t erwatch__body_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    erwatch__body_t *b = ud;
    size_t n = size * nmemb;
    if (n > SIZE_MAX / 2 - b->len || (b->max && b->len + n + 1 > b->max)) {
        b->overflow = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = erwatch__realloc(b->data, cap);
        if (!q) {
            b->oom = 1;
            return 0;
        }
        b->data = q;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

void erwatch__body_free(erwatch__body_t *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int s_curl_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_URL_MALFORMAT:
        return -EINVAL;
    default:
        return -EIO;
    }
}

int erwatch__http_get(void *h, const char *url, int timeout_ms, erwatch__body_t *body, long *status)
{
    *status = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, erwatch__body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "liberwatch");
    CURLcode cr = curl_easy_perform(h);
    if (body->overflow || body->oom)
        return -ENOMEM;
    if (cr != CURLE_OK)
        return s_curl_errno(cr);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}
