/* store_runs.h: a run's life cycle in the database: deletion, renaming,
 * what retention needs to read, and giving free space back to the file
 * system. On the writer's connection (store.h): only the writer thread
 * calls these, between the groups it stores.
 *
 * Deleting a run is two-phase so that no transaction is long:
 *  1. store_run_delete(): one small transaction removes the runs row and the
 *     run's alerts and records the run in runs_deleted. From its commit on
 *     nothing of the run is visible (every reader joins runs by name).
 *  2. store_purge_step(), called again and again: each call removes at most
 *     max_rows of the run's points, batches or spectra in a transaction of
 *     its own; the last one removes its series rows and its runs_deleted row.
 * While a run is in runs_deleted its id is never given to a new run.
 */
#ifndef ERWATCH_STORE_RUNS_H
#define ERWATCH_STORE_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "store.h"

/* What store_run_delete() removed. */
typedef struct {
    int64_t id;    /* the run's id */
    int64_t *sids; /* its series ids (malloc'd, the caller frees; the
                      series rows go in phase 2) */
    size_t nsids;
    int64_t alerts; /* alert episodes deleted */
} store_deleted_t;

/* Phase 1 of deleting the run called name (now: Unix s, recorded).
 * Returns 0 with *out filled, -ENOENT when there is no such run, or -EIO
 * with err filled (nothing changed). */
int store_run_delete(store_t *s, const char *name, double now, store_deleted_t *out, char *err,
                     size_t errlen);

/* Renames run old to new_name, and its alert episodes with it, in one
 * transaction. Returns 0, -ENOENT (no run old), -EEXIST (a run new_name
 * exists), or -EIO with err filled; nothing changed unless 0. */
int store_run_rename(store_t *s, const char *old, const char *new_name, char *err, size_t errlen);

/* Phase 2: one transaction removing at most max_rows rows of a deleted
 * run. Returns the rows removed (> 0), 0 when no deletion is pending, or
 * -1 with err filled. */
long store_purge_step(store_t *s, long max_rows, char *err, size_t errlen);

/* The run with the oldest last_seen: its name (OUT, EW_NAME_MAX + 1 bytes),
 * its last_seen and whether another run exists (*others, OUT). Returns 0,
 * -ENOENT when there is no run, -EIO. */
int store_oldest_run(store_t *s, char *name, double *last_seen, int *others);

/* The main file's pages: size, count, free ones, and whether it has
 * incremental auto-vacuum. Returns 0 or -EIO. */
typedef struct {
    int64_t page_size, pages, free_pages;
    int incremental;
} store_space_t;
int store_space(store_t *s, store_space_t *out);

/* Gives at most `pages` free pages back to the file system (PRAGMA
 * incremental_vacuum). Returns 0 or -EIO. */
int store_vacuum_step(store_t *s, int64_t pages);

/* The backend's own work between groups, on the writer thread (SQLite:
 * building the summaries of series that lack them, store_summary.h). load:
 * WRITER_IDLE, _FLOWING or _BEHIND (writer.h). Returns 1 when work is left
 * that should go on soon, else 0. */
int store_background(store_t *s, int load);

#endif
