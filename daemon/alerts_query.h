/* alerts_query.h: reading the alerts table (schema/README.md) for the HTTP
 * API (GET /api/alerts) on a read-only connection. Never touches the
 * writer's connection; WAL lets it read while the writer writes.
 */
#ifndef ERWATCH_ALERTS_QUERY_H
#define ERWATCH_ALERTS_QUERY_H

#include <stddef.h>

#include "strbuf.h"

struct sqlite3;

#define ALERTS_QUERY_LIMIT_DEFAULT 1000
#define ALERTS_QUERY_LIMIT_MAX 100000

typedef struct {
    const char *run; /* NULL: every run */
    const char *tag; /* NULL: every tag */
    unsigned states; /* bits 1 << alert_state_t (alerts.h); 0: every state */
    size_t limit;    /* at most this many alerts, most recent first */
} alerts_filter_t;

/* Appends {"count":N,"alerts":[{...}, ...]} (most recent episode first) to
 * out. Returns 0, or -1 with err filled (out is then left as it was). */
int alerts_query_json(struct sqlite3 *db, const alerts_filter_t *f, strbuf_t *out, char *err,
                      size_t errlen);

#endif
