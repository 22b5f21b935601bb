/* strbuf.c: the growable byte buffer behind every JSON body, CSV export and
 * log line the daemon builds.
 *
 * Design decisions:
 *  - The buffer is always NUL-terminated (data[len] == 0) and data is never
 *    NULL after strbuf_init(), so callers may hand b->data to printf-style
 *    code at any moment. A zeroed strbuf_t ({0}) also works: the first append
 *    allocates.
 *  - Out of memory aborts (daemon policy, see STYLE.md): no caller has to
 *    check an append.
 *  - JSON strings: '"', '\\' and every control character (< 0x20 and 0x7f)
 *    are escaped ("\n", "\r", "\t", "\b", "\f" in their short forms, the
 *    rest as \u00XX). Valid UTF-8 passes through unchanged; each byte of an
 *    invalid sequence becomes U+FFFD, so the output is always valid JSON
 *    whatever a database file holds.
 *  - JSON numbers: the shortest of %.15g, %.16g, %.17g that strtod() reads
 *    back to the same double; NaN and +-Inf become null (JSON has neither).
 *    The fast path finds the digits in long double arithmetic, which needs a
 *    64-bit mantissa (x87's 80-bit format; IEEE quad is finer still): with
 *    LDBL_MANT_DIG below 64 (long double = double on many ARM and MSVC
 *    targets) it is compiled out and every number takes the portable path
 *    (snprintf %.*e and strtod), which prints the same text, only slower.
 */
#include "strbuf.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ew_utf8.h"

#define S_MIN_CAP 64

static void s_oom(size_t want)
{
    fprintf(stderr, "erwatchd: out of memory (strbuf wants %zu bytes)\n", want);
    abort();
}

/* Makes room for `more` bytes plus the terminating NUL. */
static void s_reserve(strbuf_t *b, size_t more)
{
    if (more > SIZE_MAX - b->len - 1)
        s_oom(SIZE_MAX);
    size_t need = b->len + more + 1;
    if (b->data && need <= b->cap)
        return;
    size_t cap = b->cap < S_MIN_CAP ? S_MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        s_oom(cap);
    if (!b->data)
        p[0] = '\0';
    b->data = p;
    b->cap = cap;
}

void strbuf_init(strbuf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    s_reserve(b, 0);
}

void strbuf_free(strbuf_t *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void strbuf_reset(strbuf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *strbuf_steal(strbuf_t *b)
{
    s_reserve(b, 0);
    char *p = b->data;
    strbuf_init(b);
    return p;
}

void strbuf_append(strbuf_t *b, const void *p, size_t n)
{
    s_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void strbuf_puts(strbuf_t *b, const char *s)
{
    strbuf_append(b, s, strlen(s));
}

void strbuf_putc(strbuf_t *b, char c)
{
    s_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void strbuf_printf(strbuf_t *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    s_reserve(b, 0);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        /* An encoding error: keep the buffer as it was. */
        b->data[b->len] = '\0';
        va_end(ap2);
        return;
    }
    if ((size_t)n >= room) {
        s_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
}

/* ---------------------------------------------------------------- JSON */

void strbuf_json_str(strbuf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    strbuf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        /* Copy the longest run that needs no escaping in one append. */
        size_t start = i;
        while (i < n && p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            i++;
        if (i > start)
            strbuf_append(b, p + start, i - start);
        if (i >= n)
            break;
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t len = ew_utf8_len(p + i, n - i);
            if (len) {
                strbuf_append(b, p + i, len);
                i += len;
            } else {
                strbuf_puts(b, "\\ufffd");
                i++;
            }
            continue;
        }
        switch (c) {
        case '"':
            strbuf_puts(b, "\\\"");
            break;
        case '\\':
            strbuf_puts(b, "\\\\");
            break;
        case '\n':
            strbuf_puts(b, "\\n");
            break;
        case '\r':
            strbuf_puts(b, "\\r");
            break;
        case '\t':
            strbuf_puts(b, "\\t");
            break;
        case '\b':
            strbuf_puts(b, "\\b");
            break;
        case '\f':
            strbuf_puts(b, "\\f");
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            strbuf_append(b, esc, sizeof esc);
        }
        }
        i++;
    }
    strbuf_putc(b, '"');
}

/* ---------------------------------------------------------------- numbers */

/* -DSTRBUF_PORTABLE_ONLY builds what a machine without a 64-bit long
 * double mantissa runs, to check that configuration compiles and passes. */
#if LDBL_MANT_DIG >= 64 && !defined(STRBUF_PORTABLE_ONLY)
#define S_FAST_DOUBLE 1
#else
#define S_FAST_DOUBLE 0
#endif

#if S_FAST_DOUBLE
/* Powers of ten in long double (64-bit mantissa on x86-64), filled once. */
#define S_P10_MIN (-360)
#define S_P10_MAX 360
static long double s_p10_tab[S_P10_MAX - S_P10_MIN + 1];
static pthread_once_t s_p10_once = PTHREAD_ONCE_INIT;

static void s_p10_init(void)
{
    for (int k = S_P10_MIN; k <= S_P10_MAX; k++)
        s_p10_tab[k - S_P10_MIN] = powl(10.0L, (long double)k);
}

static long double s_p10(int k)
{
    return s_p10_tab[k - S_P10_MIN];
}
#endif

/* Writes the decimal digits of d (no leading zeros, trailing zeros
 * trimmed) in `dig`, returns how many; *drop gets the zeros trimmed. */
static int s_digits(uint64_t d, char *dig)
{
    while (d >= 10 && d % 10 == 0)
        d /= 10;
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + d % 10);
        d /= 10;
    } while (d);
    for (int i = 0; i < n; i++)
        dig[i] = tmp[n - 1 - i];
    return n;
}

/* digits d (n of them) x 10^e10 where e10 is the exponent of the first
 * digit: fixed notation for 1e-5 <= |v| < 1e17, else d.ddde<exp>. */
static int s_emit(char *out, int neg, const char *dig, int n, int e10)
{
    char *p = out;
    if (neg)
        *p++ = '-';
    if (e10 >= -5 && e10 < 17) {
        if (e10 < 0) {
            *p++ = '0';
            *p++ = '.';
            for (int i = -1; i > e10; i--)
                *p++ = '0';
            memcpy(p, dig, (size_t)n);
            p += n;
        } else {
            for (int i = 0; i <= e10; i++)
                *p++ = i < n ? dig[i] : '0';
            if (n > e10 + 1) {
                *p++ = '.';
                memcpy(p, dig + e10 + 1, (size_t)(n - e10 - 1));
                p += n - e10 - 1;
            }
        }
    } else {
        *p++ = dig[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, dig + 1, (size_t)(n - 1));
            p += n - 1;
        }
        p += snprintf(p, 8, "e%d", e10); /* |e10| <= 324 */
    }
    *p = '\0';
    return (int)(p - out);
}

/* The portable path, for |v| = a > 0 finite: the shortest of %.14e,
 * %.15e, %.16e (15 to 17 significant digits, correctly rounded by the C
 * library) that strtod reads back to a, written by s_emit as the fast path
 * writes it. */
static int s_format_portable(char *out, int neg, double a)
{
    char buf[40];
    int prec = 15;
    for (; prec < 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, a);
        if (strtod(buf, NULL) == a)
            break;
    }
    if (prec == 17)
        snprintf(buf, sizeof buf, "%.*e", prec - 1, a);
    /* buf is "D.DDDDe[+-]XX": prec digits, then the exponent */
    uint64_t d = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            d = d * 10 + (uint64_t)(*p - '0');
    int e10 = *p == 'e' ? atoi(p + 1) : 0;
    char dig[24];
    int n = s_digits(d, dig);
    return s_emit(out, neg, dig, n, e10);
}

int strbuf__format_double_portable(char *out, double v)
{
    if (v == 0)
        return snprintf(out, STRBUF_NUM_LEN, "%s", signbit(v) ? "-0" : "0");
    if (!isfinite(v))
        return snprintf(out, STRBUF_NUM_LEN, "null");
    return s_format_portable(out, v < 0, fabs(v));
}

/* The shortest of 15, 16, 17 significant digits that rounds back to v.
 * Each candidate is the product of long-double arithmetic (relative error
 * below 2^-62) and is accepted when it lies clearly inside v's rounding
 * interval (between the midpoints to its neighbours, half an ulp, at
 * least 2^-54 relative, away); the rare candidate too close to a midpoint
 * to tell is settled by strtod, and printf is the last resort. */
int strbuf_format_double(char *out, double v)
{
    if (v == 0)
        return snprintf(out, STRBUF_NUM_LEN, "%s", signbit(v) ? "-0" : "0");
    if (!isfinite(v))
        return snprintf(out, STRBUF_NUM_LEN, "null");
    int neg = v < 0;
    double a = fabs(v);
#if S_FAST_DOUBLE
    pthread_once(&s_p10_once, s_p10_init);
    int e = (int)floor(log10(a));
    long double la = a;
    if (e - 1 < -330 || e + 1 > 330)
        goto slow;
    if (s_p10(e) > la)
        e--;
    else if (s_p10(e + 1) <= la)
        e++;
    double below = nextafter(a, 0.0), above = nextafter(a, INFINITY);
    long double lo = (la + (long double)below) / 2;
    long double hi = isinf(above) /* DBL_MAX: overflow from half an ulp up */
                         ? la + (la - (long double)below) / 2
                         : (la + (long double)above) / 2;
    long double tol = la * 0x1p-60L;
    static const uint64_t pow10u[18] = {
        1ull,
        10ull,
        100ull,
        1000ull,
        10000ull,
        100000ull,
        1000000ull,
        10000000ull,
        100000000ull,
        1000000000ull,
        10000000000ull,
        100000000000ull,
        1000000000000ull,
        10000000000000ull,
        100000000000000ull,
        1000000000000000ull,
        10000000000000000ull,
        100000000000000000ull,
    };
    for (int prec = 15; prec <= 17; prec++) {
        int ee = e;
        uint64_t d = (uint64_t)llrintl(la * s_p10(prec - 1 - e)); /* ties to even, as printf */
        if (d >= pow10u[prec]) { /* rounded up to the next power of ten */
            d /= 10;
            ee++;
        }
        long double x = (long double)d * s_p10(ee - prec + 1);
        char dig[24];
        int n = s_digits(d, dig);
        if (x > lo + tol && x < hi - tol)
            return s_emit(out, neg, dig, n, ee);
        if (x < lo - tol || x > hi + tol)
            continue;
        int len = s_emit(out, neg, dig, n, ee);
        if (strtod(out, NULL) == v)
            return len;
    }
slow:
#endif
    return s_format_portable(out, neg, a);
}

void strbuf_json_num(strbuf_t *b, double v)
{
    char tmp[STRBUF_NUM_LEN];
    int n = strbuf_format_double(tmp, v);
    strbuf_append(b, tmp, (size_t)n);
}

/* ---------------------------------------------------------------- CSV */

void strbuf_csv_str(strbuf_t *b, const char *s)
{
    if (!s)
        return;
    /* A cell a spreadsheet would read as a formula (= + - @, or TAB/CR
     * before one) gets a leading apostrophe: shown as text, never run. */
    int formula = *s && strchr("=+-@\t\r", *s) != NULL;
    if (!strpbrk(s, ",\"\r\n")) {
        if (formula)
            strbuf_putc(b, '\'');
        strbuf_puts(b, s);
        return;
    }
    strbuf_putc(b, '"');
    if (formula)
        strbuf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            strbuf_putc(b, '"');
        strbuf_putc(b, *p);
    }
    strbuf_putc(b, '"');
}

/* A spectrum's row (strbuf.h): float precision is all it has. */
void strbuf_json_f32le(strbuf_t *b, const unsigned char *v, int k)
{
    strbuf_putc(b, '[');
    for (int i = 0; i < k; i++) {
        uint32_t u = (uint32_t)v[4 * i] | (uint32_t)v[4 * i + 1] << 8 |
                     (uint32_t)v[4 * i + 2] << 16 | (uint32_t)v[4 * i + 3] << 24;
        float f;
        memcpy(&f, &u, 4);
        if (i)
            strbuf_putc(b, ',');
        if (isfinite(f))
            strbuf_printf(b, "%.7g", (double)f);
        else
            strbuf_puts(b, "null");
    }
    strbuf_putc(b, ']');
}
