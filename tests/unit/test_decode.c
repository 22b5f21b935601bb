/* test_decode.c: unit tests of daemon/decode.c against schema/protocol.md.
 *
 * Headers are built with msgpack-c's packer from a list of key/value specs
 * laid over a valid base header (v, run, tag, step, dtype f32, shape [2, 3]),
 * so each test states only what it changes. Inputs msgpack-c cannot produce
 * (truncated, trailing bytes, lying lengths, wide int encodings) are written
 * as raw bytes. Tensors are written byte by byte in little-endian order, as
 * the protocol says, whatever the host.
 *
 * `every_reason_is_produced` runs a table of bad messages, at least one per
 * rejection reason, and fails if any reason of ew_reject_t is never seen.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "decode.h"
#include "test.h"

/* ------------------------------------------------------------ header builder */

/* One header entry. kind: 'i' int64, 'u' uint64, 'd' float64, 'f' float32,
 * 's' string (slen 0: strlen), 'b' true, 'n' nil, 'a' array of ints,
 * 'm' map from sub (a {0}-terminated list), 'r' raw msgpack bytes (s, slen),
 * '-' leave the base key out. dup: append even when the key is in the base. */
typedef struct kv kv_t;
struct kv {
    const char *key;
    char kind;
    int64_t i;
    uint64_t u;
    double d;
    const char *s;
    size_t slen;
    const kv_t *sub;
    int64_t arr[4];
    int narr;
    int dup;
};

/* clang-format off */
#define KI(k, v) {.key = (k), .kind = 'i', .i = (v)}
#define KU(k, v) {.key = (k), .kind = 'u', .u = (v)}
#define KD(k, v) {.key = (k), .kind = 'd', .d = (v)}
#define KF(k, v) {.key = (k), .kind = 'f', .d = (v)}
#define KS(k, v) {.key = (k), .kind = 's', .s = (v)}
#define KSN(k, v, n) {.key = (k), .kind = 's', .s = (v), .slen = (n)}
#define KN(k) {.key = (k), .kind = 'n'}
#define KB(k) {.key = (k), .kind = 'b'}
#define KA(k, ...)                                                                                 \
    {.key = (k), .kind = 'a', .arr = {__VA_ARGS__},                                                \
     .narr = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))}
#define KM(k, ...) {.key = (k), .kind = 'm', .sub = (__VA_ARGS__)}
#define KR(k, raw) {.key = (k), .kind = 'r', .s = (raw), .slen = sizeof(raw) - 1}
#define KOMIT(k) {.key = (k), .kind = '-'}
/* clang-format on */

static const kv_t s_base[] = {
    KI("v", 1),
    KS("run", "run-a"),
    KS("tag", "proj"),
    KI("step", 12),
    KS("dtype", "f32"),
    KA("shape", 2, 3),
    {0},
};

/* Filled by s_big_fill() before the cases run: a JSON object of exactly
 * EW_CONFIG_MAX + 1 bytes, {"k":"aaa...a"}, good JSON but too long. */
static char s_big[EW_CONFIG_MAX + 2];

static void s_big_fill(void)
{
    size_t n = EW_CONFIG_MAX + 1;
    memset(s_big, 'a', n);
    memcpy(s_big, "{\"k\":\"", 6);
    memcpy(s_big + n - 2, "\"}", 2);
    s_big[n] = '\0';
}

static void s_pack_value(msgpack_packer *pk, const kv_t *e);

static void s_pack_map(msgpack_packer *pk, const kv_t *list)
{
    size_t n = 0;
    while (list[n].key)
        n++;
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(pk, list[i].key, strlen(list[i].key));
        s_pack_value(pk, &list[i]);
    }
}

static void s_pack_value(msgpack_packer *pk, const kv_t *e)
{
    switch (e->kind) {
    case 'i':
        msgpack_pack_int64(pk, e->i);
        break;
    case 'u':
        msgpack_pack_uint64(pk, e->u);
        break;
    case 'd':
        msgpack_pack_double(pk, e->d);
        break;
    case 'f':
        msgpack_pack_float(pk, (float)e->d);
        break;
    case 's': {
        size_t n = e->slen ? e->slen : strlen(e->s);
        msgpack_pack_str_with_body(pk, e->s, n);
        break;
    }
    case 'b':
        msgpack_pack_true(pk);
        break;
    case 'n':
        msgpack_pack_nil(pk);
        break;
    case 'a':
        msgpack_pack_array(pk, (size_t)e->narr);
        for (int i = 0; i < e->narr; i++)
            msgpack_pack_int64(pk, e->arr[i]);
        break;
    case 'm':
        s_pack_map(pk, e->sub);
        break;
    case 'r':
        msgpack_sbuffer_write(pk->data, e->s, e->slen);
        break;
    default:
        abort();
    }
}

/* Packs the base header with `over` laid on it into sb (initialised here). */
static void s_header(msgpack_sbuffer *sb, const kv_t *over)
{
    kv_t list[64];
    int n = 0;
    msgpack_packer pk;

    for (const kv_t *b = s_base; b->key; b++) {
        const kv_t *use = b;
        for (const kv_t *o = over; o && o->key; o++)
            if (!o->dup && strcmp(o->key, b->key) == 0)
                use = o;
        if (use->kind != '-')
            list[n++] = *use;
    }
    for (const kv_t *o = over; o && o->key; o++) {
        int in_base = 0;
        for (const kv_t *b = s_base; b->key; b++)
            in_base |= strcmp(o->key, b->key) == 0;
        if ((o->dup || !in_base) && o->kind != '-')
            list[n++] = *o;
    }
    list[n] = (kv_t){0};
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    s_pack_map(&pk, list);
}

static int s_header_decode(const kv_t *over, ew_header_t *h, decode_error_t *err)
{
    msgpack_sbuffer sb;
    s_header(&sb, over);
    int rc = decode_header(sb.data, sb.size, h, err);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* ------------------------------------------------------------ tensor bytes */

static void s_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void s_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void s_put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    s_put32(p, u);
}

static void s_put_f64(uint8_t *p, double f)
{
    uint64_t u;
    memcpy(&u, &f, 8);
    s_put64(p, u);
}

/* Decodes header `over` followed by one or two tensor frames. */
static int s_decode2(const kv_t *over, const void *t1, size_t n1, const void *t2, size_t n2,
                     batch_t **b, decode_error_t *err)
{
    msgpack_sbuffer sb;
    s_header(&sb, over);
    decode_frame_t f[3] = {{sb.data, sb.size}, {t1, n1}, {t2, n2}};
    int rc = decode_message(f, t2 ? 3 : 2, 100.25, b, err);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int s_decode(const kv_t *over, const void *t, size_t n, batch_t **b, decode_error_t *err)
{
    return s_decode2(over, t, n, NULL, 0, b, err);
}

/* ------------------------------------------------------------ good messages */

TEST(good_f32_with_defaults)
{
    uint8_t t[24];
    float want[6] = {1.5f, -2.0f, 0.0f, 3.25e-40f /* subnormal */, FLT_MAX, -1e-3f};
    for (int i = 0; i < 6; i++)
        s_put_f32(t + 4 * i, want[i]);
    batch_t *b = NULL;
    decode_error_t err;
    ASSERT_EQ(s_decode(NULL, t, sizeof t, &b, &err), 0);
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(b->h.version, 1);
    ASSERT_STREQ(b->h.run, "run-a");
    ASSERT_STREQ(b->h.tag, "proj");
    ASSERT_EQ(b->h.step, 12);
    ASSERT_EQ(b->h.dtype, EW_DTYPE_F32);
    ASSERT_EQ(b->h.n, 2);
    ASSERT_EQ(b->h.d, 3);
    ASSERT_EQ(b->h.views, 1);
    ASSERT_EQ(b->h.support, EW_SUPPORT_SPHERE);
    ASSERT_EQ(b->h.kappa, EW_KAPPA_DEFAULT);
    ASSERT_EQ(b->h.rank, -1);
    ASSERT_EQ(b->h.world, -1);
    ASSERT_NAN(b->h.time);
    ASSERT_EQ(b->h.dropped, 0);
    ASSERT_EQ(b->h.nscalars, 0);
    ASSERT_EQ(b->recv_time, 100.25);
    ASSERT_NOT_NULL(b->view[0]);
    ASSERT_NULL(b->view[1]);
    ASSERT_EQ(b->bytes, sizeof(batch_t) + 6 * sizeof(float));
    for (int i = 0; i < 6; i++)
        ASSERT_MEMEQ(&b->view[0][i], &want[i], 4);
    batch_destroy(&b);
    ASSERT_NULL(b);
    batch_destroy(&b); /* second destroy is a no-op */
}

TEST(good_f64_rounds_to_nearest)
{
    double src[6] = {0.1,
                     -1.0 / 3.0,
                     1e-50 /* underflows to 0 */,
                     3.4028235e38 /* rounds to FLT_MAX */,
                     0x1.fffffefffffffp+127 /* just below the overflow threshold */,
                     1.0 + 0x1p-24};
    uint8_t t[48];
    for (int i = 0; i < 6; i++)
        s_put_f64(t + 8 * i, src[i]);
    batch_t *b = NULL;
    decode_error_t err;
    ASSERT_EQ(s_decode((kv_t[]){KS("dtype", "f64"), {0}}, t, sizeof t, &b, &err), 0);
    ASSERT_EQ(b->view[0][0], 0.1f);
    ASSERT_EQ(b->view[0][1], (float)(-1.0 / 3.0));
    ASSERT_EQ(b->view[0][2], 0.0f);
    ASSERT_EQ(b->view[0][3], FLT_MAX);
    ASSERT_EQ(b->view[0][4], FLT_MAX);
    ASSERT_EQ(b->view[0][5], 1.0f); /* a tie rounds to even */
    batch_destroy(&b);
}

TEST(good_f16_incl_subnormals)
{
    static const struct {
        uint16_t bits;
        float want;
    } c[] = {
        {0x3c00, 1.0f},
        {0xc000, -2.0f},
        {0x0001, 0x1p-24f} /* smallest subnormal */,
        {0x03ff, 1023 * 0x1p-24f} /* largest subnormal */,
        {0x0400, 0x1p-14f} /* smallest normal */,
        {0x7bff, 65504.0f} /* largest */,
        {0x8001, -0x1p-24f},
        {0x3555, 0x1.554p-2f},
        {0x8000, -0.0f},
        {0x0000, 0.0f},
    };
    enum { K = sizeof c / sizeof c[0] };
    uint8_t t[2 * K];
    for (int i = 0; i < K; i++)
        s_put16(t + 2 * i, c[i].bits);
    batch_t *b = NULL;
    decode_error_t err;
    ASSERT_EQ(s_decode((kv_t[]){KS("dtype", "f16"), KA("shape", 1, K), {0}}, t, sizeof t, &b, &err),
              0);
    for (int i = 0; i < K; i++) {
        if (b->view[0][i] != c[i].want)
            T_FAIL_("f16 0x%04x -> %a, want %a", c[i].bits, b->view[0][i], c[i].want);
    }
    ASSERT(signbit(b->view[0][8]) && !signbit(b->view[0][9]));
    batch_destroy(&b);
}

TEST(good_bf16_exact_widening)
{
    static const struct {
        uint16_t bits;
        float want;
    } c[] = {
        {0x3f80, 1.0f},
        {0xc049, -3.140625f},
        {0x0001, 0x1p-133f} /* subnormal */,
        {0x0080, 0x1p-126f},
        {0x7f7f, 0x1.fep127f} /* largest */,
        {0x8000, -0.0f},
    };
    enum { K = sizeof c / sizeof c[0] };
    uint8_t t[2 * K];
    for (int i = 0; i < K; i++)
        s_put16(t + 2 * i, c[i].bits);
    batch_t *b = NULL;
    decode_error_t err;
    ASSERT_EQ(
        s_decode((kv_t[]){KS("dtype", "bf16"), KA("shape", K, 1), {0}}, t, sizeof t, &b, &err), 0);
    for (int i = 0; i < K; i++) {
        if (b->view[0][i] != c[i].want)
            T_FAIL_("bf16 0x%04x -> %a, want %a", c[i].bits, b->view[0][i], c[i].want);
    }
    batch_destroy(&b);
}

TEST(good_two_views)
{
    uint8_t x[24], y[24];
    for (int i = 0; i < 6; i++) {
        s_put_f32(x + 4 * i, (float)i);
        s_put_f32(y + 4 * i, (float)(10 + i));
    }
    batch_t *b = NULL;
    decode_error_t err;
    ASSERT_EQ(s_decode2((kv_t[]){KI("views", 2), {0}}, x, sizeof x, y, sizeof y, &b, &err), 0);
    ASSERT_EQ(b->h.views, 2);
    ASSERT_NOT_NULL(b->view[0]);
    ASSERT_NOT_NULL(b->view[1]);
    ASSERT_EQ(b->bytes, sizeof(batch_t) + 2 * 6 * sizeof(float));
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ(b->view[0][i], (float)i);
        ASSERT_EQ(b->view[1][i], (float)(10 + i));
    }
    batch_destroy(&b);
}

/* views 0: a scalar-only batch, one frame, no dtype or shape needed. */
TEST(good_scalar_only)
{
    const kv_t scalars[] = {KD("loss", 0.5), KI("lr", 2), {0}};
    const kv_t over[] = {KI("views", 0),
                         {.key = "dtype", .kind = '-'},
                         {.key = "shape", .kind = '-'},
                         KM("scalars", scalars),
                         {0}};
    msgpack_sbuffer sb;
    s_header(&sb, over);
    decode_frame_t f[1] = {{sb.data, sb.size}};
    batch_t *b = NULL;
    decode_error_t err;
    int rc = decode_message(f, 1, 7.5, &b, &err);
    if (rc != 0)
        T_FAIL_("scalar-only batch refused: %s", err.msg);
    ASSERT_EQ(b->h.views, 0);
    ASSERT_EQ(b->h.n, 0);
    ASSERT_EQ(b->h.d, 0);
    ASSERT_NULL(b->view[0]);
    ASSERT_NULL(b->view[1]);
    ASSERT_EQ(b->h.nscalars, 2);
    ASSERT_STREQ(b->h.scalars[0].name, "loss");
    ASSERT_EQ(b->h.scalars[1].value, 2.0);
    ASSERT_EQ(b->bytes, sizeof(batch_t));
    batch_destroy(&b);

    /* the same header with a tensor frame after it: frames */
    uint8_t t[24] = {0};
    decode_frame_t f2[2] = {{sb.data, sb.size}, {t, sizeof t}};
    ASSERT_EQ(decode_message(f2, 2, 0, &b, &err), -1);
    ASSERT_EQ(err.reason, EW_REJ_FRAMES);
    ASSERT_HAS(err.msg, "views=0 (1 frame)");
    msgpack_sbuffer_destroy(&sb);

    /* dtype and shape, when given, are still checked */
    const kv_t bad_shape[] = {KI("views", 0), KA("shape", 0, 3), KM("scalars", scalars), {0}};
    s_header(&sb, bad_shape);
    decode_frame_t f3[1] = {{sb.data, sb.size}};
    ASSERT_EQ(decode_message(f3, 1, 0, &b, &err), -1);
    ASSERT_EQ(err.reason, EW_REJ_SHAPE);
    msgpack_sbuffer_destroy(&sb);
}

TEST(good_every_optional_key)
{
    const kv_t scalars[] = {KD("loss", 0.71), KI("lr", -5), KF("er_entropy", 2.5f), {0}};
    ew_header_t h;
    decode_error_t err;
    ASSERT_EQ(s_header_decode((kv_t[]){KI("views", 2),
                                       KS("support", "discrete"),
                                       KD("kappa", 2.5),
                                       KI("rank", 3),
                                       KI("world", 8),
                                       KD("time", 1.7e9),
                                       KM("scalars", scalars),
                                       KU("dropped", 41),
                                       {0}},
                              &h, &err),
              0);
    ASSERT_EQ(h.views, 2);
    ASSERT_EQ(h.support, EW_SUPPORT_DISCRETE);
    ASSERT_EQ(h.kappa, 2.5);
    ASSERT_EQ(h.rank, 3);
    ASSERT_EQ(h.world, 8);
    ASSERT_EQ(h.time, 1.7e9);
    ASSERT_EQ(h.dropped, 41);
    ASSERT_EQ(h.nscalars, 3);
    ASSERT_STREQ(h.scalars[0].name, "loss");
    ASSERT_EQ(h.scalars[0].value, 0.71);
    ASSERT_STREQ(h.scalars[1].name, "lr");
    ASSERT_EQ(h.scalars[1].value, -5.0);
    ASSERT_STREQ(h.scalars[2].name, "er_entropy");
    ASSERT_EQ(h.scalars[2].value, 2.5);

    /* "number" keys take ints and float32 too */
    ASSERT_EQ(s_header_decode((kv_t[]){KI("kappa", 5), KI("time", 0), {0}}, &h, &err), 0);
    ASSERT_EQ(h.kappa, 5.0);
    ASSERT_EQ(h.time, 0.0);
    ASSERT_EQ(s_header_decode((kv_t[]){KF("kappa", 0.5), {0}}, &h, &err), 0);
    ASSERT_EQ(h.kappa, 0.5);
    /* world alone is fine; explicit defaults too */
    ASSERT_EQ(s_header_decode((kv_t[]){KI("world", 4),
                                       KI("views", 1),
                                       KS("support", "sphere"),
                                       KI("dropped", 0),
                                       KM("scalars", (kv_t[]){{0}}),
                                       {0}},
                              &h, &err),
              0);
    ASSERT_EQ(h.world, 4);
    ASSERT_EQ(h.rank, -1);
    ASSERT_EQ(h.nscalars, 0);
    ASSERT_EQ(h.pool, 0);
    /* a pooled part */
    ASSERT_EQ(s_header_decode((kv_t[]){KI("rank", 1), KI("world", 2), KB("pool"), {0}}, &h, &err),
              0);
    ASSERT_EQ(h.pool, 1);
    ASSERT_EQ(h.rank, 1);
    ASSERT_EQ(h.ranks, 0);
}

TEST(launch_resume_config_notes)
{
    static const kv_t over[] = {KS("launch", "0123abcd-ef"),
                                KB("resume"),
                                KS("config", "{\"lr\": 0.05, \"opt\": {\"m\": [1, 2]}}"),
                                KS("notes", "first try\n\twith tabs, \xc3\xa9t\xc3\xa9"),
                                {0}};
    static const float t[6] = {0};
    decode_error_t err;
    batch_t *b = NULL;
    ASSERT_EQ(s_decode(over, t, sizeof t, &b, &err), 0);
    ASSERT_NOT_NULL(b);
    ASSERT_STREQ(b->h.launch, "0123abcd-ef");
    ASSERT_EQ(b->h.resume, 1);
    ASSERT_STREQ(b->config, "{\"lr\": 0.05, \"opt\": {\"m\": [1, 2]}}");
    ASSERT_STREQ(b->notes, "first try\n\twith tabs, \xc3\xa9t\xc3\xa9");
    batch_destroy(&b);
    /* absent: nothing */
    ASSERT_EQ(s_decode(NULL, t, sizeof t, &b, &err), 0);
    ASSERT_NOT_NULL(b);
    ASSERT_STREQ(b->h.launch, "");
    ASSERT_EQ(b->h.resume, 0);
    ASSERT_NULL(b->config);
    ASSERT_NULL(b->notes);
    batch_destroy(&b);
    /* the largest config allowed */
    s_big_fill();
    s_big[EW_CONFIG_MAX - 2] = '"';
    s_big[EW_CONFIG_MAX - 1] = '}';
    s_big[EW_CONFIG_MAX] = '\0';
    kv_t big[] = {KSN("config", s_big, EW_CONFIG_MAX), {0}};
    ASSERT_EQ(s_decode(big, t, sizeof t, &b, &err), 0);
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(strlen(b->config), EW_CONFIG_MAX);
    batch_destroy(&b);
}

TEST(metric_set_and_parameters)
{
    ew_header_t h;
    decode_error_t err;
    /* defaults: the daemon's set, the parameters of tests/vectors */
    ASSERT_EQ(s_header_decode((kv_t[]){{0}}, &h, &err), 0);
    ASSERT_EQ(h.metrics, 0);
    ASSERT_EQ(h.t, EW_T_DEFAULT);
    ASSERT_EQ(h.alpha, EW_ALPHA_DEFAULT);
    ASSERT_EQ(h.eps, EW_SINKHORN_EPS_DEFAULT);
    ASSERT_EQ(h.iters, EW_SINKHORN_ITERS_DEFAULT);
    ASSERT_EQ(s_header_decode((kv_t[]){KR("metrics", "\x92\xa6rankme\xa2w2"),
                                       KD("t", 0.5),
                                       KI("alpha", 1),
                                       KD("eps", 0.1),
                                       KI("iters", 7),
                                       KS("support", "scores"),
                                       {0}},
                              &h, &err),
              0);
    ASSERT_EQ(h.metrics, EW_MBIT(EW_M_RANKME) | EW_MBIT(EW_M_W2));
    ASSERT_EQ(h.t, 0.5);
    ASSERT_EQ(h.alpha, 1.0);
    ASSERT_EQ(h.eps, 0.1);
    ASSERT_EQ(h.iters, 7);
    ASSERT_EQ(h.support, EW_SUPPORT_SCORES);
    for (int m = 0; m < EW_M_COUNT; m++) /* names and lookup agree */
        ASSERT_EQ(ew_metric_lookup(ew_metric_name((ew_metric_t)m),
                                   strlen(ew_metric_name((ew_metric_t)m))),
                  m);
    ASSERT_EQ(ew_metric_lookup("loss", 4), -1);
}

TEST(unknown_keys_are_ignored)
{
    const kv_t nested[] = {KA("a", 1, 2), KN("b"), KM("c", (kv_t[]){KD("x", NAN), {0}}), {0}};
    ew_header_t h;
    decode_error_t err;
    ASSERT_EQ(s_header_decode((kv_t[]){KM("future", nested),
                                       KN("nothing"),
                                       KB("flag"),
                                       KD("nan_is_fine_here", NAN),
                                       KS("V", "not v"),
                                       KR("bin", "\xc4\x03"
                                                 "abc"),
                                       KR("ext", "\xd6\x05"
                                                 "abcd"),
                                       KR("ts", "\xd6\xff\x00\x00\x00\x01"),
                                       {0}},
                              &h, &err),
              0);
    ASSERT_STREQ(h.run, "run-a");
    ASSERT_EQ(h.views, 1);
}

TEST(wide_int_encodings_are_ints)
{
    /* v as uint8, step as int64, shape as int8 and uint16, run as str8,
     * kappa as float32: msgpack-c's packer never writes these, others do */
    static const char raw[] = "\x87"
                              "\xa1v\xcc\x01"
                              "\xa3run\xd9\x02rr"
                              "\xa3tag\xa1t"
                              "\xa4step\xd3\x00\x00\x00\x00\x00\x00\x00\x09"
                              "\xa5"
                              "dtype\xa3"
                              "f32"
                              "\xa5shape\x92\xd0\x01\xcd\x00\x02"
                              "\xa5kappa\xca\x40\x40\x00\x00";
    ew_header_t h;
    decode_error_t err;
    ASSERT_EQ(decode_header(raw, sizeof raw - 1, &h, &err), 0);
    ASSERT_STREQ(h.run, "rr");
    ASSERT_EQ(h.step, 9);
    ASSERT_EQ(h.n, 1);
    ASSERT_EQ(h.d, 2);
    ASSERT_EQ(h.kappa, 3.0);
}

TEST(unaligned_frames)
{
    /* every tensor frame starts one byte past an aligned address */
    uint8_t buf[1 + 48 + 1 + 48];
    uint8_t *x = buf + 1, *y = buf + 1 + 48 + 1;
    for (int i = 0; i < 6; i++) {
        s_put_f64(x + 8 * i, i + 0.5);
        s_put_f64(y + 8 * i, -i - 0.5);
    }
    batch_t *b = NULL;
    decode_error_t err;
    ASSERT_EQ(s_decode2((kv_t[]){KS("dtype", "f64"), KI("views", 2), {0}}, x, 48, y, 48, &b, &err),
              0);
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ(b->view[0][i], i + 0.5f);
        ASSERT_EQ(b->view[1][i], -i - 0.5f);
    }
    batch_destroy(&b);
}

TEST(limits_are_inclusive)
{
    char name128[129], utf8[] = "\xc3\xa9poch-\xe2\x82\xac-\xf0\x9f\x98\x80"; /* é € 😀 */
    memset(name128, 'n', 128);
    name128[128] = '\0';
    kv_t scalars[EW_SCALARS_MAX + 1];
    char names[EW_SCALARS_MAX][16];
    for (int i = 0; i < EW_SCALARS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "s%d", i);
        scalars[i] = (kv_t)KD(names[i], i * 0.5);
    }
    scalars[EW_SCALARS_MAX] = (kv_t){0};
    ew_header_t h;
    decode_error_t err;
    ASSERT_EQ(s_header_decode((kv_t[]){KS("run", name128),
                                       KS("tag", utf8),
                                       KU("step", (uint64_t)INT64_MAX),
                                       KA("shape", 65536, 512),
                                       KD("kappa", EW_KAPPA_MAX),
                                       KI("rank", 65535),
                                       KI("world", 65536),
                                       KU("dropped", (uint64_t)INT64_MAX),
                                       KM("scalars", scalars),
                                       {0}},
                              &h, &err),
              0);
    ASSERT_EQ(strlen(h.run), 128);
    ASSERT_STREQ(h.tag, utf8);
    ASSERT_EQ(h.step, INT64_MAX);
    ASSERT_EQ(h.n, 65536);
    ASSERT_EQ(h.d, 512);
    ASSERT_EQ(h.nscalars, 64);
    ASSERT_STREQ(h.scalars[63].name, "s63");
    ASSERT_EQ(s_header_decode((kv_t[]){KA("shape", 4096, 8192), {0}}, &h, &err), 0);
    ASSERT_EQ(s_header_decode((kv_t[]){KA("shape", 1, 1), KI("step", 0), {0}}, &h, &err), 0);
}

/* Packs the base header plus an unknown key "pad" holding padlen bytes. */
static int s_padded(size_t padlen, size_t *size, decode_error_t *err)
{
    char *pad = malloc(padlen + 1);
    memset(pad, 'p', padlen);
    pad[padlen] = '\0';
    msgpack_sbuffer sb;
    s_header(&sb, (kv_t[]){KS("pad", pad), {0}});
    ew_header_t h;
    int rc = decode_header(sb.data, sb.size, &h, err);
    *size = sb.size;
    msgpack_sbuffer_destroy(&sb);
    free(pad);
    return rc;
}

TEST(header_size_limit)
{
    size_t size;
    decode_error_t err;
    ASSERT_EQ(s_padded(65000, &size, &err), 0);
    size_t fit = 65000 + (65536 - size); /* pad that makes the header 65536 bytes */
    ASSERT_EQ(s_padded(fit, &size, &err), 0);
    ASSERT_EQ(size, 65536);
    ASSERT_EQ(s_padded(fit + 1, &size, &err), -1);
    ASSERT_EQ(size, 65537);
    ASSERT_EQ(err.reason, EW_REJ_MSGPACK);
    ASSERT_STREQ(err.msg, "header is 65537 bytes, the limit is 65536");
}

/* ------------------------------------------------------------ rejections */

typedef struct {
    const char *what;
    ew_reject_t want;
    kv_t over[6];
    const char *raw; /* raw header bytes instead of over, with rawlen */
    size_t rawlen;
    int cut;            /* drop this many bytes from the end of the header */
    const char *tail;   /* append these bytes to the header */
    int views;          /* tensor frames to send (0: 1) */
    int nframes;        /* total frames to send (0: 1 + views) */
    size_t esize;       /* element size for the 2 x 3 tensors (0: 4) */
    long delta;         /* added to the size of the last tensor frame */
    const char *poison; /* bytes written at element 4 of the last view */
    size_t poisonlen;
    const char *msg_has; /* substring the message must contain, or NULL */
} bad_t;

#define X16 "xxxxxxxxxxxxxxxx"
#define RAW(s) .raw = (s), .rawlen = sizeof(s) - 1
#define POISON(s) .poison = (s), .poisonlen = sizeof(s) - 1

/* clang-format off */
static const bad_t s_bad[] = {
    /* frames */
    {"no tensor frame", EW_REJ_FRAMES, .nframes = 1, .msg_has = "has 1 frame,"},
    {"four frames", EW_REJ_FRAMES, .views = 3, .msg_has = "4 frames"},
    {"views 2, one tensor", EW_REJ_FRAMES, .over = {KI("views", 2), {0}}, .views = 1},
    {"views 1, two tensors", EW_REJ_FRAMES, .views = 2},
    /* msgpack */
    {"empty header", EW_REJ_MSGPACK, RAW("")},
    {"trailing byte", EW_REJ_MSGPACK, .tail = "\xc0", .msg_has = "1 trailing byte"},
    {"truncated by one", EW_REJ_MSGPACK, .cut = 1, .msg_has = "truncated"},
    {"truncated in a str", EW_REJ_MSGPACK, RAW("\x81\xa3run\xa5" "ab")},
    {"truncated length", EW_REJ_MSGPACK, RAW("\x81\xa3run\xda\x00")},
    {"array, not map", EW_REJ_MSGPACK, RAW("\x92\x01\x02")},
    {"int, not map", EW_REJ_MSGPACK, RAW("\x01")},
    {"two maps", EW_REJ_MSGPACK, RAW("\x80\x80")},
    {"byte 0xc1", EW_REJ_MSGPACK, RAW("\x81\xa1v\xc1"), .msg_has = "0xc1"},
    /* the pre-scan, not msgpack-c (which would allocate first), rejects these */
    {"2^31-element array", EW_REJ_MSGPACK, RAW("\x81\xa5shape\xdd\x7f\xff\xff\xff\x01\x02"),
     .msg_has = "array at byte 7 declares 2147483647 entries, only 2 bytes left"},
    {"2^32-entry map", EW_REJ_MSGPACK, RAW("\xdf\xff\xff\xff\xff\xa1v\x01"),
     .msg_has = "declares 4294967295 entries"},
    {"nested huge map", EW_REJ_MSGPACK, RAW("\x81\xa1x\x91\x91\xde\xff\xff\xa1v")},
    {"2^31-byte str", EW_REJ_MSGPACK, RAW("\x81\xa3run\xdb\x7f\xff\xff\xff" "abc")},
    {"4 GB bin", EW_REJ_MSGPACK, RAW("\x81\xa1x\xc6\xff\xff\xff\xf0" "abc")},
    {"4 GB ext", EW_REJ_MSGPACK, RAW("\x81\xa1x\xc9\xff\xff\xff\xf0\x01" "abc")},
    {"array16 one short", EW_REJ_MSGPACK, RAW("\x81\xa1x\xdc\x00\x03\x01\x02")},
    {"nested 9 deep", EW_REJ_MSGPACK,
     RAW("\x81\xa1x\x91\x91\x91\x91\x91\x91\x91\x91\x01"), .msg_has = "deeper than 8"},
    /* metric set and parameters */
    {"unknown metric", EW_REJ_BAD_VALUE, .over = {KR("metrics", "\x91\xa4loss"), {0}},
     .msg_has = "unknown metric \"loss\""},
    {"metric twice", EW_REJ_BAD_TYPE, .over = {KR("metrics", "\x92\xa2w2\xa2w2"), {0}}},
    {"no metrics", EW_REJ_BAD_VALUE, .over = {KR("metrics", "\x90"), {0}}},
    {"metric not str", EW_REJ_BAD_TYPE, .over = {KR("metrics", "\x91\x01"), {0}}},
    {"metrics not array", EW_REJ_BAD_TYPE, .over = {KS("metrics", "w2"), {0}}},
    {"t zero", EW_REJ_BAD_VALUE, .over = {KD("t", 0.0), {0}}, .msg_has = "t 0"},
    {"alpha huge", EW_REJ_BAD_VALUE, .over = {KD("alpha", 1e9), {0}}},
    {"eps nan", EW_REJ_BAD_VALUE, .over = {KD("eps", NAN), {0}}},
    {"iters zero", EW_REJ_BAD_VALUE, .over = {KI("iters", 0), {0}}},
    {"iters float", EW_REJ_BAD_TYPE, .over = {KD("iters", 3.0), {0}}},
    /* missing_key */
    {"no v", EW_REJ_MISSING_KEY, .over = {KOMIT("v"), {0}}, .msg_has = "\"v\""},
    {"no run", EW_REJ_MISSING_KEY, .over = {KOMIT("run"), {0}}},
    {"no tag", EW_REJ_MISSING_KEY, .over = {KOMIT("tag"), {0}}},
    {"no step", EW_REJ_MISSING_KEY, .over = {KOMIT("step"), {0}}},
    {"no dtype", EW_REJ_MISSING_KEY, .over = {KOMIT("dtype"), {0}},
     .msg_has = "missing required key \"dtype\""},
    {"no shape", EW_REJ_MISSING_KEY, .over = {KOMIT("shape"), {0}}},
    {"empty map", EW_REJ_MISSING_KEY, RAW("\x80")},
    /* bad_type */
    {"v float", EW_REJ_BAD_TYPE, .over = {KD("v", 1.0), {0}}},
    {"v string", EW_REJ_BAD_TYPE, .over = {KS("v", "1"), {0}}},
    {"run int", EW_REJ_BAD_TYPE, .over = {KI("run", 5), {0}}},
    {"run bin", EW_REJ_BAD_TYPE, .over = {KR("run", "\xc4\x01r"), {0}}},
    {"tag nil", EW_REJ_BAD_TYPE, .over = {KN("tag"), {0}}},
    {"step float 3.0", EW_REJ_BAD_TYPE, .over = {KD("step", 3.0), {0}},
     .msg_has = "\"step\" must be an int, got a float"},
    {"dtype int", EW_REJ_BAD_TYPE, .over = {KI("dtype", 4), {0}}},
    {"shape map", EW_REJ_BAD_TYPE, .over = {KM("shape", (kv_t[]){KI("n", 2), {0}}), {0}}},
    {"views float", EW_REJ_BAD_TYPE, .over = {KD("views", 1.0), {0}}},
    {"support bool", EW_REJ_BAD_TYPE, .over = {KB("support"), {0}}},
    {"kappa string", EW_REJ_BAD_TYPE, .over = {KS("kappa", "10"), {0}}},
    {"rank float", EW_REJ_BAD_TYPE, .over = {KD("rank", 0.0), KI("world", 2), {0}}},
    {"world nil", EW_REJ_BAD_TYPE, .over = {KN("world"), {0}}},
    {"time string", EW_REJ_BAD_TYPE, .over = {KS("time", "now"), {0}}},
    {"scalars array", EW_REJ_BAD_TYPE, .over = {KA("scalars", 1), {0}}},
    {"scalar value string", EW_REJ_BAD_TYPE,
     .over = {KM("scalars", (kv_t[]){KS("loss", "low"), {0}}), {0}}},
    {"scalar key int", EW_REJ_BAD_TYPE, .over = {KR("scalars", "\x81\x01\x02"), {0}}},
    {"scalar name twice", EW_REJ_BAD_TYPE,
     .over = {KM("scalars", (kv_t[]){KD("a", 1), KD("a", 2), {0}}), {0}}, .msg_has = "twice"},
    {"dropped float", EW_REJ_BAD_TYPE, .over = {KD("dropped", 1.0), {0}}},
    {"run twice", EW_REJ_BAD_TYPE, .over = {{.key = "run", .kind = 's', .s = "b", .dup = 1}, {0}},
     .msg_has = "key \"run\" appears twice"},
    {"step twice, same value", EW_REJ_BAD_TYPE, .over = {{.key = "step", .kind = 'i', .i = 12,
     .dup = 1}, {0}}},
    {"unknown key twice", EW_REJ_BAD_TYPE, .over = {KI("zz", 1), {.key = "zz", .kind = 'i',
     .dup = 1}, {0}},
     .msg_has = "\"zz\" appears twice"},
    {"int key", EW_REJ_BAD_TYPE, RAW("\x81\x01\x02"), .msg_has = "keys must be strings"},
    /* version */
    {"v 2", EW_REJ_VERSION, .over = {KI("v", 2), {0}}, .msg_has = "v 2 is not supported"},
    {"v 0", EW_REJ_VERSION, .over = {KI("v", 0), {0}}},
    {"v -1", EW_REJ_VERSION, .over = {KI("v", -1), {0}}},
    {"v 2^64-1", EW_REJ_VERSION, .over = {KU("v", UINT64_MAX), {0}}},
    /* bad_name */
    {"run empty", EW_REJ_BAD_NAME, .over = {KS("run", ""), {0}}, .msg_has = "empty"},
    {"run 129 bytes", EW_REJ_BAD_NAME,
     .over = {KS("run", X16 X16 X16 X16 X16 X16 X16 X16 "x"), {0}},
     .msg_has = "129 bytes"},
    {"run newline", EW_REJ_BAD_NAME, .over = {KS("run", "a\nb"), {0}}, .msg_has = "0x0a at byte 1"},
    {"run NUL", EW_REJ_BAD_NAME, .over = {KSN("run", "a\0b", 3), {0}}},
    {"run 0x1f", EW_REJ_BAD_NAME, .over = {KS("run", "\x1f"), {0}}},
    {"tag DEL", EW_REJ_BAD_NAME, .over = {KS("tag", "x\x7f"), {0}}, .msg_has = "0x7f"},
    {"tag lone continuation", EW_REJ_BAD_NAME, .over = {KS("tag", "a\x80"), {0}},
     .msg_has = "UTF-8"},
    {"tag overlong", EW_REJ_BAD_NAME, .over = {KS("tag", "\xc0\xaf"), {0}}},
    {"tag overlong 3", EW_REJ_BAD_NAME, .over = {KS("tag", "\xe0\x80\xaf"), {0}}},
    {"tag surrogate", EW_REJ_BAD_NAME, .over = {KS("tag", "\xed\xa0\x80"), {0}}},
    {"tag > U+10FFFF", EW_REJ_BAD_NAME, .over = {KS("tag", "\xf4\x90\x80\x80"), {0}}},
    {"tag 0xf5", EW_REJ_BAD_NAME, .over = {KS("tag", "\xf5\x80\x80\x80"), {0}}},
    {"tag cut sequence", EW_REJ_BAD_NAME, .over = {KS("tag", "ab\xe2\x82"), {0}}},
    {"scalar name tab", EW_REJ_BAD_NAME,
     .over = {KM("scalars", (kv_t[]){KD("a\tb", 1), {0}}), {0}}},
    {"scalar name empty", EW_REJ_BAD_NAME, .over = {KM("scalars", (kv_t[]){KD("", 1), {0}}), {0}}},
    /* dtype */
    {"dtype f8", EW_REJ_DTYPE, .over = {KS("dtype", "f8"), {0}},
     .msg_has = "dtype \"f8\" is unknown"},
    {"dtype F32", EW_REJ_DTYPE, .over = {KS("dtype", "F32"), {0}}},
    {"dtype f32 + NUL", EW_REJ_DTYPE, .over = {KSN("dtype", "f32\0", 4), {0}}},
    /* shape */
    {"shape [0, 128]", EW_REJ_SHAPE, .over = {KA("shape", 0, 128), {0}},
     .msg_has = "shape [0, 128]: N must be 1..65536"},
    {"shape [1, 0]", EW_REJ_SHAPE, .over = {KA("shape", 1, 0), {0}},
     .msg_has = "d must be 1..8192"},
    {"shape [-1, 3]", EW_REJ_SHAPE, .over = {KA("shape", -1, 3), {0}}},
    {"shape [65537, 1]", EW_REJ_SHAPE, .over = {KA("shape", 65537, 1), {0}}},
    {"shape [1, 8193]", EW_REJ_SHAPE, .over = {KA("shape", 1, 8193), {0}}},
    {"N*d over 2^25", EW_REJ_SHAPE, .over = {KA("shape", 65536, 513), {0}},
     .msg_has = "over the limit"},
    {"N*d over 2^25 (2)", EW_REJ_SHAPE, .over = {KA("shape", 4097, 8192), {0}}},
    {"shape 2^64-1", EW_REJ_SHAPE,
     .over = {KR("shape", "\x92\xcf\xff\xff\xff\xff\xff\xff\xff\xff\x01"), {0}}},
    {"shape of 3", EW_REJ_SHAPE, .over = {KA("shape", 1, 2, 3), {0}}},
    {"shape of 1", EW_REJ_SHAPE, .over = {KA("shape", 6), {0}}, .msg_has = "has 1 element,"},
    {"shape float", EW_REJ_SHAPE,
     .over = {KR("shape", "\x92\xcb\x40\x00\x00\x00\x00\x00\x00\x00\x03"), {0}}},
    {"shape string", EW_REJ_SHAPE, .over = {KR("shape", "\x92\xa1" "2\x03"), {0}}},
    /* bad_value */
    {"views 0, no scalar", EW_REJ_BAD_VALUE, .over = {KI("views", 0), {0}},
     .msg_has = "needs at least one scalar"},
    {"views 3", EW_REJ_BAD_VALUE, .over = {KI("views", 3), {0}},
     .msg_has = "views 3 must be 0 (scalars only), 1 or 2"},
    {"support torus", EW_REJ_BAD_VALUE, .over = {KS("support", "torus"), {0}}},
    {"kappa 0", EW_REJ_BAD_VALUE, .over = {KD("kappa", 0.0), {0}}},
    {"kappa -1", EW_REJ_BAD_VALUE, .over = {KI("kappa", -1), {0}}},
    {"kappa 100000.5", EW_REJ_BAD_VALUE, .over = {KD("kappa", 100000.5), {0}},
     .msg_has = "kappa 100000.5 must"},
    {"kappa 100001", EW_REJ_BAD_VALUE, .over = {KI("kappa", 100001), {0}}},
    {"kappa NaN", EW_REJ_BAD_VALUE, .over = {KD("kappa", NAN), {0}}},
    {"kappa Inf", EW_REJ_BAD_VALUE, .over = {KF("kappa", INFINITY), {0}}},
    {"step -1", EW_REJ_BAD_VALUE, .over = {KI("step", -1), {0}}},
    {"step 2^63", EW_REJ_BAD_VALUE, .over = {KU("step", (uint64_t)INT64_MAX + 1), {0}},
     .msg_has = "step 9223372036854775808 must be"},
    {"rank without world", EW_REJ_BAD_VALUE, .over = {KI("rank", 0), {0}},
     .msg_has = "without world"},
    {"rank = world", EW_REJ_BAD_VALUE, .over = {KI("rank", 4), KI("world", 4), {0}}},
    {"rank -1", EW_REJ_BAD_VALUE, .over = {KI("rank", -1), KI("world", 4), {0}}},
    {"world 0", EW_REJ_BAD_VALUE, .over = {KI("world", 0), {0}}},
    {"pool without rank", EW_REJ_BAD_VALUE, .over = {KI("world", 4), KB("pool"), {0}},
     .msg_has = "pool is true without rank"},
    {"pool with world 1", EW_REJ_BAD_VALUE,
     .over = {KI("rank", 0), KI("world", 1), KB("pool"), {0}}},
    {"pool alone", EW_REJ_BAD_VALUE, .over = {KB("pool"), {0}}},
    {"pool int", EW_REJ_BAD_TYPE, .over = {KI("rank", 0), KI("world", 2), KI("pool", 1), {0}},
     .msg_has = "\"pool\" must be true or false"},
    {"world 65537", EW_REJ_BAD_VALUE, .over = {KI("world", 65537), KI("rank", 0), {0}}},
    {"time NaN", EW_REJ_BAD_VALUE, .over = {KD("time", NAN), {0}}},
    {"time -Inf", EW_REJ_BAD_VALUE, .over = {KD("time", -INFINITY), {0}}},
    {"time negative", EW_REJ_BAD_VALUE, .over = {KI("time", -5), {0}}},
    {"dropped -1", EW_REJ_BAD_VALUE, .over = {KI("dropped", -1), {0}}},
    {"dropped 2^64-1", EW_REJ_BAD_VALUE, .over = {KU("dropped", UINT64_MAX), {0}}},
    {"scalar NaN", EW_REJ_BAD_VALUE, .over = {KM("scalars", (kv_t[]){KD("loss", NAN), {0}}), {0}}},
    {"scalar Inf", EW_REJ_BAD_VALUE,
     .over = {KM("scalars", (kv_t[]){KF("loss", -INFINITY), {0}}), {0}}},
    /* frame_size */
    {"frame one byte short", EW_REJ_FRAME_SIZE, .delta = -1,
     .msg_has = "tensor frame 2 is 23 bytes, header says 24 (N=2, d=3, f32)"},
    {"frame one byte long", EW_REJ_FRAME_SIZE, .delta = 1},
    {"frame empty", EW_REJ_FRAME_SIZE, .delta = -24},
    {"f64 frame sized as f32", EW_REJ_FRAME_SIZE, .over = {KS("dtype", "f64"), {0}}, .esize = 4},
    {"f16 frame one short", EW_REJ_FRAME_SIZE, .over = {KS("dtype", "f16"), {0}}, .esize = 2,
     .delta = -1},
    {"bf16 frame sized as f32", EW_REJ_FRAME_SIZE, .over = {KS("dtype", "bf16"), {0}}},
    {"view 2 short", EW_REJ_FRAME_SIZE, .over = {KI("views", 2), {0}}, .views = 2, .delta = -1,
     .msg_has = "tensor frame 3"},
    /* nonfinite */
    {"f32 NaN", EW_REJ_NONFINITE, POISON("\x00\x00\xc0\x7f"),
     .msg_has = "tensor frame 2 has NaN at row 1, column 1"},
    {"f32 +Inf", EW_REJ_NONFINITE, POISON("\x00\x00\x80\x7f"), .msg_has = "+Inf"},
    {"f32 -Inf", EW_REJ_NONFINITE, POISON("\x00\x00\x80\xff"), .msg_has = "-Inf"},
    {"f32 signalling NaN", EW_REJ_NONFINITE, POISON("\x01\x00\x80\x7f")},
    {"f16 NaN", EW_REJ_NONFINITE, .over = {KS("dtype", "f16"), {0}}, .esize = 2,
     POISON("\x00\x7e")},
    {"f16 -Inf", EW_REJ_NONFINITE, .over = {KS("dtype", "f16"), {0}}, .esize = 2,
     POISON("\x00\xfc")},
    {"bf16 NaN", EW_REJ_NONFINITE, .over = {KS("dtype", "bf16"), {0}}, .esize = 2,
     POISON("\xc1\x7f")},
    {"bf16 +Inf", EW_REJ_NONFINITE, .over = {KS("dtype", "bf16"), {0}}, .esize = 2,
     POISON("\x80\x7f")},
    {"f64 NaN", EW_REJ_NONFINITE, .over = {KS("dtype", "f64"), {0}}, .esize = 8,
     POISON("\x00\x00\x00\x00\x00\x00\xf8\x7f")},
    {"f64 -Inf", EW_REJ_NONFINITE, .over = {KS("dtype", "f64"), {0}}, .esize = 8,
     POISON("\x00\x00\x00\x00\x00\x00\xf0\xff")},
    {"f64 1e39 overflows", EW_REJ_NONFINITE, .over = {KS("dtype", "f64"), {0}}, .esize = 8,
     POISON("\x1d\x4a\x9c\xf4\x87\x82\x07\x48") /* 1e39 */,
     .msg_has = "value 1e+39 at row 1, column 1 overflows float32"},
    {"f64 -DBL_MAX overflows", EW_REJ_NONFINITE, .over = {KS("dtype", "f64"), {0}}, .esize = 8,
     POISON("\xff\xff\xff\xff\xff\xff\xef\xff"), .msg_has = "overflows float32"},
    {"f64 first value rounding to Inf", EW_REJ_NONFINITE, .over = {KS("dtype", "f64"), {0}},
     .esize = 8,
     POISON("\x00\x00\x00\xf0\xff\xff\xef\x47") /* 0x1.ffffffp+127 */},
    {"NaN in view 2", EW_REJ_NONFINITE, .over = {KI("views", 2), {0}}, .views = 2,
     POISON("\x00\x00\xc0\x7f"), .msg_has = "tensor frame 3 has NaN"},
    /* bad_launch */
    {"launch empty", EW_REJ_BAD_LAUNCH, .over = {KS("launch", ""), {0}},
     .msg_has = "must be 1..128"},
    {"launch with a space", EW_REJ_BAD_LAUNCH, .over = {KS("launch", "a b"), {0}},
     .msg_has = "has byte 0x20 at 1"},
    {"launch non-ASCII", EW_REJ_BAD_LAUNCH, .over = {KS("launch", "\xc3\xa9"), {0}}},
    {"launch 129 bytes", EW_REJ_BAD_LAUNCH, .over = {KSN("launch", s_big, 129), {0}}},
    {"launch int", EW_REJ_BAD_TYPE, .over = {KI("launch", 7), {0}}},
    {"resume without launch", EW_REJ_BAD_LAUNCH, .over = {KB("resume"), {0}},
     .msg_has = "resume is true without a launch"},
    {"resume int", EW_REJ_BAD_TYPE, .over = {KS("launch", "x"), KI("resume", 1), {0}},
     .msg_has = "\"resume\" must be true or false"},
    /* bad_config */
    {"config not JSON", EW_REJ_BAD_CONFIG, .over = {KS("config", "{lr: 0.1}"), {0}},
     .msg_has = "config is not JSON"},
    {"config an array", EW_REJ_BAD_CONFIG, .over = {KS("config", "[1, 2]"), {0}},
     .msg_has = "must be a JSON object"},
    {"config NaN", EW_REJ_BAD_CONFIG, .over = {KS("config", "{\"lr\": NaN}"), {0}}},
    {"config key twice", EW_REJ_BAD_CONFIG, .over = {KS("config", "{\"a\": 1, \"a\": 2}"), {0}}},
    {"config trailing", EW_REJ_BAD_CONFIG, .over = {KS("config", "{} {}"), {0}}},
    {"config a map", EW_REJ_BAD_TYPE, .over = {KM("config", (kv_t[]){KI("lr", 1), {0}}), {0}}},
    {"config over the limit", EW_REJ_BAD_CONFIG,
     .over = {KSN("config", s_big, EW_CONFIG_MAX + 1), {0}}, .msg_has = "the limit is 32768"},
    {"notes control char", EW_REJ_BAD_CONFIG, .over = {KS("notes", "a\x01"), {0}},
     .msg_has = "control character 0x01"},
    {"notes bad UTF-8", EW_REJ_BAD_CONFIG, .over = {KS("notes", "a\xff"), {0}}},
    {"notes over the limit", EW_REJ_BAD_CONFIG,
     .over = {KSN("notes", s_big, EW_NOTES_MAX + 1), {0}}},
};
/* clang-format on */

/* Runs one bad case; returns 1 when it was rejected for the expected
 * reason with the expected text, printing what happened otherwise. */
static int s_run_bad(const bad_t *c, int *seen)
{
    msgpack_sbuffer sb;
    char *hdr;
    size_t hlen;
    if (c->raw) {
        hdr = malloc(c->rawlen + 1);
        memcpy(hdr, c->raw, c->rawlen);
        hlen = c->rawlen;
    } else {
        s_header(&sb, c->over);
        size_t tail = c->tail ? strlen(c->tail) : 0;
        hdr = malloc(sb.size + tail);
        memcpy(hdr, sb.data, sb.size);
        if (tail)
            memcpy(hdr + sb.size, c->tail, tail);
        hlen = sb.size + tail - (size_t)c->cut;
        msgpack_sbuffer_destroy(&sb);
    }

    int views = c->views ? c->views : 1;
    size_t esize = c->esize ? c->esize : 4;
    size_t tsize = 6 * esize;
    uint8_t *t[3];
    decode_frame_t f[4] = {{hdr, hlen}};
    for (int v = 0; v < views; v++) {
        size_t n = tsize + (size_t)(v == views - 1 ? c->delta : 0);
        t[v] = calloc(1, n + 1);
        if (c->poison && v == views - 1)
            memcpy(t[v] + 4 * esize, c->poison, c->poisonlen);
        f[1 + v] = (decode_frame_t){t[v], n};
    }
    size_t nframes = c->nframes ? (size_t)c->nframes : 1 + (size_t)views;

    batch_t *b = NULL;
    decode_error_t err;
    int rc = decode_message(f, nframes, 0, &b, &err);
    for (int v = 0; v < views; v++)
        free(t[v]);
    free(hdr);

    int ok = rc == -1 && b == NULL && err.reason == c->want &&
             (!c->msg_has || strstr(err.msg, c->msg_has));
    if (rc == -1 && b == NULL)
        seen[err.reason]++;
    if (!ok)
        fprintf(stderr, "  case \"%s\": rc %d, reason %s (want %s), msg \"%s\"%s%s\n", c->what, rc,
                rc ? decode_reason_name(err.reason) : "-", decode_reason_name(c->want),
                rc ? err.msg : "", c->msg_has ? ", want text: " : "", c->msg_has ? c->msg_has : "");
    batch_destroy(&b);
    return ok;
}

TEST(every_reason_is_produced)
{
    int seen[EW_REJ_COUNT] = {0}, failed = 0;
    size_t ncases = sizeof s_bad / sizeof s_bad[0];
    s_big_fill();
    for (size_t i = 0; i < ncases; i++)
        failed += !s_run_bad(&s_bad[i], seen);
    for (int r = 0; r < EW_REJ_DECODE_COUNT; r++) {
        if (seen[r] == 0) {
            fprintf(stderr, "  reason %s never produced\n", decode_reason_name((ew_reject_t)r));
            failed++;
        }
    }
    ASSERT_EQ(failed, 0);
    ASSERT_GT(ncases, 100);
}

/* Reference IEEE half -> double, written independently of the decoder. */
static double s_half_ref(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

TEST(f16_every_finite_value)
{
    /* all 63,488 finite halves, as one 62 x 1024 tensor */
    enum { N = 62, D = 1024 };
    uint8_t *t = malloc(2 * N * D);
    uint16_t bits[N * D];
    int k = 0;
    for (uint32_t h = 0; h <= 0xffff; h++)
        if ((h & 0x7c00) != 0x7c00)
            bits[k++] = (uint16_t)h;
    ASSERT_EQ(k, N * D);
    for (int i = 0; i < k; i++)
        s_put16(t + 2 * i, bits[i]);
    batch_t *b = NULL;
    decode_error_t err;
    int rc = s_decode((kv_t[]){KS("dtype", "f16"), KA("shape", N, D), {0}}, t, 2 * N * D, &b, &err);
    free(t);
    ASSERT_EQ(rc, 0);
    for (int i = 0; i < k; i++) {
        double want = s_half_ref(bits[i]);
        if ((double)b->view[0][i] != want || !signbit(b->view[0][i]) != !signbit(want))
            T_FAIL_("f16 0x%04x -> %a, want %a", bits[i], b->view[0][i], want);
    }
    batch_destroy(&b);
}

/* Decodes a 3 x 4097 tensor of dtype `dt` (element size es) that is all
 * ones except `bad` (es bytes) at each index of at[] (-1 ends). */
static int s_decode_poisoned(const char *dt, size_t es, const uint8_t *one, const uint8_t *bad,
                             const long *at, decode_error_t *err)
{
    enum { N = 3, D = 4097 };
    uint8_t *t = malloc(es * N * D);
    for (size_t i = 0; i < (size_t)N * D; i++)
        memcpy(t + es * i, one, es);
    for (; *at >= 0; at++)
        memcpy(t + es * (size_t)*at, bad, es);
    batch_t *b = NULL;
    int rc = s_decode((kv_t[]){KS("dtype", dt), KA("shape", N, D), {0}}, t, es * N * D, &b, err);
    free(t);
    batch_destroy(&b);
    return rc;
}

TEST(nonfinite_found_in_any_block)
{
    /* the decoder converts in blocks of 4096: bad values at block edges and
     * in later blocks are found, and the first one is named */
    static const uint8_t one32[] = {0x00, 0x00, 0x80, 0x3f}, nan32[] = {0x00, 0x00, 0xc0, 0x7f};
    static const uint8_t one16[] = {0x00, 0x3c}, inf16[] = {0x00, 0x7c};
    static const uint8_t onebf[] = {0x80, 0x3f}, ninfbf[] = {0x80, 0xff};
    static const uint8_t one64[] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
    static const uint8_t big64[] = {0x1d, 0x4a, 0x9c, 0xf4, 0x87, 0x82, 0x07, 0x48}; /* 1e39 */
    decode_error_t err;

    ASSERT_EQ(s_decode_poisoned("f32", 4, one32, nan32, (long[]){4095, -1}, &err), -1);
    ASSERT_STREQ(err.msg, "tensor frame 2 has NaN at row 0, column 4095");
    ASSERT_EQ(s_decode_poisoned("f32", 4, one32, nan32, (long[]){4096, -1}, &err), -1);
    ASSERT_STREQ(err.msg, "tensor frame 2 has NaN at row 0, column 4096");
    ASSERT_EQ(s_decode_poisoned("f32", 4, one32, nan32, (long[]){3 * 4097 - 1, 9000, -1}, &err),
              -1);
    ASSERT_STREQ(err.msg, "tensor frame 2 has NaN at row 2, column 806");
    ASSERT_EQ(s_decode_poisoned("f16", 2, one16, inf16, (long[]){12290, -1}, &err), -1);
    ASSERT_STREQ(err.msg, "tensor frame 2 has +Inf at row 2, column 4096");
    ASSERT_EQ(s_decode_poisoned("bf16", 2, onebf, ninfbf, (long[]){8192, -1}, &err), -1);
    ASSERT_STREQ(err.msg, "tensor frame 2 has -Inf at row 1, column 4095");
    ASSERT_EQ(s_decode_poisoned("f64", 8, one64, big64, (long[]){5000, -1}, &err), -1);
    ASSERT_STREQ(err.msg, "tensor frame 2 value 1e+39 at row 1, column 903 overflows float32");
    ASSERT_EQ(s_decode_poisoned("f64", 8, one64, one64, (long[]){-1}, &err), 0);
}

TEST(frame_size_message)
{
    static uint8_t t[4096];
    batch_t *b = NULL;
    decode_error_t err;
    ASSERT_EQ(s_decode((kv_t[]){KA("shape", 16, 128), KI("step", 77), {0}}, t, sizeof t, &b, &err),
              -1);
    ASSERT_NULL(b);
    ASSERT_EQ(err.reason, EW_REJ_FRAME_SIZE);
    ASSERT_STREQ(err.msg, "tensor frame 2 is 4096 bytes, header says 8192 (N=16, d=128, f32)");
    ASSERT_STREQ(err.run, "run-a");
    ASSERT_EQ(err.has_step, 1);
    ASSERT_EQ(err.step, 77);
}

TEST(errors_carry_run_and_step)
{
    ew_header_t h;
    decode_error_t err;
    /* later keys are bad: run and step known */
    ASSERT_EQ(s_header_decode((kv_t[]){KA("shape", 0, 128), {0}}, &h, &err), -1);
    ASSERT_STREQ(err.msg, "shape [0, 128]: N must be 1..65536");
    ASSERT_STREQ(err.run, "run-a");
    ASSERT(err.has_step);
    ASSERT_EQ(err.step, 12);
    /* v is checked first, but run and step are noted before */
    ASSERT_EQ(s_header_decode((kv_t[]){KI("v", 9), {0}}, &h, &err), -1);
    ASSERT_EQ(err.reason, EW_REJ_VERSION);
    ASSERT_STREQ(err.run, "run-a");
    ASSERT(err.has_step);
    /* a duplicate key after run and step: still noted */
    ASSERT_EQ(
        s_header_decode((kv_t[]){{.key = "tag", .kind = 's', .s = "t", .dup = 1}, {0}}, &h, &err),
        -1);
    ASSERT_EQ(err.reason, EW_REJ_BAD_TYPE);
    ASSERT_STREQ(err.run, "run-a");
    ASSERT(err.has_step);
    /* a bad run is not copied; the step still is */
    ASSERT_EQ(s_header_decode((kv_t[]){KS("run", "a\x01"), KI("step", 5), {0}}, &h, &err), -1);
    ASSERT_STREQ(err.run, "");
    ASSERT(err.has_step);
    ASSERT_EQ(err.step, 5);
    /* a bad step is not noted */
    ASSERT_EQ(s_header_decode((kv_t[]){KI("step", -3), {0}}, &h, &err), -1);
    ASSERT_STREQ(err.run, "run-a");
    ASSERT_EQ(err.has_step, 0);
    /* unparseable header: nothing known */
    ASSERT_EQ(decode_header("\x81\xa3run", 5, &h, &err), -1);
    ASSERT_EQ(err.reason, EW_REJ_MSGPACK);
    ASSERT_STREQ(err.run, "");
    ASSERT_EQ(err.has_step, 0);
    /* a frames rejection still carries them */
    msgpack_sbuffer sb;
    s_header(&sb, NULL);
    decode_frame_t f[1] = {{sb.data, sb.size}};
    batch_t *b = NULL;
    ASSERT_EQ(decode_message(f, 1, 0, &b, &err), -1);
    msgpack_sbuffer_destroy(&sb);
    ASSERT_EQ(err.reason, EW_REJ_FRAMES);
    ASSERT_STREQ(err.run, "run-a");
    ASSERT(err.has_step);
    ASSERT_EQ(err.step, 12);
    /* and a later success leaves no stale error behind in a reused struct */
    uint8_t t[24] = {0};
    ASSERT_EQ(s_decode(NULL, t, sizeof t, &b, &err), 0);
    batch_destroy(&b);
}

TEST(messages_do_not_echo_raw_bytes)
{
    ew_header_t h;
    decode_error_t err;
    ASSERT_EQ(s_header_decode((kv_t[]){KS("dtype", "\x1b[31mred\xff"), {0}}, &h, &err), -1);
    ASSERT_EQ(err.reason, EW_REJ_DTYPE);
    ASSERT_STREQ(err.msg, "dtype \"\\x1b[31mred\\xff\" is unknown (f32, f64, f16, bf16)");
    for (const char *p = err.msg; *p; p++) {
        ASSERT_GE((unsigned char)*p, 0x20);
        ASSERT_LT((unsigned char)*p, 0x7f);
    }
}

TEST(null_err_and_no_frames)
{
    batch_t sentinel, *b = &sentinel;
    decode_error_t err;
    ASSERT_EQ(decode_message(NULL, 0, 0, &b, &err), -1);
    ASSERT_NULL(b);
    ASSERT_EQ(err.reason, EW_REJ_FRAMES);
    uint8_t t[24] = {0};
    ASSERT_EQ(s_decode(NULL, t, 23, &b, NULL), -1); /* err may be NULL */
    ASSERT_EQ(s_decode(NULL, t, 24, &b, NULL), 0);
    batch_destroy(&b);
    ew_header_t h;
    ASSERT_EQ(decode_header(NULL, 0, &h, NULL), -1);
}

TEST(names_of_enums)
{
    static const char *const want[EW_REJ_COUNT] = {
        "frames",        "msgpack",        "missing_key",    "bad_type",  "version",
        "bad_name",      "dtype",          "shape",          "bad_value", "frame_size",
        "nonfinite",     "bad_launch",     "bad_config",     "pool_late", "pool_duplicate",
        "pool_mismatch", "pool_too_large", "resume_unknown",
    };
    for (int r = 0; r < EW_REJ_COUNT; r++)
        ASSERT_STREQ(decode_reason_name((ew_reject_t)r), want[r]);
    ASSERT_STREQ(decode_reason_name(EW_REJ_COUNT), "?");
    ASSERT_STREQ(ew_dtype_name(EW_DTYPE_F32), "f32");
    ASSERT_STREQ(ew_dtype_name(EW_DTYPE_F64), "f64");
    ASSERT_STREQ(ew_dtype_name(EW_DTYPE_F16), "f16");
    ASSERT_STREQ(ew_dtype_name(EW_DTYPE_BF16), "bf16");
    ASSERT_EQ(ew_dtype_size(EW_DTYPE_F32), 4);
    ASSERT_EQ(ew_dtype_size(EW_DTYPE_F64), 8);
    ASSERT_EQ(ew_dtype_size(EW_DTYPE_F16), 2);
    ASSERT_EQ(ew_dtype_size(EW_DTYPE_BF16), 2);
    ASSERT_STREQ(ew_support_name(EW_SUPPORT_SPHERE), "sphere");
    ASSERT_STREQ(ew_support_name(EW_SUPPORT_DISCRETE), "discrete");
    result_t *r = calloc(1, sizeof *r);
    result_destroy(&r);
    ASSERT_NULL(r);
    result_destroy(&r);
    result_destroy(NULL);
    batch_destroy(NULL);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(good_f32_with_defaults),
        T(good_f64_rounds_to_nearest),
        T(good_f16_incl_subnormals),
        T(good_bf16_exact_widening),
        T(good_two_views),
        T(good_scalar_only),
        T(good_every_optional_key),
        T(launch_resume_config_notes),
        T(metric_set_and_parameters),
        T(unknown_keys_are_ignored),
        T(wide_int_encodings_are_ints),
        T(unaligned_frames),
        T(limits_are_inclusive),
        T(header_size_limit),
        T(every_reason_is_produced),
        T(f16_every_finite_value),
        T(nonfinite_found_in_any_block),
        T(frame_size_message),
        T(errors_carry_run_and_step),
        T(messages_do_not_echo_raw_bytes),
        T(null_err_and_no_frames),
        T(names_of_enums),
        {0},
    });
}
