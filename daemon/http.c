/* http.c: the JSON API and the dashboard over libmicrohttpd (see http.h).
 *
 * Design decisions a reader must know:
 *
 * - We create, bind and listen on the socket ourselves and hand it to
 *   libmicrohttpd (MHD_OPTION_LISTEN_SOCKET) instead of MHD_OPTION_SOCK_ADDR.
 *   MHD reports a failed bind only in its log, with no errno; binding here
 *   gives the exact reason ("cannot listen on 127.0.0.1:8080: Address already
 *   in use") with no test-then-bind race. MHD owns the socket from then on
 *   (it closes it in MHD_stop_daemon, and, as 0.9.75 does, when
 *   MHD_start_daemon fails after taking it).
 * - Handlers run on MHD's worker threads and read through a pool of
 *   read-only query_t connections, opened lazily, never the writer's. There
 *   are at most threads + 1 of them, so a handler (one per worker thread)
 *   never waits for one in practice; the condvar is a safeguard. A connection
 *   that reported a database error is closed rather than returned, so a bad
 *   handle cannot poison later requests.
 * - Every response body is built in a strbuf_t and handed to MHD with
 *   MHD_RESPMEM_MUST_FREE: no copy, and MHD frees it after sending. Handlers
 *   do bounded work (one query, one pass over the points) and never block on
 *   the writer (WAL).
 * - Query parameters are parsed strictly (the whole string, no overflow) and
 *   every rejection names the parameter, because the callers are people
 *   typing URLs and scripts that need to know what to fix.
 * - Live updates are incremental polling, not Server-Sent Events. An SSE
 *   stream is a response that never ends: in MHD's thread-pool mode its
 *   content callback either blocks a pool thread per open tab (four tabs
 *   and the API stops answering) or needs suspend/resume plumbing plus a
 *   notifier thread watching the database. The dashboard instead asks
 *   GET /api/runs once a second (one small query) and, for a series whose
 *   last step moved, GET /api/series?after=<last step it has>: an index
 *   seek that returns only the new points. Every request is short, the
 *   thread pool stays bounded, a sleeping laptop or a proxy cannot leave a
 *   stuck stream behind, and a new point shows within about a second
 *   (poll interval + --commit-ms).
 * - Static files (the dashboard) are http_static.c's, the reference levels
 *   in a series' "ref" metrics_levels.c's: this file routes, pools
 *   connections and writes the API's answers.
 */
#include "http.h"
#include "params.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "decode.h"
#include "downsample.h"
#include "http_alerts.h"
#include "http_prom.h"
#include "http_run.h"
#include "http_runs.h"
#include "http_static.h"
#include "log.h"
#include "metrics_levels.h"
#include "query.h"
#include "rules.h"
#include "strbuf.h"
#include "webconfig.h"

#ifndef EW_VERSION
#define EW_VERSION "0.1.0"
#endif

#define S_CONN_TIMEOUT_S 10u              /* idle or slow connections are closed after this */
#define S_PER_IP_LIMIT 64u                /* connections from one address at a time */
#define S_MAX_PARAMS 64                   /* query parameters a request may carry */
#define S_CONN_MEMORY ((size_t)128 << 10) /* MHD's per-connection pool */
#define S_CONN_LIMIT_MIN 256u
#define S_LISTEN_BACKLOG 128

#define S_CT_CSV "text/csv; charset=utf-8"
#define S_CACHE_BYTES ((size_t)128 << 20) /* series kept in memory (query.h) */

struct http {
    struct MHD_Daemon *mhd;
    int port;
    char *db_path;
    stats_t *stats;
    queue_t *in_queue;
    queue_t *out_queue;
    char *web_dir;           /* NULL: no dashboard installed */
    char external_host[256]; /* --external-url's host, lower case, or "" */
    webconfig_t *web;        /* TLS and users, or NULL */
    char hostname[256];      /* this machine's name, lower case */
    query_cache_t *cache;    /* large unchanged series, shared by the pool */
    lifecycle_t *lifecycle;  /* the writes (http_runs.c); NULL: refused */
    char name[160];          /* --name */
    char store[32];          /* "sqlite", "postgresql" */
    int ingest;              /* 0: --zmq none */

    /* The read-only connection pool, guarded by `lock`. nopen counts idle
     * connections, busy ones and slots reserved by a thread that is opening
     * one outside the lock. */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    query_t **idle;
    size_t nidle;
    size_t nopen;
    size_t maxopen;
};

/* ------------------------------------------------------------ responses */

static enum MHD_Result s_send(struct MHD_Connection *c, unsigned status, const char *ctype,
                              strbuf_t *body, const char *allow)
{
    size_t len = body->len;
    char *data = strbuf_steal(body);
    strbuf_free(body); /* steal leaves a fresh empty buffer behind */
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_send_json(struct MHD_Connection *c, unsigned status, strbuf_t *body)
{
    return s_send(c, status, HTTP_CT_JSON, body, NULL);
}

/* {"error":"<printf>"} with the given status. */
__attribute__((format(printf, 3, 4))) static enum MHD_Result
s_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap); /* messages may echo long names */
    va_end(ap);
    if (n < 0)
        abort(); /* out of memory: daemon policy */
    strbuf_t body;
    strbuf_init(&body);
    strbuf_puts(&body, "{\"error\":");
    strbuf_json_str(&body, msg);
    strbuf_putc(&body, '}');
    free(msg);
    return s_send_json(c, status, &body);
}

/* A query that failed (query.h): 503 when the database server cannot be
 * reached for now (-EAGAIN: a client may retry), else 500. */
static enum MHD_Result s_db_error(struct MHD_Connection *c, int rc, const char *err)
{
    if (rc == -EAGAIN)
        return s_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable: %s", err);
    return s_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "database error: %s", err);
}

/* ------------------------------------------------------------ query pool */

/* Returns 0 and *out, -ENOENT when the database does not exist yet,
 * -EAGAIN when its server cannot be reached, or -EIO with err filled when
 * it cannot be opened (query_open). */
static int s_pool_get(http_t *h, query_t **out, char *err, size_t errlen)
{
    pthread_mutex_lock(&h->lock);
    for (;;) {
        if (h->nidle > 0) {
            *out = h->idle[--h->nidle];
            pthread_mutex_unlock(&h->lock);
            return 0;
        }
        if (h->nopen < h->maxopen)
            break;
        pthread_cond_wait(&h->freed, &h->lock);
    }
    h->nopen++; /* reserve the slot; open outside the lock */
    pthread_mutex_unlock(&h->lock);

    int rc = query_open(out, h->db_path, err, errlen);
    if (rc == 0) {
        query_use_cache(*out, h->cache);
        return 0;
    }
    if (rc != -ENOENT && rc != -EAGAIN)
        rc = -EIO;

    *out = NULL;
    pthread_mutex_lock(&h->lock);
    h->nopen--;
    pthread_cond_signal(&h->freed);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* Returns q to the pool, or closes it when it reported an error. */
static void s_pool_put(http_t *h, query_t *q, int broken)
{
    if (!q)
        return;
    if (broken)
        query_close(&q);
    pthread_mutex_lock(&h->lock);
    if (q)
        h->idle[h->nidle++] = q;
    else
        h->nopen--;
    pthread_cond_signal(&h->freed);
    pthread_mutex_unlock(&h->lock);
}

/* Takes a connection or queues the matching error response. Returns 0 with
 * *q set, or -1 with *ret set to the queued response's result. */
static int s_pool_get_or_respond(http_t *h, struct MHD_Connection *c, query_t **q,
                                 enum MHD_Result *ret)
{
    char err[256] = "";
    int rc = s_pool_get(h, q, err, sizeof err);
    if (rc == 0)
        return 0;
    if (rc == -ENOENT)
        *ret = s_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "database not ready");
    else if (rc == -EAGAIN)
        *ret = s_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable: %s", err);
    else
        *ret = s_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot open database: %s", err);
    return -1;
}

/* ------------------------------------------------------------ parameters */

/* The query string through libmicrohttpd, for params.h (which parses it). */
static const char *s_mhd_get(void *ctx, const char *name, size_t *len)
{
    const char *v = NULL;
    *len = 0;
    if (MHD_lookup_connection_value_n((struct MHD_Connection *)ctx, MHD_GET_ARGUMENT_KIND, name,
                                      strlen(name), &v, len) != MHD_YES)
        return NULL;
    return v ? v : ""; /* "?run" without '=' */
}

/* Every value of a repeated parameter ("?run=a&run=b"), for params.h. */
typedef struct {
    const char *name;
    const char **vals;
    size_t *lens, max, n;
} s_all_t;

static enum MHD_Result s_mhd_each(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    s_all_t *a = cls;
    (void)kind;
    if (key && key_size == strlen(a->name) && memcmp(key, a->name, key_size) == 0) {
        if (a->n < a->max) {
            a->vals[a->n] = value ? value : "";
            a->lens[a->n] = value ? value_size : 0;
        }
        a->n++;
    }
    return MHD_YES;
}

static size_t s_mhd_all(void *ctx, const char *name, const char **vals, size_t *lens, size_t max)
{
    s_all_t a = {name, vals, lens, max, 0};
    MHD_get_connection_values_n((struct MHD_Connection *)ctx, MHD_GET_ARGUMENT_KIND, s_mhd_each,
                                &a);
    return a.n;
}

static params_t s_params(struct MHD_Connection *c)
{
    return (params_t){s_mhd_get, c, s_mhd_all};
}

/* An optional parameter (NULL when absent); *has_nul when it holds a NUL. */
static const char *s_arg(struct MHD_Connection *c, const char *name, int *has_nul)
{
    params_t p = s_params(c);
    return params_get(&p, name, has_nul);
}

/* ------------------------------------------------------------ /api/health */

static void s_put_queue(strbuf_t *b, const char *name, queue_t *q)
{
    size_t items = 0, bytes = 0;
    if (q)
        queue_depth(q, &items, &bytes);
    strbuf_printf(b, "\"%s\":{\"items\":%zu,\"bytes\":%zu}", name, items, bytes);
}

static enum MHD_Result s_health(http_t *h, struct MHD_Connection *c)
{
    /* client_dropped is the only value read from the database; health must
     * answer even before the database exists (0 then). */
    int64_t dropped = 0;
    query_t *q = NULL;
    char err[256];
    if (s_pool_get(h, &q, err, sizeof err) == 0) {
        dropped = query_client_dropped(q);
        s_pool_put(h, q, dropped < 0);
        if (dropped < 0)
            dropped = 0;
    }

    stats_t *s = h->stats;
    stats_t zero;
    if (!s) {
        stats_init(&zero, ew_now());
        s = &zero;
    }
    double now = ew_now(), uptime = now - s->start_time;
    if (!(uptime >= 0))
        uptime = 0;
    /* "ok" only while results reach the database: a failing store (disk
     * full, damaged pages) is "degraded" with its reason and a 503, so a
     * load balancer or a probe sees it; "ok" again once a commit works. */
    char why[256];
    double since;
    int failing = stats_store_state(s, why, sizeof why, &since);

    strbuf_t b;
    strbuf_init(&b);
    strbuf_printf(&b, "{\"status\":\"%s\",", failing ? "degraded" : "ok");
    if (failing) {
        strbuf_puts(&b, "\"reason\":");
        char reason[400];
        snprintf(reason, sizeof reason, "cannot store results for %.0f s: %s",
                 now - since > 0 ? now - since : 0, why);
        strbuf_json_str(&b, reason);
        strbuf_putc(&b, ',');
    }
    strbuf_puts(&b, "\"version\":");
    strbuf_json_str(&b, EW_VERSION);
    strbuf_printf(&b, ",\"uptime_s\":%.3f", uptime);
    /* which daemon of a lab's many answers, and what it does */
    strbuf_puts(&b, ",\"name\":");
    strbuf_json_str(&b, h->name);
    strbuf_puts(&b, ",\"store\":");
    strbuf_json_str(&b, h->store);
    strbuf_printf(&b, ",\"ingest\":%s", h->ingest ? "true" : "false");
    strbuf_printf(&b,
                  ",\"batches\":{\"received\":%" PRIu64 ",\"accepted\":%" PRIu64
                  ",\"rejected\":%" PRIu64 ",\"computed\":%" PRIu64 ",\"stored\":%" PRIu64 "}",
                  stats_get(&s->received), stats_get(&s->accepted), stats_rejected_total(s),
                  stats_get(&s->computed), stats_get(&s->stored));
    strbuf_puts(&b, ",\"rejected\":{");
    for (int r = 0; r < EW_REJ_COUNT; r++) {
        if (r)
            strbuf_putc(&b, ',');
        strbuf_json_str(&b, decode_reason_name((ew_reject_t)r));
        strbuf_printf(&b, ":%" PRIu64, stats_get(&s->rejected[r]));
    }
    strbuf_printf(&b,
                  "},\"auth\":{\"refused\":%" PRIu64 ",\"handshake_failed\":%" PRIu64
                  "},\"discarded_at_stop\":%" PRIu64 ",\"points_written\":%" PRIu64
                  ",\"store_errors\":%" PRIu64 ",\"undefined_metrics\":%" PRIu64,
                  stats_get(&s->auth_refused), stats_get(&s->handshake_failed),
                  stats_get(&s->discarded_at_stop), stats_get(&s->points_written),
                  stats_get(&s->store_errors), stats_get(&s->undefined_metrics));
    strbuf_puts(&b, ",\"queue\":{");
    s_put_queue(&b, "in", h->in_queue);
    strbuf_putc(&b, ',');
    s_put_queue(&b, "out", h->out_queue);
    strbuf_printf(&b, "},\"client_dropped\":%" PRId64, dropped);
    strbuf_printf(
        &b,
        ",\"pool\":{\"complete\":%" PRIu64 ",\"partial\":%" PRIu64 ",\"evicted\":%" PRIu64
        ",\"late\":%" PRIu64 ",\"duplicate\":%" PRIu64 ",\"mismatched\":%" PRIu64
        ",\"too_large\":%" PRIu64 ",\"waiting\":{\"steps\":%" PRIu64 ",\"bytes\":%" PRIu64 "}}",
        stats_get(&s->pool_complete), stats_get(&s->pool_partial), stats_get(&s->pool_evicted),
        stats_get(&s->rejected[EW_REJ_POOL_LATE]), stats_get(&s->rejected[EW_REJ_POOL_DUPLICATE]),
        stats_get(&s->rejected[EW_REJ_POOL_MISMATCH]),
        stats_get(&s->rejected[EW_REJ_POOL_TOO_LARGE]), stats_get(&s->pool_groups),
        stats_get(&s->pool_bytes));
    http_alerts_health(&b, s);      /* http_alerts.c */
    http_runs_health(&b, h->stats); /* http_runs.c */
    strbuf_putc(&b, '}');
    return s_send_json(c, failing ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, &b);
}

/* ------------------------------------------------------------ /api/runs */

static enum MHD_Result s_runs(http_t *h, struct MHD_Connection *c)
{
    int csv;
    query_runs_filter_t f;
    char msg[256];
    params_t prm = s_params(c);
    if (params_runs(&prm, &f, &csv, msg, sizeof msg) != 0)
        return s_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);

    enum MHD_Result ret;
    query_t *q;
    if (s_pool_get_or_respond(h, c, &q, &ret) != 0)
        return ret;

    /* The epoch tells `since` readers that runs left or were renamed. */
    char epoch[64], extra[80];
    http_runs_epoch(h->stats, epoch, sizeof epoch);
    snprintf(extra, sizeof extra, ",\"epoch\":\"%s\"", epoch);
    strbuf_t b;
    strbuf_init(&b);
    char err[256] = "";
    int rc = query_runs_filtered(q, &f, &b, csv, extra, err, sizeof err);
    s_pool_put(h, q, rc != 0);
    if (rc != 0) {
        strbuf_free(&b);
        return s_db_error(c, rc, err);
    }
    return s_send(c, MHD_HTTP_OK, csv ? S_CT_CSV : HTTP_CT_JSON, &b, NULL);
}

/* ------------------------------------------------------------ /api/series */

typedef params_series_t s_series_req_t;

static int s_series_parse(struct MHD_Connection *c, s_series_req_t *r, int nnames, char *msg,
                          size_t msglen)
{
    params_t p = s_params(c);
    return params_series(&p, nnames, r, msg, msglen);
}

/* ------------------------------------------------------------ references */

/* Reference levels of a metric for the latest batch shape of its run/tag:
 * where a fully collapsed batch lands and where a healthy one does. A level
 * is NAN when the metric has none. */
typedef struct {
    double collapsed, ideal;
} s_ref_t;

static s_ref_t s_refs(const char *metric, const query_shape_t *sh)
{
    s_ref_t r = {NAN, NAN};
    if (sh->n < 1 || sh->d < 1 || sh->n > UINT32_MAX || sh->d > UINT32_MAX)
        return r;
    metrics_chart_levels(metric, sh->discrete ? EW_SUPPORT_DISCRETE : EW_SUPPORT_SPHERE,
                         (uint32_t)sh->n, (uint32_t)sh->d, sh->kappa, &r.ideal, &r.collapsed);
    return r;
}

/* ------------------------------------------------------------ numbers */

static void s_num(strbuf_t *b, double v)
{
    strbuf_json_num(b, v);
}

static void s_json_doubles(strbuf_t *b, const char *key, const double *v, size_t n)
{
    strbuf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(b, ',');
        s_num(b, v[i]);
    }
    strbuf_putc(b, ']');
}

/* Steps as integers, without printf. */
static void s_json_steps(strbuf_t *b, const int64_t *st, size_t n)
{
    strbuf_puts(b, ",\"step\":[");
    for (size_t i = 0; i < n; i++) {
        char tmp[24], *p = tmp + sizeof tmp;
        uint64_t u = st[i] < 0 ? 0 - (uint64_t)st[i] : (uint64_t)st[i];
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (st[i] < 0)
            *--p = '-';
        if (i)
            strbuf_putc(b, ',');
        strbuf_append(b, p, (size_t)(tmp + sizeof tmp - p));
    }
    strbuf_putc(b, ']');
}

static void s_series_json(strbuf_t *b, const s_series_req_t *r, const series_t *s,
                          const s_ref_t *ref, const query_shape_t *sh)
{
    strbuf_puts(b, "{\"run\":");
    strbuf_json_str(b, r->run);
    strbuf_puts(b, ",\"tag\":");
    strbuf_json_str(b, r->tag);
    strbuf_puts(b, ",\"metric\":");
    strbuf_json_str(b, r->metric);
    strbuf_printf(b, ",\"bucketed\":%s", s->bucketed ? "true" : "false");
    s_json_steps(b, s->step, s->n);
    s_json_doubles(b, "value", s->value, s->n);
    if (s->bucketed) {
        s_json_doubles(b, "min", s->min, s->n);
        s_json_doubles(b, "max", s->max, s->n);
    }
    if (s->time)
        s_json_doubles(b, "time", s->time, s->n);
    if (ref && (!isnan(ref->collapsed) || !isnan(ref->ideal))) {
        strbuf_puts(b, ",\"ref\":{\"collapsed\":");
        strbuf_json_num(b, ref->collapsed);
        strbuf_puts(b, ",\"ideal\":");
        strbuf_json_num(b, ref->ideal);
        strbuf_printf(b, ",\"n\":%" PRId64 ",\"d\":%" PRId64 ",\"kappa\":", sh->n, sh->d);
        strbuf_json_num(b, sh->kappa);
        strbuf_printf(b, ",\"support\":\"%s\",\"step\":%" PRId64 "}",
                      ew_support_name(sh->discrete ? EW_SUPPORT_DISCRETE : EW_SUPPORT_SPHERE),
                      sh->step);
    }
    strbuf_putc(b, '}');
}

/* A CSV number: the JSON spelling for finite values, an empty field for
 * NaN (undefined metric) so that spreadsheet tools see a missing cell. */
static void s_csv_num(strbuf_t *b, double v)
{
    if (isfinite(v))
        s_num(b, v);
}

static void s_series_csv(strbuf_t *b, const series_t *s)
{
    strbuf_puts(b, s->bucketed ? "step,value,min,max" : "step,value");
    strbuf_puts(b, s->time ? ",time\n" : "\n");
    for (size_t i = 0; i < s->n; i++) {
        strbuf_printf(b, "%" PRId64 ",", s->step[i]);
        s_csv_num(b, s->value[i]);
        if (s->bucketed) {
            strbuf_putc(b, ',');
            s_csv_num(b, s->min[i]);
            strbuf_putc(b, ',');
            s_csv_num(b, s->max[i]);
        }
        if (s->time) {
            strbuf_putc(b, ',');
            s_csv_num(b, s->time[i]);
        }
        strbuf_putc(b, '\n');
    }
}

static enum MHD_Result s_series(http_t *h, struct MHD_Connection *c)
{
    s_series_req_t r;
    char msg[256];
    if (s_series_parse(c, &r, 3, msg, sizeof msg) != 0)
        return s_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);

    enum MHD_Result ret;
    query_t *q;
    if (s_pool_get_or_respond(h, c, &q, &ret) != 0)
        return ret;

    series_t s;
    char err[256] = "";
    query_view_t v = {.run = r.run,
                      .tag = r.tag,
                      .metric = r.metric,
                      .after = r.after,
                      .before = r.before,
                      .points = r.points,
                      .with_time = r.with_time};
    int rc = query_series_view(q, &v, &s, err, sizeof err);
    query_shape_t sh;
    memset(&sh, 0, sizeof sh);
    s_ref_t ref = {NAN, NAN};
    int src =
        rc == 0 && !r.csv ? query_batch_shape(q, r.run, r.tag, &sh, err, sizeof err) : -ENOENT;
    if (src == 0)
        ref = s_refs(r.metric, &sh);
    /* An unknown series: say what the run has, so a typo is one look away. */
    strbuf_t hint;
    strbuf_init(&hint);
    int hrc = rc == -ENOENT ? query_series_hint(q, r.run, r.tag, &hint) : 0;
    s_pool_put(h, q, (rc != 0 && rc != -ENOENT) || src == -EIO || src == -EAGAIN || hrc != 0);
    if (rc == -ENOENT) {
        series_free(&s);
        enum MHD_Result ret404 =
            s_error(c, MHD_HTTP_NOT_FOUND, "no series run=%s tag=%s metric=%s%s%s", r.run, r.tag,
                    r.metric, hint.len ? "; " : "", hint.len ? hint.data : "");
        strbuf_free(&hint);
        return ret404;
    }
    strbuf_free(&hint);
    if (rc != 0 || src == -EIO || src == -EAGAIN) {
        series_free(&s);
        return s_db_error(c, rc != 0 ? rc : src, err);
    }

    strbuf_t b;
    strbuf_init(&b);
    if (r.csv)
        s_series_csv(&b, &s);
    else
        s_series_json(&b, &r, &s, &ref, &sh);
    series_free(&s);
    return s_send(c, MHD_HTTP_OK, r.csv ? S_CT_CSV : HTTP_CT_JSON, &b, NULL);
}

/* ------------------------------------------------------------ /api/spectrum */

#define S_SPECTRUM_DEFAULT_POINTS 1000
#define S_SPECTRUM_MAX_POINTS 4000 /* up to 512 values each */

/* GET /api/spectrum?run&tag[&after][&before][&points]: the stored
 * singular-value spectra of a run/tag (query_spectrum), for the dashboard's
 * heatmap. Same parameters and errors as /api/series, JSON only. */
static enum MHD_Result s_spectrum(http_t *h, struct MHD_Connection *c)
{
    s_series_req_t r;
    char msg[256];
    int nul;
    const char *pts = s_arg(c, "points", &nul);
    if (s_series_parse(c, &r, 2, msg, sizeof msg) != 0)
        return s_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);
    if (!pts)
        r.points = S_SPECTRUM_DEFAULT_POINTS;
    if (r.points > S_SPECTRUM_MAX_POINTS)
        return s_error(c, MHD_HTTP_BAD_REQUEST,
                       "parameter 'points' must be an integer from 1 to %d", S_SPECTRUM_MAX_POINTS);
    if (r.csv || r.with_time)
        return s_error(c, MHD_HTTP_BAD_REQUEST,
                       "parameter '%s' is not supported by /api/spectrum "
                       "(JSON only, steps only)",
                       r.csv ? "format" : "time");

    enum MHD_Result ret;
    query_t *q;
    if (s_pool_get_or_respond(h, c, &q, &ret) != 0)
        return ret;
    strbuf_t b;
    strbuf_init(&b);
    char err[256] = "";
    int rc = query_spectrum(q, r.run, r.tag, r.after, r.before, r.points, &b, err, sizeof err);
    s_pool_put(h, q, rc != 0 && rc != -ENOENT);
    if (rc == -ENOENT) {
        strbuf_free(&b);
        return s_error(c, MHD_HTTP_NOT_FOUND, "no spectrum run=%s tag=%s", r.run, r.tag);
    }
    if (rc != 0) {
        strbuf_free(&b);
        return s_db_error(c, rc, err);
    }
    return s_send(c, MHD_HTTP_OK, HTTP_CT_JSON, &b, NULL);
}

/* ------------------------------------------------------------ static files */

/* The dashboard's files (http_static.c); a missing one gets the API's
 * JSON 404. */
static enum MHD_Result s_static_file(http_t *h, struct MHD_Connection *c, const char *rel)
{
    enum MHD_Result ret;
    if (http_static_serve(c, h->web_dir, rel, &ret) != 0)
        return s_error(c, MHD_HTTP_NOT_FOUND, "no such file: /%s", rel);
    return ret;
}

/* ------------------------------------------------------------ /api/alerts */

/* The handler is http_alerts.c's; this only lends it a pooled connection. */
static enum MHD_Result s_alerts(http_t *h, struct MHD_Connection *c)
{
    alerts_filter_t f;
    char msg[256];
    params_t prm = s_params(c);
    if (http_alerts_parse(&prm, &f, msg, sizeof msg) != 0)
        return s_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);
    enum MHD_Result ret;
    query_t *q;
    if (s_pool_get_or_respond(h, c, &q, &ret) != 0)
        return ret;
    strbuf_t b;
    strbuf_init(&b);
    int rc = http_alerts_body(q, &f, &b, msg, sizeof msg);
    s_pool_put(h, q, rc != 0);
    if (rc != 0) {
        strbuf_free(&b);
        return s_db_error(c, rc, msg);
    }
    return s_send_json(c, MHD_HTTP_OK, &b);
}

/* ------------------------------------------------------------ /metrics */

/* The body is http_prom.c's. A database that cannot be read leaves the
 * health families (and erwatch_store_readable 0): a scrape must answer. */
static enum MHD_Result s_prom(http_t *h, struct MHD_Connection *c)
{
    http_prom_opts_t o;
    char msg[256];
    params_t prm = s_params(c);
    if (http_prom_parse(&prm, &o, msg, sizeof msg) != 0)
        return s_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);
    query_t *q = NULL;
    if (s_pool_get(h, &q, msg, sizeof msg) != 0)
        q = NULL;
    stats_t zero;
    const stats_t *s = h->stats;
    if (!s) {
        stats_init(&zero, ew_now());
        s = &zero;
    }
    strbuf_t b;
    strbuf_init(&b);
    int rc = http_prom_body(q, s, h->in_queue, h->out_queue, &o, ew_now(), EW_VERSION, &b);
    if (q)
        s_pool_put(h, q, rc != 0);
    return s_send(c, MHD_HTTP_OK, HTTP_PROM_CONTENT_TYPE, &b, NULL);
}

/* ------------------------------------------------------------ writes */

static const char *s_header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* POST /api/runs/delete and /rename (http_runs.c): the CSRF check, then the
 * writer does it. */
static enum MHD_Result s_write(http_t *h, struct MHD_Connection *c, int rename)
{
    http_write_headers_t hd = {
        .marker = s_header(c, HTTP_WRITE_HEADER),
        .origin = s_header(c, "Origin"),
        .sec_fetch_site = s_header(c, "Sec-Fetch-Site"),
        .host = s_header(c, MHD_HTTP_HEADER_HOST),
    };
    char msg[512];
    unsigned status = http_runs_write_check(&hd, msg, sizeof msg);
    if (status)
        return s_error(c, status, "%s", msg);
    params_t prm = s_params(c);
    strbuf_t b;
    strbuf_init(&b);
    status = rename ? http_runs_rename(h->lifecycle, &prm, &b)
                    : http_runs_delete(h->lifecycle, &prm, &b);
    return s_send_json(c, status, &b);
}

void http_runs_changed(void *hp, const char *run, const char *new_name, const int64_t *sids,
                       size_t nsids)
{
    http_t *h = hp;
    (void)run;
    (void)new_name;
    query_cache_forget(h->cache, sids, nsids);
}

/* ------------------------------------------------------------ /api/run */

/* The handler is http_run.c's; this only lends it a pooled connection. */
static enum MHD_Result s_run(http_t *h, struct MHD_Connection *c)
{
    http_run_req_t r;
    char msg[512];
    params_t prm = s_params(c);
    if (http_run_parse(&prm, &r, msg, sizeof msg) != 0)
        return s_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);
    enum MHD_Result ret;
    query_t *q;
    if (s_pool_get_or_respond(h, c, &q, &ret) != 0)
        return ret;
    strbuf_t b;
    strbuf_init(&b);
    int rc = http_run_body(q, &r, &b, msg, sizeof msg);
    s_pool_put(h, q, rc != 0 && rc != -ENOENT);
    if (rc != 0) {
        strbuf_free(&b);
        if (rc == -ENOENT)
            return s_error(c, MHD_HTTP_NOT_FOUND, "%s", msg);
        return s_db_error(c, rc, msg);
    }
    return s_send_json(c, MHD_HTTP_OK, &b);
}

/* ------------------------------------------------------------ dispatch */

typedef enum MHD_Result (*s_route_fn)(http_t *h, struct MHD_Connection *c);

static const struct {
    const char *path;
    s_route_fn fn;
} s_routes[] = {
    {"/api/health", s_health}, {"/api/runs", s_runs},         {"/api/run", s_run},
    {"/api/series", s_series}, {"/api/spectrum", s_spectrum}, {"/api/alerts", s_alerts},
    {"/metrics", s_prom},
};

/* ------------------------------------------------------------ Host header
 *
 * DNS rebinding: a web page from elsewhere points a name it controls at
 * 127.0.0.1 and reads the API through the visitor's browser; the request
 * then carries that name in Host. So Host must be an address (no name to
 * rebind), localhost, this machine's name or --external-url's host. */

/* The host part of a Host header or URL authority (no port, no brackets),
 * lower case, into out. */
static void s_host_part(const char *in, char *out, size_t outlen)
{
    size_t n;
    if (*in == '[') {
        in++;
        n = strcspn(in, "]");
    } else {
        n = strcspn(in, ":/?#");
    }
    if (n >= outlen)
        n = outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[n] = '\0';
}

static int s_host_allowed(const http_t *h, const char *header)
{
    if (!header)
        return 1; /* HTTP/1.0 without Host: nothing a browser sends */
    char host[256];
    s_host_part(header, host, sizeof host);
    unsigned char a[16];
    size_t n = strlen(host);
    if (inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1)
        return 1;
    if (!strcmp(host, "localhost") || (n > 10 && !strcmp(host + n - 10, ".localhost")))
        return 1;
    return (h->external_host[0] && !strcmp(host, h->external_host)) ||
           (h->hostname[0] && !strcmp(host, h->hostname));
}

/* ------------------------------------------------------------ basic auth */

/* 1 when the request carries a user and password of --web-config. */
static int s_authorised(http_t *h, struct MHD_Connection *c)
{
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    int ok = user && pass && webconfig_check(h->web, user, pass);
    if (pass) {
        memset(pass, 0, strlen(pass));
        MHD_free(pass);
    }
    if (user)
        MHD_free(user);
    return ok;
}

static enum MHD_Result s_deny(struct MHD_Connection *c)
{
    static const char body[] = "{\"error\":\"user name and password required "
                               "(basic_auth_users of --web-config)\"}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, HTTP_CT_JSON);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_basic_auth_fail_response(c, "erwatch", r);
    MHD_destroy_response(r);
    return ret;
}

static int s_seen; /* address only: marks a request's first call */

/* Counts a request's query parameters (MHD_KeyValueIterator). */
static enum MHD_Result s_count_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    (void)key;
    (void)value;
    ++*(int *)cls;
    return MHD_YES;
}

/* Past about 1500 query parameters libmicrohttpd 0.9.75 runs out of the
 * connection's pool while it parses them, logs a 431 it cannot send and
 * leaves the client waiting for the idle timeout. The request line reaches
 * this callback before that parsing, so a request with far more parameters
 * than any endpoint takes is answered here, on the socket, and its
 * connection shut down (over TLS only shut down: the socket carries TLS
 * records, not our text); MHD then finds the socket closed and drops the
 * connection. Requests with up to S_PARAMS_ON_SOCKET parameters get the
 * ordinary 414 from s_handle. */
#define S_PARAMS_ON_SOCKET 512

static void *s_uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
    http_t *h = cls;
    const char *q = strchr(uri, '?');
    int n = q ? 1 : 0;
    for (; q && (q = strchr(q + 1, '&')) != NULL;)
        n++;
    if (n <= S_PARAMS_ON_SOCKET)
        return NULL;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return NULL;
    if (!webconfig_cert_pem(h->web)) {
        char body[128], out[384];
        int blen = snprintf(body, sizeof body,
                            "{\"error\":\"%d query parameters; no endpoint takes more than %d\"}",
                            n, S_MAX_PARAMS);
        int len = snprintf(out, sizeof out,
                           "HTTP/1.1 414 URI Too Long\r\nContent-Type: %s\r\n"
                           "X-Content-Type-Options: nosniff\r\nConnection: close\r\n"
                           "Content-Length: %d\r\n\r\n%s",
                           HTTP_CT_JSON, blen, body);
        if (len > 0 && (size_t)len < sizeof out)
            (void)send(ci->connect_fd, out, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    shutdown(ci->connect_fd, SHUT_RDWR);
    return NULL;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    http_t *h = cls;
    /* No endpoint takes more than a few parameters: answer at once (past
     * S_PARAMS_ON_SOCKET, s_uri_seen has answered already). */
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!s_host_allowed(h, host))
        return s_error(c, 421,
                       "Host '%.200s' is not a name of this daemon (DNS rebinding?): "
                       "use its address or localhost, or start erwatchd with "
                       "--external-url naming it",
                       host);
    if (webconfig_nusers(h->web) > 0 && !s_authorised(h, c))
        return s_deny(c);
    int nparams = 0;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, s_count_param, &nparams);
    if (nparams > S_MAX_PARAMS)
        return s_error(c, MHD_HTTP_URI_TOO_LONG,
                       "%d query parameters; no endpoint takes more than %d", nparams,
                       S_MAX_PARAMS);
    int readonly =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int write = strcmp(url, "/api/runs/delete") == 0   ? 1
                : strcmp(url, "/api/runs/rename") == 0 ? 2
                                                       : 0;
    int post = write && strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    /* GET and HEAD (and POST to a write) answer on the last call, once MHD
     * has read the whole request: answering on the first makes MHD close
     * the connection, which would cost dashboards polling the API a TCP
     * handshake per request. Anything else is refused at once, body unread
     * (and the connection closed, which is what we want then). */
    if ((readonly || post) && *con_cls == NULL) {
        *con_cls = &s_seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body: ignored (parameters are in the URL) */
        return MHD_YES;
    }
    if (write) {
        if (post)
            return s_write(h, c, write == 2);
        strbuf_t b;
        strbuf_init(&b);
        strbuf_puts(&b, "{\"error\":\"this endpoint takes POST only\"}");
        return s_send(c, MHD_HTTP_METHOD_NOT_ALLOWED, HTTP_CT_JSON, &b, "POST");
    }

    s_route_fn fn = NULL;
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++)
        if (strcmp(url, s_routes[i].path) == 0)
            fn = s_routes[i].fn;
    const char *file = NULL; /* a dashboard file, relative to web_dir */
    if (!fn) {
        if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
            file = "index.html";
        else if (strncmp(url, "/static/", 8) == 0 && http_static_path_ok(url + 1))
            file = url + 1;
        else
            return s_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s", url);
    }

    if (!readonly) {
        strbuf_t b;
        strbuf_init(&b);
        strbuf_puts(&b, "{\"error\":");
        char msg[160];
        snprintf(msg, sizeof msg, "method %.64s not allowed; use GET or HEAD", method);
        strbuf_json_str(&b, msg);
        strbuf_putc(&b, '}');
        return s_send(c, MHD_HTTP_METHOD_NOT_ALLOWED, HTTP_CT_JSON, &b, "GET, HEAD");
    }
    /* HEAD: MHD sends the headers of the GET response without its body. */
    return file ? s_static_file(h, c, file) : fn(h, c);
}

/* ------------------------------------------------------------ listening */

/* "127.0.0.1:8080" or "[::1]:8080", for messages. */
static void s_addr_text(char *out, size_t outlen, const char *host, int port)
{
    if (strchr(host, ':') && host[0] != '[')
        snprintf(out, outlen, "[%s]:%d", host, port);
    else
        snprintf(out, outlen, "%s:%d", host, port);
}

/* Creates a listening TCP socket on host:port. Returns the fd, or -1 with
 * err filled. *v6 is set when it is an IPv6 socket. */
static int s_listen(const char *host_in, int port, int *v6, char *err, size_t errlen)
{
    char host[256];
    size_t hl = strlen(host_in);
    if (hl >= 2 && host_in[0] == '[' && host_in[hl - 1] == ']' && hl - 2 < sizeof host) {
        memcpy(host, host_in + 1, hl - 2); /* "[::1]" as written in URLs */
        host[hl - 2] = '\0';
    } else {
        snprintf(host, sizeof host, "%s", host_in);
    }
    char where[300];
    s_addr_text(where, sizeof where, host, port);

    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "cannot listen on %s: port must be 0 to 65535", where);
        return -1;
    }
    char service[16];
    snprintf(service, sizeof service, "%d", port);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    int g = getaddrinfo(host, service, &hints, &res);
    if (g == EAI_NONAME && strcmp(host, "localhost") == 0) {
        hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE | AI_ADDRCONFIG;
        g = getaddrinfo(host, service, &hints, &res);
    }
    if (g != 0) {
        if (g == EAI_NONAME)
            snprintf(err, errlen,
                     "cannot listen on %s: not a numeric IP address "
                     "(or localhost)",
                     where);
        else
            snprintf(err, errlen, "cannot listen on %s: %s", where, gai_strerror(g));
        return -1;
    }

    /* For "localhost" take the first address that binds; report the first
     * failure when none does. */
    int fd = -1, first_errno = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            if (!first_errno)
                first_errno = errno;
            continue;
        }
        int on = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (ai->ai_family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, S_LISTEN_BACKLOG) != 0) {
            if (!first_errno)
                first_errno = errno;
            close(fd);
            fd = -1;
            continue;
        }
        *v6 = ai->ai_family == AF_INET6;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s", where,
                 strerror(first_errno ? first_errno : EADDRNOTAVAIL));
    return fd;
}

static int s_sock_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* ------------------------------------------------------------ lifecycle */

static void s_free(http_t *h)
{
    for (size_t i = 0; i < h->nidle; i++)
        query_close(&h->idle[i]);
    free(h->idle);
    free(h->db_path);
    free(h->web_dir);
    query_cache_destroy(&h->cache);
    pthread_cond_destroy(&h->freed);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

http_t *http_start(const http_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->host || !cfg->db_path) {
        snprintf(err, errlen, "http: host and db_path are required");
        return NULL;
    }
    int threads = cfg->threads < 1 ? 1 : cfg->threads;
    if (threads > 1024)
        threads = 1024;

    if (cfg->web_dir && *cfg->web_dir && !http_static_has_index(cfg->web_dir)) {
        snprintf(err, errlen,
                 "--web %s: no index.html there (build the dashboard with "
                 "make; it lands in build/web)",
                 cfg->web_dir);
        return NULL;
    }

    int v6 = 0;
    int fd = s_listen(cfg->host, cfg->port, &v6, err, errlen);
    if (fd < 0)
        return NULL;
    int port = s_sock_port(fd);

    http_t *h = calloc(1, sizeof *h);
    if (!h)
        abort();
    h->db_path = strdup(cfg->db_path);
    snprintf(h->name, sizeof h->name, "%s", cfg->name ? cfg->name : "");
    snprintf(h->store, sizeof h->store, "%s", cfg->store ? cfg->store : "");
    h->ingest = cfg->ingest;
    if (cfg->web_dir && *cfg->web_dir && !(h->web_dir = strdup(cfg->web_dir)))
        abort();
    h->maxopen = (size_t)threads + 1;
    h->cache = query_cache_new(S_CACHE_BYTES);
    h->idle = calloc(h->maxopen, sizeof *h->idle);
    if (!h->db_path || !h->idle)
        abort();
    if (cfg->external_url) {
        const char *a = strstr(cfg->external_url, "://");
        a = a ? a + 3 : cfg->external_url;
        const char *at = strchr(a, '@'); /* user info, if any, is not the host */
        if (at && at < a + strcspn(a, "/?#"))
            a = at + 1;
        s_host_part(a, h->external_host, sizeof h->external_host);
    }
    if (gethostname(h->hostname, sizeof h->hostname) == 0) {
        h->hostname[sizeof h->hostname - 1] = '\0';
        for (char *p = h->hostname; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    } else {
        h->hostname[0] = '\0';
    }
    h->web = cfg->web;
    h->stats = cfg->stats;
    h->in_queue = cfg->in_queue;
    h->out_queue = cfg->out_queue;
    h->lifecycle = cfg->lifecycle;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->freed, NULL);

    unsigned limit = (unsigned)threads * 16u;
    if (limit < S_CONN_LIMIT_MIN)
        limit = S_CONN_LIMIT_MIN;
    /* MHD_USE_AUTO picks epoll on Linux, so connection fds are not limited
     * by FD_SETSIZE as they are with select(). */
    const char *cert = webconfig_cert_pem(cfg->web), *key = webconfig_key_pem(cfg->web);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO |
                     (v6 ? MHD_USE_IPv6 : 0) | (cert ? MHD_USE_TLS : 0);
    /* LISTEN_SOCKET comes first so that MHD owns fd on every failure path
     * that follows (it closes it). A pool size of 0 or 1 means "no pool"
     * to MHD, which warns when given one: leave the option out then. */
    struct MHD_OptionItem opts[11] = {
        {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)S_CONN_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)limit, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)S_PER_IP_LIMIT, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)S_CONN_MEMORY, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)s_uri_seen, h},
    };
    size_t nopt = 6; /* the rest is optional; an MHD_OPTION_END ends the list */
    if (cert) {
        opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert};
        opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key};
    }
    if (threads > 1)
        opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
    opts[nopt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->mhd = MHD_start_daemon(flags, (uint16_t)(port > 0 ? port : 0), NULL, NULL, s_handle, h,
                              MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->mhd) {
        char where[300];
        s_addr_text(where, sizeof where, cfg->host, cfg->port);
        snprintf(err, errlen,
                 "cannot listen on %s: libmicrohttpd failed to start "
                 "(see its message above)",
                 where);
        s_free(h);
        return NULL;
    }

    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = (info && info->port) ? info->port : port;
    return h;
}

int http_port(const http_t *h)
{
    return h ? h->port : -1;
}

void http_stop(http_t **hp)
{
    if (!hp || !*hp)
        return;
    http_t *h = *hp;
    /* Joins MHD's threads: no handler holds a pool connection after this. */
    MHD_stop_daemon(h->mhd);
    s_free(h);
    *hp = NULL;
}
