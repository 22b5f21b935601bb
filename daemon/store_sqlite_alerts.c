/* store_sqlite_alerts.c: the alerts table, written by the writer thread's alert
 * engine (alerts.c through alerts_hook.c) on the store's one connection
 * (store.h, "alerts"). Each call is one transaction of its own, so an alert
 * change never rides along with (or rolls back) a group of points.
 * Statements are store_sqlite.c's, prepared once at open; this file
 * reaches them and the connection through store_sqlite.h.
 */
#include "store_sqlite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "xalloc.h"

/* ---------------------------------------------------------------- binding */

static void s_bind_step(sqlite3_stmt *st, int i, int64_t step)
{
    if (step >= 0)
        sqlite3_bind_int64(st, i, step);
    else
        sqlite3_bind_null(st, i);
}

static void s_bind_time(sqlite3_stmt *st, int i, double t)
{
    if (isnan(t))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, t);
}

static int s_alert_put(store_t *s, const alert_t *a)
{
    sqlite3_stmt *st = store__stmt(s, STORE_Q_ALERT_PUT);
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, a->alertname, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->tag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, a->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, alert_state_name(a->state), -1, SQLITE_STATIC);
    s_bind_time(st, 8, a->value);
    sqlite3_bind_int64(st, 9, a->first_step);
    sqlite3_bind_double(st, 10, a->first_time);
    s_bind_step(st, 11, a->fired_step);
    s_bind_time(st, 12, a->fired_time);
    sqlite3_bind_int64(st, 13, a->last_step);
    sqlite3_bind_double(st, 14, a->last_time);
    s_bind_step(st, 15, a->resolved_step);
    s_bind_time(st, 16, a->resolved_time);
    sqlite3_bind_text(st, 17, a->summary, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 18, a->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 19, s->daemon, -1, SQLITE_STATIC);
    return store__exec(st);
}

/* ---------------------------------------------------------------- write */

int store__sqlite_alerts_write(store_t *s, const alert_change_t *ch, size_t n, char *err,
                               size_t errlen)
{
    if (n == 0)
        return 0;
    int rc = store__exec(store__stmt(s, STORE_Q_BEGIN));
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        if (ch[i].kind == ALERT_CH_DELETE) {
            sqlite3_bind_int64(store__stmt(s, STORE_Q_ALERT_DEL), 1, ch[i].a.id);
            rc = store__exec(store__stmt(s, STORE_Q_ALERT_DEL));
        } else {
            rc = s_alert_put(s, &ch[i].a);
        }
    }
    if (rc == SQLITE_OK)
        rc = store__exec(store__stmt(s, STORE_Q_COMMIT));
    if (rc == SQLITE_OK)
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "cannot store %zu alert change(s) in '%s': %s", n, store__path(s),
                 sqlite3_errmsg(store__db(s)));
    if (!sqlite3_get_autocommit(store__db(s)))
        store__exec(store__stmt(s, STORE_Q_ROLLBACK));
    return -1;
}

/* ---------------------------------------------------------------- read */

static void s_col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static double s_col_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int64_t s_col_step(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

int store__sqlite_alerts_open(store_t *s, alert_t **rows, size_t *nrows, int64_t *max_id, char *err,
                              size_t errlen)
{
    *rows = NULL;
    *nrows = 0;
    *max_id = 0;
    if (store__int(store__db(s), "SELECT coalesce(max(id), 0) FROM alerts", max_id) != SQLITE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "cannot read alerts from '%s': %s", store__path(s),
                     sqlite3_errmsg(store__db(s)));
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        store__db(s),
        "SELECT id, rule, run, tag, metric, severity, state, value, first_step,"
        " first_time, fired_step, fired_time, last_step, last_time, summary,"
        " description FROM alerts WHERE state IN ('pending', 'firing') ORDER BY id",
        -1, &st, NULL);
    size_t cap = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW)
            break;
        if (*nrows == cap) {
            cap = cap ? 2 * cap : 16;
            *rows = ew_xrealloc(*rows, cap * sizeof **rows);
        }
        alert_t *a = &(*rows)[(*nrows)++];
        memset(a, 0, sizeof *a);
        a->id = sqlite3_column_int64(st, 0);
        s_col_text(st, 1, a->alertname, sizeof a->alertname);
        s_col_text(st, 2, a->run, sizeof a->run);
        s_col_text(st, 3, a->tag, sizeof a->tag);
        s_col_text(st, 4, a->metric, sizeof a->metric);
        s_col_text(st, 5, a->severity, sizeof a->severity);
        const unsigned char *state = sqlite3_column_text(st, 6);
        a->state = alert_state_parse(state ? (const char *)state : "");
        a->value = s_col_time(st, 7);
        a->first_step = sqlite3_column_int64(st, 8);
        a->first_time = sqlite3_column_double(st, 9);
        a->fired_step = s_col_step(st, 10);
        a->fired_time = s_col_time(st, 11);
        a->last_step = sqlite3_column_int64(st, 12);
        a->last_time = sqlite3_column_double(st, 13);
        a->resolved_step = -1;
        a->resolved_time = NAN;
        s_col_text(st, 14, a->summary, sizeof a->summary);
        s_col_text(st, 15, a->description, sizeof a->description);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if (err && errlen)
            snprintf(err, errlen, "cannot read alerts from '%s': %s", store__path(s),
                     sqlite3_errmsg(store__db(s)));
        free(*rows);
        *rows = NULL;
        *nrows = 0;
        return -1;
    }
    return 0;
}
