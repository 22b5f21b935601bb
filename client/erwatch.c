/* erwatch.c: the C client library (client/erwatch.h). A training job calls
 * erwatch_push() in its loop; each call becomes one ZeroMQ multipart message
 * (schema/protocol.md): a msgpack header, then one or two raw tensor frames.
 *
 * Design decisions a reader must know:
 *  - Never block the training loop. The PUSH socket has ZMQ_IMMEDIATE=1, so
 *    nothing is queued for a daemon that is not connected, and every send
 *    uses ZMQ_DONTWAIT. When the first frame (the header) is refused, the
 *    batch is dropped and counted; ZeroMQ accepts the remaining frames of a
 *    message once its first frame is in, so a batch is never half-sent. The
 *    running drop count rides in the `dropped` key of later headers.
 *  - The buffer is bounded in bytes, not in messages (max_buffer_bytes,
 *    default ERWATCH_DEFAULT_MAX_BUFFER): every frame is copied into a block
 *    of ours handed to ZeroMQ with zmq_msg_init_data(), whose free callback
 *    (run by ZeroMQ's I/O thread once the frame is written to the kernel or
 *    discarded) takes its bytes off an atomic in-flight count. A push that
 *    would take the count past the budget is dropped before anything is
 *    sent. The caller may reuse its buffers as soon as push returns.
 *  - Each client owns its own ZeroMQ context. erwatch_flush() is the only
 *    call that waits for data to leave: it closes the socket with a linger
 *    of the timeout, terminates the context (which returns once every queued
 *    message is written to the kernel or the linger expires), and then
 *    builds a fresh context and socket. Elsewhere linger is 0.
 *  - erwatch_wait_connected() polls the socket for ZMQ_POLLOUT: with
 *    ZMQ_IMMEDIATE=1 a PUSH socket is writable only once a daemon is
 *    connected, so "connected" here means "a batch would be accepted now"
 *    (a connected daemon whose queue is full counts as not yet there).
 *  - erwatch_new() waits (up to connect_timeout_ms, default 1000) for the
 *    daemon, as the Python Monitor does, so the first push is not dropped
 *    while TCP connects; it returns as soon as the daemon is there.
 *  - Every batch carries the client's launch identity; config and notes
 *    ride in the headers only until one batch is handed to ZeroMQ.
 *  - Never abort, exit or print: every failure is a negative errno code.
 *    Every allocation of ours goes through the library's allocator
 *    (erwatch_alloc.h) and the header buffer's writer, where tests make one
 *    fail (fault.h, EW_FAULT_ALLOC; frames: EW_FAULT_SEND) to walk those
 *    paths.
 */
#include "erwatch.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>
#include <msgpack.h>
#include <zmq.h>

/* The protocol's limits and name rule, shared with the daemon: header-only
 * (common/), so this library still builds and links alone. */
#include "ew_name.h"
#include "ew_protocol.h"

#include "erwatch_alloc.h"
#include "fault.h"

#define S_DEFAULT_CONNECT_MS 1000

struct erwatch {
    void *ctx;
    void *sock;
    char *endpoint;         /* owned copy */
    int sndhwm;             /* 0: no cap on messages, only on bytes */
    size_t max_buffer;      /* bytes ZeroMQ may hold for the daemon */
    atomic_size_t inflight; /* bytes handed to ZeroMQ and not yet freed by it */
    uint64_t since_flush;   /* batches sent since the last flush */
    msgpack_sbuffer hdr;    /* reused header buffer */
    erwatch_stats_t stats;
    char launch[ERWATCH_LAUNCH_MAX + 1];
    int resume;
    char *config, *notes; /* owned; sent until one batch is handed over */
    int curve;            /* keys below set: the socket is a CURVE client */
    char server_pub[ERWATCH_KEY_Z85_LEN + 1];
    char client_pub[ERWATCH_KEY_Z85_LEN + 1];
    char client_sec[ERWATCH_KEY_Z85_LEN + 1];
};

/* ---------------------------------------------------------------- helpers */

/* msgpack_sbuffer_write, with a growth of the buffer counted as an
 * allocation of ours. */
static int s_hdr_write(void *data, const char *buf, size_t len)
{
    msgpack_sbuffer *sb = data;
    if (sb->alloc - sb->size < len && erwatch__alloc_fails())
        return -1;
    return msgpack_sbuffer_write(data, buf, len);
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double s_wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* protocol.md's name rule (ew_name.h). */
static int s_name_ok(const char *name)
{
    return name && ew_name_check(name, strnlen(name, EW_NAME_MAX + 1), NULL) == EW_NAME_OK;
}

/* The public header repeats these limits for users; they are the
 * protocol's (common/ew_protocol.h). */
_Static_assert(ERWATCH_LAUNCH_MAX == EW_LAUNCH_MAX, "launch limit");
_Static_assert(ERWATCH_CONFIG_MAX == EW_CONFIG_MAX, "config limit");
_Static_assert(ERWATCH_NOTES_MAX == EW_NOTES_MAX, "notes limit");

/* protocol.md launch rule: 1..128 bytes of printable ASCII, no spaces. */
static int s_launch_ok(const char *s)
{
    size_t n = s ? strnlen(s, ERWATCH_LAUNCH_MAX + 1) : 0;
    if (n < 1 || n > ERWATCH_LAUNCH_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* The default launch identity (erwatch.h). Returns 0, or -EINVAL for an
 * invalid $ERWATCH_LAUNCH. */
static int s_default_launch(char *out)
{
    const char *env = getenv("ERWATCH_LAUNCH");
    if (env && *env) {
        if (!s_launch_ok(env))
            return -EINVAL;
        snprintf(out, ERWATCH_LAUNCH_MAX + 1, "%s", env);
        return 0;
    }
    const char *rid = getenv("TORCHELASTIC_RUN_ID");
    if (rid && *rid && strcmp(rid, "none") != 0) {
        const char *rc = getenv("TORCHELASTIC_RESTART_COUNT");
        snprintf(out, ERWATCH_LAUNCH_MAX + 1, "%s.%s", rid, rc && *rc ? rc : "0");
        if (s_launch_ok(out))
            return 0;
    }
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* no entropy source: the clock, the pid and an address still make
         * two launches on one machine differ */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        uint64_t b = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}

/* notes: UTF-8, at most ERWATCH_NOTES_MAX bytes, no control characters
 * but newline and tab. */
static int s_notes_ok(const char *s)
{
    size_t n = strnlen(s, ERWATCH_NOTES_MAX + 1);
    if (n > ERWATCH_NOTES_MAX)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f)
            return 0;
        size_t k = ew_utf8_len(p + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* The protocol's dtypes (EW_DTYPES) are this API's ERWATCH_<ID> values. */
static size_t s_dtype_size(erwatch_dtype_t t)
{
#define S_CASE(id, name, bytes)                                                                    \
    case ERWATCH_##id:                                                                             \
        return bytes;
    switch (t) {
        EW_DTYPES(S_CASE)
    }
#undef S_CASE
    return 0;
}

static const char *s_dtype_name(erwatch_dtype_t t)
{
#define S_CASE(id, name, bytes)                                                                    \
    case ERWATCH_##id:                                                                             \
        return #name;
    switch (t) {
        EW_DTYPES(S_CASE)
    }
#undef S_CASE
    return NULL;
}

/* The supports this API offers (not `scores`) are the first two of
 * EW_SUPPORTS, in its order, so their names index the protocol's list. */
#define S_POS(id, name) S_SUPPORT_##id,
enum { EW_SUPPORTS(S_POS) };
#undef S_POS
_Static_assert((int)ERWATCH_SPHERE == (int)S_SUPPORT_SPHERE &&
                   (int)ERWATCH_DISCRETE == (int)S_SUPPORT_DISCRETE,
               "erwatch_support_t follows EW_SUPPORTS");
#define S_NAME(id, name) #name,
static const char *const s_support_names[] = {EW_SUPPORTS(S_NAME)};
#undef S_NAME

/* Returns 0 when b satisfies every rule of protocol.md that the client can
 * check cheaply. Tensor contents (NaN/Inf) are left to the daemon: scanning
 * them would double the cost of a push, and the daemon reports them per run
 * in /api/health. */
static int s_validate(const erwatch_batch_t *b)
{
    if (!s_name_ok(b->run) || !s_name_ok(b->tag))
        return -EINVAL;
    if (b->step > (uint64_t)INT64_MAX)
        return -EINVAL;
    if (!s_dtype_name(b->dtype))
        return -EINVAL;
    if (b->support != ERWATCH_SPHERE && b->support != ERWATCH_DISCRETE)
        return -EINVAL;
    if (!b->x) { /* scalar-only: no tensor, at least one scalar */
        if (b->y || b->n || b->d || b->nscalars == 0)
            return -EINVAL;
    } else {
        if (b->n < 1 || b->n > EW_N_MAX || b->d < 1 || b->d > EW_D_MAX)
            return -EINVAL;
        if ((uint64_t)b->n * b->d > EW_ELEMS_MAX)
            return -EINVAL;
    }
    if (b->kappa != 0.0 && !(isfinite(b->kappa) && b->kappa > 0.0 && b->kappa <= EW_KAPPA_MAX))
        return -EINVAL;
    if (b->world < 0 || b->world > EW_WORLD_MAX)
        return -EINVAL;
    if (b->world > 0 && (b->rank < 0 || b->rank >= b->world))
        return -EINVAL;
    if (b->pool && b->world < 2)
        return -EINVAL;
    if (b->time != 0.0 && !(isfinite(b->time) && b->time > 0.0))
        return -EINVAL;
    if (b->nscalars > EW_SCALARS_MAX || (b->nscalars && !b->scalars))
        return -EINVAL;
    for (size_t i = 0; i < b->nscalars; i++) {
        if (!s_name_ok(b->scalars[i].name) || !isfinite(b->scalars[i].value))
            return -EINVAL;
        for (size_t j = 0; j < i; j++) /* a key twice is a protocol error */
            if (strcmp(b->scalars[i].name, b->scalars[j].name) == 0)
                return -EINVAL;
    }
    return 0;
}

static int s_pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    if (msgpack_pack_str(pk, len) != 0)
        return -1;
    return msgpack_pack_str_body(pk, s, len);
}

/* One key/value pair each. The key must be packed before the value, so each
 * pair is its own function with its own sequence points: the operands of an
 * expression like `key() | value()` may be evaluated in either order. */
static int s_kv_str(msgpack_packer *pk, const char *key, const char *v)
{
    return s_pack_str(pk, key) != 0 ? -1 : s_pack_str(pk, v);
}

static int s_kv_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
    return s_pack_str(pk, key) != 0 ? -1 : msgpack_pack_uint64(pk, v);
}

static int s_kv_double(msgpack_packer *pk, const char *key, double v)
{
    return s_pack_str(pk, key) != 0 ? -1 : msgpack_pack_double(pk, v);
}

/* Packs the header of b into c->hdr. Returns 0 or -ENOMEM. */
static int s_pack_header(erwatch_t *c, const erwatch_batch_t *b)
{
    msgpack_sbuffer_clear(&c->hdr);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->hdr, s_hdr_write);

    int views = b->x ? (b->y ? 2 : 1) : 0;
    size_t nkeys = views ? 10 : 8; /* v run tag step [dtype shape] views support time dropped */
    if (c->launch[0])
        nkeys++;
    if (c->resume)
        nkeys++;
    if (c->config)
        nkeys++;
    if (c->notes)
        nkeys++;
    if (b->kappa > 0.0)
        nkeys++;
    if (b->world > 0)
        nkeys += 2;
    if (b->pool)
        nkeys++;
    if (b->nscalars > 0)
        nkeys++;

    /* Every call below is a separate statement, so they run in order. */
    int rc = msgpack_pack_map(&pk, nkeys);
    rc |= s_kv_uint(&pk, "v", EW_PROTOCOL_VERSION);
    rc |= s_kv_str(&pk, "run", b->run);
    rc |= s_kv_str(&pk, "tag", b->tag);
    rc |= s_kv_uint(&pk, "step", b->step);
    if (views) { /* a scalar-only batch (views 0) has no tensor to describe */
        rc |= s_kv_str(&pk, "dtype", s_dtype_name(b->dtype));
        rc |= s_pack_str(&pk, "shape");
        rc |= msgpack_pack_array(&pk, 2);
        rc |= msgpack_pack_uint32(&pk, b->n);
        rc |= msgpack_pack_uint32(&pk, b->d);
    }
    rc |= s_kv_uint(&pk, "views", (uint64_t)views);
    rc |= s_kv_str(&pk, "support", s_support_names[b->support]);
    if (b->kappa > 0.0)
        rc |= s_kv_double(&pk, "kappa", b->kappa);
    if (b->world > 0) { /* validated: 0 <= rank < world */
        rc |= s_kv_uint(&pk, "rank", (uint64_t)b->rank);
        rc |= s_kv_uint(&pk, "world", (uint64_t)b->world);
    }
    if (b->pool) {
        rc |= s_pack_str(&pk, "pool");
        rc |= msgpack_pack_true(&pk);
    }
    rc |= s_kv_double(&pk, "time", b->time != 0.0 ? b->time : s_wall_time());
    if (b->nscalars > 0) {
        rc |= s_pack_str(&pk, "scalars");
        rc |= msgpack_pack_map(&pk, b->nscalars);
        for (size_t i = 0; i < b->nscalars; i++)
            rc |= s_kv_double(&pk, b->scalars[i].name, b->scalars[i].value);
    }
    rc |= s_kv_uint(&pk, "dropped", c->stats.dropped);
    if (c->launch[0])
        rc |= s_kv_str(&pk, "launch", c->launch);
    if (c->resume) {
        rc |= s_pack_str(&pk, "resume");
        rc |= msgpack_pack_true(&pk);
    }
    if (c->config)
        rc |= s_kv_str(&pk, "config", c->config);
    if (c->notes)
        rc |= s_kv_str(&pk, "notes", c->notes);
    /* msgpack-c's only failure here is realloc failing in the sbuffer. */
    return rc ? -ENOMEM : 0;
}

/* ---------------------------------------------------------------- frames */

/* A frame's bytes with what its free callback needs: ZeroMQ's I/O thread
 * calls s_block_free() when it is done with the frame. ZeroMQ hands the
 * frame to that thread through pipes ThreadSanitizer cannot see (libzmq is
 * not instrumented), so n is stored last with release and loaded with
 * acquire: the hand-over of the whole block is then visible to it too (and
 * costs nothing on x86). */
typedef struct {
    atomic_size_t *inflight;
    atomic_size_t n;
    max_align_t data[]; /* the frame's bytes */
} s_block_t;

static void s_block_free(void *data, void *hint)
{
    (void)data;
    s_block_t *blk = hint;
    atomic_fetch_sub(blk->inflight, atomic_load_explicit(&blk->n, memory_order_acquire));
    free(blk);
}

/* Sends a copy of p[0..n) as one frame, counted in c->inflight until
 * ZeroMQ frees it. Returns 0 or -errno (nothing counted then). */
static int s_send_frame(erwatch_t *c, const void *p, size_t n, int flags)
{
    s_block_t *blk = erwatch__malloc(sizeof *blk + n);
    if (!blk)
        return -ENOMEM;
    blk->inflight = &c->inflight;
    memcpy(blk->data, p, n);
    atomic_store_explicit(&blk->n, n, memory_order_release);
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, blk->data, n, s_block_free, blk) != 0) {
        free(blk);
        return -ENOMEM;
    }
    atomic_fetch_add(&c->inflight, n);
    int sent = ew_fault(EW_FAULT_SEND) ? (errno = EAGAIN, -1) : zmq_msg_send(&m, c->sock, flags);
    if (sent < 0) {
        int e = errno;
        zmq_msg_close(&m); /* calls s_block_free: the count goes back */
        return -e;
    }
    return 0;
}

/* ---------------------------------------------------------------- socket */

static void s_close_socket(erwatch_t *c, int linger_ms)
{
    if (c->sock) {
        zmq_setsockopt(c->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(c->sock);
        c->sock = NULL;
    }
    if (c->ctx) {
        /* Returns once the socket's queued messages are written out or its
         * linger expired; with linger 0 it returns at once. */
        while (zmq_ctx_term(c->ctx) == -1 && errno == EINTR)
            ;
        c->ctx = NULL;
    }
}

/* Creates the context and the connected PUSH socket. Returns 0 or -errno
 * (-EINVAL for an endpoint ZeroMQ does not accept). */
static int s_open_socket(erwatch_t *c)
{
    int rc = -ENOMEM;
    c->ctx = zmq_ctx_new();
    if (!c->ctx)
        return -ENOMEM;
    c->sock = zmq_socket(c->ctx, ZMQ_PUSH);
    if (!c->sock)
        goto fail;
    int one = 1, zero = 0;
    if (zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof one) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_SNDHWM, &c->sndhwm, sizeof c->sndhwm) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero) != 0) {
        rc = -errno;
        goto fail;
    }
    if (c->curve &&
        (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->server_pub, ERWATCH_KEY_Z85_LEN) != 0 ||
         zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->client_pub, ERWATCH_KEY_Z85_LEN) != 0 ||
         zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->client_sec, ERWATCH_KEY_Z85_LEN) != 0)) {
        rc = -errno;
        goto fail;
    }
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        rc = errno == ENOMEM ? -ENOMEM : -EINVAL;
        goto fail;
    }
    return 0;
fail:
    s_close_socket(c, 0);
    return rc;
}

/* Polls the socket for ZMQ_POLLOUT until deadline (monotonic ms). With
 * ZMQ_IMMEDIATE=1 a PUSH socket is writable only once a peer is connected
 * (and its queue has room). Returns 0 or -ETIMEDOUT. */
static int s_wait_writable(erwatch_t *c, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - s_now_ms();
        if (left < 0)
            left = 0;
        zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLOUT, 0};
        int n = zmq_poll(&item, 1, (long)left);
        if (n > 0 && (item.revents & ZMQ_POLLOUT))
            return 0;
        if (n < 0 && errno != EINTR)
            return -ETIMEDOUT;
        if (left == 0)
            return -ETIMEDOUT;
    }
}

/* ---------------------------------------------------------------- API */

/* The CURVE keys of o (or the environment) into c. Returns 0 (c->curve
 * set when keys were given) or -1 with a message in err. */
static int s_curve_keys(erwatch_t *c, const erwatch_options_t *o, char *err, size_t errlen)
{
    const char *pub = o->server_pub, *key = o->client_key;
    if (!pub && !key) {
        pub = getenv("ERWATCH_SERVER_PUB");
        key = getenv("ERWATCH_CLIENT_KEY");
        pub = pub && *pub ? pub : NULL;
        key = key && *key ? key : NULL;
    }
    if (!pub && !key)
        return 0;
    if (!pub || !key) {
        snprintf(err, errlen,
                 "CURVE needs both the server's public key file "
                 "(server_pub, $ERWATCH_SERVER_PUB) and this client's secret key file "
                 "(client_key, $ERWATCH_CLIENT_KEY); only the %s was given",
                 pub ? "server's" : "client's");
        return -1;
    }
    if (erwatch_key_read(pub, 0, c->server_pub, err, errlen) != 0 ||
        erwatch_key_read(key, 1, c->client_sec, err, errlen) != 0)
        return -1;
    if (zmq_curve_public(c->client_pub, c->client_sec) != 0) {
        snprintf(err, errlen, "cannot use CURVE: %s (libzmq without it?)",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    c->curve = 1;
    return 0;
}

erwatch_t *erwatch_new_opts(const erwatch_options_t *o)
{
    erwatch_options_t def = {0};
    if (!o)
        o = &def;
    char scratch[8];
    char *err = o->errbuf && o->errlen ? o->errbuf : scratch;
    size_t errlen = o->errbuf && o->errlen ? o->errlen : sizeof scratch;
    err[0] = '\0';
    const char *endpoint = o->endpoint;
    if (!endpoint) {
        const char *env = getenv("ERWATCH_ENDPOINT");
        endpoint = env && *env ? env : ERWATCH_DEFAULT_ENDPOINT;
    }
    if (!*endpoint) {
        snprintf(err, errlen, "empty endpoint");
        return NULL;
    }
    erwatch_t *c = erwatch__calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (s_curve_keys(c, o, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    c->endpoint = erwatch__strdup(endpoint);
    c->sndhwm = o->sndhwm > 0 ? o->sndhwm : 0;
    c->max_buffer = o->max_buffer_bytes > 0 ? o->max_buffer_bytes : ERWATCH_DEFAULT_MAX_BUFFER;
    atomic_init(&c->inflight, 0);
    msgpack_sbuffer_init(&c->hdr);
    int orc = 0;
    if (!c->endpoint) {
        snprintf(err, errlen, "out of memory");
        orc = -ENOMEM;
    } else if (s_default_launch(c->launch) != 0 ||
               ((o->launch || o->resume) && erwatch_set_launch(c, o->launch, o->resume) != 0)) {
        snprintf(err, errlen,
                 "invalid launch ($ERWATCH_LAUNCH or the launch option: 1..128 "
                 "printable ASCII, no spaces), or resume without a launch");
        orc = -EINVAL;
    } else if ((o->config_json || o->notes) && erwatch_set_meta(c, o->config_json, o->notes) != 0) {
        snprintf(err, errlen, "config or notes refused (erwatch_set_meta)");
        orc = -EINVAL;
    } else if ((orc = s_open_socket(c)) != 0) {
        snprintf(err, errlen, "cannot connect to endpoint '%s': %s", endpoint,
                 orc == -EINVAL ? "not a ZeroMQ endpoint" : strerror(-orc));
    }
    if (orc != 0) {
        erwatch_destroy(&c);
        return NULL;
    }
    int wait_ms = o->connect_timeout_ms == 0 ? S_DEFAULT_CONNECT_MS : o->connect_timeout_ms;
    if (wait_ms > 0)
        (void)s_wait_writable(c, s_now_ms() + wait_ms); /* no daemon yet: not an error */
    return c;
}

erwatch_t *erwatch_new(const char *endpoint, int sndhwm)
{
    erwatch_options_t o = {.endpoint = endpoint, .sndhwm = sndhwm};
    return erwatch_new_opts(&o);
}

void erwatch_destroy(erwatch_t **cp)
{
    if (!cp || !*cp)
        return;
    erwatch_t *c = *cp;
    s_close_socket(c, 0);
    msgpack_sbuffer_destroy(&c->hdr);
    free(c->endpoint);
    free(c->config);
    free(c->notes);
    memset(c->client_sec, 0, sizeof c->client_sec);
    free(c);
    *cp = NULL;
}

int erwatch_push(erwatch_t *c, const erwatch_batch_t *b)
{
    if (!c)
        return -EINVAL;
    if (!b || s_validate(b) != 0) {
        c->stats.invalid++;
        return -EINVAL;
    }
    if (!c->sock) {
        /* A flush could not rebuild the socket (out of memory): try again. */
        if (s_open_socket(c) != 0) {
            c->stats.dropped++;
            return -ENOMEM;
        }
    }
    int rc = s_pack_header(c, b);
    if (rc != 0) { /* out of memory: the batch is not sent, so it is dropped */
        c->stats.dropped++;
        return rc;
    }
    if (c->hdr.size > EW_HEADER_MAX) { /* cannot happen within the limits */
        c->stats.invalid++;
        return -EINVAL;
    }

    size_t tensor = (size_t)b->n * b->d * s_dtype_size(b->dtype);
    int views = b->x ? (b->y ? 2 : 1) : 0;
    size_t need = c->hdr.size + (size_t)views * tensor;
    /* The byte budget: a batch larger than the whole budget goes only when
     * nothing else is buffered, so it is not refused for ever. */
    size_t held = atomic_load(&c->inflight);
    if (held > 0 && held + need > c->max_buffer) {
        c->stats.dropped++;
        return -EAGAIN;
    }
    rc = s_send_frame(c, c->hdr.data, c->hdr.size, ZMQ_DONTWAIT | (views ? ZMQ_SNDMORE : 0));
    if (rc < 0) {
        c->stats.dropped++;
        return (rc == -EAGAIN || rc == -EINTR) ? -EAGAIN : rc;
    }
    /* The header is in, so ZeroMQ takes the rest of the message too. */
    if ((views >= 1 &&
         (rc = s_send_frame(c, b->x, tensor, ZMQ_DONTWAIT | (views == 2 ? ZMQ_SNDMORE : 0))) < 0) ||
        (views == 2 && (rc = s_send_frame(c, b->y, tensor, ZMQ_DONTWAIT)) < 0)) {
        /* Only out of memory gets here. A half-sent message cannot be
         * withdrawn, so drop the socket (and the partial message with it). */
        s_close_socket(c, 0);
        c->stats.dropped++;
        if (s_open_socket(c) != 0)
            return -ENOMEM;
        return rc == -EAGAIN ? -EAGAIN : rc;
    }
    c->stats.sent++;
    c->stats.bytes += need;
    free(c->config); /* handed over: later headers go without them */
    free(c->notes);
    c->config = c->notes = NULL;
    c->since_flush++;
    return 0;
}

int erwatch_set_launch(erwatch_t *c, const char *launch, int resume)
{
    if (!c || (launch && *launch && !s_launch_ok(launch)))
        return -EINVAL;
    if (resume && ((launch && !*launch) || (!launch && !c->launch[0])))
        return -EINVAL; /* a resume is a launch's */
    if (launch)
        snprintf(c->launch, sizeof c->launch, "%s", launch);
    c->resume = resume != 0;
    return 0;
}

const char *erwatch_launch(const erwatch_t *c)
{
    return c ? c->launch : NULL;
}

int erwatch_set_meta(erwatch_t *c, const char *config_json, const char *notes)
{
    if (!c)
        return -EINVAL;
    if (config_json) {
        size_t n = strnlen(config_json, ERWATCH_CONFIG_MAX + 1);
        if (n > ERWATCH_CONFIG_MAX)
            return -EINVAL;
        json_t *j = json_loadb(config_json, n, JSON_REJECT_DUPLICATES, NULL);
        int obj = json_is_object(j);
        json_decref(j);
        if (!obj)
            return -EINVAL;
    }
    if (notes && !s_notes_ok(notes))
        return -EINVAL;
    char *cfg = config_json ? erwatch__strdup(config_json) : NULL;
    char *nts = notes ? erwatch__strdup(notes) : NULL;
    if ((config_json && !cfg) || (notes && !nts)) {
        free(cfg);
        free(nts);
        return -ENOMEM;
    }
    free(c->config);
    free(c->notes);
    c->config = cfg;
    c->notes = nts;
    return 0;
}

int erwatch_wait_connected(erwatch_t *c, int timeout_ms)
{
    if (!c)
        return -EINVAL;
    if (!c->sock && s_open_socket(c) != 0)
        return -ENOMEM;
    int64_t deadline = s_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    return s_wait_writable(c, deadline);
}

int erwatch_flush(erwatch_t *c, int timeout_ms)
{
    if (!c)
        return -EINVAL;
    if (c->since_flush == 0 && c->sock)
        return 0; /* nothing was handed to ZeroMQ since the last flush */
    if (timeout_ms <= 0)
        return -ETIMEDOUT; /* leave the queue alone rather than discard it */

    int64_t start = s_now_ms();
    s_close_socket(c, timeout_ms);
    int64_t took = s_now_ms() - start;
    c->since_flush = 0;
    /* Terminating the context returns early only when every queued message
     * was written out; taking the whole linger means some were discarded.
     * The 1 ms of slack covers the truncation of s_now_ms(); erring towards
     * -ETIMEDOUT is the honest side ("some may still be queued"). */
    int rc = took >= (int64_t)timeout_ms - 1 ? -ETIMEDOUT : 0;

    if (s_open_socket(c) != 0)
        return rc ? rc : -ENOMEM;
    /* Reconnect within what is left of the budget, so that the batches the
     * training loop pushes right after a flush are not dropped while the new
     * socket is still connecting. */
    if (rc == 0)
        (void)s_wait_writable(c, start + timeout_ms);
    return rc;
}

void erwatch_stats(const erwatch_t *c, erwatch_stats_t *out)
{
    if (!out)
        return;
    if (!c) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = c->stats;
    out->buffered = atomic_load(&((erwatch_t *)c)->inflight);
}

const char *erwatch_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case -EAGAIN:
        return "batch dropped: daemon slow or not reachable";
    case -EINVAL:
        return "invalid argument (see schema/protocol.md for limits)";
    case -ENOMEM:
        return "out of memory";
    case -ETIMEDOUT:
        return "timed out";
    default:
        if (err < 0)
            return zmq_strerror(-err); /* errno and ZeroMQ codes; static text */
        return "unknown error";
    }
}
