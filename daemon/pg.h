/* pg.h: what the PostgreSQL store (store_pg.c) and query side (query_pg.c)
 * share: which --db arguments are PostgreSQL's, opening a connection with a
 * message a user can act on, and the URI as it may be logged (the password
 * replaced). Only the two PostgreSQL backends include this header.
 */
#ifndef ERWATCH_PG_H
#define ERWATCH_PG_H

#include <stddef.h>

#include <libpq-fe.h>

/* 1 when db is a libpq connection URI (postgresql://... or postgres://...). */
int pg_accepts(const char *db);

/* db without its password (postgresql://u:secret@h/db -> postgresql://u:***@h/db),
 * and without password=... in its query string, for messages and logs. */
void pg_redact(const char *db, char *out, size_t outlen);

/* Seconds a connection attempt may take unless db says (connect_timeout). */
#define PG_CONNECT_TIMEOUT_S "5"

/* Connects to db. Returns the connection, or NULL with err filled:
 * "cannot connect to PostgreSQL postgresql://u@h:5432/db: <libpq's reason>".
 * application_name is set to "erwatchd" unless db sets it; connect_timeout
 * is PG_CONNECT_TIMEOUT_S unless db sets it. */
PGconn *pg_connect(const char *db, char *err, size_t errlen);

/* libpq's message for conn or res, without the trailing newline, in out. */
const char *pg_error(PGconn *conn, const PGresult *res, char *out, size_t outlen);

#endif
