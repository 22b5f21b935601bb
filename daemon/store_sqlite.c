/* store_sqlite.c: the store's SQLite backend (store_backend.h): the single
 * writer's SQLite connection (schema/schema.sql).
 *
 * Design decisions:
 *  - One connection, used by the writer thread only. WAL mode, so readers
 *    (query_sqlite.c, the sqlite3 CLI, pandas) never block it and it never blocks
 *    them; synchronous=NORMAL, so a commit costs no fsync (a power cut may
 *    lose the last few groups, never corrupt the file).
 *  - A whole group of results is one transaction (BEGIN IMMEDIATE ...
 *    COMMIT) through statements prepared once in store_open(). On any error
 *    the transaction is rolled back and the caller gets -1 and SQLite's
 *    message: nothing of a failed group is stored.
 *  - Run and series ids are cached in two small open-addressing hash maps
 *    (keys "run" and "run\0tag\0metric"), so a point costs one INSERT and no
 *    lookup. Rows created inside a transaction that rolls back vanish, so any
 *    rollback empties both caches.
 *  - runs.last_seen/last_step/dropped/world and series.last_step are updated
 *    once per group per row, from values gathered while the points go in,
 *    instead of once per result or point.
 *  - A file is accepted only if it is empty (a new database: the schema is
 *    created in one transaction) or carries our PRAGMA application_id with a
 *    user_version we understand. Anything else is refused untouched, before
 *    the journal mode is switched to WAL.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <sqlite3.h>

#include "fault.h"
#include "idmap.h"
#include "log.h"
#include "xalloc.h"

extern const char ew_schema_sql[]; /* build/gen/schema_sql.c */

#define S_BUSY_TIMEOUT_MS 5000
#define S_CACHE_MAX (1u << 20) /* entries; beyond that the caches restart */

typedef struct sq_store sq_store_t;
#define SQ(base) ((sq_store_t *)(base)) /* base is the first member */

/* ---------------------------------------------------------------- helpers */

/* ---------------------------------------------------------------- store */

/* What a group changes in one runs row or series row, applied at its end. */
typedef struct {
    int64_t id;
    double first_seen;
    double last_seen;
    int64_t last_step;
    int64_t dropped;
    int64_t world; /* -1: not sent in this group */
} s_run_touch_t;

typedef struct {
    int64_t id;
    int64_t last_step;
    double hi, lo; /* the group's largest and smallest value; NAN: none */
} s_series_touch_t;

struct sq_store {
    store_t base; /* first: the handle store_backend.c sees */
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[STORE_Q_COUNT]; /* prepared once, by the enum above */
    idmap_t runs, series;
    idmap_t launches; /* "launch\0name" -> run id and name; id -1: refused */
    uint32_t gen;
    s_run_touch_t *rt;
    size_t nrt, crt;
    s_series_touch_t *st;
    size_t nst, cst;
    store_summary_t *sum; /* the summaries of the points (store_summary.h) */
};

/* The statements, in the order of the enum above. */
static const char *const s_sql[STORE_Q_COUNT] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SELECT id FROM runs WHERE name = ?1",
    /* Never the id of a run still being deleted (runs_deleted): its
     * leftover rows would become the new run's. */
    "INSERT INTO runs (id, name, base, first_seen, last_seen) VALUES (1 + max("
    "(SELECT coalesce(max(id), 0) FROM runs),"
    " (SELECT coalesce(max(id), 0) FROM runs_deleted)), ?1, ?1, ?2, ?2)",
    "UPDATE runs SET first_seen = min(coalesce(first_seen, ?6), ?6),"
    " last_seen = max(coalesce(last_seen, ?2), ?2),"
    " last_step = max(coalesce(last_step, ?3), ?3), dropped = ?4,"
    " world = coalesce(?5, world) WHERE id = ?1",
    "SELECT id FROM series WHERE run_id = ?1 AND tag = ?2 AND metric = ?3",
    /* summarized: its summaries follow its points from the first one */
    "INSERT INTO series (run_id, tag, metric, summarized) VALUES (?1, ?2, ?3, 1)",
    "UPDATE series SET last_step = max(coalesce(last_step, ?2), ?2),"
    " vmax = CASE WHEN ?3 IS NULL THEN vmax ELSE max(coalesce(vmax, ?3), ?3) END,"
    " vmin = CASE WHEN ?4 IS NULL THEN vmin ELSE min(coalesce(vmin, ?4), ?4) END"
    " WHERE id = ?1",
    "INSERT OR REPLACE INTO points (series_id, step, value, wall_time)"
    " VALUES (?1, ?2, ?3, ?4)",
    "INSERT OR REPLACE INTO batches (run_id, tag, step, n, d, views, support,"
    " kappa, rank, world, client_time, recv_time, dropped)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    "INSERT OR REPLACE INTO alerts (id, rule, run, tag, metric, severity, state,"
    " value, first_step, first_time, fired_step, fired_time, last_step,"
    " last_time, resolved_step, resolved_time, summary, description, daemon)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
    " ?16, ?17, ?18, nullif(?19, ''))",
    "DELETE FROM alerts WHERE id = ?1",
    /* kept up to date by each group (STORE_Q_SERIES_SET): a seek, not a scan */
    "SELECT s.vmax, s.vmin FROM series AS s JOIN runs AS r ON r.id = s.run_id"
    " WHERE r.name = ?1 AND s.tag = ?2 AND s.metric = ?3",
    "INSERT OR REPLACE INTO spectra (run_id, tag, step, k, vals)"
    " VALUES (?1, ?2, ?3, ?4, ?5)",
    /* launches (see "launches" below) */
    "SELECT l.run_id, r.name FROM launches AS l JOIN runs AS r ON r.id = l.run_id"
    " WHERE l.launch = ?1 AND l.name = ?2",
    "INSERT INTO launches (launch, name, run_id, resumed, first_step, first_seen)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO runs (id, name, base, launch, first_seen, last_seen) VALUES (1 + max("
    "(SELECT coalesce(max(id), 0) FROM runs),"
    " (SELECT coalesce(max(id), 0) FROM runs_deleted)), ?1, ?2, ?3, ?4, ?4)",
    "UPDATE runs SET launch = ?2 WHERE id = ?1",
    "SELECT id, name FROM runs WHERE base = ?1 ORDER BY id DESC LIMIT 1",
    "SELECT count(*) FROM runs WHERE base = ?1",
    "UPDATE runs SET config = coalesce(?2, config), notes = coalesce(?3, notes) WHERE id = ?1",
    /* rewind: run id ?1, from step ?2 */
    "DELETE FROM points WHERE series_id IN (SELECT id FROM series WHERE run_id = ?1)"
    " AND step >= ?2",
    "DELETE FROM batches WHERE run_id = ?1 AND step >= ?2",
    "DELETE FROM spectra WHERE run_id = ?1 AND step >= ?2",
    "UPDATE series SET"
    " last_step = (SELECT max(step) FROM points WHERE series_id = series.id),"
    " vmax = (SELECT max(value) FROM points WHERE series_id = series.id),"
    " vmin = (SELECT min(value) FROM points WHERE series_id = series.id)"
    " WHERE run_id = ?1",
    "DELETE FROM series WHERE run_id = ?1 AND last_step IS NULL",
    "UPDATE runs SET last_step = (SELECT max(last_step) FROM series WHERE run_id = ?1)"
    " WHERE id = ?1",
    "DELETE FROM alerts WHERE run = ?1 AND state = 'resolved' AND first_step >= ?2",
    /* a run of this name that the launch already writes (renamed to it) */
    "SELECT r.id FROM runs AS r JOIN launches AS l ON l.run_id = r.id"
    " WHERE r.name = ?1 AND l.launch = ?2 LIMIT 1",
};

static void s_finalize_all(sq_store_t *s)
{
    for (size_t i = 0; i < STORE_Q_COUNT; i++) {
        sqlite3_finalize(s->stmt[i]);
        s->stmt[i] = NULL;
    }
}

static void s_destroy(sq_store_t *s)
{
    if (!s)
        return;
    s_finalize_all(s);
    store_summary_destroy(&s->sum);
    if (s->db)
        sqlite3_close(s->db);
    idmap_clear(&s->runs);
    idmap_clear(&s->series);
    idmap_clear(&s->launches);
    free(s->rt);
    free(s->st);
    free(s->path);
    free(s);
}

/* "cannot open database 'x': unable to open database file (No such file or
 * directory)": SQLite's message plus the OS error behind it, if any. */
static void s_open_err(sq_store_t *s, const char *path, char *err, size_t errlen)
{
    const char *msg = s->db ? sqlite3_errmsg(s->db) : "out of memory";
    int sys = s->db ? sqlite3_system_errno(s->db) : 0;
    if (sys)
        ew_errf(err, errlen, "cannot open database '%s': %s (%s)", path, msg, strerror(sys));
    else
        ew_errf(err, errlen, "cannot open database '%s': %s", path, msg);
}

/* Reads one integer (a PRAGMA or a count) on s->db. */
static int s_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Inside the open write transaction: accept an erwatch database we can read,
 * or create the schema in an empty file. */
static int s_check_or_create(sq_store_t *s, const char *path, char *err, size_t errlen)
{
    int64_t app = 0, ver = 0, objects = 0;
    if (s_int(s->db, "PRAGMA application_id", &app) != SQLITE_OK ||
        s_int(s->db, "PRAGMA user_version", &ver) != SQLITE_OK ||
        s_int(s->db, "SELECT count(*) FROM sqlite_schema", &objects) != SQLITE_OK) {
        s_open_err(s, path, err, errlen);
        return -1;
    }
    if (app == 0 && ver == 0 && objects == 0) {
        char *msg = NULL;
        if (sqlite3_exec(s->db, ew_schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
            ew_errf(err, errlen, "cannot create the schema in '%s': %s", path,
                    msg ? msg : sqlite3_errmsg(s->db));
            sqlite3_free(msg);
            return -1;
        }
        return 0;
    }
    if (app != EW_APPLICATION_ID) {
        ew_errf(err, errlen,
                "'%s' is not an erwatch database (application_id %lld, %lld "
                "schema objects); give erwatchd a new file or one it created",
                path, (long long)app, (long long)objects);
        return -1;
    }
    if (ver > EW_SCHEMA_VERSION) {
        ew_errf(err, errlen,
                "database '%s' has schema version %lld, newer than this "
                "erwatchd understands (%d); use a newer erwatchd",
                path, (long long)ver, EW_SCHEMA_VERSION);
        return -1;
    }
    if (ver < 1) {
        ew_errf(err, errlen,
                "database '%s' has erwatch schema version %lld, which this "
                "erwatchd cannot read",
                path, (long long)ver);
        return -1;
    }
    /* The script is idempotent: on a version-1 file made by an older build
     * it adds what that build did not create (the alerts and spectra tables);
     * columns it cannot add with IF NOT EXISTS are added and filled below. */
    char *msg = NULL;
    int64_t has_vmax = 0, has_base = 0, has_alerts = 0, has_daemon = 0;
    /* Version 1 -> 2: the runs columns of launches and run metadata, added
     * before the script runs (it indexes runs.base). */
    if (s_int(s->db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'base'",
              &has_base) != SQLITE_OK ||
        store_summary_migrate(s->db) != SQLITE_OK || /* 2 -> 3, before the script */
        /* 3 -> 4: alerts.daemon (a version-1 file has no alerts table yet) */
        s_int(s->db, "SELECT count(*) FROM sqlite_schema WHERE name = 'alerts'", &has_alerts) !=
            SQLITE_OK ||
        s_int(s->db, "SELECT count(*) FROM pragma_table_info('alerts') WHERE name = 'daemon'",
              &has_daemon) != SQLITE_OK ||
        (has_alerts && !has_daemon &&
         sqlite3_exec(s->db, "ALTER TABLE alerts ADD COLUMN daemon TEXT", NULL, NULL, &msg) !=
             SQLITE_OK) ||
        (!has_base && sqlite3_exec(s->db,
                                   "ALTER TABLE runs ADD COLUMN base TEXT;"
                                   "ALTER TABLE runs ADD COLUMN launch TEXT;"
                                   "ALTER TABLE runs ADD COLUMN config TEXT;"
                                   "ALTER TABLE runs ADD COLUMN notes TEXT;"
                                   "UPDATE runs SET base = name;",
                                   NULL, NULL, &msg) != SQLITE_OK)) {
        ew_errf(err, errlen, "cannot update the schema in '%s': %s", path,
                msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    if (sqlite3_exec(s->db, ew_schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
        s_int(s->db, "SELECT count(*) FROM pragma_table_info('series') WHERE name = 'vmax'",
              &has_vmax) != SQLITE_OK ||
        (!has_vmax &&
         sqlite3_exec(s->db,
                      "ALTER TABLE series ADD COLUMN vmax REAL;"
                      "ALTER TABLE series ADD COLUMN vmin REAL;"
                      "UPDATE series SET"
                      " vmax = (SELECT max(value) FROM points WHERE series_id = series.id),"
                      " vmin = (SELECT min(value) FROM points WHERE series_id = series.id);",
                      NULL, NULL, &msg) != SQLITE_OK)) {
        ew_errf(err, errlen, "cannot update the schema in '%s': %s", path,
                msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int s_setup(sq_store_t *s, const char *path, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        ew_errf(err, errlen, "cannot open database '%s' for writing: permission denied", path);
        return -1;
    }
    sqlite3_busy_timeout(s->db, S_BUSY_TIMEOUT_MS);
    /* A new file gets incremental auto-vacuum, so that space freed by
     * deleted runs can be given back to the file system in small steps
     * (store_sqlite_runs.c). It must be set before the first table exists and
     * outside a transaction; on an existing file it is left alone (changing
     * it needs a VACUUM, and a file we refuse must stay untouched). */
    int64_t pages = -1;
    if (s_int(s->db, "PRAGMA page_count", &pages) == SQLITE_OK && pages == 0)
        sqlite3_exec(s->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        s_open_err(s, path, err, errlen);
        return -1;
    }
    if (s_check_or_create(s, path, err, errlen) != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        s_open_err(s, path, err, errlen);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }

    /* WAL is what lets readers work while we write; refuse to run without
     * it rather than block every reader (":memory:" has no WAL). */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        ew_errf(err, errlen, "cannot switch '%s' to WAL mode: %s", path, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return -1;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    int ok = mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0);
    if (!ok)
        ew_errf(err, errlen,
                "cannot switch '%s' to WAL mode (journal_mode stays '%s'); is it "
                "on a file system without shared memory?",
                path, mode ? mode : "?");
    sqlite3_finalize(st);
    if (!ok)
        return -1;

    if (sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, &msg) != SQLITE_OK) {
        ew_errf(err, errlen, "cannot set up '%s': %s", path, msg);
        sqlite3_free(msg);
        return -1;
    }

    for (size_t i = 0; i < STORE_Q_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) !=
            SQLITE_OK) {
            ew_errf(err, errlen, "cannot prepare statements on '%s': %s", path,
                    sqlite3_errmsg(s->db));
            return -1;
        }
    }
    if (!(s->sum = store_summary_new(s->db))) {
        ew_errf(err, errlen, "cannot prepare statements on '%s': %s", path, sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* A new database file is created here, mode 0600, before SQLite opens it:
 * SQLite gives its -wal and -shm files the mode of the database, so the
 * series stay private to the daemon's user, whatever the umask. Creating it
 * ourselves also reports the real reason when that fails ("Read-only file
 * system"; SQLite's retry read-only would say "No such file or directory").
 * Sets *existed (OUT) when the file was there already. */
static int s_create_private(const char *path, int *existed, char *err, size_t errlen)
{
    *existed = 0;
    if (!strcmp(path, ":memory:") || !strncmp(path, "file:", 5))
        return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno == EEXIST) {
        *existed = 1;
        return 0;
    }
    ew_errf(err, errlen, "cannot open database '%s': %s", path, strerror(errno));
    return -1;
}

/* Files from this size on get a line before and after their check: it
 * reads every page (about 6 s a GB on this project's machine). */
#define S_CHECK_SAY_BYTES (256 * 1024 * 1024)

/* A database with damaged pages would take every batch and store none:
 * PRAGMA quick_check (O(size), no index cross-check) refuses it at start. */
static int s_quick_check(sq_store_t *s, const char *path, char *err, size_t errlen)
{
    struct stat sb;
    int say = stat(path, &sb) == 0 && sb.st_size >= S_CHECK_SAY_BYTES;
    double t0 = ew_monotonic();
    if (say)
        log_info("checking '%s' (%.1f GB) for damage before using it; this reads every page", path,
                 (double)sb.st_size / 1e9);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(3)", -1, &st, NULL);
    char first[200] = "";
    int bad = 0;
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *row = (const char *)sqlite3_column_text(st, 0);
            if (row && strcmp(row, "ok") != 0 && !bad++)
                snprintf(first, sizeof first, "%s", row);
        }
    if (rc != SQLITE_DONE && !bad) {
        bad = 1;
        snprintf(first, sizeof first, "%s", sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(st);
    if (say)
        log_info("checked '%s' in %.1f s: %s", path, ew_monotonic() - t0, bad ? "damaged" : "ok");
    if (!bad)
        return 0;
    ew_errf(err, errlen,
            "database '%s' is damaged (quick_check: %s); refusing it rather than lose "
            "every batch: restore it from a backup, or move it away (sqlite3 '%s' .recover "
            "saves what is readable) and start a new one",
            path, first, path);
    return -1;
}

static int s_open(store_t **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    sq_store_t *s = ew_xcalloc(1, sizeof *s);
    s->base.ops = &store_sqlite_ops;
    size_t plen = strlen(path) + 1;
    s->path = ew_xrealloc(NULL, plen);
    memcpy(s->path, path, plen);

    int existed;
    if (s_create_private(path, &existed, err, errlen) != 0) {
        s_destroy(s);
        return -1;
    }
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        s_open_err(s, path, err, errlen);
        s_destroy(s);
        return -1;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if ((existed && s_quick_check(s, path, err, errlen) != 0) ||
        s_setup(s, path, err, errlen) != 0) {
        s_destroy(s);
        return -1;
    }
    *out = &s->base;
    return 0;
}

static void s_close(store_t *base)
{
    sq_store_t *s = SQ(base);
    /* Keeps the planner's statistics fresh for the readers; cheap. */
    if (s->db)
        sqlite3_exec(s->db, "PRAGMA optimize", NULL, NULL, NULL);
    s_destroy(s);
}

/* ---------------------------------------------------------------- writing */

/* Steps a statement that returns no row (or ignores its rows) and resets it.
 * Returns SQLITE_OK or the error code; the message stays in sqlite3_errmsg
 * until the next call on the connection. */
/* fault.h's store points fail a statement as a full or broken disk would;
 * never a ROLLBACK, which every failure path relies on (SQLite's own fault
 * tests spare it too). The code is one SQLite never returns, so the message
 * can say the failure was injected. */
#define S_INJECTED (SQLITE_IOERR | (0x7f << 8))

static int s_injected(sqlite3_stmt *st)
{
    return ew_fault_any() && strcmp(sqlite3_sql(st), "ROLLBACK") != 0 &&
           ew_fault_hit(EW_FAULT_STORE_STMT);
}

static const char *s_errmsg(sq_store_t *s, int rc)
{
    return rc == S_INJECTED ? "injected fault (fault.h)" : sqlite3_errmsg(s->db);
}

static int s_exec(sqlite3_stmt *st)
{
    if (s_injected(st))
        return S_INJECTED;
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Steps a statement expected to return at most one integer. *found = 0 when
 * it returns no row. */
static int s_get_id(sqlite3_stmt *st, int64_t *id, int *found)
{
    *found = 0;
    if (s_injected(st))
        return S_INJECTED;
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

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

/* The support's name for the batches table, or NULL when out of range. */
static const char *s_support(ew_support_t sup)
{
    return (unsigned)sup <= EW_SUPPORT_SCORES ? ew_support_name(sup) : NULL;
}

/* The run's id, creating the row if needed, and its touched-list entry. */
static int s_run_id(sq_store_t *s, const result_t *r, size_t rlen, s_run_touch_t **touch)
{
    const char *run = r->stored_run;
    uint64_t h = idmap_hash(run, rlen);
    idmap_entry_t *e = idmap_find(&s->runs, run, rlen, h);
    if (!e) {
        sqlite3_stmt *get = s->stmt[STORE_Q_RUN_GET], *add = s->stmt[STORE_Q_RUN_ADD];
        int64_t id = 0;
        int found = 0, rc;
        sqlite3_bind_text(get, 1, run, (int)rlen, SQLITE_STATIC);
        rc = s_get_id(get, &id, &found);
        if (rc != SQLITE_OK)
            return rc;
        if (!found) {
            sqlite3_bind_text(add, 1, run, (int)rlen, SQLITE_STATIC);
            sqlite3_bind_double(add, 2, r->recv_time);
            rc = s_exec(add);
            if (rc != SQLITE_OK)
                return rc;
            id = sqlite3_last_insert_rowid(s->db);
        }
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
        t->first_seen = r->recv_time;
        t->last_seen = r->recv_time;
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
    return SQLITE_OK;
}

/* The series id for (run, tag, metric), creating the row if needed; records
 * the step and the value (NAN: undefined) in the group's touched list. */
static int s_series_id(sq_store_t *s, int64_t run_id, const result_t *r, size_t rlen, size_t tlen,
                       const char *metric, size_t mlen, double value, int64_t *id)
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
        sqlite3_stmt *get = s->stmt[STORE_Q_SERIES_GET];
        sqlite3_stmt *add = s->stmt[STORE_Q_SERIES_ADD];
        int64_t sid = 0;
        int found = 0, rc;
        sqlite3_bind_int64(get, 1, run_id);
        sqlite3_bind_text(get, 2, r->tag, (int)tlen, SQLITE_STATIC);
        sqlite3_bind_text(get, 3, metric, (int)mlen, SQLITE_STATIC);
        rc = s_get_id(get, &sid, &found);
        if (rc != SQLITE_OK)
            return rc;
        if (!found) {
            sqlite3_bind_int64(add, 1, run_id);
            sqlite3_bind_text(add, 2, r->tag, (int)tlen, SQLITE_STATIC);
            sqlite3_bind_text(add, 3, metric, (int)mlen, SQLITE_STATIC);
            rc = s_exec(add);
            if (rc != SQLITE_OK)
                return rc;
            sid = sqlite3_last_insert_rowid(s->db);
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
    return SQLITE_OK;
}

static int s_put_batch(sq_store_t *s, int64_t run_id, const result_t *r, size_t tlen,
                       const char *support)
{
    sqlite3_stmt *st = s->stmt[STORE_Q_BATCH_PUT];
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, r->tag, (int)tlen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)r->step);
    sqlite3_bind_int64(st, 4, r->n);
    sqlite3_bind_int64(st, 5, r->d);
    sqlite3_bind_int(st, 6, r->views);
    sqlite3_bind_text(st, 7, support, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 8, r->kappa);
    if (r->rank >= 0)
        sqlite3_bind_int(st, 9, r->rank);
    else
        sqlite3_bind_null(st, 9);
    if (r->world >= 0)
        sqlite3_bind_int(st, 10, r->world);
    else
        sqlite3_bind_null(st, 10);
    if (isnan(r->client_time))
        sqlite3_bind_null(st, 11);
    else
        sqlite3_bind_double(st, 11, r->client_time);
    sqlite3_bind_double(st, 12, r->recv_time);
    sqlite3_bind_int64(st, 13, s_clamp_u64(r->dropped));
    return s_exec(st);
}

/* The spectrum as a blob of little-endian float32s (schema/README.md), so
 * the file reads the same on any machine. */
static int s_put_spectrum(sq_store_t *s, int64_t run_id, const result_t *r, size_t tlen)
{
    int k = r->nspectrum > EW_SPECTRUM_MAX ? EW_SPECTRUM_MAX : r->nspectrum;
    unsigned char blob[4 * EW_SPECTRUM_MAX];
    for (int i = 0; i < k; i++) {
        uint32_t u;
        memcpy(&u, &r->spectrum[i], 4);
        for (int b = 0; b < 4; b++)
            blob[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
    sqlite3_stmt *st = s->stmt[STORE_Q_SPECTRUM_PUT];
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, r->tag, (int)tlen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)r->step);
    sqlite3_bind_int(st, 4, k);
    sqlite3_bind_blob(st, 5, blob, 4 * k, SQLITE_TRANSIENT);
    return s_exec(st);
}

/* ---------------------------------------------------------------- launches */

/* s_put_result(): the result was not stored, on purpose (resume_missing). */
#define S_SKIP (-2)

static int s_put_touched(sq_store_t *s);

/* *is_free = 1 when no run has this name. */
static int s_name_free(sq_store_t *s, const char *name, int *is_free)
{
    sqlite3_stmt *get = s->stmt[STORE_Q_RUN_GET];
    int64_t id;
    int found = 0;
    sqlite3_bind_text(get, 1, name, -1, SQLITE_STATIC);
    int rc = s_get_id(get, &id, &found);
    *is_free = !found;
    return rc;
}

/* The name a new launch of `given` gets (OUT: name, EW_NAME_MAX + 1 bytes):
 * given itself when no run has it, else given.K for the first free K from
 * 1 + the number of runs of that base (so usually 2, 3, ...), given cut at a
 * character boundary when the suffix would pass EW_NAME_MAX bytes. */
static int s_fresh_name(sq_store_t *s, const char *given, size_t glen, char *name)
{
    int is_free = 0;
    memcpy(name, given, glen);
    name[glen] = '\0';
    int rc = s_name_free(s, name, &is_free);
    if (rc != SQLITE_OK || is_free)
        return rc;
    sqlite3_stmt *cnt = s->stmt[STORE_Q_BASE_COUNT];
    int64_t count = 0;
    int found = 0;
    sqlite3_bind_text(cnt, 1, given, (int)glen, SQLITE_STATIC);
    if ((rc = s_get_id(cnt, &count, &found)) != SQLITE_OK)
        return rc;
    for (int64_t k = count + 1 < 2 ? 2 : count + 1;; k++) {
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
        if ((rc = s_name_free(s, name, &is_free)) != SQLITE_OK || is_free)
            return rc;
    }
}

/* The run a resume of `given` continues: the latest run (highest id) whose
 * base is given, else the run named given. *found = 0 when neither exists. */
static int s_resume_target(sq_store_t *s, const char *given, size_t glen, int64_t *id, char *name,
                           int *found)
{
    sqlite3_stmt *st = s->stmt[STORE_Q_RESUME_BASE];
    sqlite3_bind_text(st, 1, given, (int)glen, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found) {
        *id = sqlite3_column_int64(st, 0);
        snprintf(name, EW_NAME_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rc;
    if (*found)
        return SQLITE_OK;
    sqlite3_stmt *get = s->stmt[STORE_Q_RUN_GET];
    sqlite3_bind_text(get, 1, given, (int)glen, SQLITE_STATIC);
    rc = s_get_id(get, id, found);
    if (*found) {
        memcpy(name, given, glen);
        name[glen] = '\0';
    }
    return rc;
}

static int s_exec_run_step(sq_store_t *s, int which, int64_t run_id, int64_t step)
{
    sqlite3_stmt *st = s->stmt[which];
    sqlite3_bind_int64(st, 1, run_id);
    if (step >= 0)
        sqlite3_bind_int64(st, 2, step);
    return s_exec(st);
}

/* Removes what run run_id (named name) holds at steps >= step: points,
 * batches, spectra, resolved alert episodes that began there; recomputes
 * series.last_step/vmax/vmin and runs.last_step. What this group touched
 * so far is written first, and the id caches restart, since series rows may
 * go. */
static int s_rewind(sq_store_t *s, int64_t run_id, const char *name, int64_t step)
{
    int rc = s_put_touched(s);
    if (rc == SQLITE_OK)
        rc = store_summary_flush(s->sum);
    s->nrt = s->nst = 0;
    idmap_clear(&s->runs);
    idmap_clear(&s->series);
    s->gen = 1; /* fresh map entries start at 0: never equal */
    static const int del[] = {STORE_Q_RW_POINTS, STORE_Q_RW_BATCHES, STORE_Q_RW_SPECTRA};
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof del / sizeof del[0]; i++)
        rc = s_exec_run_step(s, del[i], run_id, step);
    if (rc == SQLITE_OK)
        rc = store_summary_rewind(s->sum, run_id, step);
    if (rc == SQLITE_OK)
        rc = s_exec_run_step(s, STORE_Q_RW_SERIES, run_id, -1);
    if (rc == SQLITE_OK)
        rc = s_exec_run_step(s, STORE_Q_RW_SERIES_DEL, run_id, -1);
    if (rc == SQLITE_OK)
        rc = s_exec_run_step(s, STORE_Q_RW_RUN, run_id, -1);
    if (rc == SQLITE_OK) {
        sqlite3_stmt *st = s->stmt[STORE_Q_RW_ALERTS];
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, step);
        rc = s_exec(st);
    }
    return rc;
}

/* Sets r->stored_run: the run this result goes to (see store.h). Returns
 * SQLITE_OK, S_SKIP (resume of a run that does not exist), an SQLite
 * error, or -1 with err filled. */
static int s_launch_resolve(sq_store_t *s, result_t *r, size_t rlen, char *err, size_t errlen)
{
    r->rewind_from = -1;
    r->resume_missing = 0;
    if (!r->launch[0]) {
        memcpy(r->stored_run, r->run, rlen + 1);
        return SQLITE_OK;
    }
    size_t llen = strnlen(r->launch, EW_LAUNCH_MAX + 1);
    if (llen > EW_LAUNCH_MAX) {
        ew_errf(err, errlen, "cannot store run '%s': launch is longer than %d bytes", r->run,
                EW_LAUNCH_MAX);
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
        return SQLITE_OK;
    }

    char name[EW_NAME_MAX + 1];
    int64_t id = 0, step = (int64_t)r->step;
    sqlite3_stmt *get = s->stmt[STORE_Q_LAUNCH_GET];
    sqlite3_bind_text(get, 1, r->launch, (int)llen, SQLITE_STATIC);
    sqlite3_bind_text(get, 2, r->run, (int)rlen, SQLITE_STATIC);
    int rc = sqlite3_step(get);
    int known = rc == SQLITE_ROW;
    if (known) {
        id = sqlite3_column_int64(get, 0);
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(get, 1));
    }
    sqlite3_reset(get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rc;

    int mine = 0; /* a run of this name is already the launch's */
    if (!known && r->resume) {
        int found = 0;
        if ((rc = s_resume_target(s, r->run, rlen, &id, name, &found)) != SQLITE_OK)
            return rc;
        if (!found) {
            idmap_add(&s->launches, key, klen, h, -1);
            r->resume_missing = 1;
            return S_SKIP;
        }
        if ((rc = s_rewind(s, id, name, step)) != SQLITE_OK)
            return rc;
        sqlite3_stmt *set = s->stmt[STORE_Q_RUN_LAUNCH_SET];
        sqlite3_bind_int64(set, 1, id);
        sqlite3_bind_text(set, 2, r->launch, (int)llen, SQLITE_STATIC);
        if ((rc = s_exec(set)) != SQLITE_OK)
            return rc;
        r->rewind_from = step;
    } else if (!known) {
        /* The launch's own run under this name (it was renamed to it with
         * erwatch mv while the launch wrote): go on in it. */
        sqlite3_stmt *own = s->stmt[STORE_Q_OWN_RUN];
        sqlite3_bind_text(own, 1, r->run, (int)rlen, SQLITE_STATIC);
        sqlite3_bind_text(own, 2, r->launch, (int)llen, SQLITE_STATIC);
        if ((rc = s_get_id(own, &id, &mine)) != SQLITE_OK)
            return rc;
        if (mine) {
            memcpy(name, r->run, rlen);
            name[rlen] = '\0';
        } else if ((rc = s_fresh_name(s, r->run, rlen, name)) != SQLITE_OK) {
            return rc;
        }
    }
    if (!known && !r->resume && !mine) {
        sqlite3_stmt *add = s->stmt[STORE_Q_RUN_ADD_LAUNCHED];
        sqlite3_bind_text(add, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(add, 2, r->run, (int)rlen, SQLITE_STATIC);
        sqlite3_bind_text(add, 3, r->launch, (int)llen, SQLITE_STATIC);
        sqlite3_bind_double(add, 4, r->recv_time);
        if ((rc = s_exec(add)) != SQLITE_OK)
            return rc;
        id = sqlite3_last_insert_rowid(s->db);
    }
    if (!known) {
        sqlite3_stmt *add = s->stmt[STORE_Q_LAUNCH_ADD];
        sqlite3_bind_text(add, 1, r->launch, (int)llen, SQLITE_STATIC);
        sqlite3_bind_text(add, 2, r->run, (int)rlen, SQLITE_STATIC);
        sqlite3_bind_int64(add, 3, id);
        sqlite3_bind_int(add, 4, r->resume ? 1 : 0);
        sqlite3_bind_int64(add, 5, step);
        sqlite3_bind_double(add, 6, r->recv_time);
        if ((rc = s_exec(add)) != SQLITE_OK)
            return rc;
    }
    e = idmap_add(&s->launches, key, klen, h, id);
    size_t nlen = strlen(name) + 1;
    e->name = ew_xrealloc(NULL, nlen);
    memcpy(e->name, name, nlen);
    memcpy(r->stored_run, name, nlen);
    return SQLITE_OK;
}

/* The run's config and notes, when the result carries them. */
static int s_put_meta(sq_store_t *s, int64_t run_id, const result_t *r)
{
    sqlite3_stmt *st = s->stmt[STORE_Q_META_SET];
    sqlite3_bind_int64(st, 1, run_id);
    if (r->config)
        sqlite3_bind_text(st, 2, r->config, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    if (r->notes)
        sqlite3_bind_text(st, 3, r->notes, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    return s_exec(st);
}

/* Stores one result. Returns SQLITE_OK, an SQLite error code, or -1 for an
 * invalid result (err filled). */
static int s_put_result(sq_store_t *s, result_t *r, char *err, size_t errlen)
{
    size_t rlen = s_name_len(r->run, "run", err, errlen);
    size_t tlen = rlen ? s_name_len(r->tag, "tag", err, errlen) : 0;
    if (!rlen || !tlen)
        return -1;
    const char *support = s_support(r->support);
    if (!support || r->step > (uint64_t)INT64_MAX || r->npoints < 0 ||
        r->npoints > EW_RESULT_POINTS_MAX) {
        ew_errf(err, errlen,
                "cannot store run '%s' tag '%s': invalid result (support %d, "
                "step %llu, %d points)",
                r->run, r->tag, (int)r->support, (unsigned long long)r->step, r->npoints);
        return -1;
    }

    int rc = s_launch_resolve(s, r, rlen, err, errlen);
    if (rc != SQLITE_OK)
        return rc;
    rlen = strlen(r->stored_run);
    s_run_touch_t *touch;
    rc = s_run_id(s, r, rlen, &touch);
    if (rc != SQLITE_OK)
        return rc;
    int64_t run_id = touch->id;
    if ((r->config || r->notes) && (rc = s_put_meta(s, run_id, r)) != SQLITE_OK)
        return rc;
    /* A scalar-only batch (views 0) has no shape: it leaves the batches
     * table (one row per embedding batch) alone. */
    if (r->views > 0 && (rc = s_put_batch(s, run_id, r, tlen, support)) != SQLITE_OK)
        return rc;
    if (r->nspectrum > 0 && (rc = s_put_spectrum(s, run_id, r, tlen)) != SQLITE_OK)
        return rc;

    double wall = isnan(r->wall_time) ? r->recv_time : r->wall_time;
    for (int i = 0; i < r->npoints; i++) {
        const result_point_t *p = &r->points[i];
        size_t mlen = s_name_len(p->metric, "metric", err, errlen);
        if (!mlen)
            return -1;
        int64_t sid;
        rc = s_series_id(s, run_id, r, rlen, tlen, p->metric, mlen, p->value, &sid);
        if (rc != SQLITE_OK)
            return rc;
        rc = store_summary_point(s->sum, sid, (int64_t)r->step, p->value, wall);
        if (rc != SQLITE_OK)
            return rc;
        sqlite3_stmt *st = s->stmt[STORE_Q_POINT_PUT];
        sqlite3_bind_int64(st, 1, sid);
        sqlite3_bind_int64(st, 2, (int64_t)r->step);
        if (isnan(p->value))
            sqlite3_bind_null(st, 3); /* undefined for this batch */
        else
            sqlite3_bind_double(st, 3, p->value);
        sqlite3_bind_double(st, 4, wall);
        rc = s_exec(st);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int s_put_touched(sq_store_t *s)
{
    for (size_t i = 0; i < s->nrt; i++) {
        const s_run_touch_t *t = &s->rt[i];
        sqlite3_stmt *st = s->stmt[STORE_Q_RUN_SET];
        sqlite3_bind_int64(st, 1, t->id);
        sqlite3_bind_double(st, 2, t->last_seen);
        sqlite3_bind_int64(st, 3, t->last_step);
        sqlite3_bind_int64(st, 4, t->dropped);
        if (t->world >= 0)
            sqlite3_bind_int64(st, 5, t->world);
        else
            sqlite3_bind_null(st, 5);
        sqlite3_bind_double(st, 6, t->first_seen);
        int rc = s_exec(st);
        if (rc != SQLITE_OK)
            return rc;
    }
    sqlite3_stmt *set = s->stmt[STORE_Q_SERIES_SET];
    for (size_t i = 0; i < s->nst; i++) {
        sqlite3_bind_int64(set, 1, s->st[i].id);
        sqlite3_bind_int64(set, 2, s->st[i].last_step);
        for (int k = 0; k < 2; k++) {
            double v = k ? s->st[i].lo : s->st[i].hi;
            if (isnan(v))
                sqlite3_bind_null(set, 3 + k);
            else
                sqlite3_bind_double(set, 3 + k, v);
        }
        int rc = s_exec(set);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* Forgets every cached id: rows they name may have been rolled back. */
static void s_cache_reset(sq_store_t *s)
{
    idmap_clear(&s->runs);
    idmap_clear(&s->series);
    idmap_clear(&s->launches);
    s->gen = 0;
}

static void s_forget_ids(store_t *base)
{
    s_cache_reset(SQ(base));
}

static long s_write(store_t *base, result_t *const *results, size_t n, char *err, size_t errlen)
{
    sq_store_t *s = SQ(base);
    if (n == 0)
        return 0;
    if (s->runs.count + s->series.count > S_CACHE_MAX || s->gen == UINT32_MAX)
        s_cache_reset(s);
    s->gen++;
    s->nrt = 0;
    s->nst = 0;

    int rc = s_exec(s->stmt[STORE_Q_BEGIN]);
    if (rc != SQLITE_OK) {
        ew_errf(err, errlen, "cannot store %zu results in '%s': %s", n, s->path, s_errmsg(s, rc));
        return -1;
    }
    long points = 0;
    result_t *r = NULL;
    for (size_t i = 0; i < n; i++) {
        r = results[i];
        if (!r)
            continue;
        rc = s_put_result(s, r, err, errlen);
        if (rc == S_SKIP)
            continue; /* refused (resume_missing); the writer counts it */
        if (rc != SQLITE_OK)
            goto fail;
        points += r->npoints;
    }
    r = NULL;
    rc = store_summary_flush(s->sum);
    if (rc == SQLITE_OK)
        rc = s_put_touched(s);
    if (rc == SQLITE_OK)
        rc = ew_fault(EW_FAULT_STORE_COMMIT) ? S_INJECTED : s_exec(s->stmt[STORE_Q_COMMIT]);
    if (rc == SQLITE_OK)
        return points;

fail:
    if (rc != -1) {
        if (r)
            ew_errf(err, errlen, "cannot store run '%s' tag '%s' step %llu: %s", r->run, r->tag,
                    (unsigned long long)r->step, s_errmsg(s, rc));
        else
            ew_errf(err, errlen, "cannot store %zu results in '%s': %s", n, s->path,
                    s_errmsg(s, rc));
    }
    /* Some errors (disk full, I/O) already rolled the transaction back. */
    if (!sqlite3_get_autocommit(s->db))
        s_exec(s->stmt[STORE_Q_ROLLBACK]);
    s_cache_reset(s);
    store_summary_forget(s->sum);
    return -1;
}

static int s_series_range(store_t *base, const char *run, const char *tag, const char *metric,
                          double *max, double *min)
{
    sq_store_t *s = SQ(base);
    sqlite3_stmt *st = s->stmt[STORE_Q_SERIES_RANGE];
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, metric, -1, SQLITE_STATIC);
    int found = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *max = sqlite3_column_double(st, 0);
        *min = sqlite3_column_double(st, 1);
        found = 0;
    }
    sqlite3_reset(st);
    return found;
}

/* ---------------------------------------------------------------- store_sqlite.h */

sqlite3 *store__db(store_t *s)
{
    return SQ(s)->db;
}

store_summary_t *store__summary(store_t *s)
{
    return SQ(s)->sum;
}

const char *store__path(const store_t *s)
{
    return ((const sq_store_t *)s)->path;
}

sqlite3_stmt *store__stmt(store_t *s, int which)
{
    return SQ(s)->stmt[which];
}

int store__exec(sqlite3_stmt *st)
{
    return s_exec(st);
}

int store__int(sqlite3 *db, const char *sql, int64_t *out)
{
    return s_int(db, sql, out);
}

/* ---------------------------------------------------------------- the backend */

/* Between groups: the summaries an older file lacks (store_summary.h). */
static int s_background(store_t *s, int load)
{
    return store_summary_tick(SQ(s)->sum, SQ(s)->path, load);
}

/* Anything that is not another backend's URI is a file path (or SQLite's
 * ":memory:" / "file:" names). */
static int s_accepts(const char *db)
{
    (void)db;
    return 1;
}

const store_ops_t store_sqlite_ops = {
    .name = "sqlite",
    .accepts = s_accepts,
    .open = s_open,
    .close = s_close,
    .write = s_write,
    .forget_ids = s_forget_ids,
    .alerts_write = store__sqlite_alerts_write,
    .alerts_open = store__sqlite_alerts_open,
    .series_range = s_series_range,
    .run_delete = store__sqlite_run_delete,
    .run_rename = store__sqlite_run_rename,
    .purge_step = store__sqlite_purge_step,
    .oldest_run = store__sqlite_oldest_run,
    .space = store__sqlite_space,
    .vacuum_step = store__sqlite_vacuum_step,
    .background = s_background,
};
