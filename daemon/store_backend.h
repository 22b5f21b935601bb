/* store_backend.h: the seam between the store's API (store.h, store_runs.h)
 * and the databases behind it, like SQLite's sqlite3_io_methods or Redis's
 * ConnectionType: one table of functions per backend, chosen once by
 * store_open() from the --db argument; store_backend.c calls s->ops->write(...) and
 * never asks which backend it has. Every backend's knowledge lives in its
 * own files (store_sqlite*.c, store_pg*.c); only those and store_backend.c include this header.
 *
 * A backend's handle starts with a store_t (its first member), so a
 * store_t * is also a pointer to the backend's own struct.
 */
#ifndef ERWATCH_STORE_BACKEND_H
#define ERWATCH_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_runs.h"

typedef struct store_ops store_ops_t;

struct store {
    const store_ops_t *ops;
    char daemon[EW_DAEMON_NAME_MAX + 1]; /* store_set_daemon(); "" until then */
};

/* Each member has the contract of the store.h / store_runs.h function of
 * the same name. space and vacuum_step may be NULL (no file to shrink):
 * store_space() then returns -ENOTSUP. */
struct store_ops {
    const char *name; /* "sqlite", "postgresql" */
    /* 1 when db (the --db argument) names a database of this backend. */
    int (*accepts)(const char *db);
    int (*open)(store_t **out, const char *db, char *err, size_t errlen);
    void (*close)(store_t *s); /* frees s */
    long (*write)(store_t *s, result_t *const *results, size_t n, char *err, size_t errlen);
    void (*forget_ids)(store_t *s);
    int (*alerts_write)(store_t *s, const alert_change_t *ch, size_t n, char *err, size_t errlen);
    int (*alerts_open)(store_t *s, alert_t **rows, size_t *nrows, int64_t *max_id, char *err,
                       size_t errlen);
    int (*series_range)(store_t *s, const char *run, const char *tag, const char *metric,
                        double *max, double *min);
    int (*run_delete)(store_t *s, const char *name, double now, store_deleted_t *out, char *err,
                      size_t errlen);
    int (*run_rename)(store_t *s, const char *old, const char *new_name, char *err, size_t errlen);
    long (*purge_step)(store_t *s, long max_rows, char *err, size_t errlen);
    int (*oldest_run)(store_t *s, char *name, double *last_seen, int *others);
    int (*space)(store_t *s, store_space_t *out);
    int (*vacuum_step)(store_t *s, int64_t pages);
    int (*background)(store_t *s, int load); /* NULL: none */
    /* db as logs may show it (a password hidden); NULL: db as it is. */
    void (*describe)(const char *db, char *out, size_t outlen);
};

/* The backends, in store_backend.c's order of asking (the last accepts anything). */
extern const store_ops_t store_pg_ops;
extern const store_ops_t store_sqlite_ops;

#endif
