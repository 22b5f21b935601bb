/* query_sqlite.c: the query side's SQLite backend (query_backend.h):
 * read-only access to the database for the HTTP API and tools.
 *
 * Design decisions:
 *  - Each sq_query_t is one SQLITE_OPEN_READONLY connection. The database is in
 *    WAL mode (store_sqlite.c), so a reader sees the last committed group and never
 *    waits for the writer, nor the writer for it. busy_timeout covers the
 *    rare moments WAL still needs a lock (recovery after a crash).
 *  - Statements are prepared once per connection and reset right after use:
 *    a statement left mid-step would hold a read snapshot open and stop the
 *    writer's checkpoints from shrinking the WAL.
 *  - The run list is one SELECT (runs LEFT JOIN series, a window function
 *    for each tag's last step), streamed into JSON or CSV in a single pass.
 *    On an error the output buffer is cut back to where it was, so a caller
 *    never sends half a document.
 *  - Every name goes out through strbuf_json_str / strbuf_csv_str; integers
 *    (steps, counts) are printed exactly, reals through strbuf_json_num.
 *  - A downsampled view (query_series_view) never holds the rows: a private
 *    aggregate function, ew_bucket(step, value[, wall_time]), registered on
 *    each connection, pushes every row into downsample_push() from inside
 *    SQLite's own loop. That is two to three times faster than stepping a
 *    SELECT and reading columns row by row (no result row is built per
 *    point), and memory stays O(buckets). The main file is memory-mapped
 *    for the same reason (no page copies into SQLite's cache).
 *  - A window wide enough for the summaries' grid (downsample.h) is read
 *    from them instead (query_summary.c): the cost follows the buckets
 *    drawn, not the points stored. Same answer either way.
 */
#include "query_sqlite.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>

#include <sqlite3.h>

#include "log.h"
#include "query_cache.h"
#include "query_summary.h"
#include "store.h"
#include "xalloc.h"

#define Q_BUSY_TIMEOUT_MS 5000
#define Q_MMAP_BYTES "1073741824" /* address space only; pages are shared */

typedef struct sq_query sq_query_t;
#define SQ(base) ((sq_query_t *)(base)) /* base is the first member */

enum {
    Q_RUNS,
    Q_SERIES_ID,
    Q_POINTS,
    Q_DROPPED,
    Q_VIEW_HEAD,
    Q_VIEW_LAST,
    Q_BUCKET,
    Q_BUCKET_T,
    Q_SHAPE,
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SPEC_RUN,
    Q_SPEC_RANGE,
    Q_SPEC_COUNT,
    Q_SPEC_LAST,
    Q_SERIES_KEY,
    Q_RUN_SERIES,
    Q_NSTMT
};

static const char *const s_sql[Q_NSTMT] = {
    /* Columns: 0 run id, 1 name, 2 first_seen, 3 last_seen, 4 last_step,
     * 5 dropped, 6 world, 7 tag, 8 metric, 9 series last_step, 10 the tag's
     * last step, 11 base, 12 launch. Rows of one run, and of one tag, are
     * contiguous. */
    "SELECT r.id, r.name, r.first_seen, r.last_seen, r.last_step, r.dropped,"
    " r.world, s.tag, s.metric, s.last_step,"
    " max(s.last_step) OVER (PARTITION BY s.run_id, s.tag), r.base, r.launch"
    " FROM runs AS r LEFT JOIN series AS s ON s.run_id = r.id"
    " ORDER BY r.last_seen DESC, r.name, s.tag, s.metric",
    "SELECT s.id FROM series AS s JOIN runs AS r ON r.id = s.run_id"
    " WHERE r.name = ?1 AND s.tag = ?2 AND s.metric = ?3",
    "SELECT step, value FROM points"
    " WHERE series_id = ?1 AND step > ?2 AND step < ?3 ORDER BY step",
    "SELECT total(dropped) FROM runs",
    /* Q_VIEW_HEAD: the first points of a window, one more than the budget
     * (?4) to learn whether it must be bucketed. */
    "SELECT step, value, wall_time FROM points"
    " WHERE series_id = ?1 AND step > ?2 AND step < ?3 ORDER BY step LIMIT ?4",
    "SELECT step FROM points"
    " WHERE series_id = ?1 AND step > ?2 AND step < ?3"
    " ORDER BY step DESC LIMIT 1",
    /* Q_BUCKET(_T): one aggregate pass over [first, last] (inclusive). */
    "SELECT ew_bucket(step, value) FROM points"
    " WHERE series_id = ?1 AND step >= ?2 AND step <= ?3",
    "SELECT ew_bucket(step, value, wall_time) FROM points"
    " WHERE series_id = ?1 AND step >= ?2 AND step <= ?3",
    "SELECT b.step, b.n, b.d, b.kappa, b.support FROM batches AS b"
    " JOIN runs AS r ON r.id = b.run_id WHERE r.name = ?1 AND b.tag = ?2"
    " ORDER BY b.step DESC LIMIT 1",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    /* Q_SPEC_*: spectra of (run, tag) in a window; ?1 run id. */
    "SELECT id FROM runs WHERE name = ?1",
    "SELECT min(step), max(step) FROM spectra"
    " WHERE run_id = ?1 AND tag = ?2 AND step > ?3 AND step < ?4",
    "SELECT count(*) FROM (SELECT 1 FROM spectra"
    " WHERE run_id = ?1 AND tag = ?2 AND step >= ?3 AND step <= ?4 LIMIT ?5)",
    /* the last spectrum at or before ?4 and at or after ?3 (an index seek) */
    "SELECT step, k, vals FROM spectra"
    " WHERE run_id = ?1 AND tag = ?2 AND step >= ?3 AND step <= ?4"
    " ORDER BY step DESC LIMIT 1",
    /* Q_SERIES_KEY: the series id and what tells whether its points
     * changed since a cached copy was read (see the cache section). */
    "SELECT s.id, s.last_step, r.last_seen FROM series AS s"
    " JOIN runs AS r ON r.id = s.run_id"
    " WHERE r.name = ?1 AND s.tag = ?2 AND s.metric = ?3",
    /* Q_RUN_SERIES: what a run has, for "no such series" messages; a run
     * without series gives one row with NULLs. */
    "SELECT s.tag, s.metric FROM runs AS r LEFT JOIN series AS s ON s.run_id = r.id"
    " WHERE r.name = ?1 ORDER BY s.tag, s.metric",
};

struct sq_query {
    query_t base; /* first: the handle query_backend.c sees */
    sqlite3 *db;
    sqlite3_stmt *stmt[Q_NSTMT];
    downsample_stream_t *ds; /* the stream ew_bucket() feeds, while it runs */
    query_cache_t *cache;    /* shared with other connections, or NULL */
    query_collect_t col;     /* filled by ew_bucket() for the cache */
    query_summary_t *sum;    /* wide windows from the summaries */
};

/* Windows are open, (after, before), and a step may be as large as
 * INT64_MAX, which no "step < before" reaches. So the default before,
 * INT64_MAX ("no upper bound"), is bound as the real 2^63, which SQLite
 * compares exactly with integers: every stored step is reachable. */
static void s_bind_before(sqlite3_stmt *st, int i, int64_t before)
{
    if (before == INT64_MAX)
        sqlite3_bind_double(st, i, 9223372036854775808.0);
    else
        sqlite3_bind_int64(st, i, before);
}

/* ---------------------------------------------------------------- open */

static void s_destroy(sq_query_t *q)
{
    if (!q)
        return;
    query_collect_free(&q->col);
    query_summary_close(&q->sum);
    for (int i = 0; i < Q_NSTMT; i++)
        sqlite3_finalize(q->stmt[i]);
    sqlite3_close(q->db);
    free(q);
}

static int s_pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int s_check(sq_query_t *q, const char *path, char *err, size_t errlen)
{
    int64_t app = 0, ver = 0;
    if (s_pragma_int(q->db, "PRAGMA application_id", &app) != SQLITE_OK ||
        s_pragma_int(q->db, "PRAGMA user_version", &ver) != SQLITE_OK) {
        ew_errf(err, errlen, "cannot read database '%s': %s", path, sqlite3_errmsg(q->db));
        return -1;
    }
    if (app != EW_APPLICATION_ID) {
        ew_errf(err, errlen, "'%s' is not an erwatch database", path);
        return -1;
    }
    if (ver != EW_SCHEMA_VERSION) {
        ew_errf(err, errlen,
                "database '%s' has schema version %lld; this erwatch reads "
                "version %d%s",
                path, (long long)ver, EW_SCHEMA_VERSION,
                ver >= 1 && ver < EW_SCHEMA_VERSION
                    ? " (erwatchd updates the file when it opens it)"
                    : "");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- cache */

static void s_op_use_cache(query_t *base, query_cache_t *c)
{
    sq_query_t *q = SQ(base);
    q->cache = c;
}

/* ew_bucket(step, value[, wall_time]): feeds q->ds; returns NULL. */
static void s_bucket_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sq_query_t *q = sqlite3_user_data(ctx);
    if (!q->ds || argc < 2)
        return;
    double v = sqlite3_value_type(argv[1]) == SQLITE_NULL ? NAN : sqlite3_value_double(argv[1]);
    double t = argc > 2 ? sqlite3_value_double(argv[2]) : 0.0;
    int64_t step = sqlite3_value_int64(argv[0]);
    downsample_push(q->ds, step, v, t);
    if (q->col.on)
        query_collect_push(&q->col, step, v, t);
}

static void s_bucket_final(sqlite3_context *ctx)
{
    sqlite3_result_null(ctx);
}

static int s_op_open(query_t **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    sq_query_t *q = calloc(1, sizeof *q);
    if (!q) {
        fprintf(stderr, "erwatchd: out of memory (query_open)\n");
        abort();
    }
    q->base.ops = &query_sqlite_ops;
    /* No file yet: the writer has not created it (http.c says "not ready"). */
    struct stat fst;
    if (stat(path ? path : "", &fst) != 0 && errno == ENOENT) {
        ew_errf(err, errlen, "database '%s' does not exist yet", path ? path : "");
        s_destroy(q);
        return -ENOENT;
    }
    int rc =
        sqlite3_open_v2(path ? path : "", &q->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int sys = q->db ? sqlite3_system_errno(q->db) : 0;
        ew_errf(err, errlen, "cannot open database '%s' read-only: %s%s%s%s", path ? path : "",
                q->db ? sqlite3_errmsg(q->db) : "out of memory", sys ? " (" : "",
                sys ? strerror(sys) : "", sys ? ")" : "");
        s_destroy(q);
        return -1;
    }
    sqlite3_busy_timeout(q->db, Q_BUSY_TIMEOUT_MS);
    if (s_check(q, path, err, errlen) != 0) {
        s_destroy(q);
        return -1;
    }
    sqlite3_exec(q->db, "PRAGMA mmap_size = " Q_MMAP_BYTES, NULL, NULL, NULL);
    if (sqlite3_create_function_v2(q->db, "ew_bucket", -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, q, NULL,
                                   s_bucket_step, s_bucket_final, NULL) != SQLITE_OK) {
        ew_errf(err, errlen, "cannot register functions on '%s': %s", path, sqlite3_errmsg(q->db));
        s_destroy(q);
        return -1;
    }
    for (int i = 0; i < Q_NSTMT; i++) {
        if (sqlite3_prepare_v3(q->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->stmt[i], NULL) !=
            SQLITE_OK) {
            ew_errf(err, errlen, "cannot prepare queries on '%s': %s", path, sqlite3_errmsg(q->db));
            s_destroy(q);
            return -1;
        }
    }
    if (!(q->sum = query_summary_open(q->db))) {
        ew_errf(err, errlen, "cannot prepare queries on '%s': %s", path, sqlite3_errmsg(q->db));
        s_destroy(q);
        return -1;
    }
    *out = &q->base;
    return 0;
}

static void s_op_close(query_t *base)
{
    s_destroy(SQ(base));
}

/* ---------------------------------------------------------------- runs */

static void s_json_int(strbuf_t *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        strbuf_puts(b, "null");
    else
        strbuf_printf(b, "%" PRId64, (int64_t)sqlite3_column_int64(st, col));
}

static void s_json_real(strbuf_t *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        strbuf_puts(b, "null");
    else
        strbuf_json_num(b, sqlite3_column_double(st, col));
}

static void s_csv_int(strbuf_t *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) != SQLITE_NULL)
        strbuf_printf(b, "%" PRId64, (int64_t)sqlite3_column_int64(st, col));
}

static void s_csv_real(strbuf_t *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return;
    double v = sqlite3_column_double(st, col);
    if (isfinite(v))
        strbuf_json_num(b, v);
}

static const char *s_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

/* Where the JSON run list stands between rows. */
typedef struct {
    int64_t run;  /* id of the open run object, -1 before the first */
    int tag_open; /* a tag object (and its metrics array) is open */
    strbuf_t tag; /* its name */
} s_runs_state_t;

/* Closes what is open: the tag object, then (when `run`) the run object. */
static void s_runs_close(strbuf_t *b, s_runs_state_t *z, int run)
{
    if (z->tag_open)
        strbuf_puts(b, "]}");
    z->tag_open = 0;
    if (run && z->run != -1)
        strbuf_printf(b, "],\"id\":%" PRId64 "}", z->run);
}

/* One row of the runs query (one series, or a run without any) as JSON. */
static void s_runs_json_row(strbuf_t *b, sqlite3_stmt *st, s_runs_state_t *z)
{
    int64_t run = sqlite3_column_int64(st, 0);
    const char *tag = s_text(st, 7);
    int has_series = sqlite3_column_type(st, 7) != SQLITE_NULL;

    if (run != z->run) {
        int first = z->run == -1;
        s_runs_close(b, z, 1);
        if (!first)
            strbuf_putc(b, ',');
        strbuf_puts(b, "{\"run\":");
        strbuf_json_str(b, s_text(st, 1));
        strbuf_puts(b, ",\"first_seen\":");
        s_json_real(b, st, 2);
        strbuf_puts(b, ",\"last_seen\":");
        s_json_real(b, st, 3);
        strbuf_puts(b, ",\"last_step\":");
        s_json_int(b, st, 4);
        strbuf_puts(b, ",\"dropped\":");
        s_json_int(b, st, 5);
        strbuf_puts(b, ",\"world\":");
        s_json_int(b, st, 6);
        strbuf_puts(b, ",\"base\":");
        strbuf_json_str(b, s_text(st, 11));
        strbuf_puts(b, ",\"launch\":");
        if (sqlite3_column_type(st, 12) == SQLITE_NULL)
            strbuf_puts(b, "null");
        else
            strbuf_json_str(b, s_text(st, 12));
        strbuf_puts(b, ",\"tags\":[");
        z->run = run;
    }
    if (!has_series)
        return;
    if (z->tag_open && strcmp(tag, z->tag.data) == 0) {
        strbuf_putc(b, ',');
    } else {
        if (z->tag_open) {
            s_runs_close(b, z, 0);
            strbuf_putc(b, ',');
        }
        strbuf_puts(b, "{\"tag\":");
        strbuf_json_str(b, tag);
        strbuf_puts(b, ",\"last_step\":");
        s_json_int(b, st, 10);
        strbuf_puts(b, ",\"metrics\":[");
        strbuf_reset(&z->tag);
        strbuf_puts(&z->tag, tag);
        z->tag_open = 1;
    }
    strbuf_json_str(b, s_text(st, 8));
}

static void s_runs_csv_row(strbuf_t *b, sqlite3_stmt *st)
{
    if (sqlite3_column_type(st, 7) == SQLITE_NULL)
        return; /* a run without series: no line (one line per series) */
    strbuf_csv_str(b, s_text(st, 1));
    strbuf_putc(b, ',');
    strbuf_csv_str(b, s_text(st, 7));
    strbuf_putc(b, ',');
    strbuf_csv_str(b, s_text(st, 8));
    strbuf_putc(b, ',');
    s_csv_int(b, st, 9);
    strbuf_putc(b, ',');
    s_csv_real(b, st, 3);
    strbuf_putc(b, ',');
    s_csv_int(b, st, 5);
    strbuf_putc(b, '\n');
}

/* Runs a statement that returns no rows we need (BEGIN, COMMIT, ...). */
static int s_exec(sq_query_t *q, int which)
{
    sqlite3_stmt *st = q->stmt[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Streams the rows of st (the columns of Q_RUNS) as the run list; total >=
 * 0 and extra go at the end of the JSON object. */
static int s_runs_stream(sq_query_t *q, sqlite3_stmt *st, strbuf_t *out, int csv, int64_t total,
                         const char *extra, char *err, size_t errlen)
{
    size_t start = out->len;
    s_runs_state_t z = {.run = -1, .tag_open = 0};
    strbuf_init(&z.tag);

    strbuf_puts(out, csv ? "run,tag,metric,last_step,last_seen,dropped\n" : "{\"runs\":[");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (csv)
            s_runs_csv_row(out, st);
        else
            s_runs_json_row(out, st, &z);
    }
    if (rc != SQLITE_DONE)
        ew_errf(err, errlen, "cannot list runs: %s", sqlite3_errmsg(q->db));
    sqlite3_reset(st);
    strbuf_free(&z.tag);
    if (rc != SQLITE_DONE) {
        out->len = start;
        out->data[start] = '\0';
        return -1;
    }
    if (!csv) {
        s_runs_close(out, &z, 1);
        strbuf_putc(out, ']');
        if (total >= 0)
            strbuf_printf(out, ",\"total\":%" PRId64, total);
        if (extra)
            strbuf_puts(out, extra);
        strbuf_putc(out, '}');
    }
    return 0;
}

static int s_op_runs(query_t *base, strbuf_t *out, int csv, char *err, size_t errlen)
{
    sq_query_t *q = SQ(base);
    return s_runs_stream(q, q->stmt[Q_RUNS], out, csv, -1, NULL, err, errlen);
}

/* The WHERE clause of f (without `since` unless with_since), its values
 * bound from index *k on by s_runs_bind. */
static void s_runs_where(strbuf_t *sql, const query_runs_filter_t *f, int with_since)
{
    const char *and = " WHERE ";
    if (f->match) {
        strbuf_printf(sql, "%sname LIKE ? ESCAPE '\\'", and);
        and = " AND ";
    }
    if (f->nnames || f->nids) {
        strbuf_printf(sql, "%s(", and);
        const char * or = "";
        if (f->nnames) {
            strbuf_puts(sql, "name IN (?");
            for (size_t i = 1; i < f->nnames; i++)
                strbuf_puts(sql, ",?");
            strbuf_putc(sql, ')');
            or = " OR ";
        }
        if (f->nids) {
            strbuf_printf(sql, "%sid IN (?", or);
            for (size_t i = 1; i < f->nids; i++)
                strbuf_puts(sql, ",?");
            strbuf_putc(sql, ')');
        }
        strbuf_putc(sql, ')');
        and = " AND ";
    }
    if (with_since && f->has_since)
        strbuf_printf(sql, "%slast_seen >= ?", and);
}

static void s_runs_bind(sqlite3_stmt *st, const query_runs_filter_t *f, int with_since,
                        const char *pattern, int *k)
{
    if (f->match)
        sqlite3_bind_text(st, (*k)++, pattern, -1, SQLITE_STATIC);
    for (size_t i = 0; i < f->nnames; i++)
        sqlite3_bind_text(st, (*k)++, f->names[i], -1, SQLITE_STATIC);
    for (size_t i = 0; i < f->nids; i++)
        sqlite3_bind_int64(st, (*k)++, f->ids[i]);
    if (with_since && f->has_since)
        sqlite3_bind_double(st, (*k)++, f->since);
}

static int s_op_runs_filtered(query_t *base, const query_runs_filter_t *f, strbuf_t *out, int csv,
                              const char *extra, char *err, size_t errlen)
{
    sq_query_t *q = SQ(base);
    /* f->match as a LIKE pattern: %part%, with its own % _ \ escaped */
    strbuf_t pat, sql;
    strbuf_init(&pat);
    strbuf_init(&sql);
    if (f->match) {
        strbuf_putc(&pat, '%');
        for (const char *c = f->match; *c; c++) {
            if (*c == '%' || *c == '_' || *c == '\\')
                strbuf_putc(&pat, '\\');
            strbuf_putc(&pat, *c);
        }
        strbuf_putc(&pat, '%');
    }
    /* The page of runs first, then their series: the cost follows the page,
     * not the number of runs (runs_by_last_seen gives the order). */
    strbuf_puts(&sql, "WITH page AS (SELECT id, name, first_seen, last_seen, last_step,"
                      " dropped, world, base, launch FROM runs");
    s_runs_where(&sql, f, 1);
    strbuf_puts(&sql, " ORDER BY last_seen DESC, name LIMIT ? OFFSET ?)"
                      " SELECT p.id, p.name, p.first_seen, p.last_seen, p.last_step, p.dropped,"
                      " p.world, s.tag, s.metric, s.last_step,"
                      " max(s.last_step) OVER (PARTITION BY s.run_id, s.tag),"
                      " p.base, p.launch"
                      " FROM page AS p LEFT JOIN series AS s ON s.run_id = p.id"
                      " ORDER BY p.last_seen DESC, p.name, s.tag, s.metric");
    sqlite3_stmt *list = NULL, *count = NULL;
    int rc = sqlite3_prepare_v2(q->db, sql.data, -1, &list, NULL);
    if (rc == SQLITE_OK && !csv) {
        strbuf_reset(&sql);
        strbuf_puts(&sql, "SELECT count(*) FROM runs");
        s_runs_where(&sql, f, 0);
        rc = sqlite3_prepare_v2(q->db, sql.data, -1, &count, NULL);
    }
    int64_t total = -1;
    int k = 1;
    if (rc == SQLITE_OK) {
        s_runs_bind(list, f, 1, pat.data, &k);
        sqlite3_bind_int64(list, k++, f->limit < 0 ? INT64_MAX : f->limit);
        sqlite3_bind_int64(list, k++, f->offset);
        k = 1;
        if (count)
            s_runs_bind(count, f, 0, pat.data, &k);
        /* the page and the total from one snapshot */
        rc = s_exec(q, Q_BEGIN) == 0 ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && count) {
        rc = sqlite3_step(count);
        total = rc == SQLITE_ROW ? sqlite3_column_int64(count, 0) : -1;
        rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    int ret = -1;
    if (rc == SQLITE_OK)
        ret = s_runs_stream(q, list, out, csv, total, extra, err, errlen);
    else
        ew_errf(err, errlen, "cannot list runs: %s", sqlite3_errmsg(q->db));
    if (!sqlite3_get_autocommit(q->db))
        s_exec(q, Q_COMMIT);
    sqlite3_finalize(list);
    sqlite3_finalize(count);
    strbuf_free(&pat);
    strbuf_free(&sql);
    return ret;
}

/* ---------------------------------------------------------------- series */

/* The id of (run, tag, metric): 0 and *sid, -ENOENT, or -EIO. */
static int s_series_id(sq_query_t *q, const char *run, const char *tag, const char *metric,
                       int64_t *sid, char *err, size_t errlen)
{
    sqlite3_stmt *id_st = q->stmt[Q_SERIES_ID];
    sqlite3_bind_text(id_st, 1, run, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(id_st, 2, tag, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(id_st, 3, metric, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(id_st);
    *sid = rc == SQLITE_ROW ? sqlite3_column_int64(id_st, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ew_errf(err, errlen, "cannot read series: %s", sqlite3_errmsg(q->db));
    sqlite3_reset(id_st);
    sqlite3_clear_bindings(id_st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    return rc == SQLITE_ROW ? 0 : -EIO;
}

static double s_col_value(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* Appends one point to a growing (not bucketed) series. */
static void s_append(series_t *out, size_t *cap, int64_t step, double value, const double *time)
{
    if (out->n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        out->step = ew_xrealloc(out->step, *cap * sizeof *out->step);
        out->value = ew_xrealloc(out->value, *cap * sizeof *out->value);
        if (time)
            out->time = ew_xrealloc(out->time, *cap * sizeof *out->time);
    }
    out->step[out->n] = step;
    out->value[out->n] = value;
    if (time)
        out->time[out->n] = *time;
    out->n++;
}

static int s_op_series(query_t *base, const char *run, const char *tag, const char *metric,
                       int64_t after, int64_t before, series_t *out, char *err, size_t errlen)
{
    sq_query_t *q = SQ(base);
    memset(out, 0, sizeof *out);
    int64_t sid;
    int rc = s_series_id(q, run, tag, metric, &sid, err, errlen);
    if (rc != 0)
        return rc;

    sqlite3_stmt *st = q->stmt[Q_POINTS];
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, after);
    s_bind_before(st, 3, before);
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        s_append(out, &cap, sqlite3_column_int64(st, 0), s_col_value(st, 1), NULL);
    if (rc != SQLITE_DONE) {
        ew_errf(err, errlen, "cannot read series: %s", sqlite3_errmsg(q->db));
        sqlite3_reset(st);
        series_free(out);
        return -EIO;
    }
    sqlite3_reset(st);
    return 0;
}

/* ---------------------------------------------------------------- views */

/* The series id of v and its cache key (series.last_step, runs.last_seen).
 * 0, -ENOENT or -EIO. */
static int s_series_key(sq_query_t *q, const query_view_t *v, int64_t *sid, int64_t *last_step,
                        double *last_seen, char *err, size_t errlen)
{
    sqlite3_stmt *st = q->stmt[Q_SERIES_KEY];
    sqlite3_bind_text(st, 1, v->run, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, v->tag, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, v->metric, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *sid = sqlite3_column_int64(st, 0);
        *last_step =
            sqlite3_column_type(st, 1) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(st, 1);
        *last_seen = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
    } else if (rc != SQLITE_DONE) {
        ew_errf(err, errlen, "cannot read series: %s", sqlite3_errmsg(q->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

/* The body of query_series_view, inside its read transaction. */
static int s_view(sq_query_t *q, const query_view_t *v, series_t *out, char *err, size_t errlen)
{
    int64_t sid, last_step;
    double last_seen;
    int rc = s_series_key(q, v, &sid, &last_step, &last_seen, err, errlen);
    if (rc != 0)
        return rc;
    if (q->cache) {
        query_centry_t *e = query_cache_get(q->cache, sid, last_step, last_seen);
        if (e) {
            query_cache_view(e, v, out);
            query_cache_release(q->cache, e);
            return 0;
        }
    }

    /* The first points + 1 of the window: all of it, or proof that it
     * must be bucketed (and its first step). */
    size_t want = v->points + 1;
    sqlite3_stmt *st = q->stmt[Q_VIEW_HEAD];
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, v->after);
    s_bind_before(st, 3, v->before);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)want);
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double t = sqlite3_column_double(st, 2);
        s_append(out, &cap, sqlite3_column_int64(st, 0), s_col_value(st, 1),
                 v->with_time ? &t : NULL);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        goto db_error;
    if (out->n < want)
        return 0;

    int64_t first = out->step[0], last = first;
    series_free(out);
    st = q->stmt[Q_VIEW_LAST];
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, v->after);
    s_bind_before(st, 3, v->before);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        last = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        goto db_error;

    /* A wide window: from the summaries, when they are built. */
    rc = query_summary_view(q->sum, sid, first, last, v->points, v->with_time, out);
    if (rc == 1)
        return 0;
    if (rc < 0)
        goto db_error;

    /* The whole series is read anyway: keep a copy for the next windows. */
    int fill = q->cache && v->after == INT64_MIN && v->before == INT64_MAX;
    downsample_stream_t ds;
    downsample_begin(&ds, first, last, v->points, v->with_time, out);
    st = q->stmt[v->with_time || fill ? Q_BUCKET_T : Q_BUCKET];
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, first);
    sqlite3_bind_int64(st, 3, last);
    q->ds = &ds;
    q->col.on = fill;
    q->col.limit = fill ? query_cache_max_points(q->cache) : 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    q->ds = NULL;
    q->col.on = 0;
    sqlite3_reset(st);
    downsample_end(&ds);
    if (rc == SQLITE_DONE && fill && !ds.unordered)
        query_cache_add(q->cache, sid, last_step, last_seen, &q->col);
    query_collect_free(&q->col);
    if (rc != SQLITE_DONE)
        goto db_error;
    if (ds.unordered) {
        /* SQLite scans the primary key in order, so this does not happen;
         * if a future plan ever changed that, say so rather than draw
         * wrong buckets. */
        ew_errf(err, errlen, "cannot read series: rows came out of step order");
        series_free(out);
        return -EIO;
    }
    return 0;

db_error:
    ew_errf(err, errlen, "cannot read series: %s", sqlite3_errmsg(q->db));
    series_free(out);
    return -EIO;
}

static int s_op_series_view(query_t *base, const query_view_t *v, series_t *out, char *err,
                            size_t errlen)
{
    sq_query_t *q = SQ(base);
    memset(out, 0, sizeof *out);
    if (v->points < 1 || v->after >= v->before) {
        ew_errf(err, errlen, "bad window");
        return -EINVAL;
    }
    /* One snapshot for the lookups and the scan: a commit in between could
     * otherwise add points past the last step we bucket for. */
    if (s_exec(q, Q_BEGIN) != 0) {
        ew_errf(err, errlen, "cannot read series: %s", sqlite3_errmsg(q->db));
        return -EIO;
    }
    int rc = s_view(q, v, out, err, errlen);
    if (s_exec(q, rc == 0 ? Q_COMMIT : Q_ROLLBACK) != 0 && rc == 0) {
        ew_errf(err, errlen, "cannot read series: %s", sqlite3_errmsg(q->db));
        series_free(out);
        rc = -EIO;
    }
    return rc;
}

static int s_op_batch_shape(query_t *base, const char *run, const char *tag, query_shape_t *out,
                            char *err, size_t errlen)
{
    sq_query_t *q = SQ(base);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = q->stmt[Q_SHAPE];
    sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, tag, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->step = sqlite3_column_int64(st, 0);
        out->n = sqlite3_column_int64(st, 1);
        out->d = sqlite3_column_int64(st, 2);
        out->kappa = sqlite3_column_double(st, 3);
        out->discrete = strcmp(s_text(st, 4), ew_support_name(EW_SUPPORT_DISCRETE)) == 0;
    } else if (rc != SQLITE_DONE) {
        ew_errf(err, errlen, "cannot read batches: %s", sqlite3_errmsg(q->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

static int s_op_series_hint(query_t *base, const char *run, const char *tag, strbuf_t *out)
{
    sq_query_t *q = SQ(base);
    sqlite3_stmt *st = q->stmt[Q_RUN_SERIES];
    sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
    strbuf_t tags, metrics, prev;
    strbuf_init(&tags);
    strbuf_init(&metrics);
    strbuf_init(&prev);
    int rc, rows = 0, ntags = 0, nmetrics = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            continue;
        const char *t = s_text(st, 0), *m = s_text(st, 1);
        /* the tags, each once (rows come sorted by tag) */
        if (ntags == 0 || strcmp(prev.data, t) != 0) {
            strbuf_puts(&tags, ntags++ ? ", " : "");
            strbuf_puts(&tags, t);
            strbuf_reset(&prev);
            strbuf_puts(&prev, t);
        }
        if (strcmp(t, tag) == 0) {
            strbuf_puts(&metrics, nmetrics++ ? ", " : "");
            strbuf_puts(&metrics, m);
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    strbuf_free(&prev);
    if (rc != SQLITE_DONE) {
        strbuf_free(&tags);
        strbuf_free(&metrics);
        return -EIO;
    }
    if (rows == 0)
        strbuf_printf(out, "no run '%s'", run);
    else if (nmetrics > 0)
        strbuf_printf(out, "run '%s' tag '%s' has: %s", run, tag, metrics.data);
    else if (ntags > 0)
        strbuf_printf(out, "run '%s' has no tag '%s' (its tags: %s)", run, tag, tags.data);
    else
        strbuf_printf(out, "run '%s' has no series yet", run);
    strbuf_free(&tags);
    strbuf_free(&metrics);
    return 0;
}

static int64_t s_op_client_dropped(query_t *base)
{
    sq_query_t *q = SQ(base);
    sqlite3_stmt *st = q->stmt[Q_DROPPED];
    int64_t total = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        double v = sqlite3_column_double(st, 0);
        total = v >= 9.2e18 ? INT64_MAX : (int64_t)v;
    }
    sqlite3_reset(st);
    return total;
}

/* ------------------------------------------------------------ spectra */

/* The run's id, -1 when unknown, -2 on a database error. */
static int64_t s_run_id(sq_query_t *q, const char *run)
{
    sqlite3_stmt *st = q->stmt[Q_SPEC_RUN];
    int64_t id = -1;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        id = -2;
    sqlite3_reset(st);
    return id;
}

static int s_op_spectrum(query_t *base, const char *run, const char *tag, int64_t after,
                         int64_t before, size_t points, strbuf_t *out, char *err, size_t errlen)
{
    sq_query_t *q = SQ(base);
    int64_t rid = s_run_id(q, run);
    if (rid == -2) {
        ew_errf(err, errlen, "%s", sqlite3_errmsg(q->db));
        return -EIO;
    }
    if (rid < 0)
        return -ENOENT;
    sqlite3_stmt *range = q->stmt[Q_SPEC_RANGE], *count = q->stmt[Q_SPEC_COUNT],
                 *last = q->stmt[Q_SPEC_LAST];
    sqlite3_bind_int64(range, 1, rid);
    sqlite3_bind_text(range, 2, tag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(range, 3, after);
    s_bind_before(range, 4, before);
    int rc = sqlite3_step(range);
    if (rc != SQLITE_ROW) {
        ew_errf(err, errlen, "%s", sqlite3_errmsg(q->db));
        sqlite3_reset(range);
        return -EIO;
    }
    if (sqlite3_column_type(range, 0) == SQLITE_NULL) {
        sqlite3_reset(range);
        return -ENOENT;
    }
    int64_t first = sqlite3_column_int64(range, 0), lastst = sqlite3_column_int64(range, 1);
    sqlite3_reset(range);

    /* At most `points` spectra: with more in the window, the last one of
     * each of `points` equal step ranges (as downsample.h does for series),
     * found by one index seek per bucket rather than a scan of them all. */
    sqlite3_bind_int64(count, 1, rid);
    sqlite3_bind_text(count, 2, tag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(count, 3, first);
    sqlite3_bind_int64(count, 4, lastst);
    sqlite3_bind_int64(count, 5, (int64_t)points + 1);
    int64_t n = sqlite3_step(count) == SQLITE_ROW ? sqlite3_column_int64(count, 0) : 0;
    sqlite3_reset(count);
    size_t buckets = n > (int64_t)points ? points : (size_t)n;
    if (buckets == 0)
        buckets = 1;

    size_t mark = out->len;
    strbuf_t steps, vals;
    strbuf_init(&steps);
    strbuf_init(&vals);
    int emitted = 0;
    /* Bucket edges in unsigned arithmetic: last - first can exceed INT64_MAX. */
    uint64_t span = (uint64_t)lastst - (uint64_t)first;
    int64_t prev_hi = first - 1;
    for (size_t i = 0; i < buckets; i++) {
        /* first + span * (i+1) / buckets without overflow */
        uint64_t j = i + 1;
        int64_t hi =
            j == buckets
                ? lastst
                : (int64_t)((uint64_t)first + span / buckets * j + span % buckets * j / buckets);
        int64_t lo = prev_hi + 1;
        prev_hi = hi;
        if (hi < lo)
            continue;
        sqlite3_bind_int64(last, 1, rid);
        sqlite3_bind_text(last, 2, tag, -1, SQLITE_STATIC);
        sqlite3_bind_int64(last, 3, lo);
        sqlite3_bind_int64(last, 4, hi);
        rc = sqlite3_step(last);
        if (rc == SQLITE_ROW) {
            int k = sqlite3_column_int(last, 1);
            const unsigned char *v = sqlite3_column_blob(last, 2);
            int bytes = sqlite3_column_bytes(last, 2);
            if (k > 0 && v && bytes == 4 * k) {
                if (emitted++) {
                    strbuf_putc(&steps, ',');
                    strbuf_putc(&vals, ',');
                }
                strbuf_printf(&steps, "%lld", (long long)sqlite3_column_int64(last, 0));
                strbuf_json_f32le(&vals, v, k);
            }
        } else if (rc != SQLITE_DONE) {
            ew_errf(err, errlen, "%s", sqlite3_errmsg(q->db));
            sqlite3_reset(last);
            strbuf_free(&steps);
            strbuf_free(&vals);
            out->len = mark;
            out->data[mark] = '\0';
            return -EIO;
        }
        sqlite3_reset(last);
    }
    strbuf_puts(out, "{\"run\":");
    strbuf_json_str(out, run);
    strbuf_puts(out, ",\"tag\":");
    strbuf_json_str(out, tag);
    strbuf_printf(out, ",\"bucketed\":%s,\"step\":[", n > (int64_t)points ? "true" : "false");
    strbuf_append(out, steps.data, steps.len);
    strbuf_puts(out, "],\"values\":[");
    strbuf_append(out, vals.data, vals.len);
    strbuf_puts(out, "]}");
    strbuf_free(&steps);
    strbuf_free(&vals);
    return 0;
}

/* ---------------------------------------------------------------- query_sqlite.h */

sqlite3 *query__db(query_t *q)
{
    return SQ(q)->db;
}

/* ---------------------------------------------------------------- the backend */

/* Anything that is not another backend's URI is a file path. */
static int s_op_accepts(const char *db)
{
    (void)db;
    return 1;
}

const query_ops_t query_sqlite_ops = {
    .name = "sqlite",
    .accepts = s_op_accepts,
    .open = s_op_open,
    .close = s_op_close,
    .use_cache = s_op_use_cache,
    .runs = s_op_runs,
    .runs_filtered = s_op_runs_filtered,
    .series = s_op_series,
    .series_view = s_op_series_view,
    .series_hint = s_op_series_hint,
    .batch_shape = s_op_batch_shape,
    .spectrum = s_op_spectrum,
    .client_dropped = s_op_client_dropped,
    .latest = query__sqlite_latest,
    .alerts = query__sqlite_alerts,
    .run = query__sqlite_run,
};
