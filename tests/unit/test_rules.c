/* test_rules.c: the rules language: good files parse into what they say,
 * every kind of error names its line, expressions evaluate as written, and
 * the metric levels are what the README promises. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "metrics.h"
#include "metrics_levels.h"
#include "rules.h"
#include "test.h"

static char s_err[1024];

static rules_t *s_parse(const char *text)
{
    rules_t *r = NULL;
    s_err[0] = '\0';
    if (rules_parse(text, "rules.conf", &r, s_err, sizeof s_err) != 0)
        return NULL;
    return r;
}

/* Parses text expecting failure; returns the message. */
static const char *s_fails(const char *text)
{
    rules_t *r = s_parse(text);
    if (r) {
        rules_destroy(&r);
        return "(parsed)";
    }
    return s_err;
}

static double s_eval_when(const rule_t *r, double value, double ideal, double collapsed)
{
    double v[RV_COUNT] = {0};
    v[RV_VALUE] = value;
    v[RV_IDEAL] = ideal;
    v[RV_COLLAPSED] = collapsed;
    v[RV_LEVEL] = (value - collapsed) / (ideal - collapsed);
    return rules_eval(&r->when, v);
}

/* ---------------------------------------------------------------- good */

TEST(one_line_rule_with_every_clause)
{
    rules_t *r =
        s_parse("alert EntropyLow metric=er_entropy tag=projector when value < collapsed + "
                "0.1 * (ideal - collapsed) for 20 steps resolve when level > 0.2 "
                "keep_firing_for 10 steps severity=critical summary=\"{run} low\" "
                "description=\"at {step}\"\n");
    ASSERT(r);
    ASSERT_EQ(r->n, 1);
    const rule_t *a = &r->rule[0];
    ASSERT_STREQ(a->name, "EntropyLow");
    ASSERT_STREQ(a->metric, "er_entropy");
    ASSERT_EQ(a->is_scalar, 0);
    ASSERT_STREQ(a->tag, "projector");
    ASSERT_EQ(a->for_n, 20);
    ASSERT_EQ(a->for_unit, RULES_STEPS);
    ASSERT_EQ(a->keep_n, 10);
    ASSERT_EQ(a->keep_unit, RULES_STEPS);
    ASSERT_STREQ(a->severity, "critical");
    ASSERT_STREQ(a->summary, "{run} low");
    ASSERT_STREQ(a->description, "at {step}");
    ASSERT_STREQ(a->when_text, "value < collapsed + 0.1 * (ideal - collapsed)");
    ASSERT_STREQ(a->resolve_text, "level > 0.2");
    ASSERT_EQ(a->line, 1);
    /* ideal 10, collapsed 0: the threshold is 1 */
    ASSERT_EQ(s_eval_when(a, 0.99, 10, 0), 1);
    ASSERT_EQ(s_eval_when(a, 1.01, 10, 0), 0);
    rules_destroy(&r);
    ASSERT_NULL(r);
}

TEST(multi_line_rules_comments_and_defaults)
{
    rules_t *r = s_parse("# a comment\n"
                         "\n"
                         "alert LossHigh scalar=loss   # trailing comment\n"
                         "    when value > 2\n"
                         "alert Tiny scalar=\"train/loss\" when value < 1e-3 or value > 1e3 "
                         "and step >= 100 for 3 batches\n");
    ASSERT(r);
    ASSERT_EQ(r->n, 2);
    ASSERT_STREQ(r->rule[0].metric, "loss");
    ASSERT_EQ(r->rule[0].is_scalar, 1);
    ASSERT_STREQ(r->rule[0].severity, "warning"); /* the default */
    ASSERT_EQ(r->rule[0].for_n, 0);
    ASSERT_EQ(r->rule[0].resolve.nops, 0);
    ASSERT_EQ(r->rule[0].line, 3);
    ASSERT_STREQ(r->rule[1].metric, "train/loss");
    ASSERT_EQ(r->rule[1].for_n, 3);
    ASSERT_EQ(r->rule[1].for_unit, RULES_BATCHES);
    ASSERT_EQ(r->rule[1].line, 5);
    /* and binds tighter than or */
    double v[RV_COUNT] = {0};
    v[RV_VALUE] = 1e-4;
    v[RV_STEP] = 0;
    ASSERT_EQ(rules_eval(&r->rule[1].when, v), 1);
    v[RV_VALUE] = 1e4;
    ASSERT_EQ(rules_eval(&r->rule[1].when, v), 0);
    v[RV_STEP] = 100;
    ASSERT_EQ(rules_eval(&r->rule[1].when, v), 1);
    rules_destroy(&r);
}

TEST(arithmetic_and_functions)
{
    rules_t *r = s_parse("alert A scalar=x when value < -2 * -3 + 10 / 4 - (1 - 2) * 2\n"
                         "alert B scalar=x when value < min(3, 1, 2) + max(1, 5) + sqrt(16) + "
                         "ln(exp(2)) + log(exp(1)) + log10(1000) + abs(-1)\n"
                         "alert C metric=rankme when value < 0.1 * min(n, d) and d > 0\n"
                         "alert D scalar=x ideal = 1 / sqrt(d) collapsed = 0 when level < 0.5\n");
    ASSERT(r);
    double v[RV_COUNT] = {0};
    /* A: 6 + 2.5 + 2 = 10.5 */
    v[RV_VALUE] = 10.49;
    ASSERT_EQ(rules_eval(&r->rule[0].when, v), 1);
    v[RV_VALUE] = 10.5;
    ASSERT_EQ(rules_eval(&r->rule[0].when, v), 0);
    /* B: 1 + 5 + 4 + 2 + 1 + 3 + 1 = 17 */
    v[RV_VALUE] = 16.99;
    ASSERT_EQ(rules_eval(&r->rule[1].when, v), 1);
    v[RV_VALUE] = 17.01;
    ASSERT_EQ(rules_eval(&r->rule[1].when, v), 0);
    /* C: n 256, d 64: 6.4 */
    v[RV_N] = 256;
    v[RV_D] = 64;
    v[RV_VALUE] = 6.3;
    ASSERT_EQ(rules_eval(&r->rule[2].when, v), 1);
    v[RV_VALUE] = 6.5;
    ASSERT_EQ(rules_eval(&r->rule[2].when, v), 0);
    /* D: the override expressions read the shape */
    ASSERT_GT(r->rule[3].ideal.nops, 0);
    v[RV_D] = 16;
    ASSERT_MIXED(rules_eval(&r->rule[3].ideal, v), 0.25, 1e-15);
    ASSERT_MIXED(rules_eval(&r->rule[3].collapsed, v), 0.0, 1e-15);
    rules_destroy(&r);
}

TEST(nan_compares_false)
{
    rules_t *r = s_parse("alert A scalar=x when value < 1 resolve when value >= 1\n");
    ASSERT(r);
    double v[RV_COUNT] = {0};
    v[RV_VALUE] = NAN;
    ASSERT_EQ(rules_eval(&r->rule[0].when, v), 0);
    ASSERT_EQ(rules_eval(&r->rule[0].resolve, v), 0);
    rules_destroy(&r);
}

TEST(default_rules_parse)
{
    rules_t *r = s_parse(rules_default_text);
    if (!r)
        T_FAIL_("default rules: %s", s_err);
    ASSERT_EQ(r->n, 3);
    const rule_t *e = rules_find(r, "EntropyCollapse");
    ASSERT(e);
    ASSERT_STREQ(e->metric, "er_entropy");
    ASSERT_STREQ(e->severity, "critical");
    ASSERT(rules_find(r, "StdCollapse"));
    ASSERT(rules_find(r, "DimensionalCollapse"));
    ASSERT_NULL(rules_find(r, "Nope"));
    rules_destroy(&r);
}

TEST(merge_replaces_by_name)
{
    rules_t *base = s_parse(rules_default_text);
    rules_t *add = s_parse("alert EntropyCollapse metric=er_entropy when level < 0.05\n"
                           "alert Mine scalar=loss when value > 3\n");
    ASSERT(base && add);
    rules_merge(base, &add);
    ASSERT_NULL(add);
    ASSERT_EQ(base->n, 4);
    ASSERT_STREQ(rules_find(base, "EntropyCollapse")->when_text, "level < 0.05");
    ASSERT(rules_find(base, "Mine"));
    rules_destroy(&base);
}

TEST(render_placeholders)
{
    char out[128];
    rules_fields_t f = {.alertname = "A",
                        .run = "r1",
                        .tag = "t",
                        .metric = "m",
                        .severity = "critical",
                        .value = 0.123456,
                        .level = NAN,
                        .best = 2,
                        .step = 42};
    rules_render("{alertname} {run}/{tag} {metric} {severity} {value} {step} {level} "
                 "{best} {{x} {nope}",
                 &f, out, sizeof out);
    ASSERT_STREQ(out, "A r1/t m critical 0.1235 42 n/a 2 {x} {nope}");
    /* cut on a UTF-8 boundary: "é" is two bytes */
    rules_render("ab\xc3\xa9", &f, out, 4);
    ASSERT_STREQ(out, "ab");
}

TEST(load_file_and_missing_file)
{
    char path[] = "/tmp/ew-rules-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    const char *text = "alert A scalar=loss\n  when value > 1\n";
    ASSERT_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    rules_t *r = NULL;
    ASSERT_EQ(rules_load(path, &r, s_err, sizeof s_err), 0);
    ASSERT_EQ(r->n, 1);
    rules_destroy(&r);
    unlink(path);
    ASSERT_EQ(rules_load(path, &r, s_err, sizeof s_err), -1);
    ASSERT_HAS(s_err, "cannot read rules file");
    ASSERT_HAS(s_err, path);
}

/* ---------------------------------------------------------------- errors */

TEST(error_unknown_metric_names_the_line)
{
    const char *text = "# rules\n"
                       "alert A metric=er_entropy when level < 0.1\n"
                       "\n"
                       "alert B\n"
                       "  when value < 1\n"
                       "  severity=warning\n"
                       "  metric=entrpy\n";
    ASSERT_PREFIX(s_fails(text), "rules.conf:7: unknown metric 'entrpy'");
}

TEST(error_each_kind_with_its_line)
{
    static const struct {
        const char *text, *prefix;
    } cases[] = {
        {"alert A scalar=x\n when value <\n", "rules.conf:2: expected a number"},
        {"alert A scalar=x when value\n", "rules.conf:1: expected a comparison"},
        {"alert A scalar=x\nwhen valeu < 1\n", "rules.conf:2: unknown name 'valeu'"},
        {"alert A scalar=x when value < 1 < 2\n", "rules.conf:1: a comparison cannot be chained"},
        {"alert A scalar=x when value < 1\n for 5\n", "rules.conf:2: 'for 5' needs a unit"},
        {"alert A scalar=x when value < 1 for 2.5 batches\n",
         "rules.conf:1: expected a whole number"},
        {"alert A scalar=x when value < 1 for -1 batches\n",
         "rules.conf:1: expected a whole number"},
        {"alert A scalar=x when value < 1\n\n fr 5 batches\n",
         "rules.conf:3: unknown keyword 'fr'"},
        {"alert A scalar=x\n", "rules.conf:1: rule 'A' has no 'when'"},
        {"alert A when value < 1\n", "rules.conf:1: rule 'A' names no metric"},
        {"alert A scalar=x when value < 1\nalert A scalar=y when value < 2\n",
         "rules.conf:2: rule 'A' is already defined at line 1"},
        {"alert A scalar=loss\n when level < 0.1\n", "rules.conf:2: rule 'A' uses ideal/collapsed"},
        {"alert A metric=er_reconstruction when drop > 0.5\n", "rules.conf:1: rule 'A' uses ideal"},
        {"alert A scalar=er_entropy when value < 1\n",
         "rules.conf:1: 'er_entropy' is a computed metric"},
        {"alert A scalar=x when value < 1 when value < 2\n", "rules.conf:1: 'when' is given twice"},
        {"alert A scalar=x when value < 1 summary=\"{rnu}\"\n",
         "rules.conf:1: unknown placeholder '{rnu}'"},
        {"alert A scalar=x when value < 1\n summary=\"open\n", "rules.conf:2: unterminated string"},
        {"alert A scalar=x when value < 1 summary=plain\n",
         "rules.conf:1: expected a \"quoted string\""},
        {"alert A scalar=x when value == 1\n", "rules.conf:1: '==' is not a comparison"},
        {"alert A scalar=x when value < 1 $\n", "rules.conf:1: unexpected character '$'"},
        {"when value < 1\n", "rules.conf:1: expected 'alert NAME'"},
        {"alert\n", "rules.conf:1: expected a rule name"},
        {"alert A scalar=x when sqrt(1, 2) < 1\n", "rules.conf:1: sqrt() takes 1 argument"},
        {"alert A scalar=x when (value < 1\n", "rules.conf:1: expected ')' to close the '('"},
        {"alert A scalar=x when (value + 1 < 1\n", "rules.conf:1: expected ')'"},
        {"alert A scalar=x ideal=value collapsed=0 when level < 1\n",
         "rules.conf:1: 'value' cannot be used in ideal="},
        {"alert A scalar=x when value < 1 resolve value > 2\n",
         "rules.conf:1: expected 'when' after 'resolve'"},
        {"alert A scalar=x when value < 1 severity=\"a b\"\n", "rules.conf:1: expected a word"},
        {"alert A scalar=x when value < 1e999\n", "rules.conf:1: number '1e999' is out of range"},
        {"alert A scalar=x when value < 1\n\n\n 7 \n", "rules.conf:4: unexpected '7'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *m = s_fails(cases[i].text);
        if (strncmp(m, cases[i].prefix, strlen(cases[i].prefix)) != 0)
            T_FAIL_("case %zu: \"%s\" does not start with \"%s\"", i, m, cases[i].prefix);
    }
}

TEST(error_deep_nesting_is_refused_not_crashing)
{
    size_t n = 5000;
    char *text = malloc(n * 2 + 64);
    size_t k = (size_t)sprintf(text, "alert A scalar=x when ");
    for (size_t i = 0; i < n; i++)
        text[k++] = '(';
    text[k++] = '1';
    text[k] = '\0';
    ASSERT_PREFIX(s_fails(text), "rules.conf:1: expression nested too deeply");
    free(text);
}

/* ---------------------------------------------------------------- levels */

TEST(levels_of_known_metrics)
{
    double ideal, collapsed;
    ASSERT_EQ(metrics_levels("std_l2", EW_SUPPORT_SPHERE, 256, 64, 10, &ideal, &collapsed), 0);
    ASSERT_MIXED(ideal, 0.125, 1e-15);
    ASSERT_MIXED(collapsed, 0.0, 1e-15);
    ASSERT_EQ(metrics_levels("rankme", EW_SUPPORT_SPHERE, 32, 64, 10, &ideal, &collapsed), 0);
    ASSERT_MIXED(ideal, 32.0, 1e-15);
    ASSERT_MIXED(collapsed, 1.0, 1e-15);
    ASSERT_EQ(metrics_levels("er_entropy", EW_SUPPORT_DISCRETE, 32, 8, 10, &ideal, &collapsed), 0);
    ASSERT_MIXED(ideal, log(8.0), 1e-6);
    ASSERT_MIXED(collapsed, 0.0, 1e-6);
    ASSERT_EQ(metrics_levels("er_reconstruction", EW_SUPPORT_SPHERE, 32, 8, 10, &ideal, &collapsed),
              -1);
    ASSERT_NAN(ideal);
    ASSERT_NAN(collapsed);
    ASSERT_EQ(metrics_levels("loss", EW_SUPPORT_SPHERE, 32, 8, 10, &ideal, &collapsed), -1);
    ASSERT(rules_known_metric("w2"));
    ASSERT(!rules_known_metric("loss"));
    ASSERT(metrics_has_levels("rankme"));
    ASSERT(!metrics_has_levels("uniform"));
}

/* Sphere entropy: collapsed is c(d,kappa) - kappa, the metric on a batch of
 * identical rows; ideal is what uniform rows give (measured with numpy on
 * random unit rows: these are the plug-in estimates of such batches). */
TEST(levels_of_sphere_entropy)
{
    double ideal, collapsed;
    ASSERT_EQ(metrics_levels("er_entropy", EW_SUPPORT_SPHERE, 256, 128, 10, &ideal, &collapsed), 0);
    ASSERT_MIXED(collapsed, metrics_vmf_log_norm(128, 10) - 10, 1e-12);
    /* numpy, seed 0: H = -48.0287 for a random 256 x 128 batch */
    ASSERT_MIXED(ideal, -48.0287, 2e-4);
    ASSERT_MIXED(collapsed, -53.5568, 1e-4);
    ASSERT_EQ(metrics_levels("er_entropy", EW_SUPPORT_SPHERE, 64, 16, 10, &ideal, &collapsed), 0);
    ASSERT_MIXED(ideal, -1.8268, 1e-3);
    ASSERT_MIXED(collapsed, -5.9427, 1e-4);
    ASSERT_EQ(metrics_levels("er_entropy", EW_SUPPORT_SPHERE, 128, 8, 100, &ideal, &collapsed), 0);
    ASSERT_MIXED(ideal, -4.8777, 1e-3);
    /* one row: no spread is possible, ideal equals collapsed */
    ASSERT_EQ(metrics_levels("er_entropy", EW_SUPPORT_SPHERE, 1, 8, 10, &ideal, &collapsed), 0);
    ASSERT_MIXED(ideal, collapsed, 1e-15);
    /* large d and kappa stay finite (log-domain Bessel) */
    ASSERT_EQ(
        metrics_levels("er_entropy", EW_SUPPORT_SPHERE, 65536, 8192, 100000, &ideal, &collapsed),
        0);
    ASSERT_FINITE(ideal);
    ASSERT_FINITE(collapsed);
    ASSERT_GT(ideal, collapsed);
    ASSERT_EQ(metrics_levels("er_entropy", EW_SUPPORT_SPHERE, 2, 8192, 0.01, &ideal, &collapsed),
              0);
    ASSERT_FINITE(ideal);
    ASSERT_FINITE(collapsed);
    ASSERT_GE(ideal, collapsed);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(one_line_rule_with_every_clause),
        T(multi_line_rules_comments_and_defaults),
        T(arithmetic_and_functions),
        T(nan_compares_false),
        T(default_rules_parse),
        T(merge_replaces_by_name),
        T(render_placeholders),
        T(load_file_and_missing_file),
        T(error_unknown_metric_names_the_line),
        T(error_each_kind_with_its_line),
        T(error_deep_nesting_is_refused_not_crashing),
        T(levels_of_known_metrics),
        T(levels_of_sphere_entropy),
        {0},
    });
}
