/* store_summary.h: the writer's side of the series summaries (the
 * `summaries` table, schema/README.md): per series, per level of
 * summary.h, per bucket of 2^level steps, the count, min, max and last
 * point of the points stored there, so that a wide window is read from a
 * few thousand rows whatever the series' length (query_summary.h).
 *
 * Invariant, for every series with series.summarized = 1: its summaries
 * rows are exactly what a rebuild from its points would give. store.c keeps
 * it in the same transaction as the points: store_summary_point() for each
 * point before it is written, store_summary_flush() before the commit (and
 * before a rewind), store_summary_forget() after a rollback,
 * store_summary_rewind() after a rewind removed points. Series with
 * summarized = 0 (an older file, points written by plain SQL) are built by
 * store_summary_build(), a bounded number of points per transaction, on the
 * writer thread between groups; until then readers scan their points.
 *
 * All of it runs on the writer's connection, on the writer thread only.
 * Every SQL statement that writes the table is in store_summary.c.
 */
#ifndef ERWATCH_STORE_SUMMARY_H
#define ERWATCH_STORE_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct store_summary store_summary_t;

/* Before the schema script runs on an existing file (inside its
 * transaction): adds series.summarized (0 for every series: built later)
 * when the file does not have it. Returns SQLITE_OK or an error code. */
int store_summary_migrate(sqlite3 *db);

/* Prepares the statements on db (the schema exists). NULL on error
 * (message in sqlite3_errmsg(db)). Owned; store_summary_destroy() frees. */
store_summary_t *store_summary_new(sqlite3 *db);
void store_summary_destroy(store_summary_t **ss);

/* Inside the group's transaction, before the point (sid, step) is written
 * (value NaN: NULL). Returns SQLITE_OK or an error code. */
int store_summary_point(store_summary_t *ss, int64_t sid, int64_t step, double value, double time);
/* Writes what the points so far changed; the group's state is then empty. */
int store_summary_flush(store_summary_t *ss);
/* Drops the group's state (after a rollback). */
void store_summary_forget(store_summary_t *ss);
/* After the points of run run_id at steps >= step were removed (inside
 * the same transaction, after store_summary_flush). */
int store_summary_rewind(store_summary_t *ss, int64_t run_id, int64_t step);

/* One bounded piece of building: in a transaction of its own, summarizes
 * about max_points points of a series with summarized = 0 (marking it 1
 * when done). Returns the points read (> 0), 0 when nothing is left to
 * build, or -1 (message in sqlite3_errmsg). */
long store_summary_build(store_summary_t *ss, long max_points);

/* The writer's tick (writer.h) for the build, with summary_build.h's
 * policy. Returns 1 when work is left that should go on soon. */
int store_summary_tick(store_summary_t *ss, const char *path, int load);

/* Inside a purge transaction: removes at most max_rows summaries rows of
 * series sid. Returns the rows removed, or -1. */
long store_summary_purge(sqlite3 *db, int64_t sid, long max_rows);

#endif
