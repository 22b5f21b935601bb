/* http_runs.h: the API's writes, POST /api/runs/delete and
 * POST /api/runs/rename, and the check that keeps web pages from making
 * them. http.c routes the request and hands over its headers and
 * parameters; the work is the writer's (lifecycle.h).
 *
 *   POST /api/runs/delete?run=R         -> 200 {"deleted":R,"series":N,"alerts":N}
 *   POST /api/runs/rename?run=R&to=NEW  -> 200 {"renamed":R,"to":NEW}
 *   both need the header  X-Erwatch-Request: 1
 *   404 no such run; 409 NEW exists; 400 bad name; 403 refused (below);
 *   503 the writer did not get to it or the daemon is stopping.
 *
 * Why a web page cannot make them (CSRF): a form or a link cannot send a
 * custom header, and a script on another origin that adds one makes the
 * browser ask first (a CORS preflight, OPTIONS), which gets 405 and no
 * Access-Control-Allow-* header, so the request is never sent. Requests
 * that carry a browser's marks are checked besides: Sec-Fetch-Site must be
 * same-origin (or none), Origin must name the Host the request was sent
 * to, and that Host must be an IP address or localhost, so a page whose
 * DNS name was pointed at this daemon (DNS rebinding) is refused too.
 */
#ifndef ERWATCH_HTTP_RUNS_H
#define ERWATCH_HTTP_RUNS_H

#include <stddef.h>

#include "lifecycle.h"
#include "params.h"
#include "stats.h"
#include "strbuf.h"

#define HTTP_WRITE_HEADER "X-Erwatch-Request"

/* The request headers the check reads; NULL when absent. */
typedef struct {
    const char *marker;         /* X-Erwatch-Request */
    const char *origin;         /* Origin */
    const char *sec_fetch_site; /* Sec-Fetch-Site */
    const char *host;           /* Host */
} http_write_headers_t;

/* Pure. Returns 0 when the write may go ahead, else 403 with msg (OUT). */
unsigned http_runs_write_check(const http_write_headers_t *h, char *msg, size_t msglen);

/* The two writes: the HTTP status, with the JSON body (the answer, or
 * {"error":..}) appended to body. l NULL: 503. */
unsigned http_runs_delete(lifecycle_t *l, const params_t *p, strbuf_t *body);
unsigned http_runs_rename(lifecycle_t *l, const params_t *p, strbuf_t *body);

/* Appends ,"runs":{"deleted":..,"renamed":..,"retention_deleted":..,
 * "rows_purged":..} for /api/health (s may be NULL). */
void http_runs_health(strbuf_t *b, const stats_t *s);

/* The run list's epoch ("<daemon start>-<runs deleted or renamed>"): it
 * changes whenever a run leaves the list or changes its name, which the
 * `since` updates of GET /api/runs cannot show. OUT: out. */
void http_runs_epoch(const stats_t *s, char *out, size_t outlen);

#endif
