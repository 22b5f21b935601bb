/* store.h: the single writer's connection to the database
 * (schema/schema.sql, schema/README.md).
 *
 * Only the writer thread calls these. store_open() picks the backend from
 * the --db argument (store_backend.h: SQLite, store_sqlite.c, or PostgreSQL), creates
 * the schema in a new database and checks the version of an existing one.
 * PostgreSQL (store_pg.c) is chosen by a postgresql:// or postgres:// URI.
 * With SQLite it turns on WAL so that readers (query.h) never block the
 * writer or each other. store_write() stores a group of results in ONE
 * transaction; a (run, tag, metric, step) that exists is replaced.
 *
 * Launches (schema/README.md, "Runs and launches"): a result that carries a
 * launch goes to the run that launch was given for its run name, decided
 * at its first result: the name itself when free, else NAME.2, NAME.3...;
 * with resume, the latest run of that name, whose points at steps >= the
 * first step are removed first (rewind). store_write() records the decision
 * in each result (stored_run, rewind_from, resume_missing: batch.h).
 */
#ifndef ERWATCH_STORE_H
#define ERWATCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "alerts.h"
#include "batch.h"

#define EW_SCHEMA_VERSION 5
/* PRAGMA application_id of an erwatch database ("erwt"; schema/schema.sql). */
#define EW_APPLICATION_ID 0x65727774

typedef struct store store_t;

/* The longest daemon name (--name; store_set_daemon()), in bytes. */
#define EW_DAEMON_NAME_MAX 128

/* db: the --db argument (a file path for SQLite). Returns 0 and *out, or -1
 * with a message in err ("cannot open database 'x.db': unable to open
 * database file"). */
int store_open(store_t **out, const char *db, char *err, size_t errlen);
void store_close(store_t **s);

/* Stores n results in one transaction. Returns the number of points written
 * (>= 0), or -1 with err filled; on error the transaction is rolled back and
 * nothing of the group is stored. */
long store_write(store_t *s, result_t *const *results, size_t n, char *err, size_t errlen);

/* The backend's name ("sqlite", "postgresql"), for messages and /api/health. */
const char *store_backend(const store_t *s);
/* Names the daemon that writes through s (--name): the alerts it stores
 * say so, and on a database many daemons share it takes back only its own
 * open alerts at start (store_alerts_open). Longer names are cut. */
void store_set_daemon(store_t *s, const char *name);
/* The --db argument as logs and messages may show it: a PostgreSQL URI's
 * password is replaced by ***. */
void store_describe(const char *db, char *out, size_t outlen);
/* Forgets the cached run and series ids; call after any change made to
 * runs or series outside store_write() (a run deleted or renamed). */
void store_forget_ids(store_t *s);

/* ---- alerts (store_sqlite_alerts.c: the alerts table; the alert engine's) ---- */

/* Applies n alert changes (alerts.h) in order, in one transaction of their
 * own. Returns 0, or -1 with err filled and nothing applied. */
int store_alerts_write(store_t *s, const alert_change_t *ch, size_t n, char *err, size_t errlen);
/* The pending and firing episodes (*rows, OUT, malloc'd: the caller frees)
 * and the largest id ever stored (*max_id, OUT, 0 for none), for the engine
 * to take back at start. Returns 0, or -1 with err filled. */
int store_alerts_open(store_t *s, alert_t **rows, size_t *nrows, int64_t *max_id, char *err,
                      size_t errlen);
/* The highest and lowest stored value of (run, tag, metric) (OUT: both).
 * Returns 0, or -1 when it has none (or on error). */
int store_series_range(store_t *s, const char *run, const char *tag, const char *metric,
                       double *max, double *min);

#endif
