/* store.h: the single writer's SQLite connection (schema/schema.sql).
 *
 * Only the writer thread calls these. store_open() creates the schema on a
 * new file, checks PRAGMA user_version on an existing one, and turns on WAL
 * so that readers (query.h) never block the writer or each other.
 * store_write() stores a group of results in ONE transaction with prepared
 * statements; a (run, tag, metric, step) that exists is replaced.
 */
#ifndef ERWATCH_STORE_H
#define ERWATCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

#define EW_SCHEMA_VERSION 1
/* PRAGMA application_id of an erwatch database ("erwt"; schema/schema.sql). */
#define EW_APPLICATION_ID 0x65727774

typedef struct store store_t;

/* Returns 0 and *out, or -1 with a message in err ("cannot open database
 * 'x.db': unable to open database file"). */
int store_open(store_t **out, const char *path, char *err, size_t errlen);
void store_close(store_t **s);

/* Stores n results in one transaction. Returns the number of points written
 * (>= 0), or -1 with err filled; on error the transaction is rolled back and
 * nothing of the group is stored. */
long store_write(store_t *s, result_t *const *results, size_t n, char *err,
                 size_t errlen);

#endif
