/* test_client.c: unit tests of the client library (client/erwatch.c).
 *
 * Each test plays the daemon itself: a PULL socket bound on an ephemeral
 * loopback port in this process. Headers are decoded with msgpack-c, so the
 * tests check the wire bytes of schema/protocol.md, not the library's own
 * idea of them. "No daemon" is a port that was bound once and then closed.
 */
#include "erwatch.h"
#include "test.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include <msgpack.h>
#include <zmq.h>

/* ---------------------------------------------------------------- helpers */

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    void *ctx;
    void *pull;
    char endpoint[256];
} s_daemon_t;

/* Binds a PULL socket to bind_ep ("tcp://127.0.0.1:*" for a fresh port). */
static int s_daemon_start(s_daemon_t *d, const char *bind_ep, int rcvhwm)
{
    memset(d, 0, sizeof *d);
    d->ctx = zmq_ctx_new();
    d->pull = zmq_socket(d->ctx, ZMQ_PULL);
    int linger = 0, timeo = 3000;
    zmq_setsockopt(d->pull, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d->pull, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
    if (rcvhwm > 0)
        zmq_setsockopt(d->pull, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    if (zmq_bind(d->pull, bind_ep) != 0)
        return -1;
    size_t len = sizeof d->endpoint;
    return zmq_getsockopt(d->pull, ZMQ_LAST_ENDPOINT, d->endpoint, &len);
}

static void s_daemon_stop(s_daemon_t *d)
{
    if (d->pull)
        zmq_close(d->pull);
    if (d->ctx)
        zmq_ctx_term(d->ctx);
    d->pull = d->ctx = NULL;
}

/* An endpoint nobody listens on: bind a port, then release it. */
static void s_closed_endpoint(char *out, size_t cap)
{
    s_daemon_t d;
    s_daemon_start(&d, "tcp://127.0.0.1:*", 0);
    snprintf(out, cap, "%s", d.endpoint);
    s_daemon_stop(&d);
}

typedef struct {
    int nframes;
    zmq_msg_t frame[4];
} s_message_t;

/* Receives one multipart message (up to 4 frames). Returns 0 or -1. */
static int s_recv(s_daemon_t *d, s_message_t *m)
{
    m->nframes = 0;
    for (;;) {
        if (m->nframes == 4)
            return -1;
        zmq_msg_t *f = &m->frame[m->nframes];
        zmq_msg_init(f);
        if (zmq_msg_recv(f, d->pull, 0) < 0) {
            zmq_msg_close(f);
            return -1;
        }
        m->nframes++;
        if (!zmq_msg_more(f))
            return 0;
    }
}

static void s_message_close(s_message_t *m)
{
    for (int i = 0; i < m->nframes; i++)
        zmq_msg_close(&m->frame[i]);
    m->nframes = 0;
}

/* A decoded header: the msgpack map of frame 1. */
typedef struct {
    msgpack_unpacked u;
    const msgpack_object_map *map;
    int dup_keys;
} s_header_t;

static int s_header_decode(s_header_t *h, const zmq_msg_t *f)
{
    size_t off = 0;
    msgpack_unpacked_init(&h->u);
    h->map = NULL;
    h->dup_keys = 0;
    if (msgpack_unpack_next(&h->u, zmq_msg_data((zmq_msg_t *)f), zmq_msg_size((zmq_msg_t *)f),
                            &off) != MSGPACK_UNPACK_SUCCESS)
        return -1;
    if (off != zmq_msg_size((zmq_msg_t *)f) || h->u.data.type != MSGPACK_OBJECT_MAP)
        return -1;
    h->map = &h->u.data.via.map;
    for (uint32_t i = 0; i < h->map->size; i++)
        for (uint32_t j = 0; j < i; j++) {
            const msgpack_object_str *a = &h->map->ptr[i].key.via.str;
            const msgpack_object_str *b = &h->map->ptr[j].key.via.str;
            if (a->size == b->size && memcmp(a->ptr, b->ptr, a->size) == 0)
                h->dup_keys++;
        }
    return 0;
}

static const msgpack_object *s_get(const msgpack_object_map *map, const char *key)
{
    size_t len = strlen(key);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp(k->via.str.ptr, key, len) == 0)
            return &map->ptr[i].val;
    }
    return NULL;
}

/* Unsigned int value of key, or -1 when absent or not a positive int. */
static long long s_get_uint(const msgpack_object_map *map, const char *key)
{
    const msgpack_object *o = s_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    return (long long)o->via.u64;
}

static double s_get_num(const msgpack_object_map *map, const char *key)
{
    const msgpack_object *o = s_get(map, key);
    if (!o)
        return NAN;
    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)
        return o->via.f64;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (double)o->via.u64;
    return NAN;
}

static int s_str_is(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* o is the msgpack string s; otherwise prints what it is */
#define ASSERT_MP_STR(o, s)                                                                        \
    do {                                                                                           \
        const msgpack_object *o_ = (o);                                                            \
        const char *s_ = (s);                                                                      \
        if (!o_)                                                                                   \
            T_FAIL_("%s is missing, expected \"%s\"", #o, s_);                                     \
        if (o_->type != MSGPACK_OBJECT_STR)                                                        \
            T_FAIL_("%s has msgpack type %d, expected \"%s\"", #o, (int)o_->type, s_);             \
        if (!s_str_is(o_, s_))                                                                     \
            T_FAIL_("%s == \"%s\": it is \"%.*s\"", #o, s_, (int)o_->via.str.size,                 \
                    o_->via.str.ptr);                                                              \
    } while (0)

static erwatch_batch_t s_batch(const void *x, uint32_t n, uint32_t d)
{
    erwatch_batch_t b;
    memset(&b, 0, sizeof b);
    b.run = "run-1";
    b.tag = "projector";
    b.step = 7;
    b.dtype = ERWATCH_F32;
    b.n = n;
    b.d = d;
    b.x = x;
    return b;
}

/* Pushes until the push is accepted (the connection may still be settling). */
static int s_push_retry(erwatch_t *c, const erwatch_batch_t *b)
{
    int rc = -EAGAIN;
    for (int i = 0; i < 300 && rc == -EAGAIN; i++) {
        rc = erwatch_push(c, b);
        if (rc == -EAGAIN)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return rc;
}

/* ---------------------------------------------------------------- tests */

TEST(two_views_arrive_with_full_header)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    erwatch_t *c = erwatch_new(d.endpoint, 0);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);

    float x[4 * 3], y[4 * 3];
    for (int i = 0; i < 12; i++) {
        x[i] = (float)i * 0.25f - 1.0f;
        y[i] = (float)i * -0.5f + 3.0f;
    }
    erwatch_scalar_t sc[2] = {{"loss", 0.71}, {"lr", 0.05}};
    erwatch_batch_t b = s_batch(x, 4, 3);
    b.y = y;
    b.step = UINT64_C(1) << 40;
    b.support = ERWATCH_DISCRETE;
    b.kappa = 25.5;
    b.rank = 3;
    b.world = 8;
    b.time = 1700000000.25;
    b.scalars = sc;
    b.nscalars = 2;
    ASSERT_EQ(erwatch_push(c, &b), 0);

    s_message_t m;
    ASSERT_EQ(s_recv(&d, &m), 0);
    ASSERT_EQ(m.nframes, 3);
    ASSERT_EQ(zmq_msg_size(&m.frame[1]), sizeof x);
    ASSERT_EQ(zmq_msg_size(&m.frame[2]), sizeof y);
    ASSERT_MEMEQ(zmq_msg_data(&m.frame[1]), x, sizeof x);
    ASSERT_MEMEQ(zmq_msg_data(&m.frame[2]), y, sizeof y);

    s_header_t h;
    ASSERT_EQ(s_header_decode(&h, &m.frame[0]), 0);
    const msgpack_object_map *map = h.map;
    ASSERT_EQ(h.dup_keys, 0);
    ASSERT_EQ(map->size, 15); /* launch included */
    ASSERT_EQ(s_get_uint(map, "v"), 1);
    ASSERT_MP_STR(s_get(map, "run"), "run-1");
    ASSERT_MP_STR(s_get(map, "tag"), "projector");
    ASSERT_EQ(s_get_uint(map, "step"), 1LL << 40);
    ASSERT_MP_STR(s_get(map, "dtype"), "f32");
    const msgpack_object *shape = s_get(map, "shape");
    ASSERT(shape);
    ASSERT_EQ(shape->type, MSGPACK_OBJECT_ARRAY);
    ASSERT_EQ(shape->via.array.size, 2);
    ASSERT_EQ(shape->via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    ASSERT_EQ(shape->via.array.ptr[0].via.u64, 4);
    ASSERT_EQ(shape->via.array.ptr[1].via.u64, 3);
    ASSERT_EQ(s_get_uint(map, "views"), 2);
    ASSERT_MP_STR(s_get(map, "support"), "discrete");
    ASSERT_EQ(s_get_num(map, "kappa"), 25.5);
    ASSERT_EQ(s_get_uint(map, "rank"), 3);
    ASSERT_EQ(s_get_uint(map, "world"), 8);
    ASSERT_EQ(s_get_num(map, "time"), 1700000000.25);
    ASSERT_EQ(s_get_uint(map, "dropped"), 0);
    const msgpack_object *scal = s_get(map, "scalars");
    ASSERT(scal);
    ASSERT_EQ(scal->type, MSGPACK_OBJECT_MAP);
    ASSERT_EQ(scal->via.map.size, 2);
    ASSERT_EQ(s_get_num(&scal->via.map, "loss"), 0.71);
    ASSERT_EQ(s_get_num(&scal->via.map, "lr"), 0.05);
    msgpack_unpacked_destroy(&h.u);
    s_message_close(&m);

    erwatch_stats_t st;
    erwatch_stats(c, &st);
    ASSERT_EQ(st.sent, 1);
    ASSERT_EQ(st.dropped, 0);
    ASSERT_EQ(st.invalid, 0);
    ASSERT_GT(st.bytes, 2 * sizeof x);
    erwatch_destroy(&c);
    ASSERT_NULL(c);
    erwatch_destroy(&c); /* a second destroy is harmless */
    s_daemon_stop(&d);
}

TEST(one_view_f64_minimal_header)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    erwatch_t *c = erwatch_new(d.endpoint, 4);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);

    double x[5 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, -1e300};
    erwatch_batch_t b = s_batch(x, 5, 2);
    b.dtype = ERWATCH_F64;
    b.step = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ASSERT_EQ(erwatch_push(c, &b), 0);

    s_message_t m;
    ASSERT_EQ(s_recv(&d, &m), 0);
    ASSERT_EQ(m.nframes, 2);
    ASSERT_EQ(zmq_msg_size(&m.frame[1]), sizeof x);
    ASSERT_MEMEQ(zmq_msg_data(&m.frame[1]), x, sizeof x);
    s_header_t h;
    ASSERT_EQ(s_header_decode(&h, &m.frame[0]), 0);
    ASSERT_EQ(h.map->size, 11); /* launch included */
    ASSERT_EQ(s_get_uint(h.map, "step"), 0);
    ASSERT_MP_STR(s_get(h.map, "dtype"), "f64");
    ASSERT_EQ(s_get_uint(h.map, "views"), 1);
    ASSERT_MP_STR(s_get(h.map, "support"), "sphere");
    ASSERT_NULL(s_get(h.map, "kappa"));
    ASSERT_NULL(s_get(h.map, "rank"));
    ASSERT_NULL(s_get(h.map, "world"));
    ASSERT_NULL(s_get(h.map, "scalars"));
    double t = s_get_num(h.map, "time"); /* "now" when the batch says 0 */
    ASSERT_LT(fabs(t - ((double)ts.tv_sec + ts.tv_nsec * 1e-9)), 5.0);
    msgpack_unpacked_destroy(&h.u);
    s_message_close(&m);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

TEST(half_precision_frames_are_two_bytes_per_element)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    erwatch_t *c = erwatch_new(d.endpoint, 0);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
    uint16_t x[3 * 2] = {0x3c00, 0x4000, 0x3c00, 0, 0xbc00, 0x3800};
    erwatch_batch_t b = s_batch(x, 3, 2);
    const erwatch_dtype_t types[2] = {ERWATCH_F16, ERWATCH_BF16};
    const char *names[2] = {"f16", "bf16"};
    for (int i = 0; i < 2; i++) {
        b.dtype = types[i];
        ASSERT_EQ(erwatch_push(c, &b), 0);
        s_message_t m;
        ASSERT_EQ(s_recv(&d, &m), 0);
        ASSERT_EQ(m.nframes, 2);
        ASSERT_EQ(zmq_msg_size(&m.frame[1]), sizeof x);
        s_header_t h;
        ASSERT_EQ(s_header_decode(&h, &m.frame[0]), 0);
        ASSERT_MP_STR(s_get(h.map, "dtype"), names[i]);
        msgpack_unpacked_destroy(&h.u);
        s_message_close(&m);
    }
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

TEST(invalid_arguments_are_refused_and_counted)
{
    char ep[256];
    s_closed_endpoint(ep, sizeof ep);
    erwatch_t *c = erwatch_new(ep, 0);
    ASSERT_NOT_NULL(c);
    float x[8] = {0};
    char long_name[200];
    memset(long_name, 'a', sizeof long_name);
    long_name[129] = '\0'; /* 129 bytes: one too many */
    char max_name[129];
    memset(max_name, 'b', 128);
    max_name[128] = '\0';
    erwatch_scalar_t nan_scalar = {"loss", NAN};
    erwatch_scalar_t dup_scalars[2] = {{"loss", 1}, {"loss", 2}};
    erwatch_scalar_t bad_name_scalar = {"lo\x01ss", 1};
    erwatch_scalar_t many[65];
    char many_names[65][16];
    for (int i = 0; i < 65; i++) {
        snprintf(many_names[i], sizeof many_names[i], "s%d", i);
        many[i].name = many_names[i];
        many[i].value = i;
    }

    int count = 0;
#define BAD(field_assign)                                                                          \
    do {                                                                                           \
        erwatch_batch_t b = s_batch(x, 2, 4);                                                      \
        field_assign;                                                                              \
        ASSERT_EQ(erwatch_push(c, &b), -EINVAL);                                                   \
        count++;                                                                                   \
    } while (0)
    BAD(b.run = NULL);
    BAD(b.run = "");
    BAD(b.tag = "");
    BAD(b.run = long_name);
    BAD(b.run = "tab\there");
    BAD(b.tag = "del\x7f");
    BAD(b.tag = "bad utf8 \xff");
    BAD(b.tag = "overlong \xc0\xaf");
    BAD(b.tag = "truncated \xe2\x82");
    BAD(b.step = (uint64_t)INT64_MAX + 1);
    BAD(b.dtype = (erwatch_dtype_t)4);
    BAD(b.support = (erwatch_support_t)2);
    BAD(b.n = 0);
    BAD(b.d = 0);
    BAD(b.n = 65537);
    BAD(b.d = 8193);
    BAD((b.n = 65536, b.d = 513)); /* N*d over 2^25 */
    BAD(b.x = NULL);
    BAD(b.kappa = -1);
    BAD(b.kappa = NAN);
    BAD(b.kappa = INFINITY);
    BAD(b.kappa = 100000.5);
    BAD(b.world = -1);
    BAD(b.world = 65537);
    BAD((b.world = 4, b.rank = 4));
    BAD((b.world = 4, b.rank = -1));
    BAD(b.time = NAN);
    BAD(b.time = -5);
    BAD((b.scalars = &nan_scalar, b.nscalars = 1));
    BAD((b.scalars = dup_scalars, b.nscalars = 2));
    BAD((b.scalars = &bad_name_scalar, b.nscalars = 1));
    BAD((b.scalars = many, b.nscalars = 65));
    BAD((b.scalars = NULL, b.nscalars = 1));
#undef BAD
    ASSERT_EQ(erwatch_push(c, NULL), -EINVAL);
    count++;
    ASSERT_EQ(erwatch_push(NULL, &(erwatch_batch_t){0}), -EINVAL);

    erwatch_stats_t st;
    erwatch_stats(c, &st);
    ASSERT_EQ(st.invalid, count);
    ASSERT_EQ(st.sent, 0);
    ASSERT_EQ(st.dropped, 0);

    /* Limits themselves are valid: these pass validation, then drop. */
    erwatch_batch_t ok = s_batch(x, 2, 4);
    ok.run = max_name;
    ok.tag = "embedding \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    ok.step = (uint64_t)INT64_MAX;
    ok.kappa = 100000;
    ok.world = 65536;
    ok.rank = 65535;
    ok.scalars = many;
    ok.nscalars = 64;
    ASSERT_EQ(erwatch_push(c, &ok), -EAGAIN);
    erwatch_stats(c, &st);
    ASSERT_EQ(st.invalid, count);
    ASSERT_EQ(st.dropped, 1);
    erwatch_destroy(&c);
}

TEST(no_daemon_10000_pushes_drop_promptly)
{
    char ep[256];
    s_closed_endpoint(ep, sizeof ep);
    erwatch_t *c = erwatch_new(ep, 0);
    ASSERT_NOT_NULL(c);
    static float x[256 * 64];
    erwatch_batch_t b = s_batch(x, 256, 64);
    b.y = x;
    double t0 = s_now();
    double worst = 0;
    for (int i = 0; i < 10000; i++) {
        double t = s_now();
        b.step = (uint64_t)i;
        ASSERT_EQ(erwatch_push(c, &b), -EAGAIN);
        if (s_now() - t > worst)
            worst = s_now() - t;
    }
    double took = s_now() - t0;
    erwatch_stats_t st;
    erwatch_stats(c, &st);
    ASSERT_EQ(st.dropped, 10000);
    ASSERT_EQ(st.sent, 0);
    ASSERT_EQ(st.bytes, 0);
    fprintf(stderr, "  # 10000 dropped pushes: %.1f ms total, worst %.3f ms\n", took * 1e3,
            worst * 1e3);
    /* A push that blocked would wait for a connection that never comes;
     * the bounds only leave room for sanitizers and a loaded machine. */
    ASSERT_LT(took, 5.0);
    ASSERT_LT(worst, 0.5);
    /* With nothing queued a flush has nothing to wait for. */
    ASSERT_EQ(erwatch_flush(c, 1000), 0);
    erwatch_destroy(&c);
}

TEST(dropped_total_rides_in_the_next_header)
{
    char ep[256];
    s_closed_endpoint(ep, sizeof ep);
    erwatch_t *c = erwatch_new(ep, 0);
    ASSERT_NOT_NULL(c);
    float x[6] = {1, 2, 3, 4, 5, 6};
    erwatch_batch_t b = s_batch(x, 2, 3);
    for (int i = 0; i < 37; i++)
        ASSERT_EQ(erwatch_push(c, &b), -EAGAIN);

    /* The daemon comes up on the port the client keeps reconnecting to. */
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, ep, 0), 0);
    ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
    b.step = 100;
    ASSERT_EQ(erwatch_push(c, &b), 0);
    b.step = 101;
    ASSERT_EQ(erwatch_push(c, &b), 0);

    long long expect[2] = {37, 37};
    for (int k = 0; k < 2; k++) {
        s_message_t m;
        ASSERT_EQ(s_recv(&d, &m), 0);
        s_header_t h;
        ASSERT_EQ(s_header_decode(&h, &m.frame[0]), 0);
        ASSERT_EQ(s_get_uint(h.map, "step"), 100 + k);
        ASSERT_EQ(s_get_uint(h.map, "dropped"), expect[k]);
        msgpack_unpacked_destroy(&h.u);
        s_message_close(&m);
    }
    erwatch_stats_t st;
    erwatch_stats(c, &st);
    ASSERT_EQ(st.dropped, 37);
    ASSERT_EQ(st.sent, 2);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

TEST(wait_connected_times_out_without_daemon)
{
    char ep[256];
    s_closed_endpoint(ep, sizeof ep);
    erwatch_t *c = erwatch_new(ep, 0);
    ASSERT_NOT_NULL(c);
    double t0 = s_now();
    ASSERT_EQ(erwatch_wait_connected(c, 150), -ETIMEDOUT);
    double took = s_now() - t0;
    ASSERT_GE(took, 0.14);
    ASSERT_LT(took, 2.0);
    ASSERT_EQ(erwatch_wait_connected(c, 0), -ETIMEDOUT);
    erwatch_destroy(&c);
}

TEST(flush_delivers_queued_batches)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    erwatch_t *c = erwatch_new(d.endpoint, 100);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(erwatch_flush(c, 0), 0); /* nothing sent yet */
    ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
    static float x[1024 * 64];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)i;
    erwatch_batch_t b = s_batch(x, 1024, 64);
    int sent = 0;
    for (int i = 0; i < 20; i++) {
        b.step = (uint64_t)i;
        if (erwatch_push(c, &b) == 0)
            sent++;
    }
    ASSERT_GT(sent, 0);
    ASSERT_EQ(erwatch_flush(c, 0), -ETIMEDOUT); /* would have to wait */
    ASSERT_EQ(erwatch_flush(c, 3000), 0);
    /* Flushed batches are out of the client: all of them arrive intact. */
    for (int i = 0; i < sent; i++) {
        s_message_t m;
        ASSERT_EQ(s_recv(&d, &m), 0);
        ASSERT_EQ(m.nframes, 2);
        ASSERT_MEMEQ(zmq_msg_data(&m.frame[1]), x, sizeof x);
        s_message_close(&m);
    }
    /* The client is usable right after a flush: it reconnected already. */
    b.step = 99;
    ASSERT_EQ(erwatch_push(c, &b), 0);
    ASSERT_EQ(erwatch_flush(c, 3000), 0);
    s_message_t m;
    ASSERT_EQ(s_recv(&d, &m), 0);
    s_header_t h;
    ASSERT_EQ(s_header_decode(&h, &m.frame[0]), 0);
    ASSERT_EQ(s_get_uint(h.map, "step"), 99);
    msgpack_unpacked_destroy(&h.u);
    s_message_close(&m);
    ASSERT_EQ(erwatch_flush(c, 3000), 0); /* nothing new: returns at once */
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

TEST(flush_times_out_when_daemon_does_not_read)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 1), 0);
    /* A budget above the 8 batches: this test is about flush, not drops. */
    erwatch_t *c = erwatch_new_opts(
        &(erwatch_options_t){.endpoint = d.endpoint, .max_buffer_bytes = (size_t)256 << 20});
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
    /* 16 MB batches: far more than the loopback socket buffers hold. */
    float *x = calloc((size_t)65536 * 64, sizeof *x);
    ASSERT_NOT_NULL(x);
    erwatch_batch_t b = s_batch(x, 65536, 64);
    int sent = 0;
    for (int i = 0; i < 8; i++)
        sent += erwatch_push(c, &b) == 0;
    free(x);
    ASSERT_GE(sent, 4);
    double t0 = s_now();
    ASSERT_EQ(erwatch_flush(c, 200), -ETIMEDOUT);
    double took = s_now() - t0;
    ASSERT_GE(took, 0.19);
    ASSERT_LT(took, 3.0);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

/* erwatch_new() waits for the daemon (1 s by default), so the very first
 * push of a job is not dropped while TCP connects. */
TEST(new_waits_so_the_first_push_is_not_dropped)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    for (int i = 0; i < 5; i++) {
        erwatch_t *c = erwatch_new(d.endpoint, 0);
        ASSERT_NOT_NULL(c);
        float x[2] = {1, 2};
        erwatch_batch_t b = s_batch(x, 1, 2);
        ASSERT_EQ(erwatch_push(c, &b), 0);
        ASSERT_EQ(erwatch_flush(c, 3000), 0);
        s_message_t m;
        ASSERT_EQ(s_recv(&d, &m), 0);
        s_message_close(&m);
        erwatch_destroy(&c);
    }
    /* With no daemon it gives up after connect_timeout_ms, not later. */
    char ep[256];
    s_closed_endpoint(ep, sizeof ep);
    double t0 = s_now();
    erwatch_t *c =
        erwatch_new_opts(&(erwatch_options_t){.endpoint = ep, .connect_timeout_ms = 200});
    double took = s_now() - t0;
    ASSERT_NOT_NULL(c);
    if (took < 0.19 || took > 2.0)
        T_FAIL_("erwatch_new with no daemon took %.3f s, want about 0.2", took);
    erwatch_destroy(&c);
    t0 = s_now();
    c = erwatch_new_opts(&(erwatch_options_t){.endpoint = ep, .connect_timeout_ms = -1});
    took = s_now() - t0;
    ASSERT_NOT_NULL(c);
    if (took > 0.1)
        T_FAIL_("erwatch_new told not to wait took %.3f s", took);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

/* Scalar-only: x NULL, n = d = 0, scalars: one frame, views 0. */
TEST(scalar_only_push_is_one_frame)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    erwatch_t *c = erwatch_new(d.endpoint, 0);
    ASSERT_NOT_NULL(c);
    erwatch_scalar_t sc[1] = {{"loss", 0.5}};
    erwatch_batch_t b = s_batch(NULL, 0, 0);
    b.scalars = sc;
    b.nscalars = 1;
    ASSERT_EQ(erwatch_push(c, &b), 0);
    s_message_t m;
    ASSERT_EQ(s_recv(&d, &m), 0);
    ASSERT_EQ(m.nframes, 1);
    s_header_t h;
    ASSERT_EQ(s_header_decode(&h, &m.frame[0]), 0);
    ASSERT_EQ(s_get_uint(h.map, "views"), 0);
    ASSERT_NULL(s_get(h.map, "dtype"));
    ASSERT_NULL(s_get(h.map, "shape"));
    const msgpack_object *scal = s_get(h.map, "scalars");
    ASSERT(scal);
    ASSERT_EQ(s_get_num(&scal->via.map, "loss"), 0.5);
    msgpack_unpacked_destroy(&h.u);
    s_message_close(&m);
    /* nothing to send, or a half-described tensor: refused */
    b.nscalars = 0;
    ASSERT_EQ(erwatch_push(c, &b), -EINVAL);
    b.nscalars = 1;
    b.n = 4;
    ASSERT_EQ(erwatch_push(c, &b), -EINVAL);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

/* The buffer is bounded in bytes: against a daemon that does not read,
 * pushes are accepted until the bytes ZeroMQ holds reach the budget, each
 * drop comes with the budget too full for the batch, and the fill never
 * passes it. */
TEST(byte_budget_bounds_the_buffer)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 1), 0);
    const size_t budget = (size_t)1 << 20;
    erwatch_t *c =
        erwatch_new_opts(&(erwatch_options_t){.endpoint = d.endpoint, .max_buffer_bytes = budget});
    ASSERT_NOT_NULL(c);
    static float x[256 * 32], y[256 * 32]; /* 32 KiB a view */
    erwatch_batch_t b = s_batch(x, 256, 32);
    b.y = y;
    const size_t need = 2 * sizeof x; /* plus a header under 200 bytes */
    int sent = 0, dropped = 0, early = 0;
    for (int i = 0; i < 2000; i++) {
        erwatch_stats_t before, after;
        erwatch_stats(c, &before);
        int rc = erwatch_push(c, &b);
        erwatch_stats(c, &after);
        if (rc == 0) {
            sent++;
        } else {
            ASSERT_EQ(rc, -EAGAIN);
            dropped++;
            /* slack for frames ZeroMQ finished between the two reads */
            if (before.buffered + need + 1024 <= budget)
                early++;
        }
        if (after.buffered > budget)
            T_FAIL_("buffered %llu > budget %zu after push %d", (unsigned long long)after.buffered,
                    budget, i);
    }
    printf("# budget 1 MiB, daemon not reading: %d sent, %d dropped\n", sent, dropped);
    ASSERT_GE(sent, 16); /* at least the budget's worth */
    ASSERT_GT(dropped, 0);
    ASSERT_EQ(early, 0);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

/* 20 back-to-back 64 KiB batches with the default budget: none dropped. */
TEST(twenty_back_to_back_batches_drop_none)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    erwatch_t *c = erwatch_new(d.endpoint, 0);
    ASSERT_NOT_NULL(c);
    static float x[256 * 32], y[256 * 32];
    erwatch_batch_t b = s_batch(x, 256, 32);
    b.y = y;
    for (int i = 0; i < 20; i++) {
        b.step = (uint64_t)i;
        ASSERT_EQ(erwatch_push(c, &b), 0);
    }
    ASSERT_EQ(erwatch_flush(c, 5000), 0);
    for (int i = 0; i < 20; i++) {
        s_message_t m;
        ASSERT_EQ(s_recv(&d, &m), 0);
        ASSERT_EQ(m.nframes, 3);
        s_message_close(&m);
    }
    erwatch_stats_t st;
    erwatch_stats(c, &st);
    ASSERT_EQ(st.dropped, 0);
    ASSERT_EQ(st.buffered, 0);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

TEST(endpoint_from_environment)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    setenv("ERWATCH_ENDPOINT", d.endpoint, 1);
    erwatch_t *c = erwatch_new(NULL, 0);
    unsetenv("ERWATCH_ENDPOINT");
    ASSERT_NOT_NULL(c);
    float x[2] = {1, 2};
    erwatch_batch_t b = s_batch(x, 1, 2);
    ASSERT_EQ(s_push_retry(c, &b), 0);
    s_message_t m;
    ASSERT_EQ(s_recv(&d, &m), 0);
    ASSERT_EQ(m.nframes, 2);
    s_message_close(&m);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

TEST(bad_endpoint_gives_null)
{
    ASSERT_NULL(erwatch_new("", 0));
    ASSERT_NULL(erwatch_new("not an endpoint", 0));
    ASSERT_NULL(erwatch_new("bogus://127.0.0.1:5557", 0));
    erwatch_t *c = erwatch_new("tcp://127.0.0.1:1", -5); /* bad hwm: default */
    ASSERT_NOT_NULL(c);
    erwatch_destroy(&c);
}

TEST(strerror_names_every_code)
{
    ASSERT_HAS(erwatch_strerror(-EAGAIN), "dropped");
    ASSERT_HAS(erwatch_strerror(-EINVAL), "invalid");
    ASSERT_HAS(erwatch_strerror(-ETIMEDOUT), "timed out");
    ASSERT_HAS(erwatch_strerror(-ENOMEM), "memory");
    ASSERT_NOT_NULL(erwatch_strerror(0));
    ASSERT_NOT_NULL(erwatch_strerror(-EPROTO));
    ASSERT_NOT_NULL(erwatch_strerror(12345));
    erwatch_stats_t st;
    memset(&st, 0xff, sizeof st);
    erwatch_stats(NULL, &st);
    ASSERT_EQ(st.sent, 0);
    ASSERT_EQ(erwatch_flush(NULL, 10), -EINVAL);
    ASSERT_EQ(erwatch_wait_connected(NULL, 10), -EINVAL);
}

TEST(launch_resume_and_meta_ride_in_headers)
{
    s_daemon_t d;
    ASSERT_EQ(s_daemon_start(&d, "tcp://127.0.0.1:*", 0), 0);
    unsetenv("ERWATCH_LAUNCH");
    unsetenv("TORCHELASTIC_RUN_ID");
    erwatch_t *c = erwatch_new(d.endpoint, 4), *c2 = erwatch_new(d.endpoint, 4);
    ASSERT_NOT_NULL(c);
    ASSERT_NOT_NULL(c2);
    /* a random 128-bit id, different for each client */
    const char *l = erwatch_launch(c);
    ASSERT_EQ(strlen(l), 32);
    ASSERT_EQ(strspn(l, "0123456789abcdef"), 32);
    ASSERT_STRNE(l, erwatch_launch(c2));
    erwatch_destroy(&c2);
    /* from the environment, so that the ranks of one job share it */
    setenv("TORCHELASTIC_RUN_ID", "job42", 1);
    setenv("TORCHELASTIC_RESTART_COUNT", "3", 1);
    c2 = erwatch_new(d.endpoint, 4);
    ASSERT_STREQ(erwatch_launch(c2), "job42.3");
    erwatch_destroy(&c2);
    setenv("ERWATCH_LAUNCH", "shared-7", 1);
    c2 = erwatch_new(d.endpoint, 4);
    ASSERT_STREQ(erwatch_launch(c2), "shared-7");
    erwatch_destroy(&c2);
    setenv("ERWATCH_LAUNCH", "has space", 1);
    ASSERT_NULL(erwatch_new(d.endpoint, 4));
    unsetenv("ERWATCH_LAUNCH");
    unsetenv("TORCHELASTIC_RUN_ID");
    unsetenv("TORCHELASTIC_RESTART_COUNT");

    /* bad values change nothing */
    ASSERT_EQ(erwatch_set_launch(c, "a b", 0), -EINVAL);
    ASSERT_EQ(erwatch_set_launch(c, "", 1), -EINVAL);
    ASSERT_EQ(erwatch_set_meta(c, "{lr: 1}", NULL), -EINVAL);
    ASSERT_EQ(erwatch_set_meta(c, "[1]", NULL), -EINVAL);
    ASSERT_EQ(erwatch_set_meta(c, "{\"a\":1,\"a\":2}", NULL), -EINVAL);
    ASSERT_EQ(erwatch_set_meta(c, NULL, "bell\a"), -EINVAL);
    static char big[ERWATCH_CONFIG_MAX + 2];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[ERWATCH_CONFIG_MAX] = '}'; /* 32769 bytes */
    ASSERT_EQ(erwatch_set_meta(c, big, NULL), -EINVAL);
    big[ERWATCH_CONFIG_MAX] = '\0';
    big[ERWATCH_CONFIG_MAX - 1] = '}'; /* 32768: fits */
    ASSERT_EQ(erwatch_set_meta(c, big, NULL), 0);
    ASSERT_STREQ(erwatch_launch(c), l);

    ASSERT_EQ(erwatch_set_launch(c, "run-7", 1), 0);
    ASSERT_EQ(erwatch_set_meta(c, "{\"lr\": 0.05}", "first\ttry\n"), 0);
    ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
    float x[2 * 3] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 2; i++) {
        erwatch_batch_t b = s_batch(x, 2, 3);
        b.step = (uint64_t)i;
        ASSERT_EQ(erwatch_push(c, &b), 0);
        s_message_t m;
        ASSERT_EQ(s_recv(&d, &m), 0);
        s_header_t h;
        ASSERT_EQ(s_header_decode(&h, &m.frame[0]), 0);
        ASSERT(s_str_is(s_get(h.map, "launch"), "run-7"));
        const msgpack_object *r = s_get(h.map, "resume");
        ASSERT_NOT_NULL(r);
        ASSERT_EQ(r->type, MSGPACK_OBJECT_BOOLEAN);
        ASSERT(r->via.boolean);
        if (i == 0) { /* the first batch carries the metadata */
            ASSERT(s_str_is(s_get(h.map, "config"), "{\"lr\": 0.05}"));
            ASSERT(s_str_is(s_get(h.map, "notes"), "first\ttry\n"));
        } else { /* later ones do not */
            ASSERT_NULL(s_get(h.map, "config"));
            ASSERT_NULL(s_get(h.map, "notes"));
        }
        ASSERT_EQ(h.dup_keys, 0);
        msgpack_unpacked_destroy(&h.u);
        s_message_close(&m);
    }
    /* the same through erwatch_options_t's fields */
    erwatch_options_t o = {.endpoint = d.endpoint,
                           .connect_timeout_ms = -1,
                           .launch = "opt-1",
                           .resume = 1,
                           .config_json = "{\"k\": [1]}",
                           .notes = "n"};
    c2 = erwatch_new_opts(&o);
    ASSERT_NOT_NULL(c2);
    ASSERT_STREQ(erwatch_launch(c2), "opt-1");
    erwatch_destroy(&c2);
    o.config_json = "[1]"; /* not an object: refused */
    ASSERT_NULL(erwatch_new_opts(&o));
    o.config_json = NULL;
    o.launch = "";
    ASSERT_NULL(erwatch_new_opts(&o)); /* resume without a launch */
    o.resume = 0;
    c2 = erwatch_new_opts(&o);
    ASSERT_NOT_NULL(c2);
    ASSERT_STREQ(erwatch_launch(c2), "");
    erwatch_destroy(&c2);
    /* "": no launch at all (erwatch push without --launch) */
    ASSERT_EQ(erwatch_set_launch(c, "", 0), 0);
    erwatch_batch_t b = s_batch(x, 2, 3);
    ASSERT_EQ(erwatch_push(c, &b), 0);
    s_message_t m;
    ASSERT_EQ(s_recv(&d, &m), 0);
    s_header_t h;
    ASSERT_EQ(s_header_decode(&h, &m.frame[0]), 0);
    ASSERT_NULL(s_get(h.map, "launch"));
    ASSERT_NULL(s_get(h.map, "resume"));
    msgpack_unpacked_destroy(&h.u);
    s_message_close(&m);
    erwatch_destroy(&c);
    s_daemon_stop(&d);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(two_views_arrive_with_full_header),
        T(one_view_f64_minimal_header),
        T(half_precision_frames_are_two_bytes_per_element),
        T(invalid_arguments_are_refused_and_counted),
        T(no_daemon_10000_pushes_drop_promptly),
        T(dropped_total_rides_in_the_next_header),
        T(wait_connected_times_out_without_daemon),
        T(flush_delivers_queued_batches),
        T(flush_times_out_when_daemon_does_not_read),
        T(new_waits_so_the_first_push_is_not_dropped),
        T(scalar_only_push_is_one_frame),
        T(byte_budget_bounds_the_buffer),
        T(twenty_back_to_back_batches_drop_none),
        T(endpoint_from_environment),
        T(bad_endpoint_gives_null),
        T(strerror_names_every_code),
        T(launch_resume_and_meta_ride_in_headers),
        {0},
    });
}
