/* http_run.h: GET /api/run, one run's identity and metadata. http.c routes
 * the request and lends a pooled read-only connection; the rest lives here.
 *
 *   GET /api/run?run=NAME            the run stored under NAME
 *   GET /api/run?launch=ID&name=NAME the run launch ID's batches named NAME
 *                                    went to (how a client learns NAME.2)
 *   GET /api/run?resume=NAME         the run a resume of NAME continues
 *   -> {"run":..,"base":..,"launch":..,"first_seen":..,"last_seen":..,
 *       "last_step":..,"config":{..}|null,"notes":..|null,
 *       "launches":[{"launch":..,"name":..,"resumed":B,"first_step":..,
 *                    "first_seen":..},..]}
 *   404 {"error":..} when there is no such run (yet).
 */
#ifndef ERWATCH_HTTP_RUN_H
#define ERWATCH_HTTP_RUN_H

#include <stddef.h>

#include "params.h"
#include "query.h"
#include "strbuf.h"

/* ?run=, ?launch= (with name=), ?resume=: query_filter.h's run key. */
typedef query_run_key_t http_run_req_t;

/* Reads the parameters into *r (pointing into the request's memory). Pure.
 * Returns 0, or -1 with a message naming the parameter. */
int http_run_parse(const params_t *p, http_run_req_t *r, char *msg, size_t msglen);

/* The response body. Returns 0, -ENOENT (no such run: msg says which), or
 * -EIO with msg filled. */
int http_run_body(query_t *q, const http_run_req_t *r, strbuf_t *out, char *msg, size_t msglen);

#endif
