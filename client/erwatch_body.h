/* erwatch_body.h: the one libcurl body sink of the client code, shared by
 * the library's reply channel (erwatch_alerts.c), its run-name lookup
 * (erwatch_run.c) and the CLI's HTTP reads
 * (client/cli/http.c). Internal: not installed, names are erwatch__*.
 *
 * Ownership: a zeroed erwatch__body_t is empty; erwatch__body_write() grows
 * its malloc'ed data (always NUL-terminated once anything arrived) and
 * erwatch__body_free() releases it.
 */
#ifndef ERWATCH_BODY_H
#define ERWATCH_BODY_H

#include <stddef.h>

typedef struct {
    char *data; /* the body so far, NUL-terminated; NULL when empty */
    size_t len, cap;
    size_t max;   /* refuse bodies longer than this (0: no limit) */
    int oom;      /* set when realloc failed */
    int overflow; /* set when the body went past max */
} erwatch__body_t;

/* A CURLOPT_WRITEFUNCTION; CURLOPT_WRITEDATA is the erwatch__body_t. Returns
 * 0 (which stops the transfer with CURLE_WRITE_ERROR) when out of memory or
 * past max, with oom or overflow set. */
size_t erwatch__body_write(char *ptr, size_t size, size_t nmemb, void *ud);

void erwatch__body_free(erwatch__body_t *b);

/* GET url on the easy handle h with the library's settings (timeout_ms for
 * connect and for the whole call, no signals, no proxy for loopback), the
 * body into *body. Returns 0 with the HTTP status in *status (OUT), -ENOMEM
 * when the body was past body->max or memory ran out, or curl's failure as
 * a negative errno (-ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -ENOMEM,
 * -EINVAL, else -EIO). The reply channel (erwatch_alerts.c) and the run-name
 * lookup (erwatch_run.c) both GET through it. */
int erwatch__http_get(void *h, const char *url, int timeout_ms, erwatch__body_t *body,
                      long *status);

#endif
