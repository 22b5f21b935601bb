/* store_summary.c: keeps the `summaries` table equal to a rebuild from the
 * points (store_summary.h states the invariant and the calls).
 *
 * Design decisions:
 *  - Appends are summed in, rewrites are recomputed. A point whose step is
 *    above every step its series held (read once per series per group, one
 *    index seek) is new: the group adds it to a delta of its finest cell in
 *    memory, and the flush merges each delta into the stored cells with one
 *    UPSERT per level (count added, min/max widened, last point replaced).
 *    Min and max cannot be taken back, so any other point (a step written
 *    again, a gap filled) only marks its finest cell: the flush recomputes
 *    that cell from its points (at most 2^8) and its parents from their 16
 *    children each. The common case costs a few statements per series per
 *    group, not per point.
 *  - One routine rebuilds a range of finest cells from the points and their
 *    parents from the children (s_rebuild): the flush of rewritten cells,
 *    a rewind and the background build all use it, so there is one
 *    definition of a cell besides the UPSERT, and the tests hold both to a
 *    rebuild done in plain SQL.
 *  - Older files (and points written with plain SQL) are built on the
 *    writer thread between groups, a bounded number of points per
 *    transaction (store_summary_build); the writer's own deltas may land on
 *    cells the build has not reached, which the build then recomputes.
 *    Readers use a series' summaries only once series.summarized = 1.
 *  - Every statement that writes the table is here; a second store needs
 *    the same eight.
 */
#include "store_summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "summary.h"
#include "summary_build.h"
#include "xalloc.h"

#define S_L0 SUMMARY_LEVEL(0)

enum {
    SS_LAST,
    SS_UPSERT,
    SS_POINTS,
    SS_CELLS,
    SS_DEL,
    SS_PUT,
    SS_RUN_SERIES,
    SS_TODO,
    SS_PENDING,
    SS_DONE,
    SS_COUNT
};

static const char *const s_sql[SS_COUNT] = {
    "SELECT max(step) FROM points WHERE series_id = ?1",
    /* a delta of points all after the cell's: summary.h's summary_cell_add */
    "INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step, last_value,"
    " last_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT (series_id, level, bucket) DO UPDATE SET n = n + excluded.n,"
    " vmin = coalesce(min(vmin, excluded.vmin), vmin, excluded.vmin),"
    " vmax = coalesce(max(vmax, excluded.vmax), vmax, excluded.vmax),"
    " last_step = excluded.last_step, last_value = excluded.last_value,"
    " last_time = excluded.last_time",
    "SELECT step, value, wall_time FROM points"
    " WHERE series_id = ?1 AND step >= ?2 AND step <= ?3 ORDER BY step",
    "SELECT bucket, n, vmin, vmax, last_step, last_value, last_time FROM summaries"
    " WHERE series_id = ?1 AND level = ?2 AND bucket >= ?3 AND bucket <= ?4 ORDER BY bucket",
    "DELETE FROM summaries WHERE series_id = ?1 AND level = ?2 AND bucket >= ?3 AND bucket <= ?4",
    "INSERT INTO summaries (series_id, level, bucket, n, vmin, vmax, last_step, last_value,"
    " last_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    "SELECT id FROM series WHERE run_id = ?1",
    /* not a deleted run's series: its rows are being purged */
    "SELECT s.id FROM series AS s JOIN runs AS r ON r.id = s.run_id"
    " WHERE s.summarized = 0 ORDER BY s.id LIMIT 1",
    "SELECT 1 FROM series AS s JOIN runs AS r ON r.id = s.run_id"
    " WHERE s.id = ?1 AND s.summarized = 0",
    "UPDATE series SET summarized = 1 WHERE id = ?1",
};

/* What the group did to one series. */
typedef struct {
    int64_t sid;
    int64_t top; /* highest step stored or written so far */
    int has_top;
    summary_cell_t *d; /* deltas of appended points, finest cells, ascending */
    size_t nd, cd;
    int64_t *dirty; /* finest cells with a rewritten point */
    size_t ndirty, cdirty;
} s_touch_t;

struct store_summary {
    sqlite3 *db;
    sqlite3_stmt *st[SS_COUNT];
    s_touch_t *t; /* the group's series; buffers kept across groups */
    size_t nt, ct;
    uint32_t *slot; /* open addressing on sid: index + 1 into t, 0 empty */
    size_t cap;
    summary_cell_t *cells; /* s_rebuild's scratch */
    size_t ccells;
    int64_t build_sid, build_next; /* the series being built, its next cell */
    int build_finished;            /* the last build step finished a series */
    summary_build_t tick;          /* when build steps run (summary_build.h) */
};

/* ---------------------------------------------------------------- helpers */

static int s_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void s_bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static double s_col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Binds a cell as ?1..?9 of SS_UPSERT or SS_PUT and runs it. */
static int s_write_cell(store_summary_t *ss, int which, int64_t sid, int level,
                        const summary_cell_t *c)
{
    sqlite3_stmt *st = ss->st[which];
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int(st, 2, level);
    sqlite3_bind_int64(st, 3, c->bucket);
    sqlite3_bind_int64(st, 4, c->n);
    s_bind_real(st, 5, c->lo);
    s_bind_real(st, 6, c->hi);
    sqlite3_bind_int64(st, 7, c->last);
    s_bind_real(st, 8, c->last_value);
    sqlite3_bind_double(st, 9, c->last_time);
    return s_step_done(st);
}

static summary_cell_t *s_cell_push(summary_cell_t **v, size_t *n, size_t *cap, int64_t bucket)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = ew_xrealloc(*v, *cap * sizeof **v);
    }
    summary_cell_t *c = &(*v)[(*n)++];
    summary_cell_start(c, bucket);
    return c;
}

/* ---------------------------------------------------------------- rebuild */

/* Recomputes the finest cells lo..hi of series sid from its points, then
 * their parents at each coarser level from their children. With max_points
 * > 0 it stops at a cell boundary once that many points were read:
 * *done (OUT) is the last finest cell recomputed (hi when it read all).
 * Returns the points read (>= 0) or -1. */
static long s_rebuild(store_summary_t *ss, int64_t sid, int64_t lo, int64_t hi, long max_points,
                      int64_t *done)
{
    size_t n = 0;
    long points = 0;
    int stopped = 0;
    sqlite3_stmt *st = ss->st[SS_POINTS];
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, summary_first_step(lo, S_L0));
    sqlite3_bind_int64(st, 3, summary_last_step(hi, S_L0));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t step = sqlite3_column_int64(st, 0);
        int64_t b = summary_bucket(step, S_L0);
        if (n == 0 || ss->cells[n - 1].bucket != b) {
            if (max_points > 0 && points >= max_points) {
                stopped = 1;
                break;
            }
            s_cell_push(&ss->cells, &n, &ss->ccells, b);
        }
        double v = s_col_real(st, 1);
        summary_cell_add(&ss->cells[n - 1], 1, v, v, step, v, sqlite3_column_double(st, 2));
        points++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    *done = stopped ? ss->cells[n - 1].bucket : hi;
    hi = *done;

    for (int i = 0; i < SUMMARY_NLEVELS; i++) {
        int level = SUMMARY_LEVEL(i);
        if (i > 0) {
            /* the parents of lo..hi, from every child they have */
            int64_t plo = summary_bucket(lo, SUMMARY_LEVEL_STEP);
            int64_t phi = summary_bucket(hi, SUMMARY_LEVEL_STEP);
            n = 0;
            st = ss->st[SS_CELLS];
            sqlite3_bind_int64(st, 1, sid);
            sqlite3_bind_int(st, 2, SUMMARY_LEVEL(i - 1));
            sqlite3_bind_int64(st, 3, plo * (1 << SUMMARY_LEVEL_STEP));
            sqlite3_bind_int64(st, 4, phi * (1 << SUMMARY_LEVEL_STEP) + 15);
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int64_t b = summary_bucket(sqlite3_column_int64(st, 0), SUMMARY_LEVEL_STEP);
                if (n == 0 || ss->cells[n - 1].bucket != b)
                    s_cell_push(&ss->cells, &n, &ss->ccells, b);
                summary_cell_add(&ss->cells[n - 1], sqlite3_column_int64(st, 1), s_col_real(st, 2),
                                 s_col_real(st, 3), sqlite3_column_int64(st, 4), s_col_real(st, 5),
                                 sqlite3_column_double(st, 6));
            }
            sqlite3_reset(st);
            if (rc != SQLITE_DONE)
                return -1;
            lo = plo;
            hi = phi;
        }
        st = ss->st[SS_DEL];
        sqlite3_bind_int64(st, 1, sid);
        sqlite3_bind_int(st, 2, level);
        sqlite3_bind_int64(st, 3, lo);
        sqlite3_bind_int64(st, 4, hi);
        if (s_step_done(st) != SQLITE_OK)
            return -1;
        for (size_t k = 0; k < n; k++)
            if (s_write_cell(ss, SS_PUT, sid, level, &ss->cells[k]) != SQLITE_OK)
                return -1;
    }
    return points;
}

/* ---------------------------------------------------------------- open */

int store_summary_migrate(sqlite3 *db)
{
    int64_t has = 0;
    int rc = store__int(
        db, "SELECT count(*) FROM pragma_table_info('series') WHERE name = 'summarized'", &has);
    if (rc != SQLITE_OK || has)
        return rc;
    return sqlite3_exec(db, "ALTER TABLE series ADD COLUMN summarized INTEGER NOT NULL DEFAULT 0",
                        NULL, NULL, NULL);
}

store_summary_t *store_summary_new(sqlite3 *db)
{
    store_summary_t *ss = ew_xcalloc(1, sizeof *ss);
    ss->db = db;
    for (int i = 0; i < SS_COUNT; i++) {
        if (sqlite3_prepare_v3(db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &ss->st[i], NULL) !=
            SQLITE_OK) {
            store_summary_destroy(&ss);
            return NULL;
        }
    }
    return ss;
}

void store_summary_destroy(store_summary_t **ssp)
{
    store_summary_t *ss = ssp ? *ssp : NULL;
    if (!ss)
        return;
    for (int i = 0; i < SS_COUNT; i++)
        sqlite3_finalize(ss->st[i]);
    for (size_t i = 0; i < ss->ct; i++) {
        free(ss->t[i].d);
        free(ss->t[i].dirty);
    }
    free(ss->t);
    free(ss->slot);
    free(ss->cells);
    free(ss);
    *ssp = NULL;
}

/* ---------------------------------------------------------------- group */

static size_t s_hash(int64_t sid, size_t cap)
{
    return (size_t)(((uint64_t)sid * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static void s_slots_grow(store_summary_t *ss)
{
    size_t cap = ss->cap ? ss->cap * 2 : 256;
    free(ss->slot);
    ss->slot = ew_xcalloc(cap, sizeof *ss->slot);
    ss->cap = cap;
    for (size_t k = 0; k < ss->nt; k++) {
        size_t i = s_hash(ss->t[k].sid, cap);
        while (ss->slot[i])
            i = (i + 1) & (cap - 1);
        ss->slot[i] = (uint32_t)k + 1;
    }
}

/* The group's record of sid, made (with the series' highest stored step)
 * on its first point. NULL on a database error. */
static s_touch_t *s_touch(store_summary_t *ss, int64_t sid)
{
    if ((ss->nt + 1) * 2 > ss->cap)
        s_slots_grow(ss);
    size_t i = s_hash(sid, ss->cap);
    for (; ss->slot[i]; i = (i + 1) & (ss->cap - 1))
        if (ss->t[ss->slot[i] - 1].sid == sid)
            return &ss->t[ss->slot[i] - 1];
    sqlite3_stmt *st = ss->st[SS_LAST];
    sqlite3_bind_int64(st, 1, sid);
    int rc = sqlite3_step(st);
    int has = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    int64_t top = has ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return NULL;
    if (ss->nt == ss->ct) {
        size_t c = ss->ct ? ss->ct * 2 : 64;
        ss->t = ew_xrealloc(ss->t, c * sizeof *ss->t);
        memset(ss->t + ss->ct, 0, (c - ss->ct) * sizeof *ss->t);
        ss->ct = c;
    }
    s_touch_t *t = &ss->t[ss->nt];
    ss->slot[i] = (uint32_t)++ss->nt;
    t->sid = sid;
    t->top = top;
    t->has_top = has;
    t->nd = t->ndirty = 0;
    return t;
}

int store_summary_point(store_summary_t *ss, int64_t sid, int64_t step, double value, double time)
{
    s_touch_t *t = s_touch(ss, sid);
    if (!t)
        return sqlite3_errcode(ss->db) != SQLITE_OK ? sqlite3_errcode(ss->db) : SQLITE_ERROR;
    int64_t b = summary_bucket(step, S_L0);
    if (t->has_top && step <= t->top) {
        if (t->ndirty == t->cdirty) {
            t->cdirty = t->cdirty ? t->cdirty * 2 : 8;
            t->dirty = ew_xrealloc(t->dirty, t->cdirty * sizeof *t->dirty);
        }
        t->dirty[t->ndirty++] = b;
        return SQLITE_OK;
    }
    summary_cell_t *c = t->nd && t->d[t->nd - 1].bucket == b
                            ? &t->d[t->nd - 1]
                            : s_cell_push(&t->d, &t->nd, &t->cd, b);
    summary_cell_add(c, 1, value, value, step, value, time);
    t->top = step;
    t->has_top = 1;
    return SQLITE_OK;
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Merges one series' deltas into every level, then recomputes its
 * rewritten cells. */
static int s_flush_one(store_summary_t *ss, s_touch_t *t)
{
    for (int i = 0; i < SUMMARY_NLEVELS; i++) {
        int shift = SUMMARY_LEVEL_STEP * i;
        summary_cell_t acc;
        for (size_t k = 0; k < t->nd; k++) {
            const summary_cell_t *d = &t->d[k];
            int64_t b = summary_bucket(d->bucket, shift);
            if (k == 0 || acc.bucket != b) {
                if (k > 0 &&
                    s_write_cell(ss, SS_UPSERT, t->sid, SUMMARY_LEVEL(i), &acc) != SQLITE_OK)
                    return -1;
                summary_cell_start(&acc, b);
            }
            summary_cell_add(&acc, d->n, d->lo, d->hi, d->last, d->last_value, d->last_time);
        }
        if (t->nd && s_write_cell(ss, SS_UPSERT, t->sid, SUMMARY_LEVEL(i), &acc) != SQLITE_OK)
            return -1;
    }
    if (t->ndirty) {
        qsort(t->dirty, t->ndirty, sizeof *t->dirty, s_cmp_i64);
        for (size_t k = 0; k < t->ndirty;) {
            size_t j = k;
            while (j + 1 < t->ndirty && t->dirty[j + 1] <= t->dirty[j] + 1)
                j++;
            int64_t done;
            if (s_rebuild(ss, t->sid, t->dirty[k], t->dirty[j], 0, &done) < 0)
                return -1;
            k = j + 1;
        }
    }
    return 0;
}

void store_summary_forget(store_summary_t *ss)
{
    ss->nt = 0;
    if (ss->cap)
        memset(ss->slot, 0, ss->cap * sizeof *ss->slot);
}

int store_summary_flush(store_summary_t *ss)
{
    int rc = SQLITE_OK;
    for (size_t k = 0; k < ss->nt && rc == SQLITE_OK; k++)
        if (s_flush_one(ss, &ss->t[k]) != 0)
            rc = sqlite3_errcode(ss->db) != SQLITE_OK ? sqlite3_errcode(ss->db) : SQLITE_ERROR;
    store_summary_forget(ss);
    return rc;
}

int store_summary_rewind(store_summary_t *ss, int64_t run_id, int64_t step)
{
    store_summary_forget(ss); /* the highest steps read may be gone */
    int64_t *sids = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st = ss->st[SS_RUN_SERIES];
    sqlite3_bind_int64(st, 1, run_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            sids = ew_xrealloc(sids, cap * sizeof *sids);
        }
        sids[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    int64_t done;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
        if (s_rebuild(ss, sids[i], summary_bucket(step, S_L0), summary_bucket(INT64_MAX, S_L0), 0,
                      &done) < 0)
            rc = sqlite3_errcode(ss->db) != SQLITE_OK ? sqlite3_errcode(ss->db) : SQLITE_ERROR;
    free(sids);
    return rc;
}

/* ---------------------------------------------------------------- build */

long store_summary_build(store_summary_t *ss, long max_points)
{
    sqlite3 *db = ss->db;
    sqlite3_stmt *st;
    ss->build_finished = 0;
    if (!ss->build_sid) {
        st = ss->st[SS_TODO];
        int rc = sqlite3_step(st);
        ss->build_sid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? 0 : -1;
        ss->build_next = summary_bucket(INT64_MIN, S_L0);
    }
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    st = ss->st[SS_PENDING];
    sqlite3_bind_int64(st, 1, ss->build_sid);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    long points = 1; /* progress, even when the series went away */
    if (rc == SQLITE_ROW) {
        int64_t done;
        points = s_rebuild(ss, ss->build_sid, ss->build_next, summary_bucket(INT64_MAX, S_L0),
                           max_points, &done);
        if (points < 0)
            goto fail;
        if (done == summary_bucket(INT64_MAX, S_L0)) {
            st = ss->st[SS_DONE];
            sqlite3_bind_int64(st, 1, ss->build_sid);
            if (s_step_done(st) != SQLITE_OK)
                goto fail;
            ss->build_sid = 0;
            ss->build_finished = 1;
        } else {
            ss->build_next = done + 1;
        }
        if (points == 0)
            points = 1;
    } else if (rc == SQLITE_DONE) {
        ss->build_sid = 0; /* summarized or deleted meanwhile */
    } else {
        goto fail;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return points;

fail:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    ss->build_sid = 0; /* start that series again */
    return -1;
}

/* summary_build_fn over store_summary_build(). */
static long s_build_piece(void *ctx, long max_points, int *finished, char *why, size_t whylen)
{
    store_summary_t *ss = ctx;
    long n = store_summary_build(ss, max_points);
    *finished = ss->build_finished;
    if (n < 0)
        snprintf(why, whylen, "%s", sqlite3_errmsg(ss->db));
    return n;
}

int store_summary_tick(store_summary_t *ss, const char *path, int load)
{
    char label[600];
    snprintf(label, sizeof label, "'%s'", path);
    return summary_build_tick(&ss->tick, s_build_piece, ss, label, load);
}

/* ---------------------------------------------------------------- purge */

long store_summary_purge(sqlite3 *db, int64_t sid, long max_rows)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM summaries WHERE series_id = ?1 AND (level, bucket) IN"
                           " (SELECT level, bucket FROM summaries WHERE series_id = ?1 LIMIT ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, max_rows);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? (long)sqlite3_changes(db) : -1;
}
