/* store_pg_runs.c: the PostgreSQL backend's deleting and renaming runs and
 * retention's reads (see store_runs.h; store_sqlite_runs.c does the same on
 * SQLite). There is no file to shrink: space and vacuum_step are absent,
 * and erwatchd refuses --retention-size with a PostgreSQL database.
 *
 * Design decisions:
 *  - Plain statements (not prepared): these run a few times a second at
 *    most, next to the writer's groups.
 *  - Phase 2 deletes bounded key ranges as on SQLite; identity ids are never
 *    given again, so runs_deleted only lists what is still being purged.
 *  - Every error rolls back: a phase that fails leaves the database as it
 *    was, and the caller retries later.
 */
#include "store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* ---------------------------------------------------------------- delete */

int store__pg_run_delete(store_t *s, const char *name, double now, store_deleted_t *out, char *err,
                         size_t errlen)
{
    char why[512];
    memset(out, 0, sizeof *out);
    store_pg_params_t p = {0};
    store__pg_text(&p, name);
    if (store__pg_ready(s, why, sizeof why) != 0 ||
        store__pg_run(s, "BEGIN", NULL, why, sizeof why) != 0)
        goto fail;
    int found = store__pg_one(s, "SELECT id FROM runs WHERE name = $1 FOR UPDATE", &p, &out->id,
                              why, sizeof why);
    if (found < 0)
        goto fail;
    if (found == 0) {
        store__pg_rollback(s);
        return -ENOENT;
    }
    store_pg_params_t q = {0};
    store__pg_int(&q, out->id);
    PGresult *res = store__pg_query(s, "SELECT id FROM series WHERE run_id = $1 ORDER BY id", &q,
                                    why, sizeof why);
    if (!res)
        goto fail;
    out->nsids = (size_t)PQntuples(res);
    out->sids = ew_xcalloc(out->nsids ? out->nsids : 1, sizeof *out->sids);
    for (size_t i = 0; i < out->nsids; i++)
        out->sids[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
    PQclear(res);
    store_pg_params_t d = {0};
    store__pg_int(&d, out->id);
    store__pg_text(&d, name);
    store__pg_double(&d, now);
    if (store__pg_run(s, "INSERT INTO runs_deleted (id, name, deleted_time) VALUES ($1, $2, $3)",
                      &d, why, sizeof why) != 0 ||
        store__pg_run(s, "DELETE FROM runs WHERE id = $1", &q, why, sizeof why) != 0 ||
        /* its launches go with it: a launch that sends again starts afresh */
        store__pg_run(s, "DELETE FROM launches WHERE run_id = $1", &q, why, sizeof why) != 0)
        goto fail;
    res = store__pg_query(s, "DELETE FROM alerts WHERE run = $1", &p, why, sizeof why);
    if (!res)
        goto fail;
    out->alerts = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (store__pg_run(s, "COMMIT", NULL, why, sizeof why) != 0)
        goto fail;
    return 0;

fail:
    snprintf(err, errlen, "cannot delete run '%s' in %s: %s", name, store__pg_label(s), why);
    store__pg_rollback(s);
    free(out->sids);
    memset(out, 0, sizeof *out);
    return -EIO;
}

/* Rows a command changed. */
static long s_changed(PGresult *res)
{
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}

long store__pg_purge_step(store_t *s, long max_rows, char *err, size_t errlen)
{
    char why[512];
    int64_t rid = 0, sid = 0;
    if (max_rows < 1)
        max_rows = 1;
    if (store__pg_ready(s, why, sizeof why) != 0)
        goto fail;
    int found = store__pg_one(s, "SELECT id FROM runs_deleted ORDER BY id LIMIT 1", NULL, &rid, why,
                              sizeof why);
    if (found <= 0) {
        if (found < 0)
            goto fail;
        return 0;
    }
    if (store__pg_run(s, "BEGIN", NULL, why, sizeof why) != 0)
        goto fail;
    long n = 0;
    store_pg_params_t p = {0};
    store__pg_int(&p, rid);
    found = store__pg_one(s, "SELECT id FROM series WHERE run_id = $1 ORDER BY id LIMIT 1", &p,
                          &sid, why, sizeof why);
    if (found < 0)
        goto fail;
    PGresult *res;
    if (found) /* its summaries first, then its points */
        n = store__pg_summary_purge(s, sid, max_rows, why, sizeof why);
    if (n < 0)
        goto fail;
    if (found && n == 0) {
        /* The first max_rows points of the series: up to its max_rows-th step. */
        store_pg_params_t q = {0};
        store__pg_int(&q, sid);
        store__pg_int(&q, (int64_t)max_rows - 1);
        res = store__pg_query(s,
                              "DELETE FROM points WHERE series_id = $1 AND step <= coalesce("
                              "(SELECT step FROM points WHERE series_id = $1 ORDER BY step"
                              " OFFSET $2 LIMIT 1), 9223372036854775807)",
                              &q, why, sizeof why);
        if (!res)
            goto fail;
        n = s_changed(res);
        if (n < max_rows) {
            q.n = 1;
            if (store__pg_run(s, "DELETE FROM series WHERE id = $1", &q, why, sizeof why) != 0)
                goto fail;
            n++;
        }
    } else if (!found) {
        static const char *const tables[] = {
            "DELETE FROM batches WHERE run_id = $1 AND (tag, step) IN"
            " (SELECT tag, step FROM batches WHERE run_id = $1 LIMIT $2)",
            "DELETE FROM spectra WHERE run_id = $1 AND (tag, step) IN"
            " (SELECT tag, step FROM spectra WHERE run_id = $1 LIMIT $2)",
        };
        store__pg_int(&p, (int64_t)max_rows);
        for (size_t i = 0; i < 2 && n == 0; i++) {
            if (!(res = store__pg_query(s, tables[i], &p, why, sizeof why)))
                goto fail;
            n = s_changed(res);
        }
        if (n == 0) { /* nothing of the run is left */
            p.n = 1;
            if (store__pg_run(s, "DELETE FROM runs_deleted WHERE id = $1", &p, why, sizeof why) !=
                0)
                goto fail;
            n = 1;
        }
    }
    if (store__pg_run(s, "COMMIT", NULL, why, sizeof why) != 0)
        goto fail;
    return n;

fail:
    snprintf(err, errlen, "cannot remove the rows of deleted run %lld from %s: %s", (long long)rid,
             store__pg_label(s), why);
    store__pg_rollback(s);
    return -1;
}

/* ---------------------------------------------------------------- rename */

int store__pg_run_rename(store_t *s, const char *old, const char *new_name, char *err,
                         size_t errlen)
{
    char why[512];
    int64_t id = 0, other = 0;
    store_pg_params_t o = {0}, nw = {0};
    store__pg_text(&o, old);
    store__pg_text(&nw, new_name);
    if (store__pg_ready(s, why, sizeof why) != 0 ||
        store__pg_run(s, "BEGIN", NULL, why, sizeof why) != 0)
        goto fail;
    int found = store__pg_one(s, "SELECT id FROM runs WHERE name = $1 FOR UPDATE", &o, &id, why,
                              sizeof why);
    int taken = found > 0 ? store__pg_one(s, "SELECT id FROM runs WHERE name = $1", &nw, &other,
                                          why, sizeof why)
                          : 0;
    if (found < 0 || taken < 0)
        goto fail;
    if (!found || taken) {
        store__pg_rollback(s);
        return !found ? -ENOENT : -EEXIST;
    }
    store_pg_params_t p = {0};
    store__pg_int(&p, id);
    store__pg_text(&p, new_name);
    store_pg_params_t a = {0};
    store__pg_text(&a, old);
    store__pg_text(&a, new_name);
    /* base follows: a resume of the new name finds the run (store.h) */
    if (store__pg_run(s, "UPDATE runs SET name = $2, base = $2 WHERE id = $1", &p, why,
                      sizeof why) != 0 ||
        store__pg_run(s, "UPDATE alerts SET run = $2 WHERE run = $1", &a, why, sizeof why) != 0 ||
        store__pg_run(s, "COMMIT", NULL, why, sizeof why) != 0)
        goto fail;
    return 0;

fail:
    snprintf(err, errlen, "cannot rename run '%s' in %s: %s", old, store__pg_label(s), why);
    store__pg_rollback(s);
    return -EIO;
}

/* ---------------------------------------------------------------- retention */

int store__pg_oldest_run(store_t *s, char *name, double *last_seen, int *others)
{
    char why[256];
    if (store__pg_ready(s, why, sizeof why) != 0)
        return -EIO;
    /* NULLS FIRST: SQLite's order, so both backends retire the same run */
    PGresult *res = store__pg_query(
        s, "SELECT name, coalesce(last_seen, 0) FROM runs ORDER BY last_seen NULLS FIRST LIMIT 2",
        NULL, why, sizeof why);
    if (!res)
        return -EIO;
    int n = PQntuples(res);
    if (n > 0) {
        snprintf(name, EW_NAME_MAX + 1, "%s", PQgetvalue(res, 0, 0));
        *last_seen = strtod(PQgetvalue(res, 0, 1), NULL);
        *others = n > 1;
    }
    PQclear(res);
    return n > 0 ? 0 : -ENOENT;
}
