/* metrics_common.c: what the double reference path (metrics.c) and the
 * float path (metrics_f32.c) share, beneath both (metrics_impl.h): the
 * aborting allocator, the undefined-result convention, the online
 * log-sum-exp merge, the ER argument checks and the formulas that finish an
 * ER entropy from per-row or per-batch sums. Pure code: no I/O, no globals.
 * The metric formulas themselves are in tests/vectors/README.md.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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
double metrics__er_sphere_finish(const double *s, size_t n, double c,
                                 ew_reduction_t r)
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
    if (n == 0 || d == 0)
        return "empty batch (N = 0 or d = 0)";
    if (n > (size_t)INT32_MAX || d > (size_t)INT32_MAX)
        return "batch too large for BLAS";
    if (s != EW_SUPPORT_SPHERE && s != EW_SUPPORT_DISCRETE)
        return "unknown support";
    if (s == EW_SUPPORT_SPHERE && !s_kappa_ok(kappa))
        return "kappa must be finite and > 0";
    return NULL;
}
