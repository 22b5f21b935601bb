/* http_prom.c: GET /metrics (see http_prom.h). The health families mirror
 * /api/health one for one, so a Grafana panel and the JSON answer agree;
 * the run families come from one read of the latest points (query_latest). */
#include "http_prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"
#include "prom.h"

int http_prom_parse(const params_t *p, http_prom_opts_t *o, char *msg, size_t msglen)
{
    o->window_s = HTTP_PROM_WINDOW_DEFAULT;
    o->limit = HTTP_PROM_LIMIT_DEFAULT;
    static const struct {
        const char *name;
        int64_t max;
    } ps[2] = {{"window", HTTP_PROM_WINDOW_MAX}, {"limit", HTTP_PROM_LIMIT_MAX}};
    for (int i = 0; i < 2; i++) {
        int bad = 0;
        const char *v = params_get(p, ps[i].name, &bad);
        if (!v)
            continue;
        int64_t x;
        if (bad || params_i64(v, &x) != 0 || x < 1 || x > ps[i].max) {
            snprintf(msg, msglen, "parameter '%s' must be an integer from 1 to %" PRId64,
                     ps[i].name, ps[i].max);
            return -1;
        }
        if (i == 0)
            o->window_s = (double)x;
        else
            o->limit = (size_t)x;
    }
    return 0;
}

/* ------------------------------------------------------------ health */

static void s_counter(strbuf_t *b, const char *name, const char *help, uint64_t v)
{
    prom_family(b, name, "counter", help);
    prom_sample_u64(b, name, NULL, NULL, 0, v);
}

static void s_gauge(strbuf_t *b, const char *name, const char *help, double v)
{
    prom_family(b, name, "gauge", help);
    prom_sample(b, name, NULL, NULL, 0, v);
}

static void s_queues(strbuf_t *b, queue_t *in, queue_t *out)
{
    static const char *const key[1] = {"queue"};
    static const char *const names[2] = {"in", "out"};
    queue_t *qs[2] = {in, out};
    size_t items[2] = {0, 0}, bytes[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        if (qs[i])
            queue_depth(qs[i], &items[i], &bytes[i]);
    prom_family(
        b, "erwatch_queue_items", "gauge",
        "Items waiting: in = decoded batches for the workers, out = results for the writer.");
    for (int i = 0; i < 2; i++)
        prom_sample_u64(b, "erwatch_queue_items", key, &names[i], 1, items[i]);
    prom_family(b, "erwatch_queue_bytes", "gauge",
                "Bytes held by the items waiting (counted against --max-queue-mb).");
    for (int i = 0; i < 2; i++)
        prom_sample_u64(b, "erwatch_queue_bytes", key, &names[i], 1, bytes[i]);
}

static void s_commit_histogram(strbuf_t *b, const stats_t *s)
{
    static const char *const key[1] = {"le"};
    const char *name = "erwatch_commit_duration_seconds_bucket";
    prom_family(b, "erwatch_commit_duration_seconds", "histogram",
                "Time the writer took per successful grouped commit.");
    uint64_t cum = 0;
    for (int i = 0; i < EW_COMMIT_BUCKETS; i++) {
        cum += stats_get(&s->commit_hist[i]);
        char le[STRBUF_NUM_LEN];
        if (i < EW_COMMIT_BUCKETS - 1)
            strbuf_format_double(le, stats_commit_le[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        const char *val[1] = {le};
        prom_sample_u64(b, name, key, val, 1, cum);
    }
    prom_sample(b, "erwatch_commit_duration_seconds_sum", NULL, NULL, 0,
                (double)stats_get(&s->commit_us_sum) / 1e6);
    prom_sample_u64(b, "erwatch_commit_duration_seconds_count", NULL, NULL, 0, cum);
}

static void s_health(strbuf_t *b, const stats_t *s, queue_t *in, queue_t *out, int64_t dropped,
                     int readable, const char *version)
{
    static const char *const vkey[1] = {"version"};
    const char *vval[1] = {version};
    prom_family(b, "erwatch_build_info", "gauge", "Always 1; the daemon's version as a label.");
    prom_sample(b, "erwatch_build_info", vkey, vval, 1, 1);
    s_gauge(b, "erwatch_start_time_seconds", "When the daemon started (Unix seconds).",
            s->start_time);
    s_counter(b, "erwatch_batches_received_total", "Messages read from ZeroMQ.",
              stats_get(&s->received));
    s_counter(b, "erwatch_batches_accepted_total", "Batches decoded and queued.",
              stats_get(&s->accepted));
    prom_family(b, "erwatch_batches_rejected_total", "counter",
                "Messages rejected, by reason (schema/protocol.md).");
    static const char *const rkey[1] = {"reason"};
    for (int r = 0; r < EW_REJ_COUNT; r++) {
        const char *val[1] = {decode_reason_name((ew_reject_t)r)};
        prom_sample_u64(b, "erwatch_batches_rejected_total", rkey, val, 1,
                        stats_get(&s->rejected[r]));
    }
    s_counter(b, "erwatch_batches_computed_total", "Batches through a worker.",
              stats_get(&s->computed));
    s_counter(b, "erwatch_batches_stored_total", "Batches committed to the database.",
              stats_get(&s->stored));
    s_counter(b, "erwatch_points_written_total", "Points written.", stats_get(&s->points_written));
    s_counter(b, "erwatch_undefined_metrics_total",
              "Metric values undefined for their batch (stored as NULL).",
              stats_get(&s->undefined_metrics));
    s_counter(b, "erwatch_store_errors_total", "Failed write transactions (each retry counts).",
              stats_get(&s->store_errors));
    s_counter(b, "erwatch_store_lost_total", "Results given up at shutdown.",
              stats_get(&s->store_lost));
    s_gauge(b, "erwatch_store_up", "0 while the writer's commits fail, else 1.",
            (double)stats_get(&s->store_up));
    s_gauge(b, "erwatch_store_readable", "1 when this answer could read the database, else 0.",
            readable);
    s_queues(b, in, out);
    prom_family(b, "erwatch_worker_busy_seconds_total", "counter",
                "Time workers spent computing, summed over workers.");
    prom_sample(b, "erwatch_worker_busy_seconds_total", NULL, NULL, 0,
                (double)stats_get(&s->worker_busy_us) / 1e6);
    s_commit_histogram(b, s);
    s_counter(b, "erwatch_pool_complete_total", "Pooled batches made of every rank's part.",
              stats_get(&s->pool_complete));
    s_counter(b, "erwatch_pool_partial_total",
              "Pooled batches sent on timeout without some ranks' parts.",
              stats_get(&s->pool_partial));
    s_counter(b, "erwatch_pool_evicted_total",
              "Pooled batches sent early, partial, for memory or at shutdown.",
              stats_get(&s->pool_evicted));
    s_gauge(b, "erwatch_pool_waiting_steps", "Pooled steps waiting for ranks' parts.",
            (double)stats_get(&s->pool_groups));
    s_gauge(b, "erwatch_pool_waiting_bytes",
            "Bytes of the parts waiting (counted against --max-queue-mb).",
            (double)stats_get(&s->pool_bytes));
    s_gauge(b, "erwatch_client_dropped",
            "Sum over runs of the latest drop count the clients reported.", (double)dropped);
    s_gauge(b, "erwatch_alert_rules", "Alert rules loaded.", (double)stats_get(&s->alert_rules));
    s_gauge(b, "erwatch_alerts_pending", "Alerts pending.", (double)stats_get(&s->alerts_pending));
    s_gauge(b, "erwatch_alerts_firing", "Alerts firing.", (double)stats_get(&s->alerts_firing));
    s_counter(b, "erwatch_alerts_fired_total", "Alert episodes that fired since start.",
              stats_get(&s->alerts_fired));
    s_counter(b, "erwatch_notifications_sent_total", "Notifications delivered.",
              stats_get(&s->notify_sent));
    s_counter(b, "erwatch_notifications_errors_total", "Failed notification attempts.",
              stats_get(&s->notify_errors));
    s_counter(b, "erwatch_notifications_dropped_total",
              "Notifications given up (queue full or retries out).", stats_get(&s->notify_dropped));
    s_counter(b, "erwatch_auth_refused_total",
              "CURVE handshakes refused: the client's key is not listed.",
              stats_get(&s->auth_refused));
    s_counter(b, "erwatch_handshake_failed_total",
              "CURVE handshakes that failed (plaintext client, wrong server key).",
              stats_get(&s->handshake_failed));
    s_counter(b, "erwatch_discarded_at_stop_total",
              "Messages still arriving after shutdown began, not stored.",
              stats_get(&s->discarded_at_stop));
    s_counter(b, "erwatch_runs_deleted_total", "Runs deleted (erwatch rm and retention).",
              stats_get(&s->runs_deleted));
    s_counter(b, "erwatch_runs_renamed_total", "Runs renamed (erwatch mv).",
              stats_get(&s->runs_renamed));
    s_counter(b, "erwatch_runs_retention_deleted_total", "Runs deleted by retention.",
              stats_get(&s->retention_deleted));
    s_counter(b, "erwatch_rows_purged_total", "Rows of deleted runs removed.",
              stats_get(&s->rows_purged));
}

/* ------------------------------------------------------------ runs */

typedef struct {
    strbuf_t metric, step;   /* the two families' samples */
    char run[512], tag[512]; /* the (run, tag) being gathered ... */
    int64_t max_step;        /* ... and its highest step so far */
    int have;
} s_latest_t;

static void s_flush_step(s_latest_t *l)
{
    if (!l->have)
        return;
    static const char *const keys[2] = {"run", "tag"};
    const char *vals[2] = {l->run, l->tag};
    prom_sample(&l->step, "erwatch_step", keys, vals, 2, (double)l->max_step);
    l->have = 0;
}

static int s_on_point(void *ctx, const char *run, const char *tag, const char *metric, int64_t step,
                      double value)
{
    s_latest_t *l = ctx;
    static const char *const keys[3] = {"run", "tag", "metric"};
    const char *vals[3] = {run, tag, metric};
    prom_sample(&l->metric, "erwatch_metric", keys, vals, 3, value);
    if (!l->have || strcmp(l->run, run) != 0 || strcmp(l->tag, tag) != 0) {
        s_flush_step(l);
        snprintf(l->run, sizeof l->run, "%s", run);
        snprintf(l->tag, sizeof l->tag, "%s", tag);
        l->max_step = step;
        l->have = 1;
    } else if (step > l->max_step) {
        l->max_step = step;
    }
    return 0;
}

int http_prom_body(query_t *q, const stats_t *s, queue_t *in, queue_t *out,
                   const http_prom_opts_t *o, double now, const char *version, strbuf_t *b)
{
    int64_t dropped = q ? query_client_dropped(q) : -1;
    s_latest_t l;
    memset(&l, 0, sizeof l);
    strbuf_init(&l.metric);
    strbuf_init(&l.step);
    int more = 0;
    long n = -1;
    char err[256];
    if (q)
        n = query_latest(q, now - o->window_s, o->limit, s_on_point, &l, &more, err, sizeof err);
    s_flush_step(&l);
    int readable = q && dropped >= 0 && n >= 0;
    s_health(b, s, in, out, dropped > 0 ? dropped : 0, readable, version);

    prom_family(b, "erwatch_metric", "gauge",
                "Latest stored value of each metric and scalar of the runs active in the window.");
    if (n > 0)
        strbuf_append(b, l.metric.data, l.metric.len);
    prom_family(b, "erwatch_step", "gauge", "Highest step stored of each (run, tag) exposed.");
    if (n > 0)
        strbuf_append(b, l.step.data, l.step.len);
    s_gauge(b, "erwatch_metric_truncated",
            "1 when the limit left some erwatch_metric series out of this answer.", more);
    strbuf_free(&l.metric);
    strbuf_free(&l.step);
    return readable ? 0 : -1;
}
