/* summary_build.h: when the summaries a database lacks are built (series
 * with summarized = 0: an older database, points written with plain SQL):
 * the writer's tick policy and its log line, one definition for both
 * stores (store_summary.c for SQLite, store_pg_summary.c for PostgreSQL).
 * Each store supplies the piece of work; this decides how much of it runs
 * when. On the writer thread only.
 */
#ifndef ERWATCH_SUMMARY_BUILD_H
#define ERWATCH_SUMMARY_BUILD_H

#include <stddef.h>
#include <stdint.h>

/* Points per build transaction: a few tens of milliseconds of work. */
#define SUMMARY_BUILD_POINTS 65536

/* One bounded piece of building, in a transaction of its own: summarizes
 * about max_points points of a series with summarized = 0 (marking it 1
 * when it is done, and then setting *finished). Returns the points read
 * (> 0), 0 when nothing is left to build, or -1 with why filled. */
typedef long (*summary_build_fn)(void *ctx, long max_points, int *finished, char *why,
                                 size_t whylen);

typedef struct {
    double last;           /* monotonic time of the last piece */
    double began, longest; /* for the log line */
    long series;           /* finished since the work began */
    long failing;          /* pieces failed in a row */
    int64_t points;
} summary_build_t;

/* The writer's tick (writer.h, load one of its WRITER_* levels): while
 * idle, pieces for up to 50 ms; while results arrive, one piece a second
 * at most, so ingest keeps its pace. Logs a failed piece (the build is
 * retried; one of 100 failures in a row) and, when the work is done, one
 * line; `label` names the database as logs show it. Returns 1 when work is left that should go on
 * soon. */
int summary_build_tick(summary_build_t *b, summary_build_fn fn, void *ctx, const char *label,
                       int load);

#endif
