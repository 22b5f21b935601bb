/* test_metrics.c: the metrics module against tests/vectors.
 *
 * Every expected number comes from the vector files (bessel.txt, cases.txt,
 * *.q.f64); none is typed here. Each table test walks all cases of one
 * metric, reports every failing case by name (not just the first), prints
 * the worst mixed error it saw as a "#" line, and fails when it found no
 * case at all, so a missing vectors directory cannot pass silently.
 * Tolerances are those suggested by tests/vectors/README.md.
 */
#include <errno.h>
#include <float.h>
#include <stdint.h>

#include "lib/vectors.h"
#include "metrics.h"
#include "metrics_impl.h"
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
static void s_check(s_tally_t *t, const char *name, double got, const char *why, double exp,
                    double tol)
{
    t->cases++;
    if (isnan(exp)) {
        if (!isnan(got) || !why || !*why) {
            t->failed++;
            fprintf(stderr, "  FAIL %s %s: got %.17g (why %s), expected nan\n", t->label, name, got,
                    why ? why : "NULL");
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
    printf("# %s: %zu checks, %zu failed, worst mixed err %.3g (%s)\n", t->label, t->cases,
           t->failed, t->worst, t->worst_name[0] ? t->worst_name : "-");
}

/* The checks every table test ends with. */
#define ASSERT_TALLY(t)                                                                            \
    do {                                                                                           \
        s_report(&(t));                                                                            \
        ASSERT_GT((t).cases, 0);                                                                   \
        ASSERT_EQ((t).failed, 0);                                                                  \
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
    e.support = sup && strcmp(sup, "discrete") == 0 ? EW_SUPPORT_DISCRETE : EW_SUPPORT_SPHERE;
    e.reduction = red && strcmp(red, "average") == 0 ? EW_REDUCE_AVERAGE : EW_REDUCE_EXPECTATION;
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
static double s_er_tol32(const s_er_case_t *e)
{
    if (e->support == EW_SUPPORT_SPHERE)
        return 10.0 * 2e-7 * (fabs(e->expected) + e->kappa);
    return 10.0 * 2e-7;
}

/* ================================================================ reader */

/* The index parses, and every input it names exists with the size N x d
 * implies (and every Sinkhorn output B x K), so a damaged vectors directory
 * is reported here by file name rather than as odd metric failures. */
TEST(vectors_files)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT_NOT_NULL(v);
    size_t cases = 0, bad = 0;
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        const char *name = vectors_str(c, "name");
        if (!name || !vectors_str(c, "metric") || !vectors_str(c, "note") ||
            vectors_size(c, "N") == 0 || vectors_size(c, "d") == 0) {
            fprintf(stderr, "  case %zu (%s): missing fields\n", i, name ? name : "?");
            bad++;
            continue;
        }
        cases++;
        static const char *const keys[] = {"x", "y"};
        for (size_t k = 0; k < 2; k++) {
            const char *f = vectors_str(c, keys[k]);
            if (!f || strcmp(f, "na") == 0)
                continue;
            float *x = vectors_input_f32(c, keys[k]);
            bad += x == NULL;
            free(x);
        }
        if (s_is(c, "sinkhorn")) {
            double *q = vectors_read_f64(vectors_str(c, "out"),
                                         vectors_size(c, "N") * vectors_size(c, "d"));
            bad += q == NULL;
            free(q);
        }
    }
    vectors_destroy(&v);
    ASSERT_NULL(v);
    printf("# vectors: %zu cases, %zu problems\n", cases, bad);
    ASSERT_GT(cases, 0);
    ASSERT_EQ(bad, 0);
}

/* ================================================================ bessel */

TEST(bessel_table)
{
    vectors_t *v = vectors_load("bessel.txt");
    ASSERT_NOT_NULL(v);
    s_tally_t ln_iv = {"ln_iv", 0, 0, 0, ""};
    s_tally_t vmf = {"vmf_const", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        char name[64];
        snprintf(name, sizeof name, "d=%s,kappa=%s", vectors_str(c, "d"), vectors_str(c, "kappa"));
        double nu = vectors_num(c, "nu"), kappa = vectors_num(c, "kappa");
        s_check(&ln_iv, name, metrics_log_bessel_i(nu, kappa), NULL, vectors_num(c, "ln_iv"),
                1e-13);
        s_check(&vmf, name, metrics_vmf_log_norm(vectors_size(c, "d"), kappa), NULL,
                vectors_num(c, "vmf_const"), 1e-13);
    }
    vectors_destroy(&v);
    s_report(&ln_iv);
    ASSERT_TALLY(vmf);
    ASSERT_GT(ln_iv.cases, 0);
    ASSERT_EQ(ln_iv.failed, 0);
}

/* Beyond the table: the recurrence I_{nu-1} - I_{nu+1} = (2 nu / x) I_nu
 * must hold at the extremes the daemon allows (x to 1e5, nu to 4096, tiny
 * x), and ln I_0 must match its large-x expansion. */
TEST(bessel_extremes)
{
    static const double xs[] = {1e-300, 1e-8, 0.3, 7.5, 123.0, 4096.0, 9999.5, 1e5};
    static const double nus[] = {1.5, 2.0, 7.0, 63.0, 499.0, 1234.5, 4096.0};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        for (size_t j = 0; j < sizeof nus / sizeof nus[0]; j++) {
            double x = xs[i], nu = nus[j];
            double l0 = metrics_log_bessel_i(nu, x);
            double lm = metrics_log_bessel_i(nu - 1.0, x);
            double lp = metrics_log_bessel_i(nu + 1.0, x);
            ASSERT_FINITE(l0);
            ASSERT_FINITE(lm);
            ASSERT_FINITE(lp);
            /* In ratios to I_nu; an error e in the logs shows up as an
             * error of about e (a + b), so this bounds the relative error
             * of ln I without the cancellation of a - b. */
            double a = exp(lm - l0), b = exp(lp - l0), r = 2.0 * nu / x;
            double err = fabs((a - b) - r) / (a + b);
            if (!(err <= 1e-14 * fmax(1.0, fabs(l0))))
                T_FAIL_("nu=%g x=%g: recurrence error %.3g, ln I = %.17g", nu, x, err, l0);
        }
    }
    /* ln I_0(x) = x - ln(2 pi x)/2 + ln(1 + 1/(8x) + 9/(128 x^2) + ...) */
    double x = 1e5, u = 1.0 / (8.0 * x);
    double asym =
        x - 0.5 * log(2.0 * 3.14159265358979323846 * x) + log1p(u + 4.5 * u * u + 37.5 * u * u * u);
    ASSERT_MIXED(metrics_log_bessel_i(0.0, x), asym, 1e-14);
    /* Closed forms: I_{1/2}(x) = sqrt(2/(pi x)) sinh x, I_{-1/2}: cosh x */
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double y = xs[i];
        if (y < 1e-3)
            continue;
        double pre = 0.5 * log(2.0 / (3.14159265358979323846 * y)) + y - log(2.0);
        double e2 = exp(-2.0 * y);
        ASSERT_MIXED(metrics_log_bessel_i(0.5, y), pre + log1p(-e2), 1e-14);
        ASSERT_MIXED(metrics_log_bessel_i(-0.5, y), pre + log1p(e2), 1e-14);
    }
    ASSERT_NAN(metrics_log_bessel_i(-1.0, 1.0));
    ASSERT_NAN(metrics_log_bessel_i(0.5, -1.0));
    ASSERT_NAN(metrics_vmf_log_norm(0, 10.0));
    ASSERT_NAN(metrics_vmf_log_norm(3, 0.0));
}

/* ================================================================ ER f64 */

TEST(er_entropy_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT_NOT_NULL(v);
    s_tally_t t = {"er_entropy", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "er_entropy"))
            continue;
        s_er_case_t e = s_er_case(c);
        double *x = vectors_input_f64(c, "x");
        const char *why = NULL;
        double got =
            x ? metrics_er_entropy(x, e.n, e.d, e.support, e.kappa, e.reduction, &why) : NAN;
        s_check(&t, e.name, got, x ? why : "input missing", e.expected, s_er_tol64(&e));
        free(x);
    }
    vectors_destroy(&v);
    ASSERT_TALLY(t);
}

TEST(er_reconstruction_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT_NOT_NULL(v);
    s_tally_t t = {"er_reconstruction", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "er_reconstruction"))
            continue;
        s_er_case_t e = s_er_case(c);
        double *a = vectors_input_f64(c, "x"), *b = vectors_input_f64(c, "y");
        const char *why = NULL;
        double got =
            a && b ? metrics_er_reconstruction(a, b, e.n, e.d, e.support, e.kappa, &why) : NAN;
        s_check(&t, e.name, got, a && b ? why : "input missing", e.expected, s_er_tol64(&e));
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
    ASSERT_NAN(metrics_er_entropy(z, 0, 3, EW_SUPPORT_SPHERE, 10.0, EW_REDUCE_AVERAGE, &why));
    ASSERT_NOT_NULL(why);
    why = NULL;
    ASSERT_NAN(metrics_er_entropy(z, 2, 3, EW_SUPPORT_SPHERE, 0.0, EW_REDUCE_AVERAGE, &why));
    ASSERT_NOT_NULL(why);
    why = NULL;
    ASSERT_NAN(metrics_er_reconstruction(z, z, 2, 3, EW_SUPPORT_SPHERE, NAN, &why));
    ASSERT_NOT_NULL(why);
    why = NULL;
    z[0] = NAN;
    ASSERT_NAN(metrics_er_entropy(z, 2, 3, EW_SUPPORT_SPHERE, 10.0, EW_REDUCE_EXPECTATION, &why));
    ASSERT_NOT_NULL(why);
    /* discrete ignores kappa */
    z[0] = 1.0;
    ASSERT_FINITE(metrics_er_entropy(z, 2, 3, EW_SUPPORT_DISCRETE, NAN, EW_REDUCE_AVERAGE, NULL));
}

/* ================================================================ ER f32 */

TEST(er_entropy_f32_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT_NOT_NULL(v);
    metrics_ws_t *ws = metrics_ws_new(); /* one for all: exercises growth */
    s_tally_t t = {"er_entropy_f32", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "er_entropy"))
            continue;
        s_er_case_t e = s_er_case(c);
        float *x = vectors_input_f32(c, "x");
        const char *why = NULL;
        double got =
            x ? metrics_er_entropy_f32(x, e.n, e.d, e.support, e.kappa, e.reduction, ws, &why)
              : NAN;
        s_check(&t, e.name, got, x ? why : "input missing", e.expected, s_er_tol32(&e));
        free(x);
    }
    metrics_ws_destroy(&ws);
    ASSERT_NULL(ws);
    vectors_destroy(&v);
    ASSERT_TALLY(t);
}

TEST(er_reconstruction_f32_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT_NOT_NULL(v);
    metrics_ws_t *ws = metrics_ws_new();
    s_tally_t t = {"er_reconstruction_f32", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "er_reconstruction"))
            continue;
        s_er_case_t e = s_er_case(c);
        float *a = vectors_input_f32(c, "x"), *b = vectors_input_f32(c, "y");
        const char *why = NULL;
        double got =
            a && b ? metrics_er_reconstruction_f32(a, b, e.n, e.d, e.support, e.kappa, ws, &why)
                   : NAN;
        s_check(&t, e.name, got, a && b ? why : "input missing", e.expected, s_er_tol32(&e));
        free(a);
        free(b);
    }
    metrics_ws_destroy(&ws);
    vectors_destroy(&v);
    ASSERT_TALLY(t);
}

/* xorshift64*: a small deterministic generator for the randomized tests. */
static uint64_t s_rng_next(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 2685821657736338717ull;
}

static double s_rng_unit(uint64_t *st) /* (0, 1) */
{
    return ((double)(s_rng_next(st) >> 11) + 0.5) / 9007199254740992.0;
}

static double s_rng_normal(uint64_t *st)
{
    double u = s_rng_unit(st), w = s_rng_unit(st);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * w);
}

/* n x d random rows: unit rows (sphere) or probability rows (discrete),
 * rounded to float; *out64 gets the same values widened to double. When
 * collapse > 0, every row is row 0 plus noise of that size (then
 * renormalised), which puts many near-equal maxima into each LSE. When
 * collapse < 0, sphere rows get random norms in [0, 1.5) and every 16th row
 * is zero: the ER functions do not normalise, so the diagonal is then not
 * always the largest term of its row. */
static float *s_random_rows(uint64_t *st, size_t n, size_t d, ew_support_t s, double collapse,
                            double **out64)
{
    float *z = malloc(n * d * sizeof *z);
    double *z64 = malloc(n * d * sizeof *z64);
    if (!z || !z64)
        abort();
    for (size_t i = 0; i < n; i++) {
        double norm = 0.0;
        for (size_t k = 0; k < d; k++) {
            double g = s == EW_SUPPORT_SPHERE ? s_rng_normal(st) : -log(s_rng_unit(st));
            if (collapse > 0.0 && i > 0)
                g = z64[k] + collapse * g;
            z64[i * d + k] = g;
            norm += s == EW_SUPPORT_SPHERE ? g * g : g;
        }
        norm = s == EW_SUPPORT_SPHERE ? sqrt(norm) : norm;
        if (collapse < 0.0 && s == EW_SUPPORT_SPHERE)
            norm = i % 16 == 5 ? INFINITY : norm / (1.5 * s_rng_unit(st));
        for (size_t k = 0; k < d; k++) {
            z[i * d + k] = (float)(z64[i * d + k] / norm);
        }
        if (i == 0)
            for (size_t k = 0; k < d; k++)
                z64[k] /= norm;
    }
    for (size_t j = 0; j < n * d; j++)
        z64[j] = z[j];
    *out64 = z64;
    return z;
}

/* The float path against the double path on the same (float) inputs, at
 * sizes that cover one and several Gram tiles (S_TILE = 1024 rows). */
TEST(er_f32_vs_f64_random)
{
    static const struct {
        size_t n, d;
        double collapse;
    } shapes[] = {{1, 5, 0},    {2, 3, 0},    {17, 64, 0},     {300, 128, 0},
                  {1025, 4, 0}, {2100, 9, 0}, {700, 16, 1e-3}, {1500, 12, -1}};
    static const double kappas[] = {1.0, 10.0, 100.0, 1000.0, 1e4};
    uint64_t st = 0x9e3779b97f4a7c15ull;
    metrics_ws_t *ws = metrics_ws_new();
    s_tally_t t = {"er_f32_vs_f64", 0, 0, 0, ""};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t n = shapes[si].n, d = shapes[si].d;
        for (int sup = 0; sup < 2; sup++) {
            ew_support_t s = sup ? EW_SUPPORT_DISCRETE : EW_SUPPORT_SPHERE;
            double *a64, *b64;
            float *a = s_random_rows(&st, n, d, s, shapes[si].collapse, &a64);
            float *b = s_random_rows(&st, n, d, s, 0.0, &b64);
            for (size_t ki = 0; ki < sizeof kappas / sizeof kappas[0]; ki++) {
                double kappa = kappas[ki];
                if (s == EW_SUPPORT_DISCRETE && ki > 0)
                    break;
                for (int r = 0; r < 2; r++) {
                    char name[96];
                    snprintf(name, sizeof name, "N%zu_d%zu_%s_k%g_%s", n, d, sup ? "dis" : "sph",
                             kappa, r ? "ave" : "exp");
                    double h64 = metrics_er_entropy(a64, n, d, s, kappa, (ew_reduction_t)r, NULL);
                    double h32 =
                        metrics_er_entropy_f32(a, n, d, s, kappa, (ew_reduction_t)r, ws, NULL);
                    s_er_case_t e = {name, n, d, s, (ew_reduction_t)r, kappa, h64};
                    s_check(&t, name, h32, NULL, h64, s_er_tol32(&e));
                }
                char name[96];
                snprintf(name, sizeof name, "rec_N%zu_d%zu_%s_k%g", n, d, sup ? "dis" : "sph",
                         kappa);
                double r64 = metrics_er_reconstruction(a64, b64, n, d, s, kappa, NULL);
                double r32 = metrics_er_reconstruction_f32(a, b, n, d, s, kappa, ws, NULL);
                s_er_case_t e = {name, n, d, s, EW_REDUCE_EXPECTATION, kappa, r64};
                s_check(&t, name, r32, NULL, r64, s_er_tol32(&e));
            }
            free(a);
            free(b);
            free(a64);
            free(b64);
        }
    }
    metrics_ws_destroy(&ws);
    ASSERT_TALLY(t);
}

TEST(l2_normalise_f32)
{
    uint64_t st = 42;
    size_t n = 50, d = 33;
    float *z = malloc(n * d * sizeof *z);
    ASSERT_NOT_NULL(z);
    for (size_t j = 0; j < n * d; j++)
        z[j] = (float)(1e3 * s_rng_normal(&st));
    for (size_t k = 0; k < d; k++)
        z[7 * d + k] = 0.0f; /* a zero row stays zero */
    z[9 * d + 3] = 1e-30f;   /* a tiny row still normalises */
    for (size_t k = 0; k < d; k++)
        if (k != 3)
            z[9 * d + k] = 0.0f;
    metrics_l2_normalise_f32(z, n, d);
    for (size_t i = 0; i < n; i++) {
        double ss = 0.0;
        for (size_t k = 0; k < d; k++)
            ss += (double)z[i * d + k] * z[i * d + k];
        if (i == 7)
            ASSERT_EQ(ss, 0.0);
        else
            ASSERT_MIXED(sqrt(ss), 1.0, 1e-6);
    }
    ASSERT_EQ(z[9 * d + 3], 1.0f);
    free(z);
}

TEST(er_f32_undefined)
{
    float z[6] = {1, 0, 0, 0, 1, 0};
    metrics_ws_t *ws = metrics_ws_new();
    const char *why = NULL;
    double h =
        metrics_er_entropy_f32(z, 0, 3, EW_SUPPORT_SPHERE, 10.0, EW_REDUCE_AVERAGE, ws, &why);
    double r = metrics_er_reconstruction_f32(z, z, 2, 3, EW_SUPPORT_SPHERE, -1.0, ws, &why);
    ASSERT_NAN(h);
    ASSERT_NAN(r);
    ASSERT_NOT_NULL(why);
    /* ws may be NULL (a temporary one is used) */
    ASSERT_FINITE(
        metrics_er_entropy_f32(z, 2, 3, EW_SUPPORT_SPHERE, 10.0, EW_REDUCE_AVERAGE, NULL, NULL));
    /* a NaN anywhere must not vanish inside a max or a merge */
    for (size_t at = 0; at < 6; at++) {
        float zz[6] = {1, 0, 0, 0, 1, 0};
        zz[at] = NAN;
        for (int sup = 0; sup < 2; sup++) {
            why = NULL;
            h = metrics_er_entropy_f32(zz, 2, 3, (ew_support_t)sup, 10.0, EW_REDUCE_EXPECTATION, ws,
                                       &why);
            ASSERT_NAN(h);
            ASSERT_NOT_NULL(why);
        }
    }
    metrics_ws_destroy(&ws);
    metrics_ws_destroy(&ws); /* safe: the pointer is NULL now */
    ASSERT_NULL(ws);
}

/* ================================================================ others */

/* One metric evaluated on one case; *why as the metric sets it. Returns NAN
 * with *why = "input missing" when the input files cannot be read. */
typedef double (*s_eval_fn)(const vectors_case_t *c, const char **why);

/* Every case of metric, against expected_f64 at mixed error <= tol. */
static void s_run_table(s_tally_t *t, const char *metric, s_eval_fn eval, double tol)
{
    vectors_t *v = vectors_load("cases.txt");
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, metric))
            continue;
        const char *why = NULL;
        double got = eval(c, &why);
        s_check(t, vectors_str(c, "name"), got, why, vectors_num(c, "expected_f64"), tol);
    }
    vectors_destroy(&v);
}

static double s_eval_align(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x"), *y = vectors_input_f64(c, "y");
    double r = x && y ? metrics_align(x, y, vectors_size(c, "N"), vectors_size(c, "d"),
                                      vectors_num(c, "alpha"), why)
                      : (*why = "input missing", NAN);
    free(x);
    free(y);
    return r;
}

static double s_eval_uniform(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r =
        x ? metrics_uniform(x, vectors_size(c, "N"), vectors_size(c, "d"), vectors_num(c, "t"), why)
          : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval_w2(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r =
        x ? metrics_w2(x, vectors_size(c, "N"), vectors_size(c, "d"), vectors_num(c, "eps"), why)
          : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval_w2_loss(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r = x ? metrics_w2_loss(x, vectors_size(c, "N"), vectors_size(c, "d"),
                                   vectors_num(c, "eps"), why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval_rankme(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r = x ? metrics_rankme(x, vectors_size(c, "N"), vectors_size(c, "d"),
                                  vectors_num(c, "eps"), why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval_std_l2(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r = x ? metrics_std_l2(x, vectors_size(c, "N"), vectors_size(c, "d"), why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

TEST(align_cases)
{
    s_tally_t t = {"align", 0, 0, 0, ""};
    s_run_table(&t, "align", s_eval_align, 1e-9);
    ASSERT_TALLY(t);
}

TEST(uniform_cases)
{
    s_tally_t t = {"uniform", 0, 0, 0, ""};
    s_run_table(&t, "uniform", s_eval_uniform, 1e-9);
    ASSERT_TALLY(t);
}

TEST(w2_cases)
{
    s_tally_t t = {"w2", 0, 0, 0, ""};
    s_run_table(&t, "w2", s_eval_w2, 1e-9);
    ASSERT_TALLY(t);
}

TEST(w2_loss_cases)
{
    s_tally_t t = {"w2_loss", 0, 0, 0, ""};
    s_run_table(&t, "w2_loss", s_eval_w2_loss, 1e-7);
    ASSERT_TALLY(t);
}

TEST(rankme_cases)
{
    s_tally_t t = {"rankme", 0, 0, 0, ""};
    s_run_table(&t, "rankme", s_eval_rankme, 1e-9);
    ASSERT_TALLY(t);
}

TEST(std_l2_cases)
{
    s_tally_t t = {"std_l2", 0, 0, 0, ""};
    s_run_table(&t, "std_l2", s_eval_std_l2, 1e-9);
    ASSERT_TALLY(t);
}

/* Sinkhorn: the whole B x K matrix against <name>.q.f64 elementwise, and
 * the sum of Q^2 against expected_f64. */
TEST(sinkhorn_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT_NOT_NULL(v);
    s_tally_t sum = {"sinkhorn_sumsq", 0, 0, 0, ""};
    s_tally_t elem = {"sinkhorn_elementwise", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "sinkhorn"))
            continue;
        const char *name = vectors_str(c, "name"), *why = NULL;
        size_t b = vectors_size(c, "N"), k = vectors_size(c, "d");
        double *s = vectors_input_f64(c, "x");
        double *want = vectors_read_f64(vectors_str(c, "out"), b * k);
        double *q = malloc((b * k + 1) * sizeof *q);
        int rc = s && want && q ? metrics_sinkhorn(s, b, k, vectors_num(c, "eps"),
                                                   (int)vectors_size(c, "iters"), q, &why)
                                : -1;
        double sq = NAN;
        if (rc == 0) {
            sq = 0.0;
            size_t bad = 0;
            double worst = 0.0;
            for (size_t j = 0; j < b * k; j++) {
                sq += q[j] * q[j];
                double e = s_mixed(q[j], want[j]);
                bad += !(e <= 1e-9);
                worst = e > worst || isnan(e) ? e : worst;
            }
            /* one check per case: the worst element */
            elem.cases++;
            if (bad) {
                elem.failed++;
                fprintf(stderr,
                        "  FAIL sinkhorn %s: %zu of %zu entries off, "
                        "worst mixed err %.3g\n",
                        name, bad, b * k, worst);
            }
            if (worst > elem.worst) {
                elem.worst = worst;
                snprintf(elem.worst_name, sizeof elem.worst_name, "%s", name);
            }
        } else {
            fprintf(stderr, "  sinkhorn %s: rc %d (%s)\n", name, rc, why ? why : "input missing");
        }
        s_check(&sum, name, sq, why, vectors_num(c, "expected_f64"), 1e-9);
        free(s);
        free(want);
        free(q);
    }
    vectors_destroy(&v);
    s_report(&elem);
    ASSERT_TALLY(sum);
    ASSERT_EQ(elem.cases, sum.cases);
    ASSERT_EQ(elem.failed, 0);
}

/* Undefined and invalid inputs give NaN (or -EINVAL) with a reason. */
TEST(others_undefined)
{
    double x[4] = {1, 0, 0, 0}, q[4];
    const char *why = NULL;
#define UNDEF(expr)                                                                                \
    do {                                                                                           \
        why = NULL;                                                                                \
        ASSERT_NAN(expr);                                                                          \
        ASSERT_NOT_NULL(why);                                                                      \
    } while (0)
    UNDEF(metrics_align(x, x, 0, 2, 2.0, &why));
    UNDEF(metrics_uniform(x, 1, 2, 2.0, &why));
    UNDEF(metrics_w2(x, 0, 2, 1e-8, &why));
    UNDEF(metrics_w2_loss(x, 2, 0, 0.0, &why));
    UNDEF(metrics_rankme((double[4]){0, 0, 0, 0}, 2, 2, 1e-7, &why));
    UNDEF(metrics_std_l2(x, 1, 4, &why));
    x[1] = NAN;
    UNDEF(metrics_w2(x, 2, 2, 1e-8, &why));
    UNDEF(metrics_rankme(x, 2, 2, 1e-7, &why));
    UNDEF(metrics_uniform(x, 2, 2, 2.0, &why));
#undef UNDEF
    why = NULL;
    ASSERT_EQ(metrics_sinkhorn(x, 2, 2, 0.05, 3, q, &why), -EINVAL);
    ASSERT_NOT_NULL(why);
    x[1] = 0.0;
    ASSERT_EQ(metrics_sinkhorn(x, 2, 2, 0.0, 3, q, &why), -EINVAL);
    ASSERT_EQ(metrics_sinkhorn(x, 2, 2, 0.05, 3, q, NULL), 0);
    ASSERT_MIXED(q[0] + q[1], 1.0, 1e-15); /* rows sum to 1 */
}

/* ================================================================ float exp */

/* The float path's own exp against exp() in double, on a stride through
 * every float bit pattern in its range (about 3 million values), for the
 * portable and the SIMD version: at most 1.5 ulp where the result is a
 * normal float. Plus the edges: 0 below the normal range, +inf above its
 * top, NaN through. */
TEST(exp_f32_ulp)
{
    enum { CHUNK = 4096 };
    float x[CHUNK], y[CHUNK];
    for (int isa = 0; isa < 2; isa++) {
        double worst = 0.0, worst_x = 0.0;
        size_t count = 0, fill = 0;
        /* positive and negative bit patterns; stride 1447 (prime) */
        for (int sign = 0; sign < 2; sign++) {
            for (uint64_t b = 0; b < 0x42b10000u; b += 1447) {
                uint32_t bits = (uint32_t)b | (sign ? 0x80000000u : 0u);
                float v;
                memcpy(&v, &bits, sizeof v);
                if (!(v >= -87.33f && v <= 88.37f))
                    continue;
                x[fill++] = v;
                if (fill < CHUNK)
                    continue;
                metrics__exp_f32(x, y, fill, isa);
                for (size_t j = 0; j < fill; j++) {
                    double e = exp((double)x[j]);
                    if (e < FLT_MIN)
                        continue;
                    double ulp = ldexp(1.0, ilogb(e) - 23);
                    double err = fabs((double)y[j] - e) / ulp;
                    if (err > worst) {
                        worst = err;
                        worst_x = x[j];
                    }
                    count++;
                }
                fill = 0;
            }
        }
        printf("# exp_f32 isa %d: %zu values, worst %.3f ulp at x = %.9g\n", isa, count, worst,
               worst_x);
        ASSERT_GT(count, 1000000);
        ASSERT_LE(worst, 1.5);
        float ex[] = {0.0f, -0.0f, -87.5f, -1000.0f, -INFINITY, 88.8f, INFINITY, NAN, 1.0f};
        float ey[9];
        metrics__exp_f32(ex, ey, 9, isa);
        ASSERT_EQ(ey[0], 1.0f);
        ASSERT_EQ(ey[1], 1.0f);
        ASSERT_EQ(ey[2], 0.0f);
        ASSERT_EQ(ey[3], 0.0f);
        ASSERT_EQ(ey[4], 0.0f);
        ASSERT(isinf(ey[5]));
        ASSERT_GT(ey[5], 0);
        ASSERT(isinf(ey[6]));
        ASSERT_NAN(ey[7]);
        ASSERT_MIXED(ey[8], 2.718281828459045, 2e-7);
    }
}

/* ================================================================ f32 tables */

/* Float-path tolerances: 10x the README's float32 table. */
#define S_TOL32_PLAIN (10.0 * 2e-7) /* align, uniform, std_l2 */
#define S_TOL32_RANKME (10.0 * 2.4e-6)
#define S_TOL32_W2_FULL (10.0 * 6e-7)
#define S_TOL32_W2_DEFICIENT (10.0 * 4e-5)
#define S_TOL32_W2_LOSS (10.0 * 1e-4)
#define S_TOL32_SINKHORN_SUM (10.0 * 1e-7)
#define S_TOL32_SINKHORN_ELEM (10.0 * 3e-7)

typedef double (*s_eval32_fn)(const vectors_case_t *c, metrics_ws_t *ws, const char **why);
typedef double (*s_tol32_fn)(const vectors_case_t *c);

/* Every case of metric on the float path, with the portable kernels (isa
 * 0) and the fastest (isa 1), against expected_f64. */
static void s_run_table32(s_tally_t *t, const char *metric, s_eval32_fn eval, s_tol32_fn tol)
{
    vectors_t *v = vectors_load("cases.txt");
    metrics_ws_t *ws = metrics_ws_new(); /* one for all: exercises growth */
    for (int isa = 1; isa >= 0; isa--) {
        metrics__ws_set_isa(ws, isa);
        for (size_t i = 0; i < vectors_count(v); i++) {
            const vectors_case_t *c = vectors_case(v, i);
            if (!s_is(c, metric))
                continue;
            const char *why = NULL;
            char name[128];
            snprintf(name, sizeof name, "%s/isa%d", vectors_str(c, "name"), isa);
            double got = eval(c, ws, &why);
            s_check(t, name, got, why, vectors_num(c, "expected_f64"), tol(c));
        }
    }
    metrics_ws_destroy(&ws);
    vectors_destroy(&v);
}

static double s_tol_plain(const vectors_case_t *c)
{
    (void)c;
    return S_TOL32_PLAIN;
}

static double s_tol_rankme(const vectors_case_t *c)
{
    (void)c;
    return S_TOL32_RANKME;
}

/* Rank-deficient covariance: N <= d, or a collapsed batch. */
static double s_tol_w2(const vectors_case_t *c)
{
    int deficient =
        vectors_size(c, "N") <= vectors_size(c, "d") || vectors_has_note(c, "collapsed");
    return deficient ? S_TOL32_W2_DEFICIENT : S_TOL32_W2_FULL;
}

static double s_tol_w2_loss(const vectors_case_t *c)
{
    (void)c;
    return S_TOL32_W2_LOSS;
}

static double s_eval32_align(const vectors_case_t *c, metrics_ws_t *ws, const char **why)
{
    (void)ws;
    float *x = vectors_input_f32(c, "x"), *y = vectors_input_f32(c, "y");
    double r = x && y ? metrics_align_f32(x, y, vectors_size(c, "N"), vectors_size(c, "d"),
                                          vectors_num(c, "alpha"), why)
                      : (*why = "input missing", NAN);
    free(x);
    free(y);
    return r;
}

static double s_eval32_uniform(const vectors_case_t *c, metrics_ws_t *ws, const char **why)
{
    float *x = vectors_input_f32(c, "x");
    double r = x ? metrics_uniform_f32(x, vectors_size(c, "N"), vectors_size(c, "d"),
                                       vectors_num(c, "t"), ws, why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval32_w2(const vectors_case_t *c, metrics_ws_t *ws, const char **why)
{
    float *x = vectors_input_f32(c, "x");
    double r = x ? metrics_w2_f32(x, vectors_size(c, "N"), vectors_size(c, "d"),
                                  vectors_num(c, "eps"), ws, why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval32_w2_loss(const vectors_case_t *c, metrics_ws_t *ws, const char **why)
{
    float *x = vectors_input_f32(c, "x");
    double r = x ? metrics_w2_loss_f32(x, vectors_size(c, "N"), vectors_size(c, "d"),
                                       vectors_num(c, "eps"), ws, why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval32_rankme(const vectors_case_t *c, metrics_ws_t *ws, const char **why)
{
    float *x = vectors_input_f32(c, "x");
    double r = x ? metrics_rankme_f32(x, vectors_size(c, "N"), vectors_size(c, "d"),
                                      vectors_num(c, "eps"), ws, why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval32_std_l2(const vectors_case_t *c, metrics_ws_t *ws, const char **why)
{
    (void)ws;
    float *x = vectors_input_f32(c, "x");
    double r = x ? metrics_std_l2_f32(x, vectors_size(c, "N"), vectors_size(c, "d"), why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

TEST(align_f32_cases)
{
    s_tally_t t = {"align_f32", 0, 0, 0, ""};
    s_run_table32(&t, "align", s_eval32_align, s_tol_plain);
    ASSERT_TALLY(t);
}

TEST(uniform_f32_cases)
{
    s_tally_t t = {"uniform_f32", 0, 0, 0, ""};
    s_run_table32(&t, "uniform", s_eval32_uniform, s_tol_plain);
    ASSERT_TALLY(t);
}

TEST(w2_f32_cases)
{
    s_tally_t t = {"w2_f32", 0, 0, 0, ""};
    s_run_table32(&t, "w2", s_eval32_w2, s_tol_w2);
    ASSERT_TALLY(t);
}

TEST(w2_loss_f32_cases)
{
    s_tally_t t = {"w2_loss_f32", 0, 0, 0, ""};
    s_run_table32(&t, "w2_loss", s_eval32_w2_loss, s_tol_w2_loss);
    ASSERT_TALLY(t);
}

TEST(rankme_f32_cases)
{
    s_tally_t t = {"rankme_f32", 0, 0, 0, ""};
    s_run_table32(&t, "rankme", s_eval32_rankme, s_tol_rankme);
    ASSERT_TALLY(t);
}

TEST(std_l2_f32_cases)
{
    s_tally_t t = {"std_l2_f32", 0, 0, 0, ""};
    s_run_table32(&t, "std_l2", s_eval32_std_l2, s_tol_plain);
    ASSERT_TALLY(t);
}

/* The ER tables again with the portable kernels (er_*_f32_cases above run
 * the fastest ones). */
TEST(er_f32_cases_portable)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT_NOT_NULL(v);
    metrics_ws_t *ws = metrics_ws_new();
    metrics__ws_set_isa(ws, 0);
    s_tally_t t = {"er_f32_portable", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        int ent = s_is(c, "er_entropy");
        if (!ent && !s_is(c, "er_reconstruction"))
            continue;
        s_er_case_t e = s_er_case(c);
        float *a = vectors_input_f32(c, "x"), *b = ent ? NULL : vectors_input_f32(c, "y");
        const char *why = NULL;
        double got =
            ent ? metrics_er_entropy_f32(a, e.n, e.d, e.support, e.kappa, e.reduction, ws, &why)
                : metrics_er_reconstruction_f32(a, b, e.n, e.d, e.support, e.kappa, ws, &why);
        s_check(&t, e.name, got, why, e.expected, s_er_tol32(&e));
        free(a);
        free(b);
    }
    metrics_ws_destroy(&ws);
    vectors_destroy(&v);
    ASSERT_TALLY(t);
}

/* Sinkhorn on the float path: the whole matrix elementwise and sum Q^2. */
TEST(sinkhorn_f32_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT_NOT_NULL(v);
    metrics_ws_t *ws = metrics_ws_new();
    s_tally_t sum = {"sinkhorn_f32_sumsq", 0, 0, 0, ""};
    s_tally_t elem = {"sinkhorn_f32_elementwise", 0, 0, 0, ""};
    for (int isa = 1; isa >= 0; isa--) {
        metrics__ws_set_isa(ws, isa);
        for (size_t i = 0; i < vectors_count(v); i++) {
            const vectors_case_t *c = vectors_case(v, i);
            if (!s_is(c, "sinkhorn"))
                continue;
            const char *why = NULL;
            char name[128];
            snprintf(name, sizeof name, "%s/isa%d", vectors_str(c, "name"), isa);
            size_t b = vectors_size(c, "N"), k = vectors_size(c, "d");
            float *s = vectors_input_f32(c, "x");
            double *want = vectors_read_f64(vectors_str(c, "out"), b * k);
            float *q = malloc((b * k + 1) * sizeof *q);
            int rc = s && want && q
                         ? metrics_sinkhorn_f32(s, b, k, vectors_num(c, "eps"),
                                                (int)vectors_size(c, "iters"), q, ws, &why)
                         : -1;
            double sq = NAN;
            if (rc == 0) {
                sq = 0.0;
                for (size_t j = 0; j < b * k; j++) {
                    sq += (double)q[j] * q[j];
                    s_check(&elem, name, q[j], NULL, want[j], S_TOL32_SINKHORN_ELEM);
                }
            }
            s_check(&sum, name, sq, why, vectors_num(c, "expected_f64"), S_TOL32_SINKHORN_SUM);
            free(s);
            free(want);
            free(q);
        }
    }
    metrics_ws_destroy(&ws);
    vectors_destroy(&v);
    s_report(&elem);
    ASSERT_TALLY(sum);
    ASSERT_EQ(elem.failed, 0);
}

/* ================================================================ f32 random */

/* n x d float rows of N(0, 1) entries times scale (widened copy in *out64);
 * the first `rank` columns only when rank > 0 (then mixed by a random
 * rotation-free projection: rows = coefficients x basis), so the batch has
 * rank <= rank. */
static float *s_gauss_rows(uint64_t *st, size_t n, size_t d, double scale, size_t rank,
                           double **out64)
{
    float *z = malloc(n * d * sizeof *z);
    double *z64 = malloc(n * d * sizeof *z64);
    double *basis = rank ? malloc(rank * d * sizeof *basis) : NULL;
    if (!z || !z64 || (rank && !basis))
        abort();
    for (size_t j = 0; j < rank * d; j++)
        basis[j] = s_rng_normal(st);
    for (size_t i = 0; i < n; i++) {
        if (rank) {
            double c[64];
            for (size_t r = 0; r < rank && r < 64; r++)
                c[r] = s_rng_normal(st);
            for (size_t k = 0; k < d; k++) {
                double acc = 0.0;
                for (size_t r = 0; r < rank && r < 64; r++)
                    acc += c[r] * basis[r * d + k];
                z[i * d + k] = (float)(scale * acc);
            }
        } else {
            for (size_t k = 0; k < d; k++)
                z[i * d + k] = (float)(scale * s_rng_normal(st));
        }
    }
    for (size_t j = 0; j < n * d; j++)
        z64[j] = z[j];
    free(basis);
    *out64 = z64;
    return z;
}

/* Unit rows in float (normalised in float, as the daemon does) and their
 * exact double widening. */
static float *s_unit_rows(uint64_t *st, size_t n, size_t d, double **out64)
{
    float *z = s_gauss_rows(st, n, d, 1.0, 0, out64);
    metrics_l2_normalise_f32(z, n, d);
    for (size_t j = 0; j < n * d; j++)
        (*out64)[j] = z[j];
    return z;
}

/* Every float metric against its double counterpart on the same float
 * inputs: shapes with N < d, N > d, one and several Gram tiles, low rank,
 * unnormalised rows, both kernel sets. */
TEST(f32_vs_f64_random)
{
    static const struct {
        size_t n, d, rank;
        double scale;
    } shapes[] = {{2, 3, 0, 1.0},    {9, 40, 0, 1.0},     {64, 16, 0, 3.0},  {300, 128, 0, 1.0},
                  {130, 64, 5, 1.0}, {1100, 24, 0, 1.0},  {2100, 9, 0, 0.5}, {700, 700, 0, 1.0},
                  {40, 600, 3, 2.0}, {1030, 520, 0, 1.0}, {257, 33, 1, 1.0}};
    uint64_t st = 0x1234567887654321ull;
    metrics_ws_t *ws = metrics_ws_new();
    s_tally_t al = {"align_f32_vs_f64", 0, 0, 0, ""};
    s_tally_t un = {"uniform_f32_vs_f64", 0, 0, 0, ""};
    s_tally_t w2 = {"w2_f32_vs_f64", 0, 0, 0, ""};
    s_tally_t wl = {"w2_loss_f32_vs_f64", 0, 0, 0, ""};
    s_tally_t rk = {"rankme_f32_vs_f64", 0, 0, 0, ""};
    s_tally_t sl = {"std_l2_f32_vs_f64", 0, 0, 0, ""};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t n = shapes[si].n, d = shapes[si].d;
        double *x64, *y64, *u64, *v64;
        float *x = s_gauss_rows(&st, n, d, shapes[si].scale, shapes[si].rank, &x64);
        float *y = s_gauss_rows(&st, n, d, shapes[si].scale, 0, &y64);
        float *u = s_unit_rows(&st, n, d, &u64);
        float *v = s_unit_rows(&st, n, d, &v64);
        int deficient = n <= d || shapes[si].rank > 0;
        metrics__ws_set_isa(ws, (int)(si & 1));
        char name[96];
        snprintf(name, sizeof name, "N%zu_d%zu_r%zu", n, d, shapes[si].rank);
        s_check(&al, name, metrics_align_f32(u, v, n, d, 2.0, NULL), NULL,
                metrics_align(u64, v64, n, d, 2.0, NULL), S_TOL32_PLAIN);
        s_check(&al, name, metrics_align_f32(x, y, n, d, 1.0, NULL), NULL,
                metrics_align(x64, y64, n, d, 1.0, NULL), S_TOL32_PLAIN);
        if (n <= 2100) { /* the double reference is O(N^2 d) */
            s_check(&un, name, metrics_uniform_f32(u, n, d, 2.0, ws, NULL), NULL,
                    metrics_uniform(u64, n, d, 2.0, NULL), S_TOL32_PLAIN);
            /* unnormalised rows: far apart at t = 2 (the redo pass) */
            s_check(&un, name, metrics_uniform_f32(x, n, d, 2.0, ws, NULL), NULL,
                    metrics_uniform(x64, n, d, 2.0, NULL), S_TOL32_PLAIN);
        }
        double tw = deficient ? S_TOL32_W2_DEFICIENT : S_TOL32_W2_FULL;
        s_check(&w2, name, metrics_w2_f32(u, n, d, 1e-8, ws, NULL), NULL,
                metrics_w2(u64, n, d, 1e-8, NULL), tw);
        s_check(&w2, name, metrics_w2_f32(x, n, d, 1e-8, ws, NULL), NULL,
                metrics_w2(x64, n, d, 1e-8, NULL), tw);
        s_check(&wl, name, metrics_w2_loss_f32(u, n, d, 1e-4, ws, NULL), NULL,
                metrics_w2_loss(u64, n, d, 1e-4, NULL), S_TOL32_W2_LOSS);
        s_check(&rk, name, metrics_rankme_f32(x, n, d, 1e-7, ws, NULL), NULL,
                metrics_rankme(x64, n, d, 1e-7, NULL), S_TOL32_RANKME);
        s_check(&rk, name, metrics_rankme_f32(u, n, d, 1e-7, ws, NULL), NULL,
                metrics_rankme(u64, n, d, 1e-7, NULL), S_TOL32_RANKME);
        s_check(&sl, name, metrics_std_l2_f32(x, n, d, NULL), NULL, metrics_std_l2(x64, n, d, NULL),
                S_TOL32_PLAIN);
        free(x), free(y), free(u), free(v);
        free(x64), free(y64), free(u64), free(v64);
    }
    metrics_ws_destroy(&ws);
    s_report(&al);
    s_report(&un);
    s_report(&w2);
    s_report(&wl);
    s_report(&rk);
    ASSERT_TALLY(sl);
    ASSERT_EQ(al.failed + un.failed + w2.failed + wl.failed + rk.failed, 0);
}

/* ER sphere entropy takes a shared shift for all rows unless a row sits far
 * below it: unit rows with some zero rows at large kappa exercise the rows
 * recomputed exactly; many short rows the all-exact form; each against
 * the double path, with both kernel sets. */
TEST(er_f32_shift_forms)
{
    static const struct {
        size_t n, d, zeros, every;
    } shapes[] = {{300, 16, 3, 0}, {1500, 8, 20, 0}, {200, 12, 0, 2}, {1100, 6, 0, 3}};
    static const double kappas[] = {10.0, 100.0, 3000.0};
    uint64_t st = 77;
    metrics_ws_t *ws = metrics_ws_new();
    s_tally_t t = {"er_f32_shift_forms", 0, 0, 0, ""};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t n = shapes[si].n, d = shapes[si].d;
        double *z64;
        float *z = s_unit_rows(&st, n, d, &z64);
        for (size_t r = 0; r < shapes[si].zeros; r++) /* scattered zero rows */
            for (size_t k = 0; k < d; k++)
                z[((r * 7919) % n) * d + k] = 0.0f;
        if (shapes[si].every) /* every k-th row shortened */
            for (size_t i = 0; i < n; i += shapes[si].every)
                for (size_t k = 0; k < d; k++)
                    z[i * d + k] *= 0.7f;
        for (size_t j = 0; j < n * d; j++)
            z64[j] = z[j];
        for (size_t ki = 0; ki < sizeof kappas / sizeof kappas[0]; ki++) {
            double kappa = kappas[ki];
            double h64 =
                metrics_er_entropy(z64, n, d, EW_SUPPORT_SPHERE, kappa, EW_REDUCE_AVERAGE, NULL);
            for (int isa = 0; isa < 2; isa++) {
                metrics__ws_set_isa(ws, isa);
                char name[96];
                snprintf(name, sizeof name, "N%zu_d%zu_z%zu_e%zu_k%g_isa%d", n, d, shapes[si].zeros,
                         shapes[si].every, kappa, isa);
                double h32 = metrics_er_entropy_f32(z, n, d, EW_SUPPORT_SPHERE, kappa,
                                                    EW_REDUCE_AVERAGE, ws, NULL);
                s_er_case_t e = {name, n, d, EW_SUPPORT_SPHERE, EW_REDUCE_AVERAGE, kappa, h64};
                s_check(&t, name, h32, NULL, h64, s_er_tol32(&e));
            }
        }
        free(z);
        free(z64);
    }
    metrics_ws_destroy(&ws);
    ASSERT_TALLY(t);
}

/* Random Sinkhorn scores on the float path against the double path. */
TEST(sinkhorn_f32_random)
{
    static const struct {
        size_t b, k;
        double scale, eps;
        int iters;
    } shapes[] = {{5, 3, 1.0, 0.05, 3},
                  {128, 300, 1.0, 0.05, 3},
                  {300, 17, 5.0, 0.05, 10},
                  {64, 1000, 1.0, 0.1, 1}};
    uint64_t st = 99;
    metrics_ws_t *ws = metrics_ws_new();
    s_tally_t t = {"sinkhorn_f32_vs_f64", 0, 0, 0, ""};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t b = shapes[si].b, k = shapes[si].k;
        double *s64;
        float *s = s_gauss_rows(&st, b, k, shapes[si].scale, 0, &s64);
        double *q64 = malloc(b * k * sizeof *q64);
        float *q = malloc(b * k * sizeof *q);
        ASSERT(q64 && q);
        ASSERT_EQ(metrics_sinkhorn(s64, b, k, shapes[si].eps, shapes[si].iters, q64, NULL), 0);
        ASSERT_EQ(metrics_sinkhorn_f32(s, b, k, shapes[si].eps, shapes[si].iters, q, ws, NULL), 0);
        double worst = 0.0;
        for (size_t j = 0; j < b * k; j++)
            worst = fmax(worst, s_mixed(q[j], q64[j]));
        char name[64];
        snprintf(name, sizeof name, "B%zu_K%zu", b, k);
        s_check(&t, name, worst, NULL, 0.0, S_TOL32_SINKHORN_ELEM);
        for (size_t i = 0; i < b; i++) { /* rows sum to 1 */
            double rs = 0.0;
            for (size_t c = 0; c < k; c++)
                rs += q[i * k + c];
            s_check(&t, name, rs, NULL, 1.0, 1e-5);
        }
        free(s), free(s64), free(q), free(q64);
    }
    metrics_ws_destroy(&ws);
    ASSERT_TALLY(t);
}

/* ================================================================ sets */

/* The set function agrees with the single-metric functions: raw rows for
 * rankme and std_l2, normalised copies for the rest. The spectrum is
 * descending and sums to 1 (to sum_{k<512} when min(N, d) > 512). */
TEST(set_matches_singles)
{
    static const struct {
        size_t n, d;
        int views;
        ew_support_t s;
    } shapes[] = {{1, 4, 2, EW_SUPPORT_SPHERE},     {2, 3, 1, EW_SUPPORT_SPHERE},
                  {64, 16, 2, EW_SUPPORT_SPHERE},   {300, 128, 2, EW_SUPPORT_SPHERE},
                  {40, 200, 2, EW_SUPPORT_SPHERE},  {1100, 24, 2, EW_SUPPORT_SPHERE},
                  {600, 520, 1, EW_SUPPORT_SPHERE}, {100, 10, 2, EW_SUPPORT_DISCRETE}};
    uint64_t st = 4242;
    metrics_ws_t *ws = metrics_ws_new();
    metrics_params_t p;
    metrics_params_default(&p);
    ASSERT_EQ(p.kappa, EW_KAPPA_DEFAULT);
    ASSERT_EQ(p.t, 2.0);
    ASSERT_EQ(p.alpha, 2.0);
    ASSERT_EQ(p.normalise, 1);
    metrics_out_t *out = malloc(sizeof *out);
    ASSERT_NOT_NULL(out);
    size_t nshapes = sizeof shapes / sizeof shapes[0];
    for (size_t sj = 0; sj < 2 * nshapes; sj++) { /* portable kernels, then the fastest */
        size_t si = sj % nshapes;
        metrics__ws_set_isa(ws, (int)(sj / nshapes));
        size_t n = shapes[si].n, d = shapes[si].d;
        double *x64, *y64;
        float *x, *y;
        if (shapes[si].s == EW_SUPPORT_DISCRETE) {
            x = s_random_rows(&st, n, d, EW_SUPPORT_DISCRETE, 0.0, &x64);
            y = s_random_rows(&st, n, d, EW_SUPPORT_DISCRETE, 0.0, &y64);
        } else {
            x = s_gauss_rows(&st, n, d, 3.0, 0, &x64);
            y = s_gauss_rows(&st, n, d, 0.5, 0, &y64);
        }
        if (n > 8)
            for (size_t k = 0; k < d; k++)
                x[5 * d + k] = 0.0f; /* a zero row */
        p.support = shapes[si].s;
        const float *yy = shapes[si].views == 2 ? y : NULL;
        ASSERT_EQ(metrics_compute_set_f32(x, yy, n, d, &p, METRICS_SET_DEFAULT, ws, out), 0);
        unsigned want = METRICS_SET_DEFAULT;
        if (!yy)
            want &= ~(METRICS_BIT(METRICS_ER_RECONSTRUCTION) | METRICS_BIT(METRICS_ALIGN));
        ASSERT_EQ(out->mask, want);

        float *xs = malloc(n * d * sizeof *xs), *ys = malloc(n * d * sizeof *ys);
        ASSERT(xs && ys);
        memcpy(xs, x, n * d * sizeof *x);
        memcpy(ys, y, n * d * sizeof *y);
        metrics_l2_normalise_f32(xs, n, d);
        metrics_l2_normalise_f32(ys, n, d);
        int sph = p.support == EW_SUPPORT_SPHERE;
        double single[METRICS_COUNT];
        single[METRICS_ER_ENTROPY] =
            metrics_er_entropy_f32(sph ? xs : x, n, d, p.support, p.kappa, p.reduction, ws, NULL);
        single[METRICS_ER_RECONSTRUCTION] = metrics_er_reconstruction_f32(
            sph ? xs : x, sph ? ys : y, n, d, p.support, p.kappa, ws, NULL);
        single[METRICS_ALIGN] = metrics_align_f32(xs, ys, n, d, p.alpha, NULL);
        single[METRICS_UNIFORM] = metrics_uniform_f32(xs, n, d, p.t, ws, NULL);
        single[METRICS_W2] = metrics_w2_f32(xs, n, d, p.w2_eps, ws, NULL);
        single[METRICS_RANKME] = metrics_rankme_f32(x, n, d, p.rankme_eps, ws, NULL);
        single[METRICS_STD_L2] = metrics_std_l2_f32(x, n, d, NULL);
        for (int id = 0; id < METRICS_COUNT; id++) {
            if (!(out->mask & METRICS_BIT(id)))
                continue;
            double got = out->value[id];
            if (isnan(single[id])) {
                if (!isnan(got) || !out->why[id])
                    T_FAIL_("N%zu d%zu %s: got %g (why %s), single is NaN", n, d,
                            metrics_name((metrics_id_t)id), got,
                            out->why[id] ? out->why[id] : "NULL");
                continue;
            }
            if (out->why[id] != NULL)
                T_FAIL_("%s has a value and a reason", metrics_name((metrics_id_t)id));
            if (!(s_mixed(got, single[id]) <= 1e-12))
                T_FAIL_("N%zu d%zu %s: set %.17g single %.17g", n, d,
                        metrics_name((metrics_id_t)id), got, single[id]);
        }
        /* the spectrum */
        size_t r = n < d ? n : d;
        ASSERT_EQ(out->spectrum_len, r < METRICS_SPECTRUM_MAX ? r : METRICS_SPECTRUM_MAX);
        double sum = 0.0;
        for (size_t k = 0; k < out->spectrum_len; k++) {
            ASSERT_GE(out->spectrum[k], 0.0);
            if (k > 0)
                ASSERT_LE(out->spectrum[k], out->spectrum[k - 1]);
            sum += out->spectrum[k];
        }
        if (r <= METRICS_SPECTRUM_MAX)
            ASSERT_MIXED(sum, 1.0, 1e-12);
        else {
            ASSERT_LT(sum, 1.0);
            ASSERT_GT(sum, 0.9);
        }
        /* RankMe is the exp-entropy of that same spectrum (r <= 512) */
        if (r <= METRICS_SPECTRUM_MAX) {
            double h = 0.0;
            for (size_t k = 0; k < r; k++) {
                double pk = out->spectrum[k] + p.rankme_eps;
                h -= pk * log(pk);
            }
            ASSERT_MIXED(exp(h), out->value[METRICS_RANKME], 1e-12);
        }
        free(xs), free(ys), free(x), free(y), free(x64), free(y64);
    }
    /* normalise = 0: every metric sees the rows as given, and one-metric
     * sets give exactly what the single functions give */
    double *z64;
    float *z = s_gauss_rows(&st, 50, 7, 1.0, 0, &z64);
    metrics_params_default(&p);
    p.normalise = 0;
    ASSERT_EQ(metrics_compute_set_f32(z, NULL, 50, 7, &p, METRICS_BIT(METRICS_UNIFORM), ws, out),
              0);
    ASSERT_EQ(out->mask, METRICS_BIT(METRICS_UNIFORM));
    ASSERT_EQ(out->value[METRICS_UNIFORM], metrics_uniform_f32(z, 50, 7, 2.0, ws, NULL));
    ASSERT_NAN(out->value[METRICS_W2]);
    ASSERT_EQ(out->spectrum_len, 0);
    ASSERT_EQ(metrics_compute_set_f32(z, z, 50, 7, &p, METRICS_BIT(METRICS_W2), NULL, out), 0);
    ASSERT_EQ(out->value[METRICS_W2], metrics_w2_f32(z, 50, 7, 1e-8, NULL, NULL));
    /* undefined everywhere, with reasons */
    ASSERT_EQ(metrics_compute_set_f32(z, z, 0, 7, NULL, METRICS_SET_DEFAULT, ws, out), 0);
    for (int id = 0; id < METRICS_COUNT; id++) {
        ASSERT_NAN(out->value[id]);
        ASSERT_NOT_NULL(out->why[id]);
    }
    ASSERT_EQ(out->spectrum_len, 0);
    z[3] = NAN;
    ASSERT_EQ(metrics_compute_set_f32(z, z, 50, 7, NULL, METRICS_SET_DEFAULT, ws, out), 0);
    for (int id = 0; id < METRICS_COUNT; id++)
        if (id != METRICS_ALIGN && id != METRICS_ER_RECONSTRUCTION) { /* row-wise: NaN too */
            ASSERT_NAN(out->value[id]);
            ASSERT_NOT_NULL(out->why[id]);
        }
    ASSERT_EQ(metrics_compute_set_f32(NULL, z, 50, 7, NULL, METRICS_SET_DEFAULT, ws, out), -EINVAL);
    ASSERT_STREQ(metrics_name(METRICS_W2), "w2");
    ASSERT_NULL(metrics_name(METRICS_COUNT));
    free(z), free(z64), free(out);
    metrics_ws_destroy(&ws);
}

/* "Scores" support: discrete ER of the Sinkhorn assignments, against the
 * double path applied step by step. */
TEST(scores_f32)
{
    uint64_t st = 5;
    size_t b = 200, k = 64;
    double *x64, *y64;
    float *x = s_gauss_rows(&st, b, k, 0.3, 0, &x64);
    float *y = s_gauss_rows(&st, b, k, 0.3, 0, &y64);
    double *qx = malloc(b * k * sizeof *qx), *qy = malloc(b * k * sizeof *qy);
    metrics_out_t *out = malloc(sizeof *out);
    ASSERT(qx && qy && out);
    metrics_params_t p;
    metrics_params_default(&p);
    ASSERT_EQ(p.sinkhorn_eps, 0.05);
    ASSERT_EQ(p.sinkhorn_iters, 3);
    ASSERT_EQ(metrics_sinkhorn(x64, b, k, p.sinkhorn_eps, p.sinkhorn_iters, qx, NULL), 0);
    ASSERT_EQ(metrics_sinkhorn(y64, b, k, p.sinkhorn_eps, p.sinkhorn_iters, qy, NULL), 0);
    double h = metrics_er_entropy(qx, b, k, EW_SUPPORT_DISCRETE, 0.0, p.reduction, NULL);
    double r = metrics_er_reconstruction(qx, qy, b, k, EW_SUPPORT_DISCRETE, 0.0, NULL);
    ASSERT_EQ(metrics_scores_f32(x, y, b, k, &p, METRICS_SET_DEFAULT, NULL, out), 0);
    ASSERT_EQ(out->mask, METRICS_BIT(METRICS_ER_ENTROPY) | METRICS_BIT(METRICS_ER_RECONSTRUCTION));
    ASSERT_MIXED(out->value[METRICS_ER_ENTROPY], h, 10.0 * 2e-7);
    ASSERT_MIXED(out->value[METRICS_ER_RECONSTRUCTION], r, 10.0 * 2e-7);
    ASSERT_NULL(out->why[METRICS_ER_ENTROPY]);
    ASSERT_EQ(metrics_scores_f32(x, NULL, b, k, NULL, METRICS_SET_DEFAULT, NULL, out), 0);
    ASSERT_EQ(out->mask, METRICS_BIT(METRICS_ER_ENTROPY));
    x[7] = INFINITY;
    ASSERT_EQ(metrics_scores_f32(x, y, b, k, &p, METRICS_SET_DEFAULT, NULL, out), 0);
    ASSERT_NAN(out->value[METRICS_ER_ENTROPY]);
    ASSERT_NOT_NULL(out->why[METRICS_ER_ENTROPY]);
    free(x), free(y), free(x64), free(y64), free(qx), free(qy), free(out);
}

/* Undefined and invalid inputs on the float path: NaN with a reason. */
TEST(f32_undefined)
{
    float x[4] = {1, 0, 0, 0}, q[4];
    const char *why = NULL;
#define UNDEF(expr)                                                                                \
    do {                                                                                           \
        why = NULL;                                                                                \
        ASSERT_NAN(expr);                                                                          \
        ASSERT_NOT_NULL(why);                                                                      \
    } while (0)
    UNDEF(metrics_align_f32(x, x, 0, 2, 2.0, &why));
    UNDEF(metrics_align_f32(x, x, 2, 2, -1.0, &why));
    UNDEF(metrics_uniform_f32(x, 1, 2, 2.0, NULL, &why));
    UNDEF(metrics_uniform_f32(x, 2, 2, 0.0, NULL, &why));
    UNDEF(metrics_w2_f32(x, 0, 2, 1e-8, NULL, &why));
    UNDEF(metrics_w2_loss_f32(x, 2, 0, 0.0, NULL, &why));
    UNDEF(metrics_rankme_f32((float[4]){0, 0, 0, 0}, 2, 2, 1e-7, NULL, &why));
    UNDEF(metrics_std_l2_f32(x, 1, 4, &why));
    x[1] = NAN;
    UNDEF(metrics_w2_f32(x, 2, 2, 1e-8, NULL, &why));
    UNDEF(metrics_rankme_f32(x, 2, 2, 1e-7, NULL, &why));
    UNDEF(metrics_uniform_f32(x, 2, 2, 2.0, NULL, &why));
    UNDEF(metrics_std_l2_f32(x, 2, 2, &why));
    x[1] = INFINITY;
    UNDEF(metrics_uniform_f32(x, 2, 2, 2.0, NULL, &why));
    UNDEF(metrics_w2_f32(x, 2, 2, 1e-8, NULL, &why));
#undef UNDEF
    why = NULL;
    ASSERT_EQ(metrics_sinkhorn_f32(x, 2, 2, 0.05, 3, q, NULL, &why), -EINVAL);
    ASSERT_NOT_NULL(why);
    x[1] = 0.0f;
    ASSERT_EQ(metrics_sinkhorn_f32(x, 2, 2, 0.0, 3, q, NULL, &why), -EINVAL);
    ASSERT_EQ(metrics_sinkhorn_f32(x, 2, 2, 0.05, -1, q, NULL, &why), -EINVAL);
    ASSERT_EQ(metrics_sinkhorn_f32(x, 2, 2, 0.05, 3, q, NULL, NULL), 0);
    ASSERT_MIXED(q[0] + q[1], 1.0, 1e-6);
    /* huge rows take the double path rather than overflow float */
    float big[6] = {3e19f, 0, 0, 0, 3e19f, 0};
    double big64[6] = {3e19f, 0, 0, 0, 3e19f, 0};
    ASSERT_MIXED(metrics_uniform_f32(big, 2, 3, 2.0, NULL, NULL),
                 metrics_uniform(big64, 2, 3, 2.0, NULL), 1e-12);
    ASSERT_MIXED(
        metrics_er_entropy_f32(big, 2, 3, EW_SUPPORT_SPHERE, 1.0, EW_REDUCE_AVERAGE, NULL, NULL),
        metrics_er_entropy(big64, 2, 3, EW_SUPPORT_SPHERE, 1.0, EW_REDUCE_AVERAGE, NULL), 1e-12);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(vectors_files),
        T(bessel_table),
        T(bessel_extremes),
        T(er_entropy_cases),
        T(er_reconstruction_cases),
        T(er_undefined),
        T(er_entropy_f32_cases),
        T(er_reconstruction_f32_cases),
        T(er_f32_vs_f64_random),
        T(l2_normalise_f32),
        T(er_f32_undefined),
        T(align_cases),
        T(uniform_cases),
        T(w2_cases),
        T(w2_loss_cases),
        T(rankme_cases),
        T(std_l2_cases),
        T(sinkhorn_cases),
        T(others_undefined),
        T(exp_f32_ulp),
        T(align_f32_cases),
        T(uniform_f32_cases),
        T(w2_f32_cases),
        T(w2_loss_f32_cases),
        T(rankme_f32_cases),
        T(std_l2_f32_cases),
        T(er_f32_cases_portable),
        T(sinkhorn_f32_cases),
        T(f32_vs_f64_random),
        T(er_f32_shift_forms),
        T(sinkhorn_f32_random),
        T(set_matches_singles),
        T(scores_f32),
        T(f32_undefined),
        {0},
    });
}
