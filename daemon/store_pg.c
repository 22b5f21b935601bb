/* store_pg.c: the store's PostgreSQL backend (store_backend.h): the single
 * writer's connection to a database that several erwatchd may share
 * (schema/schema_pg.sql), with store_sqlite.c's semantics contract by
 * contract.
 *
 * Design decisions:
 *  - One connection, used by the writer thread only, opened with a bounded
 *    connect_timeout. When it breaks (PostgreSQL restarted, network gone)
 *    the call that finds it broken fails, and the next one reconnects and
 *    prepares the statements again: the writer retries a failed group with
 *    backoff (writer.c), so no accepted batch is lost while its queue has room.
 *  - A group of results is one transaction. Point, batch and spectrum rows
 *    are gathered in C and sent as one INSERT ... SELECT FROM unnest(arrays)
 *    ON CONFLICT DO UPDATE each (a group costs a handful of round trips, not
 *    one per point); a key that occurs twice in a group is sent once, the
 *    later value (ON CONFLICT cannot touch a row twice in one statement, and
 *    later wins as with SQLite's INSERT OR REPLACE).
 *  - Every write is idempotent, so a group whose COMMIT was lost with the
 *    connection (outcome unknown) is simply stored again: points, batches,
 *    spectra upsert; runs and series take least/greatest; a launch already
 *    recorded is found by its key and not resolved again.
 *  - Several daemons write at once: ids come from identity columns, new runs
 *    are inserted with ON CONFLICT (name) DO NOTHING, and a launch that finds
 *    its name (or NAME.K) taken, even by a transaction not yet committed,
 *    tries the next NAME.K: two launches never share a run. A cached run id
 *    whose row another daemon deleted fails the group, which is retried
 *    with fresh ids.
 *  - Run and series ids are cached as in store_sqlite.c; any rollback
 *    empties the caches.
 */
#include "store_pg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "fault.h"
#include "idmap.h"
#include "log.h"
#include "pg.h"
#include "strbuf.h"
#include "xalloc.h"

extern const char ew_schema_pg_sql[]; /* build/gen/schema_pg_sql.c */

#define S_CACHE_MAX (1u << 20) /* entries; beyond that the caches restart */
/* pg_advisory_xact_lock key of schema creation: "erwt" */
#define S_SCHEMA_LOCK "1701999476"

typedef struct pg_store pg_store_t;
#define PS(base) ((pg_store_t *)(base)) /* base is the first member */

/* ---------------------------------------------------------------- store */

/* What a group changes in one runs row or series row, applied at its end. */
typedef struct {
    int64_t id;
    double first_seen, last_seen;
    int64_t last_step, dropped;
    int64_t world; /* -1: not sent in this group */
} s_run_touch_t;

typedef struct {
    int64_t id;
    int64_t last_step;
    double hi, lo; /* the group's largest and smallest value; NAN: none */
} s_series_touch_t;

/* Rows waiting for the group's multi-row statements; ord keeps arrival
 * order so that the later of two rows with one key wins. Pointers are into
 * the group's results, which outlive the call. */
typedef struct {
    int64_t sid, step;
    double value, wall;
    size_t ord;
} s_point_t;

typedef struct {
    int64_t run_id, step;
    const result_t *r;
    const char *support;
    size_t ord;
} s_row_t; /* a batches or spectra row */

/* The statements prepared on each connection, by name "ew_" + index. */
enum {
    Q_RUN_GET,
    Q_RUN_ADD,
    Q_RUN_SET,
    Q_SERIES_GET,
    Q_SERIES_ADD,
    Q_SERIES_SET,
    Q_POINTS_PUT,
    Q_BATCHES_PUT,
    Q_SPECTRA_PUT,
    Q_SERIES_RANGE,
    Q_LAUNCH_GET,
    Q_LAUNCH_ADD,
    Q_RUN_ADD_LAUNCHED,
    Q_RUN_LAUNCH_SET,
    Q_RESUME_BASE,
    Q_BASE_COUNT,
    Q_META_SET,
    Q_RW_POINTS,
    Q_RW_BATCHES,
    Q_RW_SPECTRA,
    Q_RW_SERIES,
    Q_RW_SERIES_DEL,
    Q_RW_RUN,
    Q_RW_ALERTS,
    Q_OWN_RUN,
    Q_COUNT
};

static const char *const s_sql[Q_COUNT] = {
    "SELECT id FROM runs WHERE name = $1::text",
    "INSERT INTO runs (name, base, first_seen, last_seen) VALUES ($1::text, $1::text, $2, $2)"
    " ON CONFLICT (name) DO NOTHING RETURNING id",
    /* greatest/least ignore NULLs: the first touch sets, later ones widen */
    "UPDATE runs SET first_seen = least(first_seen, $6::float8),"
    " last_seen = greatest(last_seen, $2::float8), last_step = greatest(last_step, $3::bigint),"
    " dropped = $4, world = coalesce($5::bigint, world) WHERE id = $1",
    "SELECT id FROM series WHERE run_id = $1 AND tag = $2 AND metric = $3",
    /* summarized: its summaries follow its points from the first one */
    "INSERT INTO series (run_id, tag, metric, summarized) VALUES ($1, $2, $3, 1)"
    " ON CONFLICT (run_id, tag, metric) DO NOTHING RETURNING id",
    "UPDATE series AS s SET last_step = greatest(s.last_step, u.ls),"
    " vmax = greatest(s.vmax, u.hi), vmin = least(s.vmin, u.lo)"
    " FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::float8[]) AS u(id, ls, hi, lo)"
    " WHERE s.id = u.id",
    "INSERT INTO points (series_id, step, value, wall_time)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::float8[])"
    " ON CONFLICT (series_id, step) DO UPDATE SET value = EXCLUDED.value,"
    " wall_time = EXCLUDED.wall_time",
    "INSERT INTO batches (run_id, tag, step, n, d, views, support, kappa, rank, world,"
    " client_time, recv_time, dropped)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],"
    " $6::bigint[], $7::text[], $8::float8[], $9::bigint[], $10::bigint[], $11::float8[],"
    " $12::float8[], $13::bigint[])"
    " ON CONFLICT (run_id, tag, step) DO UPDATE SET n = EXCLUDED.n, d = EXCLUDED.d,"
    " views = EXCLUDED.views, support = EXCLUDED.support, kappa = EXCLUDED.kappa,"
    " rank = EXCLUDED.rank, world = EXCLUDED.world, client_time = EXCLUDED.client_time,"
    " recv_time = EXCLUDED.recv_time, dropped = EXCLUDED.dropped",
    "INSERT INTO spectra (run_id, tag, step, k, vals)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::integer[], $5::bytea[])"
    " ON CONFLICT (run_id, tag, step) DO UPDATE SET k = EXCLUDED.k, vals = EXCLUDED.vals",
    "SELECT s.vmax, s.vmin FROM series AS s JOIN runs AS r ON r.id = s.run_id"
    " WHERE r.name = $1 AND s.tag = $2 AND s.metric = $3",
    /* launches (see "launches" below) */
    "SELECT l.run_id, r.name FROM launches AS l JOIN runs AS r ON r.id = l.run_id"
    " WHERE l.launch = $1 AND l.name = $2",
    "INSERT INTO launches (launch, name, run_id, resumed, first_step, first_seen)"
    " VALUES ($1, $2, $3, $4, $5, $6)",
    "INSERT INTO runs (name, base, launch, first_seen, last_seen)"
    " VALUES ($1, $2, $3, $4::float8, $4::float8) ON CONFLICT (name) DO NOTHING RETURNING id",
    "UPDATE runs SET launch = $2 WHERE id = $1",
    "SELECT id, name FROM runs WHERE base = $1 ORDER BY id DESC LIMIT 1",
    "SELECT count(*) FROM runs WHERE base = $1",
    "UPDATE runs SET config = coalesce($2, config), notes = coalesce($3, notes) WHERE id = $1",
    /* rewind: run id $1, from step $2 */
    "DELETE FROM points WHERE series_id IN (SELECT id FROM series WHERE run_id = $1)"
    " AND step >= $2",
    "DELETE FROM batches WHERE run_id = $1 AND step >= $2",
    "DELETE FROM spectra WHERE run_id = $1 AND step >= $2",
    "UPDATE series SET"
    " last_step = (SELECT max(step) FROM points WHERE series_id = series.id),"
    " vmax = (SELECT max(value) FROM points WHERE series_id = series.id),"
    " vmin = (SELECT min(value) FROM points WHERE series_id = series.id)"
    " WHERE run_id = $1",
    "DELETE FROM series WHERE run_id = $1 AND last_step IS NULL",
    "UPDATE runs SET last_step = (SELECT max(last_step) FROM series WHERE run_id = $1)"
    " WHERE id = $1",
    "DELETE FROM alerts WHERE run = $1 AND state = 'resolved' AND first_step >= $2",
    /* a run of this name that the launch already writes (renamed to it) */
    "SELECT r.id FROM runs AS r JOIN launches AS l ON l.run_id = r.id"
    " WHERE r.name = $1 AND l.launch = $2 LIMIT 1",
};

struct pg_store {
    store_t base; /* first: the handle store_backend.c sees */
    PGconn *conn;
    int prepared; /* the statements exist on conn */
    char label[512];
    idmap_t runs, series;
    idmap_t launches; /* "launch\0name" -> run id and name; id -1: refused */
    uint32_t gen;
    s_run_touch_t *rt;
    size_t nrt, crt;
    s_series_touch_t *st;
    size_t nst, cst;
    s_point_t *pt;
    size_t npt, cpt;
    s_row_t *bt, *sp; /* batches, spectra */
    size_t nbt, cbt, nsp, csp;
    size_t ord;
    strbuf_t col[13];       /* the array parameters of one statement */
    strbuf_t cell[2];       /* the group's (series, finest summary cell) pairs */
    store_pg_build_t build; /* of series without summaries */
    const char *more[8];    /* store__pg_prepared()'s statements on conn */
    int nmore;
};

/* ---------------------------------------------------------------- parameters */

void store__pg_int(store_pg_params_t *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

void store__pg_step(store_pg_params_t *p, int64_t v)
{
    if (v < 0)
        p->v[p->n++] = NULL;
    else
        store__pg_int(p, v);
}

/* Exact text of a double for PostgreSQL's float8 input (shortest round trip). */
static int s_format_double(char *out, double v)
{
    if (isinf(v))
        return snprintf(out, 32, "%s", v < 0 ? "-Infinity" : "Infinity");
    return strbuf_format_double(out, v);
}

void store__pg_double(store_pg_params_t *p, double v)
{
    if (isnan(v)) {
        p->v[p->n++] = NULL;
        return;
    }
    s_format_double(p->num[p->n], v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

void store__pg_text(store_pg_params_t *p, const char *v)
{
    p->v[p->n++] = v;
}

/* ---------------------------------------------------------------- connection */

const char *store__pg_label(const store_t *s)
{
    return ((const pg_store_t *)s)->label;
}

static int s_injected(const char *sql)
{
    return ew_fault_any() && strcmp(sql, "ROLLBACK") != 0 && ew_fault_hit(EW_FAULT_STORE_STMT);
}

/* res is a success, or NULL with why filled (res cleared). */
static PGresult *s_check(pg_store_t *s, PGresult *res, char *why, size_t whylen)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    pg_error(s->conn, res, why, whylen);
    PQclear(res);
    return NULL;
}

PGresult *store__pg_query(store_t *base, const char *sql, const store_pg_params_t *p, char *why,
                          size_t whylen)
{
    pg_store_t *s = PS(base);
    if (s_injected(sql)) {
        ew_errf(why, whylen, "injected fault (fault.h)");
        return NULL;
    }
    PGresult *res =
        p ? PQexecParams(s->conn, sql, p->n, NULL, p->v, NULL, NULL, 0) : PQexec(s->conn, sql);
    return s_check(s, res, why, whylen);
}

PGresult *store__pg_prepared(store_t *base, const char *sql, const store_pg_params_t *p, char *why,
                             size_t whylen)
{
    pg_store_t *s = PS(base);
    int k = 0;
    while (k < s->nmore && s->more[k] != sql)
        k++;
    if (k == (int)(sizeof s->more / sizeof s->more[0]))
        return store__pg_query(base, sql, p, why, whylen); /* full: unprepared */
    if (s_injected(sql)) {
        ew_errf(why, whylen, "injected fault (fault.h)");
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof name, "ewx_%d", k);
    if (k == s->nmore) {
        if (!s_check(s, PQprepare(s->conn, name, sql, 0, NULL), why, whylen))
            return NULL;
        s->more[s->nmore++] = sql;
    }
    return s_check(s, PQexecPrepared(s->conn, name, p->n, p->v, NULL, NULL, 0), why, whylen);
}

int store__pg_run(store_t *s, const char *sql, const store_pg_params_t *p, char *why, size_t whylen)
{
    PGresult *res = store__pg_query(s, sql, p, why, whylen);
    PQclear(res);
    return res ? 0 : -1;
}

/* The first column of the first row of res (cleared): 1, 0 (no row). */
static int s_first_int(PGresult *res, int64_t *out)
{
    int found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
    if (found)
        *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return found;
}

int store__pg_one(store_t *s, const char *sql, const store_pg_params_t *p, int64_t *out, char *why,
                  size_t whylen)
{
    PGresult *res = store__pg_query(s, sql, p, why, whylen);
    return res ? s_first_int(res, out) : -1;
}

void store__pg_rollback(store_t *base)
{
    pg_store_t *s = PS(base);
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK &&
        PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* A prepared statement of s_sql. */
static PGresult *s_exec(pg_store_t *s, int which, const store_pg_params_t *p, char *why,
                        size_t whylen)
{
    if (s_injected(s_sql[which])) {
        ew_errf(why, whylen, "injected fault (fault.h)");
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof name, "ew_%d", which);
    PGresult *res = PQexecPrepared(s->conn, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    return s_check(s, res, why, whylen);
}

static int s_exec_cmd(pg_store_t *s, int which, const store_pg_params_t *p, char *why,
                      size_t whylen)
{
    PGresult *res = s_exec(s, which, p, why, whylen);
    PQclear(res);
    return res ? 0 : -1;
}

/* 1 found, 0 no row, -1 error. */
static int s_exec_one(pg_store_t *s, int which, const store_pg_params_t *p, int64_t *out, char *why,
                      size_t whylen)
{
    PGresult *res = s_exec(s, which, p, why, whylen);
    return res ? s_first_int(res, out) : -1;
}

static int s_prepare(pg_store_t *s, char *why, size_t whylen)
{
    for (int i = 0; i < Q_COUNT; i++) {
        char name[16];
        snprintf(name, sizeof name, "ew_%d", i);
        if (!s_check(s, PQprepare(s->conn, name, s_sql[i], 0, NULL), why, whylen))
            return -1;
    }
    s->prepared = 1;
    return 0;
}

int store__pg_ready(store_t *base, char *why, size_t whylen)
{
    pg_store_t *s = PS(base);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        s->prepared = 0;
        s->nmore = 0;
        PQreset(s->conn); /* blocks at most connect_timeout (pg_connect) */
        if (PQstatus(s->conn) != CONNECTION_OK) {
            char m[400];
            ew_errf(why, whylen, "connection lost, cannot reconnect: %s",
                    pg_error(s->conn, NULL, m, sizeof m));
            return -1;
        }
    }
    return s->prepared ? 0 : s_prepare(s, why, whylen);
}

/* ---------------------------------------------------------------- open */

/* Inside the open transaction, under the schema lock: accept a database
 * with our schema at a version we know, or create it in one that has no
 * tables. Returns 0 or -1 with err filled. */
static int s_check_or_create(pg_store_t *s, char *err, size_t errlen)
{
    char why[400];
    int64_t has_meta = 0, tables = 0, ver = 0;
    if (store__pg_one(&s->base, "SELECT (to_regclass('erwatch_meta') IS NOT NULL)::int", NULL,
                      &has_meta, why, sizeof why) < 0 ||
        store__pg_one(&s->base,
                      "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = "
                      "current_schema()",
                      NULL, &tables, why, sizeof why) < 0)
        goto fail;
    if (!has_meta && tables > 0) {
        ew_errf(err, errlen,
                "database %s is not an erwatch database (%lld tables in its schema and no "
                "erwatch_meta table): give erwatchd an empty database, or one it created",
                s->label, (long long)tables);
        return -1;
    }
    if (has_meta) {
        PGresult *res =
            store__pg_query(&s->base,
                            "SELECT key, value FROM erwatch_meta WHERE key IN ('application', "
                            "'schema_version') ORDER BY key",
                            NULL, why, sizeof why);
        if (!res)
            goto fail;
        int ours = 0;
        for (int i = 0; i < PQntuples(res); i++) {
            if (!strcmp(PQgetvalue(res, i, 0), "application"))
                ours = !strcmp(PQgetvalue(res, i, 1), "erwatch");
            else
                ver = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        }
        PQclear(res);
        if (!ours) {
            ew_errf(err, errlen,
                    "database %s has an erwatch_meta table that erwatch did not make "
                    "(no application 'erwatch'): give erwatchd an empty database, or one it "
                    "created",
                    s->label);
            return -1;
        }
        if (ver > EW_PG_SCHEMA_VERSION) {
            ew_errf(err, errlen,
                    "database %s has erwatch schema version %lld; this erwatchd knows up to "
                    "%d: upgrade erwatchd",
                    s->label, (long long)ver, EW_PG_SCHEMA_VERSION);
            return -1;
        }
    }
    /* The script is idempotent; a database at our version has all of it. */
    if (ver == EW_PG_SCHEMA_VERSION)
        return 0;
    if (store__pg_run(&s->base, ew_schema_pg_sql, NULL, why, sizeof why) != 0) {
        ew_errf(err, errlen, "cannot create the erwatch schema in %s: %s", s->label, why);
        return -1;
    }
    return 0;

fail:
    ew_errf(err, errlen, "cannot read the schema of %s: %s", s->label, why);
    return -1;
}

static void s_destroy(pg_store_t *s)
{
    if (!s)
        return;
    PQfinish(s->conn);
    idmap_clear(&s->runs);
    idmap_clear(&s->series);
    idmap_clear(&s->launches);
    free(s->rt);
    free(s->st);
    free(s->pt);
    free(s->bt);
    free(s->sp);
    for (size_t i = 0; i < sizeof s->col / sizeof s->col[0]; i++)
        strbuf_free(&s->col[i]);
    free(s);
}

static int s_open(store_t **out, const char *db, char *err, size_t errlen)
{
    *out = NULL;
    pg_store_t *s = ew_xcalloc(1, sizeof *s);
    s->base.ops = &store_pg_ops;
    pg_redact(db, s->label, sizeof s->label);
    for (size_t i = 0; i < sizeof s->col / sizeof s->col[0]; i++)
        strbuf_init(&s->col[i]);
    if (!(s->conn = pg_connect(db, err, errlen))) {
        s_destroy(s);
        return -1;
    }
    /* Several daemons starting at once: one creates the schema, the others
     * wait for its commit and find it made. */
    char why[400];
    if (store__pg_run(&s->base, "BEGIN", NULL, why, sizeof why) != 0 ||
        store__pg_run(&s->base, "SELECT pg_advisory_xact_lock(" S_SCHEMA_LOCK ")", NULL, why,
                      sizeof why) != 0) {
        ew_errf(err, errlen, "cannot set up %s: %s", s->label, why);
        goto fail;
    }
    if (s_check_or_create(s, err, errlen) != 0)
        goto fail;
    if (store__pg_run(&s->base, "COMMIT", NULL, why, sizeof why) != 0) {
        ew_errf(err, errlen, "cannot create the erwatch schema in %s: %s", s->label, why);
        goto fail;
    }
    if (s_prepare(s, why, sizeof why) != 0) {
        ew_errf(err, errlen, "cannot prepare statements on %s: %s", s->label, why);
        goto fail;
    }
    *out = &s->base;
    return 0;

fail:
    store__pg_rollback(&s->base);
    s_destroy(s);
    return -1;
}

static void s_close(store_t *base)
{
    s_destroy(PS(base));
}

/* ---------------------------------------------------------------- writing */

static size_t s_name_len(const char *name, const char *what, char *err, size_t errlen)
{
    size_t n = strnlen(name, EW_NAME_MAX + 1);
    if (n == 0 || n > EW_NAME_MAX) {
        ew_errf(err, errlen, "cannot store: %s name is %s", what,
                n ? "longer than 128 bytes" : "empty");
        return 0;
    }
    return n;
}

static int64_t s_clamp_u64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static const char *s_support(ew_support_t sup)
{
    return (unsigned)sup <= EW_SUPPORT_SCORES ? ew_support_name(sup) : NULL;
}

/* Gets or creates the run row named run (plain, not launched). */
static int s_run_row(pg_store_t *s, const char *run, double recv_time, int64_t *id, char *why,
                     size_t whylen)
{
    store_pg_params_t p = {0};
    store__pg_text(&p, run);
    int found = s_exec_one(s, Q_RUN_GET, &p, id, why, whylen);
    if (found != 0)
        return found < 0 ? -1 : 0;
    store__pg_double(&p, recv_time);
    found = s_exec_one(s, Q_RUN_ADD, &p, id, why, whylen);
    if (found != 0)
        return found < 0 ? -1 : 0;
    /* another daemon made it first (its commit is now visible) */
    p.n = 1;
    found = s_exec_one(s, Q_RUN_GET, &p, id, why, whylen);
    if (found == 0)
        ew_errf(why, whylen, "run '%s' vanished while it was created", run);
    return found == 1 ? 0 : -1;
}

/* The run's id, creating the row if needed, and its touched-list entry. */
static int s_run_id(pg_store_t *s, const result_t *r, size_t rlen, s_run_touch_t **touch, char *why,
                    size_t whylen)
{
    const char *run = r->stored_run;
    uint64_t h = idmap_hash(run, rlen);
    idmap_entry_t *e = idmap_find(&s->runs, run, rlen, h);
    if (!e) {
        int64_t id = 0;
        if (s_run_row(s, run, r->recv_time, &id, why, whylen) != 0)
            return -1;
        e = idmap_add(&s->runs, run, rlen, h, id);
    }
    if (e->gen != s->gen) {
        if (s->nrt == s->crt) {
            s->crt = s->crt ? s->crt * 2 : 16;
            s->rt = ew_xrealloc(s->rt, s->crt * sizeof *s->rt);
        }
        e->gen = s->gen;
        e->slot = (uint32_t)s->nrt;
        s_run_touch_t *t = &s->rt[s->nrt++];
        t->id = e->id;
        t->first_seen = t->last_seen = r->recv_time;
        t->last_step = (int64_t)r->step;
        t->dropped = s_clamp_u64(r->dropped);
        t->world = r->world >= 0 ? r->world : -1;
    } else {
        s_run_touch_t *t = &s->rt[e->slot];
        if (r->recv_time < t->first_seen)
            t->first_seen = r->recv_time;
        if (r->recv_time > t->last_seen)
            t->last_seen = r->recv_time;
        if ((int64_t)r->step > t->last_step)
            t->last_step = (int64_t)r->step;
        t->dropped = s_clamp_u64(r->dropped); /* the latest report wins */
        if (r->world >= 0)
            t->world = r->world;
    }
    *touch = &s->rt[e->slot];
    return 0;
}

/* The series id for (run, tag, metric), creating the row if needed; records
 * the step and the value (NAN: undefined) in the group's touched list. */
static int s_series_id(pg_store_t *s, int64_t run_id, const result_t *r, size_t rlen, size_t tlen,
                       const char *metric, size_t mlen, double value, int64_t *id, char *why,
                       size_t whylen)
{
    char key[3 * (EW_NAME_MAX + 1)];
    memcpy(key, r->stored_run, rlen);
    key[rlen] = '\0';
    memcpy(key + rlen + 1, r->tag, tlen);
    key[rlen + 1 + tlen] = '\0';
    memcpy(key + rlen + tlen + 2, metric, mlen);
    size_t klen = rlen + tlen + mlen + 2;

    uint64_t h = idmap_hash(key, klen);
    idmap_entry_t *e = idmap_find(&s->series, key, klen, h);
    if (!e) {
        store_pg_params_t p = {0};
        store__pg_int(&p, run_id);
        store__pg_text(&p, r->tag);
        store__pg_text(&p, metric);
        int64_t sid = 0;
        int found = s_exec_one(s, Q_SERIES_GET, &p, &sid, why, whylen);
        if (found == 0)
            found = s_exec_one(s, Q_SERIES_ADD, &p, &sid, why, whylen);
        if (found == 0)
            found = s_exec_one(s, Q_SERIES_GET, &p, &sid, why, whylen);
        if (found <= 0) {
            if (found == 0)
                ew_errf(why, whylen, "series '%s' vanished while it was created", metric);
            return -1;
        }
        e = idmap_add(&s->series, key, klen, h, sid);
    }
    int64_t step = (int64_t)r->step;
    if (e->gen != s->gen) {
        if (s->nst == s->cst) {
            s->cst = s->cst ? s->cst * 2 : 64;
            s->st = ew_xrealloc(s->st, s->cst * sizeof *s->st);
        }
        e->gen = s->gen;
        e->slot = (uint32_t)s->nst;
        s->st[s->nst].id = e->id;
        s->st[s->nst].last_step = step;
        s->st[s->nst].hi = s->st[s->nst].lo = value;
        s->nst++;
    } else {
        s_series_touch_t *t = &s->st[e->slot];
        if (step > t->last_step)
            t->last_step = step;
        if (!isnan(value)) {
            if (isnan(t->hi) || value > t->hi)
                t->hi = value;
            if (isnan(t->lo) || value < t->lo)
                t->lo = value;
        }
    }
    *id = e->id;
    return 0;
}

/* ---------------------------------------------------------------- arrays */

/* Array literals in PostgreSQL's text form: {1,2,NULL}. */
static void s_arr_start(pg_store_t *s, int ncols)
{
    for (int i = 0; i < ncols; i++) {
        strbuf_reset(&s->col[i]);
        strbuf_putc(&s->col[i], '{');
    }
}

static void s_arr_sep(strbuf_t *b)
{
    if (b->len > 1)
        strbuf_putc(b, ',');
}

static void s_arr_int(strbuf_t *b, int64_t v)
{
    s_arr_sep(b);
    strbuf_printf(b, "%lld", (long long)v);
}

static void s_arr_opt_int(strbuf_t *b, int64_t v) /* < 0: NULL */
{
    if (v < 0) {
        s_arr_sep(b);
        strbuf_puts(b, "NULL");
    } else {
        s_arr_int(b, v);
    }
}

static void s_arr_double(strbuf_t *b, double v) /* NaN: NULL */
{
    s_arr_sep(b);
    if (isnan(v)) {
        strbuf_puts(b, "NULL");
        return;
    }
    char tmp[STRBUF_NUM_LEN];
    int n = s_format_double(tmp, v);
    strbuf_append(b, tmp, (size_t)n);
}

static void s_arr_text(strbuf_t *b, const char *t)
{
    s_arr_sep(b);
    strbuf_putc(b, '"');
    for (; *t; t++) {
        if (*t == '"' || *t == '\\')
            strbuf_putc(b, '\\');
        strbuf_putc(b, *t);
    }
    strbuf_putc(b, '"');
}

/* A spectrum as bytea of little-endian float32s (schema/README.md):
 * "\\x0a0b..." in the array (the element's backslash escaped). */
static void s_arr_spectrum(strbuf_t *b, const result_t *r)
{
    static const char hex[] = "0123456789abcdef";
    int k = r->nspectrum > EW_SPECTRUM_MAX ? EW_SPECTRUM_MAX : r->nspectrum;
    s_arr_sep(b);
    strbuf_puts(b, "\"\\\\x");
    for (int i = 0; i < k; i++) {
        uint32_t u;
        memcpy(&u, &r->spectrum[i], 4);
        for (int byte = 0; byte < 4; byte++) {
            unsigned c = (u >> (8 * byte)) & 0xff;
            strbuf_putc(b, hex[c >> 4]);
            strbuf_putc(b, hex[c & 15]);
        }
    }
    strbuf_putc(b, '"');
}

static int s_arr_exec(pg_store_t *s, int which, int ncols, char *why, size_t whylen)
{
    store_pg_params_t p = {0};
    for (int i = 0; i < ncols; i++) {
        strbuf_putc(&s->col[i], '}');
        store__pg_text(&p, s->col[i].data);
    }
    return s_exec_cmd(s, which, &p, why, whylen);
}

static int s_cmp_point(const void *a, const void *b)
{
    const s_point_t *x = a, *y = b;
    if (x->sid != y->sid)
        return x->sid < y->sid ? -1 : 1;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int s_cmp_row(const void *a, const void *b)
{
    const s_row_t *x = a, *y = b;
    if (x->run_id != y->run_id)
        return x->run_id < y->run_id ? -1 : 1;
    int c = strcmp(x->r->tag, y->r->tag);
    if (c)
        return c;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int s_same_row(const s_row_t *x, const s_row_t *y)
{
    return x->run_id == y->run_id && x->step == y->step && !strcmp(x->r->tag, y->r->tag);
}

static int s_flush_points(pg_store_t *s, char *why, size_t whylen)
{
    if (s->npt == 0)
        return 0;
    qsort(s->pt, s->npt, sizeof *s->pt, s_cmp_point);
    s_arr_start(s, 4);
    for (size_t i = 0; i < s->npt; i++) {
        const s_point_t *q = &s->pt[i];
        if (i + 1 < s->npt && s->pt[i + 1].sid == q->sid && s->pt[i + 1].step == q->step)
            continue; /* a later one of the same key follows: it wins */
        s_arr_int(&s->col[0], q->sid);
        s_arr_int(&s->col[1], q->step);
        s_arr_double(&s->col[2], q->value);
        s_arr_double(&s->col[3], q->wall);
    }
    s->npt = 0;
    if (s_arr_exec(s, Q_POINTS_PUT, 4, why, whylen) != 0)
        return -1;
    /* the same arrays, closed by s_arr_exec */
    const char *const arrays[4] = {s->col[0].data, s->col[1].data, s->col[2].data, s->col[3].data};
    return store__pg_summary_points(&s->base, arrays, why, whylen);
}

static int s_flush_batches(pg_store_t *s, char *why, size_t whylen)
{
    if (s->nbt == 0)
        return 0;
    qsort(s->bt, s->nbt, sizeof *s->bt, s_cmp_row);
    s_arr_start(s, 13);
    for (size_t i = 0; i < s->nbt; i++) {
        const s_row_t *q = &s->bt[i];
        if (i + 1 < s->nbt && s_same_row(&s->bt[i + 1], q))
            continue;
        const result_t *r = q->r;
        s_arr_int(&s->col[0], q->run_id);
        s_arr_text(&s->col[1], r->tag);
        s_arr_int(&s->col[2], q->step);
        s_arr_int(&s->col[3], r->n);
        s_arr_int(&s->col[4], r->d);
        s_arr_int(&s->col[5], r->views);
        s_arr_text(&s->col[6], q->support);
        s_arr_double(&s->col[7], r->kappa);
        s_arr_opt_int(&s->col[8], r->rank);
        s_arr_opt_int(&s->col[9], r->world);
        s_arr_double(&s->col[10], r->client_time);
        s_arr_double(&s->col[11], r->recv_time);
        s_arr_int(&s->col[12], s_clamp_u64(r->dropped));
    }
    s->nbt = 0;
    return s_arr_exec(s, Q_BATCHES_PUT, 13, why, whylen);
}

static int s_flush_spectra(pg_store_t *s, char *why, size_t whylen)
{
    if (s->nsp == 0)
        return 0;
    qsort(s->sp, s->nsp, sizeof *s->sp, s_cmp_row);
    s_arr_start(s, 5);
    for (size_t i = 0; i < s->nsp; i++) {
        const s_row_t *q = &s->sp[i];
        if (i + 1 < s->nsp && s_same_row(&s->sp[i + 1], q))
            continue;
        s_arr_int(&s->col[0], q->run_id);
        s_arr_text(&s->col[1], q->r->tag);
        s_arr_int(&s->col[2], q->step);
        s_arr_int(&s->col[3],
                  q->r->nspectrum > EW_SPECTRUM_MAX ? EW_SPECTRUM_MAX : q->r->nspectrum);
        s_arr_spectrum(&s->col[4], q->r);
    }
    s->nsp = 0;
    return s_arr_exec(s, Q_SPECTRA_PUT, 5, why, whylen);
}

/* The group's runs and series rows, then its rows of points, batches and
 * spectra. A runs row that is gone (another daemon deleted the run) fails
 * the group: retried, it makes the run again under fresh ids. */
static int s_put_touched(pg_store_t *s, char *why, size_t whylen)
{
    if (s_flush_points(s, why, whylen) != 0 || s_flush_batches(s, why, whylen) != 0 ||
        s_flush_spectra(s, why, whylen) != 0)
        return -1;
    for (size_t i = 0; i < s->nrt; i++) {
        const s_run_touch_t *t = &s->rt[i];
        store_pg_params_t p = {0};
        store__pg_int(&p, t->id);
        store__pg_double(&p, t->last_seen);
        store__pg_int(&p, t->last_step);
        store__pg_int(&p, t->dropped);
        store__pg_step(&p, t->world);
        store__pg_double(&p, t->first_seen);
        PGresult *res = s_exec(s, Q_RUN_SET, &p, why, whylen);
        if (!res)
            return -1;
        int gone = strcmp(PQcmdTuples(res), "1") != 0;
        PQclear(res);
        if (gone) {
            ew_errf(why, whylen, "run id %lld was deleted meanwhile (by another erwatchd?)",
                    (long long)t->id);
            return -1;
        }
    }
    if (s->nst > 0) {
        s_arr_start(s, 4);
        for (size_t i = 0; i < s->nst; i++) {
            s_arr_int(&s->col[0], s->st[i].id);
            s_arr_int(&s->col[1], s->st[i].last_step);
            s_arr_double(&s->col[2], s->st[i].hi);
            s_arr_double(&s->col[3], s->st[i].lo);
        }
        if (s_arr_exec(s, Q_SERIES_SET, 4, why, whylen) != 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- launches */

/* s_put_result(): the result was not stored, on purpose (resume_missing). */
#define S_SKIP (-2)

/* Makes the run of a new launch of `given` (OUT: name, EW_NAME_MAX + 1
 * bytes, and *id): given itself when no run has it, else given.K for the
 * first free K from 1 + the number of runs of that base (so usually 2, 3,
 * ...), given cut at a character boundary when the suffix would pass
 * EW_NAME_MAX bytes. A name another daemon takes at the same moment
 * (ON CONFLICT DO NOTHING waits for its transaction) moves on to the next. */
static int s_launch_run(pg_store_t *s, const result_t *r, size_t glen, char *name, int64_t *id,
                        char *why, size_t whylen)
{
    const char *given = r->run;
    int64_t count = 0;
    for (int64_t k = 1;; k++) {
        if (k == 1) {
            memcpy(name, given, glen);
            name[glen] = '\0';
        } else {
            if (k == 2) {
                store_pg_params_t p = {0};
                store__pg_text(&p, given);
                if (s_exec_one(s, Q_BASE_COUNT, &p, &count, why, whylen) < 0)
                    return -1;
                if (count + 1 > 2)
                    k = count + 1;
            }
            char suffix[24];
            int sl = snprintf(suffix, sizeof suffix, ".%lld", (long long)k);
            size_t keep = glen;
            if (keep + (size_t)sl > EW_NAME_MAX) {
                keep = EW_NAME_MAX - (size_t)sl;
                while (keep > 0 && ((unsigned char)given[keep] & 0xc0) == 0x80)
                    keep--; /* not inside a UTF-8 sequence */
            }
            memcpy(name, given, keep);
            memcpy(name + keep, suffix, (size_t)sl + 1);
        }
        store_pg_params_t p = {0};
        store__pg_text(&p, name);
        store__pg_text(&p, given);
        store__pg_text(&p, r->launch);
        store__pg_double(&p, r->recv_time);
        int made = s_exec_one(s, Q_RUN_ADD_LAUNCHED, &p, id, why, whylen);
        if (made != 0)
            return made < 0 ? -1 : 0;
    }
}

/* The run a resume of `given` continues: the latest run (highest id) whose
 * base is given, else the run named given. *found = 0 when neither exists. */
static int s_resume_target(pg_store_t *s, const char *given, int64_t *id, char *name, int *found,
                           char *why, size_t whylen)
{
    store_pg_params_t p = {0};
    store__pg_text(&p, given);
    PGresult *res = s_exec(s, Q_RESUME_BASE, &p, why, whylen);
    if (!res)
        return -1;
    *found = PQntuples(res) > 0;
    if (*found) {
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(name, EW_NAME_MAX + 1, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    if (*found)
        return 0;
    int f = s_exec_one(s, Q_RUN_GET, &p, id, why, whylen);
    if (f < 0)
        return -1;
    *found = f;
    if (f)
        snprintf(name, EW_NAME_MAX + 1, "%s", given);
    return 0;
}

static int s_exec_run_step(pg_store_t *s, int which, int64_t run_id, int64_t step, char *why,
                           size_t whylen)
{
    store_pg_params_t p = {0};
    store__pg_int(&p, run_id);
    if (step >= 0)
        store__pg_int(&p, step);
    return s_exec_cmd(s, which, &p, why, whylen);
}

/* Removes what run run_id (named name) holds at steps >= step (see
 * store_sqlite.c's s_rewind). What this group gathered so far is written
 * first, and the id caches restart, since series rows may go. */
static int s_rewind(pg_store_t *s, int64_t run_id, const char *name, int64_t step, char *why,
                    size_t whylen)
{
    int rc = s_put_touched(s, why, whylen);
    s->nrt = s->nst = 0;
    idmap_clear(&s->runs);
    idmap_clear(&s->series);
    s->gen = 1; /* fresh map entries start at 0: never equal */
    static const int del[] = {Q_RW_POINTS, Q_RW_BATCHES, Q_RW_SPECTRA};
    for (size_t i = 0; rc == 0 && i < sizeof del / sizeof del[0]; i++)
        rc = s_exec_run_step(s, del[i], run_id, step, why, whylen);
    if (rc == 0)
        rc = store__pg_summary_rewind(&s->base, run_id, step, why, whylen);
    if (rc == 0)
        rc = s_exec_run_step(s, Q_RW_SERIES, run_id, -1, why, whylen);
    if (rc == 0)
        rc = s_exec_run_step(s, Q_RW_SERIES_DEL, run_id, -1, why, whylen);
    if (rc == 0)
        rc = s_exec_run_step(s, Q_RW_RUN, run_id, -1, why, whylen);
    if (rc == 0) {
        store_pg_params_t p = {0};
        store__pg_text(&p, name);
        store__pg_int(&p, step);
        rc = s_exec_cmd(s, Q_RW_ALERTS, &p, why, whylen);
    }
    return rc;
}

/* Sets r->stored_run: the run this result goes to (see store.h). Returns
 * 0, S_SKIP (resume of a run that does not exist), or -1 with why filled. */
static int s_launch_resolve(pg_store_t *s, result_t *r, size_t rlen, char *why, size_t whylen)
{
    r->rewind_from = -1;
    r->resume_missing = 0;
    if (!r->launch[0]) {
        memcpy(r->stored_run, r->run, rlen + 1);
        return 0;
    }
    size_t llen = strnlen(r->launch, EW_LAUNCH_MAX + 1);
    if (llen > EW_LAUNCH_MAX) {
        ew_errf(why, whylen, "launch is longer than %d bytes", EW_LAUNCH_MAX);
        return -1;
    }
    char key[EW_LAUNCH_MAX + 1 + EW_NAME_MAX];
    memcpy(key, r->launch, llen);
    key[llen] = '\0';
    memcpy(key + llen + 1, r->run, rlen);
    size_t klen = llen + 1 + rlen;
    uint64_t h = idmap_hash(key, klen);
    idmap_entry_t *e = idmap_find(&s->launches, key, klen, h);
    if (e && e->id < 0) {
        r->resume_missing = 2;
        return S_SKIP;
    }
    if (e) {
        snprintf(r->stored_run, sizeof r->stored_run, "%s", e->name);
        return 0;
    }

    char name[EW_NAME_MAX + 1];
    int64_t id = 0, step = (int64_t)r->step;
    store_pg_params_t p = {0};
    store__pg_text(&p, r->launch);
    store__pg_text(&p, r->run);
    PGresult *res = s_exec(s, Q_LAUNCH_GET, &p, why, whylen);
    if (!res)
        return -1;
    int known = PQntuples(res) > 0;
    if (known) {
        id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(name, sizeof name, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);

    if (!known && r->resume) {
        int found = 0;
        if (s_resume_target(s, r->run, &id, name, &found, why, whylen) != 0)
            return -1;
        if (!found) {
            idmap_add(&s->launches, key, klen, h, -1);
            r->resume_missing = 1;
            return S_SKIP;
        }
        if (s_rewind(s, id, name, step, why, whylen) != 0)
            return -1;
        p.n = 0;
        store__pg_int(&p, id);
        store__pg_text(&p, r->launch);
        if (s_exec_cmd(s, Q_RUN_LAUNCH_SET, &p, why, whylen) != 0)
            return -1;
        r->rewind_from = step;
    } else if (!known) {
        /* The launch's own run under this name (it was renamed to it with
         * erwatch mv while the launch wrote): go on in it. */
        p.n = 0;
        store__pg_text(&p, r->run);
        store__pg_text(&p, r->launch);
        int mine = s_exec_one(s, Q_OWN_RUN, &p, &id, why, whylen);
        if (mine < 0)
            return -1;
        if (mine) {
            memcpy(name, r->run, rlen);
            name[rlen] = '\0';
        } else if (s_launch_run(s, r, rlen, name, &id, why, whylen) != 0) {
            return -1;
        }
    }
    if (!known) {
        p.n = 0;
        store__pg_text(&p, r->launch);
        store__pg_text(&p, r->run);
        store__pg_int(&p, id);
        store__pg_int(&p, r->resume ? 1 : 0);
        store__pg_int(&p, step);
        store__pg_double(&p, r->recv_time);
        if (s_exec_cmd(s, Q_LAUNCH_ADD, &p, why, whylen) != 0)
            return -1;
    }
    e = idmap_add(&s->launches, key, klen, h, id);
    size_t nlen = strlen(name) + 1;
    e->name = ew_xrealloc(NULL, nlen);
    memcpy(e->name, name, nlen);
    memcpy(r->stored_run, name, nlen);
    return 0;
}

/* ---------------------------------------------------------------- a group */

static s_row_t *s_row_add(s_row_t **v, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = ew_xrealloc(*v, *cap * sizeof **v);
    }
    return &(*v)[(*n)++];
}

/* Gathers one result. Returns 0, S_SKIP, or -1 with why filled. */
static int s_put_result(pg_store_t *s, result_t *r, char *why, size_t whylen)
{
    size_t rlen = s_name_len(r->run, "run", why, whylen);
    size_t tlen = rlen ? s_name_len(r->tag, "tag", why, whylen) : 0;
    if (!rlen || !tlen)
        return -1;
    const char *support = s_support(r->support);
    if (!support || r->step > (uint64_t)INT64_MAX || r->npoints < 0 ||
        r->npoints > EW_RESULT_POINTS_MAX) {
        ew_errf(why, whylen, "invalid result (support %d, step %llu, %d points)", (int)r->support,
                (unsigned long long)r->step, r->npoints);
        return -1;
    }
    int rc = s_launch_resolve(s, r, rlen, why, whylen);
    if (rc != 0)
        return rc;
    rlen = strlen(r->stored_run);
    s_run_touch_t *touch;
    if (s_run_id(s, r, rlen, &touch, why, whylen) != 0)
        return -1;
    int64_t run_id = touch->id;
    if (r->config || r->notes) {
        store_pg_params_t p = {0};
        store__pg_int(&p, run_id);
        store__pg_text(&p, r->config);
        store__pg_text(&p, r->notes);
        if (s_exec_cmd(s, Q_META_SET, &p, why, whylen) != 0)
            return -1;
    }
    /* A scalar-only batch (views 0) leaves the batches table alone. */
    if (r->views > 0) {
        s_row_t *b = s_row_add(&s->bt, &s->nbt, &s->cbt);
        *b = (s_row_t){run_id, (int64_t)r->step, r, support, s->ord++};
    }
    if (r->nspectrum > 0) {
        s_row_t *b = s_row_add(&s->sp, &s->nsp, &s->csp);
        *b = (s_row_t){run_id, (int64_t)r->step, r, support, s->ord++};
    }
    double wall = isnan(r->wall_time) ? r->recv_time : r->wall_time;
    for (int i = 0; i < r->npoints; i++) {
        const result_point_t *pt = &r->points[i];
        size_t mlen = s_name_len(pt->metric, "metric", why, whylen);
        if (!mlen)
            return -1;
        int64_t sid;
        if (s_series_id(s, run_id, r, rlen, tlen, pt->metric, mlen, pt->value, &sid, why, whylen) !=
            0)
            return -1;
        if (s->npt == s->cpt) {
            s->cpt = s->cpt ? s->cpt * 2 : 256;
            s->pt = ew_xrealloc(s->pt, s->cpt * sizeof *s->pt);
        }
        s->pt[s->npt++] = (s_point_t){sid, (int64_t)r->step, pt->value, wall, s->ord++};
    }
    return 0;
}

/* Forgets every cached id: rows they name may have been rolled back. */
static void s_cache_reset(pg_store_t *s)
{
    idmap_clear(&s->runs);
    idmap_clear(&s->series);
    idmap_clear(&s->launches);
    s->gen = 0;
}

static void s_forget_ids(store_t *base)
{
    s_cache_reset(PS(base));
}

/* BEGIN, reconnecting first when the connection is known to be broken, and
 * once more when BEGIN itself finds it broken (a server restarted while we
 * were idle). */
static int s_begin(pg_store_t *s, char *why, size_t whylen)
{
    for (int attempt = 0;; attempt++) {
        if (store__pg_ready(&s->base, why, whylen) != 0)
            return -1;
        if (store__pg_run(&s->base, "BEGIN", NULL, why, whylen) == 0)
            return 0;
        if (attempt > 0 || PQstatus(s->conn) == CONNECTION_OK)
            return -1;
    }
}

static long s_write(store_t *base, result_t *const *results, size_t n, char *err, size_t errlen)
{
    pg_store_t *s = PS(base);
    if (n == 0)
        return 0;
    if (s->runs.count + s->series.count > S_CACHE_MAX || s->gen == UINT32_MAX)
        s_cache_reset(s);
    s->gen++;
    s->nrt = s->nst = s->npt = s->nbt = s->nsp = 0;
    s->ord = 0;

    char why[512];
    if (s_begin(s, why, sizeof why) != 0) {
        ew_errf(err, errlen, "cannot store %zu results in %s: %s", n, s->label, why);
        s_cache_reset(s);
        return -1;
    }
    long points = 0;
    result_t *r = NULL;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        r = results[i];
        if (!r)
            continue;
        rc = s_put_result(s, r, why, sizeof why);
        if (rc == S_SKIP)
            continue; /* refused (resume_missing); the writer counts it */
        if (rc != 0)
            goto fail;
        points += r->npoints;
    }
    r = NULL;
    if (s_put_touched(s, why, sizeof why) != 0)
        goto fail;
    if (ew_fault(EW_FAULT_STORE_COMMIT)) {
        ew_errf(why, sizeof why, "injected fault (fault.h)");
        goto fail;
    }
    if (store__pg_run(&s->base, "COMMIT", NULL, why, sizeof why) == 0)
        return points;

fail:
    if (r)
        ew_errf(err, errlen, "cannot store run '%s' tag '%s' step %llu in %s: %s", r->run, r->tag,
                (unsigned long long)r->step, s->label, why);
    else
        ew_errf(err, errlen, "cannot store %zu results in %s: %s", n, s->label, why);
    store__pg_rollback(&s->base);
    s_cache_reset(s);
    s->npt = s->nbt = s->nsp = 0;
    return -1;
}

static int s_series_range(store_t *base, const char *run, const char *tag, const char *metric,
                          double *max, double *min)
{
    pg_store_t *s = PS(base);
    char why[256];
    if (store__pg_ready(base, why, sizeof why) != 0)
        return -1;
    store_pg_params_t p = {0};
    store__pg_text(&p, run);
    store__pg_text(&p, tag);
    store__pg_text(&p, metric);
    PGresult *res = s_exec(s, Q_SERIES_RANGE, &p, why, sizeof why);
    if (!res)
        return -1;
    int found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
    if (found) {
        *max = strtod(PQgetvalue(res, 0, 0), NULL);
        *min = strtod(PQgetvalue(res, 0, 1), NULL);
    }
    PQclear(res);
    return found ? 0 : -1;
}

/* ---------------------------------------------------------------- the backend */

/* Between groups: the summaries of series that lack them. */
static int s_background(store_t *base, int load)
{
    return store__pg_summary_tick(base, &PS(base)->build, load);
}

const store_ops_t store_pg_ops = {
    .name = "postgresql",
    .accepts = pg_accepts,
    .open = s_open,
    .close = s_close,
    .write = s_write,
    .forget_ids = s_forget_ids,
    .alerts_write = store__pg_alerts_write,
    .alerts_open = store__pg_alerts_open,
    .series_range = s_series_range,
    .run_delete = store__pg_run_delete,
    .run_rename = store__pg_run_rename,
    .purge_step = store__pg_purge_step,
    .oldest_run = store__pg_oldest_run,
    .space = NULL, /* no file: --retention-size is refused at start */
    .vacuum_step = NULL,
    .background = s_background,
    .describe = pg_redact,
};
