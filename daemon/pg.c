/* pg.c: connection helpers the two PostgreSQL backends share (pg.h). */
#include "pg.h"

#include <stdio.h>
#include <string.h>

int pg_accepts(const char *db)
{
    return db && (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0);
}

void pg_redact(const char *db, char *out, size_t outlen)
{
    if (!outlen)
        return;
    out[0] = '\0';
    const char *scheme = strstr(db, "://");
    const char *auth = scheme ? scheme + 3 : db;
    const char *at = strchr(auth, '@');
    const char *slash = strchr(auth, '/');
    const char *colon = strchr(auth, ':');
    /* user:password@ (the colon before the @ and before any /) */
    if (at && (!slash || at < slash) && colon && colon < at)
        snprintf(out, outlen, "%.*s:***%s", (int)(colon - db), db, at);
    else
        snprintf(out, outlen, "%s", db);
    /* password=... among the parameters, also in a copy cut short (a
     * password cut in half is still half a password) */
    char *q = strchr(out, '?');
    for (char *p = q; p && *p;) {
        p++;
        if (strncmp(p, "password=", 9) == 0) {
            char *end = strchr(p, '&');
            char rest[1024];
            snprintf(rest, sizeof(rest), "%s", end ? end : "");
            snprintf(p + 9, outlen - (size_t)(p + 9 - out), "***%s", rest);
        }
        p = strchr(p, '&');
    }
}

const char *pg_error(PGconn *conn, const PGresult *res, char *out, size_t outlen)
{
    const char *m = res ? PQresultErrorMessage(res) : "";
    if (!m || !*m)
        m = conn ? PQerrorMessage(conn) : "out of memory";
    snprintf(out, outlen, "%s", m && *m ? m : "unknown error");
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    return out;
}

PGconn *pg_connect(const char *db, char *err, size_t errlen)
{
    /* Defaults first: the URI's own settings, if any, come later and win.
     * A reconnect (PQreset) keeps them, so the writer never waits long on a
     * server that is down (connect_timeout) or gone silent behind a network
     * partition: TCP keepalives probe an idle connection after 30 s, and
     * tcp_user_timeout ends one whose sent data stays unacknowledged 60 s,
     * instead of the kernel's 15 minutes or more. */
    const char *keys[] = {"connect_timeout",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "dbname",
                          "fallback_application_name",
                          NULL};
    const char *vals[] = {PG_CONNECT_TIMEOUT_S, "1", "30", "10", "3", "60000", db,
                          "erwatchd",           NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1); /* expand_dbname: db is a URI */
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    char safe[512], why[512];
    pg_redact(db, safe, sizeof(safe));
    snprintf(err, errlen, "cannot connect to PostgreSQL %s: %s", safe,
             pg_error(c, NULL, why, sizeof(why)));
    PQfinish(c);
    return NULL;
}
