/* store_pg_summary.c: the PostgreSQL backend's side of the series
 * summaries (the `summaries` table; store_summary.h states the invariant
 * for SQLite): for every series with summarized = 1, its rows are exactly
 * what a rebuild from its points gives, in the same transaction as the
 * points.
 *
 * Design decisions:
 *  - Recomputed, never summed in: after a group's points are written, each
 *    finest cell they fall in is recomputed from its points (at most 2^8,
 *    one index range each) and each parent from its 16 children, one
 *    INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE per level for
 *    the whole group. An append, a rewrite and a gap filled are then one
 *    code path, and the invariant holds by construction; the cost is that
 *    the group re-reads the points of the cells it touched, on the server,
 *    next to them (tests/bench/RESULTS.md measures what it costs ingest).
 *  - The levels come from summary.h as parameters, so the SQL holds no
 *    copy of them; the rows are those of store_summary.c (count, min and
 *    max of the defined values, the last point).
 *  - A series with summarized = 0 (made by a version-4 database, or by
 *    plain SQL) is left alone: its readers scan its points, as on SQLite
 *    before its build. There is no background build here (see README.md).
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>

#include "summary.h"

/* The cells of level $3 (the finest) of the (series $1[i], finest bucket
 * $2[i]) pairs, from their points. */
static const char s_leaf_sql[] =
    "INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step, last_value,"
    " last_time)"
    " SELECT t.sid, $3::integer, t.b, count(*), min(p.v), max(p.v), max(p.step),"
    " (array_agg(p.value ORDER BY p.step DESC))[1],"
    " (array_agg(p.wall_time ORDER BY p.step DESC))[1]"
    " FROM (SELECT DISTINCT u.sid, u.b FROM unnest($1::bigint[], $2::bigint[]) AS u(sid, b)"
    "  JOIN series AS s ON s.id = u.sid AND s.summarized = 1) AS t"
    " JOIN LATERAL (SELECT step, value, nullif(value, 'NaN'::float8) AS v, wall_time"
    "  FROM points WHERE series_id = t.sid AND step >= (t.b << $3::integer)"
    "  AND step <= ((t.b << $3::integer) | ((1::bigint << $3::integer) - 1))) AS p ON true"
    " GROUP BY t.sid, t.b"
    " ON CONFLICT (series_id, level, bucket) DO UPDATE SET n = EXCLUDED.n,"
    " vmin = EXCLUDED.vmin, vmax = EXCLUDED.vmax, last_step = EXCLUDED.last_step,"
    " last_value = EXCLUDED.last_value, last_time = EXCLUDED.last_time";

/* The cells of level $3 above the same pairs, from their children at level
 * $3 - $4 ($4: log2 of the children per parent; $5: the finest level). */
static const char s_parent_sql[] =
    "INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step, last_value,"
    " last_time)"
    " SELECT t.sid, $3::integer, t.b, sum(c.n)::bigint, min(c.vmin), max(c.vmax),"
    " max(c.last_step), (array_agg(c.last_value ORDER BY c.bucket DESC))[1],"
    " (array_agg(c.last_time ORDER BY c.bucket DESC))[1]"
    " FROM (SELECT DISTINCT u.sid, u.b >> ($3::integer - $5::integer) AS b"
    "  FROM unnest($1::bigint[], $2::bigint[]) AS u(sid, b)"
    "  JOIN series AS s ON s.id = u.sid AND s.summarized = 1) AS t"
    " JOIN summaries AS c ON c.series_id = t.sid AND c.level = $3::integer - $4::integer"
    "  AND c.bucket >= (t.b << $4::integer)"
    "  AND c.bucket <= ((t.b << $4::integer) | ((1::bigint << $4::integer) - 1))"
    " GROUP BY t.sid, t.b"
    " ON CONFLICT (series_id, level, bucket) DO UPDATE SET n = EXCLUDED.n,"
    " vmin = EXCLUDED.vmin, vmax = EXCLUDED.vmax, last_step = EXCLUDED.last_step,"
    " last_value = EXCLUDED.last_value, last_time = EXCLUDED.last_time";

int store__pg_summary_cells(store_t *s, const char *sids, const char *buckets, char *why,
                            size_t whylen)
{
    store_pg_params_t p = {0};
    store__pg_text(&p, sids);
    store__pg_text(&p, buckets);
    store__pg_int(&p, SUMMARY_LEVEL(0));
    if (store__pg_run(s, s_leaf_sql, &p, why, whylen) != 0)
        return -1;
    for (int i = 1; i < SUMMARY_NLEVELS; i++) {
        p.n = 2;
        store__pg_int(&p, SUMMARY_LEVEL(i));
        store__pg_int(&p, SUMMARY_LEVEL_STEP);
        store__pg_int(&p, SUMMARY_LEVEL(0));
        if (store__pg_run(s, s_parent_sql, &p, why, whylen) != 0)
            return -1;
    }
    return 0;
}

int store__pg_summary_rewind(store_t *s, int64_t run_id, int64_t step, char *why, size_t whylen)
{
    /* Every cell from the one holding step on goes; the one holding step
     * comes back from what is left of it, if anything is. */
    store_pg_params_t p = {0};
    store__pg_int(&p, run_id);
    store__pg_int(&p, step);
    if (store__pg_run(
            s,
            "DELETE FROM summaries WHERE series_id IN"
            " (SELECT id FROM series WHERE run_id = $1) AND bucket >= ($2::bigint >> level)",
            &p, why, whylen) != 0)
        return -1;
    store__pg_int(&p, SUMMARY_LEVEL(0));
    PGresult *res =
        store__pg_query(s,
                        "SELECT array_agg(id)::text, array_agg($2::bigint >> $3::integer)::text"
                        " FROM series WHERE run_id = $1 AND summarized = 1",
                        &p, why, whylen);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        rc = store__pg_summary_cells(s, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), why, whylen);
    PQclear(res);
    return rc;
}

long store__pg_summary_purge(store_t *s, int64_t sid, long max_rows, char *why, size_t whylen)
{
    store_pg_params_t p = {0};
    store__pg_int(&p, sid);
    store__pg_int(&p, max_rows);
    PGresult *res =
        store__pg_query(s,
                        "DELETE FROM summaries WHERE series_id = $1 AND (level, bucket) IN"
                        " (SELECT level, bucket FROM summaries WHERE series_id = $1"
                        " LIMIT $2)",
                        &p, why, whylen);
    if (!res)
        return -1;
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}
