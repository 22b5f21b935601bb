/* bessel.c: ln I_nu(x) in the log domain and the vMF normaliser c(d, kappa)
 * that the ER metrics need (see metrics.h for the contract).
 *
 * Design: I_nu(x) = sum_k t_k, t_k = (x/2)^(2k+nu) / (k! Gamma(k+nu+1)), a
 * series of positive terms, so summing it never cancels. Its terms are
 * log-concave in k with a single peak at k0 where (k+1)(k+nu+1) crosses
 * (x/2)^2. We take ln t_k0 from lgamma and sum the ratios t_k / t_k0
 * outward from the peak in both directions, so every partial term lies in
 * (0, 1] and nothing can overflow or underflow for any x or nu; only about
 * 20 sqrt(x) terms around the peak matter. The absolute error of the result
 * is a few ulps of (2 k0 + nu) ln(x/2), i.e. ~1e-14 relative to ln I.
 * Pure functions; nothing is cached (callers cache c(d, kappa) if they want).
 */
#include <math.h>

#include "metrics.h"

/* Stop summing once a term is this small relative to the partial sum. Far
 * from the peak the ratio of successive terms is < 0.95 even at x = 1e5, so
 * the neglected tail is below 20x this, far under one ulp of the sum. */
#define S_TAIL 1e-20
/* A hard bound on terms per direction; ~20 sqrt(x) + nu are ever needed. */
#define S_MAX_TERMS 100000000L
#define S_PI 3.14159265358979323846264338327950288

/* ln(e^a + e^b), exact for infinities. */
static double s_logaddexp(double a, double b)
{
    double hi = a > b ? a : b, lo = a > b ? b : a;
    if (hi == -INFINITY)
        return -INFINITY;
    return hi + log1p(exp(lo - hi));
}

double metrics_log_bessel_i(double nu, double x)
{
    if (!(nu > -1.0) || !(x >= 0.0) || isinf(nu))
        return NAN;
    if (x == 0.0)
        return nu == 0.0 ? 0.0 : (nu > 0.0 ? -INFINITY : INFINITY);
    if (isinf(x))
        return INFINITY;

    double h = 0.5 * x, q = h * h;
    /* Positive root of (k+1)(k+nu+1) = q; the peak is at its ceiling. */
    double root = 0.5 * (sqrt(nu * nu + x * x) - (nu + 2.0));
    double k0 = root > 0.0 ? ceil(root) : 0.0;

    double sum = 1.0, t = 1.0, k = k0;
    for (long i = 0; i < S_MAX_TERMS; i++, k += 1.0) {
        t *= q / ((k + 1.0) * (k + nu + 1.0));
        sum += t;
        if (t < S_TAIL * sum)
            break;
    }
    t = 1.0;
    for (k = k0; k >= 1.0; k -= 1.0) {
        t *= (k * (k + nu)) / q;
        sum += t;
        if (t < S_TAIL * sum)
            break;
    }
    /* lgamma_r, not lgamma: lgamma writes the global signgam, a data race
     * between worker threads (found by TSan). Both arguments are > 0. */
    int sign;
    return (2.0 * k0 + nu) * log(h) - lgamma_r(k0 + 1.0, &sign) - lgamma_r(k0 + nu + 1.0, &sign) +
           log(sum);
}

double metrics_vmf_log_norm(size_t d, double kappa)
{
    if (d == 0 || !(kappa > 0.0) || isinf(kappa))
        return NAN;
    double half = 0.5 * (double)d, nu = half - 1.0;
    double ln_i = metrics_log_bessel_i(nu, kappa);
    return -nu * log(kappa) + half * log(2.0 * S_PI) + s_logaddexp(ln_i, log(1e-7));
}
