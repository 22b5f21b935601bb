/* store_sqlite.h: the inside of the store's SQLite backend (store_sqlite.c)
 * that its other files (store_sqlite_alerts.c, store_sqlite_runs.c) use:
 * the prepared statements by name, the connection, two step helpers, and
 * their functions that fill the backend's table (store_backend.h). Not part
 * of the module's API; only daemon/store_sqlite*.c include it (and tests
 * that look inside the file). Internal names use the store__ prefix.
 */
#ifndef ERWATCH_STORE_SQLITE_H
#define ERWATCH_STORE_SQLITE_H

#include <stdint.h>

#include <sqlite3.h>

#include "store_backend.h"
#include "store_summary.h"

/* The statements s_open() prepares, in the order of store_sqlite.c's s_sql. */
enum {
    STORE_Q_BEGIN,
    STORE_Q_COMMIT,
    STORE_Q_ROLLBACK,
    STORE_Q_RUN_GET,
    STORE_Q_RUN_ADD,
    STORE_Q_RUN_SET,
    STORE_Q_SERIES_GET,
    STORE_Q_SERIES_ADD,
    STORE_Q_SERIES_SET,
    STORE_Q_POINT_PUT,
    STORE_Q_BATCH_PUT,
    STORE_Q_ALERT_PUT,
    STORE_Q_ALERT_DEL,
    STORE_Q_SERIES_RANGE,
    STORE_Q_SPECTRUM_PUT,
    /* launches (store_sqlite.c, "launches") */
    STORE_Q_LAUNCH_GET,
    STORE_Q_LAUNCH_ADD,
    STORE_Q_RUN_ADD_LAUNCHED,
    STORE_Q_RUN_LAUNCH_SET,
    STORE_Q_RESUME_BASE,
    STORE_Q_BASE_COUNT,
    STORE_Q_META_SET,
    STORE_Q_RW_POINTS,
    STORE_Q_RW_BATCHES,
    STORE_Q_RW_SPECTRA,
    STORE_Q_RW_SERIES,
    STORE_Q_RW_SERIES_DEL,
    STORE_Q_RW_RUN,
    STORE_Q_RW_ALERTS,
    STORE_Q_OWN_RUN,
    STORE_Q_COUNT
};

sqlite3 *store__db(store_t *s);
store_summary_t *store__summary(store_t *s);      /* store_summary.h */
const char *store__path(const store_t *s);        /* the database file */
sqlite3_stmt *store__stmt(store_t *s, int which); /* which: STORE_Q_* */
/* Steps a statement that returns no row (or ignores its rows) and resets
 * it. Returns SQLITE_OK or the error code (message in sqlite3_errmsg). */
int store__exec(sqlite3_stmt *st);
/* Reads one integer (a PRAGMA or a count) on db. Returns SQLITE_OK or the
 * error code. */
int store__int(sqlite3 *db, const char *sql, int64_t *out);

/* store_sqlite_alerts.c and store_sqlite_runs.c: the backend's members of
 * the same names (contracts in store.h and store_runs.h). */
int store__sqlite_alerts_write(store_t *s, const alert_change_t *ch, size_t n, char *err,
                               size_t errlen);
int store__sqlite_alerts_open(store_t *s, alert_t **rows, size_t *nrows, int64_t *max_id, char *err,
                              size_t errlen);
int store__sqlite_run_delete(store_t *s, const char *name, double now, store_deleted_t *out,
                             char *err, size_t errlen);
int store__sqlite_run_rename(store_t *s, const char *old, const char *new_name, char *err,
                             size_t errlen);
long store__sqlite_purge_step(store_t *s, long max_rows, char *err, size_t errlen);
int store__sqlite_oldest_run(store_t *s, char *name, double *last_seen, int *others);
int store__sqlite_space(store_t *s, store_space_t *out);
int store__sqlite_vacuum_step(store_t *s, int64_t pages);

#endif
