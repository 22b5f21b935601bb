/* http_prom.h: GET /metrics, the Prometheus text exposition of the daemon's
 * health and of the latest value of every metric of the recently active
 * runs. http.c routes the request and lends a pooled read-only connection.
 *
 *   GET /metrics[?window=SECONDS][&limit=N]
 *     window: runs that sent a batch in the last SECONDS (1..604800,
 *             default 900) have their latest points exposed;
 *     limit:  at most N erwatch_metric series (1..100000, default 10000),
 *             most recently active runs first; erwatch_metric_truncated
 *             says 1 when the limit cut some out.
 *
 * Families (README "Scaling out" lists them with their meaning):
 * erwatch_metric{run,tag,metric} and erwatch_step{run,tag} for the runs, and
 * the counters of /api/health under erwatch_* names.
 */
#ifndef ERWATCH_HTTP_PROM_H
#define ERWATCH_HTTP_PROM_H

#include <stddef.h>

#include "params.h"
#include "query.h"
#include "queue.h"
#include "stats.h"
#include "strbuf.h"

#define HTTP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define HTTP_PROM_WINDOW_DEFAULT 900
#define HTTP_PROM_WINDOW_MAX 604800
#define HTTP_PROM_LIMIT_DEFAULT 10000
#define HTTP_PROM_LIMIT_MAX 100000

typedef struct {
    double window_s;
    size_t limit;
} http_prom_opts_t;

/* Reads window and limit. Pure. Returns 0, or -1 with a message naming the
 * parameter. */
int http_prom_parse(const params_t *p, http_prom_opts_t *o, char *msg, size_t msglen);

/* The exposition into out. q may be NULL (the database cannot be read
 * now): the health families are still written, erwatch_store_readable is
 * 0 and no run is exposed. in/out are the work and result queues (may be
 * NULL). now is the wall clock (Unix seconds). Returns 0, or -1 when the
 * database could not be read (the answer is still complete otherwise). */
int http_prom_body(query_t *q, const stats_t *s, queue_t *in, queue_t *out,
                   const http_prom_opts_t *o, double now, const char *version, strbuf_t *b);

#endif
