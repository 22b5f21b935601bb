/* test_prom.c: the Prometheus exposition writer (prom.c) and the parameters
 * of GET /metrics (http_prom.c): escaping, non-finite values, exact
 * counters, the window and limit bounds, and the exposition of a stats_t
 * without a database. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_prom.h"
#include "prom.h"
#include "test.h"

static char *sample_of(const char *name, size_t n, const char *const *k, const char *const *v,
                       double x)
{
    strbuf_t b;
    strbuf_init(&b);
    prom_sample(&b, name, k, v, n, x);
    char *out = strbuf_steal(&b);
    strbuf_free(&b);
    return out;
}

TEST(sample_without_labels)
{
    char *s = sample_of("erwatch_x", 0, NULL, NULL, 1.5);
    ASSERT_STREQ(s, "erwatch_x 1.5\n");
    free(s);
}

TEST(label_values_escaped)
{
    static const char *const k[2] = {"run", "tag"};
    const char *v[2] = {"a\"b\\c\nd", "é/ü"};
    char *s = sample_of("m", 2, k, v, 2);
    ASSERT_STREQ(s, "m{run=\"a\\\"b\\\\c\\nd\",tag=\"é/ü\"} 2\n");
    free(s);
}

TEST(non_finite_values_spelled_for_prometheus)
{
    char *a = sample_of("m", 0, NULL, NULL, NAN);
    char *b = sample_of("m", 0, NULL, NULL, INFINITY);
    char *c = sample_of("m", 0, NULL, NULL, -INFINITY);
    ASSERT_STREQ(a, "m NaN\n");
    ASSERT_STREQ(b, "m +Inf\n");
    ASSERT_STREQ(c, "m -Inf\n");
    free(a);
    free(b);
    free(c);
}

TEST(values_round_trip)
{
    double xs[] = {0.1, -1.825795411061016, 1e-300, 123456789012345678.0, 0};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        char *s = sample_of("m", 0, NULL, NULL, xs[i]);
        double back = strtod(s + 2, NULL);
        ASSERT_EQ(memcmp(&back, &xs[i], sizeof back), 0);
        free(s);
    }
}

TEST(counters_past_2_53_exact)
{
    strbuf_t b;
    strbuf_init(&b);
    prom_sample_u64(&b, "c_total", NULL, NULL, 0, 18446744073709551615ull);
    ASSERT_STREQ(b.data, "c_total 18446744073709551615\n");
    strbuf_free(&b);
}

TEST(family_header)
{
    strbuf_t b;
    strbuf_init(&b);
    prom_family(&b, "erwatch_q", "gauge", "Items waiting.");
    ASSERT_STREQ(b.data, "# HELP erwatch_q Items waiting.\n# TYPE erwatch_q gauge\n");
    strbuf_free(&b);
}

/* ------------------------------------------------------------ parameters */

typedef struct {
    const char *names[4], *values[4];
} s_args_t;

static const char *s_get(void *ctx, const char *name, size_t *len)
{
    s_args_t *a = ctx;
    for (int i = 0; i < 4 && a->names[i]; i++)
        if (strcmp(a->names[i], name) == 0) {
            *len = strlen(a->values[i]);
            return a->values[i];
        }
    *len = 0;
    return NULL;
}

static int s_parse(const char *n0, const char *v0, http_prom_opts_t *o, char *msg)
{
    s_args_t a = {{n0}, {v0}};
    params_t p = {s_get, &a, NULL};
    return http_prom_parse(&p, o, msg, 256);
}

TEST(parameters_defaults_and_bounds)
{
    http_prom_opts_t o;
    char msg[256] = "";
    ASSERT_EQ(s_parse(NULL, NULL, &o, msg), 0);
    ASSERT_EQ(o.window_s, (double)HTTP_PROM_WINDOW_DEFAULT);
    ASSERT_EQ(o.limit, HTTP_PROM_LIMIT_DEFAULT);
    ASSERT_EQ(s_parse("window", "60", &o, msg), 0);
    ASSERT_EQ(o.window_s, 60.0);
    ASSERT_EQ(s_parse("limit", "100000", &o, msg), 0);
    ASSERT_EQ(o.limit, 100000);
    const char *bad[][2] = {{"limit", "0"},      {"limit", "100001"}, {"window", "-5"},
                            {"window", "1e3"},   {"window", ""},      {"limit", "12x"},
                            {"window", "604801"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        ASSERT_EQ(s_parse(bad[i][0], bad[i][1], &o, msg), -1);
        ASSERT_HAS(msg, bad[i][0]);
    }
}

/* Without a database the health families are there and no run is. */
TEST(body_without_database)
{
    stats_t s;
    stats_init(&s, 1000.0);
    stats_inc(&s.stored, 7);
    stats_inc(&s.rejected[0], 2);
    stats_observe_commit(&s, 0.002);
    stats_observe_commit(&s, 30.0);
    http_prom_opts_t o = {900, 10};
    strbuf_t b;
    strbuf_init(&b);
    ASSERT_EQ(http_prom_body(NULL, &s, NULL, NULL, &o, 2000.0, "9.9", &b), -1);
    ASSERT_HAS(b.data, "\nerwatch_batches_stored_total 7\n");
    ASSERT_HAS(b.data, "\nerwatch_store_readable 0\n");
    ASSERT_HAS(b.data, "erwatch_build_info{version=\"9.9\"} 1\n");
    /* cumulative buckets: 0.002 s falls in le=0.0025, 30 s only in +Inf */
    ASSERT_HAS(b.data, "erwatch_commit_duration_seconds_bucket{le=\"0.001\"} 0\n");
    ASSERT_HAS(b.data, "erwatch_commit_duration_seconds_bucket{le=\"0.0025\"} 1\n");
    ASSERT_HAS(b.data, "erwatch_commit_duration_seconds_bucket{le=\"5\"} 1\n");
    ASSERT_HAS(b.data, "erwatch_commit_duration_seconds_bucket{le=\"+Inf\"} 2\n");
    ASSERT_HAS(b.data, "erwatch_commit_duration_seconds_count 2\n");
    ASSERT_HASNT(b.data, "\nerwatch_metric{");
    /* every line is a comment or "name[{labels}] value" */
    for (char *line = b.data; *line;) {
        char *end = strchr(line, '\n');
        ASSERT_NOT_NULL(end);
        if (!end)
            break;
        if (*line != '#') {
            char *sp = memchr(line, ' ', (size_t)(end - line));
            ASSERT_NOT_NULL(sp);
            ASSERT_GT(sp, line);
        }
        line = end + 1;
    }
    strbuf_free(&b);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(sample_without_labels),
        T(label_values_escaped),
        T(non_finite_values_spelled_for_prometheus),
        T(values_round_trip),
        T(counters_past_2_53_exact),
        T(family_header),
        T(parameters_defaults_and_bounds),
        T(body_without_database),
        {0},
    });
}
