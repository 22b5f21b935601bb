/* store_backend.c: the store's API (store.h, store_runs.h) over its backends
 * (store_backend.h). store_open() asks each backend in turn whether the
 * --db argument is one of its databases; every other call goes through the
 * handle's table of functions. No backend knowledge lives here.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>

#include "store_backend.h"
#include "store_runs.h"

/* In order of asking: the last one (SQLite: a file path) takes anything. */
static const store_ops_t *const s_backends[] = {
    &store_pg_ops,
    &store_sqlite_ops,
};

static const store_ops_t *s_backend_of(const char *db)
{
    size_t n = sizeof s_backends / sizeof s_backends[0];
    for (size_t i = 0; i + 1 < n; i++)
        if (s_backends[i]->accepts(db))
            return s_backends[i];
    return s_backends[n - 1];
}

void store_describe(const char *db, char *out, size_t outlen)
{
    const store_ops_t *ops = s_backend_of(db ? db : "");
    if (ops->describe)
        ops->describe(db, out, outlen);
    else
        snprintf(out, outlen, "%s", db ? db : "");
}

int store_open(store_t **out, const char *db, char *err, size_t errlen)
{
    *out = NULL;
    if (!db || !*db) {
        snprintf(err, errlen, "cannot open database: no path given");
        return -1;
    }
    return s_backend_of(db)->open(out, db, err, errlen);
}

void store_close(store_t **sp)
{
    if (!sp || !*sp)
        return;
    (*sp)->ops->close(*sp);
    *sp = NULL;
}

long store_write(store_t *s, result_t *const *results, size_t n, char *err, size_t errlen)
{
    return s->ops->write(s, results, n, err, errlen);
}

void store_forget_ids(store_t *s)
{
    s->ops->forget_ids(s);
}

int store_alerts_write(store_t *s, const alert_change_t *ch, size_t n, char *err, size_t errlen)
{
    return s->ops->alerts_write(s, ch, n, err, errlen);
}

int store_alerts_open(store_t *s, alert_t **rows, size_t *nrows, int64_t *max_id, char *err,
                      size_t errlen)
{
    return s->ops->alerts_open(s, rows, nrows, max_id, err, errlen);
}

int store_series_range(store_t *s, const char *run, const char *tag, const char *metric,
                       double *max, double *min)
{
    return s->ops->series_range(s, run, tag, metric, max, min);
}

const char *store_backend(const store_t *s)
{
    return s->ops->name;
}

void store_set_daemon(store_t *s, const char *name)
{
    snprintf(s->daemon, sizeof(s->daemon), "%s", name ? name : "");
}

/* ---------------------------------------------------------------- store_runs.h */

int store_run_delete(store_t *s, const char *name, double now, store_deleted_t *out, char *err,
                     size_t errlen)
{
    return s->ops->run_delete(s, name, now, out, err, errlen);
}

int store_run_rename(store_t *s, const char *old, const char *new_name, char *err, size_t errlen)
{
    return s->ops->run_rename(s, old, new_name, err, errlen);
}

long store_purge_step(store_t *s, long max_rows, char *err, size_t errlen)
{
    return s->ops->purge_step(s, max_rows, err, errlen);
}

int store_oldest_run(store_t *s, char *name, double *last_seen, int *others)
{
    return s->ops->oldest_run(s, name, last_seen, others);
}

int store_space(store_t *s, store_space_t *out)
{
    return s->ops->space ? s->ops->space(s, out) : -ENOTSUP;
}

int store_vacuum_step(store_t *s, int64_t pages)
{
    return s->ops->vacuum_step ? s->ops->vacuum_step(s, pages) : -ENOTSUP;
}

int store_background(store_t *s, int load)
{
    return s->ops->background ? s->ops->background(s, load) : 0;
}
