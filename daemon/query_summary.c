/* query_summary.c: a wide window from the summaries (query_summary.h).
 *
 * Design decisions:
 *  - The grid of the display buckets (downsample.h) is the level read, so
 *    every cell strictly inside the window lies in one bucket and its row
 *    stands for its points: min and max exact, the last point exact. Only
 *    the two cells the window's ends cut are read point by point (at most
 *    2^level points each). For span / buckets >= 2^level the rows read are
 *    between `buckets` and 16 x `buckets`, whatever the series' length.
 *  - A series not yet summarized (series.summarized = 0: an older file
 *    being built) is answered by the caller's scan; the flag is read in the
 *    caller's read transaction, so a reader never mixes a half-built table
 *    with a finished one.
 */
#include "query_summary.h"

#include <math.h>
#include <stdlib.h>

#include "summary.h"
#include "xalloc.h"

enum { QS_SUMMARIZED, QS_POINTS, QS_CELLS, QS_COUNT };

static const char *const s_sql[QS_COUNT] = {
    "SELECT summarized FROM series WHERE id = ?1",
    "SELECT step, value, wall_time FROM points"
    " WHERE series_id = ?1 AND step >= ?2 AND step <= ?3 ORDER BY step",
    "SELECT bucket, n, vmin, vmax, last_step, last_value, last_time FROM summaries"
    " WHERE series_id = ?1 AND level = ?2 AND bucket >= ?3 AND bucket <= ?4 ORDER BY bucket",
};

struct query_summary {
    sqlite3_stmt *st[QS_COUNT];
};

query_summary_t *query_summary_open(sqlite3 *db)
{
    query_summary_t *qs = ew_xcalloc(1, sizeof *qs);
    for (int i = 0; i < QS_COUNT; i++) {
        if (sqlite3_prepare_v3(db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &qs->st[i], NULL) !=
            SQLITE_OK) {
            query_summary_close(&qs);
            return NULL;
        }
    }
    return qs;
}

void query_summary_close(query_summary_t **qsp)
{
    query_summary_t *qs = qsp ? *qsp : NULL;
    if (!qs)
        return;
    for (int i = 0; i < QS_COUNT; i++)
        sqlite3_finalize(qs->st[i]);
    free(qs);
    *qsp = NULL;
}

static double s_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Pushes the points with lo <= step <= hi. 0 or -1. */
static int s_points(query_summary_t *qs, downsample_stream_t *ds, int64_t sid, int64_t lo,
                    int64_t hi)
{
    sqlite3_stmt *st = qs->st[QS_POINTS];
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, lo);
    sqlite3_bind_int64(st, 3, hi);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        downsample_push(ds, sqlite3_column_int64(st, 0), s_real(st, 1),
                        sqlite3_column_double(st, 2));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Pushes the cells lo..hi of the grid's level. 0 or -1. */
static int s_cells(query_summary_t *qs, downsample_stream_t *ds, int64_t sid, int64_t lo,
                   int64_t hi)
{
    sqlite3_stmt *st = qs->st[QS_CELLS];
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int(st, 2, ds->grid);
    sqlite3_bind_int64(st, 3, lo);
    sqlite3_bind_int64(st, 4, hi);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        summary_cell_t c = {
            .bucket = sqlite3_column_int64(st, 0),
            .n = sqlite3_column_int64(st, 1),
            .lo = s_real(st, 2),
            .hi = s_real(st, 3),
            .last = sqlite3_column_int64(st, 4),
            .last_value = s_real(st, 5),
            .last_time = sqlite3_column_double(st, 6),
        };
        downsample_push_cell(ds, &c);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int query_summary_view(query_summary_t *qs, int64_t sid, int64_t first, int64_t last,
                       size_t buckets, int with_time, series_t *out)
{
    int level = downsample_grid(first, last, buckets);
    if (!level)
        return 0;
    sqlite3_stmt *st = qs->st[QS_SUMMARIZED];
    sqlite3_bind_int64(st, 1, sid);
    int rc = sqlite3_step(st);
    int ready = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) == 1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    if (!ready)
        return 0;

    downsample_stream_t ds;
    downsample_begin(&ds, first, last, buckets, with_time, out);
    int64_t cf = summary_bucket(first, level), cl = summary_bucket(last, level);
    int64_t end_first = summary_last_step(cf, level);
    int err = s_points(qs, &ds, sid, first, end_first < last ? end_first : last);
    if (!err && cl > cf + 1)
        err = s_cells(qs, &ds, sid, cf + 1, cl - 1);
    if (!err && cl > cf)
        err = s_points(qs, &ds, sid, summary_first_step(cl, level), last);
    downsample_end(&ds);
    if (err || ds.unordered) {
        series_free(out);
        return -1;
    }
    return 1;
}
