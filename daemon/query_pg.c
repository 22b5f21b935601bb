/* query_pg.c: the query side's PostgreSQL backend (query_backend.h):
 * read-only access to a PostgreSQL database (schema/schema_pg.sql) for the
 * HTTP API and tools, with the same answers, byte for byte, as the SQLite
 * backend (query_sqlite*.c) gives for the same rows.
 *
 * Design decisions:
 *  - Each pg_query_t is one libpq connection, read-only for the session
 *    (default_transaction_read_only). Statements are constant text with
 *    bound parameters, prepared on first use per connection (query_pg.h);
 *    filters that SQLite's backend writes into its SQL (lists of names,
 *    alert states) are bound as arrays, so nothing a request sends is ever
 *    SQL text. plan_cache_mode = force_custom_plan plans each execution
 *    with its values, so "$1 IS NULL OR ..." filters fold away and the
 *    indexes are used.
 *  - A downsampled view is bucketed in SQL: GROUP BY the bucket index of
 *    downsample.c (the same integer formula, the same snapping of wide
 *    buckets to the summaries' grid), returning per bucket the count, min
 *    and max of the defined values and the last point, at most a few
 *    thousand rows whatever the series' length. Those rows go through
 *    downsample_push_cell(), so bucket edges, NaN rules and the output
 *    arrays are downsample.c's own. A window wide enough for the
 *    summaries' grid (downsample_grid) on a summarized series is read from
 *    the `summaries` cells inside it and its two cut cells' points
 *    (QPG_SUMMARY), as query_summary.c does on SQLite: a few thousand rows
 *    read whatever the series' length. There is no in-memory cache.
 *  - What SQLite decides implicitly is said explicitly: text sorts with
 *    COLLATE "C" (SQLite's BINARY), NULL last_seen sorts last in DESC
 *    (SQLite's NULLs are smallest), float8 is printed in shortest
 *    round-trip form (extra_float_digits = 3) and parsed back exactly, and
 *    a stored NaN counts as SQLite's NULL (undefined).
 *  - Reads that must agree (a page of runs and its total; a series' lookup
 *    and its scan) share one REPEATABLE READ transaction, as SQLite's
 *    backend reads them in one snapshot.
 *  - A connection lost (PostgreSQL restarted) fails the call with -EAGAIN
 *    quickly; the handle re-opens its connection on its next call.
 */
#include "query_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "ew_utf8.h"
#include "log.h"
#include "pg.h"
#include "store.h"
#include "xalloc.h"

/* The version of schema/schema_pg.sql this code reads (erwatch_meta): one
 * number for both schemas (store.h). */
#define Q_PG_SCHEMA_VERSION EW_SCHEMA_VERSION

typedef struct pg_query pg_query_t;
#define PQ(base) ((pg_query_t *)(base)) /* base is the first member */

/* Columns of QPG_RUNS and QPG_RUNS_PAGE, as SQLite's Q_RUNS: 0 run id,
 * 1 name, 2 first_seen, 3 last_seen, 4 last_step, 5 dropped, 6 world,
 * 7 tag, 8 metric, 9 series last_step, 10 the tag's last step, 11 base,
 * 12 launch. Rows of one run, and of one tag, are contiguous. */
#define Q_RUNS_COLS                                                                                \
    " p.id, p.name, p.first_seen, p.last_seen, p.last_step, p.dropped, p.world, s.tag,"            \
    " s.metric, s.last_step, max(s.last_step) OVER (PARTITION BY s.run_id, s.tag), p.base,"        \
    " p.launch"
#define Q_RUNS_ORDER                                                                               \
    " ORDER BY p.last_seen DESC NULLS LAST, p.name COLLATE \"C\", s.tag COLLATE \"C\","            \
    " s.metric COLLATE \"C\""
/* The filters of GET /api/runs: $1 match pattern (lower-case ASCII LIKE,
 * SQLite's LIKE folds ASCII only), $2 names, $3 ids. */
#define Q_RUNS_WHERE                                                                               \
    " WHERE ($1::text IS NULL OR translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',"                    \
    " 'abcdefghijklmnopqrstuvwxyz') LIKE $1)"                                                      \
    " AND (($2::text[] IS NULL AND $3::bigint[] IS NULL) OR name = ANY ($2) OR id = ANY ($3))"
/* The bucket key of a point (downsample.c's s_key): its step, or with a
 * grid ($6 > 0) the last step of its grid cell, capped at the last step
 * ($3). >> on bigint is arithmetic, i.e. floor, as summary_bucket(). */
#define Q_BUCKET_KEY                                                                               \
    "CASE WHEN $6::integer = 0 THEN step ELSE least(((step >> $6::integer) << $6::integer)"        \
    " + ((1::bigint << $6::integer) - 1), $3::bigint) END"
/* Per bucket: the last point, min and max of the defined values, count.
 * The last point's value is one index seek per bucket (LIMIT 1 keeps the
 * planner from joining the whole series back: it cannot know that the
 * groups are at most a few thousand). */
#define Q_BUCKET_SQL(INDEX)                                                                        \
    "SELECT b.last, b.lo, b.hi, p.value, p.wall_time, b.n FROM"                                    \
    " (SELECT " INDEX " AS i, min(v) AS lo, max(v) AS hi, max(step) AS last, count(*) AS n"        \
    "  FROM (SELECT step, nullif(value, 'NaN'::float8) AS v, " Q_BUCKET_KEY " AS k"                \
    "   FROM points WHERE series_id = $1 AND step >= $2 AND step <= $3) AS x"                      \
    "  GROUP BY 1) AS b"                                                                           \
    " CROSS JOIN LATERAL (SELECT value, wall_time FROM points"                                     \
    "  WHERE series_id = $1 AND step = b.last LIMIT 1) AS p ORDER BY b.last"
#define Q_ALERTS_SQL(WHERE)                                                                        \
    "SELECT id, daemon, rule, run, tag, metric, severity, state, value, first_step, first_time,"   \
    " fired_step, fired_time, last_step, last_time, resolved_step, resolved_time, summary,"        \
    " description FROM alerts WHERE state = ANY ($1::text[])" WHERE " ORDER BY id DESC LIMIT $2"
#define Q_RUN_COLS "id, name, base, launch, first_seen, last_seen, last_step, config, notes"

static const char *const s_sql[QPG_NSTMT] = {
    [QPG_RUNS] = "SELECT" Q_RUNS_COLS
                 " FROM runs AS p LEFT JOIN series AS s ON s.run_id = p.id" Q_RUNS_ORDER,
    /* $4 since, $5 limit (NULL: all), $6 offset */
    [QPG_RUNS_PAGE] =
        "WITH page AS (SELECT id, name, first_seen, last_seen, last_step, dropped,"
        " world, base, launch FROM runs" Q_RUNS_WHERE " AND ($4::float8 IS NULL OR last_seen >= $4)"
        " ORDER BY last_seen DESC NULLS LAST, name COLLATE \"C\""
        " LIMIT $5::bigint OFFSET $6::bigint)"
        " SELECT" Q_RUNS_COLS
        " FROM page AS p LEFT JOIN series AS s ON s.run_id = p.id" Q_RUNS_ORDER,
    [QPG_RUNS_COUNT] = "SELECT count(*) FROM runs" Q_RUNS_WHERE,
    [QPG_SERIES_ID] = "SELECT s.id FROM series AS s JOIN runs AS r ON r.id = s.run_id"
                      " WHERE r.name = $1 AND s.tag = $2 AND s.metric = $3",
    /* Windows: $2 < step <= $3 (query_pg.c binds before - 1, or INT64_MAX
     * for an open end, so a step of INT64_MAX is reachable as in SQLite). */
    [QPG_POINTS] = "SELECT step, value FROM points"
                   " WHERE series_id = $1 AND step > $2 AND step <= $3 ORDER BY step",
    [QPG_DROPPED] = "SELECT coalesce(sum(dropped), 0)::float8 FROM runs",
    [QPG_VIEW_HEAD] = "SELECT step, value, wall_time FROM points"
                      " WHERE series_id = $1 AND step > $2 AND step <= $3 ORDER BY step LIMIT $4",
    [QPG_VIEW_LAST] = "SELECT step FROM points"
                      " WHERE series_id = $1 AND step > $2 AND step <= $3"
                      " ORDER BY step DESC LIMIT 1",
    /* $1 series, [$2, $3] the points' first and last step, $4 buckets,
     * $5 span (last - first + 1), $6 grid level: the bucket of key k is
     * floor((k - first) * buckets / span) (downsample.c's s_bucket_of), in
     * bigint when (span - 1) * buckets fits, else exactly in numeric. */
    [QPG_BUCKET] = Q_BUCKET_SQL("(k - $2) * $4::bigint / $5::bigint"),
    [QPG_BUCKET_WIDE] = Q_BUCKET_SQL("div((k::numeric - $2::bigint) * $4::bigint, $5::numeric)"),
    [QPG_SUMMARIZED] = "SELECT summarized FROM series WHERE id = $1",
    /* A window [first $2, last $5] of series $1 from the summaries' cells
     * of level $6 (the display grid, downsample.h) strictly inside it, $7
     * to $8, and its two cut cells ([$2, $3] and [$4, $5]) each as one
     * group of points, in the columns of QPG_BUCKET (query_summary.c does
     * the same on SQLite). */
    [QPG_SUMMARY] =
        "SELECT e.last, e.lo, e.hi, p.value, p.wall_time, e.n FROM"
        " (SELECT max(step) AS last, min(v) AS lo, max(v) AS hi, count(*) AS n FROM"
        "  (SELECT step, nullif(value, 'NaN'::float8) AS v FROM points WHERE series_id = $1"
        "   AND ((step >= $2 AND step <= $3) OR (step >= $4 AND step <= $5))) AS x"
        "  GROUP BY step >> $6::integer) AS e"
        " CROSS JOIN LATERAL (SELECT value, wall_time FROM points"
        "  WHERE series_id = $1 AND step = e.last LIMIT 1) AS p"
        " UNION ALL SELECT last_step, vmin, vmax, last_value, last_time, n FROM summaries"
        "  WHERE series_id = $1 AND level = $6 AND bucket >= $7 AND bucket <= $8"
        " ORDER BY 1",
    [QPG_SHAPE] = "SELECT b.step, b.n, b.d, b.kappa, b.support FROM batches AS b"
                  " JOIN runs AS r ON r.id = b.run_id WHERE r.name = $1 AND b.tag = $2"
                  " ORDER BY b.step DESC LIMIT 1",
    [QPG_RUN_SERIES] =
        "SELECT s.tag, s.metric FROM runs AS r LEFT JOIN series AS s ON s.run_id = r.id"
        " WHERE r.name = $1 ORDER BY s.tag COLLATE \"C\", s.metric COLLATE \"C\"",
    [QPG_RUN_ID] = "SELECT id FROM runs WHERE name = $1",
    [QPG_SPEC_RANGE] = "SELECT min(step), max(step), count(*) FROM spectra"
                       " WHERE run_id = $1 AND tag = $2 AND step > $3 AND step <= $4",
    /* The last spectrum of each of $5 buckets of [first $3, last $4] with
     * span $6 = last - first: the bucket edges of query_sqlite.c's loop,
     * first + floor(span * j / buckets), put as a formula: a step at offset
     * off lies in bucket max(ceil(off * buckets / span), 1) - 1. Binary
     * results (the values are a float32 blob). */
    [QPG_SPEC_LAST] = "SELECT DISTINCT ON (i) step, k, vals FROM"
                      " (SELECT step, k, vals, CASE WHEN $6::numeric = 0 THEN 0 ELSE"
                      "  greatest(div((step::numeric - $3::bigint) * $5::bigint + $6::numeric - 1,"
                      "  $6::numeric), 1) - 1 END AS i"
                      "  FROM spectra WHERE run_id = $1 AND tag = $2 AND step >= $3 AND step <= $4)"
                      " AS x ORDER BY i, step DESC",
    [QPG_BEGIN] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    [QPG_COMMIT] = "COMMIT",
    [QPG_ROLLBACK] = "ROLLBACK",
    [QPG_LATEST] = "SELECT r.name, s.tag, s.metric, s.last_step, p.value"
                   " FROM runs AS r JOIN series AS s ON s.run_id = r.id"
                   " JOIN points AS p ON p.series_id = s.id AND p.step = s.last_step"
                   " WHERE r.last_seen >= $1"
                   " ORDER BY r.last_seen DESC, r.id, s.tag COLLATE \"C\", s.metric COLLATE \"C\""
                   " LIMIT $2",
    /* $1 states, $2 limit, then run and/or tag */
    [QPG_ALERTS] = Q_ALERTS_SQL(""),
    [QPG_ALERTS_RUN] = Q_ALERTS_SQL(" AND run = $3"),
    [QPG_ALERTS_TAG] = Q_ALERTS_SQL(" AND tag = $3"),
    [QPG_ALERTS_RUN_TAG] = Q_ALERTS_SQL(" AND run = $3 AND tag = $4"),
    [QPG_RUN_BY_NAME] = "SELECT " Q_RUN_COLS " FROM runs WHERE name = $1",
    [QPG_RUN_BY_LAUNCH] = "SELECT r.id, r.name, r.base, r.launch, r.first_seen, r.last_seen,"
                          " r.last_step, r.config, r.notes FROM launches AS l"
                          " JOIN runs AS r ON r.id = l.run_id WHERE l.launch = $1 AND l.name = $2",
    [QPG_RUN_BY_BASE] = "SELECT " Q_RUN_COLS " FROM runs WHERE base = $1 ORDER BY id DESC LIMIT 1",
    /* SQLite orders launches of one first_seen by rowid (insertion); there
     * is no such order here: the first step, then the names, decide. */
    [QPG_LAUNCHES] = "SELECT launch, name, resumed, first_step, first_seen FROM launches"
                     " WHERE run_id = $1"
                     " ORDER BY first_seen, first_step, launch COLLATE \"C\", name COLLATE \"C\"",
};

/* Session settings, sent at each (re)connection. JIT compiling costs
 * more than it saves on these short queries (it triggers on the planner's
 * estimate of a million groups for a GROUP BY that makes 2000). */
static const char s_setup[] = "SET default_transaction_read_only = on;"
                              " SET plan_cache_mode = force_custom_plan;"
                              " SET extra_float_digits = 3; SET client_encoding = 'UTF8';"
                              " SET jit = off;"
                              /* a server that is alive but stuck must not
                               * hold an HTTP thread: no read runs longer */
                              " SET statement_timeout = '30s'";

struct pg_query {
    query_t base; /* first: the handle query_backend.c sees */
    PGconn *conn;
    char *safe_db;                            /* the URI without its password */
    uint64_t prepared[(QPG_NSTMT + 63) / 64]; /* statements prepared on conn */
    int may_retry;                            /* the call's first statement */
};

/* ---------------------------------------------------------------- parameters */

/* Up to 8 text parameters of one statement, numbers printed in place. */
typedef struct {
    const char *v[8];
    char num[8][32];
    int n;
} s_params_t;

static void s_pi(s_params_t *p, int64_t x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%" PRId64, x);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

static void s_pu(s_params_t *p, uint64_t x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%" PRIu64, x);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

static void s_pd(s_params_t *p, double x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%.17g", x);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

static void s_pt(s_params_t *p, const char *s)
{
    p->v[p->n++] = s;
}

/* A window's open upper end: step < before as step <= before - 1, so a
 * step of INT64_MAX is in the default window (no "< 2^63" in bigint). */
static int64_t s_hi(int64_t before)
{
    return before == INT64_MAX ? INT64_MAX : before - 1;
}

/* ---------------------------------------------------------------- connection */

static int s_setup_conn(pg_query_t *q, char *err, size_t errlen)
{
    memset(q->prepared, 0, sizeof q->prepared);
    PGresult *r = PQexec(q->conn, s_setup);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char why[256];
        ew_errf(err, errlen, "cannot set up the connection to %s: %s", q->safe_db,
                pg_error(q->conn, r, why, sizeof why));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* Re-opens a connection that broke. 0, or -1 with err filled. */
static int s_reconnect(pg_query_t *q, char *err, size_t errlen)
{
    PQreset(q->conn);
    if (PQstatus(q->conn) != CONNECTION_OK) {
        char why[256];
        ew_errf(err, errlen, "cannot connect to PostgreSQL %s: %s", q->safe_db,
                pg_error(q->conn, NULL, why, sizeof why));
        return -1;
    }
    return s_setup_conn(q, err, errlen);
}

void query__pg_enter(query_t *base)
{
    PQ(base)->may_retry = 1;
}

static PGresult *s_exec(pg_query_t *q, int which, int n, const char *const *params, int binary,
                        int *rc, char *err, size_t errlen);

/* A copy of s with each byte that is not part of well-formed UTF-8 replaced
 * by 0x01, or NULL when s is well-formed. PostgreSQL refuses such a
 * parameter outright, where SQLite compares the bytes and finds nothing:
 * names are stored only as UTF-8 without control characters (decode.c),
 * so the copy matches nothing either, and the answer is SQLite's. */
static char *s_utf8_or_copy(const char *s)
{
    size_t n = strlen(s), i = 0, k;
    while (i < n && (k = ew_utf8_len((const unsigned char *)s + i, n - i)) > 0)
        i += k;
    if (i == n)
        return NULL;
    char *c = ew_xstrdup(s);
    while (i < n) {
        k = ew_utf8_len((const unsigned char *)c + i, n - i);
        if (k == 0) {
            c[i] = '\x01';
            k = 1;
        }
        i += k;
    }
    return c;
}

PGresult *query__pg_exec(query_t *base, int which, int n, const char *const *params, int binary,
                         int *rc, char *err, size_t errlen)
{
    char *fixed[8] = {NULL};
    const char *v[8];
    if (n > 8)
        abort(); /* no statement has more */
    for (int i = 0; i < n; i++) {
        fixed[i] = params[i] ? s_utf8_or_copy(params[i]) : NULL;
        v[i] = fixed[i] ? fixed[i] : params[i];
    }
    PGresult *r = s_exec(PQ(base), which, n, v, binary, rc, err, errlen);
    for (int i = 0; i < n; i++)
        free(fixed[i]);
    return r;
}

static PGresult *s_exec(pg_query_t *q, int which, int n, const char *const *params, int binary,
                        int *rc, char *err, size_t errlen)
{
    int retry = q->may_retry;
    q->may_retry = 0;
    char name[16];
    snprintf(name, sizeof name, "ew_q%d", which);
    uint64_t bit = (uint64_t)1 << (which % 64);
    for (;;) {
        if (PQstatus(q->conn) != CONNECTION_OK && s_reconnect(q, err, errlen) != 0) {
            *rc = -EAGAIN;
            return NULL;
        }
        PGresult *r = NULL;
        if (!(q->prepared[which / 64] & bit)) {
            r = PQprepare(q->conn, name, s_sql[which], 0, NULL);
            if (PQresultStatus(r) == PGRES_COMMAND_OK)
                q->prepared[which / 64] |= bit;
            else
                goto failed;
            PQclear(r);
        }
        r = PQexecPrepared(q->conn, name, n, params, NULL, NULL, binary);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            return r;
    failed:;
        int gone = PQstatus(q->conn) != CONNECTION_OK;
        if (gone && retry) {
            retry = 0;
            PQclear(r);
            continue;
        }
        char why[512];
        pg_error(q->conn, r, why, sizeof why);
        PQclear(r);
        ew_errf(err, errlen, "%s", why);
        *rc = gone ? -EAGAIN : -EIO;
        return NULL;
    }
}

/* Runs a statement whose rows do not matter (BEGIN, COMMIT). 0 or rc. */
static int s_run(pg_query_t *q, int which, char *err, size_t errlen)
{
    int rc = 0;
    PGresult *r = query__pg_exec(&q->base, which, 0, NULL, 0, &rc, err, errlen);
    PQclear(r);
    return r ? 0 : rc;
}

int query__pg_begin(query_t *q, char *err, size_t errlen)
{
    return s_run(PQ(q), QPG_BEGIN, err, errlen);
}

/* COMMIT after success, else ROLLBACK (its own failure then does not
 * matter: a lost connection ends the transaction anyway). */
static int s_end(pg_query_t *q, int rc, char *err, size_t errlen)
{
    if (rc == 0)
        return s_run(q, QPG_COMMIT, err, errlen);
    if (PQstatus(q->conn) == CONNECTION_OK && PQtransactionStatus(q->conn) != PQTRANS_IDLE)
        s_run(q, QPG_ROLLBACK, NULL, 0);
    return rc;
}

int query__pg_end(query_t *q, int rc, char *err, size_t errlen)
{
    return s_end(PQ(q), rc, err, errlen);
}

int query__pg_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

int64_t query__pg_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : (int64_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double query__pg_real(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

const char *query__pg_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

/* ---------------------------------------------------------------- open */

static void s_destroy(pg_query_t *q)
{
    if (!q)
        return;
    PQfinish(q->conn);
    free(q->safe_db);
    free(q);
}

/* The database is an erwatch one of the version this code reads: 0,
 * -ENOENT (no erwatch tables yet: the writer has not created them), or -1
 * with err filled. */
static int s_check(pg_query_t *q, char *err, size_t errlen)
{
    PGresult *r = PQexec(q->conn, "SELECT (SELECT value FROM erwatch_meta WHERE key = "
                                  "'application'), (SELECT value FROM erwatch_meta WHERE key"
                                  " = 'schema_version')");
    int rc = 0;
    char why[512];
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "42P01") == 0) { /* undefined_table */
            ew_errf(err, errlen, "%s has no erwatch tables yet", q->safe_db);
            rc = -ENOENT;
        } else {
            ew_errf(err, errlen, "cannot read database %s: %s", q->safe_db,
                    pg_error(q->conn, r, why, sizeof why));
            rc = PQstatus(q->conn) != CONNECTION_OK ? -EAGAIN : -1;
        }
    } else if (PQgetisnull(r, 0, 1)) {
        ew_errf(err, errlen, "%s has no erwatch tables yet", q->safe_db);
        rc = -ENOENT;
    } else if (PQgetisnull(r, 0, 0) || strcmp(PQgetvalue(r, 0, 0), "erwatch") != 0) {
        ew_errf(err, errlen, "%s is not an erwatch database", q->safe_db);
        rc = -1;
    } else if (atoi(PQgetvalue(r, 0, 1)) != Q_PG_SCHEMA_VERSION) {
        ew_errf(err, errlen, "database %s has schema version %s; this erwatch reads version %d%s",
                q->safe_db, PQgetvalue(r, 0, 1), Q_PG_SCHEMA_VERSION,
                atoi(PQgetvalue(r, 0, 1)) < Q_PG_SCHEMA_VERSION
                    ? " (erwatchd updates the database when it connects)"
                    : "");
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static int s_op_open(query_t **out, const char *db, char *err, size_t errlen)
{
    *out = NULL;
    pg_query_t *q = ew_xcalloc(1, sizeof *q);
    q->base.ops = &query_pg_ops;
    char safe[512];
    pg_redact(db, safe, sizeof safe);
    q->safe_db = ew_xstrdup(safe);
    q->conn = pg_connect(db, err, errlen);
    if (!q->conn) {
        s_destroy(q);
        return -EAGAIN;
    }
    int rc = s_setup_conn(q, err, errlen);
    if (rc == 0)
        rc = s_check(q, err, errlen);
    if (rc != 0) {
        s_destroy(q);
        return rc;
    }
    *out = &q->base;
    return 0;
}

static void s_op_close(query_t *base)
{
    s_destroy(PQ(base));
}

/* The series cache holds copies of series read whole; this backend never
 * reads one whole (the server buckets), so it has nothing to keep. */
static void s_op_use_cache(query_t *base, query_cache_t *c)
{
    (void)base;
    (void)c;
}

/* ---------------------------------------------------------------- runs */

static void s_json_int(strbuf_t *b, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        strbuf_puts(b, "null");
    else
        strbuf_printf(b, "%" PRId64, query__pg_int(r, row, col));
}

static void s_json_real(strbuf_t *b, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        strbuf_puts(b, "null");
    else
        strbuf_json_num(b, query__pg_real(r, row, col));
}

static void s_csv_int(strbuf_t *b, const PGresult *r, int row, int col)
{
    if (!PQgetisnull(r, row, col))
        strbuf_printf(b, "%" PRId64, query__pg_int(r, row, col));
}

static void s_csv_real(strbuf_t *b, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return;
    double v = query__pg_real(r, row, col);
    if (isfinite(v))
        strbuf_json_num(b, v);
}

/* Where the JSON run list stands between rows (as query_sqlite.c). */
typedef struct {
    int64_t run;  /* id of the open run object, -1 before the first */
    int tag_open; /* a tag object (and its metrics array) is open */
    const char *tag;
} s_runs_state_t;

static void s_runs_close(strbuf_t *b, s_runs_state_t *z, int run)
{
    if (z->tag_open)
        strbuf_puts(b, "]}");
    z->tag_open = 0;
    if (run && z->run != -1)
        strbuf_printf(b, "],\"id\":%" PRId64 "}", z->run);
}

static void s_runs_json_row(strbuf_t *b, const PGresult *r, int i, s_runs_state_t *z)
{
    int64_t run = query__pg_int(r, i, 0);
    const char *tag = query__pg_text(r, i, 7);
    int has_series = !PQgetisnull(r, i, 7);

    if (run != z->run) {
        int first = z->run == -1;
        s_runs_close(b, z, 1);
        if (!first)
            strbuf_putc(b, ',');
        strbuf_puts(b, "{\"run\":");
        strbuf_json_str(b, query__pg_text(r, i, 1));
        strbuf_puts(b, ",\"first_seen\":");
        s_json_real(b, r, i, 2);
        strbuf_puts(b, ",\"last_seen\":");
        s_json_real(b, r, i, 3);
        strbuf_puts(b, ",\"last_step\":");
        s_json_int(b, r, i, 4);
        strbuf_puts(b, ",\"dropped\":");
        s_json_int(b, r, i, 5);
        strbuf_puts(b, ",\"world\":");
        s_json_int(b, r, i, 6);
        strbuf_puts(b, ",\"base\":");
        strbuf_json_str(b, query__pg_text(r, i, 11));
        strbuf_puts(b, ",\"launch\":");
        if (PQgetisnull(r, i, 12))
            strbuf_puts(b, "null");
        else
            strbuf_json_str(b, query__pg_text(r, i, 12));
        strbuf_puts(b, ",\"tags\":[");
        z->run = run;
    }
    if (!has_series)
        return;
    if (z->tag_open && strcmp(tag, z->tag) == 0) {
        strbuf_putc(b, ',');
    } else {
        if (z->tag_open) {
            s_runs_close(b, z, 0);
            strbuf_putc(b, ',');
        }
        strbuf_puts(b, "{\"tag\":");
        strbuf_json_str(b, tag);
        strbuf_puts(b, ",\"last_step\":");
        s_json_int(b, r, i, 10);
        strbuf_puts(b, ",\"metrics\":[");
        z->tag = tag; /* lives as long as the result */
        z->tag_open = 1;
    }
    strbuf_json_str(b, query__pg_text(r, i, 8));
}

static void s_runs_csv_row(strbuf_t *b, const PGresult *r, int i)
{
    if (PQgetisnull(r, i, 7))
        return; /* a run without series: no line (one line per series) */
    strbuf_csv_str(b, query__pg_text(r, i, 1));
    strbuf_putc(b, ',');
    strbuf_csv_str(b, query__pg_text(r, i, 7));
    strbuf_putc(b, ',');
    strbuf_csv_str(b, query__pg_text(r, i, 8));
    strbuf_putc(b, ',');
    s_csv_int(b, r, i, 9);
    strbuf_putc(b, ',');
    s_csv_real(b, r, i, 3);
    strbuf_putc(b, ',');
    s_csv_int(b, r, i, 5);
    strbuf_putc(b, '\n');
}

/* The rows of r (the columns of QPG_RUNS) as the run list; total >= 0 and
 * extra go at the end of the JSON object. */
static void s_runs_write(const PGresult *r, strbuf_t *out, int csv, int64_t total,
                         const char *extra)
{
    s_runs_state_t z = {.run = -1, .tag_open = 0, .tag = ""};
    strbuf_puts(out, csv ? "run,tag,metric,last_step,last_seen,dropped\n" : "{\"runs\":[");
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        if (csv)
            s_runs_csv_row(out, r, i);
        else
            s_runs_json_row(out, r, i, &z);
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
}

static int s_op_runs(query_t *base, strbuf_t *out, int csv, char *err, size_t errlen)
{
    query__pg_enter(base);
    int rc = 0;
    char why[512];
    PGresult *r = query__pg_exec(base, QPG_RUNS, 0, NULL, 0, &rc, why, sizeof why);
    if (!r) {
        ew_errf(err, errlen, "cannot list runs: %s", why);
        return rc == -EAGAIN ? rc : -1;
    }
    s_runs_write(r, out, csv, -1, NULL);
    PQclear(r);
    return 0;
}

/* A PostgreSQL array literal of the strings (each quoted, " and \
 * escaped): bound as one parameter, so it is data, never SQL. */
static void s_text_array(strbuf_t *b, const char *const *v, size_t n)
{
    strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(b, i ? ",\"" : "\"");
        for (const char *c = v[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                strbuf_putc(b, '\\');
            strbuf_putc(b, *c);
        }
        strbuf_putc(b, '"');
    }
    strbuf_putc(b, '}');
}

static void s_int_array(strbuf_t *b, const int64_t *v, size_t n)
{
    strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++)
        strbuf_printf(b, "%s%" PRId64, i ? "," : "", v[i]);
    strbuf_putc(b, '}');
}

static int s_op_runs_filtered(query_t *base, const query_runs_filter_t *f, strbuf_t *out, int csv,
                              const char *extra, char *err, size_t errlen)
{
    pg_query_t *q = PQ(base);
    query__pg_enter(base);
    /* f->match as a LIKE pattern: %part%, lower-case ASCII (the column is
     * folded the same way), with its own % _ \ escaped */
    strbuf_t pat, names, ids;
    strbuf_init(&pat);
    strbuf_init(&names);
    strbuf_init(&ids);
    if (f->match) {
        strbuf_putc(&pat, '%');
        for (const char *c = f->match; *c; c++) {
            if (*c == '%' || *c == '_' || *c == '\\')
                strbuf_putc(&pat, '\\');
            strbuf_putc(&pat, *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c);
        }
        strbuf_putc(&pat, '%');
    }
    if (f->nnames)
        s_text_array(&names, f->names, f->nnames);
    if (f->nids)
        s_int_array(&ids, f->ids, f->nids);
    s_params_t p = {.n = 0};
    s_pt(&p, f->match ? pat.data : NULL);
    s_pt(&p, f->nnames ? names.data : NULL);
    s_pt(&p, f->nids ? ids.data : NULL);

    char why[512] = "";
    PGresult *count = NULL, *list = NULL;
    int rc = s_run(q, QPG_BEGIN, why, sizeof why); /* the page and the total from one snapshot */
    if (rc == 0 && !csv)
        count = query__pg_exec(base, QPG_RUNS_COUNT, 3, p.v, 0, &rc, why, sizeof why);
    if (rc == 0) {
        if (f->has_since)
            s_pd(&p, f->since);
        else
            s_pt(&p, NULL);
        if (f->limit < 0)
            s_pt(&p, NULL);
        else
            s_pi(&p, f->limit);
        s_pi(&p, f->offset);
        list = query__pg_exec(base, QPG_RUNS_PAGE, 6, p.v, 0, &rc, why, sizeof why);
    }
    rc = s_end(q, rc, why, sizeof why);
    if (rc == 0)
        s_runs_write(list, out, csv, count ? query__pg_int(count, 0, 0) : -1, extra);
    else
        ew_errf(err, errlen, "cannot list runs: %s", why);
    PQclear(count);
    PQclear(list);
    strbuf_free(&pat);
    strbuf_free(&names);
    strbuf_free(&ids);
    return rc == 0 ? 0 : rc == -EAGAIN ? rc : -1;
}

/* ---------------------------------------------------------------- series */

/* The id of (run, tag, metric): 0 and *sid, -ENOENT, -EAGAIN or -EIO. */
static int s_series_id(pg_query_t *q, int which, const char *run, const char *tag,
                       const char *metric, int64_t *sid, char *err, size_t errlen)
{
    const char *p[3] = {run, tag, metric};
    int rc = 0;
    char why[512];
    PGresult *r = query__pg_exec(&q->base, which, 3, p, 0, &rc, why, sizeof why);
    if (!r) {
        ew_errf(err, errlen, "cannot read series: %s", why);
        return rc;
    }
    rc = PQntuples(r) > 0 ? 0 : -ENOENT;
    *sid = rc == 0 ? query__pg_int(r, 0, 0) : 0;
    PQclear(r);
    return rc;
}

static double s_value(const PGresult *r, int row, int col)
{
    return query__pg_real(r, row, col); /* NULL (undefined): NaN */
}

/* Fills a not bucketed series from rows (step, value[, wall_time]). */
static void s_points(const PGresult *r, int with_time, series_t *out)
{
    size_t n = (size_t)PQntuples(r);
    out->n = n;
    if (n == 0)
        return;
    out->step = ew_xmalloc(n * sizeof *out->step);
    out->value = ew_xmalloc(n * sizeof *out->value);
    if (with_time)
        out->time = ew_xmalloc(n * sizeof *out->time);
    for (size_t i = 0; i < n; i++) {
        out->step[i] = query__pg_int(r, (int)i, 0);
        out->value[i] = s_value(r, (int)i, 1);
        if (with_time)
            out->time[i] = query__pg_real(r, (int)i, 2);
    }
}

static int s_op_series(query_t *base, const char *run, const char *tag, const char *metric,
                       int64_t after, int64_t before, series_t *out, char *err, size_t errlen)
{
    pg_query_t *q = PQ(base);
    memset(out, 0, sizeof *out);
    query__pg_enter(base);
    int64_t sid;
    int rc = s_series_id(q, QPG_SERIES_ID, run, tag, metric, &sid, err, errlen);
    if (rc != 0)
        return rc;
    if (before == INT64_MIN)
        return 0; /* step < INT64_MIN: nothing */
    s_params_t p = {.n = 0};
    s_pi(&p, sid);
    s_pi(&p, after);
    s_pi(&p, s_hi(before));
    char why[512];
    PGresult *r = query__pg_exec(base, QPG_POINTS, 3, p.v, 0, &rc, why, sizeof why);
    if (!r) {
        ew_errf(err, errlen, "cannot read series: %s", why);
        return rc;
    }
    s_points(r, 0, out);
    PQclear(r);
    return 0;
}

/* ---------------------------------------------------------------- views */

/* Rows of QPG_BUCKET's columns (last step, min, max, last value, last
 * time, count), in step order, into the stream. */
static void s_push_cells(downsample_stream_t *ds, const PGresult *r, int with_time)
{
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        summary_cell_t c = {
            .n = query__pg_int(r, i, 5),
            .lo = query__pg_real(r, i, 1),
            .hi = query__pg_real(r, i, 2),
            .last = query__pg_int(r, i, 0),
            .last_value = s_value(r, i, 3),
            .last_time = with_time ? query__pg_real(r, i, 4) : 0.0,
        };
        downsample_push_cell(ds, &c);
    }
}

/* The buckets of series sid's points in [first, last] (both points of it),
 * bucketed in SQL (QPG_BUCKET) and pushed through downsample's stream. */
static int s_buckets(pg_query_t *q, int64_t sid, int64_t first, int64_t last, const query_view_t *v,
                     series_t *out, char *err, size_t errlen)
{
    downsample_stream_t ds;
    downsample_begin(&ds, first, last, v->points, v->with_time, out);
    /* (span - 1) * buckets in bigint, or the numeric statement */
    uint64_t top = ds.span - 1;
    int wide = top != 0 && (uint64_t)ds.buckets > (uint64_t)INT64_MAX / top;
    s_params_t p = {.n = 0};
    s_pi(&p, sid);
    s_pi(&p, first);
    s_pi(&p, last);
    s_pu(&p, ds.buckets);
    s_pu(&p, ds.span);
    s_pi(&p, ds.grid);
    int rc = 0;
    char why[512];
    PGresult *r = query__pg_exec(&q->base, wide ? QPG_BUCKET_WIDE : QPG_BUCKET, 6, p.v, 0, &rc, why,
                                 sizeof why);
    if (!r) {
        downsample_end(&ds);
        series_free(out);
        ew_errf(err, errlen, "cannot read series: %s", why);
        return rc;
    }
    s_push_cells(&ds, r, v->with_time);
    PQclear(r);
    downsample_end(&ds);
    if (ds.unordered) {
        ew_errf(err, errlen, "cannot read series: buckets came out of step order");
        series_free(out);
        return -EIO;
    }
    return 0;
}

/* The buckets of series sid's points in [first, last] read from its
 * summaries: 1 done, 0 when they cannot answer (a narrow window, a series
 * with summarized = 0: the caller scans), or an error (< 0, err filled). */
static int s_summary_buckets(pg_query_t *q, int64_t sid, int64_t first, int64_t last,
                             const query_view_t *v, series_t *out, char *err, size_t errlen)
{
    int level = downsample_grid(first, last, v->points);
    int64_t cf = summary_bucket(first, level), cl = summary_bucket(last, level);
    if (!level || cl <= cf + 1)
        return 0;
    s_params_t p = {.n = 0};
    s_pi(&p, sid);
    int rc = 0;
    char why[512];
    PGresult *r = query__pg_exec(&q->base, QPG_SUMMARIZED, 1, p.v, 0, &rc, why, sizeof why);
    if (!r)
        goto db_error;
    int ready = PQntuples(r) == 1 && query__pg_int(r, 0, 0) == 1;
    PQclear(r);
    if (!ready)
        return 0;
    s_pi(&p, first);
    s_pi(&p, summary_last_step(cf, level));
    s_pi(&p, summary_first_step(cl, level));
    s_pi(&p, last);
    s_pi(&p, level);
    s_pi(&p, cf + 1);
    s_pi(&p, cl - 1);
    r = query__pg_exec(&q->base, QPG_SUMMARY, 8, p.v, 0, &rc, why, sizeof why);
    if (!r)
        goto db_error;
    downsample_stream_t ds;
    downsample_begin(&ds, first, last, v->points, v->with_time, out);
    s_push_cells(&ds, r, v->with_time);
    PQclear(r);
    downsample_end(&ds);
    if (ds.unordered) {
        ew_errf(err, errlen, "cannot read series: summary cells came out of step order");
        series_free(out);
        return -EIO;
    }
    return 1;

db_error:
    ew_errf(err, errlen, "cannot read series: %s", why);
    return rc < 0 ? rc : -EIO;
}

/* The body of query_series_view, inside its read transaction. */
static int s_view(pg_query_t *q, const query_view_t *v, series_t *out, char *err, size_t errlen)
{
    int64_t sid;
    int rc = s_series_id(q, QPG_SERIES_ID, v->run, v->tag, v->metric, &sid, err, errlen);
    if (rc != 0)
        return rc;

    /* The first points + 1 of the window: all of it, or proof that it
     * must be bucketed (and its first step). */
    s_params_t p = {.n = 0};
    s_pi(&p, sid);
    s_pi(&p, v->after);
    s_pi(&p, s_hi(v->before));
    s_pu(&p, (uint64_t)v->points + 1);
    char why[512];
    PGresult *r = query__pg_exec(&q->base, QPG_VIEW_HEAD, 4, p.v, 0, &rc, why, sizeof why);
    if (!r)
        goto db_error;
    if ((size_t)PQntuples(r) <= v->points) {
        s_points(r, v->with_time, out);
        PQclear(r);
        return 0;
    }
    int64_t first = query__pg_int(r, 0, 0);
    PQclear(r);
    r = query__pg_exec(&q->base, QPG_VIEW_LAST, 3, p.v, 0, &rc, why, sizeof why);
    if (!r)
        goto db_error;
    int64_t last = PQntuples(r) > 0 ? query__pg_int(r, 0, 0) : first;
    PQclear(r);
    rc = s_summary_buckets(q, sid, first, last, v, out, err, errlen);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    return s_buckets(q, sid, first, last, v, out, err, errlen);

db_error:
    ew_errf(err, errlen, "cannot read series: %s", why);
    series_free(out);
    return rc;
}

static int s_op_series_view(query_t *base, const query_view_t *v, series_t *out, char *err,
                            size_t errlen)
{
    pg_query_t *q = PQ(base);
    memset(out, 0, sizeof *out);
    if (v->points < 1 || v->after >= v->before) {
        ew_errf(err, errlen, "bad window");
        return -EINVAL;
    }
    query__pg_enter(base);
    char why[512];
    int rc = s_run(q, QPG_BEGIN, why, sizeof why);
    if (rc != 0) {
        ew_errf(err, errlen, "cannot read series: %s", why);
        return rc;
    }
    rc = s_view(q, v, out, err, errlen);
    int end = s_end(q, rc, why, sizeof why);
    if (rc == 0 && end != 0) {
        ew_errf(err, errlen, "cannot read series: %s", why);
        series_free(out);
        rc = end;
    }
    return rc;
}

static int s_op_batch_shape(query_t *base, const char *run, const char *tag, query_shape_t *out,
                            char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    query__pg_enter(base);
    const char *p[2] = {run, tag};
    int rc = 0;
    char why[512];
    PGresult *r = query__pg_exec(base, QPG_SHAPE, 2, p, 0, &rc, why, sizeof why);
    if (!r) {
        ew_errf(err, errlen, "cannot read batches: %s", why);
        return rc;
    }
    rc = PQntuples(r) > 0 ? 0 : -ENOENT;
    if (rc == 0) {
        out->step = query__pg_int(r, 0, 0);
        out->n = query__pg_int(r, 0, 1);
        out->d = query__pg_int(r, 0, 2);
        out->kappa = query__pg_real(r, 0, 3);
        out->discrete = strcmp(query__pg_text(r, 0, 4), ew_support_name(EW_SUPPORT_DISCRETE)) == 0;
    }
    PQclear(r);
    return rc;
}

static int s_op_series_hint(query_t *base, const char *run, const char *tag, strbuf_t *out)
{
    query__pg_enter(base);
    int rc = 0;
    char why[512];
    PGresult *r = query__pg_exec(base, QPG_RUN_SERIES, 1, &run, 0, &rc, why, sizeof why);
    if (!r)
        return rc == -EAGAIN ? rc : -EIO;
    strbuf_t tags, metrics;
    strbuf_init(&tags);
    strbuf_init(&metrics);
    int rows = PQntuples(r), ntags = 0, nmetrics = 0;
    const char *prev = "";
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(r, i, 0))
            continue;
        const char *t = query__pg_text(r, i, 0), *m = query__pg_text(r, i, 1);
        /* the tags, each once (rows come sorted by tag) */
        if (ntags == 0 || strcmp(prev, t) != 0) {
            strbuf_puts(&tags, ntags++ ? ", " : "");
            strbuf_puts(&tags, t);
            prev = t;
        }
        if (strcmp(t, tag) == 0) {
            strbuf_puts(&metrics, nmetrics++ ? ", " : "");
            strbuf_puts(&metrics, m);
        }
    }
    if (rows == 0)
        strbuf_printf(out, "no run '%s'", run);
    else if (nmetrics > 0)
        strbuf_printf(out, "run '%s' tag '%s' has: %s", run, tag, metrics.data);
    else if (ntags > 0)
        strbuf_printf(out, "run '%s' has no tag '%s' (its tags: %s)", run, tag, tags.data);
    else
        strbuf_printf(out, "run '%s' has no series yet", run);
    PQclear(r);
    strbuf_free(&tags);
    strbuf_free(&metrics);
    return 0;
}

static int64_t s_op_client_dropped(query_t *base)
{
    query__pg_enter(base);
    int rc = 0;
    char why[512];
    PGresult *r = query__pg_exec(base, QPG_DROPPED, 0, NULL, 0, &rc, why, sizeof why);
    if (!r)
        return -1;
    int64_t total = -1;
    if (PQntuples(r) > 0) {
        double v = query__pg_real(r, 0, 0);
        total = v >= 9.2e18 ? INT64_MAX : (int64_t)v;
    }
    PQclear(r);
    return total;
}

/* ------------------------------------------------------------ spectra */

static uint64_t s_be(const char *p, int bytes)
{
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++)
        x = x << 8 | (unsigned char)p[i];
    return x;
}

static int s_op_spectrum(query_t *base, const char *run, const char *tag, int64_t after,
                         int64_t before, size_t points, strbuf_t *out, char *err, size_t errlen)
{
    query__pg_enter(base);
    pg_query_t *q = PQ(base);
    int rc = 0;
    char why[512] = "";
    PGresult *r = NULL;
    int64_t first = 0, lastst = 0, n = 0;
    rc = s_run(q, QPG_BEGIN, why, sizeof why);
    if (rc == 0)
        r = query__pg_exec(base, QPG_RUN_ID, 1, &run, 0, &rc, why, sizeof why);
    if (r && PQntuples(r) == 0)
        rc = -ENOENT;
    if (rc == 0 && before == INT64_MIN)
        rc = -ENOENT;
    if (rc == 0) {
        s_params_t p = {.n = 0};
        s_pi(&p, query__pg_int(r, 0, 0));
        s_pt(&p, tag);
        s_pi(&p, after);
        s_pi(&p, s_hi(before));
        PQclear(r);
        r = query__pg_exec(base, QPG_SPEC_RANGE, 4, p.v, 0, &rc, why, sizeof why);
        if (r && PQgetisnull(r, 0, 0))
            rc = -ENOENT;
        if (rc == 0) {
            first = query__pg_int(r, 0, 0);
            lastst = query__pg_int(r, 0, 1);
            n = query__pg_int(r, 0, 2);
        }
        /* At most `points` spectra: with more in the window, the last one
         * of each of `points` equal step ranges (as downsample.h does for
         * series), chosen by the server. */
        size_t buckets = n > (int64_t)points ? points : (size_t)n;
        if (buckets == 0)
            buckets = 1;
        p.n = 2;
        s_pi(&p, first);
        s_pi(&p, lastst);
        s_pu(&p, buckets);
        s_pu(&p, (uint64_t)lastst - (uint64_t)first);
        PQclear(r);
        r = NULL;
        if (rc == 0)
            r = query__pg_exec(base, QPG_SPEC_LAST, 6, p.v, 1, &rc, why, sizeof why);
    }
    rc = s_end(q, rc, why, sizeof why);
    if (rc != 0) {
        PQclear(r);
        if (rc != -ENOENT)
            ew_errf(err, errlen, "%s", why);
        return rc;
    }
    strbuf_puts(out, "{\"run\":");
    strbuf_json_str(out, run);
    strbuf_puts(out, ",\"tag\":");
    strbuf_json_str(out, tag);
    strbuf_printf(out, ",\"bucketed\":%s,\"step\":[", n > (int64_t)points ? "true" : "false");
    int rows = PQntuples(r), emitted = 0;
    for (int i = 0; i < rows; i++) {
        int k = (int)(int32_t)s_be(PQgetvalue(r, i, 1), 4);
        if (k > 0 && PQgetlength(r, i, 2) == 4 * k)
            strbuf_printf(out, "%s%" PRId64, emitted++ ? "," : "",
                          (int64_t)s_be(PQgetvalue(r, i, 0), 8));
    }
    strbuf_puts(out, "],\"values\":[");
    emitted = 0;
    for (int i = 0; i < rows; i++) {
        int k = (int)(int32_t)s_be(PQgetvalue(r, i, 1), 4);
        if (k > 0 && PQgetlength(r, i, 2) == 4 * k) {
            if (emitted++)
                strbuf_putc(out, ',');
            strbuf_json_f32le(out, (const unsigned char *)PQgetvalue(r, i, 2), k);
        }
    }
    strbuf_puts(out, "]}");
    PQclear(r);
    return 0;
}

/* ---------------------------------------------------------------- the backend */

const query_ops_t query_pg_ops = {
    .name = "postgresql",
    .accepts = pg_accepts,
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
    .latest = query__pg_latest,
    .alerts = query__pg_alerts,
    .run = query__pg_run,
};
