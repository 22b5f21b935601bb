/* params.c: query-parameter parsing for the HTTP API (see params.h).
 * Strict by design: a number must be the whole string, in range, and a
 * window must be non-empty, so a typo in a URL is a clear 400, never a
 * silently different answer. */
#include "params.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *params_get(const params_t *p, const char *name, int *bad)
{
    size_t n = 0;
    const char *v = p->get(p->ctx, name, &n);
    *bad = 0;
    if (v && strlen(v) != n)
        *bad = 1;
    return v;
}

int params_i64(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return -1; /* also rejects "", leading spaces and a lone sign */
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return -1;
    _Static_assert(sizeof(long long) == sizeof(int64_t), "64-bit long long");
    *out = (int64_t)v;
    return 0;
}

int params_format(const params_t *p, int *csv)
{
    int bad;
    const char *f = params_get(p, "format", &bad);
    *csv = 0;
    if (!f)
        return 0;
    if (bad)
        return -1;
    if (strcmp(f, "json") == 0)
        return 0;
    if (strcmp(f, "csv") == 0) {
        *csv = 1;
        return 0;
    }
    return -1;
}

int params_series(const params_t *p, int nnames, params_series_t *r, char *msg, size_t msglen)
{
    static const char *const names[3] = {"run", "tag", "metric"};
    const char **dst[3] = {&r->run, &r->tag, &r->metric};
    int bad;
    r->metric = NULL;
    for (int i = 0; i < nnames && i < 3; i++) {
        const char *v = params_get(p, names[i], &bad);
        if (!v) {
            snprintf(msg, msglen, "missing parameter '%s'", names[i]);
            return -1;
        }
        if (!*v) {
            snprintf(msg, msglen, "parameter '%s' is empty", names[i]);
            return -1;
        }
        if (bad) {
            snprintf(msg, msglen, "parameter '%s' contains a NUL byte", names[i]);
            return -1;
        }
        *dst[i] = v;
    }

    static const char *const bounds[2] = {"after", "before"};
    int64_t *bdst[2] = {&r->after, &r->before};
    r->after = INT64_MIN;
    r->before = INT64_MAX;
    for (int i = 0; i < 2; i++) {
        const char *v = params_get(p, bounds[i], &bad);
        if (v && (bad || params_i64(v, bdst[i]) != 0)) {
            snprintf(msg, msglen,
                     "parameter '%s' must be an integer step from %" PRId64 " to %" PRId64,
                     bounds[i], INT64_MIN, INT64_MAX);
            return -1;
        }
    }
    if (r->after >= r->before) {
        snprintf(msg, msglen,
                 "parameter 'after' (%" PRId64 ") must be less than 'before' (%" PRId64 ")",
                 r->after, r->before);
        return -1;
    }

    r->points = PARAMS_DEFAULT_POINTS;
    const char *v = params_get(p, "points", &bad);
    if (v) {
        int64_t n;
        if (bad || params_i64(v, &n) != 0 || n < 1 || n > PARAMS_MAX_POINTS) {
            snprintf(msg, msglen, "parameter 'points' must be an integer from 1 to %d",
                     PARAMS_MAX_POINTS);
            return -1;
        }
        r->points = (size_t)n;
    }

    if (params_format(p, &r->csv) != 0) {
        snprintf(msg, msglen, "parameter 'format' must be 'json' or 'csv'");
        return -1;
    }

    r->with_time = 0;
    v = params_get(p, "time", &bad);
    if (v) {
        if (bad || (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)) {
            snprintf(msg, msglen, "parameter 'time' must be 0 or 1");
            return -1;
        }
        r->with_time = v[0] == '1';
    }
    return 0;
}

/* Every value of a repeatable parameter (at most max); -1 past max or on a
 * NUL byte or an empty value. */
static int s_all(const params_t *p, const char *name, const char **vals, size_t max, int *n)
{
    size_t lens[QUERY_RUNS_NAMES_MAX + 1];
    size_t k;
    if (p->all) {
        k = p->all(p->ctx, name, vals, lens, max);
        if (k > max)
            return -1;
    } else {
        size_t len = 0;
        vals[0] = p->get(p->ctx, name, &len);
        k = vals[0] != NULL;
        lens[0] = len;
    }
    for (size_t i = 0; i < k; i++)
        if (!*vals[i] || strlen(vals[i]) != lens[i])
            return -1;
    *n = (int)k;
    return 0;
}

int params_runs(const params_t *p, query_runs_filter_t *f, int *csv, char *msg, size_t msglen)
{
    memset(f, 0, sizeof *f);
    f->limit = -1;
    int bad, n;
    int64_t v;
    const char *s = params_get(p, "limit", &bad);
    if (s && (bad || params_i64(s, &v) != 0 || v < 1 || v > PARAMS_MAX_RUNS_LIMIT)) {
        snprintf(msg, msglen, "parameter 'limit' must be an integer from 1 to %d",
                 PARAMS_MAX_RUNS_LIMIT);
        return -1;
    }
    if (s)
        f->limit = v;
    s = params_get(p, "offset", &bad);
    if (s && (bad || params_i64(s, &v) != 0 || v < 0)) {
        snprintf(msg, msglen, "parameter 'offset' must be an integer >= 0");
        return -1;
    }
    if (s)
        f->offset = v;
    s = params_get(p, "q", &bad);
    if (s && (bad || strlen(s) > 4 * 128)) {
        snprintf(msg, msglen, "parameter 'q' must be text of at most 512 bytes");
        return -1;
    }
    f->match = s && *s ? s : NULL;
    s = params_get(p, "since", &bad);
    if (s) {
        char *end = NULL;
        errno = 0;
        double t = strtod(s, &end);
        if (bad || !*s || errno || *end || t != t || t > 1e300 || t < -1e300) {
            snprintf(msg, msglen, "parameter 'since' must be a time in Unix seconds");
            return -1;
        }
        f->has_since = 1;
        f->since = t;
    }
    if (s_all(p, "run", f->names, QUERY_RUNS_NAMES_MAX, &n) != 0) {
        snprintf(msg, msglen,
                 "parameter 'run' must be a run name (non-empty, no NUL byte), "
                 "at most %d of them",
                 QUERY_RUNS_NAMES_MAX);
        return -1;
    }
    f->nnames = (size_t)n;
    const char *ids[QUERY_RUNS_NAMES_MAX];
    if (s_all(p, "id", ids, QUERY_RUNS_NAMES_MAX, &n) != 0)
        n = -1;
    for (int i = 0; i < n; i++)
        if (params_i64(ids[i], &f->ids[i]) != 0 || f->ids[i] < 1)
            n = -1;
    if (n < 0) {
        snprintf(msg, msglen,
                 "parameter 'id' must be a run id (an integer >= 1), at most %d "
                 "of them",
                 QUERY_RUNS_NAMES_MAX);
        return -1;
    }
    f->nids = (size_t)n;
    if (params_format(p, csv) != 0) {
        snprintf(msg, msglen, "parameter 'format' must be 'json' or 'csv'");
        return -1;
    }
    return 0;
}
