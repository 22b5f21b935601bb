/* metrics.c: the double reference path of the collapse metrics of
 * tests/vectors/README.md, as pure numeric kernels (no I/O, no globals;
 * thread-safe). The helpers it shares with the float path (metrics_f32.c)
 * are in metrics_common.c (metrics_impl.h); the Bessel function and the vMF
 * normaliser live in bessel.c.
 *
 * The reference path applies each formula literally, in double, to the input
 * as given; only the numerically necessary changes are made: every
 * log-sum-exp subtracts its maximum, Sinkhorn runs on log Q, W2 uses a
 * symmetric eigensolver and clamps, RankMe uses an SVD. ER entropy never
 * holds the N x N Gram matrix: it is produced in square tiles (S_TILE64
 * rows) and each tile row is folded into that row's running (max, sum) pair,
 * an online log-sum-exp, so memory is O(N + S_TILE64^2) for any N.
 * Allocation failure aborts (the daemon may abort on OOM), except in
 * metrics_sinkhorn, whose contract returns -ENOMEM.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "metrics.h"
#include "metrics_impl.h"

/* Rows per Gram tile of the reference ER entropy (8 MiB tiles). */
#define S_TILE64 1024

/* ================================================================ helpers */

/* ln sum_j exp(v[j]), max-subtracted; -inf for n == 0. */
static double s_lse(const double *v, size_t n)
{
    double m = -INFINITY;
    for (size_t j = 0; j < n; j++) {
        if (v[j] > m)
            m = v[j];
        else if (isnan(v[j]))
            return NAN;
    }
    if (!isfinite(m))
        return m; /* -inf: empty or all -inf; +inf propagates */
    double s = 0.0;
    for (size_t j = 0; j < n; j++)
        s += exp(v[j] - m);
    return m + log(s);
}

/* ================================================================ ER */

double metrics_er_entropy(const double *z, size_t n, size_t d, ew_support_t s, double kappa,
                          ew_reduction_t r, const char **why)
{
    const char *bad = metrics__er_check(n, d, s, kappa);
    if (bad)
        return metrics__undefined(why, bad);

    if (s == EW_SUPPORT_DISCRETE) {
        double *m = calloc(d, sizeof *m);
        if (!m)
            abort();
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < d; k++)
                m[k] += z[i * d + k];
        for (size_t k = 0; k < d; k++)
            m[k] /= (double)n;
        double h = metrics__er_discrete_finish(m, d, r);
        free(m);
        return metrics__result(h, why);
    }

    /* kappa Z Z^T tile by tile (S_TILE64 square), each tile row folded into
     * that row's running log-sum-exp: O(N + T^2) memory for any N. */
    size_t T = n < S_TILE64 ? n : S_TILE64;
    double *g = metrics__alloc(T * T, sizeof *g);
    double *m = metrics__alloc(n, sizeof *m), *acc = metrics__alloc(n, sizeof *acc);
    for (size_t i = 0; i < n; i++) {
        m[i] = -INFINITY;
        acc[i] = 0.0;
    }
    for (size_t i0 = 0; i0 < n; i0 += T) {
        size_t ni = n - i0 < T ? n - i0 : T;
        for (size_t j0 = 0; j0 < n; j0 += T) {
            size_t nj = n - j0 < T ? n - j0 : T;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ni, (int)nj, (int)d, kappa,
                        z + i0 * d, (int)d, z + j0 * d, (int)d, 0.0, g, (int)nj);
            for (size_t u = 0; u < ni; u++)
                metrics__lse_merge(&m[i0 + u], &acc[i0 + u], s_lse(g + u * nj, nj), 1.0);
        }
    }
    for (size_t i = 0; i < n; i++)
        m[i] += log(acc[i]);
    double h = metrics__er_sphere_finish(m, n, metrics_vmf_log_norm(d, kappa), r);
    free(g);
    free(m);
    free(acc);
    return metrics__result(h, why);
}

/* R for the discrete support, summed per row in double. */
static double s_recon_discrete_row(const double *a, const double *b, size_t d)
{
    double ab = 0.0, ba = 0.0;
    for (size_t k = 0; k < d; k++) {
        ab += a[k] * log(b[k] + METRICS__ER_EPS);
        ba += b[k] * log(a[k] + METRICS__ER_EPS);
    }
    return 0.5 * (-ab - ba);
}

double metrics_er_reconstruction(const double *a, const double *b, size_t n, size_t d,
                                 ew_support_t s, double kappa, const char **why)
{
    const char *bad = metrics__er_check(n, d, s, kappa);
    if (bad)
        return metrics__undefined(why, bad);

    double acc = 0.0;
    if (s == EW_SUPPORT_DISCRETE) {
        for (size_t i = 0; i < n; i++)
            acc += s_recon_discrete_row(a + i * d, b + i * d, d);
        return metrics__result(acc / (double)n, why);
    }
    for (size_t i = 0; i < n; i++)
        acc += cblas_ddot((int)d, a + i * d, 1, b + i * d, 1);
    double c = metrics_vmf_log_norm(d, kappa);
    return metrics__result(c - kappa * (acc / (double)n), why);
}

/* ================================================================ geometry */

double metrics_align(const double *x, const double *y, size_t n, size_t d, double alpha,
                     const char **why)
{
    if (n == 0)
        return metrics__undefined(why, "empty batch (N = 0)");
    if (!(alpha > 0.0) || isinf(alpha))
        return metrics__undefined(why, "alpha must be finite and > 0");
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        double ss = 0.0;
        for (size_t k = 0; k < d; k++) {
            double t = x[i * d + k] - y[i * d + k];
            ss += t * t;
        }
        /* ||.||^2 needs no sqrt; other exponents go through the norm */
        acc += alpha == 2.0 ? ss : pow(sqrt(ss), alpha);
    }
    return metrics__result(acc / (double)n, why);
}

double metrics_uniform(const double *x, size_t n, size_t d, double t, const char **why)
{
    if (n < 2)
        return metrics__undefined(why, "uniformity needs N >= 2 (no pairs)");
    if (!(t > 0.0) || isinf(t))
        return metrics__undefined(why, "t must be finite and > 0");
    /* LSE over the pairs i < j, one exact-max LSE per row i folded into a
     * running total; distances from differences, not from the Gram matrix,
     * so identical rows give exactly 0. */
    double *row = metrics__alloc(n, sizeof *row), m = -INFINITY, s = 0.0;
    for (size_t i = 0; i + 1 < n; i++) {
        const double *xi = x + i * d;
        for (size_t j = i + 1; j < n; j++) {
            const double *xj = x + j * d;
            double ss = 0.0;
            for (size_t k = 0; k < d; k++) {
                double u = xi[k] - xj[k];
                ss += u * u;
            }
            row[j - i - 1] = -t * ss;
        }
        double l = s_lse(row, n - i - 1);
        if (l != -INFINITY)
            metrics__lse_merge(&m, &s, l, 1.0);
    }
    free(row);
    double pairs = 0.5 * (double)n * (double)(n - 1);
    return metrics__result(m + log(s) - log(pairs), why);
}

/* ================================================================ spectra */

/* Mean (OUT mu, d), centred copy (OUT xc, n x d) and the eigenvalues of the
 * biased covariance (OUT lam, sorted ascending, d of them: those of the
 * smaller of the d x d covariance and the n x n centred Gram, padded with
 * exact zeros; both have the same nonzero spectrum). Returns tr(Sigma) and
 * ||mu||^2 in *tr, *mu2; 0, or -1 when the eigensolver fails. */
static int s_cov_spectrum(const double *x, size_t n, size_t d, double *lam, double *tr, double *mu2)
{
    double *mu = calloc(d, sizeof *mu);
    double *xc = metrics__alloc(n * d, sizeof *xc);
    if (!mu)
        abort();
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++)
            mu[k] += x[i * d + k];
    *mu2 = 0.0;
    for (size_t k = 0; k < d; k++) {
        mu[k] /= (double)n;
        *mu2 += mu[k] * mu[k];
    }
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++) {
            double u = x[i * d + k] - mu[k];
            xc[i * d + k] = u;
            ss += u * u;
        }
    *tr = ss / (double)n;

    size_t p = n < d ? n : d;
    double *c = metrics__alloc(p * p, sizeof *c);
    if (n < d) /* (1/n) Xc Xc^T */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0 / (double)n, xc,
                    (int)d, 0.0, c, (int)p);
    else /* (1/n) Xc^T Xc */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0 / (double)n, xc,
                    (int)d, 0.0, c, (int)p);
    for (size_t k = 0; k < d - p; k++)
        lam[k] = 0.0;
    lapack_int info =
        LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)p, c, (lapack_int)p, lam + (d - p));
    free(c);
    free(xc);
    free(mu);
    return info == 0 ? 0 : -1;
}

double metrics_w2(const double *x, size_t n, size_t d, double eps, const char **why)
{
    const char *bad = metrics__spectral_check(NULL, x, n, d);
    if (bad)
        return metrics__undefined(why, bad);
    if (!(eps >= 0.0) || isinf(eps))
        return metrics__undefined(why, "eps must be finite and >= 0");
    double *lam = metrics__alloc(d, sizeof *lam), tr, mu2;
    int rc = s_cov_spectrum(x, n, d, lam, &tr, &mu2);
    double roots = 0.0;
    for (size_t k = 0; k < d; k++) /* a symmetric PSD matrix: lam >= 0 */
        roots += sqrt((lam[k] > 0.0 ? lam[k] : 0.0) + eps);
    free(lam);
    if (rc != 0)
        return metrics__undefined(why, "eigensolver did not converge");
    double w2sq = mu2 + 1.0 + tr - 2.0 / sqrt((double)d) * roots;
    return metrics__result(sqrt(w2sq > 0.0 ? w2sq : 0.0), why);
}

double metrics_w2_loss(const double *x, size_t n, size_t d, double ridge, const char **why)
{
    const char *bad = metrics__spectral_check(NULL, x, n, d);
    if (bad)
        return metrics__undefined(why, bad);
    if (!(ridge >= 0.0) || isinf(ridge))
        return metrics__undefined(why, "ridge must be finite and >= 0");
    double *lam = metrics__alloc(d, sizeof *lam), tr, mu2;
    int rc = s_cov_spectrum(x, n, d, lam, &tr, &mu2);
    double roots = 0.0;
    for (size_t k = 0; k < d; k++) /* eigenvalues of Sigma + ridge I */
        roots += sqrt(fabs(lam[k] + ridge));
    free(lam);
    if (rc != 0)
        return metrics__undefined(why, "eigensolver did not converge");
    double wsq = mu2 + 1.0 + tr + (double)d * ridge - 2.0 / sqrt((double)d) * roots;
    return metrics__result(sqrt(wsq > 0.0 ? wsq : 0.0), why);
}

double metrics_rankme(const double *x, size_t n, size_t d, double eps, const char **why)
{
    const char *bad = metrics__spectral_check(NULL, x, n, d);
    if (bad)
        return metrics__undefined(why, bad);
    if (!(eps >= 0.0) || isinf(eps))
        return metrics__undefined(why, "eps must be finite and >= 0");
    /* The SVD itself, not the eigenvalues of a Gram matrix: those would
     * square the condition number and bury the small singular values that
     * dominate -p ln p near rank deficiency. */
    size_t r = n < d ? n : d;
    double *a = metrics__alloc(n * d, sizeof *a), *sv = metrics__alloc(r, sizeof *sv);
    memcpy(a, x, n * d * sizeof *a);
    /* U and V^T are not referenced for jobz = 'N', but the row-major
     * LAPACKE wrapper still insists on ldvt >= d (and ldu >= 1). */
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int)n, (lapack_int)d, a,
                                     (lapack_int)d, sv, NULL, (lapack_int)n, NULL, (lapack_int)d);
    free(a);
    double total = 0.0;
    for (size_t k = 0; k < r; k++)
        total += sv[k];
    double h = 0.0;
    for (size_t k = 0; k < r && total > 0.0; k++) {
        double p = sv[k] / total + eps;
        h -= p * log(p);
    }
    free(sv);
    if (info != 0)
        return metrics__undefined(why, "SVD did not converge");
    if (!(total > 0.0))
        return metrics__undefined(why, "all-zero matrix (no singular values)");
    return metrics__result(exp(h), why);
}

double metrics_std_l2(const double *x, size_t n, size_t d, const char **why)
{
    return metrics__std_l2(NULL, x, n, d, why);
}

/* ================================================================ sinkhorn */

/* In the log domain on q itself (b x k, the transpose of the reference's
 * K x B Q): no exp can overflow, and a prototype whose scores all underflow
 * in the linear domain still gets its share. */
int metrics_sinkhorn(const double *s, size_t b, size_t k, double eps, int iters, double *q,
                     const char **why)
{
    const char *bad = NULL;
    if (b == 0 || k == 0)
        bad = "empty score matrix";
    else if (!(eps > 0.0) || isinf(eps))
        bad = "eps must be finite and > 0";
    else if (iters < 0)
        bad = "iters must be >= 0";
    else if (!metrics__all_finite(s, b * k))
        bad = "scores contain NaN or infinity";
    if (bad) {
        if (why)
            *why = bad;
        return -EINVAL;
    }
    double *cm = malloc(k * sizeof *cm), *cs = malloc(k * sizeof *cs);
    if (!cm || !cs) {
        free(cm);
        free(cs);
        if (why)
            *why = "out of memory";
        return -ENOMEM;
    }

    for (size_t j = 0; j < b * k; j++)
        q[j] = s[j] / eps;
    double total = s_lse(q, b * k); /* Q /= sum Q */
    for (size_t j = 0; j < b * k; j++)
        q[j] -= total;
    double ln_b = log((double)b), ln_k = log((double)k);
    for (int it = 0; it < iters; it++) {
        /* each prototype (column here) sums to 1/K */
        for (size_t c = 0; c < k; c++) {
            cm[c] = -INFINITY;
            cs[c] = 0.0;
        }
        for (size_t i = 0; i < b; i++)
            for (size_t c = 0; c < k; c++)
                if (q[i * k + c] > cm[c])
                    cm[c] = q[i * k + c];
        for (size_t i = 0; i < b; i++)
            for (size_t c = 0; c < k; c++)
                cs[c] += exp(q[i * k + c] - cm[c]);
        for (size_t c = 0; c < k; c++)
            cm[c] += log(cs[c]) + ln_k;
        for (size_t i = 0; i < b; i++)
            for (size_t c = 0; c < k; c++)
                q[i * k + c] -= cm[c];
        /* each sample (row here) sums to 1/B */
        for (size_t i = 0; i < b; i++) {
            double l = s_lse(q + i * k, k) + ln_b;
            for (size_t c = 0; c < k; c++)
                q[i * k + c] -= l;
        }
    }
    for (size_t j = 0; j < b * k; j++) /* Q *= B */
        q[j] = exp(q[j] + ln_b);
    free(cm);
    free(cs);
    return 0;
}
