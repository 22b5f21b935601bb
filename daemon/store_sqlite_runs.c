/* store_sqlite_runs.c: the SQLite backend's deleting and renaming runs, retention's reads, free
 * space (see store_runs.h).
 *
 * Design decisions:
 *  - Statements are prepared at each call: these run a few times a second
 *    at most, next to store_write's thousands of rows, and keeping them out
 *    of store_sqlite.c's table keeps that file about storing points.
 *  - Phase 2 deletes key ranges: points by (series_id, step) up to the
 *    max_rows-th step, batches and spectra by their primary key, so each
 *    transaction touches a bounded, contiguous part of each b-tree.
 *  - Every error rolls back: a phase that fails leaves the database as it
 *    was, and the caller retries later.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_summary.h"

/* Prepares sql and binds the given texts and integers: 't' text, 'i' int64,
 * 'd' double, in the order of fmt. NULL on error (message in the db). */
static sqlite3_stmt *s_prep(sqlite3 *db, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 't')
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else if (fmt[i] == 'i')
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else
            sqlite3_bind_double(st, i + 1, va_arg(ap, double));
    }
    va_end(ap);
    return st;
}

/* Runs a statement to its end. SQLITE_OK or the error code. */
static int s_run(sqlite3_stmt *st)
{
    if (!st)
        return SQLITE_ERROR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The first column of the first row as an integer: 1 found, 0 no row,
 * -1 error. */
static int s_one(sqlite3_stmt *st, int64_t *out)
{
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int s_begin(sqlite3 *db)
{
    return sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

static int s_commit(sqlite3 *db)
{
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

static void s_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- delete */

int store__sqlite_run_delete(store_t *s, const char *name, double now, store_deleted_t *out,
                             char *err, size_t errlen)
{
    sqlite3 *db = store__db(s);
    memset(out, 0, sizeof *out);
    if (s_begin(db) != SQLITE_OK)
        goto fail;
    int found = s_one(s_prep(db, "SELECT id FROM runs WHERE name = ?1", "t", name), &out->id);
    if (found < 0)
        goto fail;
    if (found == 0) {
        s_rollback(db);
        return -ENOENT;
    }
    sqlite3_stmt *st = s_prep(db, "SELECT id FROM series WHERE run_id = ?1", "i", out->id);
    if (!st)
        goto fail;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->nsids == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *v = realloc(out->sids, cap * sizeof *v);
            if (!v)
                abort(); /* daemon policy */
            out->sids = v;
        }
        out->sids[out->nsids++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        goto fail;
    if (s_run(s_prep(db, "INSERT INTO runs_deleted (id, name, deleted_time) VALUES (?1, ?2, ?3)",
                     "itd", out->id, name, now)) != SQLITE_OK ||
        s_run(s_prep(db, "DELETE FROM runs WHERE id = ?1", "i", out->id)) != SQLITE_OK ||
        /* its launches go with it: a launch that sends again starts afresh */
        s_run(s_prep(db, "DELETE FROM launches WHERE run_id = ?1", "i", out->id)) != SQLITE_OK ||
        s_run(s_prep(db, "DELETE FROM alerts WHERE run = ?1", "t", name)) != SQLITE_OK)
        goto fail;
    out->alerts = sqlite3_changes(db);
    if (s_commit(db) != SQLITE_OK)
        goto fail;
    return 0;

fail:
    ew_errf(err, errlen, "cannot delete run '%s' in '%s': %s", name, store__path(s),
            sqlite3_errmsg(db));
    s_rollback(db);
    free(out->sids);
    memset(out, 0, sizeof *out);
    return -EIO;
}

long store__sqlite_purge_step(store_t *s, long max_rows, char *err, size_t errlen)
{
    sqlite3 *db = store__db(s);
    int64_t rid = 0, sid = 0;
    if (max_rows < 1)
        max_rows = 1;
    int found = s_one(s_prep(db, "SELECT id FROM runs_deleted ORDER BY id LIMIT 1", ""), &rid);
    if (found <= 0) {
        if (found < 0)
            goto fail;
        return 0;
    }
    if (s_begin(db) != SQLITE_OK)
        goto fail;
    long n = 0;
    found = s_one(
        s_prep(db, "SELECT id FROM series WHERE run_id = ?1 ORDER BY id LIMIT 1", "i", rid), &sid);
    if (found < 0)
        goto fail;
    if (found) {
        /* Its summaries first (store_summary.h), then its points. */
        n = store_summary_purge(db, sid, max_rows);
        if (n < 0)
            goto fail;
    }
    if (found && n == 0) {
        /* The first max_rows points of the series: up to its max_rows-th step. */
        if (s_run(s_prep(db,
                         "DELETE FROM points WHERE series_id = ?1 AND step <= coalesce("
                         "(SELECT step FROM points WHERE series_id = ?1 ORDER BY step"
                         " LIMIT 1 OFFSET ?2), 9223372036854775807)",
                         "ii", sid, (int64_t)max_rows - 1)) != SQLITE_OK)
            goto fail;
        n = sqlite3_changes(db);
        if (n < max_rows) {
            if (s_run(s_prep(db, "DELETE FROM series WHERE id = ?1", "i", sid)) != SQLITE_OK)
                goto fail;
            n++;
        }
    } else if (!found) {
        static const char *const tables[] = {
            "DELETE FROM batches WHERE run_id = ?1 AND (tag, step) IN"
            " (SELECT tag, step FROM batches WHERE run_id = ?1 LIMIT ?2)",
            "DELETE FROM spectra WHERE run_id = ?1 AND (tag, step) IN"
            " (SELECT tag, step FROM spectra WHERE run_id = ?1 LIMIT ?2)",
        };
        for (size_t i = 0; i < 2 && n == 0; i++) {
            if (s_run(s_prep(db, tables[i], "ii", rid, (int64_t)max_rows)) != SQLITE_OK)
                goto fail;
            n = sqlite3_changes(db);
        }
        if (n == 0) { /* nothing of the run is left */
            if (s_run(s_prep(db, "DELETE FROM runs_deleted WHERE id = ?1", "i", rid)) != SQLITE_OK)
                goto fail;
            n = 1;
        }
    }
    if (s_commit(db) != SQLITE_OK)
        goto fail;
    return n;

fail:
    ew_errf(err, errlen, "cannot remove the rows of deleted run %lld from '%s': %s", (long long)rid,
            store__path(s), sqlite3_errmsg(db));
    s_rollback(db);
    return -1;
}

/* ---------------------------------------------------------------- rename */

int store__sqlite_run_rename(store_t *s, const char *old, const char *new_name, char *err,
                             size_t errlen)
{
    sqlite3 *db = store__db(s);
    int64_t id = 0, other = 0;
    if (s_begin(db) != SQLITE_OK)
        goto fail;
    int found = s_one(s_prep(db, "SELECT id FROM runs WHERE name = ?1", "t", old), &id);
    int taken =
        found > 0 ? s_one(s_prep(db, "SELECT id FROM runs WHERE name = ?1", "t", new_name), &other)
                  : 0;
    if (found < 0 || taken < 0)
        goto fail;
    if (!found || taken) {
        s_rollback(db);
        return !found ? -ENOENT : -EEXIST;
    }
    /* base follows: a resume of the new name finds the run (store.h) */
    if (s_run(s_prep(db, "UPDATE runs SET name = ?2, base = ?2 WHERE id = ?1", "it", id,
                     new_name)) != SQLITE_OK ||
        s_run(s_prep(db, "UPDATE alerts SET run = ?2 WHERE run = ?1", "tt", old, new_name)) !=
            SQLITE_OK ||
        s_commit(db) != SQLITE_OK)
        goto fail;
    return 0;

fail:
    ew_errf(err, errlen, "cannot rename run '%s' in '%s': %s", old, store__path(s),
            sqlite3_errmsg(db));
    s_rollback(db);
    return -EIO;
}

/* ---------------------------------------------------------------- retention */

int store__sqlite_oldest_run(store_t *s, char *name, double *last_seen, int *others)
{
    sqlite3 *db = store__db(s);
    sqlite3_stmt *st =
        s_prep(db, "SELECT name, last_seen FROM runs ORDER BY last_seen LIMIT 2", "");
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(name, EW_NAME_MAX + 1, "%s", t ? (const char *)t : "");
        *last_seen = sqlite3_column_double(st, 1);
        rc = sqlite3_step(st);
        *others = rc == SQLITE_ROW;
        if (rc == SQLITE_ROW)
            rc = SQLITE_DONE;
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -EIO;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int store__sqlite_space(store_t *s, store_space_t *out)
{
    sqlite3 *db = store__db(s);
    int64_t av = 0;
    memset(out, 0, sizeof *out);
    if (s_one(s_prep(db, "PRAGMA page_size", ""), &out->page_size) != 1 ||
        s_one(s_prep(db, "PRAGMA page_count", ""), &out->pages) != 1 ||
        s_one(s_prep(db, "PRAGMA freelist_count", ""), &out->free_pages) != 1 ||
        s_one(s_prep(db, "PRAGMA auto_vacuum", ""), &av) != 1)
        return -EIO;
    out->incremental = av == 2;
    return 0;
}

int store__sqlite_vacuum_step(store_t *s, int64_t pages)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%lld)",
             (long long)(pages > 0 ? pages : 1));
    return sqlite3_exec(store__db(s), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}
