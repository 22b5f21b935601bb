/* test.h: a tiny unit-test harness shared by every tests/unit/test_*.c.
 *
 * Each test is a function registered in a table; each runs in order in the
 * same process and records whether any ASSERT failed. Output is TAP-like,
 * one line per test ("ok NAME" / "not ok NAME"), which tests/run.sh counts.
 * ASSERT_* print both sides and the line, then return from the test.
 * Use the form that prints values: ASSERT_LT(a, b) rather than ASSERT(a < b),
 * which can only print its expression; ASSERT(cond) is for conditions with no
 * value worth printing.
 *
 *   TEST(parses_header) { ASSERT_EQ(1, 1); }
 *   int main(void) { return test_main((test_case_t[]){ T(parses_header), {0} }); }
 */
#ifndef ERWATCH_TEST_H
#define ERWATCH_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case_t;

static int t_failed_now;

#define TEST(name) static void test_##name(void)
#define T(name)                                                                                    \
    {                                                                                              \
#name, test_##name                                                                         \
    }

#define T_FAIL_(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        t_failed_now = 1;                                                                          \
        return;                                                                                    \
    } while (0)

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c))                                                                                  \
            T_FAIL_("assertion failed: %s", #c);                                                   \
    } while (0)

/* ------------------------------------------------------- typed values
 * Every comparison macro turns each side into a t_val_t chosen by its type
 * (_Generic), so a double is compared and printed as a double, an unsigned
 * as unsigned, a pointer as a pointer: nothing is truncated to long long.
 * Each side is evaluated once. */
typedef enum { T_INT, T_UINT, T_DBL, T_PTR } t_kind_t;
typedef struct {
    t_kind_t kind;
    long long i;
    unsigned long long u;
    long double d;
    const void *p;
} t_val_t;

static inline t_val_t t_val_i(long long v)
{
    return (t_val_t){.kind = T_INT, .i = v};
}
static inline t_val_t t_val_u(unsigned long long v)
{
    return (t_val_t){.kind = T_UINT, .u = v};
}
static inline t_val_t t_val_d(long double v)
{
    return (t_val_t){.kind = T_DBL, .d = v};
}
/* gcc assumes a function taking a const pointer reads through it and warns
 * when it points to a not-yet-written object; this one only keeps the address. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
__attribute__((access(none, 1)))
#endif
static inline t_val_t
t_val_p(const volatile void *v)
{
    return (t_val_t){.kind = T_PTR, .p = (const void *)(uintptr_t)v};
}

#define T_VAL_(x)                                                                                  \
    _Generic((x), _Bool                                                                            \
             : t_val_u, char                                                                       \
             : t_val_i, signed char                                                                \
             : t_val_i, short                                                                      \
             : t_val_i, int                                                                        \
             : t_val_i, long                                                                       \
             : t_val_i, long long                                                                  \
             : t_val_i, unsigned char                                                              \
             : t_val_u, unsigned short                                                             \
             : t_val_u, unsigned int                                                               \
             : t_val_u, unsigned long                                                              \
             : t_val_u, unsigned long long                                                         \
             : t_val_u, float                                                                      \
             : t_val_d, double                                                                     \
             : t_val_d, long double                                                                \
             : t_val_d, default                                                                    \
             : t_val_p)(x)

/* -1, 0, 1, or 2 when unordered (a NaN). Mixed kinds compare by value: a
 * negative signed is below any unsigned; a pointer compares as its address. */
static inline int t_cmp(t_val_t a, t_val_t b)
{
    if (a.kind == T_DBL || b.kind == T_DBL) {
        long double x = a.kind == T_DBL    ? a.d
                        : a.kind == T_INT  ? (long double)a.i
                        : a.kind == T_UINT ? (long double)a.u
                                           : (long double)(uintptr_t)a.p;
        long double y = b.kind == T_DBL    ? b.d
                        : b.kind == T_INT  ? (long double)b.i
                        : b.kind == T_UINT ? (long double)b.u
                                           : (long double)(uintptr_t)b.p;
        if (isnan(x) || isnan(y))
            return 2;
        return x < y ? -1 : x > y;
    }
    if (a.kind == T_PTR) {
        a.kind = T_UINT;
        a.u = (uintptr_t)a.p;
    }
    if (b.kind == T_PTR) {
        b.kind = T_UINT;
        b.u = (uintptr_t)b.p;
    }
    if (a.kind == T_INT && b.kind == T_INT)
        return a.i < b.i ? -1 : a.i > b.i;
    if (a.kind == T_INT) /* b unsigned */
        return a.i < 0 ? -1 : (unsigned long long)a.i < b.u ? -1 : (unsigned long long)a.i > b.u;
    if (b.kind == T_INT)
        return b.i < 0 ? 1 : a.u < (unsigned long long)b.i ? -1 : a.u > (unsigned long long)b.i;
    return a.u < b.u ? -1 : a.u > b.u;
}

/* Formats v into buf (a double with 17 digits: the exact value round-trips). */
static inline const char *t_fmt(t_val_t v, char *buf, size_t n)
{
    switch (v.kind) {
    case T_INT:
        snprintf(buf, n, "%lld", v.i);
        break;
    case T_UINT:
        snprintf(buf, n, "%llu", v.u);
        break;
    case T_DBL:
        snprintf(buf, n, "%.17Lg", v.d);
        break;
    case T_PTR:
        if (v.p)
            snprintf(buf, n, "%p", v.p);
        else
            snprintf(buf, n, "NULL");
        break;
    }
    return buf;
}

static inline int t_holds(int c, const char *op)
{
    switch (op[0]) {
    case '=':
        return c == 0;
    case '!':
        return c != 0; /* NaN != x holds, as in C */
    case '<':
        return op[1] == '=' ? (c == -1 || c == 0) : c == -1;
    default:
        return op[1] == '=' ? (c == 1 || c == 0) : c == 1;
    }
}

/* ASSERT_LE(a, b) checks a <= b by value and, when it does not hold, prints
 * "file:line: a <= b: 3 vs 2" with both expressions (as written: the
 * stringizing happens before macro arguments expand) and both values. */
#define T_CMP_(a, op, b, as, bs)                                                                   \
    do {                                                                                           \
        t_val_t a_ = T_VAL_(a), b_ = T_VAL_(b);                                                    \
        if (!t_holds(t_cmp(a_, b_), #op)) {                                                        \
            char ab_[64], bb_[64];                                                                 \
            T_FAIL_("%s %s %s: %s vs %s", as, #op, bs, t_fmt(a_, ab_, sizeof ab_),                 \
                    t_fmt(b_, bb_, sizeof bb_));                                                   \
        }                                                                                          \
    } while (0)

#define ASSERT_EQ(a, b) T_CMP_(a, ==, b, #a, #b)
#define ASSERT_NE(a, b) T_CMP_(a, !=, b, #a, #b)
#define ASSERT_LT(a, b) T_CMP_(a, <, b, #a, #b)
#define ASSERT_LE(a, b) T_CMP_(a, <=, b, #a, #b)
#define ASSERT_GT(a, b) T_CMP_(a, >, b, #a, #b)
#define ASSERT_GE(a, b) T_CMP_(a, >=, b, #a, #b)
#define ASSERT_NULL(p) T_CMP_(p, ==, NULL, #p, "NULL")
#define ASSERT_NOT_NULL(p)                                                                         \
    do {                                                                                           \
        if ((p) == NULL)                                                                           \
            T_FAIL_("%s is NULL", #p);                                                             \
    } while (0)

/* |a - b| <= tol (absolute); NaN on either side fails. */
#define ASSERT_NEAR(a, b, tol)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b), t_ = (tol);                                                     \
        if (!(fabs(a_ - b_) <= t_))                                                                \
            T_FAIL_("%s ~ %s: %.17g vs %.17g (|diff| %.3g > %.3g)", #a, #b, a_, b_, fabs(a_ - b_), \
                    t_);                                                                           \
    } while (0)

#define ASSERT_NAN(x)                                                                              \
    do {                                                                                           \
        double x_ = (x);                                                                           \
        if (!isnan(x_))                                                                            \
            T_FAIL_("%s is %.17g, expected NaN", #x, x_);                                          \
    } while (0)
#define ASSERT_FINITE(x)                                                                           \
    do {                                                                                           \
        double x_ = (x);                                                                           \
        if (!isfinite(x_))                                                                         \
            T_FAIL_("%s is %g, expected finite", #x, x_);                                          \
    } while (0)

/* ------------------------------------------------------------ strings */
#define T_S_(s) ((s) ? (s) : "(null)")

#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            T_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, T_S_(a_), T_S_(b_));                     \
    } while (0)
#define ASSERT_STRNE(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) == 0)                                                     \
            T_FAIL_("%s != %s: both \"%s\"", #a, #b, T_S_(a_));                                    \
    } while (0)
/* hay contains needle (strstr) / does not / starts with it */
#define ASSERT_HAS(hay, needle)                                                                    \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            T_FAIL_("%s has \"%s\": it is \"%s\"", #hay, n_, T_S_(h_));                            \
    } while (0)
#define ASSERT_HASNT(hay, needle)                                                                  \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || strstr(h_, n_))                                                                 \
            T_FAIL_("%s has no \"%s\": it is \"%s\"", #hay, n_, T_S_(h_));                         \
    } while (0)
#define ASSERT_PREFIX(s, prefix)                                                                   \
    do {                                                                                           \
        const char *s_ = (s), *p_ = (prefix);                                                      \
        if (!s_ || strncmp(s_, p_, strlen(p_)) != 0)                                               \
            T_FAIL_("%s starts with \"%s\": it is \"%s\"", #s, p_, T_S_(s_));                      \
    } while (0)
/* n bytes equal; prints the first difference */
#define ASSERT_MEMEQ(a, b, n)                                                                      \
    do {                                                                                           \
        const unsigned char *a_ = (const void *)(a), *b_ = (const void *)(b);                      \
        size_t n_ = (n), i_ = 0;                                                                   \
        while (i_ < n_ && a_[i_] == b_[i_])                                                        \
            i_++;                                                                                  \
        if (i_ < n_)                                                                               \
            T_FAIL_("%s == %s (%zu bytes): byte %zu is 0x%02x vs 0x%02x", #a, #b, n_, i_, a_[i_],  \
                    b_[i_]);                                                                       \
    } while (0)

/* |a-b| <= tol * max(1, |b|): the "mixed" error of tests/vectors/README.md */
#define ASSERT_MIXED(a, b, tol)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b), t_ = (tol);                                                     \
        double e_ = fabs(a_ - b_) / fmax(1.0, fabs(b_));                                           \
        if (!(isnan(a_) && isnan(b_)) && !(e_ <= t_))                                              \
            T_FAIL_("%s ~ %s: %.17g vs %.17g (mixed err %.3g > %.3g)", #a, #b, a_, b_, e_, t_);    \
    } while (0)

static inline int test_main(const test_case_t *cases)
{
    int passed = 0, failed = 0;
    const char *only = getenv("TEST_ONLY");
    for (const test_case_t *c = cases; c->name; c++) {
        if (only && !strstr(c->name, only))
            continue;
        t_failed_now = 0;
        c->fn();
        printf("%s %s\n", t_failed_now ? "not ok" : "ok", c->name);
        fflush(stdout);
        if (t_failed_now)
            failed++;
        else
            passed++;
    }
    printf("# %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
