/* store_pg.h: the inside of the store's PostgreSQL backend (store_pg.c)
 * that its other files (store_pg_alerts.c, store_pg_runs.c,
 * store_pg_summary.c) use: the
 * connection (re-established on demand), statements with text parameters,
 * and their functions that fill the backend's table (store_backend.h). Not
 * part of the module's API; only daemon/store_pg*.c include it. Internal
 * names use the store__pg_ prefix.
 */
#ifndef ERWATCH_STORE_PG_H
#define ERWATCH_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store_backend.h"
#include "summary_build.h"

/* The version of schema/schema_pg.sql this build writes and reads (one
 * number for both schemas: the file says it too): a database whose
 * erwatch_meta says more is refused at start. */
#define EW_PG_SCHEMA_VERSION EW_SCHEMA_VERSION

/* Parameters of one statement, in text format ($1 is v[0]); values of the
 * numeric setters are formatted into num[]. NULL v[i]: SQL NULL. */
#define STORE_PG_PARAMS_MAX 20
typedef struct {
    int n;
    const char *v[STORE_PG_PARAMS_MAX];
    char num[STORE_PG_PARAMS_MAX][32];
} store_pg_params_t;

void store__pg_int(store_pg_params_t *p, int64_t v);
void store__pg_step(store_pg_params_t *p, int64_t v);     /* < 0: NULL */
void store__pg_double(store_pg_params_t *p, double v);    /* NaN: NULL */
void store__pg_text(store_pg_params_t *p, const char *v); /* NULL: NULL */

/* The database as it may be logged (the password replaced: pg_redact). */
const char *store__pg_label(const store_t *s);

/* Makes sure the connection is up (reconnecting when it was lost, within
 * connect_timeout) and the statements are prepared on it. Returns 0, or -1
 * with why filled. */
int store__pg_ready(store_t *s, char *why, size_t whylen);

/* Runs sql (a constant; $1... from p, which may be NULL). Returns the
 * result (PGRES_COMMAND_OK or PGRES_TUPLES_OK: the caller PQclear()s it),
 * or NULL with libpq's message in why. Fault point EW_FAULT_STORE_STMT
 * fails it (never a ROLLBACK). */
PGresult *store__pg_query(store_t *s, const char *sql, const store_pg_params_t *p, char *why,
                          size_t whylen);
/* The same for a statement run often (the writer's per-group ones):
 * prepared on the connection on its first use, by the address of sql (a
 * constant of static storage). */
PGresult *store__pg_prepared(store_t *s, const char *sql, const store_pg_params_t *p, char *why,
                             size_t whylen);
/* The same, without a result: 0, or -1 with why filled. */
int store__pg_run(store_t *s, const char *sql, const store_pg_params_t *p, char *why,
                  size_t whylen);
/* The first column of the first row as an integer: 1 found (*out set),
 * 0 no row, -1 error (why filled). */
int store__pg_one(store_t *s, const char *sql, const store_pg_params_t *p, int64_t *out, char *why,
                  size_t whylen);
/* Rolls back the open transaction, if any (nothing when the connection is
 * gone: the server dropped it). */
void store__pg_rollback(store_t *s);

/* store_pg_alerts.c and store_pg_runs.c: the backend's members of the same
 * names (contracts in store.h and store_runs.h). */
int store__pg_alerts_write(store_t *s, const alert_change_t *ch, size_t n, char *err,
                           size_t errlen);
int store__pg_alerts_open(store_t *s, alert_t **rows, size_t *nrows, int64_t *max_id, char *err,
                          size_t errlen);
int store__pg_run_delete(store_t *s, const char *name, double now, store_deleted_t *out, char *err,
                         size_t errlen);
int store__pg_run_rename(store_t *s, const char *old, const char *new_name, char *err,
                         size_t errlen);
long store__pg_purge_step(store_t *s, long max_rows, char *err, size_t errlen);
int store__pg_oldest_run(store_t *s, char *name, double *last_seen, int *others);

/* store_pg_summary.c: the summaries (schema/README.md), in the caller's
 * transaction. After points were written: brings the cells of every level
 * they fall in up to date; arrays are the points' series, step, value and
 * wall time, PostgreSQL array literals of one length ("{1,2}"), no (series,
 * step) twice. 0, or -1 with why filled. */
int store__pg_summary_points(store_t *s, const char *const arrays[4], char *why, size_t whylen);
/* The same, recomputing the cells of every level above the (series
 * sids[i], finest bucket buckets[i]) pairs from the points. */
int store__pg_summary_cells(store_t *s, const char *sids, const char *buckets, char *why,
                            size_t whylen);
/* After the points of run run_id at steps >= step were removed. */
int store__pg_summary_rewind(store_t *s, int64_t run_id, int64_t step, char *why, size_t whylen);
/* Removes at most max_rows summaries rows of series sid: the rows removed,
 * or -1. */
long store__pg_summary_purge(store_t *s, int64_t sid, long max_rows, char *why, size_t whylen);

/* The build of series with summarized = 0 (store_pg_summary.c). */
typedef struct {
    int64_t sid, next;    /* the series being built (0: none), its next finest cell */
    summary_build_t tick; /* when pieces run */
} store_pg_build_t;
/* One piece, in a transaction of its own: summary_build_fn's contract. */
long store__pg_summary_build(store_t *s, store_pg_build_t *b, long max_points, int *finished,
                             char *why, size_t whylen);
/* The writer's tick for the build (the backend's background member). */
int store__pg_summary_tick(store_t *s, store_pg_build_t *b, int load);

#endif
