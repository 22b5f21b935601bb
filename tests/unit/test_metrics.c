/* test_metrics.c: the metrics module against shared/vectors.
 *
 * Every expected number comes from the vector files (bessel.txt, cases.txt,
 * *.q.f64); none is typed here. Each table test walks all cases of one
 * metric, reports every failing case by name (not just the first), prints
 * the worst mixed error it saw as a "#" line, and fails when it found no
 * case at all, so a missing vectors directory cannot pass silently.
 * Tolerances are those suggested by shared/vectors/README.md.
 */
#include <errno.h>
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
    ASSERT(v != NULL);
    size_t cases = 0, bad = 0;
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        const char *name = vectors_str(c, "name");
        if (!name || !vectors_str(c, "metric") || !vectors_str(c, "note") ||
            vectors_size(c, "N") == 0 || vectors_size(c, "d") == 0) {
            fprintf(stderr, "  case %zu (%s): missing fields\n", i,
                    name ? name : "?");
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
            double *q = vectors_read_f64(
                vectors_str(c, "out"),
                vectors_size(c, "N") * vectors_size(c, "d"));
            bad += q == NULL;
            free(q);
        }
    }
    vectors_destroy(&v);
    ASSERT(v == NULL);
    printf("# vectors: %zu cases, %zu problems\n", cases, bad);
    ASSERT(cases > 0);
    ASSERT_EQ(bad, 0);
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

/* ================================================================ ER f32 */

TEST(er_entropy_f32_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT(v != NULL);
    metrics_ws_t *ws = metrics_ws_new(); /* one for all: exercises growth */
    s_tally_t t = {"er_entropy_f32", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "er_entropy"))
            continue;
        s_er_case_t e = s_er_case(c);
        float *x = vectors_input_f32(c, "x");
        const char *why = NULL;
        double got = x ? metrics_er_entropy_f32(x, e.n, e.d, e.support,
                                                e.kappa, e.reduction, ws, &why)
                       : NAN;
        s_check(&t, e.name, got, x ? why : "input missing", e.expected,
                s_er_tol32(&e));
        free(x);
    }
    metrics_ws_destroy(&ws);
    ASSERT(ws == NULL);
    vectors_destroy(&v);
    ASSERT_TALLY(t);
}

TEST(er_reconstruction_f32_cases)
{
    vectors_t *v = vectors_load("cases.txt");
    ASSERT(v != NULL);
    metrics_ws_t *ws = metrics_ws_new();
    s_tally_t t = {"er_reconstruction_f32", 0, 0, 0, ""};
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, "er_reconstruction"))
            continue;
        s_er_case_t e = s_er_case(c);
        float *a = vectors_input_f32(c, "x"), *b = vectors_input_f32(c, "y");
        const char *why = NULL;
        double got = a && b ? metrics_er_reconstruction_f32(
                                  a, b, e.n, e.d, e.support, e.kappa, ws, &why)
                            : NAN;
        s_check(&t, e.name, got, a && b ? why : "input missing", e.expected,
                s_er_tol32(&e));
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
static float *s_random_rows(uint64_t *st, size_t n, size_t d, ew_support_t s,
                            double collapse, double **out64)
{
    float *z = malloc(n * d * sizeof *z);
    double *z64 = malloc(n * d * sizeof *z64);
    if (!z || !z64)
        abort();
    for (size_t i = 0; i < n; i++) {
        double norm = 0.0;
        for (size_t k = 0; k < d; k++) {
            double g = s == EW_SUPPORT_SPHERE ? s_rng_normal(st)
                                              : -log(s_rng_unit(st));
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
    } shapes[] = {{1, 5, 0},   {2, 3, 0},     {17, 64, 0},  {300, 128, 0},
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
                    snprintf(name, sizeof name, "N%zu_d%zu_%s_k%g_%s", n, d,
                             sup ? "dis" : "sph", kappa, r ? "ave" : "exp");
                    double h64 = metrics_er_entropy(a64, n, d, s, kappa,
                                                    (ew_reduction_t)r, NULL);
                    double h32 = metrics_er_entropy_f32(
                        a, n, d, s, kappa, (ew_reduction_t)r, ws, NULL);
                    s_er_case_t e = {name, n, d, s, (ew_reduction_t)r, kappa,
                                     h64};
                    s_check(&t, name, h32, NULL, h64, s_er_tol32(&e));
                }
                char name[96];
                snprintf(name, sizeof name, "rec_N%zu_d%zu_%s_k%g", n, d,
                         sup ? "dis" : "sph", kappa);
                double r64 = metrics_er_reconstruction(a64, b64, n, d, s,
                                                       kappa, NULL);
                double r32 = metrics_er_reconstruction_f32(a, b, n, d, s,
                                                           kappa, ws, NULL);
                s_er_case_t e = {name, n, d, s, EW_REDUCE_EXPECTATION, kappa,
                                 r64};
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
    ASSERT(z != NULL);
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
            ASSERT(ss == 0.0);
        else
            ASSERT_MIXED(sqrt(ss), 1.0, 1e-6);
    }
    ASSERT(z[9 * d + 3] == 1.0f);
    free(z);
}

TEST(er_f32_undefined)
{
    float z[6] = {1, 0, 0, 0, 1, 0};
    metrics_ws_t *ws = metrics_ws_new();
    const char *why = NULL;
    double h = metrics_er_entropy_f32(z, 0, 3, EW_SUPPORT_SPHERE, 10.0,
                                      EW_REDUCE_AVERAGE, ws, &why);
    double r = metrics_er_reconstruction_f32(z, z, 2, 3, EW_SUPPORT_SPHERE,
                                             -1.0, ws, &why);
    ASSERT(isnan(h));
    ASSERT(isnan(r));
    ASSERT(why != NULL);
    /* ws may be NULL (a temporary one is used) */
    ASSERT(isfinite(metrics_er_entropy_f32(z, 2, 3, EW_SUPPORT_SPHERE, 10.0,
                                           EW_REDUCE_AVERAGE, NULL, NULL)));
    /* a NaN anywhere must not vanish inside a max or a merge */
    for (size_t at = 0; at < 6; at++) {
        float zz[6] = {1, 0, 0, 0, 1, 0};
        zz[at] = NAN;
        for (int sup = 0; sup < 2; sup++) {
            why = NULL;
            h = metrics_er_entropy_f32(zz, 2, 3, (ew_support_t)sup, 10.0,
                                       EW_REDUCE_EXPECTATION, ws, &why);
            ASSERT(isnan(h));
            ASSERT(why != NULL);
        }
    }
    metrics_ws_destroy(&ws);
    metrics_ws_destroy(&ws); /* safe: the pointer is NULL now */
    ASSERT(ws == NULL);
}

/* ================================================================ others */

/* One metric evaluated on one case; *why as the metric sets it. Returns NAN
 * with *why = "input missing" when the input files cannot be read. */
typedef double (*s_eval_fn)(const vectors_case_t *c, const char **why);

/* Every case of metric, against expected_f64 at mixed error <= tol. */
static void s_run_table(s_tally_t *t, const char *metric, s_eval_fn eval,
                        double tol)
{
    vectors_t *v = vectors_load("cases.txt");
    for (size_t i = 0; i < vectors_count(v); i++) {
        const vectors_case_t *c = vectors_case(v, i);
        if (!s_is(c, metric))
            continue;
        const char *why = NULL;
        double got = eval(c, &why);
        s_check(t, vectors_str(c, "name"), got, why,
                vectors_num(c, "expected_f64"), tol);
    }
    vectors_destroy(&v);
}

static double s_eval_align(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x"), *y = vectors_input_f64(c, "y");
    double r = x && y ? metrics_align(x, y, vectors_size(c, "N"),
                                      vectors_size(c, "d"),
                                      vectors_num(c, "alpha"), why)
                      : (*why = "input missing", NAN);
    free(x);
    free(y);
    return r;
}

static double s_eval_uniform(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r = x ? metrics_uniform(x, vectors_size(c, "N"),
                                   vectors_size(c, "d"), vectors_num(c, "t"),
                                   why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval_w2(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r = x ? metrics_w2(x, vectors_size(c, "N"), vectors_size(c, "d"),
                              vectors_num(c, "eps"), why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval_w2_loss(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r = x ? metrics_w2_loss(x, vectors_size(c, "N"),
                                   vectors_size(c, "d"), vectors_num(c, "eps"),
                                   why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval_rankme(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r = x ? metrics_rankme(x, vectors_size(c, "N"),
                                  vectors_size(c, "d"), vectors_num(c, "eps"),
                                  why)
                 : (*why = "input missing", NAN);
    free(x);
    return r;
}

static double s_eval_std_l2(const vectors_case_t *c, const char **why)
{
    double *x = vectors_input_f64(c, "x");
    double r = x ? metrics_std_l2(x, vectors_size(c, "N"),
                                  vectors_size(c, "d"), why)
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
    ASSERT(v != NULL);
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
        int rc = s && want && q
                     ? metrics_sinkhorn(s, b, k, vectors_num(c, "eps"),
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
                fprintf(stderr, "  FAIL sinkhorn %s: %zu of %zu entries off, "
                                "worst mixed err %.3g\n",
                        name, bad, b * k, worst);
            }
            if (worst > elem.worst) {
                elem.worst = worst;
                snprintf(elem.worst_name, sizeof elem.worst_name, "%s", name);
            }
        } else {
            fprintf(stderr, "  sinkhorn %s: rc %d (%s)\n", name, rc,
                    why ? why : "input missing");
        }
        s_check(&sum, name, sq, why, vectors_num(c, "expected_f64"), 1e-9);
        free(s);
        free(want);
        free(q);
    }
    vectors_destroy(&v);
    s_report(&elem);
    ASSERT_TALLY(sum);
    ASSERT(elem.cases == sum.cases);
    ASSERT_EQ(elem.failed, 0);
}

/* Undefined and invalid inputs give NaN (or -EINVAL) with a reason. */
TEST(others_undefined)
{
    double x[4] = {1, 0, 0, 0}, q[4];
    const char *why = NULL;
#define UNDEF(expr)                                                           \
    do {                                                                      \
        why = NULL;                                                           \
        ASSERT(isnan(expr));                                                  \
        ASSERT(why != NULL);                                                  \
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
    ASSERT(why != NULL);
    x[1] = 0.0;
    ASSERT_EQ(metrics_sinkhorn(x, 2, 2, 0.0, 3, q, &why), -EINVAL);
    ASSERT_EQ(metrics_sinkhorn(x, 2, 2, 0.05, 3, q, NULL), 0);
    ASSERT_MIXED(q[0] + q[1], 1.0, 1e-15); /* rows sum to 1 */
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
        {0},
    });
}
