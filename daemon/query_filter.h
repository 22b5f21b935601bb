/* query_filter.h: which runs GET /api/runs lists (query_runs_filtered in
 * query.h), filled by params_runs (params.h). Types only, so the pure,
 * fuzzed parameter parser needs nothing of query.c. */
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

#endif
