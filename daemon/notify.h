/* notify.h: sending alerts out, the way Prometheus does.
 *
 * Three kinds of target, each on its OWN thread with its own bounded queue,
 * so a receiver that is down, slow or hung never blocks the writer (which
 * only copies an alert into each queue) nor the other targets:
 *
 *  - Alertmanager (--alertmanager URL): POSTs to URL/api/v2/alerts. A firing
 *    alert is re-sent every resend_s with endsAt = now + 4 * resend_s, so
 *    Alertmanager keeps it active while we do and resolves it on its own if
 *    the daemon dies; a resolved alert (endsAt = its resolution) is re-sent
 *    for 15 minutes, as Prometheus does, so a restarted Alertmanager learns
 *    of it too.
 *  - webhook (--webhook URL): POSTs Alertmanager's webhook payload (version
 *    "4"), one notification per fired or resolved alert, so receivers written
 *    for Alertmanager work unchanged. A failed POST is retried with backoff
 *    (0.5 s doubling to 30 s) for up to retry_s, in order.
 *  - exec (--alert-exec CMD): runs `/bin/sh -c CMD` with the same payload on
 *    stdin and ERWATCH_* variables in its environment, killed after
 *    timeout_ms; not retried (a hook that stops a job must not run twice
 *    because it was slow once).
 *
 * A full queue drops the new notification, counts it and logs it. Every
 * send and failure is a log line and a counter in stats (/api/health).
 *
 * Ownership: notify_start() returns an owned notifier that notify_stop(&n)
 * stops (after trying, for at most about timeout_ms more, to deliver what is
 * queued) and frees. notify_post() may be called from any one thread.
 */
#ifndef ERWATCH_NOTIFY_H
#define ERWATCH_NOTIFY_H

#include <stddef.h>

#include "alerts.h"
#include "stats.h"
#include "strbuf.h"

#define NOTIFY_TARGETS_MAX 8

typedef struct notify notify_t;

typedef struct {
    const char *alertmanagers[NOTIFY_TARGETS_MAX]; /* base URLs */
    size_t nalertmanagers;
    const char *webhooks[NOTIFY_TARGETS_MAX];
    size_t nwebhooks;
    const char *exec_cmd;     /* NULL or "": none */
    const char *external_url; /* the dashboard, e.g. "http://127.0.0.1:8080" */
    double resend_s;          /* Alertmanager re-send interval (60) */
    int timeout_ms;           /* per POST and per hook run (5000) */
    double retry_s;           /* a webhook notification is given up after (600) */
    size_t queue_max;         /* notifications waiting per target (256) */
    stats_t *stats;           /* counters; may be NULL */
} notify_config_t;

/* Starts one thread per target. Returns NULL with err filled when a thread
 * cannot start; a config with no target gives a notifier that does nothing. */
notify_t *notify_start(const notify_config_t *cfg, char *err, size_t errlen);
/* Queues a copy of a (firing or resolved) for every target; never blocks.
 * resend_only: only the Alertmanager targets get it (an alert already
 * notified before a restart, which Alertmanager must keep seeing). */
void notify_post(notify_t *n, const alert_t *a, int resend_only);
void notify_stop(notify_t **n);

/* ---- payloads (pure; notify_payload.c) ---- */

/* Alertmanager's fingerprint of the alert's label set (FNV-1a 64 over the
 * sorted names and values, 0xff-separated), as 16 hex digits. */
void notify_fingerprint(const alert_t *a, char out[17]);
/* "2025-01-02T03:04:05.678Z"; t <= 0 or NAN gives Go's zero time
 * "0001-01-01T00:00:00Z" (what Alertmanager sends for "not ended"). */
void notify_rfc3339(double t, char *out, size_t outlen);
/* The dashboard view of the alert's series: external_url/?run=R&tag=T&metric=M */
void notify_generator_url(strbuf_t *b, const char *external_url, const alert_t *a);
/* One element of POST /api/v2/alerts. A firing alert ends at ends_at (the
 * caller's now + 4 resend intervals), a resolved one at its resolution. */
void notify_am_alert_json(strbuf_t *b, const alert_t *a, const char *external_url, double ends_at);
/* A URL as the log shows it: scheme, host and port kept; the user and
 * password become "***@" and a path or query (which often carry tokens)
 * "/...", so "http://u:p@hooks.example:8443/T0K3N" is logged as
 * http:// ***@hooks.example:8443/... (without the space). */
void notify_redact_url(const char *url, char *out, size_t outlen);
/* The webhook payload (Alertmanager's version "4") for one alert. */
void notify_webhook_json(strbuf_t *b, const alert_t *a, const char *external_url);

#endif
