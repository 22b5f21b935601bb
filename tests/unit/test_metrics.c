/* test_metrics.c: the metrics module against shared/vectors.
 *
 * Every expected number comes from the vector files (bessel.txt, cases.txt,
 * *.q.f64); none is typed here. Each table test walks all cases of one
 * metric, reports every failing case by name (not just the first), prints
 * the worst mixed error it saw as a "#" line, and fails when it found no
 * case at all, so a missing vectors directory cannot pass silently.
 * Tolerances are those suggested by shared/vectors/README.md.
 */
#include <stdint.h>

#include "lib/vectors.h"
#include "metrics.h"
#include "test.h"

/* ================================================================ tally */

/* Pass/fail bookkeeping for one table test. */
typedef struct {
    const char *label;
    size_t cases, failed;
    double worst;
    char worst_name[96];
} s_tally_t;

static double s_mixed(double got, double exp)
{
    return fabs(got - exp) / fmax(1.0, fabs(exp));
}

/* One comparison. expected NaN means "undefined": the metric must return
 * NaN and give a reason. Otherwise the mixed error must be <= tol. */
static void s_check(s_tally_t *t, const char *name, double got,
                    const char *why, double exp, double tol)
{
    t->cases++;
    if (isnan(exp)) {
        if (!isnan(got) || !why || !*why) {
            t->failed++;
            fprintf(stderr, "  FAIL %s %s: got %.17g (why %s), expected nan\n",
                    t->label, name, got, why ? why : "NULL");
        }
        return;
    }
    double e = s_mixed(got, exp);
    if (!(e <= tol)) {
        t->failed++;
        fprintf(stderr,
                "  FAIL %s %s: got %.17g expected %.17g mixed err %.3g > %.3g"
                " (why %s)\n",
                t->label, name, got, exp, e, tol, why ? why : "NULL");
    }
    if (e > t->worst || isnan(e)) {
        t->worst = isnan(e) ? INFINITY : e;
        snprintf(t->worst_name, sizeof t->worst_name, "%s", name);
    }
}

static void s_report(const s_tally_t *t)
{
    printf("# %s: %zu checks, %zu failed, worst mixed err %.3g (%s)\n",
           t->label, t->cases, t->failed, t->worst,
           t->worst_name[0] ? t->worst_name : "-");
}

/* The checks every table test ends with. */
#define ASSERT_TALLY(t)                                                       \
    do {                                                                      \
        s_report(&(t));                                                       \
        ASSERT((t).cases > 0);                                                \
        ASSERT_EQ((t).failed, 0);                                             \
    } while (0)

/* ================================================================ cases */

typedef struct {
    const char *name;
    size_t n, d;
    ew_support_t support;
    ew_reduction_t reduction;
    double kappa, expected;
} s_er_case_t;

static s_er_case_t s_er_case(const vectors_case_t *c)
{
    s_er_case_t e;
    const char *sup = vectors_str(c, "support");
    const char *red = vectors_str(c, "reduction");
    e.name = vectors_str(c, "name");
    e.n = vectors_size(c, "N");
    e.d = vectors_size(c, "d");
    e.support = sup && strcmp(sup, "discrete") == 0 ? EW_SUPPORT_DISCRETE
                                                    : EW_SUPPORT_SPHERE;
    e.reduction = red && strcmp(red, "average") == 0 ? EW_REDUCE_AVERAGE
                                                     : EW_REDUCE_EXPECTATION;
    e.kappa = vectors_num(c, "kappa");
    e.expected = vectors_num(c, "expected_f64");
    return e;
}

static int s_is(const vectors_case_t *c, const char *metric)
{
    const char *m = vectors_str(c, "metric");
    return m && strcmp(m, metric) == 0;
}

/* Double-path tolerance of the README: 1e-9 mixed, + 1e-12 kappa (sphere). */
static double s_er_tol64(const s_er_case_t *e)
{
    return 1e-9 + (e->support == EW_SUPPORT_SPHERE ? 1e-12 * e->kappa : 0.0);
}

/* Float-path tolerance: 10x the README's float32 table. */
static double __attribute__((unused)) s_er_tol32(const s_er_case_t *e)
{
    if (e->support == EW_SUPPORT_SPHERE)
        return 10.0 * 2e-7 * (fabs(e->expected) + e->kappa);
    return 10.0 * 2e-7;
}

/* ================================================================ bessel */

TEST(bessel_table)
{
    vectors_t *v = vectors_load("bessel.txt");
    ASSERT(v != NULL);
    s_tally_t ln_iv = {"ln_iv", 0, 0, 0, ""};
    s_tally_t vmf = {"vmf_const", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        char name[64];
        snprintf(name, sizeof name, "d=%s,kappa=%s", vectors_str(c, "d"),
                 vectors_str(c, "kappa"));
        double nu = vectors_num(c, "nu"), kappa = vectors_num(c, "kappa");
        s_check(&ln_iv, name, metrics_log_bessel_i(nu, kappa), NULL,
                vectors_num(c, "ln_iv"), 1e-13);
        s_check(&vmf, name, metrics_vmf_log_norm(vectors_size(c, "d"), kappa),
                NULL, vectors_num(c, "vmf_const"), 1e-13);
    }
    vectors_destroy(&v);
    s_report(&ln_iv);
    ASSERT_TALLY(vmf);
    ASSERT(ln_iv.cases > 0);
    ASSERT_EQ(ln_iv.failed, 0);
}

/* Beyond the table: the recurrence I_{nu-1} - I_{nu+1} = (2 nu / x) I_nu
 * must hold at the extremes the daemon allows (x to 1e5, nu to 4096, tiny
 * x), and ln I_0 must match its large-x expansion. */
TEST(bessel_extremes)
{
    static const double xs[] = {1e-300, 1e-8, 0.3, 7.5, 123.0, 4096.0,
                                9999.5, 1e5};
    static const double nus[] = {1.5, 2.0, 7.0, 63.0, 499.0, 1234.5, 4096.0};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        for (size_t j = 0; j < sizeof nus / sizeof nus[0]; j++) {
            double x = xs[i], nu = nus[j];
            double l0 = metrics_log_bessel_i(nu, x);
            double lm = metrics_log_bessel_i(nu - 1.0, x);
            double lp = metrics_log_bessel_i(nu + 1.0, x);
            ASSERT(isfinite(l0) && isfinite(lm) && isfinite(lp));
            /* In ratios to I_nu; an error e in the logs shows up as an
             * error of about e (a + b), so this bounds the relative error
             * of ln I without the cancellation of a - b. */
            double a = exp(lm - l0), b = exp(lp - l0), r = 2.0 * nu / x;
            double err = fabs((a - b) - r) / (a + b);
            if (!(err <= 1e-14 * fmax(1.0, fabs(l0))))
                T_FAIL_("nu=%g x=%g: recurrence error %.3g, ln I = %.17g", nu,
                        x, err, l0);
        }
    }
    /* ln I_0(x) = x - ln(2 pi x)/2 + ln(1 + 1/(8x) + 9/(128 x^2) + ...) */
    double x = 1e5, u = 1.0 / (8.0 * x);
    double asym = x - 0.5 * log(2.0 * 3.14159265358979323846 * x) +
                  log1p(u + 4.5 * u * u + 37.5 * u * u * u);
    ASSERT_MIXED(metrics_log_bessel_i(0.0, x), asym, 1e-14);
    /* Closed forms: I_{1/2}(x) = sqrt(2/(pi x)) sinh x, I_{-1/2}: cosh x */
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double y = xs[i];
        if (y < 1e-3)
            continue;
        double pre = 0.5 * log(2.0 / (3.14159265358979323846 * y)) + y -
                     log(2.0);
        double e2 = exp(-2.0 * y);
        ASSERT_MIXED(metrics_log_bessel_i(0.5, y), pre + log1p(-e2), 1e-14);
        ASSERT_MIXED(metrics_log_bessel_i(-0.5, y), pre + log1p(e2), 1e-14);
    }
    ASSERT(isnan(metrics_log_bessel_i(-1.0, 1.0)));
    ASSERT(isnan(metrics_log_bessel_i(0.5, -1.0)));
    ASSERT(isnan(metrics_vmf_log_norm(0, 10.0)));
    ASSERT(isnan(metrics_vmf_log_norm(3, 0.0)));
}

/* ================================================================ ER f64 */

TEST(er_entropy_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT(v != NULL);
    s_tally_t t = {"er_entropy", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "er_entropy"))
            continue;
        s_er_case_t e = s_er_case(c);
        double *x = vectors_input_f64(c, "x");
        const char *why = NULL;
        double got = x ? metrics_er_entropy(x, e.n, e.d, e.support, e.kappa,
                                            e.reduction, &why)
                       : NAN;
        s_check(&t, e.name, got, x ? why : "input missing", e.expected,
                s_er_tol64(&e));
        free(x);
    }
    vectors_destroy(&v);
    ASSERT_TALLY(t);
}

TEST(er_reconstruction_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT(v != NULL);
    s_tally_t t = {"er_reconstruction", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "er_reconstruction"))
            continue;
        s_er_case_t e = s_er_case(c);
        double *a = vectors_input_f64(c, "x"), *b = vectors_input_f64(c, "y");
        const char *why = NULL;
        double got = a && b ? metrics_er_reconstruction(a, b, e.n, e.d,
                                                        e.support, e.kappa,
                                                        &why)
                            : NAN;
        s_check(&t, e.name, got, a && b ? why : "input missing", e.expected,
                s_er_tol64(&e));
        free(a);
        free(b);
    }
    vectors_destroy(&v);
    ASSERT_TALLY(t);
}

TEST(er_undefined)
{
    double z[6] = {1, 0, 0, 0, 1, 0};
    const char *why = NULL;
    ASSERT(isnan(metrics_er_entropy(z, 0, 3, EW_SUPPORT_SPHERE, 10.0,
                                    EW_REDUCE_AVERAGE, &why)));
    ASSERT(why != NULL);
    why = NULL;
    ASSERT(isnan(metrics_er_entropy(z, 2, 3, EW_SUPPORT_SPHERE, 0.0,
                                    EW_REDUCE_AVERAGE, &why)));
    ASSERT(why != NULL);
    why = NULL;
    ASSERT(isnan(metrics_er_reconstruction(z, z, 2, 3, EW_SUPPORT_SPHERE,
                                           NAN, &why)));
    ASSERT(why != NULL);
    why = NULL;
    z[0] = NAN;
    ASSERT(isnan(metrics_er_entropy(z, 2, 3, EW_SUPPORT_SPHERE, 10.0,
                                    EW_REDUCE_EXPECTATION, &why)));
    ASSERT(why != NULL);
    /* discrete ignores kappa */
    z[0] = 1.0;
    ASSERT(isfinite(metrics_er_entropy(z, 2, 3, EW_SUPPORT_DISCRETE, NAN,
                                       EW_REDUCE_AVERAGE, NULL)));
}

int main(void)
{
    return test_main((test_case_t[]){
        T(bessel_table),
        T(bessel_extremes),
        T(er_entropy_cases),
        T(er_reconstruction_cases),
        T(er_undefined),
        {0},
    });
}
