/* query_filter.h: what a query selects: which runs GET /api/runs lists
 * (query_runs_filtered in query.h, filled by params_runs in params.h),
 * which alerts GET /api/alerts lists (query_alerts, filled by
 * http_alerts_parse) and which run GET /api/run describes (query_run).
 * Types only, so the pure, fuzzed parameter parser needs nothing of
 * query_*.c. */
#ifndef ERWATCH_QUERY_FILTER_H
#define ERWATCH_QUERY_FILTER_H

#include <stddef.h>
#include <stdint.h>

#define QUERY_RUNS_NAMES_MAX 100 /* run= and id= values, each */

typedef struct {
    int64_t limit;                           /* at most this many runs; < 0: all */
    int64_t offset;                          /* skip this many first (>= 0) */
    const char *match;                       /* a part of the name, ASCII case-insensitive;
                                                NULL: any */
    const char *names[QUERY_RUNS_NAMES_MAX]; /* only these names ... */
    size_t nnames;
    int64_t ids[QUERY_RUNS_NAMES_MAX]; /* ... or these ids; neither: any */
    size_t nids;
    int has_since; /* only runs with last_seen >= since */
    double since;
} query_runs_filter_t;

#define ALERTS_QUERY_LIMIT_DEFAULT 1000
#define ALERTS_QUERY_LIMIT_MAX 100000

typedef struct {
    const char *run; /* NULL: every run */
    const char *tag; /* NULL: every tag */
    unsigned states; /* bits 1 << alert_state_t (alerts.h); 0: every state */
    size_t limit;    /* at most this many alerts, most recent first */
} alerts_filter_t;

/* One run, named one of three ways (exactly one given). */
typedef struct {
    const char *run;    /* its name */
    const char *launch; /* the run launch `launch` wrote under run name `name` */
    const char *name;
    const char *resume; /* the run a resume of this name would continue */
} query_run_key_t;

#endif
