/* query_backend.c: the query API (query.h) over its backends (query_backend.h).
 * query_open() asks each backend in turn whether the --db argument is one
 * of its databases; every other call goes through the handle's table of
 * functions. No backend knowledge lives here.
 */
#include "query.h"

#include "query_backend.h"

/* In order of asking: the last one (SQLite: a file path) takes anything. */
static const query_ops_t *const s_backends[] = {
    &query_pg_ops,
    &query_sqlite_ops,
};

int query_open(query_t **out, const char *db, char *err, size_t errlen)
{
    *out = NULL;
    if (!db)
        db = "";
    size_t n = sizeof s_backends / sizeof s_backends[0];
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || s_backends[i]->accepts(db))
            return s_backends[i]->open(out, db, err, errlen);
    return -1; /* not reached */
}

void query_close(query_t **q)
{
    if (!q || !*q)
        return;
    (*q)->ops->close(*q);
    *q = NULL;
}

void query_use_cache(query_t *q, query_cache_t *c)
{
    q->ops->use_cache(q, c);
}

int query_runs(query_t *q, strbuf_t *out, int csv, char *err, size_t errlen)
{
    return q->ops->runs(q, out, csv, err, errlen);
}

int query_runs_filtered(query_t *q, const query_runs_filter_t *f, strbuf_t *out, int csv,
                        const char *extra, char *err, size_t errlen)
{
    return q->ops->runs_filtered(q, f, out, csv, extra, err, errlen);
}

int query_series(query_t *q, const char *run, const char *tag, const char *metric, int64_t after,
                 int64_t before, series_t *out, char *err, size_t errlen)
{
    return q->ops->series(q, run, tag, metric, after, before, out, err, errlen);
}

int query_series_view(query_t *q, const query_view_t *v, series_t *out, char *err, size_t errlen)
{
    return q->ops->series_view(q, v, out, err, errlen);
}

int query_series_hint(query_t *q, const char *run, const char *tag, strbuf_t *out)
{
    return q->ops->series_hint(q, run, tag, out);
}

int query_batch_shape(query_t *q, const char *run, const char *tag, query_shape_t *out, char *err,
                      size_t errlen)
{
    return q->ops->batch_shape(q, run, tag, out, err, errlen);
}

int query_spectrum(query_t *q, const char *run, const char *tag, int64_t after, int64_t before,
                   size_t points, strbuf_t *out, char *err, size_t errlen)
{
    return q->ops->spectrum(q, run, tag, after, before, points, out, err, errlen);
}

int64_t query_client_dropped(query_t *q)
{
    return q->ops->client_dropped(q);
}

long query_latest(query_t *q, double since, size_t limit, query_latest_fn fn, void *ctx, int *more,
                  char *err, size_t errlen)
{
    return q->ops->latest(q, since, limit, fn, ctx, more, err, errlen);
}

int query_alerts(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err, size_t errlen)
{
    return q->ops->alerts(q, f, out, err, errlen);
}

int query_run(query_t *q, const query_run_key_t *k, strbuf_t *out, char *err, size_t errlen)
{
    return q->ops->run(q, k, out, err, errlen);
}
