/* store_pg_alerts.c: the alerts table of a PostgreSQL database, written by
 * the writer thread's alert engine (alerts.c through alerts_hook.c) on the
 * store's one connection (store.h, "alerts"). Several daemons share the
 * table: a row is keyed by the daemon that raised it (store_set_daemon())
 * and that daemon's own number for it (daemon_id); `id` is the database's.
 * Each call is one transaction of its own, as with SQLite.
 */
#include "store_pg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static const char s_put[] =
    "INSERT INTO alerts (daemon, daemon_id, rule, run, tag, metric, severity, state, value,"
    " first_step, first_time, fired_step, fired_time, last_step, last_time, resolved_step,"
    " resolved_time, summary, description)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
    " $19)"
    " ON CONFLICT (daemon, daemon_id) DO UPDATE SET rule = EXCLUDED.rule, run = EXCLUDED.run,"
    " tag = EXCLUDED.tag, metric = EXCLUDED.metric, severity = EXCLUDED.severity,"
    " state = EXCLUDED.state, value = EXCLUDED.value, first_step = EXCLUDED.first_step,"
    " first_time = EXCLUDED.first_time, fired_step = EXCLUDED.fired_step,"
    " fired_time = EXCLUDED.fired_time, last_step = EXCLUDED.last_step,"
    " last_time = EXCLUDED.last_time, resolved_step = EXCLUDED.resolved_step,"
    " resolved_time = EXCLUDED.resolved_time, summary = EXCLUDED.summary,"
    " description = EXCLUDED.description";

static const char s_del[] = "DELETE FROM alerts WHERE daemon = $1 AND daemon_id = $2";

static int s_alert_put(store_t *s, const alert_t *a, char *why, size_t whylen)
{
    store_pg_params_t p = {0};
    store__pg_text(&p, s->daemon);
    store__pg_int(&p, a->id);
    store__pg_text(&p, a->alertname);
    store__pg_text(&p, a->run);
    store__pg_text(&p, a->tag);
    store__pg_text(&p, a->metric);
    store__pg_text(&p, a->severity);
    store__pg_text(&p, alert_state_name(a->state));
    store__pg_double(&p, a->value);
    store__pg_int(&p, a->first_step);
    store__pg_double(&p, a->first_time);
    store__pg_step(&p, a->fired_step);
    store__pg_double(&p, a->fired_time);
    store__pg_int(&p, a->last_step);
    store__pg_double(&p, a->last_time);
    store__pg_step(&p, a->resolved_step);
    store__pg_double(&p, a->resolved_time);
    store__pg_text(&p, a->summary);
    store__pg_text(&p, a->description);
    return store__pg_run(s, s_put, &p, why, whylen);
}

int store__pg_alerts_write(store_t *s, const alert_change_t *ch, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    char why[512];
    int rc = store__pg_ready(s, why, sizeof why);
    if (rc == 0)
        rc = store__pg_run(s, "BEGIN", NULL, why, sizeof why);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ch[i].kind == ALERT_CH_DELETE) {
            store_pg_params_t p = {0};
            store__pg_text(&p, s->daemon);
            store__pg_int(&p, ch[i].a.id);
            rc = store__pg_run(s, s_del, &p, why, sizeof why);
        } else {
            rc = s_alert_put(s, &ch[i].a, why, sizeof why);
        }
    }
    if (rc == 0)
        rc = store__pg_run(s, "COMMIT", NULL, why, sizeof why);
    if (rc == 0)
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "cannot store %zu alert change(s) in %s: %s", n, store__pg_label(s),
                 why);
    store__pg_rollback(s);
    return -1;
}

/* ---------------------------------------------------------------- read */

static void s_text(const PGresult *res, int row, int col, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", PQgetvalue(res, row, col));
}

static double s_time(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NAN : strtod(PQgetvalue(res, row, col), NULL);
}

static int64_t s_int(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? -1 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int store__pg_alerts_open(store_t *s, alert_t **rows, size_t *nrows, int64_t *max_id, char *err,
                          size_t errlen)
{
    *rows = NULL;
    *nrows = 0;
    *max_id = 0;
    char why[512];
    store_pg_params_t p = {0};
    store__pg_text(&p, s->daemon);
    PGresult *res = NULL;
    if (store__pg_ready(s, why, sizeof why) != 0 ||
        store__pg_one(s, "SELECT coalesce(max(daemon_id), 0) FROM alerts WHERE daemon = $1", &p,
                      max_id, why, sizeof why) < 0 ||
        !(res = store__pg_query(s,
                                "SELECT daemon_id, rule, run, tag, metric, severity, state, value,"
                                " first_step, first_time, fired_step, fired_time, last_step,"
                                " last_time, summary, description FROM alerts"
                                " WHERE daemon = $1 AND state IN ('pending', 'firing')"
                                " ORDER BY daemon_id",
                                &p, why, sizeof why))) {
        if (err && errlen)
            snprintf(err, errlen, "cannot read alerts from %s: %s", store__pg_label(s), why);
        return -1;
    }
    int n = PQntuples(res);
    if (n > 0)
        *rows = ew_xcalloc((size_t)n, sizeof **rows);
    for (int i = 0; i < n; i++) {
        alert_t *a = &(*rows)[i];
        a->id = s_int(res, i, 0);
        s_text(res, i, 1, a->alertname, sizeof a->alertname);
        s_text(res, i, 2, a->run, sizeof a->run);
        s_text(res, i, 3, a->tag, sizeof a->tag);
        s_text(res, i, 4, a->metric, sizeof a->metric);
        s_text(res, i, 5, a->severity, sizeof a->severity);
        a->state = alert_state_parse(PQgetvalue(res, i, 6));
        a->value = s_time(res, i, 7);
        a->first_step = s_int(res, i, 8);
        a->first_time = s_time(res, i, 9);
        a->fired_step = s_int(res, i, 10);
        a->fired_time = s_time(res, i, 11);
        a->last_step = s_int(res, i, 12);
        a->last_time = s_time(res, i, 13);
        a->resolved_step = -1;
        a->resolved_time = NAN;
        s_text(res, i, 14, a->summary, sizeof a->summary);
        s_text(res, i, 15, a->description, sizeof a->description);
    }
    *nrows = (size_t)n;
    PQclear(res);
    return 0;
}
