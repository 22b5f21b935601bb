/* test.h: a tiny unit-test harness shared by every tests/unit/test_*.c.
 *
 * Each test is a function registered in a table; each runs in order in the
 * same process and records whether any ASSERT failed. Output is TAP-like,
 * one line per test ("ok NAME" / "not ok NAME"), which tests/run.sh counts.
 * ASSERT_* print both sides and the line, then return from the test.
 *
 *   TEST(parses_header) { ASSERT_EQ(1, 1); }
 *   int main(void) { return test_main((test_case_t[]){ T(parses_header), {0} }); }
 */
#ifndef ERWATCH_TEST_H
#define ERWATCH_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case_t;

static int t_failed_now;

#define TEST(name) static void test_##name(void)
#define T(name) { #name, test_##name }

#define T_FAIL_(...)                                                          \
    do {                                                                      \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                     \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        t_failed_now = 1;                                                     \
        return;                                                               \
    } while (0)

#define ASSERT(c)                                                             \
    do { if (!(c)) T_FAIL_("assertion failed: %s", #c); } while (0)

#define ASSERT_EQ(a, b)                                                       \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_) T_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);      \
    } while (0)

#define ASSERT_STREQ(a, b)                                                    \
    do {                                                                      \
        const char *a_ = (a), *b_ = (b);                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                \
            T_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                    b_ ? b_ : "(null)");                                      \
    } while (0)

/* |a-b| <= tol * max(1, |b|): the "mixed" error of tests/vectors/README.md */
#define ASSERT_MIXED(a, b, tol)                                               \
    do {                                                                      \
        double a_ = (a), b_ = (b), t_ = (tol);                                \
        double e_ = fabs(a_ - b_) / fmax(1.0, fabs(b_));                      \
        if (!(isnan(a_) && isnan(b_)) && !(e_ <= t_))                         \
            T_FAIL_("%s ~ %s: %.17g vs %.17g (mixed err %.3g > %.3g)", #a,    \
                    #b, a_, b_, e_, t_);                                      \
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
