/* alerts_hook.c: the alert engine on the writer thread (see alerts_hook.h).
 *
 * Notification comes before persistence and does not depend on it: an
 * alert is sent even while the database refuses writes. Changes that could
 * not be written are kept, in order, and written with the next group, so
 * the table catches up without ever notifying twice.
 */
#include "alerts_hook.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "log.h"

#define S_UNSAVED_MAX 65536

struct alerts_hook {
    alerts_t *engine;
    notify_t *notify;
    stats_t *stats;
    store_t *store;          /* during a call only: the history callback's */
    alert_changes_t unsaved; /* changes not yet in the table, in order */
    int failing;
};

static int s_history(void *ctx, const char *run, const char *tag, const char *metric, double *max,
                     double *min)
{
    alerts_hook_t *h = ctx;
    return h->store ? store_series_range(h->store, run, tag, metric, max, min) : -1;
}

static void s_gauges(alerts_hook_t *h)
{
    if (!h->stats)
        return;
    uint64_t pending, firing;
    alerts_counts(h->engine, &pending, &firing);
    stats_set(&h->stats->alerts_pending, pending);
    stats_set(&h->stats->alerts_firing, firing);
}

static void s_announce(alerts_hook_t *h, const alert_t *a)
{
    if (a->state == ALERT_FIRING) {
        log_warn("alert %s FIRING run=%s tag=%s %s=%.6g step=%lld: %s", a->alertname, a->run,
                 a->tag, a->metric, a->value, (long long)a->fired_step, a->summary);
        if (h->stats)
            stats_inc(&h->stats->alerts_fired, 1);
    } else {
        log_info("alert %s resolved run=%s tag=%s %s=%.6g step=%lld", a->alertname, a->run, a->tag,
                 a->metric, a->value, (long long)a->resolved_step);
    }
    notify_post(h->notify, a, 0);
}

static void s_save(alerts_hook_t *h, store_t *store)
{
    if (!h->unsaved.n)
        return;
    char err[512];
    if (store_alerts_write(store, h->unsaved.v, h->unsaved.n, err, sizeof err) == 0) {
        if (h->failing)
            log_info("alerts: table writable again; %zu change(s) stored", h->unsaved.n);
        h->failing = 0;
        alert_changes_clear(&h->unsaved);
        return;
    }
    if (h->failing++ % 100 == 0)
        log_error("alerts: %s (kept; retried with the next group)", err);
    if (h->unsaved.n > S_UNSAVED_MAX) {
        /* The table has refused writes for a long time; the notifications
         * went out, only the history is lost. */
        log_error("alerts: dropping %zu unsaved alert change(s)", h->unsaved.n);
        alert_changes_clear(&h->unsaved);
    }
}

alerts_hook_t *alerts_hook_new(const rules_t *rules, store_t *store, notify_t *notify,
                               stats_t *stats, char *err, size_t errlen)
{
    alert_t *rows = NULL;
    size_t nrows = 0;
    int64_t max_id = 0;
    if (store_alerts_open(store, &rows, &nrows, &max_id, err, errlen) != 0)
        return NULL;
    alerts_hook_t *h = calloc(1, sizeof *h);
    if (!h)
        abort();
    h->engine = alerts_new(rules, max_id + 1);
    h->notify = notify;
    h->stats = stats;
    alerts_set_history(h->engine, s_history, h);
    if (stats)
        stats_set(&stats->alert_rules, rules ? rules->n : 0);

    size_t firing = 0;
    double now = ew_now();
    for (size_t i = 0; i < nrows; i++) {
        alert_t *a = &rows[i];
        int rc = alerts_restore(h->engine, a);
        if (rc == 0) {
            if (a->state == ALERT_FIRING) {
                firing++;
                notify_post(notify, a, 1);
            }
            continue;
        }
        /* Its rule is gone or changed: end the episode rather than leave it
         * open forever. */
        alert_change_t ch = {.kind = ALERT_CH_DELETE, .notify = 0, .a = *a};
        if (a->state == ALERT_FIRING) {
            ch.kind = ALERT_CH_UPSERT;
            ch.a.state = ALERT_RESOLVED;
            ch.a.resolved_step = a->last_step;
            ch.a.resolved_time = now;
            log_info("alert %s run=%s tag=%s: rule %s; resolving it", a->alertname, a->run, a->tag,
                     rc == -ENOENT ? "removed or changed" : "duplicated");
            notify_post(notify, &ch.a, 0);
        }
        alert_changes_t one = {.v = &ch, .n = 1, .cap = 1};
        if (store_alerts_write(store, one.v, one.n, err, errlen) != 0) {
            free(rows);
            alerts_hook_destroy(&h);
            return NULL;
        }
    }
    free(rows);
    if (firing)
        log_info("alerts: %zu firing alert(s) taken back from the database", firing);
    s_gauges(h);
    return h;
}

void alerts_hook_run(void *hook, store_t *store, result_t *const *results, size_t n)
{
    alerts_hook_t *h = hook;
    size_t first = h->unsaved.n;
    double now = ew_now();
    h->store = store;
    for (size_t i = 0; i < n; i++) {
        const result_t *r = results[i];
        if (!r || r->resume_missing)
            continue; /* not stored */
        if (r->rewind_from >= 0)
            alerts_rewind(h->engine, result_run(r), r->rewind_from, now, &h->unsaved);
        alerts_observe(h->engine, r, now, &h->unsaved);
    }
    h->store = NULL;
    for (size_t i = first; i < h->unsaved.n; i++)
        if (h->unsaved.v[i].notify)
            s_announce(h, &h->unsaved.v[i].a);
    alerts_flush(h->engine, &h->unsaved);
    s_save(h, store);
    s_gauges(h);
}

void alerts_hook_run_changed(void *hook, const char *run, const char *new_name, const int64_t *sids,
                             size_t nsids)
{
    alerts_hook_t *h = hook;
    (void)sids;
    (void)nsids;
    alert_changes_t ends = {0};
    alerts_run_changed(h->engine, run, new_name, ew_now(), &ends);
    /* Alertmanager keeps a firing alert until told it resolved: the old
     * labels end, a renamed run's alert goes on under the new ones. The
     * webhooks and the hook were told of the episode once; a deletion or a
     * rename is not news about the metric, so they hear nothing. */
    for (size_t i = 0; i < ends.n; i++)
        notify_post(h->notify, &ends.v[i].a, 1);
    alert_changes_free(&ends);
    /* Changes not yet written (the table was failing) follow the run. */
    size_t k = 0;
    for (size_t i = 0; i < h->unsaved.n; i++) {
        alert_change_t *c = &h->unsaved.v[i];
        if (strcmp(c->a.run, run) != 0) {
            h->unsaved.v[k++] = *c;
            continue;
        }
        if (!new_name)
            continue;
        snprintf(c->a.run, sizeof c->a.run, "%s", new_name);
        h->unsaved.v[k++] = *c;
    }
    h->unsaved.n = k;
    s_gauges(h);
}

void alerts_hook_destroy(alerts_hook_t **hp)
{
    if (!hp || !*hp)
        return;
    alerts_hook_t *h = *hp;
    alerts_destroy(&h->engine);
    alert_changes_free(&h->unsaved);
    free(h);
    *hp = NULL;
}
