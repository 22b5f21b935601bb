/* query_summary.h: the reader's side of the series summaries (the
 * `summaries` table, store_summary.h): a wide window bucketed from the
 * summary cells of its grid level (downsample.h) instead of every point.
 *
 * On the caller's read-only connection, inside its read transaction. Owned:
 * query_summary_open() returns it, query_summary_close() frees it.
 */
#ifndef ERWATCH_QUERY_SUMMARY_H
#define ERWATCH_QUERY_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "downsample.h"

typedef struct query_summary query_summary_t;

/* NULL on error (message in sqlite3_errmsg(db)). */
query_summary_t *query_summary_open(sqlite3 *db);
void query_summary_close(query_summary_t **qs);

/* Buckets the points of series sid with first <= step <= last (first and
 * last are points of it) into at most `buckets` buckets, exactly as
 * downsample_begin/push/end over those points would, reading whole grid
 * cells from the summaries and points only in the window's first and last
 * cell. Returns 1 with *out filled, 0 when the summaries cannot answer
 * (the window is narrower than the finest level allows, or the series is
 * not summarized yet: the caller scans the points), -1 on a database
 * error (message in sqlite3_errmsg). */
int query_summary_view(query_summary_t *qs, int64_t sid, int64_t first, int64_t last,
                       size_t buckets, int with_time, series_t *out);

#endif
