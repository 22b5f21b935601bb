/* http_alerts.h: GET /api/alerts and the "alerts" part of /api/health.
 * http.c routes the request and lends a pooled read-only connection; the
 * rest lives here so that alerting and the rest of the API evolve apart.
 *
 *   GET /api/alerts[?run=R][&tag=T][&state=S[,S...]][&limit=N]
 *     S: pending, firing, resolved, or active (= pending,firing);
 *     N: 1..100000 (default 1000), most recent episode first.
 *   -> {"alerts":[{"id":..,"rule":..,"run":..,...}],"count":N}
 */
#ifndef ERWATCH_HTTP_ALERTS_H
#define ERWATCH_HTTP_ALERTS_H

#include <stddef.h>

#include <microhttpd.h>

#include "params.h"
#include "query.h"
#include "query_filter.h"
#include "stats.h"
#include "strbuf.h"

/* Reads the request's parameters (params.h) into *f (pointing into the
 * request's memory, valid for the request). Pure. Returns 0, or -1 with a
 * message naming the parameter. */
int http_alerts_parse(const params_t *p, alerts_filter_t *f, char *msg, size_t msglen);
/* The response body. Returns 0, or -1 with err filled. */
int http_alerts_body(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err, size_t errlen);
/* Appends ,"alerts":{"rules":..,"pending":..,"firing":..,"fired":..,
 * "notifications":{"sent":..,"errors":..,"dropped":..}} (s may be NULL). */
void http_alerts_health(strbuf_t *b, const stats_t *s);

#endif
