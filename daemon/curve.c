/* curve.c: CURVE authentication of ingest (see curve.h).
 *
 * The authorised keys are a sorted array of Z85 strings behind one mutex
 * (the ZAP thread and ingest read it, a reload swaps it). The ZAP thread
 * also reads the ingest socket's monitor for handshake failures, which
 * libzmq reports there and nowhere else (a plaintext peer never reaches
 * ZAP). Logging is once per refused key and once per kind of handshake
 * failure, so a peer that retries for ever cannot flood the log.
 */
#include "curve.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "erwatch.h"
#include "log.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_MONITOR_ENDPOINT "inproc://erwatch-ingest-monitor"
#define S_DOMAIN "erwatch"
#define S_LOGGED_MAX 1024 /* refused keys remembered for log-once */
#define S_POLL_MS 100

typedef char s_key_t[ERWATCH_KEY_Z85_LEN + 1];

struct curve {
    void *ctx;
    void *zap;     /* REP, bound before any CURVE socket */
    void *monitor; /* PAIR, connected to the ingest socket's monitor */
    stats_t *stats;
    char *clients_file;
    s_key_t secret, public_key;
    pthread_mutex_t lock; /* keys, nkeys, logged, nlogged */
    s_key_t *keys;
    size_t nkeys;
    s_key_t logged[S_LOGGED_MAX];
    size_t nlogged;
    unsigned failures_logged; /* bit per kind of handshake failure */
    pthread_t thread;
    int started;
    atomic_int stop;
};

static int s_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int s_listed(const curve_t *c, const char *key)
{
    return c->nkeys && bsearch(key, c->keys, c->nkeys, sizeof *c->keys, s_cmp) != NULL;
}

/* Under c->lock: 1 the first time key is refused. */
static int s_first_refusal(curve_t *c, const char *key)
{
    for (size_t i = 0; i < c->nlogged; i++)
        if (!strcmp(c->logged[i], key))
            return 0;
    if (c->nlogged == S_LOGGED_MAX)
        return 0;
    snprintf(c->logged[c->nlogged++], sizeof(s_key_t), "%s", key);
    return 1;
}

static int s_load_clients(curve_t *c, char *err, size_t errlen)
{
    s_key_t *keys;
    size_t n;
    if (erwatch_key_list_read(c->clients_file, &keys, &n, err, errlen) != 0)
        return -1;
    qsort(keys, n, sizeof *keys, s_cmp);
    pthread_mutex_lock(&c->lock);
    s_key_t *old = c->keys;
    c->keys = keys;
    c->nkeys = n;
    /* A key listed again and later removed again is logged again. */
    size_t kept = 0;
    for (size_t i = 0; i < c->nlogged; i++)
        if (!s_listed(c, c->logged[i]))
            memcpy(c->logged[kept++], c->logged[i], sizeof(s_key_t));
    c->nlogged = kept;
    pthread_mutex_unlock(&c->lock);
    free(old);
    return (int)n;
}

int curve_reload(curve_t *c, char *err, size_t errlen)
{
    return s_load_clients(c, err, errlen);
}

int curve_allowed(curve_t *c, const char *user_id)
{
    pthread_mutex_lock(&c->lock);
    int ok = user_id && s_listed(c, user_id);
    int say = !ok && s_first_refusal(c, user_id ? user_id : "");
    pthread_mutex_unlock(&c->lock);
    if (!ok) {
        stats_inc(&c->stats->auth_refused, 1);
        if (say)
            log_warn("curve: batch from client key %s refused: not in --curve-clients "
                     "(any more); logged once per key",
                     user_id ? user_id : "(none)");
    }
    return ok;
}

const char *curve_server_public(const curve_t *c)
{
    return c->public_key;
}

/* ---------------------------------------------------------------- ZAP */

/* Receives one multipart request into up to n frames; returns the count,
 * or -1. Extra frames are read and dropped. */
static int s_recv_all(void *sock, zmq_msg_t *f, int n)
{
    int got = 0, more = 1;
    while (more) {
        zmq_msg_t tmp, *m = got < n ? &f[got] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, 0) < 0) {
            zmq_msg_close(m);
            for (int i = 0; i < got && i < n; i++)
                zmq_msg_close(&f[i]);
            return -1;
        }
        more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(&tmp);
        got++;
    }
    return got;
}

static void s_send_frame(void *sock, const void *data, size_t len, int more)
{
    zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
}

static void s_zap_answer(curve_t *c)
{
    enum { VERSION, ID, DOMAIN, ADDRESS, IDENTITY, MECHANISM, KEY, NF };
    zmq_msg_t f[NF];
    int n = s_recv_all(c->zap, f, NF);
    if (n < 0)
        return;
    int ok = 0;
    char key[ERWATCH_KEY_Z85_LEN + 1] = "", addr[64] = "?";
    if (n >= NF && zmq_msg_size(&f[MECHANISM]) == 5 &&
        !memcmp(zmq_msg_data(&f[MECHANISM]), "CURVE", 5) && zmq_msg_size(&f[KEY]) == 32) {
        zmq_z85_encode(key, zmq_msg_data(&f[KEY]), 32);
        size_t al = zmq_msg_size(&f[ADDRESS]);
        snprintf(addr, sizeof addr, "%.*s", (int)(al < 63 ? al : 63),
                 (const char *)zmq_msg_data(&f[ADDRESS]));
        pthread_mutex_lock(&c->lock);
        ok = s_listed(c, key);
        int say = !ok && s_first_refusal(c, key);
        pthread_mutex_unlock(&c->lock);
        if (!ok) {
            stats_inc(&c->stats->auth_refused, 1);
            if (say)
                log_warn("curve: client key %s from %s refused: not in --curve-clients; "
                         "nothing it sends is stored (logged once per key)",
                         key, addr);
        }
    }
    /* Reply: version, request id, status code, status text, user id, metadata. */
    s_send_frame(c->zap, "1.0", 3, 1);
    if (n > ID)
        s_send_frame(c->zap, zmq_msg_data(&f[ID]), zmq_msg_size(&f[ID]), 1);
    else
        s_send_frame(c->zap, "", 0, 1);
    s_send_frame(c->zap, ok ? "200" : "400", 3, 1);
    const char *text = ok ? "OK" : "key not authorised";
    s_send_frame(c->zap, text, strlen(text), 1);
    s_send_frame(c->zap, ok ? key : "", ok ? strlen(key) : 0, 1);
    s_send_frame(c->zap, "", 0, 0);
    for (int i = 0; i < n && i < NF; i++)
        zmq_msg_close(&f[i]);
}

static const char *s_protocol_error(uint32_t v)
{
    switch (v) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "security mechanism mismatch: a client without CURVE keys?";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "cryptographic error: a client with the wrong server public key?";
    default:
        return "malformed handshake";
    }
}

static void s_monitor_event(curve_t *c)
{
    zmq_msg_t f[2];
    int n = s_recv_all(c->monitor, f, 2);
    if (n < 0)
        return;
    if (zmq_msg_size(&f[0]) >= 6) {
        const uint8_t *d = zmq_msg_data(&f[0]);
        uint16_t ev;
        uint32_t v;
        memcpy(&ev, d, 2);
        memcpy(&v, d + 2, 4);
        if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
            ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            stats_inc(&c->stats->handshake_failed, 1);
            unsigned kind = ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL        ? 0
                            : v == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? 1
                            : v == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC      ? 2
                                                                              : 3;
            if (!(c->failures_logged & (1u << kind))) {
                c->failures_logged |= 1u << kind;
                log_warn("curve: a peer's handshake failed (%s); nothing it sends is "
                         "stored (counted in /api/health auth.handshake_failed, logged "
                         "once per kind)",
                         ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                             ? "no detail: a client without CURVE keys, or not ZeroMQ?"
                             : s_protocol_error(v));
            }
        }
    }
    for (int i = 0; i < n && i < 2; i++)
        zmq_msg_close(&f[i]);
}

static void *s_run(void *arg)
{
    curve_t *c = arg;
    while (!atomic_load(&c->stop)) {
        zmq_pollitem_t items[2] = {{c->zap, 0, ZMQ_POLLIN, 0}, {c->monitor, 0, ZMQ_POLLIN, 0}};
        int r = zmq_poll(items, c->monitor ? 2 : 1, S_POLL_MS);
        if (r < 0) {
            if (zmq_errno() == ETERM)
                break;
            continue;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_zap_answer(c);
        if (c->monitor && (items[1].revents & ZMQ_POLLIN))
            s_monitor_event(c);
    }
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

curve_t *curve_new(void *ctx, const char *key_file, const char *clients_file, stats_t *stats,
                   char *err, size_t errlen)
{
    curve_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    pthread_mutex_init(&c->lock, NULL);
    c->ctx = ctx;
    c->stats = stats;
    c->clients_file = strdup(clients_file);
    if (!c->clients_file)
        abort();
    char e[700];
    if (erwatch_key_read(key_file, 1, c->secret, e, sizeof e) != 0) {
        snprintf(err, errlen, "--curve-key: %s", e);
        curve_destroy(&c);
        return NULL;
    }
    if (zmq_curve_public(c->public_key, c->secret) != 0) {
        snprintf(err, errlen, "--curve-key '%s': %s (is libzmq built with CURVE?)", key_file,
                 zmq_strerror(zmq_errno()));
        curve_destroy(&c);
        return NULL;
    }
    if (s_load_clients(c, e, sizeof e) < 0) {
        snprintf(err, errlen, "--curve-clients: %s", e);
        curve_destroy(&c);
        return NULL;
    }
    c->zap = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    if (!c->zap || zmq_setsockopt(c->zap, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(c->zap, S_ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
        curve_destroy(&c);
        return NULL;
    }
    return c;
}

int curve_apply(curve_t *c, void *sock, char *err, size_t errlen)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->secret, ERWATCH_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, S_DOMAIN, strlen(S_DOMAIN)) != 0) {
        snprintf(err, errlen, "cannot make the ingest socket a CURVE server: %s",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    if (zmq_socket_monitor(sock, S_MONITOR_ENDPOINT,
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0) {
        c->monitor = zmq_socket(c->ctx, ZMQ_PAIR);
        int linger = 0;
        if (c->monitor) {
            zmq_setsockopt(c->monitor, ZMQ_LINGER, &linger, sizeof linger);
            if (zmq_connect(c->monitor, S_MONITOR_ENDPOINT) != 0) {
                zmq_close(c->monitor);
                c->monitor = NULL;
            }
        }
    }
    if (!c->monitor)
        log_warn("curve: cannot watch handshakes (%s); failures go uncounted",
                 zmq_strerror(zmq_errno()));
    if (pthread_create(&c->thread, NULL, s_run, c) != 0) {
        snprintf(err, errlen, "cannot start the ZAP thread");
        return -1;
    }
    c->started = 1;
    return 0;
}

void curve_destroy(curve_t **cp)
{
    curve_t *c = cp ? *cp : NULL;
    if (!c)
        return;
    if (c->started) {
        atomic_store(&c->stop, 1);
        pthread_join(c->thread, NULL);
    }
    if (c->monitor)
        zmq_close(c->monitor);
    if (c->zap)
        zmq_close(c->zap);
    free(c->keys);
    free(c->clients_file);
    pthread_mutex_destroy(&c->lock);
    memset(c->secret, 0, sizeof c->secret);
    free(c);
    *cp = NULL;
}
