/* metrics_common.c: what the double reference path (metrics.c) and the
 * float path (metrics_f32.c) share, beneath both (metrics_impl.h): the
 * aborting allocator, the undefined-result convention, the online
 * log-sum-exp merge, the argument checks, the formulas that finish an ER
 * entropy from per-row or per-batch sums, and std_l2, which is the same
 * double arithmetic whatever the input precision. Pure code: no I/O, no globals.
 * The metric formulas themselves are in tests/vectors/README.md.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_impl.h"

/* ================================================================ results */

void *metrics__alloc(size_t count, size_t size)
{
    if (count == 0)
        count = 1;
    if (size != 0 && count > SIZE_MAX / size)
        abort();
    void *p = malloc(count * size);
    if (!p)
        abort();
    return p;
}

double metrics__undefined(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return NAN;
}

double metrics__result(double v, const char **why)
{
    if (isnan(v))
        return metrics__undefined(why, "input contains NaN or infinity");
    return v;
}

/* ================================================================ checks */

int metrics__all_finite(const double *x, size_t count)
{
    for (size_t j = 0; j < count; j++)
        if (!isfinite(x[j]))
            return 0;
    return 1;
}

METRICS__O3 int metrics__all_finite_f32(const float *x, size_t count)
{
    /* NaN and infinity have an all-ones exponent; adding one exponent unit
     * to the masked exponent carries into bit 31 exactly for them. An OR
     * over all elements (no branch) keeps the scan at memory speed. */
    uint32_t bad = 0;
    for (size_t j = 0; j < count; j++) {
        uint32_t b;
        memcpy(&b, x + j, sizeof b);
        bad |= (b & 0x7f800000u) + 0x00800000u;
    }
    return (bad & 0x80000000u) == 0;
}

const char *metrics__shape_check(size_t n, size_t d)
{
    if (n == 0 || d == 0)
        return "empty batch (N = 0 or d = 0)";
    if (n > (size_t)INT32_MAX || d > (size_t)INT32_MAX)
        return "batch too large for BLAS";
    return NULL;
}

const char *metrics__spectral_check(const float *xf, const double *xd, size_t n, size_t d)
{
    const char *bad = metrics__shape_check(n, d);
    if (bad)
        return bad;
    if (xf ? !metrics__all_finite_f32(xf, n * d) : !metrics__all_finite(xd, n * d))
        return "input contains NaN or infinity";
    return NULL;
}

/* ================================================================ log-sum-exp */

void metrics__lse_merge(double *m, double *s, double mt, double st)
{
    if (st == 0.0)
        return;
    if (isnan(st) || isnan(mt) || isnan(*m)) {
        *m = NAN;
        *s = 1.0;
    } else if (*s == 0.0) {
        *m = mt;
        *s = st;
    } else if (mt > *m) {
        *s = *s * exp(*m - mt) + st;
        *m = mt;
    } else {
        *s += st * exp(mt - *m);
    }
}

/* ================================================================ ER */

/* H from s_i = LSE_j(kappa <z_i, z_j>) (README, ER entropy, sphere):
 * l_i = c + ln N - s_i; average: mean l_i; expectation: softmax(s)-weighted
 * mean of l_i. Written relative to max s to keep the weights in range. */
double metrics__er_sphere_finish(const double *s, size_t n, double c, ew_reduction_t r)
{
    double smax = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (s[i] > smax)
            smax = s[i];
    double base = c + log((double)n) - smax;
    if (r == EW_REDUCE_AVERAGE) {
        double acc = 0.0;
        for (size_t i = 0; i < n; i++)
            acc += s[i] - smax;
        return base - acc / (double)n;
    }
    double wsum = 0.0, acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        double w = exp(s[i] - smax);
        wsum += w;
        acc += w * (s[i] - smax);
    }
    return base - acc / wsum;
}

/* H of the batch mean m (length d) for the discrete support. */
double metrics__er_discrete_finish(const double *m, size_t d, ew_reduction_t r)
{
    double acc = 0.0;
    if (r == EW_REDUCE_AVERAGE) {
        for (size_t k = 0; k < d; k++)
            acc += log(m[k] + METRICS__ER_EPS);
        return -acc / (double)d;
    }
    for (size_t k = 0; k < d; k++)
        acc += m[k] * log(m[k] + METRICS__ER_EPS);
    return -acc;
}

static int s_kappa_ok(double kappa)
{
    return kappa > 0.0 && isfinite(kappa);
}

const char *metrics__er_check(size_t n, size_t d, ew_support_t s, double kappa)
{
    const char *bad = metrics__shape_check(n, d);
    if (bad)
        return bad;
    if (s != EW_SUPPORT_SPHERE && s != EW_SUPPORT_DISCRETE)
        return "unknown support";
    if (s == EW_SUPPORT_SPHERE && !s_kappa_ok(kappa))
        return "kappa must be finite and > 0";
    return NULL;
}

/* ================================================================ std_l2 */

/* Element j of the rows, widened to double (exact for float). */
static inline double s_at(const float *xf, const double *xd, size_t j)
{
    return xf ? (double)xf[j] : xd[j];
}

METRICS__O3 double metrics__std_l2(const float *xf, const double *xd, size_t n, size_t d,
                                   const char **why)
{
    if (d == 0)
        return metrics__undefined(why, "empty batch (d = 0)");
    if (n < 2)
        return metrics__undefined(why, "std needs N >= 2 (divisor N - 1)");
    double *mean = calloc(d, sizeof *mean), *m2 = calloc(d, sizeof *m2);
    double *inv = metrics__alloc(n, sizeof *inv);
    if (!mean || !m2)
        abort();
    for (size_t i = 0; i < n; i++) {
        double ss = 0.0;
        for (size_t k = 0; k < d; k++) {
            double v = s_at(xf, xd, i * d + k);
            ss += v * v;
        }
        double norm = sqrt(ss);
        inv[i] = 1.0 / (norm > 1e-12 ? norm : 1e-12);
        for (size_t k = 0; k < d; k++)
            mean[k] += s_at(xf, xd, i * d + k) * inv[i];
    }
    for (size_t k = 0; k < d; k++)
        mean[k] /= (double)n;
    for (size_t i = 0; i < n; i++) /* two passes: no cancellation */
        for (size_t k = 0; k < d; k++) {
            double u = s_at(xf, xd, i * d + k) * inv[i] - mean[k];
            m2[k] += u * u;
        }
    double acc = 0.0;
    for (size_t k = 0; k < d; k++)
        acc += sqrt(m2[k] / (double)(n - 1));
    free(mean);
    free(m2);
    free(inv);
    return metrics__result(acc / (double)d, why);
}
