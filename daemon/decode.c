/* decode.c: one ZeroMQ multipart message (schema/protocol.md) -> a validated
 * batch_t, or a rejection reason and a message a user can act on.
 *
 * Pure and fuzzed: no I/O, no globals, never reads outside the given frames.
 *
 * Design decisions a reader must know:
 *
 * - Header bytes are walked by s_scan() BEFORE msgpack-c sees them. msgpack-c
 *   allocates array/map storage from the declared count, so an 8-byte header
 *   declaring a 2^31-element array would make it ask for ~48 GB. The walk
 *   allocates nothing, is iterative with an explicit stack of S_DEPTH_MAX
 *   levels, and accepts only a single complete object whose every declared
 *   str/bin/ext length fits in the bytes left and every array/map count is at
 *   most the bytes left (each element takes at least one byte). msgpack-c
 *   then needs at most one 24-byte msgpack_object per header byte; with its
 *   zone's rounding that is ~2.1 MB for the worst 64 KiB header (measured).
 *
 * - Validation order is fixed, so a message breaking several rules always
 *   gets the same reason: a frame count outside 1..3 -> header structure
 *   (msgpack, then non-string or repeated keys) -> v -> the other keys in
 *   protocol.md table order -> frame count against views -> frame sizes ->
 *   tensor values. Run and step are picked up first whenever they are
 *   well-formed, so every rejection after that can be logged with them.
 *
 * - Type strictness follows protocol.md: an "int" must be a msgpack int (a
 *   float 3.0 is bad_type); a "number" is an int or a float. `shape` that is
 *   not an array at all is bad_type; an array that is not two ints in range
 *   is `shape`. A key repeated, known or not, is bad_type (found by sorting
 *   the unknown keys, so a 30,000-key header costs n log n, not n^2).
 *   `dropped`, like `step`, must fit in int64 because it is stored in SQLite.
 *   `time` must be finite and >= 0. `rank` needs `world`; `world` alone is
 *   fine.
 *
 * - `config` is JSON text inside a msgpack string, parsed with jansson (the
 *   one JSON parser of the daemon) only to validate it: the text is stored
 *   as sent. msgpack-c's strings point into the header frame, so the header
 *   records where config and notes lie and decode_message() copies them;
 *   ew_header_t stays plain data.
 *
 * - Tensor frames are read byte by byte as little-endian (no pointer casts,
 *   so any alignment and any host byte order work; bits become floats via
 *   memcpy) and checked for NaN/Inf on the source values. An f64 that is
 *   finite but rounds beyond float32 range would become Inf after the cast:
 *   it is rejected as nonfinite too, and never converted. Conversion runs in
 *   blocks of S_BLOCK elements with loops that have no early exit (convert,
 *   and OR together "bad"); only a bad block is walked again to name the
 *   first bad element. For large batches the cost is dominated by the first
 *   touch of the freshly allocated float32 buffer, not by the conversion.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "decode.h"
#include "ew_name.h"

#define S_DEPTH_MAX 8 /* nesting levels, the header map itself is level 1 */

/* Smallest double that rounds (to nearest, ties to even) to float32 +Inf:
 * FLT_MAX plus half an ulp of FLT_MAX. */
#define S_F32_OVERFLOW 0x1.ffffffp+127

/* ------------------------------------------------------------ errors */

/* clang-format off */
static const char *const s_reason_names[EW_REJ_COUNT] = {
    [EW_REJ_FRAMES] = "frames",           [EW_REJ_MSGPACK] = "msgpack",
    [EW_REJ_MISSING_KEY] = "missing_key", [EW_REJ_BAD_TYPE] = "bad_type",
    [EW_REJ_VERSION] = "version",         [EW_REJ_BAD_NAME] = "bad_name",
    [EW_REJ_DTYPE] = "dtype",             [EW_REJ_SHAPE] = "shape",
    [EW_REJ_BAD_VALUE] = "bad_value",     [EW_REJ_FRAME_SIZE] = "frame_size",
    [EW_REJ_NONFINITE] = "nonfinite",     [EW_REJ_BAD_LAUNCH] = "bad_launch",
    [EW_REJ_BAD_CONFIG] = "bad_config",
    [EW_REJ_POOL_LATE] = "pool_late",     [EW_REJ_POOL_DUPLICATE] = "pool_duplicate",
    [EW_REJ_POOL_MISMATCH] = "pool_mismatch", [EW_REJ_POOL_TOO_LARGE] = "pool_too_large",
    [EW_REJ_RESUME_UNKNOWN] = "resume_unknown",
};
/* clang-format on */

const char *decode_reason_name(ew_reject_t r)
{
    if ((unsigned)r < EW_REJ_COUNT)
        return s_reason_names[r];
    return "?";
}

static void s_err_reset(decode_error_t *err)
{
    memset(err, 0, sizeof *err);
}

__attribute__((format(printf, 3, 4))) static int s_fail(decode_error_t *err, ew_reject_t reason,
                                                        const char *fmt, ...)
{
    va_list ap;
    err->reason = reason;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Copies at most 32 bytes of a client-supplied string into out (>= 140
 * bytes) for a message: printable ASCII as is, anything else as \xNN, so a
 * log line never carries control characters or broken UTF-8. */
#define S_QUOTE_SIZE 140
static const char *s_quote(char *out, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, lim = n < 32 ? n : 32;
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (lim < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------ pre-scan */

static const char *s_plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* A name for the msgpack family of a type byte, for messages. */
static const char *s_byte_kind(uint8_t b)
{
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))
        return "int";
    if (b <= 0x8f || b == 0xde || b == 0xdf)
        return "map";
    if (b <= 0x9f || b == 0xdc || b == 0xdd)
        return "array";
    if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb))
        return "string";
    switch (b) {
    case 0xc0:
        return "nil";
    case 0xc2:
    case 0xc3:
        return "bool";
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return "binary";
    case 0xca:
    case 0xcb:
        return "float";
    case 0xc1:
        return "invalid byte";
    default:
        return "ext";
    }
}

static uint64_t s_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Walks the single msgpack object at p[0..len) without allocating. On
 * success returns 0 and *end (OUT) is the offset just past the object. On
 * failure returns -1 with err filled (reason msgpack). */
static int s_scan(const uint8_t *p, size_t len, size_t *end, decode_error_t *err)
{
    uint64_t left[S_DEPTH_MAX]; /* items still to read in each open container */
    int depth = 0;
    size_t off = 0;

    for (;;) {
        size_t at = off;
        if (off >= len)
            return s_fail(err, EW_REJ_MSGPACK, "header msgpack is truncated at byte %zu", off);
        uint8_t t = p[off++];
        uint64_t n = 0;    /* declared length: entries, elements or bytes */
        uint64_t skip = 0; /* payload bytes of a scalar */
        int lenbytes = 0;  /* big-endian length field that follows t */
        int container = 0; /* 1 array, 2 map */
        int ext = 0;

        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
            /* fixint, nil, bool: the type byte is all */
        } else if (t <= 0x8f) {
            n = t & 0x0fu;
            container = 2;
        } else if (t <= 0x9f) {
            n = t & 0x0fu;
            container = 1;
        } else if (t <= 0xbf) {
            skip = t & 0x1fu;
        } else {
            /* clang-format off */
            switch (t) {
            case 0xc4: case 0xd9: lenbytes = 1; break; /* bin8, str8 */
            case 0xc5: case 0xda: lenbytes = 2; break;
            case 0xc6: case 0xdb: lenbytes = 4; break;
            case 0xc7: lenbytes = 1; ext = 1; break;   /* ext8/16/32 */
            case 0xc8: lenbytes = 2; ext = 1; break;
            case 0xc9: lenbytes = 4; ext = 1; break;
            case 0xca: skip = 4; break;                /* float32 */
            case 0xcb: skip = 8; break;                /* float64 */
            case 0xcc: case 0xd0: skip = 1; break;     /* (u)int8..64 */
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;                /* fixext: type + data */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: lenbytes = 2; container = 1; break; /* array16/32 */
            case 0xdd: lenbytes = 4; container = 1; break;
            case 0xde: lenbytes = 2; container = 2; break; /* map16/32 */
            case 0xdf: lenbytes = 4; container = 2; break;
            default: /* 0xc1: never used */
                return s_fail(err, EW_REJ_MSGPACK,
                              "header msgpack has invalid byte 0x%02x at byte %zu", t, at);
            }
            /* clang-format on */
            if (lenbytes) {
                if ((size_t)lenbytes > len - off)
                    return s_fail(err, EW_REJ_MSGPACK, "header msgpack is truncated at byte %zu",
                                  len);
                n = s_be(p + off, lenbytes);
                off += (size_t)lenbytes;
                if (!container)
                    skip = n + (uint64_t)ext; /* ext: one type byte, then data */
            }
        }

        if (container) {
            uint64_t count = container == 2 ? 2 * n : n; /* child objects */
            if (count > len - off)
                return s_fail(err, EW_REJ_MSGPACK,
                              "header msgpack is truncated: %s at byte %zu declares %" PRIu64
                              " entries, only %zu byte%s left",
                              s_byte_kind(t), at, n, len - off, s_plural(len - off));
            if (count > 0) {
                if (depth == S_DEPTH_MAX)
                    return s_fail(err, EW_REJ_MSGPACK,
                                  "header msgpack nests deeper than %d levels at byte %zu",
                                  S_DEPTH_MAX, at);
                left[depth++] = count;
                continue;
            }
        } else if (skip > len - off) {
            return s_fail(err, EW_REJ_MSGPACK,
                          "header msgpack is truncated: %s at byte %zu needs %" PRIu64
                          " more bytes, only %zu left",
                          s_byte_kind(t), at, skip, len - off);
        } else {
            off += (size_t)skip;
        }

        /* One object is complete: close every container it completes. */
        while (depth > 0 && --left[depth - 1] == 0)
            depth--;
        if (depth == 0) {
            *end = off;
            return 0;
        }
    }
}

/* ------------------------------------------------------------ values */

static const char *s_type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "a bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "an int";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "a float";
    case MSGPACK_OBJECT_STR:
        return "a string";
    case MSGPACK_OBJECT_ARRAY:
        return "an array";
    case MSGPACK_OBJECT_MAP:
        return "a map";
    case MSGPACK_OBJECT_BIN:
        return "a binary";
    case MSGPACK_OBJECT_EXT:
        return "an ext";
    }
    return "?";
}

static int s_is_int(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static int s_is_number(const msgpack_object *o)
{
    return s_is_int(o) || o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64;
}

static double s_number(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (double)o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return (double)o->via.i64;
    return o->via.f64;
}

/* 1 when the msgpack int o is in [lo, hi], with its value in *v (OUT). */
static int s_int_in(const msgpack_object *o, int64_t lo, int64_t hi, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return 0;
        *v = (int64_t)o->via.u64;
    } else {
        *v = o->via.i64;
    }
    return *v >= lo && *v <= hi;
}

/* The decimal text of a msgpack int, into buf (>= 24 bytes). */
static const char *s_int_text(char *buf, const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf(buf, 24, "%" PRIu64, o->via.u64);
    else
        snprintf(buf, 24, "%" PRId64, o->via.i64);
    return buf;
}

static int s_str_is(const msgpack_object_str *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->size == n && memcmp(s->ptr, lit, n) == 0;
}

/* ------------------------------------------------------------ names */

/* Checks a name (run, tag, scalar) against protocol.md's name rule
 * (ew_name.h). Returns 0, or -1 with why[] (OUT) said. */
static int s_name_problem(const msgpack_object_str *s, char *why, size_t whysz)
{
    size_t n = s->size, at = 0;
    switch (ew_name_check(s->ptr, n, &at)) {
    case EW_NAME_OK:
        return 0;
    case EW_NAME_EMPTY:
        snprintf(why, whysz, "is empty");
        break;
    case EW_NAME_TOO_LONG:
        snprintf(why, whysz, "is %zu bytes, the limit is %d", n, EW_NAME_MAX);
        break;
    case EW_NAME_CONTROL:
        snprintf(why, whysz, "has control character 0x%02x at byte %zu", (unsigned char)s->ptr[at],
                 at);
        break;
    case EW_NAME_BAD_UTF8:
        snprintf(why, whysz, "is not valid UTF-8 at byte %zu", at);
        break;
    }
    return -1;
}

int decode_name_problem(const char *name, size_t len, char *why, size_t whysz)
{
    msgpack_object_str s = {(uint32_t)(len > UINT32_MAX ? UINT32_MAX : len), name};
    return s_name_problem(&s, why, whysz);
}

/* Validates the name and copies it, NUL-terminated, into out (OUT,
 * EW_NAME_MAX + 1 bytes). `what` names it in the message. */
static int s_take_name(const char *what, const msgpack_object_str *s, char *out,
                       decode_error_t *err)
{
    char why[64], q[S_QUOTE_SIZE];
    if (s_name_problem(s, why, sizeof why) != 0)
        return s_fail(err, EW_REJ_BAD_NAME, "%s \"%s\" %s", what, s_quote(q, s->ptr, s->size), why);
    memcpy(out, s->ptr, s->size);
    out[s->size] = '\0';
    return 0;
}

/* ------------------------------------------------------------ header keys */

typedef enum {
    K_V = 0,
    K_RUN,
    K_TAG,
    K_STEP,
    K_DTYPE,
    K_SHAPE,
    K_VIEWS,
    K_SUPPORT,
    K_KAPPA,
    K_RANK,
    K_WORLD,
    K_TIME,
    K_SCALARS,
    K_DROPPED,
    K_METRICS,
    K_T,
    K_ALPHA,
    K_EPS,
    K_ITERS,
    K_POOL,
    K_LAUNCH,
    K_RESUME,
    K_CONFIG,
    K_NOTES,
    K_COUNT
} s_key_t;

/* clang-format off */
static const char *const s_key_names[K_COUNT] = {
    [K_V] = "v",             [K_RUN] = "run",         [K_TAG] = "tag",
    [K_STEP] = "step",       [K_DTYPE] = "dtype",     [K_SHAPE] = "shape",
    [K_VIEWS] = "views",     [K_SUPPORT] = "support", [K_KAPPA] = "kappa",
    [K_RANK] = "rank",       [K_WORLD] = "world",     [K_TIME] = "time",
    [K_SCALARS] = "scalars", [K_DROPPED] = "dropped", [K_METRICS] = "metrics",
    [K_T] = "t",             [K_ALPHA] = "alpha",     [K_EPS] = "eps",
    [K_ITERS] = "iters",     [K_POOL] = "pool",       [K_LAUNCH] = "launch",
    [K_RESUME] = "resume",   [K_CONFIG] = "config",   [K_NOTES] = "notes",
};
/* clang-format on */

static int s_key_index(const msgpack_object_str *s)
{
    for (int k = 0; k < K_COUNT; k++)
        if (s_str_is(s, s_key_names[k]))
            return k;
    return -1;
}

static int s_str_cmp(const void *a, const void *b)
{
    const msgpack_object_str *x = *(const msgpack_object_str *const *)a;
    const msgpack_object_str *y = *(const msgpack_object_str *const *)b;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return x->size ? memcmp(x->ptr, y->ptr, x->size) : 0;
}

/* Sorts the unknown keys and reports the first repeated one, if any. */
static int s_unknown_dups(const msgpack_object_str **keys, size_t n, decode_error_t *err)
{
    char q[S_QUOTE_SIZE];
    qsort(keys, n, sizeof *keys, s_str_cmp);
    for (size_t i = 1; i < n; i++)
        if (s_str_cmp(&keys[i - 1], &keys[i]) == 0)
            return s_fail(err, EW_REJ_BAD_TYPE, "key \"%s\" appears twice",
                          s_quote(q, keys[i]->ptr, keys[i]->size));
    return 0;
}

/* Pass 1 over the header map: every key a string, no key twice; vals[k]
 * (OUT) points at the (first) value of known key k, or NULL. Records the first
 * problem but indexes every key anyway, so run and step can still be noted. */
static int s_index_keys(const msgpack_object_map *m, const msgpack_object *vals[K_COUNT],
                        decode_error_t *err)
{
    const msgpack_object_str **unknown = NULL;
    size_t nunknown = 0;
    int rc = 0;

    for (int k = 0; k < K_COUNT; k++)
        vals[k] = NULL;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *key = &m->ptr[i].key;
        if (key->type != MSGPACK_OBJECT_STR) {
            if (rc == 0)
                rc = s_fail(err, EW_REJ_BAD_TYPE,
                            "header key %" PRIu32 " is %s, keys must be strings", i + 1,
                            s_type_name(key));
            continue;
        }
        int k = s_key_index(&key->via.str);
        if (k >= 0) {
            if (!vals[k])
                vals[k] = &m->ptr[i].val;
            else if (rc == 0)
                rc = s_fail(err, EW_REJ_BAD_TYPE, "key \"%s\" appears twice", s_key_names[k]);
            continue;
        }
        if (!unknown) {
            unknown = malloc(m->size * sizeof *unknown);
            if (!unknown)
                abort(); /* out of memory: the daemon's policy */
        }
        unknown[nunknown++] = &key->via.str;
    }
    if (rc == 0 && nunknown > 1)
        rc = s_unknown_dups(unknown, nunknown, err);
    free(unknown);
    return rc;
}

/* Sets err->run / err->step from well-formed run and step values, so that
 * any rejection found afterwards can be logged with them. */
static void s_note_run_step(const msgpack_object *vals[K_COUNT], decode_error_t *err)
{
    const msgpack_object *run = vals[K_RUN], *step = vals[K_STEP];
    char why[64];
    if (run && run->type == MSGPACK_OBJECT_STR &&
        s_name_problem(&run->via.str, why, sizeof why) == 0) {
        memcpy(err->run, run->via.str.ptr, run->via.str.size);
        err->run[run->via.str.size] = '\0';
    }
    if (step && step->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        step->via.u64 <= (uint64_t)INT64_MAX) {
        err->has_step = 1;
        err->step = step->via.u64;
    }
}

/* Fails unless the key is present (when required) and of the msgpack type
 * the table asks for. kind: 'i' int, 'n' number, 's' string, 'a' array,
 * 'm' map, 'b' bool. Returns 1 when present and well-typed, 0 when absent and
 * optional, -1 on failure. */
static int s_want(const msgpack_object *vals[K_COUNT], s_key_t k, int required, char kind,
                  decode_error_t *err)
{
    const msgpack_object *o = vals[k];
    if (!o) {
        if (required)
            return s_fail(err, EW_REJ_MISSING_KEY, "missing required key \"%s\"", s_key_names[k]);
        return 0;
    }
    int ok;
    const char *want;
    switch (kind) {
    case 'i':
        ok = s_is_int(o);
        want = "an int";
        break;
    case 'n':
        ok = s_is_number(o);
        want = "a number";
        break;
    case 's':
        ok = o->type == MSGPACK_OBJECT_STR;
        want = "a string";
        break;
    case 'a':
        ok = o->type == MSGPACK_OBJECT_ARRAY;
        want = "an array [N, d]";
        break;
    case 'b':
        ok = o->type == MSGPACK_OBJECT_BOOLEAN;
        want = "true or false";
        break;
    default:
        ok = o->type == MSGPACK_OBJECT_MAP;
        want = "a map";
        break;
    }
    if (!ok)
        return s_fail(err, EW_REJ_BAD_TYPE, "\"%s\" must be %s, got %s", s_key_names[k], want,
                      s_type_name(o));
    return 1;
}

static int s_take_version(const msgpack_object *vals[K_COUNT], ew_header_t *h, decode_error_t *err)
{
    char t[24];
    int64_t v;
    if (s_want(vals, K_V, 1, 'i', err) < 0)
        return -1;
    if (!s_int_in(vals[K_V], EW_PROTOCOL_VERSION, EW_PROTOCOL_VERSION, &v))
        return s_fail(err, EW_REJ_VERSION, "v %s is not supported (this daemon speaks v%d)",
                      s_int_text(t, vals[K_V]), EW_PROTOCOL_VERSION);
    h->version = (int)v;
    return 0;
}

static int s_take_dtype(const msgpack_object *o, ew_header_t *h, decode_error_t *err)
{
    char q[S_QUOTE_SIZE];
    for (int i = 0; i < EW_COUNT(EW_DTYPES); i++) {
        if (s_str_is(&o->via.str, ew_dtype_name((ew_dtype_t)i))) {
            h->dtype = (ew_dtype_t)i;
            return 0;
        }
    }
    return s_fail(err, EW_REJ_DTYPE, "dtype \"%s\" is unknown (%s)",
                  s_quote(q, o->via.str.ptr, o->via.str.size), EW_DTYPE_LIST);
}

static int s_take_shape(const msgpack_object *o, ew_header_t *h, decode_error_t *err)
{
    const msgpack_object_array *a = &o->via.array;
    char tn[24], td[24];
    int64_t n, d;
    if (a->size != 2)
        return s_fail(err, EW_REJ_SHAPE, "shape has %" PRIu32 " element%s, must be [N, d]", a->size,
                      s_plural(a->size));
    for (int i = 0; i < 2; i++)
        if (!s_is_int(&a->ptr[i]))
            return s_fail(err, EW_REJ_SHAPE, "shape %s is %s, must be an int", i ? "d" : "N",
                          s_type_name(&a->ptr[i]));
    s_int_text(tn, &a->ptr[0]);
    s_int_text(td, &a->ptr[1]);
    if (!s_int_in(&a->ptr[0], 1, EW_N_MAX, &n))
        return s_fail(err, EW_REJ_SHAPE, "shape [%s, %s]: N must be 1..%u", tn, td, EW_N_MAX);
    if (!s_int_in(&a->ptr[1], 1, EW_D_MAX, &d))
        return s_fail(err, EW_REJ_SHAPE, "shape [%s, %s]: d must be 1..%u", tn, td, EW_D_MAX);
    if ((uint64_t)n * (uint64_t)d > EW_ELEMS_MAX)
        return s_fail(err, EW_REJ_SHAPE, "shape [%s, %s]: N*d = %" PRIu64 " is over the limit %u",
                      tn, td, (uint64_t)n * (uint64_t)d, EW_ELEMS_MAX);
    h->n = (uint32_t)n;
    h->d = (uint32_t)d;
    return 0;
}

static int s_take_support(const msgpack_object *o, ew_header_t *h, decode_error_t *err)
{
    char q[S_QUOTE_SIZE];
    for (int i = 0; i < EW_COUNT(EW_SUPPORTS); i++) {
        if (s_str_is(&o->via.str, ew_support_name((ew_support_t)i))) {
            h->support = (ew_support_t)i;
            return 0;
        }
    }
    return s_fail(err, EW_REJ_BAD_VALUE, "support \"%s\" must be one of %s",
                  s_quote(q, o->via.str.ptr, o->via.str.size), EW_SUPPORT_LIST);
}

static int s_take_rank_world(const msgpack_object *vals[K_COUNT], ew_header_t *h,
                             decode_error_t *err)
{
    char t[24];
    int64_t v;
    int has_rank, has_world;
    if ((has_rank = s_want(vals, K_RANK, 0, 'i', err)) < 0 ||
        (has_world = s_want(vals, K_WORLD, 0, 'i', err)) < 0)
        return -1;
    if (has_world) {
        if (!s_int_in(vals[K_WORLD], 1, EW_WORLD_MAX, &v))
            return s_fail(err, EW_REJ_BAD_VALUE, "world %s must be 1..%d",
                          s_int_text(t, vals[K_WORLD]), EW_WORLD_MAX);
        h->world = (int32_t)v;
    }
    if (has_rank) {
        if (!has_world)
            return s_fail(err, EW_REJ_BAD_VALUE, "rank %s is given without world",
                          s_int_text(t, vals[K_RANK]));
        if (!s_int_in(vals[K_RANK], 0, h->world - 1, &v))
            return s_fail(err, EW_REJ_BAD_VALUE, "rank %s must be 0..%d (world %d)",
                          s_int_text(t, vals[K_RANK]), h->world - 1, h->world);
        h->rank = (int32_t)v;
    }
    int has_pool = s_want(vals, K_POOL, 0, 'b', err);
    if (has_pool < 0)
        return -1;
    if (has_pool && vals[K_POOL]->via.boolean) {
        if (!has_world || h->world < 2 || !has_rank)
            return s_fail(err, EW_REJ_BAD_VALUE,
                          "pool is true without rank and a world of 2 or more");
        h->pool = 1;
    }
    return 0;
}

static int s_take_scalars(const msgpack_object *o, ew_header_t *h, decode_error_t *err)
{
    const msgpack_object_map *m = &o->via.map;
    char q[S_QUOTE_SIZE];
    if (m->size > EW_SCALARS_MAX)
        return s_fail(err, EW_REJ_BAD_VALUE, "scalars has %" PRIu32 " entries, the limit is %d",
                      m->size, EW_SCALARS_MAX);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *key = &m->ptr[i].key, *val = &m->ptr[i].val;
        ew_scalar_t *s = &h->scalars[i];
        if (key->type != MSGPACK_OBJECT_STR)
            return s_fail(err, EW_REJ_BAD_TYPE, "scalars key %" PRIu32 " is %s, must be a string",
                          i + 1, s_type_name(key));
        if (s_take_name("scalar name", &key->via.str, s->name, err) < 0)
            return -1;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(h->scalars[j].name, s->name) == 0)
                return s_fail(err, EW_REJ_BAD_TYPE, "scalars name \"%s\" appears twice",
                              s_quote(q, s->name, strlen(s->name)));
        if (!s_is_number(val))
            return s_fail(err, EW_REJ_BAD_TYPE, "scalar \"%s\" must be a number, got %s",
                          s_quote(q, s->name, strlen(s->name)), s_type_name(val));
        s->value = s_number(val);
        if (!isfinite(s->value))
            return s_fail(err, EW_REJ_BAD_VALUE, "scalar \"%s\" is %g, must be finite",
                          s_quote(q, s->name, strlen(s->name)), s->value);
        h->nscalars = (int)i + 1;
    }
    return 0;
}

/* `metrics`: an array of distinct catalogue names (batch.h). */
static int s_take_metrics(const msgpack_object *o, ew_header_t *h, decode_error_t *err)
{
    const msgpack_object_array *a = &o->via.array;
    char q[S_QUOTE_SIZE];
    if (a->size == 0 || a->size > EW_M_COUNT)
        return s_fail(err, EW_REJ_BAD_VALUE, "metrics has %" PRIu32 " entries, must be 1..%d",
                      a->size, EW_M_COUNT);
    for (uint32_t i = 0; i < a->size; i++) {
        const msgpack_object *e = &a->ptr[i];
        if (e->type != MSGPACK_OBJECT_STR)
            return s_fail(err, EW_REJ_BAD_TYPE, "metrics entry %" PRIu32 " is %s, must be a string",
                          i + 1, s_type_name(e));
        int m = ew_metric_lookup(e->via.str.ptr, e->via.str.size);
        if (m < 0)
            return s_fail(err, EW_REJ_BAD_VALUE, "metrics: unknown metric \"%s\"",
                          s_quote(q, e->via.str.ptr, e->via.str.size));
        if (h->metrics & EW_MBIT(m))
            return s_fail(err, EW_REJ_BAD_TYPE, "metrics: \"%s\" appears twice",
                          ew_metric_name((ew_metric_t)m));
        h->metrics |= EW_MBIT(m);
    }
    return 0;
}

/* `launch`: 1..EW_LAUNCH_MAX bytes of printable ASCII without spaces (a hex
 * id, a uuid, a scheduler's job id), so that it reads the same in a log, a
 * URL and a shell. */
static int s_take_launch(const msgpack_object *o, ew_header_t *h, decode_error_t *err)
{
    const msgpack_object_str *s = &o->via.str;
    char q[S_QUOTE_SIZE];
    if (s->size == 0 || s->size > EW_LAUNCH_MAX)
        return s_fail(err, EW_REJ_BAD_LAUNCH, "launch \"%s\" is %" PRIu32 " bytes, must be 1..%d",
                      s_quote(q, s->ptr, s->size), s->size, EW_LAUNCH_MAX);
    for (uint32_t i = 0; i < s->size; i++) {
        unsigned char c = (unsigned char)s->ptr[i];
        if (c <= 0x20 || c >= 0x7f)
            return s_fail(err, EW_REJ_BAD_LAUNCH,
                          "launch \"%s\" has byte 0x%02x at %" PRIu32
                          ", must be printable ASCII without spaces",
                          s_quote(q, s->ptr, s->size), c, i);
    }
    memcpy(h->launch, s->ptr, s->size);
    h->launch[s->size] = '\0';
    return 0;
}

/* `config`: the text of one JSON object, at most EW_CONFIG_MAX bytes, parsed
 * by jansson (duplicate keys refused, as `key appears twice` is here). The
 * text is kept as sent; its place in the header frame goes to h. */
static int s_take_config(const msgpack_object *o, const uint8_t *hdr, ew_header_t *h,
                         decode_error_t *err)
{
    const msgpack_object_str *s = &o->via.str;
    if (s->size > EW_CONFIG_MAX)
        return s_fail(err, EW_REJ_BAD_CONFIG, "config is %" PRIu32 " bytes, the limit is %u",
                      s->size, EW_CONFIG_MAX);
    json_error_t je;
    json_t *j = json_loadb(s->ptr, s->size, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return s_fail(err, EW_REJ_BAD_CONFIG, "config is not JSON: %.120s (at byte %d)", je.text,
                      je.position);
    int obj = json_is_object(j);
    json_decref(j);
    if (!obj)
        return s_fail(err, EW_REJ_BAD_CONFIG, "config must be a JSON object {...}");
    h->config_off = (uint32_t)((const uint8_t *)s->ptr - hdr);
    h->config_len = s->size;
    return 0;
}

/* `notes`: free text, at most EW_NOTES_MAX bytes of UTF-8; newlines and
 * tabs are fine, other control characters are not. */
static int s_take_notes(const msgpack_object *o, const uint8_t *hdr, ew_header_t *h,
                        decode_error_t *err)
{
    const msgpack_object_str *s = &o->via.str;
    const uint8_t *p = (const uint8_t *)s->ptr;
    if (s->size > EW_NOTES_MAX)
        return s_fail(err, EW_REJ_BAD_CONFIG, "notes is %" PRIu32 " bytes, the limit is %u",
                      s->size, EW_NOTES_MAX);
    for (size_t i = 0; i < s->size;) {
        if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f)
            return s_fail(err, EW_REJ_BAD_CONFIG, "notes has control character 0x%02x at byte %zu",
                          p[i], i);
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = ew_utf8_len(p + i, s->size - i);
        if (k == 0)
            return s_fail(err, EW_REJ_BAD_CONFIG, "notes is not valid UTF-8 at byte %zu", i);
        i += k;
    }
    h->notes_off = (uint32_t)(p - hdr);
    h->notes_len = s->size;
    return 0;
}

/* An optional positive finite number no larger than hi. Returns 0 (absent
 * or taken into *out) or -1. */
static int s_take_param(const msgpack_object *vals[K_COUNT], s_key_t k, double hi, double *out,
                        decode_error_t *err)
{
    int has = s_want(vals, k, 0, 'n', err);
    if (has <= 0)
        return has;
    double v = s_number(vals[k]);
    if (!(isfinite(v) && v > 0 && v <= hi))
        return s_fail(err, EW_REJ_BAD_VALUE, "%s %.9g must be finite, 0 < %s <= %g", s_key_names[k],
                      v, s_key_names[k], hi);
    *out = v;
    return 0;
}

/* Pass 2: every key in protocol.md table order, defaults for the absent. */
static int s_take_keys(const msgpack_object *vals[K_COUNT], const uint8_t *hdr, ew_header_t *h,
                       decode_error_t *err)
{
    char t[24];
    int64_t v;
    int has;

    h->views = 1;
    h->support = EW_SUPPORT_SPHERE;
    h->kappa = EW_KAPPA_DEFAULT;
    h->rank = h->world = -1;
    h->time = NAN;
    h->dropped = 0;
    h->nscalars = 0;
    h->metrics = 0;
    h->t = EW_T_DEFAULT;
    h->alpha = EW_ALPHA_DEFAULT;
    h->eps = EW_SINKHORN_EPS_DEFAULT;
    h->iters = EW_SINKHORN_ITERS_DEFAULT;

    if (s_take_version(vals, h, err) < 0)
        return -1;
    if (s_want(vals, K_RUN, 1, 's', err) < 0 ||
        s_take_name("run", &vals[K_RUN]->via.str, h->run, err) < 0)
        return -1;
    if (s_want(vals, K_TAG, 1, 's', err) < 0 ||
        s_take_name("tag", &vals[K_TAG]->via.str, h->tag, err) < 0)
        return -1;
    if (s_want(vals, K_STEP, 1, 'i', err) < 0)
        return -1;
    if (!s_int_in(vals[K_STEP], 0, INT64_MAX, &v))
        return s_fail(err, EW_REJ_BAD_VALUE, "step %s must be 0..%" PRId64,
                      s_int_text(t, vals[K_STEP]), INT64_MAX);
    h->step = (uint64_t)v;
    /* views 0: a scalar-only batch, no tensor, so dtype and shape are not
     * required (checked when given, then ignored). */
    int scalar_only = vals[K_VIEWS] && s_is_int(vals[K_VIEWS]) && s_int_in(vals[K_VIEWS], 0, 0, &v);
    if ((has = s_want(vals, K_DTYPE, !scalar_only, 's', err)) < 0 ||
        (has && s_take_dtype(vals[K_DTYPE], h, err) < 0))
        return -1;
    if ((has = s_want(vals, K_SHAPE, !scalar_only, 'a', err)) < 0 ||
        (has && s_take_shape(vals[K_SHAPE], h, err) < 0))
        return -1;

    if ((has = s_want(vals, K_VIEWS, 0, 'i', err)) < 0)
        return -1;
    if (has) {
        if (!s_int_in(vals[K_VIEWS], 0, 2, &v))
            return s_fail(err, EW_REJ_BAD_VALUE, "views %s must be 0 (scalars only), 1 or 2",
                          s_int_text(t, vals[K_VIEWS]));
        h->views = (int)v;
    }
    if (h->views == 0)
        h->n = h->d = 0;
    if ((has = s_want(vals, K_SUPPORT, 0, 's', err)) < 0 ||
        (has && s_take_support(vals[K_SUPPORT], h, err) < 0))
        return -1;
    if ((has = s_want(vals, K_KAPPA, 0, 'n', err)) < 0)
        return -1;
    if (has) {
        double k = s_number(vals[K_KAPPA]);
        if (!(isfinite(k) && k > 0 && k <= EW_KAPPA_MAX))
            return s_fail(err, EW_REJ_BAD_VALUE, "kappa %.9g must be finite, 0 < kappa <= %g", k,
                          EW_KAPPA_MAX);
        h->kappa = k;
    }
    if (s_take_rank_world(vals, h, err) < 0)
        return -1;
    if (h->pool && h->views == 0)
        return s_fail(err, EW_REJ_BAD_VALUE,
                      "pool is true on a batch without embeddings "
                      "(views 0): scalars alone are not pooled");
    if ((has = s_want(vals, K_TIME, 0, 'n', err)) < 0)
        return -1;
    if (has) {
        double tm = s_number(vals[K_TIME]);
        if (!(isfinite(tm) && tm >= 0))
            return s_fail(err, EW_REJ_BAD_VALUE,
                          "time %.9g must be finite seconds since the epoch, >= 0", tm);
        h->time = tm;
    }
    if ((has = s_want(vals, K_SCALARS, 0, 'm', err)) < 0 ||
        (has && s_take_scalars(vals[K_SCALARS], h, err) < 0))
        return -1;
    if ((has = s_want(vals, K_DROPPED, 0, 'i', err)) < 0)
        return -1;
    if (has) {
        if (!s_int_in(vals[K_DROPPED], 0, INT64_MAX, &v))
            return s_fail(err, EW_REJ_BAD_VALUE, "dropped %s must be 0..%" PRId64,
                          s_int_text(t, vals[K_DROPPED]), INT64_MAX);
        h->dropped = (uint64_t)v;
    }
    if ((has = s_want(vals, K_METRICS, 0, 'a', err)) < 0 ||
        (has && s_take_metrics(vals[K_METRICS], h, err) < 0))
        return -1;
    if (s_take_param(vals, K_T, EW_T_MAX, &h->t, err) < 0 ||
        s_take_param(vals, K_ALPHA, EW_ALPHA_MAX, &h->alpha, err) < 0 ||
        s_take_param(vals, K_EPS, EW_EPS_MAX, &h->eps, err) < 0)
        return -1;
    if ((has = s_want(vals, K_ITERS, 0, 'i', err)) < 0)
        return -1;
    if (has) {
        if (!s_int_in(vals[K_ITERS], 1, EW_SINKHORN_ITERS_MAX, &v))
            return s_fail(err, EW_REJ_BAD_VALUE, "iters %s must be 1..%d",
                          s_int_text(t, vals[K_ITERS]), EW_SINKHORN_ITERS_MAX);
        h->iters = (int)v;
    }
    if (h->views == 0 && h->nscalars == 0)
        return s_fail(err, EW_REJ_BAD_VALUE,
                      "views 0 (a scalar-only batch) needs at least one scalar");
    if ((has = s_want(vals, K_LAUNCH, 0, 's', err)) < 0 ||
        (has && s_take_launch(vals[K_LAUNCH], h, err) < 0))
        return -1;
    if ((has = s_want(vals, K_RESUME, 0, 'b', err)) < 0)
        return -1;
    if (has) {
        h->resume = vals[K_RESUME]->via.boolean ? 1 : 0;
        if (h->resume && !h->launch[0])
            return s_fail(err, EW_REJ_BAD_LAUNCH, "resume is true without a launch");
    }
    if ((has = s_want(vals, K_CONFIG, 0, 's', err)) < 0 ||
        (has && s_take_config(vals[K_CONFIG], hdr, h, err) < 0))
        return -1;
    if ((has = s_want(vals, K_NOTES, 0, 's', err)) < 0 ||
        (has && s_take_notes(vals[K_NOTES], hdr, h, err) < 0))
        return -1;
    return 0;
}

/* ------------------------------------------------------------ header */

int decode_header(const void *buf, size_t len, ew_header_t *h, decode_error_t *err)
{
    decode_error_t scratch;
    const uint8_t *p = buf;
    size_t end = 0, off = 0;
    const msgpack_object *vals[K_COUNT];

    if (!err)
        err = &scratch;
    s_err_reset(err);
    memset(h, 0, sizeof *h);

    if (len == 0)
        return s_fail(err, EW_REJ_MSGPACK, "header frame is empty");
    if (len > EW_HEADER_MAX)
        return s_fail(err, EW_REJ_MSGPACK, "header is %zu bytes, the limit is %u", len,
                      EW_HEADER_MAX);
    if (!(p[0] >= 0x80 && p[0] <= 0x8f) && p[0] != 0xde && p[0] != 0xdf)
        return s_fail(err, EW_REJ_MSGPACK,
                      "header must be a msgpack map, it starts with byte 0x%02x (%s)", p[0],
                      s_byte_kind(p[0]));
    if (s_scan(p, len, &end, err) < 0)
        return -1;
    if (end != len)
        return s_fail(err, EW_REJ_MSGPACK, "header has %zu trailing byte%s after the map",
                      len - end, s_plural(len - end));

    /* Safe now: every declared count is bounded by the bytes present. */
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    msgpack_unpack_return ret = msgpack_unpack_next(&up, buf, len, &off);
    int rc;
    if (ret != MSGPACK_UNPACK_SUCCESS || off != len || up.data.type != MSGPACK_OBJECT_MAP)
        rc = s_fail(err, EW_REJ_MSGPACK, "header is not a single msgpack map (msgpack-c says %d)",
                    (int)ret);
    else {
        rc = s_index_keys(&up.data.via.map, vals, err);
        s_note_run_step(vals, err); /* for the log, even when pass 1 failed */
        if (rc == 0)
            rc = s_take_keys(vals, p, h, err);
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* ------------------------------------------------------------ tensors */

static uint16_t s_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t s_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t s_le64(const uint8_t *p)
{
    return (uint64_t)s_le32(p) | (uint64_t)s_le32(p + 4) << 32;
}

static float s_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t s_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* IEEE half -> float32, exact, with no branch on the value. Exponent 31 (Inf/NaN) gives a
 * meaningless finite value: the caller rejects those. */
static float s_half(uint16_t x)
{
    uint32_t sign = (uint32_t)(x & 0x8000u) << 16, em = x & 0x7fffu;
    uint32_t normal = (em << 13) + (112u << 23);     /* rebias the exponent 15 -> 127 */
    uint32_t sub = s_f32_bits((float)em * 0x1p-24f); /* em < 0x400: m * 2^-24, exact */
    return s_f32_from_bits(sign | (em < 0x400u ? sub : normal));
}

/* Elements are converted in blocks of S_BLOCK: one pass converts a block and
 * ORs together "this one is bad"; only a bad block is walked again, one
 * element at a time, to say which element and why. */
#define S_BLOCK 4096

/* Converts elements [i0, i1) of src into dst. Returns nonzero when any of
 * them is NaN or Inf, or for f64, beyond float32 range. */
static int s_convert_block(ew_dtype_t t, const uint8_t *restrict src, float *restrict dst,
                           size_t i0, size_t i1)
{
    unsigned bad = 0;
    switch (t) {
    case EW_DTYPE_F32:
        for (size_t i = i0; i < i1; i++) {
            uint32_t u = s_le32(src + 4 * i);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
            dst[i] = s_f32_from_bits(u);
        }
        break;
    case EW_DTYPE_F64:
        for (size_t i = i0; i < i1; i++) {
            uint64_t u = s_le64(src + 8 * i);
            double x;
            memcpy(&x, &u, sizeof x);
            bad |= !(fabs(x) < S_F32_OVERFLOW); /* true for NaN too */
            /* Clamping never changes a good value (those above FLT_MAX round
             * to it anyway) and keeps the conversion in range for bad ones. */
            double c = x > FLT_MAX ? FLT_MAX : x;
            dst[i] = (float)(c < -FLT_MAX ? -FLT_MAX : c);
        }
        break;
    case EW_DTYPE_F16:
        for (size_t i = i0; i < i1; i++) {
            uint16_t x = s_le16(src + 2 * i);
            bad |= (x & 0x7c00u) == 0x7c00u;
            dst[i] = s_half(x);
        }
        break;
    case EW_DTYPE_BF16:
        for (size_t i = i0; i < i1; i++) {
            uint32_t u = (uint32_t)s_le16(src + 2 * i) << 16;
            bad |= (u & 0x7f800000u) == 0x7f800000u;
            dst[i] = s_f32_from_bits(u);
        }
        break;
    }
    return bad != 0;
}

/* Element i of a tensor frame as a double (exact for every dtype). */
static double s_element(ew_dtype_t t, const uint8_t *src, size_t i)
{
    switch (t) {
    case EW_DTYPE_F32:
        return s_f32_from_bits(s_le32(src + 4 * i));
    case EW_DTYPE_F64: {
        uint64_t u = s_le64(src + 8 * i);
        double x;
        memcpy(&x, &u, sizeof x);
        return x;
    }
    case EW_DTYPE_F16: {
        uint16_t v = s_le16(src + 2 * i);
        if ((v & 0x7c00u) != 0x7c00u)
            return s_half(v);
        if (v & 0x3ffu)
            return NAN;
        return (v & 0x8000u) ? -INFINITY : INFINITY;
    }
    case EW_DTYPE_BF16:
        return s_f32_from_bits((uint32_t)s_le16(src + 2 * i) << 16);
    }
    return 0;
}

/* Finds the first bad element in [i0, i1) and fails with a message naming
 * it. `frame` is the 1-based frame number. */
static int s_report_bad(const ew_header_t *h, const uint8_t *src, size_t i0, size_t i1, int frame,
                        decode_error_t *err)
{
    for (size_t i = i0; i < i1; i++) {
        double x = s_element(h->dtype, src, i);
        size_t row = i / h->d, col = i % h->d;
        if (isnan(x) || isinf(x))
            return s_fail(err, EW_REJ_NONFINITE, "tensor frame %d has %s at row %zu, column %zu",
                          frame,
                          isnan(x) ? "NaN"
                          : x > 0  ? "+Inf"
                                   : "-Inf",
                          row, col);
        if (fabs(x) >= S_F32_OVERFLOW)
            return s_fail(err, EW_REJ_NONFINITE,
                          "tensor frame %d value %.9g at row %zu, column %zu overflows float32",
                          frame, x, row, col);
    }
    /* unreachable: s_convert_block() found a bad element in this block */
    return s_fail(err, EW_REJ_NONFINITE, "tensor frame %d has a non-finite value", frame);
}

/* Converts one tensor frame of h->n * h->d elements to float32 into dst.
 * `frame` is its 1-based frame number, for messages. */
static int s_convert(const ew_header_t *h, const uint8_t *src, float *dst, int frame,
                     decode_error_t *err)
{
    size_t count = (size_t)h->n * h->d;
    for (size_t i0 = 0; i0 < count; i0 += S_BLOCK) {
        size_t i1 = count - i0 < S_BLOCK ? count : i0 + S_BLOCK;
        if (s_convert_block(h->dtype, src, dst, i0, i1))
            return s_report_bad(h, src, i0, i1, frame, err);
    }
    return 0;
}

/* ------------------------------------------------------------ message */

/* A NUL-terminated copy of hdr[off, off + len), or NULL when len is 0. */
static char *s_text_copy(const void *hdr, uint32_t off, uint32_t len)
{
    if (len == 0)
        return NULL;
    char *t = malloc((size_t)len + 1);
    if (!t)
        abort(); /* out of memory: the daemon's policy */
    memcpy(t, (const uint8_t *)hdr + off, len);
    t[len] = '\0';
    return t;
}

int decode_message(const decode_frame_t *frames, size_t nframes, double recv_time, batch_t **out,
                   decode_error_t *err)
{
    decode_error_t scratch;
    ew_header_t h;

    if (!err)
        err = &scratch;
    *out = NULL;
    s_err_reset(err);
    if (!frames || nframes == 0)
        return s_fail(err, EW_REJ_FRAMES, "message has no frames");

    /* The header first, even when the frame count is wrong: its run and step
     * make the frames rejection loggable. */
    int hrc = decode_header(frames[0].data, frames[0].size, &h, err);
    if (nframes > 3)
        return s_fail(err, EW_REJ_FRAMES,
                      "message has %zu frames, expected 1 to 3 (a header and 0 to 2 tensors)",
                      nframes);
    if (hrc < 0)
        return -1;
    if (nframes != 1 + (size_t)h.views)
        return s_fail(err, EW_REJ_FRAMES,
                      "message has %zu frame%s, header says views=%d (%d frame%s)", nframes,
                      s_plural(nframes), h.views, 1 + h.views, s_plural((size_t)(1 + h.views)));

    size_t count = (size_t)h.n * h.d;
    size_t want = count * ew_dtype_size(h.dtype);
    for (int v = 0; v < h.views; v++)
        if (frames[1 + v].size != want)
            return s_fail(err, EW_REJ_FRAME_SIZE,
                          "tensor frame %d is %zu bytes, header says %zu (N=%" PRIu32 ", d=%" PRIu32
                          ", %s)",
                          2 + v, frames[1 + v].size, want, h.n, h.d, ew_dtype_name(h.dtype));

    batch_t *b = calloc(1, sizeof *b);
    if (!b)
        abort(); /* out of memory: the daemon's policy */
    b->h = h;
    b->recv_time = recv_time;
    b->config = s_text_copy(frames[0].data, h.config_off, h.config_len);
    b->notes = s_text_copy(frames[0].data, h.notes_off, h.notes_len);
    for (int v = 0; v < h.views; v++) {
        b->view[v] = malloc(count * sizeof(float));
        if (!b->view[v])
            abort();
        if (s_convert(&h, frames[1 + v].data, b->view[v], 2 + v, err) < 0) {
            batch_destroy(&b);
            return -1;
        }
    }
    b->bytes = sizeof *b + (size_t)h.views * count * sizeof(float) + h.config_len + h.notes_len;
    *out = b;
    return 0;
}
