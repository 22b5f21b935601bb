/* params.h: the HTTP API's query parameters, parsed and checked.
 *
 * Pure: the caller supplies the lookup (http.c wraps libmicrohttpd's), so
 * the parser is unit-tested and fuzzed (tests/fuzz/fuzz_params.c) without a
 * server. Every rejection comes with a message naming the parameter, meant
 * for a 400 answer. Values point into the caller's storage; nothing is
 * allocated.
 */
#ifndef ERWATCH_PARAMS_H
#define ERWATCH_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "query_filter.h"

typedef struct {
    /* The value of `name` and its length in bytes (it may hold a NUL,
     * which the parser rejects); NULL when absent; "" for "?name" with no
     * '='. */
    const char *(*get)(void *ctx, const char *name, size_t *len);
    void *ctx;
    /* Optional (NULL: get's one value only): every value of a repeated
     * `name`, in order, into vals/lens (at most max); returns how many
     * there are, which may exceed max. */
    size_t (*all)(void *ctx, const char *name, const char **vals, size_t *lens, size_t max);
} params_t;

#define PARAMS_DEFAULT_POINTS 10000
#define PARAMS_MAX_POINTS 1000000

/* A series window: GET /api/series and /api/spectrum. */
typedef struct {
    const char *run, *tag, *metric; /* metric NULL when not asked for */
    int64_t after, before;          /* open window; INT64_MIN/MAX by default */
    size_t points;                  /* 1..PARAMS_MAX_POINTS */
    int csv;                        /* format=csv */
    int with_time;                  /* time=1 */
} params_series_t;

/* The value of an optional parameter, or NULL when absent; *bad is set
 * when it holds a NUL byte (a C string would silently cut it short). */
const char *params_get(const params_t *p, const char *name, int *bad);

/* Strict signed 64-bit decimal: optional sign, digits, nothing else.
 * Returns 0, or -1. */
int params_i64(const char *s, int64_t *out);

/* format=json|csv (default json) into *csv. Returns 0, or -1. */
int params_format(const params_t *p, int *csv);

/* run, tag (and metric when nnames is 3), after, before, points, format,
 * time. Returns 0, or -1 with msg (OUT) naming the parameter. */
int params_series(const params_t *p, int nnames, params_series_t *r, char *msg, size_t msglen);

/* GET /api/runs: limit (1..PARAMS_MAX_RUNS_LIMIT), offset, q (a part of
 * the name), run (repeatable, exact names), id (repeatable), since (Unix
 * s), format. Returns 0 with *f and *csv, or -1 with msg (OUT) naming the
 * parameter. */
#define PARAMS_MAX_RUNS_LIMIT 100000
int params_runs(const params_t *p, query_runs_filter_t *f, int *csv, char *msg, size_t msglen);

#endif
