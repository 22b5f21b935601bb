/* test_strbuf.c: the byte buffer, JSON string escaping, JSON numbers that
 * round-trip, and CSV quoting. */
#include <float.h>
#include <math.h>

#include "strbuf.h"
#include "test.h"
#include <stdint.h>

/* The JSON literal strbuf_json_str makes of s, as a heap string. */
static char *json_of(const char *s)
{
    strbuf_t b;
    strbuf_init(&b);
    strbuf_json_str(&b, s);
    char *out = strbuf_steal(&b);
    strbuf_free(&b); /* steal leaves a fresh empty buffer */
    return out;
}

static char *num_of(double v)
{
    strbuf_t b;
    strbuf_init(&b);
    strbuf_json_num(&b, v);
    char *out = strbuf_steal(&b);
    strbuf_free(&b); /* steal leaves a fresh empty buffer */
    return out;
}

static char *csv_of(const char *s)
{
    strbuf_t b;
    strbuf_init(&b);
    strbuf_csv_str(&b, s);
    char *out = strbuf_steal(&b);
    strbuf_free(&b); /* steal leaves a fresh empty buffer */
    return out;
}

#define CHECK_JSON(in, want)                                                                       \
    do {                                                                                           \
        char *got_ = json_of(in);                                                                  \
        int ok_ = strcmp(got_, want) == 0;                                                         \
        if (!ok_)                                                                                  \
            fprintf(stderr, "  json_of: got %s want %s\n", got_, want);                            \
        free(got_);                                                                                \
        ASSERT(ok_);                                                                               \
    } while (0)

TEST(init_is_empty_string)
{
    strbuf_t b;
    strbuf_init(&b);
    ASSERT_NOT_NULL(b.data);
    ASSERT_EQ(b.len, 0);
    ASSERT_STREQ(b.data, "");
    strbuf_free(&b);
    ASSERT_NULL(b.data);
    strbuf_free(&b); /* twice is harmless */
}

TEST(zeroed_struct_works)
{
    strbuf_t b = {0};
    strbuf_puts(&b, "abc");
    ASSERT_STREQ(b.data, "abc");
    strbuf_free(&b);
}

TEST(append_grows_and_terminates)
{
    strbuf_t b;
    strbuf_init(&b);
    for (int i = 0; i < 10000; i++)
        strbuf_putc(&b, (char)('a' + i % 26));
    ASSERT_EQ(b.len, 10000);
    ASSERT_EQ(b.data[10000], 0);
    ASSERT_EQ(b.data[9999], 'a' + 9999 % 26);
    strbuf_append(&b, "xyz", 2);
    ASSERT_EQ(b.len, 10002);
    ASSERT_STREQ(b.data + 10000, "xy");
    strbuf_reset(&b);
    ASSERT_EQ(b.len, 0);
    ASSERT_STREQ(b.data, "");
    ASSERT_GE(b.cap, 10002); /* reset keeps memory */
    strbuf_free(&b);
}

TEST(printf_long_output)
{
    strbuf_t b;
    strbuf_init(&b);
    strbuf_puts(&b, ">");
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    strbuf_printf(&b, "%s|%d|%s", big, 42, "end");
    ASSERT_EQ(b.len, 1 + 4999 + 4 + 3);
    ASSERT_STREQ(b.data + 1 + 4999, "|42|end");
    strbuf_printf(&b, "%s", "");
    ASSERT_EQ(b.len, 1 + 4999 + 7);
    strbuf_free(&b);
}

TEST(steal_resets)
{
    strbuf_t b;
    strbuf_init(&b);
    strbuf_puts(&b, "hello");
    char *s = strbuf_steal(&b);
    ASSERT_STREQ(s, "hello");
    free(s);
    ASSERT_EQ(b.len, 0);
    ASSERT_NOT_NULL(b.data);
    ASSERT_STREQ(b.data, "");
    strbuf_puts(&b, "again");
    ASSERT_STREQ(b.data, "again");
    strbuf_free(&b);
    strbuf_t z = {0}; /* never used: steal still returns a string */
    s = strbuf_steal(&z);
    ASSERT_STREQ(s, "");
    free(s);
    strbuf_free(&z);
}

TEST(json_plain_and_quotes)
{
    CHECK_JSON("", "\"\"");
    CHECK_JSON("run-1", "\"run-1\"");
    CHECK_JSON("a\"b", "\"a\\\"b\"");
    CHECK_JSON("a\\b", "\"a\\\\b\"");
    CHECK_JSON("\"\\", "\"\\\"\\\\\"");
    CHECK_JSON("a/b", "\"a/b\"");
    CHECK_JSON(NULL, "\"\"");
}

TEST(json_control_chars)
{
    CHECK_JSON("a\nb\tc\rd", "\"a\\nb\\tc\\rd\"");
    CHECK_JSON("\b\f", "\"\\b\\f\"");
    CHECK_JSON("\x01", "\"\\u0001\"");
    CHECK_JSON("x\x1fy", "\"x\\u001fy\"");
    CHECK_JSON("\x7f", "\"\\u007f\"");
}

TEST(json_utf8_passes_invalid_replaced)
{
    CHECK_JSON("caf\xc3\xa9", "\"caf\xc3\xa9\"");            /* é */
    CHECK_JSON("\xe2\x82\xac", "\"\xe2\x82\xac\"");          /* € */
    CHECK_JSON("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");  /* emoji */
    CHECK_JSON("\xff", "\"\\ufffd\"");                       /* never valid */
    CHECK_JSON("a\xc3", "\"a\\ufffd\"");                     /* truncated */
    CHECK_JSON("\xc0\xaf", "\"\\ufffd\\ufffd\"");            /* overlong */
    CHECK_JSON("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    CHECK_JSON("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

/* Each value prints short and reads back to the same double. */
TEST(json_numbers_round_trip)
{
    const double vals[] = {0.0,
                           1.0,
                           -1.5,
                           0.1,
                           1.0 / 3.0,
                           1e-300,
                           1e300,
                           DBL_MAX,
                           DBL_MIN,
                           5e-324,
                           123456789012345678.0,
                           1.7e9,
                           0.30000000000000004,
                           2.5e-7,
                           -0.0,
                           M_PI,
                           9007199254740993.0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char *s = num_of(vals[i]);
        double back = strtod(s, NULL);
        int same = back == vals[i] && signbit(back) == signbit(vals[i]);
        if (!same)
            fprintf(stderr, "  %.17g printed as %s\n", vals[i], s);
        free(s);
        ASSERT(same);
    }
}

TEST(json_numbers_shortest)
{
    char *s;
    s = num_of(0.1);
    ASSERT_STREQ(s, "0.1");
    free(s);
    s = num_of(12.0);
    ASSERT_STREQ(s, "12");
    free(s);
    s = num_of(1700000000.25);
    ASSERT_STREQ(s, "1700000000.25");
    free(s);
    s = num_of(0.30000000000000004); /* needs 17 digits */
    ASSERT_STREQ(s, "0.30000000000000004");
    free(s);
}

TEST(json_numbers_nonfinite_null)
{
    char *s;
    s = num_of(NAN);
    ASSERT_STREQ(s, "null");
    free(s);
    s = num_of(INFINITY);
    ASSERT_STREQ(s, "null");
    free(s);
    s = num_of(-INFINITY);
    ASSERT_STREQ(s, "null");
    free(s);
}

TEST(csv_quoting)
{
    char *s;
    s = csv_of("plain");
    ASSERT_STREQ(s, "plain");
    free(s);
    s = csv_of("a,b");
    ASSERT_STREQ(s, "\"a,b\"");
    free(s);
    s = csv_of("say \"hi\"");
    ASSERT_STREQ(s, "\"say \"\"hi\"\"\"");
    free(s);
    s = csv_of("line\nbreak");
    ASSERT_STREQ(s, "\"line\nbreak\"");
    free(s);
    s = csv_of("cr\r");
    ASSERT_STREQ(s, "\"cr\r\"");
    free(s);
    s = csv_of("");
    ASSERT_STREQ(s, "");
    free(s);
    s = csv_of("back\\slash");
    ASSERT_STREQ(s, "back\\slash");
    free(s);
}

TEST(csv_formulas_neutralised)
{
    static const char *cases[][2] = {
        {"=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""},
        {"+1+1", "'+1+1"},
        {"-2+3", "'-2+3"},
        {"@SUM(A1)", "'@SUM(A1)"},
        {"\t=1", "'\t=1"},
        {"\r=1", "\"'\r=1\""},
        {"=a,b", "\"'=a,b\""},
        {"a=1", "a=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = csv_of(cases[i][0]);
        int same = strcmp(s, cases[i][1]) == 0;
        if (!same) {
            fprintf(stderr, "  %s -> %s, want %s\n", cases[i][0], s, cases[i][1]);
            free(s);
            T_FAIL_("csv case %zu", i);
        }
        free(s);
    }
}

/* ------------------------------------------------------------ numbers */

/* The reference: the shortest of %.15g, %.16g, %.17g that reads back.
 * strbuf_format_double must read back exactly and never use more
 * significant digits than that. */
static int s_sig_digits(const char *s)
{
    int n = 0, started = 0, trailing = 0;
    for (; *s && *s != 'e' && *s != 'E'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (*s != '0' || started) {
            started = 1;
            n++;
            trailing = *s == '0' ? trailing + 1 : 0;
        }
    }
    return n - trailing;
}

static int s_check_double(double v)
{
    char got[40], ref[40];
    int len = strbuf_format_double(got, v);
    if (len != (int)strlen(got) || strtod(got, NULL) != v ||
        signbit(strtod(got, NULL)) != signbit(v)) {
        fprintf(stderr, "  %.17g -> \"%s\" does not read back\n", v, got);
        return -1;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(ref, sizeof ref, "%.*g", prec, v);
        if (prec == 17 || strtod(ref, NULL) == v)
            break;
    }
    if (s_sig_digits(got) > s_sig_digits(ref)) {
        fprintf(stderr, "  %.17g -> \"%s\", longer than \"%s\"\n", v, got, ref);
        return -1;
    }
    /* JSON: digits, one optional '.', an optional exponent */
    for (const char *p = got; *p; p++)
        if (!strchr("0123456789.-e", *p)) {
            fprintf(stderr, "  %.17g -> \"%s\": not JSON\n", v, got);
            return -1;
        }
    return 0;
}

TEST(format_double_round_trips_and_is_short)
{
    static const double fixed[] = {
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.2,
        0.3,
        1e-5,
        1.5e-5,
        9.99999e-6,
        1e16,
        1e17,
        123456789012345678.0,
        1700000000.0,
        1700000000.25,
        42.0,
        1000.0,
        -17.392512345678901,
        2.0794407416804754,
        1.0 / 3.0,
        2.0 / 3.0,
        5e-324,
        2.2250738585072014e-308,
        2.2250738585072009e-308,
        1.7976931348623157e308,
        9007199254740993.0,
        0.1 + 0.2,
        1e22,
        1e23,
        4.35679e-310,
        1e-300,
        123.456,
        1e-7,
        -9.9999995000000335e-08,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        ASSERT_EQ(s_check_double(fixed[i]), 0);
    char out[40];
    strbuf_format_double(out, 1700000000.0);
    ASSERT_STREQ(out, "1700000000");
    strbuf_format_double(out, 0.1);
    ASSERT_STREQ(out, "0.1");
    strbuf_format_double(out, -1e-7);
    ASSERT_STREQ(out, "-1e-7");
    strbuf_format_double(out, 1e17);
    ASSERT_STREQ(out, "1e17");
    strbuf_format_double(out, 1234.5);
    ASSERT_STREQ(out, "1234.5");
    strbuf_format_double(out, 0.00012);
    ASSERT_STREQ(out, "0.00012");

    /* random bit patterns (every exponent) and random metric-like values */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 400000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 2) {
            memcpy(&v, &x, sizeof v);
            if (!isfinite(v))
                continue;
        } else {
            v = ((double)(x >> 11) / 9007199254740992.0 - 0.5) *
                pow(10.0, (double)((int)(x % 41) - 20));
        }
        if (s_check_double(v) != 0)
            ASSERT(0);
    }
}

/* The portable path (what runs where long double has no 64-bit mantissa,
 * LDBL_MANT_DIG < 64) reads back, is as short as the long double path and
 * writes numbers the same way (fixed or exponent, same length). The 17th
 * digit may differ where both candidates read back (the long double path
 * takes any digits inside the rounding interval, printf the correctly
 * rounded ones), so the random values compare that way; the fixed ones
 * are all exact. */
TEST(format_double_portable_path_agrees)
{
    static const double fixed[] = {
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        1e-5,
        9.99999e-6,
        1e16,
        1e17,
        123456789012345678.0,
        1700000000.25,
        -17.392512345678901,
        1.0 / 3.0,
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        9007199254740993.0,
        0.1 + 0.2,
        1e22,
        1e23,
        4.35679e-310,
        -9.9999995000000335e-08,
        NAN,
        INFINITY,
        -INFINITY,
    };
    char fast[40], port[40];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        int lf = strbuf_format_double(fast, fixed[i]);
        int lp = strbuf__format_double_portable(port, fixed[i]);
        ASSERT_STREQ(port, fast);
        ASSERT_EQ(lp, lf);
    }
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 2) {
            memcpy(&v, &x, sizeof v);
        } else {
            v = ((double)(x >> 11) / 9007199254740992.0 - 0.5) *
                pow(10.0, (double)((int)(x % 41) - 20));
        }
        if (!isfinite(v))
            continue;
        int lf = strbuf_format_double(fast, v);
        int lp = strbuf__format_double_portable(port, v);
        const char *ef = strchr(fast, 'e'), *ep = strchr(port, 'e');
        if (strtod(port, NULL) != v || lp != lf || s_sig_digits(port) != s_sig_digits(fast) ||
            (ef == NULL) != (ep == NULL) || (ef && strcmp(ef, ep) != 0)) {
            fprintf(stderr, "  %.17g: fast \"%s\", portable \"%s\"\n", v, fast, port);
            ASSERT(0);
        }
    }
}

int main(void)
{
    return test_main((test_case_t[]){
        T(format_double_round_trips_and_is_short),
        T(format_double_portable_path_agrees),
        T(init_is_empty_string),
        T(zeroed_struct_works),
        T(append_grows_and_terminates),
        T(printf_long_output),
        T(steal_resets),
        T(json_plain_and_quotes),
        T(json_control_chars),
        T(json_utf8_passes_invalid_replaced),
        T(json_numbers_round_trip),
        T(json_numbers_shortest),
        T(json_numbers_nonfinite_null),
        T(csv_quoting),
        T(csv_formulas_neutralised),
        {0},
    });
}
