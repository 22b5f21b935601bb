/* metrics.c: the collapse metrics of shared/vectors/README.md, as pure
 * numeric kernels (no I/O, no globals; thread-safe). The Bessel function and
 * the vMF normaliser live in bessel.c.
 *
 * Two paths share the small finishing steps:
 *  - the double reference path applies each formula literally, in double, to
 *    the input as given; only the numerically necessary changes are made:
 *    every log-sum-exp subtracts its maximum, Sinkhorn runs on log Q,
 *    W2 uses a symmetric eigensolver and clamps, RankMe uses an SVD.
 *  - the float path (metrics_*_f32) is what the daemon's workers run. For ER
 *    entropy it never holds the N x N Gram matrix: the upper triangle is
 *    produced tile by tile (cblas_ssyrk on diagonal tiles, cblas_sgemm on
 *    the tiles above them, so half the Gram flops are saved) and each tile
 *    is folded into a per-row running (max, sum) pair in double, an online
 *    log-sum-exp. Memory is O(N + T^2) with T = S_TILE, from a reusable
 *    metrics_ws_t.
 * Allocation failure aborts (the daemon may abort on OOM), except in
 * metrics_sinkhorn, whose contract returns -ENOMEM.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "metrics.h"

/* Rows per Gram tile on the float path: a T x T float tile is 4 MiB, small
 * enough for cache-friendly passes, large enough for BLAS-3 efficiency. */
#define S_TILE 1024

/* The probability floor of the ER reference (README, ER entropy). */
#define S_ER_EPS 1e-7

/* ================================================================ helpers */

static void *s_alloc(size_t count, size_t size)
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

/* Set *why (when asked) and return NaN. */
static double s_undefined(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return NAN;
}

/* A NaN that no explicit check caught can only come from the input. */
static double s_result(double v, const char **why)
{
    if (isnan(v))
        return s_undefined(why, "input contains NaN or infinity");
    return v;
}

static int s_kappa_ok(double kappa)
{
    return kappa > 0.0 && isfinite(kappa);
}

/* ln sum_j exp(v[j]), max-subtracted; -inf for n == 0. */
static double s_lse(const double *v, size_t n)
{
    double m = -INFINITY;
    for (size_t j = 0; j < n; j++)
        if (v[j] > m)
            m = v[j];
    if (!isfinite(m))
        return m; /* -inf: empty or all -inf; +inf or NaN propagate */
    double s = 0.0;
    for (size_t j = 0; j < n; j++)
        s += exp(v[j] - m);
    return m + log(s);
}

/* Fold a partial log-sum-exp (mt, st), meaning mt + ln st, into the running
 * pair (*m, *s). st == 0 contributes nothing; *s == 0 means "empty". */
static void s_lse_merge(double *m, double *s, double mt, double st)
{
    if (!(st > 0.0))
        return;
    if (!(*s > 0.0)) {
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
static double s_er_sphere_finish(const double *s, size_t n, double c,
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
static double s_er_discrete_finish(const double *m, size_t d, ew_reduction_t r)
{
    double acc = 0.0;
    if (r == EW_REDUCE_AVERAGE) {
        for (size_t k = 0; k < d; k++)
            acc += log(m[k] + S_ER_EPS);
        return -acc / (double)d;
    }
    for (size_t k = 0; k < d; k++)
        acc += m[k] * log(m[k] + S_ER_EPS);
    return -acc;
}

/* Common argument checks; returns a reason, or NULL when fine. */
static const char *s_er_check(size_t n, size_t d, ew_support_t s, double kappa)
{
    if (n == 0 || d == 0)
        return "empty batch (N = 0 or d = 0)";
    if (s != EW_SUPPORT_SPHERE && s != EW_SUPPORT_DISCRETE)
        return "unknown support";
    if (s == EW_SUPPORT_SPHERE && !s_kappa_ok(kappa))
        return "kappa must be finite and > 0";
    return NULL;
}

double metrics_er_entropy(const double *z, size_t n, size_t d, ew_support_t s,
                          double kappa, ew_reduction_t r, const char **why)
{
    const char *bad = s_er_check(n, d, s, kappa);
    if (bad)
        return s_undefined(why, bad);

    if (s == EW_SUPPORT_DISCRETE) {
        double *m = calloc(d, sizeof *m);
        if (!m)
            abort();
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < d; k++)
                m[k] += z[i * d + k];
        for (size_t k = 0; k < d; k++)
            m[k] /= (double)n;
        double h = s_er_discrete_finish(m, d, r);
        free(m);
        return s_result(h, why);
    }

    double *row = s_alloc(n, sizeof *row), *lse = s_alloc(n, sizeof *lse);
    for (size_t i = 0; i < n; i++) {
        /* row_j = kappa <z_j, z_i> */
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)d, kappa, z,
                    (int)d, z + i * d, 1, 0.0, row, 1);
        lse[i] = s_lse(row, n);
    }
    double h = s_er_sphere_finish(lse, n, metrics_vmf_log_norm(d, kappa), r);
    free(row);
    free(lse);
    return s_result(h, why);
}

/* R for the discrete support, summed per row in double. */
static double s_recon_discrete_row(const double *a, const double *b, size_t d)
{
    double ab = 0.0, ba = 0.0;
    for (size_t k = 0; k < d; k++) {
        ab += a[k] * log(b[k] + S_ER_EPS);
        ba += b[k] * log(a[k] + S_ER_EPS);
    }
    return 0.5 * (-ab - ba);
}

double metrics_er_reconstruction(const double *a, const double *b, size_t n,
                                 size_t d, ew_support_t s, double kappa,
                                 const char **why)
{
    const char *bad = s_er_check(n, d, s, kappa);
    if (bad)
        return s_undefined(why, bad);

    double acc = 0.0;
    if (s == EW_SUPPORT_DISCRETE) {
        for (size_t i = 0; i < n; i++)
            acc += s_recon_discrete_row(a + i * d, b + i * d, d);
        return s_result(acc / (double)n, why);
    }
    for (size_t i = 0; i < n; i++)
        acc += cblas_ddot((int)d, a + i * d, 1, b + i * d, 1);
    double c = metrics_vmf_log_norm(d, kappa);
    return s_result(c - kappa * (acc / (double)n), why);
}

/* ================================================================ float */

struct metrics_ws {
    float *tile;       /* one Gram tile, S_TILE x S_TILE at most */
    size_t tile_cap;
    double *m, *s;     /* per-row running LSE (max, scaled sum), N each */
    size_t row_cap;
    double *cm, *cs;   /* per-tile column (max, sum), S_TILE each */
    size_t col_cap;
    double *mean;      /* column means for the discrete support, d */
    size_t mean_cap;
};

metrics_ws_t *metrics_ws_new(void)
{
    metrics_ws_t *ws = calloc(1, sizeof *ws);
    if (!ws)
        abort();
    return ws;
}

void metrics_ws_destroy(metrics_ws_t **wsp)
{
    if (!wsp || !*wsp)
        return;
    metrics_ws_t *ws = *wsp;
    free(ws->tile);
    free(ws->m);
    free(ws->s);
    free(ws->cm);
    free(ws->cs);
    free(ws->mean);
    free(ws);
    *wsp = NULL;
}

/* Make *p hold at least need elements of size sz; contents are not kept. */
static void s_reserve(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return;
    free(*p);
    *p = s_alloc(need, sz);
    *cap = need;
}

/* Reserve two arrays that share one capacity counter. */
static void s_reserve2(double **a, double **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap;
    s_reserve((void **)a, &c, need, sizeof **a);
    s_reserve((void **)b, cap, need, sizeof **b);
}

void metrics_l2_normalise_f32(float *z, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        float *row = z + i * d;
        double ss = 0.0;
        for (size_t k = 0; k < d; k++)
            ss += (double)row[k] * row[k];
        if (ss > 0.0) {
            double inv = 1.0 / sqrt(ss);
            for (size_t k = 0; k < d; k++)
                row[k] = (float)(row[k] * inv);
        }
    }
}

/* Fold each row of a rows x cols tile (scaled by kappa) into (m, s). */
static void s_tile_rows(const float *tile, size_t rows, size_t cols,
                        double kappa, double *m, double *s)
{
    for (size_t i = 0; i < rows; i++) {
        const float *t = tile + i * cols;
        float tmax = -INFINITY;
        for (size_t j = 0; j < cols; j++)
            if (t[j] > tmax)
                tmax = t[j];
        double mt = kappa * tmax, st = 0.0;
        for (size_t j = 0; j < cols; j++)
            st += exp(kappa * t[j] - mt);
        s_lse_merge(&m[i], &s[i], mt, st);
    }
}

/* Fold each column of the tile into (m, s) of the rows it stands for;
 * two row-wise sweeps keep the access contiguous. */
static void s_tile_cols(const float *tile, size_t rows, size_t cols,
                        double kappa, double *m, double *s, double *cm,
                        double *cs)
{
    for (size_t j = 0; j < cols; j++) {
        cm[j] = -INFINITY;
        cs[j] = 0.0;
    }
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            if (tile[i * cols + j] > cm[j])
                cm[j] = tile[i * cols + j];
    for (size_t j = 0; j < cols; j++)
        cm[j] *= kappa;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            cs[j] += exp(kappa * tile[i * cols + j] - cm[j]);
    for (size_t j = 0; j < cols; j++)
        s_lse_merge(&m[j], &s[j], cm[j], cs[j]);
}

/* s_i = LSE_j(kappa <z_i, z_j>) for all i, into ws->m (see file comment).
 * kappa > 0, so the max of kappa * g is kappa * (max of g). */
static void s_er_lse_f32(const float *z, size_t n, size_t d, double kappa,
                         metrics_ws_t *ws)
{
    size_t T = n < S_TILE ? n : S_TILE;
    s_reserve((void **)&ws->tile, &ws->tile_cap, T * T, sizeof *ws->tile);
    s_reserve2(&ws->m, &ws->s, &ws->row_cap, n);
    s_reserve2(&ws->cm, &ws->cs, &ws->col_cap, T);
    for (size_t i = 0; i < n; i++) {
        ws->m[i] = -INFINITY;
        ws->s[i] = 0.0;
    }
    float *tile = ws->tile;
    for (size_t i0 = 0; i0 < n; i0 += T) {
        size_t ni = n - i0 < T ? n - i0 : T;
        const float *ai = z + i0 * d;
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)ni, (int)d,
                    1.0f, ai, (int)d, 0.0f, tile, (int)ni);
        for (size_t i = 0; i < ni; i++) /* mirror the upper triangle */
            for (size_t j = i + 1; j < ni; j++)
                tile[j * ni + i] = tile[i * ni + j];
        s_tile_rows(tile, ni, ni, kappa, ws->m + i0, ws->s + i0);

        for (size_t j0 = i0 + T; j0 < n; j0 += T) {
            size_t nj = n - j0 < T ? n - j0 : T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ni,
                        (int)nj, (int)d, 1.0f, ai, (int)d, z + j0 * d, (int)d,
                        0.0f, tile, (int)nj);
            s_tile_rows(tile, ni, nj, kappa, ws->m + i0, ws->s + i0);
            s_tile_cols(tile, ni, nj, kappa, ws->m + j0, ws->s + j0, ws->cm,
                        ws->cs);
        }
    }
    for (size_t i = 0; i < n; i++)
        ws->m[i] += log(ws->s[i]);
}

/* Column means of a float matrix, in double, into ws->mean. */
static const double *s_mean_f32(const float *z, size_t n, size_t d,
                                metrics_ws_t *ws)
{
    s_reserve((void **)&ws->mean, &ws->mean_cap, d, sizeof *ws->mean);
    double *m = ws->mean;
    for (size_t k = 0; k < d; k++)
        m[k] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++)
            m[k] += z[i * d + k];
    for (size_t k = 0; k < d; k++)
        m[k] /= (double)n;
    return m;
}

double metrics_er_entropy_f32(const float *z, size_t n, size_t d,
                              ew_support_t s, double kappa, ew_reduction_t r,
                              metrics_ws_t *ws, const char **why)
{
    const char *bad = s_er_check(n, d, s, kappa);
    if (bad)
        return s_undefined(why, bad);
    if (s == EW_SUPPORT_DISCRETE)
        return s_result(s_er_discrete_finish(s_mean_f32(z, n, d, ws), d, r),
                        why);
    s_er_lse_f32(z, n, d, kappa, ws);
    double c = metrics_vmf_log_norm(d, kappa);
    return s_result(s_er_sphere_finish(ws->m, n, c, r), why);
}

double metrics_er_reconstruction_f32(const float *a, const float *b, size_t n,
                                     size_t d, ew_support_t s, double kappa,
                                     metrics_ws_t *ws, const char **why)
{
    (void)ws; /* row-wise only: no scratch needed today */
    const char *bad = s_er_check(n, d, s, kappa);
    if (bad)
        return s_undefined(why, bad);

    double acc = 0.0;
    if (s == EW_SUPPORT_DISCRETE) {
        for (size_t i = 0; i < n; i++) {
            const float *ai = a + i * d, *bi = b + i * d;
            double ab = 0.0, ba = 0.0;
            for (size_t k = 0; k < d; k++) {
                ab += ai[k] * log(bi[k] + S_ER_EPS);
                ba += bi[k] * log(ai[k] + S_ER_EPS);
            }
            acc += 0.5 * (-ab - ba);
        }
        return s_result(acc / (double)n, why);
    }
    for (size_t i = 0; i < n; i++) /* dsdot accumulates in double */
        acc += cblas_dsdot((int)d, a + i * d, 1, b + i * d, 1);
    double c = metrics_vmf_log_norm(d, kappa);
    return s_result(c - kappa * (acc / (double)n), why);
}
