/* http_stub.h: a tiny HTTP server on 127.0.0.1 for unit tests of the client
 * library's HTTP calls (erwatch_alerts, erwatch_run_name...): it answers
 * GET PATH with a fixed status and body per path, the query string ignored,
 * and 404 {"error":"no such endpoint"} elsewhere, as erwatchd does. Built on
 * libmicrohttpd (the daemon's HTTP library), on its own thread, on a port the
 * kernel picks. Test-only code.
 *
 * Ownership: http_stub_start() returns an owned server that keeps pointers
 * to routes (which must outlive it); http_stub_stop(&s) stops it and sets s
 * to NULL.
 */
#ifndef ERWATCH_TESTS_HTTP_STUB_H
#define ERWATCH_TESTS_HTTP_STUB_H

typedef struct {
    const char *path; /* "/api/alerts"; NULL ends the table */
    unsigned status;
    const char *body;
} http_stub_route_t;

typedef struct http_stub http_stub_t;

/* NULL when the server cannot start (the reason on stderr). */
http_stub_t *http_stub_start(const http_stub_route_t *routes);
/* "http://127.0.0.1:PORT" */
const char *http_stub_url(const http_stub_t *s);
/* Requests answered so far. */
long http_stub_requests(const http_stub_t *s);
void http_stub_stop(http_stub_t **s);

#endif
