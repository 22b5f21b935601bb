/* store_pg_summary.c: the PostgreSQL backend's side of the series
 * summaries (the `summaries` table; store_summary.h states the invariant
 * for SQLite): for every series with summarized = 1, its rows are exactly
 * what a rebuild from its points gives, in the same transaction as the
 * points.
 *
 * Design decisions:
 *  - Appends are summed in, rewrites are recomputed, as store_summary.c
 *    does, but decided on the server: after a group's points are written,
 *    one INSERT ... ON CONFLICT DO UPDATE per level takes the same arrays
 *    as the points' upsert, sums them per cell, and either adds that to
 *    the stored cell (every point of the group lies after the cell's last:
 *    one index seek) or recomputes the cell from its points (at most 2^8)
 *    or its 16 children. Recomputing every touched cell instead was
 *    measured at 0.63x the writer's rate without summaries (RESULTS.md).
 *  - After a rewind the cells from the rewind step on are deleted and the
 *    one holding it recomputed (s_leaf_sql, s_parent_sql).
 *  - The levels come from summary.h as parameters, so the SQL holds no
 *    copy of them; the rows are those of store_summary.c (count, min and
 *    max of the defined values, the last point).
 *  - Every series' cells follow its points, whatever its summarized; a
 *    series with summarized = 0 (made under schema version 4, or by plain
 *    SQL) is built by store__pg_summary_build() between groups, a range of
 *    finest cells per transaction in ascending order, each range deleted
 *    and recomputed (as store_summary.c's s_rebuild), then marked 1:
 *    cells the writer recomputed meanwhile are exact, parents past the
 *    build's frontier are recomputed when it gets there. Readers use the
 *    cells once summarized = 1. Two daemons may build one series at once
 *    (its row is locked per piece): both write what the points give.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>

#include "summary.h"
#include "summary_build.h"

/* The cells of level $3 (the finest) of the (series $1[i], finest bucket
 * $2[i]) pairs, recomputed from their points (after a rewind). Each cell is an aggregate LATERAL
 * subquery, which the planner cannot flatten into a join: one index range
 * scan per cell, never a scan of the table. */
static const char s_leaf_sql[] =
    "INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step, last_value,"
    " last_time)"
    " SELECT t.sid, $3::integer, t.b, a.n, a.lo, a.hi, a.last, a.lv, a.lt"
    " FROM (SELECT DISTINCT sid, b FROM unnest($1::bigint[], $2::bigint[]) AS u(sid, b)) AS t"
    " CROSS JOIN LATERAL (SELECT count(*) AS n, min(nullif(value, 'NaN'::float8)) AS lo,"
    "  max(nullif(value, 'NaN'::float8)) AS hi, max(step) AS last,"
    "  (array_agg(value ORDER BY step DESC))[1] AS lv,"
    "  (array_agg(wall_time ORDER BY step DESC))[1] AS lt"
    "  FROM points WHERE series_id = t.sid AND step >= (t.b << $3::integer)"
    "  AND step <= ((t.b << $3::integer) | ((1::bigint << $3::integer) - 1))) AS a"
    " WHERE a.last IS NOT NULL"
    " ON CONFLICT (series_id, level, bucket) DO UPDATE SET n = EXCLUDED.n,"
    " vmin = EXCLUDED.vmin, vmax = EXCLUDED.vmax, last_step = EXCLUDED.last_step,"
    " last_value = EXCLUDED.last_value, last_time = EXCLUDED.last_time";

/* The cells of level $3 above the same pairs, from their children at level
 * $3 - $4 ($4: log2 of the children per parent; $5: the finest level). */
static const char s_parent_sql[] =
    "INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step, last_value,"
    " last_time)"
    " SELECT t.sid, $3::integer, t.b, a.n, a.lo, a.hi, a.last, a.lv, a.lt"
    " FROM (SELECT DISTINCT sid, b >> ($3::integer - $5::integer) AS b"
    "  FROM unnest($1::bigint[], $2::bigint[]) AS u(sid, b)) AS t"
    " CROSS JOIN LATERAL (SELECT sum(n)::bigint AS n, min(vmin) AS lo, max(vmax) AS hi,"
    "  max(last_step) AS last, (array_agg(last_value ORDER BY bucket DESC))[1] AS lv,"
    "  (array_agg(last_time ORDER BY bucket DESC))[1] AS lt"
    "  FROM summaries WHERE series_id = t.sid AND level = $3::integer - $4::integer"
    "  AND bucket >= (t.b << $4::integer)"
    "  AND bucket <= ((t.b << $4::integer) | ((1::bigint << $4::integer) - 1))) AS a"
    " WHERE a.last IS NOT NULL"
    " ON CONFLICT (series_id, level, bucket) DO UPDATE SET n = EXCLUDED.n,"
    " vmin = EXCLUDED.vmin, vmax = EXCLUDED.vmax, last_step = EXCLUDED.last_step,"
    " last_value = EXCLUDED.last_value, last_time = EXCLUDED.last_time";

/* What a group of points ($1 series, $2 step, $3 value, $4 wall time:
 * the arrays of the points' upsert, after it) does to the cells of level
 * $5: per cell, its points in the group (d); a cell none of whose stored
 * points is at or after the group's first one there takes d summed in (c:
 * the stored cell, if any); any other (a step written again, a gap filled)
 * is recomputed by r, from its points at the finest level, else from its
 * 2^$6 children (their level recomputed or summed in just before). r's
 * gate is its first condition: a cell summed in costs one index seek. */
#define S_GROUP_SQL(RECOMPUTE)                                                                     \
    "INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step, last_value,"       \
    " last_time)"                                                                                  \
    " SELECT d.sid, $5::integer, d.b,"                                                             \
    " CASE WHEN d.dirty THEN r.n ELSE coalesce(d.cn, 0) + d.n END,"                                \
    " CASE WHEN d.dirty THEN r.lo ELSE least(d.clo, d.lo) END,"                                    \
    " CASE WHEN d.dirty THEN r.hi ELSE greatest(d.chi, d.hi) END,"                                 \
    " CASE WHEN d.dirty THEN r.last ELSE d.last END,"                                              \
    " CASE WHEN d.dirty THEN r.lv ELSE d.lv END,"                                                  \
    " CASE WHEN d.dirty THEN r.lt ELSE d.lt END"                                                   \
    " FROM (SELECT g.*, c.n AS cn, c.vmin AS clo, c.vmax AS chi,"                                  \
    "  coalesce(c.last_step >= g.first, false) AS dirty FROM"                                      \
    "  (SELECT sid, step >> $5::integer AS b, count(*) AS n,"                                      \
    "   min(nullif(value, 'NaN'::float8)) AS lo, max(nullif(value, 'NaN'::float8)) AS hi,"         \
    "   min(step) AS first, max(step) AS last, (array_agg(value ORDER BY step DESC))[1] AS lv,"    \
    "   (array_agg(wall ORDER BY step DESC))[1] AS lt"                                             \
    "   FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::float8[])"                       \
    "   AS u(sid, step, value, wall) GROUP BY 1, 2) AS g"                                          \
    "  LEFT JOIN summaries AS c ON c.series_id = g.sid AND c.level = $5::integer"                  \
    "  AND c.bucket = g.b) AS d"                                                                   \
    " CROSS JOIN LATERAL (" RECOMPUTE ") AS r"                                                     \
    " ON CONFLICT (series_id, level, bucket) DO UPDATE SET n = EXCLUDED.n,"                        \
    " vmin = EXCLUDED.vmin, vmax = EXCLUDED.vmax, last_step = EXCLUDED.last_step,"                 \
    " last_value = EXCLUDED.last_value, last_time = EXCLUDED.last_time"

static const char s_group_leaf_sql[] =
    S_GROUP_SQL("SELECT count(*) AS n, min(nullif(value, 'NaN'::float8)) AS lo,"
                " max(nullif(value, 'NaN'::float8)) AS hi, max(step) AS last,"
                " (array_agg(value ORDER BY step DESC))[1] AS lv,"
                " (array_agg(wall_time ORDER BY step DESC))[1] AS lt"
                " FROM points WHERE d.dirty AND series_id = d.sid AND step >= (d.b << $5::integer)"
                " AND step <= ((d.b << $5::integer) | ((1::bigint << $5::integer) - 1))");

static const char s_group_parent_sql[] = S_GROUP_SQL(
    "SELECT sum(n)::bigint AS n, min(vmin) AS lo, max(vmax) AS hi, max(last_step) AS last,"
    " (array_agg(last_value ORDER BY bucket DESC))[1] AS lv,"
    " (array_agg(last_time ORDER BY bucket DESC))[1] AS lt"
    " FROM summaries WHERE d.dirty AND series_id = d.sid AND level = $5::integer - $6::integer"
    " AND bucket >= (d.b << $6::integer)"
    " AND bucket <= ((d.b << $6::integer) | ((1::bigint << $6::integer) - 1))");

int store__pg_summary_points(store_t *s, const char *const arrays[4], char *why, size_t whylen)
{
    for (int i = 0; i < SUMMARY_NLEVELS; i++) {
        store_pg_params_t p = {0};
        for (int k = 0; k < 4; k++)
            store__pg_text(&p, arrays[k]);
        store__pg_int(&p, SUMMARY_LEVEL(i));
        if (i > 0)
            store__pg_int(&p, SUMMARY_LEVEL_STEP);
        PGresult *res =
            store__pg_prepared(s, i ? s_group_parent_sql : s_group_leaf_sql, &p, why, whylen);
        PQclear(res);
        if (!res)
            return -1;
    }
    return 0;
}

int store__pg_summary_cells(store_t *s, const char *sids, const char *buckets, char *why,
                            size_t whylen)
{
    store_pg_params_t p = {0};
    store__pg_text(&p, sids);
    store__pg_text(&p, buckets);
    store__pg_int(&p, SUMMARY_LEVEL(0));
    PGresult *res = store__pg_prepared(s, s_leaf_sql, &p, why, whylen);
    PQclear(res);
    if (!res)
        return -1;
    for (int i = 1; i < SUMMARY_NLEVELS; i++) {
        p.n = 2;
        store__pg_int(&p, SUMMARY_LEVEL(i));
        store__pg_int(&p, SUMMARY_LEVEL_STEP);
        store__pg_int(&p, SUMMARY_LEVEL(0));
        res = store__pg_prepared(s, s_parent_sql, &p, why, whylen);
        PQclear(res);
        if (!res)
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
                        " FROM series WHERE run_id = $1",
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

/* ---------------------------------------------------------------- build */

/* Finest cells lo..hi of series sid and their parents, deleted and
 * recomputed from the points; *points gets the points read. */
static int s_rebuild_range(store_t *s, int64_t sid, int64_t lo, int64_t hi, int64_t *points,
                           char *why, size_t whylen)
{
    static const char del[] = "DELETE FROM summaries WHERE series_id = $1 AND level = $2"
                              " AND bucket >= $3 AND bucket <= $4";
    store_pg_params_t p = {0};
    store__pg_int(&p, sid);
    store__pg_int(&p, SUMMARY_LEVEL(0));
    store__pg_int(&p, lo);
    store__pg_int(&p, hi);
    if (store__pg_run(s, del, &p, why, whylen) != 0)
        return -1;
    p.n = 1;
    store__pg_int(&p, summary_first_step(lo, SUMMARY_LEVEL(0)));
    store__pg_int(&p, summary_last_step(hi, SUMMARY_LEVEL(0)));
    store__pg_int(&p, SUMMARY_LEVEL(0));
    int found = store__pg_one(
        s,
        "WITH c AS (INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step,"
        " last_value, last_time)"
        " SELECT $1::bigint, $4::integer, step >> $4::integer, count(*),"
        " min(nullif(value, 'NaN'::float8)), max(nullif(value, 'NaN'::float8)), max(step),"
        " (array_agg(value ORDER BY step DESC))[1], (array_agg(wall_time ORDER BY step DESC))[1]"
        " FROM points WHERE series_id = $1 AND step >= $2 AND step <= $3"
        " GROUP BY step >> $4::integer RETURNING n)"
        " SELECT coalesce(sum(n), 0)::bigint FROM c",
        &p, points, why, whylen);
    if (found < 0)
        return -1;
    for (int i = 1; i < SUMMARY_NLEVELS; i++) {
        int shift = SUMMARY_LEVEL(i) - SUMMARY_LEVEL(0);
        int64_t plo = lo >> shift, phi = hi >> shift; /* arithmetic: summary_bucket() */
        p.n = 1;
        store__pg_int(&p, SUMMARY_LEVEL(i));
        store__pg_int(&p, plo);
        store__pg_int(&p, phi);
        if (store__pg_run(s, del, &p, why, whylen) != 0)
            return -1;
        p.n = 1;
        store__pg_int(&p, plo * (1 << SUMMARY_LEVEL_STEP));
        store__pg_int(&p, phi * (1 << SUMMARY_LEVEL_STEP) + ((1 << SUMMARY_LEVEL_STEP) - 1));
        store__pg_int(&p, SUMMARY_LEVEL(i));
        store__pg_int(&p, SUMMARY_LEVEL_STEP);
        if (store__pg_run(
                s,
                "INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step,"
                " last_value, last_time)"
                " SELECT $1::bigint, $4::integer, bucket >> $5::integer, sum(n)::bigint,"
                " min(vmin), max(vmax), max(last_step),"
                " (array_agg(last_value ORDER BY bucket DESC))[1],"
                " (array_agg(last_time ORDER BY bucket DESC))[1]"
                " FROM summaries WHERE series_id = $1 AND level = $4::integer - $5::integer"
                " AND bucket >= $2 AND bucket <= $3 GROUP BY bucket >> $5::integer",
                &p, why, whylen) != 0)
            return -1;
    }
    return 0;
}

long store__pg_summary_build(store_t *s, store_pg_build_t *b, long max_points, int *finished,
                             char *why, size_t whylen)
{
    *finished = 0;
    if (store__pg_ready(s, why, whylen) != 0)
        return -1;
    if (!b->sid) {
        /* not a deleted run's series: its rows are being purged */
        int found = store__pg_one(s,
                                  "SELECT s.id FROM series AS s JOIN runs AS r ON r.id = s.run_id"
                                  " WHERE s.summarized = 0 ORDER BY s.id LIMIT 1",
                                  NULL, &b->sid, why, whylen);
        if (found <= 0) {
            b->sid = 0;
            return found;
        }
        b->next = summary_bucket(INT64_MIN, SUMMARY_LEVEL(0));
    }
    if (store__pg_run(s, "BEGIN", NULL, why, whylen) != 0)
        goto fail;
    store_pg_params_t p = {0};
    store__pg_int(&p, b->sid);
    int64_t one = 0, points = 0;
    int found = store__pg_one(s,
                              "SELECT 1 FROM series AS s JOIN runs AS r ON r.id = s.run_id"
                              " WHERE s.id = $1 AND s.summarized = 0 FOR UPDATE OF s",
                              &p, &one, why, whylen);
    if (found < 0)
        goto fail;
    if (found) {
        /* The piece ends before the cell of its max_points-th point. */
        int64_t end = 0;
        store__pg_int(&p, summary_first_step(b->next, SUMMARY_LEVEL(0)));
        store__pg_int(&p, max_points);
        int more = store__pg_one(s,
                                 "SELECT step FROM points WHERE series_id = $1 AND step >= $2"
                                 " ORDER BY step OFFSET $3 LIMIT 1",
                                 &p, &end, why, whylen);
        if (more < 0)
            goto fail;
        int64_t hi = summary_bucket(INT64_MAX, SUMMARY_LEVEL(0));
        if (more) {
            hi = summary_bucket(end, SUMMARY_LEVEL(0)) - 1;
            if (hi < b->next)
                hi = b->next;
        }
        if (s_rebuild_range(s, b->sid, b->next, hi, &points, why, whylen) != 0)
            goto fail;
        if (hi == summary_bucket(INT64_MAX, SUMMARY_LEVEL(0))) {
            p.n = 1;
            if (store__pg_run(s, "UPDATE series SET summarized = 1 WHERE id = $1", &p, why,
                              whylen) != 0)
                goto fail;
            b->sid = 0;
            *finished = 1;
        } else {
            b->next = hi + 1;
        }
    } else {
        b->sid = 0; /* summarized or deleted meanwhile */
    }
    if (store__pg_run(s, "COMMIT", NULL, why, whylen) != 0)
        goto fail;
    return points > 0 ? (long)points : 1; /* progress, even on an empty piece */

fail:
    store__pg_rollback(s);
    b->sid = 0; /* start that series again */
    *finished = 0;
    return -1;
}

/* summary_build_fn over store__pg_summary_build(). */
typedef struct {
    store_t *s;
    store_pg_build_t *b;
} s_piece_t;

static long s_piece(void *ctx, long max_points, int *finished, char *why, size_t whylen)
{
    s_piece_t *c = ctx;
    return store__pg_summary_build(c->s, c->b, max_points, finished, why, whylen);
}

int store__pg_summary_tick(store_t *s, store_pg_build_t *b, int load)
{
    s_piece_t c = {.s = s, .b = b};
    return summary_build_tick(&b->tick, s_piece, &c, store__pg_label(s), load);
}
