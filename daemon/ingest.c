/* ingest.c: the ZeroMQ PULL thread (see ingest.h).
 *
 * Messages are received as zmq_msg_t frames and handed to the decoder by
 * pointer, so the tensor bytes are copied exactly once (into the batch's
 * float32 views). Rejections are counted per reason and logged once per
 * (run, reason), so a misbehaving client cannot flood the log.
 */
#include "ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "decode.h"
#include "log.h"
#include "pool.h"

#define S_MAX_FRAMES 4 /* header + 2 views, +1 to detect extras */
#define S_POLL_MS 100
#define S_DRAIN_SECONDS 2.0             /* longest a shutdown keeps reading */
#define S_QUIET_MS 100                  /* ... and it stops once nothing came for this long */
#define S_DISCARD_COUNT_MAX 100000      /* messages counted after that, at most */
#define S_LOGGED_CAP 4096               /* (run, reason) pairs remembered */
#define S_LOG_POOL_PARTIAL EW_REJ_COUNT /* a log kind past the reasons */
#define S_ZAP_ENFORCE_DOMAIN 93         /* ZMQ_ZAP_ENFORCE_DOMAIN (draft API in 4.3) */

struct ingest {
    void *ctx;
    void *sock;
    curve_t *curve; /* NULL: plaintext */
    queue_t *work;
    stats_t *stats;
    pthread_t thread;
    int started;
    atomic_int stop;
    uint64_t next_seq; /* stamped on each accepted batch */
    pool_t *pool;      /* pooled parts waiting for their siblings */
    double pool_timeout_s;
    char endpoint[512];
    uint64_t logged[S_LOGGED_CAP]; /* open addressing; 0 = empty */
    size_t nlogged;
    int suppressed_said;
};

int ingest_rcvhwm(size_t max_queue_bytes)
{
    size_t n = max_queue_bytes / EW_MESSAGE_MAX;
    return n < 2 ? 2 : n > 4 ? 4 : (int)n;
}

ingest_t *ingest_new(const ingest_config_t *cfg, char *err, size_t errlen)
{
    const char *endpoint = cfg->endpoint;
    ingest_t *in = calloc(1, sizeof(*in));
    if (!in)
        abort();
    in->work = cfg->work;
    in->stats = cfg->stats;
    in->pool_timeout_s = EW_POOL_TIMEOUT_MS_DEFAULT / 1000.0;
    in->ctx = zmq_ctx_new();
    in->sock = in->ctx ? zmq_socket(in->ctx, ZMQ_PULL) : NULL;
    if (!in->sock) {
        snprintf(err, errlen, "cannot create ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        ingest_destroy(&in);
        return NULL;
    }
    /* Few messages in ZeroMQ's own buffer (ingest.h): the real bound is
     * the work queue, and a large HWM would hide back-pressure from
     * clients. One byte over the largest frame, so that a frame one byte
     * too long still reaches the decoder and is rejected with a reason. */
    int hwm = ingest_rcvhwm(cfg->max_queue_bytes), linger = 0;
    int64_t maxmsg = (int64_t)EW_FRAME_MAX + 1;
    zmq_setsockopt(in->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(in->sock, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(in->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
    if (cfg->curve_key && cfg->curve_key[0]) {
        in->curve = curve_new(in->ctx, cfg->curve_key, cfg->curve_clients, cfg->stats, err, errlen);
        if (!in->curve || curve_apply(in->curve, in->sock, err, errlen) != 0) {
            ingest_destroy(&in);
            return NULL;
        }
        /* Refuse, rather than admit, when no ZAP handler answers (libzmq's
         * default admits any key then). A draft option in libzmq 4.3: where
         * it is not built, the per-message User-Id check (s_handle) still
         * refuses what ZAP did not name. */
        int enforce = 1;
        (void)zmq_setsockopt(in->sock, S_ZAP_ENFORCE_DOMAIN, &enforce, sizeof enforce);
    }
    if (zmq_bind(in->sock, endpoint) != 0) {
        snprintf(err, errlen, "cannot bind ZeroMQ endpoint %s: %s", endpoint,
                 zmq_strerror(zmq_errno()));
        ingest_destroy(&in);
        return NULL;
    }
    size_t len = sizeof(in->endpoint);
    if (zmq_getsockopt(in->sock, ZMQ_LAST_ENDPOINT, in->endpoint, &len) != 0)
        snprintf(in->endpoint, sizeof(in->endpoint), "%s", endpoint);
    return in;
}

void ingest_set_pool_timeout(ingest_t *in, int ms)
{
    in->pool_timeout_s = ms / 1000.0;
}

const char *ingest_endpoint(const ingest_t *in)
{
    return in->endpoint;
}

const char *ingest_curve_public(const ingest_t *in)
{
    return in->curve ? curve_server_public(in->curve) : NULL;
}

int ingest_reload_clients(ingest_t *in, char *err, size_t errlen)
{
    if (!in->curve)
        return -2;
    return curve_reload(in->curve, err, errlen);
}

/* FNV-1a over the run name and the kind of message (a reason, or
 * S_LOG_POOL_PARTIAL); never 0 (0 marks empty). */
static uint64_t s_key(const char *run, unsigned kind)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)run; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h = (h ^ (uint64_t)kind) * 1099511628211ull;
    return h ? h : 1;
}

/* Returns 1 the first time a (run, reason) pair is seen. */
static int s_first_time(ingest_t *in, const char *run, unsigned kind)
{
    uint64_t k = s_key(run, kind);
    if (in->nlogged >= S_LOGGED_CAP / 2) {
        if (!in->suppressed_said) {
            in->suppressed_said = 1;
            log_warn("too many distinct rejection kinds; further ones are counted in "
                     "/api/health but not logged");
        }
        return 0;
    }
    size_t i = k % S_LOGGED_CAP;
    while (in->logged[i]) {
        if (in->logged[i] == k)
            return 0;
        i = (i + 1) % S_LOGGED_CAP;
    }
    in->logged[i] = k;
    in->nlogged++;
    return 1;
}

static void s_reject(ingest_t *in, const decode_error_t *e)
{
    stats_inc(&in->stats->rejected[e->reason], 1);
    if (!s_first_time(in, e->run, e->reason))
        return;
    char step[32] = "?";
    if (e->has_step)
        snprintf(step, sizeof(step), "%llu", (unsigned long long)e->step);
    log_warn("rejected batch (%s) run=\"%s\" step=%s: %s (logged once per run and reason)",
             decode_reason_name(e->reason), e->run[0] ? e->run : "?", step, e->msg);
}

/* Reads one whole multipart message (all its frames, even extra ones).
 * Returns the number of frames read (>= 1), 0 when nothing was waiting
 * (flags has ZMQ_DONTWAIT), or -1 on a socket error. */
static int s_recv(ingest_t *in, zmq_msg_t *parts, int flags, size_t *total)
{
    int n = 0;
    *total = 0;
    for (;;) {
        zmq_msg_t tmp;
        zmq_msg_t *m = n < S_MAX_FRAMES ? &parts[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, in->sock, n == 0 ? flags : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            if (n == 0 && (e == EAGAIN || e == EINTR))
                return 0;
            log_error("ZeroMQ receive failed: %s", zmq_strerror(e));
            for (int i = 0; i < n && i < S_MAX_FRAMES; i++)
                zmq_msg_close(&parts[i]);
            return -1;
        }
        *total += zmq_msg_size(m);
        int more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(&tmp);
        n++;
        if (!more)
            return n;
    }
}

/* Stamps b with its place in arrival order and queues it (blocking while
 * the queue is full: back-pressure). */
static void s_enqueue(ingest_t *in, batch_t *b)
{
    /* Bounded run-ahead (stats.h): wait for the writer rather than let
     * results pile up behind one slow batch. Stopping reading here is
     * back-pressure like a full queue. */
    while (in->next_seq - atomic_load_explicit(&in->stats->next_store_seq, memory_order_acquire) >=
           EW_SEQ_WINDOW)
        usleep(1000);
    b->seq = in->next_seq++;
    if (queue_push(in->work, b, b->bytes) != 0) {
        /* Cannot happen: only this thread closes the work queue. */
        log_error("work queue closed while ingest was running; batch dropped");
        batch_destroy(&b);
    }
}

/* ------------------------------------------------------------ pooling */

static void s_pool_gauges(ingest_t *in)
{
    queue_set_reserved(in->work, pool_bytes(in->pool));
    stats_set(&in->stats->pool_groups, pool_groups(in->pool));
    stats_set(&in->stats->pool_bytes, pool_bytes(in->pool));
}

/* A pooled batch handed back by the pool: queue it, and the gauges follow. */
static void s_pool_send(ingest_t *in, batch_t *b, atomic_uint_fast64_t *counter)
{
    stats_inc(counter, 1);
    s_pool_gauges(in);
    s_enqueue(in, b);
}

static void s_pool_expire(ingest_t *in, double now)
{
    batch_t *b;
    while ((b = pool_take_expired(in->pool, now)) != NULL) {
        if (s_first_time(in, b->h.run, S_LOG_POOL_PARTIAL))
            log_warn("run=\"%s\" step=%llu: pooled with %d of %d ranks after waiting %.1f s "
                     "(pool_ranks; logged once per run)",
                     b->h.run, (unsigned long long)b->h.step, (int)b->h.ranks, (int)b->h.world,
                     in->pool_timeout_s);
        s_pool_send(in, b, &in->stats->pool_partial);
    }
}

static void s_pool_offer(ingest_t *in, batch_t *b)
{
    /* The pool's bytes count against the work queue's bound: make room by
     * sending the oldest waiting steps on (partial), then wait for the
     * workers to free what the queue holds. */
    size_t max = queue_max_bytes(in->work);
    while (pool_groups(in->pool) > 0 && pool_bytes(in->pool) + b->bytes > max)
        s_pool_send(in, pool_take_oldest(in->pool), &in->stats->pool_evicted);
    queue_wait_room(in->work, b->bytes);

    batch_t *ready = NULL;
    char msg[200];
    const ew_header_t h = b->h; /* the pool may free b */
    pool_verdict_t v = pool_add(in->pool, &b, ew_monotonic(), &ready, msg, sizeof msg);
    if (v == POOL_HELD || v == POOL_COMPLETE) {
        stats_inc(&in->stats->accepted, 1);
        if (v == POOL_COMPLETE)
            s_pool_send(in, ready, &in->stats->pool_complete);
        else
            s_pool_gauges(in);
        return;
    }
    static const ew_reject_t reason[] = {
        [POOL_LATE] = EW_REJ_POOL_LATE,
        [POOL_DUPLICATE] = EW_REJ_POOL_DUPLICATE,
        [POOL_MISMATCH] = EW_REJ_POOL_MISMATCH,
        [POOL_TOO_LARGE] = EW_REJ_POOL_TOO_LARGE,
    };
    decode_error_t e;
    memset(&e, 0, sizeof e);
    e.reason = reason[v];
    snprintf(e.run, sizeof e.run, "%s", h.run);
    e.has_step = 1;
    e.step = h.step;
    snprintf(e.msg, sizeof e.msg, "%s", msg);
    s_reject(in, &e);
    batch_destroy(&b);
}

static void s_handle(ingest_t *in, zmq_msg_t *parts, int n)
{
    int nf = n < S_MAX_FRAMES ? n : S_MAX_FRAMES;
    /* Under CURVE, each message carries its client's key (the ZAP user id):
     * a key removed from --curve-clients since it connected is refused. */
    if (in->curve && !curve_allowed(in->curve, zmq_msg_gets(&parts[0], "User-Id"))) {
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&parts[i]);
        return;
    }
    stats_inc(&in->stats->received, 1);
    decode_frame_t frames[S_MAX_FRAMES];
    for (int i = 0; i < nf; i++)
        frames[i] = (decode_frame_t){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
    batch_t *b = NULL;
    decode_error_t e;
    /* More frames than we keep is always a frame-count error; let the
     * decoder say so by passing one frame too many. */
    size_t count = (size_t)(n > S_MAX_FRAMES ? S_MAX_FRAMES : n);
    if (decode_message(frames, count, ew_now(), &b, &e) != 0) {
        s_reject(in, &e);
    } else if (b->h.pool) {
        s_pool_offer(in, b);
    } else {
        stats_inc(&in->stats->accepted, 1);
        s_enqueue(in, b);
    }
    for (int i = 0; i < nf; i++)
        zmq_msg_close(&parts[i]);
}

static void *s_run(void *arg)
{
    ingest_t *in = arg;
    zmq_msg_t parts[S_MAX_FRAMES];
    size_t total;
    while (!atomic_load(&in->stop)) {
        zmq_pollitem_t item = {in->sock, 0, ZMQ_POLLIN, 0};
        long wait_ms = S_POLL_MS;
        double deadline = pool_next_deadline(in->pool);
        if (deadline >= 0) {
            double left = (deadline - ew_monotonic()) * 1000.0 + 1.0;
            wait_ms = left < 0 ? 0 : left < S_POLL_MS ? (long)left : S_POLL_MS;
        }
        int r = zmq_poll(&item, 1, wait_ms);
        s_pool_expire(in, ew_monotonic());
        if (r < 0 && zmq_errno() != EINTR) {
            log_error("ZeroMQ poll failed: %s", zmq_strerror(zmq_errno()));
            break;
        }
        if (r <= 0)
            continue;
        int n = s_recv(in, parts, ZMQ_DONTWAIT, &total);
        if (n > 0)
            s_handle(in, parts, n);
    }
    /* Shutdown: what clients already sent is ours too. libzmq's I/O thread
     * keeps reading the kernel's buffers as this thread empties its pipe
     * (one message at a time with a small HWM), so an empty pipe is not the
     * end: read until nothing came for S_QUIET_MS, within S_DRAIN_SECONDS.
     * Past that, what is still readable is discarded but counted
     * (discarded_at_stop, in the stopped: line and /api/health). */
    double until = ew_monotonic() + S_DRAIN_SECONDS;
    uint64_t drained = 0, discarded = 0;
    for (;;) {
        double left_ms = (until - ew_monotonic()) * 1000.0;
        int late = left_ms <= 0;
        zmq_pollitem_t item = {in->sock, 0, ZMQ_POLLIN, 0};
        int r = zmq_poll(&item, 1, late ? 0 : (long)(left_ms < S_QUIET_MS ? left_ms : S_QUIET_MS));
        if (r < 0 && zmq_errno() == EINTR)
            continue;
        if (r <= 0)
            break;
        int n = s_recv(in, parts, ZMQ_DONTWAIT, &total);
        if (n < 0)
            break;
        if (n == 0)
            continue;
        if (late) {
            stats_inc(&in->stats->received, 1);
            for (int i = 0; i < n && i < S_MAX_FRAMES; i++)
                zmq_msg_close(&parts[i]);
            discarded++;
            if (discarded >= S_DISCARD_COUNT_MAX)
                break; /* a peer still sending: stop counting, stop */
            continue;
        }
        s_handle(in, parts, n);
        drained++;
    }
    if (drained)
        log_info("ingest: read %llu buffered batch(es) during shutdown",
                 (unsigned long long)drained);
    if (discarded) {
        stats_inc(&in->stats->discarded_at_stop, discarded);
        log_warn("ingest: %llu message(s) still arriving %.0f s into shutdown were "
                 "discarded (counted as discarded_at_stop)",
                 (unsigned long long)discarded, S_DRAIN_SECONDS);
    }
    /* Steps still waiting for ranks are computed on the parts that came. */
    size_t waiting = pool_groups(in->pool);
    batch_t *b;
    while ((b = pool_take_oldest(in->pool)) != NULL)
        s_pool_send(in, b, &in->stats->pool_evicted);
    if (waiting)
        log_info("ingest: %zu pooled step(s) still waiting for ranks sent on at shutdown", waiting);
    queue_close(in->work);
    return NULL;
}

int ingest_start(ingest_t *in)
{
    if (!in->pool)
        in->pool = pool_new(in->pool_timeout_s);
    int rc = pthread_create(&in->thread, NULL, s_run, in);
    if (rc == 0)
        in->started = 1;
    return -rc;
}

void ingest_stop(ingest_t *in)
{
    if (!in->started)
        return;
    atomic_store(&in->stop, 1);
    pthread_join(in->thread, NULL);
    in->started = 0;
}

void ingest_destroy(ingest_t **inp)
{
    ingest_t *in = inp ? *inp : NULL;
    if (!in)
        return;
    ingest_stop(in);
    if (in->sock)
        zmq_close(in->sock);
    /* The ZAP handler goes after the socket it answers for. */
    curve_destroy(&in->curve);
    if (in->ctx)
        zmq_ctx_term(in->ctx);
    pool_destroy(&in->pool);
    free(in);
    *inp = NULL;
}
