/* store_impl.h: the inside of the store (store.c) that store_alerts.c
 * uses: the prepared statements by name, the connection and two step
 * helpers. Not part of the module's API; only daemon/store*.c include it.
 * Internal names use the store__ prefix.
 */
#ifndef ERWATCH_STORE_IMPL_H
#define ERWATCH_STORE_IMPL_H

#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

/* The statements store_open() prepares, in the order of store.c's s_sql. */
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
    /* launches (store.c, "launches") */
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
const char *store__path(const store_t *s);        /* the database file */
sqlite3_stmt *store__stmt(store_t *s, int which); /* which: STORE_Q_* */
/* Steps a statement that returns no row (or ignores its rows) and resets
 * it. Returns SQLITE_OK or the error code (message in sqlite3_errmsg). */
int store__exec(sqlite3_stmt *st);
/* Reads one integer (a PRAGMA or a count) on db. Returns SQLITE_OK or the
 * error code. */
int store__int(sqlite3 *db, const char *sql, int64_t *out);

#endif
