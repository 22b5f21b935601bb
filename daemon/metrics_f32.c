/* metrics_f32.c: the float path of the collapse metrics, what the daemon's
 * workers run (contract in metrics.h; formulas in tests/vectors/README.md).
 * Pure code: no I/O, no globals; all scratch memory lives in the caller's
 * metrics_ws_t, so any number of threads may run it at once.
 *
 * Design decisions a reader must know:
 *  - The N x N Gram matrix is never held: it comes in S_TILE x S_TILE float
 *    tiles, upper triangle only (cblas_ssyrk on diagonal tiles, cblas_sgemm
 *    above them), and each tile is folded at once into per-row sums. ER
 *    entropy and uniformity share one pass (one fused kernel reads each Gram
 *    entry once), so the Gram flops are paid once.
 *  - The fold costs one exp per pair. It uses our own float exp (metrics_simd.c:
 *    Cody-Waite reduction + degree-6 polynomial, under 1.5 ulp),
 *    eight lanes at a time with AVX2+FMA when the CPU has them (chosen at run
 *    time), else portable C. Terms lie in (0, 1] and are summed in double.
 *  - ER needs LSE_j(kappa g_ij) per row. Instead of each row's exact maximum
 *    (two exps per pair: one for the row, one for the column), one shift
 *    kappa * max_i ||z_i||^2 bounds every g_ij (Cauchy-Schwarz), so each
 *    pair's single exp feeds both its row and its column. That is exact
 *    unless a row's own terms sit far below the shift (a short or zero row at
 *    large kappa); such rows are recomputed with their exact maximum, and
 *    when there are many the whole batch takes the two-exp exact form.
 *  - Uniformity is one global LSE; shift 0 is right for rows of norm <= 1.
 *    If every pair is far below it, a second pass uses the true maximum.
 *    Its distances come from the Gram matrix, which is exact enough for
 *    unit rows; long rows close together (not normalised) would lose too
 *    much to cancellation and take the double difference form instead.
 *  - W2 and RankMe need eigenvalues: the smaller of the d x d scatter matrix
 *    and the N x N Gram matrix is built in double from the float rows (the
 *    products are exact in double; a float covariance is too noisy for W2,
 *    README pitfall 8) and reduced by LAPACK dsyevd. RankMe's singular values
 *    are the square roots of the uncentred one's eigenvalues. The two are
 *    spectra of different matrices (W2: centred, normalised rows; RankMe:
 *    raw rows), so a set needs two eigensolves; RankMe and the spectrum
 *    share one.
 *  - Norms and row dot products are accumulated in double by our own kernel
 *    (metrics__dot), not cblas_dsdot: OpenBLAS's dsdot sums float products.
 *  - Sinkhorn runs on log Q in double; only its exps use the float exp.
 * Allocation failure aborts (the daemon may abort on OOM).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "metrics.h"
#include "metrics_impl.h"
#include "metrics_simd.h"

/* Rows per Gram tile: a 1 MiB float tile stays in L2 while it is folded,
 * and is still large enough for BLAS-3 speed (measured on N = 4096: tiles
 * of 512 to 4096 rows are within a few % of one ssyrk call). */
#define S_TILE 512
/* A row whose own terms may lie e^30 below the shared ER shift is
 * recomputed with its exact maximum: past that, float terms start to
 * underflow (e^-87) before they stop mattering. */
#define S_SLOW_GAP 30.0
/* If the uniformity's largest term is below e^-40 at shift 0, the terms that
 * underflowed could matter (N^2 e^-87 vs e^-40): redo with the true max. */
#define S_UNI_REDO (-40.0f)
/* Uniformity from the float Gram matrix is kept while t max||z||^2 <=
 * S_UNI_CANCEL max(1, |L_U|): then the cancellation error in each exponent,
 * about 2t max||z||^2 * 2.4e-7 (a few float roundings of the dot product),
 * stays under the float32 tolerance table's 2e-6 max(1, |L_U|). Unit rows
 * qualify for t <= 4 even when collapsed (L_U = 0). */
#define S_UNI_CANCEL 4.0
/* Row norms beyond this would overflow float Gram entries or exponents;
 * such batches take the double reference path instead. */
#define S_F32_NORM2_MAX 1e30
/* Doubles per block when widening rows for the double scatter matrix. */
#define S_BLK64 (1u << 20)

/* ================================================================ workspace */

struct metrics_ws {
    int isa; /* 1: AVX2+FMA kernels, 0: portable C */
    float *tile;
    size_t tile_cap;
    float *xs, *ys; /* l2-normalised copies for the sphere metrics */
    size_t xs_cap, ys_cap;
    float *rows; /* gathered rows to recompute exactly */
    size_t rows_cap;
    size_t *idx;
    size_t idx_cap;
    double *n2, *acc, *m, *s; /* per row: squared norm, LSE state */
    size_t n2_cap, acc_cap, m_cap, s_cap;
    float *ua; /* per row: -t ||z_i||^2 */
    size_t ua_cap;
    float *cm; /* per tile column: max */
    size_t cm_cap;
    double *cs; /* per tile column: sum */
    size_t cs_cap;
    double *mu, *cov, *blk, *eig, *work;
    size_t mu_cap, cov_cap, blk_cap, eig_cap, work_cap;
    lapack_int *iwork;
    size_t iwork_cap;
    double *lq; /* Sinkhorn: log Q */
    size_t lq_cap;
    float *fbuf, *qx, *qy; /* Sinkhorn scratch and assignments */
    size_t fbuf_cap, qx_cap, qy_cap;
};

metrics_ws_t *metrics_ws_new(void)
{
    metrics_ws_t *ws = calloc(1, sizeof *ws);
    if (!ws)
        abort();
    ws->isa = metrics__best_isa();
    return ws;
}

void metrics_ws_destroy(metrics_ws_t **wsp)
{
    if (!wsp || !*wsp)
        return;
    metrics_ws_t *ws = *wsp;
    free(ws->tile);
    free(ws->xs);
    free(ws->ys);
    free(ws->rows);
    free(ws->idx);
    free(ws->n2);
    free(ws->acc);
    free(ws->m);
    free(ws->s);
    free(ws->ua);
    free(ws->cm);
    free(ws->cs);
    free(ws->mu);
    free(ws->cov);
    free(ws->blk);
    free(ws->eig);
    free(ws->work);
    free(ws->iwork);
    free(ws->lq);
    free(ws->fbuf);
    free(ws->qx);
    free(ws->qy);
    free(ws);
    *wsp = NULL;
}

void metrics__ws_set_isa(metrics_ws_t *ws, int isa)
{
    ws->isa = isa ? metrics__best_isa() : 0;
}

/* Make *p hold at least count elements of size sz; contents are not kept. */
static void s_grow(void **p, size_t *cap, size_t count, size_t sz)
{
    if (count <= *cap && *p)
        return;
    free(*p);
    *p = metrics__alloc(count, sz);
    *cap = count;
}

#define S_GROW(ws, f, count) s_grow((void **)&(ws)->f, &(ws)->f##_cap, (count), sizeof *(ws)->f)

/* ================================================================ helpers */

/* Squared row norms in double (exact products), into ws->n2; their max in
 * *n2max. Returns 0, or -1 when a row holds NaN or infinity. */
static int s_row_norms(const float *z, size_t n, size_t d, metrics_ws_t *ws, double *n2max)
{
    S_GROW(ws, n2, n);
    double mx = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = metrics__dot(ws->isa, z + i * d, z + i * d, d);
        if (!isfinite(v))
            return -1;
        ws->n2[i] = v;
        mx = v > mx ? v : mx;
    }
    *n2max = mx;
    return 0;
}

/* A double copy of a float matrix, for the rare batches that must take the
 * reference path. Caller frees. */
static double *s_widen(const float *z, size_t count)
{
    double *w = metrics__alloc(count, sizeof *w);
    for (size_t j = 0; j < count; j++)
        w[j] = z[j];
    return w;
}

METRICS__O3 void metrics_l2_normalise_f32(float *z, size_t n, size_t d)
{
    int isa = metrics__best_isa();
    for (size_t i = 0; i < n; i++) {
        float *row = z + i * d;
        double ss = metrics__dot(isa, row, row, d);
        if (ss > 0.0) {
            double inv = 1.0 / sqrt(ss);
            for (size_t k = 0; k < d; k++)
                row[k] = (float)(row[k] * inv);
        }
    }
}

/* ================================================================ Gram pass */

/* What one pass over the Gram tiles computes. */
typedef struct {
    int er;          /* 0: no ER; S_ER_SHARED or S_ER_EXACT */
    double kappa;    /* ER concentration ... */
    float kap, sh;   /* ... in float, and the shared shift (max ||z||^2) */
    double *acc;     /* shared form: per-row sum of exp(kap (g - sh)) */
    double *m, *s;   /* exact form: per-row running (max, sum) */
    float *cm;       /* exact form: per-tile column max ... */
    double *cs;      /* ... and column sum */
    int uni;         /* uniformity wanted */
    float t2, ush;   /* 2t and the global shift */
    const float *ua; /* -t ||z_i||^2 per row */
    double usum;     /* OUT: sum of the terms, relative to ush */
    float umax;      /* OUT: largest exponent, relative to ush */
} s_pass_t;

enum { S_ER_SHARED = 1, S_ER_EXACT = 2 };

/* Fold one tile (rows i0.., columns j0.., ld nj) into the pass. A diagonal
 * tile (i0 == j0) holds only its upper triangle (ssyrk): row i uses columns
 * i+1.., so every unordered pair is visited exactly once, and the exact form
 * recovers the lower half from the column sums. */
static void s_fold_tile(s_pass_t *P, const float *tile, size_t ni, size_t nj, size_t i0, size_t j0,
                        int isa)
{
    int diag = i0 == j0;
    if (P->er == S_ER_EXACT)
        for (size_t c = 0; c < nj; c++) {
            P->cm[c] = -INFINITY;
            P->cs[c] = 0.0;
        }
    for (size_t i = 0; i < ni; i++) {
        size_t off = diag ? i + 1 : 0;
        if (off >= nj)
            continue;
        const float *g = tile + i * nj + off;
        size_t len = nj - off, jj = j0 + off;
        if (P->er == S_ER_SHARED && P->uni) {
            P->acc[i0 + i] += metrics__fold2(isa, g, len, P->kap, P->sh, P->acc + jj, P->ua + jj,
                                             P->t2, P->ua[i0 + i] - P->ush, &P->umax, &P->usum);
            continue;
        }
        if (P->er == S_ER_SHARED) {
            P->acc[i0 + i] += metrics__fold(isa, g, len, P->kap, P->sh, P->acc + jj);
        } else if (P->er == S_ER_EXACT) {
            float mx = metrics__rowmax(isa, g, len);
            double st = metrics__fold(isa, g, len, P->kap, mx, NULL);
            metrics__lse_merge(&P->m[i0 + i], &P->s[i0 + i], P->kappa * mx, st);
            for (size_t c = 0; c < len; c++)
                P->cm[off + c] = g[c] > P->cm[off + c] ? g[c] : P->cm[off + c];
        }
        if (P->uni)
            P->usum +=
                metrics__ufold(isa, g, P->ua + jj, len, P->t2, P->ua[i0 + i] - P->ush, &P->umax);
    }
    if (P->er != S_ER_EXACT)
        return;
    for (size_t i = 0; i < ni; i++) {
        size_t off = diag ? i + 1 : 0;
        if (off < nj)
            metrics__colfold(isa, tile + i * nj + off, P->cm + off, nj - off, P->kap, P->cs + off);
    }
    for (size_t c = 0; c < nj; c++)
        metrics__lse_merge(&P->m[j0 + c], &P->s[j0 + c], P->kappa * P->cm[c], P->cs[c]);
}

/* One pass over the upper triangle of Z Z^T, tile by tile. */
static void s_gram_pass(const float *z, size_t n, size_t d, s_pass_t *P, metrics_ws_t *ws)
{
    size_t T = n < S_TILE ? n : S_TILE;
    S_GROW(ws, tile, T * T);
    if (P->er == S_ER_EXACT) {
        S_GROW(ws, cm, T);
        S_GROW(ws, cs, T);
        P->cm = ws->cm;
        P->cs = ws->cs;
    }
    for (size_t i0 = 0; i0 < n; i0 += T) {
        size_t ni = n - i0 < T ? n - i0 : T;
        const float *a = z + i0 * d;
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)ni, (int)d, 1.0f, a, (int)d, 0.0f,
                    ws->tile, (int)ni);
        s_fold_tile(P, ws->tile, ni, ni, i0, i0, ws->isa);
        for (size_t j0 = i0 + T; j0 < n; j0 += T) {
            size_t nj = n - j0 < T ? n - j0 : T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ni, (int)nj, (int)d, 1.0f, a,
                        (int)d, z + j0 * d, (int)d, 0.0f, ws->tile, (int)nj);
            s_fold_tile(P, ws->tile, ni, nj, i0, j0, ws->isa);
        }
    }
}

/* s_i = LSE_j(kappa <z_i, z_j>) of the m rows listed in idx, each with its
 * own exact maximum, into out[idx[r]]: the rows the shared shift cannot
 * serve. The diagonal comes from the double norms in ws->n2. */
static void s_exact_rows(const float *z, size_t n, size_t d, double kappa, const size_t *idx,
                         size_t m, double *out, metrics_ws_t *ws)
{
    size_t T = n < S_TILE ? n : S_TILE;
    S_GROW(ws, tile, T * T);
    S_GROW(ws, rows, T * d);
    S_GROW(ws, cs, 2 * T);
    double *mm = ws->cs, *ss = ws->cs + T;
    float kap = (float)kappa;
    for (size_t r0 = 0; r0 < m; r0 += T) {
        size_t mc = m - r0 < T ? m - r0 : T;
        for (size_t r = 0; r < mc; r++) {
            memcpy(ws->rows + r * d, z + idx[r0 + r] * d, d * sizeof *z);
            mm[r] = -INFINITY;
            ss[r] = 0.0;
        }
        for (size_t j0 = 0; j0 < n; j0 += T) {
            size_t nj = n - j0 < T ? n - j0 : T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mc, (int)nj, (int)d, 1.0f,
                        ws->rows, (int)d, z + j0 * d, (int)d, 0.0f, ws->tile, (int)nj);
            for (size_t r = 0; r < mc; r++) {
                float *g = ws->tile + r * nj;
                size_t i = idx[r0 + r];
                if (i >= j0 && i < j0 + nj)
                    g[i - j0] = -INFINITY; /* the diagonal comes in double below */
                float mx = metrics__rowmax(ws->isa, g, nj);
                if (mx == -INFINITY)
                    continue;
                double st = metrics__fold(ws->isa, g, nj, kap, mx, NULL);
                metrics__lse_merge(&mm[r], &ss[r], kappa * mx, st);
            }
        }
        for (size_t r = 0; r < mc; r++) {
            size_t i = idx[r0 + r];
            metrics__lse_merge(&mm[r], &ss[r], kappa * ws->n2[i], 1.0);
            out[i] = mm[r] + log(ss[r]);
        }
    }
}

/* ER entropy (sphere; when h is not NULL) and uniformity (when lu is not
 * NULL) of the rows of z as given, from one pass over the float Gram
 * matrix. Each result is NaN with *why_* set when undefined. */
static void s_gram_metrics(const float *z, size_t n, size_t d, double kappa, ew_reduction_t red,
                           double *h, const char **why_h, double t, double *lu, const char **why_u,
                           metrics_ws_t *ws)
{
    const char *bad;
    if (h && (bad = metrics__er_check(n, d, EW_SUPPORT_SPHERE, kappa)) != NULL) {
        *h = metrics__undefined(why_h, bad);
        h = NULL;
    }
    if (lu) {
        bad = metrics__shape_check(n, d);
        if (!bad && n < 2)
            bad = "uniformity needs N >= 2 (no pairs)";
        if (!bad && (!(t > 0.0) || isinf(t)))
            bad = "t must be finite and > 0";
        if (bad) {
            *lu = metrics__undefined(why_u, bad);
            lu = NULL;
        }
    }
    if (!h && !lu)
        return;

    double n2max;
    if (s_row_norms(z, n, d, ws, &n2max) != 0) {
        if (h)
            *h = metrics__undefined(why_h, "input contains NaN or infinity");
        if (lu)
            *lu = metrics__undefined(why_u, "input contains NaN or infinity");
        return;
    }
    if (n2max > S_F32_NORM2_MAX || (lu && t * n2max > S_F32_NORM2_MAX) ||
        (h && kappa * n2max > S_F32_NORM2_MAX)) {
        double *w = s_widen(z, n * d);
        if (h)
            *h = metrics_er_entropy(w, n, d, EW_SUPPORT_SPHERE, kappa, red, why_h);
        if (lu)
            *lu = metrics_uniform(w, n, d, t, why_u);
        free(w);
        return;
    }

    s_pass_t P = {0};
    size_t nslow = 0;
    if (h) {
        P.kappa = kappa;
        P.kap = (float)kappa;
        P.sh = (float)n2max;
        S_GROW(ws, idx, n);
        for (size_t i = 0; i < n; i++)
            if (kappa * ((double)P.sh - ws->n2[i]) > S_SLOW_GAP)
                ws->idx[nslow++] = i;
        S_GROW(ws, m, n);
        S_GROW(ws, s, n);
        if (nslow * 8 > n) {
            P.er = S_ER_EXACT;
            P.m = ws->m;
            P.s = ws->s;
            for (size_t i = 0; i < n; i++) {
                P.m[i] = -INFINITY;
                P.s[i] = 0.0;
            }
        } else {
            P.er = S_ER_SHARED;
            S_GROW(ws, acc, n);
            P.acc = ws->acc;
            memset(P.acc, 0, n * sizeof *P.acc);
        }
    }
    if (lu) {
        P.uni = 1;
        P.t2 = (float)(2.0 * t);
        S_GROW(ws, ua, n);
        for (size_t i = 0; i < n; i++)
            ws->ua[i] = (float)(-t * ws->n2[i]);
        P.ua = ws->ua;
        P.umax = -INFINITY;
    }
    s_gram_pass(z, n, d, &P, ws);

    if (lu) {
        if (P.umax < S_UNI_REDO) { /* everything far below shift 0 */
            s_pass_t U = P;
            U.er = 0;
            U.ush = P.ush + P.umax;
            U.usum = 0.0;
            U.umax = -INFINITY;
            s_gram_pass(z, n, d, &U, ws);
            P.ush = U.ush;
            P.usum = U.usum;
        }
        double pairs = 0.5 * (double)n * (double)(n - 1);
        double v = (double)P.ush + log(P.usum) - log(pairs);
        /* Distances from the Gram matrix cancel (see S_UNI_CANCEL): long
         * rows close together (never normalised ones with t <= 4) take the
         * difference form in double instead. */
        if (t * n2max > S_UNI_CANCEL * fmax(1.0, fabs(v))) {
            double *w = s_widen(z, n * d);
            v = metrics_uniform(w, n, d, t, why_u);
            free(w);
        }
        *lu = metrics__result(v, why_u);
    }
    if (h) {
        double *si = ws->m;
        if (P.er == S_ER_SHARED) {
            double base = kappa * (double)P.sh;
            for (size_t i = 0; i < n; i++) {
                double a = P.acc[i] + exp(kappa * (ws->n2[i] - (double)P.sh));
                si[i] = base + log(a);
            }
            s_exact_rows(z, n, d, kappa, ws->idx, nslow, si, ws);
        } else {
            for (size_t i = 0; i < n; i++) {
                metrics__lse_merge(&P.m[i], &P.s[i], kappa * ws->n2[i], 1.0);
                si[i] = P.m[i] + log(P.s[i]);
            }
        }
        double c = metrics_vmf_log_norm(d, kappa);
        *h = metrics__result(metrics__er_sphere_finish(si, n, c, red), why_h);
    }
}

/* ================================================================ ER */

/* H of the column means of probability rows (discrete support). */
METRICS__O3 static double s_er_discrete_f32(const float *z, size_t n, size_t d, ew_reduction_t r,
                                            metrics_ws_t *ws)
{
    S_GROW(ws, mu, d);
    double *m = ws->mu;
    for (size_t k = 0; k < d; k++)
        m[k] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++)
            m[k] += z[i * d + k];
    for (size_t k = 0; k < d; k++)
        m[k] /= (double)n;
    return metrics__er_discrete_finish(m, d, r);
}

double metrics_er_entropy_f32(const float *z, size_t n, size_t d, ew_support_t s, double kappa,
                              ew_reduction_t r, metrics_ws_t *ws, const char **why)
{
    const char *bad = metrics__er_check(n, d, s, kappa);
    if (bad)
        return metrics__undefined(why, bad);
    metrics_ws_t *own = ws ? NULL : metrics_ws_new();
    if (own)
        ws = own;
    double h;
    if (s == EW_SUPPORT_DISCRETE)
        h = metrics__result(s_er_discrete_f32(z, n, d, r, ws), why);
    else
        s_gram_metrics(z, n, d, kappa, r, &h, why, 0.0, NULL, NULL, ws);
    metrics_ws_destroy(&own);
    return h;
}

double metrics_er_reconstruction_f32(const float *a, const float *b, size_t n, size_t d,
                                     ew_support_t s, double kappa, metrics_ws_t *ws,
                                     const char **why)
{
    const char *bad = metrics__er_check(n, d, s, kappa);
    if (bad)
        return metrics__undefined(why, bad);

    double acc = 0.0;
    if (s == EW_SUPPORT_DISCRETE) {
        for (size_t i = 0; i < n; i++) {
            const float *ai = a + i * d, *bi = b + i * d;
            double ab = 0.0, ba = 0.0;
            for (size_t k = 0; k < d; k++) {
                ab += ai[k] * log(bi[k] + METRICS__ER_EPS);
                ba += bi[k] * log(ai[k] + METRICS__ER_EPS);
            }
            acc += 0.5 * (-ab - ba);
        }
        return metrics__result(acc / (double)n, why);
    }
    int isa = ws ? ws->isa : metrics__best_isa();
    for (size_t i = 0; i < n; i++)
        acc += metrics__dot(isa, a + i * d, b + i * d, d);
    double c = metrics_vmf_log_norm(d, kappa);
    return metrics__result(c - kappa * (acc / (double)n), why);
}

/* ================================================================ geometry */

double metrics_align_f32(const float *x, const float *y, size_t n, size_t d, double alpha,
                         const char **why)
{
    if (n == 0)
        return metrics__undefined(why, "empty batch (N = 0)");
    if (!(alpha > 0.0) || isinf(alpha))
        return metrics__undefined(why, "alpha must be finite and > 0");
    int isa = metrics__best_isa();
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        double ss = metrics__diff2(isa, x + i * d, y + i * d, d);
        acc += alpha == 2.0 ? ss : pow(sqrt(ss), alpha);
    }
    return metrics__result(acc / (double)n, why);
}

double metrics_uniform_f32(const float *x, size_t n, size_t d, double t, metrics_ws_t *ws,
                           const char **why)
{
    metrics_ws_t *own = ws ? NULL : metrics_ws_new();
    if (own)
        ws = own;
    double lu;
    s_gram_metrics(x, n, d, 0.0, EW_REDUCE_EXPECTATION, NULL, NULL, t, &lu, why, ws);
    metrics_ws_destroy(&own);
    return lu;
}

double metrics_std_l2_f32(const float *x, size_t n, size_t d, const char **why)
{
    return metrics__std_l2(x, NULL, n, d, why);
}

/* ================================================================ spectra */

/* The p x p scatter matrix, p = min(n, d), of the rows of z minus mu (mu
 * NULL: uncentred), in double, into ws->cov (column-major, lower triangle):
 * sum_i (z_i - mu)(z_i - mu)^T (d x d) when n >= d, else the n x n Gram
 * matrix of the centred rows. Both have the same nonzero eigenvalues.
 * Blocks of rows (or columns) are widened to double on the way, so memory
 * stays O(p^2 + S_BLK64) however large the batch. Returns p. */
METRICS__O3 static size_t s_scatter64(const float *z, size_t n, size_t d, const double *mu,
                                      metrics_ws_t *ws)
{
    size_t p = n < d ? n : d;
    S_GROW(ws, cov, p * p);
    size_t other = n < d ? n : d; /* the dimension every block spans */
    size_t span = n < d ? d : n;  /* the one blocks are cut along */
    size_t B = S_BLK64 / other;
    B = B < 256 ? 256 : B;
    B = B > span ? span : B;
    S_GROW(ws, blk, B * other);
    double *blk = ws->blk;
    for (size_t b0 = 0; b0 < span; b0 += B) {
        size_t nb = span - b0 < B ? span - b0 : B;
        double beta = b0 == 0 ? 0.0 : 1.0;
        if (n >= d) { /* rows b0.. as the columns of a d x nb matrix */
            for (size_t r = 0; r < nb; r++)
                for (size_t k = 0; k < d; k++)
                    blk[r * d + k] = (double)z[(b0 + r) * d + k] - (mu ? mu[k] : 0.0);
            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)d, (int)nb, 1.0, blk, (int)d,
                        beta, ws->cov, (int)p);
        } else { /* columns b0.. of every row, as an nb x n matrix */
            for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < nb; c++)
                    blk[i * nb + c] = (double)z[i * d + b0 + c] - (mu ? mu[b0 + c] : 0.0);
            cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, (int)n, (int)nb, 1.0, blk, (int)nb,
                        beta, ws->cov, (int)p);
        }
    }
    return p;
}

/* Eigenvalues (ascending) of the p x p matrix in ws->cov (lower triangle;
 * destroyed) into ws->eig, with LAPACK's work arrays kept in ws. 0, or -1
 * when the solver fails. */
static int s_eigvals(size_t p, metrics_ws_t *ws)
{
    S_GROW(ws, eig, p);
    lapack_int lp = (lapack_int)p, iq = 0;
    double wq = 0.0;
    lapack_int info =
        LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', lp, ws->cov, lp, ws->eig, &wq, -1, &iq, -1);
    if (info != 0)
        return -1;
    size_t lw = (size_t)wq + 1, liw = (size_t)iq + 1;
    S_GROW(ws, work, lw);
    S_GROW(ws, iwork, liw);
    info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', lp, ws->cov, lp, ws->eig, ws->work,
                               (lapack_int)lw, ws->iwork, (lapack_int)liw);
    return info == 0 ? 0 : -1;
}

/* W2 (loss == 0, eps under each root) or the training-loss variant (loss
 * == 1, ridge added to Sigma, sqrt|lambda|), README formulas. */
METRICS__O3 static double s_w2_f32(const float *x, size_t n, size_t d, double eps, int loss,
                                   metrics_ws_t *ws, const char **why)
{
    const char *bad = metrics__spectral_check(x, NULL, n, d);
    if (bad)
        return metrics__undefined(why, bad);
    if (!(eps >= 0.0) || isinf(eps))
        return metrics__undefined(why, loss ? "ridge must be finite and >= 0"
                                            : "eps must be finite and >= 0");
    S_GROW(ws, mu, d);
    double *mu = ws->mu, msq = 0.0;
    for (size_t k = 0; k < d; k++)
        mu[k] = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * d;
        for (size_t k = 0; k < d; k++)
            mu[k] += row[k];
        msq += metrics__dot(ws->isa, row, row, d);
    }
    for (size_t k = 0; k < d; k++)
        mu[k] /= (double)n;
    msq /= (double)n; /* = ||mu||^2 + tr Sigma */
    size_t p = s_scatter64(x, n, d, mu, ws);
    if (s_eigvals(p, ws) != 0)
        return metrics__undefined(why, "eigensolver did not converge");
    /* Sigma has d eigenvalues: the p computed (scaled by 1/n) and d - p
     * exact zeros when n < d. */
    double roots = 0.0;
    for (size_t k = 0; k < p; k++) {
        double lam = ws->eig[k] / (double)n;
        roots += loss ? sqrt(fabs(lam + eps)) : sqrt((lam > 0.0 ? lam : 0.0) + eps);
    }
    roots += (double)(d - p) * sqrt(eps);
    double sq = msq + 1.0 + (loss ? (double)d * eps : 0.0) - 2.0 / sqrt((double)d) * roots;
    return metrics__result(sqrt(sq > 0.0 ? sq : 0.0), why);
}

double metrics_w2_f32(const float *x, size_t n, size_t d, double eps, metrics_ws_t *ws,
                      const char **why)
{
    metrics_ws_t *own = ws ? NULL : metrics_ws_new();
    double v = s_w2_f32(x, n, d, eps, 0, own ? own : ws, why);
    metrics_ws_destroy(&own);
    return v;
}

double metrics_w2_loss_f32(const float *x, size_t n, size_t d, double ridge, metrics_ws_t *ws,
                           const char **why)
{
    metrics_ws_t *own = ws ? NULL : metrics_ws_new();
    double v = s_w2_f32(x, n, d, ridge, 1, own ? own : ws, why);
    metrics_ws_destroy(&own);
    return v;
}

/* RankMe of the rows as given, and (when spec is not NULL) the normalised
 * singular values sigma_k / sum sigma, descending, at most cap of them,
 * count in *len. Singular values are the roots of the eigenvalues of the
 * uncentred scatter (or Gram) matrix, built in double: its rounding error
 * (~1e-16 lambda_max) leaves sigma_k within ~1e-8 sigma_max, which moves
 * RankMe by far less than the float32 table's 2.4e-6. */
static double s_rankme_f32(const float *x, size_t n, size_t d, double eps, double *spec, size_t cap,
                           size_t *len, metrics_ws_t *ws, const char **why)
{
    if (len)
        *len = 0;
    const char *bad = metrics__spectral_check(x, NULL, n, d);
    if (bad)
        return metrics__undefined(why, bad);
    if (!(eps >= 0.0) || isinf(eps))
        return metrics__undefined(why, "eps must be finite and >= 0");
    size_t p = s_scatter64(x, n, d, NULL, ws);
    if (s_eigvals(p, ws) != 0)
        return metrics__undefined(why, "eigensolver did not converge");
    double *sv = ws->eig, total = 0.0;
    for (size_t k = 0; k < p / 2; k++) { /* descending */
        double t = sv[k];
        sv[k] = sv[p - 1 - k];
        sv[p - 1 - k] = t;
    }
    for (size_t k = 0; k < p; k++) {
        sv[k] = sqrt(sv[k] > 0.0 ? sv[k] : 0.0);
        total += sv[k];
    }
    if (!(total > 0.0))
        return metrics__undefined(why, "all-zero matrix (no singular values)");
    double hsum = 0.0;
    for (size_t k = 0; k < p; k++) {
        double pk = sv[k] / total + eps;
        hsum -= pk * log(pk);
    }
    if (spec) {
        size_t m = p < cap ? p : cap;
        for (size_t k = 0; k < m; k++)
            spec[k] = sv[k] / total;
        *len = m;
    }
    return metrics__result(exp(hsum), why);
}

double metrics_rankme_f32(const float *x, size_t n, size_t d, double eps, metrics_ws_t *ws,
                          const char **why)
{
    metrics_ws_t *own = ws ? NULL : metrics_ws_new();
    double v = s_rankme_f32(x, n, d, eps, NULL, 0, NULL, own ? own : ws, why);
    metrics_ws_destroy(&own);
    return v;
}

/* ================================================================ sinkhorn */

/* sum_j exp(v[j] - sh[j]) for double v, sh (sh NULL: shift sh0 for all),
 * through the float exp: the arguments are <= 0 and only their weighted sum
 * matters, where a float argument's relative error 6e-8 costs at most
 * 0.37 * 6e-8 relative. buf holds len floats. */
static double s_dsumexp(int isa, const double *v, size_t len, double sh0, float *buf)
{
    for (size_t j = 0; j < len; j++)
        buf[j] = (float)(v[j] - sh0);
    metrics__exp_array(isa, buf, buf, len);
    double s = 0.0;
    for (size_t j = 0; j < len; j++)
        s += buf[j];
    return s;
}

int metrics_sinkhorn_f32(const float *s, size_t b, size_t k, double eps, int iters, float *q,
                         metrics_ws_t *ws, const char **why)
{
    const char *bad = NULL;
    if (b == 0 || k == 0)
        bad = "empty score matrix";
    else if (!(eps > 0.0) || isinf(eps))
        bad = "eps must be finite and > 0";
    else if (iters < 0)
        bad = "iters must be >= 0";
    else if (!metrics__all_finite_f32(s, b * k))
        bad = "scores contain NaN or infinity";
    if (bad) {
        if (why)
            *why = bad;
        return -EINVAL;
    }
    metrics_ws_t *own = ws ? NULL : metrics_ws_new();
    if (own)
        ws = own;
    int isa = ws->isa;
    S_GROW(ws, lq, b * k);
    S_GROW(ws, fbuf, k);
    S_GROW(ws, cs, 2 * k);
    double *lq = ws->lq, *cm = ws->cs, *cs = ws->cs + k;
    float *buf = ws->fbuf;

    /* log Q = S / eps - LSE(all): Q /= sum Q */
    double mx = -INFINITY;
    for (size_t j = 0; j < b * k; j++) {
        lq[j] = (double)s[j] / eps;
        mx = lq[j] > mx ? lq[j] : mx;
    }
    double tot = 0.0;
    for (size_t i = 0; i < b; i++)
        tot += s_dsumexp(isa, lq + i * k, k, mx, buf);
    tot = mx + log(tot);
    for (size_t j = 0; j < b * k; j++)
        lq[j] -= tot;
    double ln_b = log((double)b), ln_k = log((double)k);
    for (int it = 0; it < iters; it++) {
        /* each prototype (column here) sums to 1/K */
        for (size_t c = 0; c < k; c++) {
            cm[c] = -INFINITY;
            cs[c] = 0.0;
        }
        for (size_t i = 0; i < b; i++)
            for (size_t c = 0; c < k; c++)
                cm[c] = lq[i * k + c] > cm[c] ? lq[i * k + c] : cm[c];
        for (size_t i = 0; i < b; i++) {
            for (size_t c = 0; c < k; c++)
                buf[c] = (float)(lq[i * k + c] - cm[c]);
            metrics__exp_array(isa, buf, buf, k);
            for (size_t c = 0; c < k; c++)
                cs[c] += buf[c];
        }
        for (size_t c = 0; c < k; c++)
            cm[c] += log(cs[c]) + ln_k;
        for (size_t i = 0; i < b; i++)
            for (size_t c = 0; c < k; c++)
                lq[i * k + c] -= cm[c];
        /* each sample (row here) sums to 1/B */
        for (size_t i = 0; i < b; i++) {
            double *row = lq + i * k, rm = -INFINITY;
            for (size_t c = 0; c < k; c++)
                rm = row[c] > rm ? row[c] : rm;
            double l = rm + log(s_dsumexp(isa, row, k, rm, buf)) + ln_b;
            for (size_t c = 0; c < k; c++)
                row[c] -= l;
        }
    }
    for (size_t i = 0; i < b; i++) { /* Q *= B */
        for (size_t c = 0; c < k; c++)
            buf[c] = (float)(lq[i * k + c] + ln_b);
        metrics__exp_array(isa, buf, q + i * k, k);
    }
    metrics_ws_destroy(&own);
    return 0;
}

/* ================================================================ sets */

#define S_NAME(id, name, views) [METRICS_##id] = #name,
static const char *const s_names[METRICS_COUNT] = {EW_METRICS(S_NAME)};
#undef S_NAME

const char *metrics_name(metrics_id_t id)
{
    return (unsigned)id < METRICS_COUNT ? s_names[id] : NULL;
}

void metrics_params_default(metrics_params_t *p)
{
    p->support = EW_SUPPORT_SPHERE;
    p->kappa = EW_KAPPA_DEFAULT;
    p->reduction = EW_REDUCE_EXPECTATION;
    p->t = 2.0;
    p->alpha = 2.0;
    p->w2_eps = 1e-8;
    p->rankme_eps = 1e-7;
    p->sinkhorn_eps = 0.05;
    p->sinkhorn_iters = 3;
    p->normalise = 1;
}

/* Common start of the set functions: defaults, out cleared, ws ready. */
static void s_out_init(metrics_out_t *out, unsigned mask)
{
    out->mask = mask;
    for (int i = 0; i < METRICS_COUNT; i++) {
        out->value[i] = NAN;
        out->why[i] = NULL;
    }
    out->spectrum_len = 0;
}

static int s_has(unsigned set, metrics_id_t id)
{
    return (set & METRICS_BIT(id)) != 0;
}

/* A float copy of z with unit rows (as metrics_l2_normalise_f32 would
 * make them, bit for bit), in *buf (grown as needed), in one pass. */
METRICS__O3 static const float *s_normalised(const float *z, size_t n, size_t d, float **buf,
                                             size_t *cap, int isa)
{
    s_grow((void **)buf, cap, n * d, sizeof **buf);
    float *out = *buf;
    for (size_t i = 0; i < n; i++) {
        const float *row = z + i * d;
        float *o = out + i * d;
        double ss = metrics__dot(isa, row, row, d);
        double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 1.0;
        for (size_t k = 0; k < d; k++)
            o[k] = (float)(row[k] * inv);
    }
    return out;
}

int metrics_compute_set_f32(const float *x, const float *y, size_t n, size_t d,
                            const metrics_params_t *p, unsigned set, metrics_ws_t *ws,
                            metrics_out_t *out)
{
    if (!x || !out)
        return -EINVAL;
    metrics_params_t def;
    if (!p) {
        metrics_params_default(&def);
        p = &def;
    }
    if (!y)
        set &= ~METRICS_SET_TWO_VIEWS;
    set &= METRICS_SET_ALL;
    s_out_init(out, set);
    metrics_ws_t *own = ws ? NULL : metrics_ws_new();
    if (own)
        ws = own;
    double *v = out->value;
    const char **why = out->why;
    int sphere = p->support == EW_SUPPORT_SPHERE;

    /* On the raw rows: RankMe, the spectrum, std_l2 (which normalises
     * itself, with its own 1e-12 floor). */
    if (set & (METRICS_BIT(METRICS_RANKME) | METRICS_SPECTRUM)) {
        const char *w = NULL;
        int want_spec = (set & METRICS_SPECTRUM) != 0;
        double r = s_rankme_f32(x, n, d, p->rankme_eps, want_spec ? out->spectrum : NULL,
                                METRICS_SPECTRUM_MAX, &out->spectrum_len, ws, &w);
        if (s_has(set, METRICS_RANKME)) {
            v[METRICS_RANKME] = r;
            why[METRICS_RANKME] = w;
        }
    }
    if (s_has(set, METRICS_STD_L2))
        v[METRICS_STD_L2] = metrics_std_l2_f32(x, n, d, &why[METRICS_STD_L2]);

    /* The sphere metrics see unit rows (a copy; zero rows stay zero). */
    int er_sph = sphere && s_has(set, METRICS_ER_ENTROPY);
    int rec_sph = sphere && s_has(set, METRICS_ER_RECONSTRUCTION);
    const float *xs = x, *ys = y;
    if (p->normalise && n > 0 && d > 0) {
        if (er_sph || rec_sph ||
            set & (METRICS_BIT(METRICS_UNIFORM) | METRICS_BIT(METRICS_W2) |
                   METRICS_BIT(METRICS_ALIGN)))
            xs = s_normalised(x, n, d, &ws->xs, &ws->xs_cap, ws->isa);
        if (rec_sph || s_has(set, METRICS_ALIGN))
            ys = s_normalised(y, n, d, &ws->ys, &ws->ys_cap, ws->isa);
    }

    /* ER entropy and uniformity share one pass over the Gram matrix. */
    int uni = s_has(set, METRICS_UNIFORM);
    if (er_sph || uni)
        s_gram_metrics(xs, n, d, p->kappa, p->reduction, er_sph ? &v[METRICS_ER_ENTROPY] : NULL,
                       &why[METRICS_ER_ENTROPY], p->t, uni ? &v[METRICS_UNIFORM] : NULL,
                       &why[METRICS_UNIFORM], ws);
    if (s_has(set, METRICS_ER_ENTROPY) && !sphere)
        v[METRICS_ER_ENTROPY] = metrics_er_entropy_f32(x, n, d, p->support, p->kappa, p->reduction,
                                                       ws, &why[METRICS_ER_ENTROPY]);
    if (s_has(set, METRICS_ER_RECONSTRUCTION))
        v[METRICS_ER_RECONSTRUCTION] =
            metrics_er_reconstruction_f32(sphere ? xs : x, sphere ? ys : y, n, d, p->support,
                                          p->kappa, ws, &why[METRICS_ER_RECONSTRUCTION]);
    if (s_has(set, METRICS_ALIGN))
        v[METRICS_ALIGN] = metrics_align_f32(xs, ys, n, d, p->alpha, &why[METRICS_ALIGN]);
    if (s_has(set, METRICS_W2))
        v[METRICS_W2] = s_w2_f32(xs, n, d, p->w2_eps, 0, ws, &why[METRICS_W2]);

    for (int i = 0; i < METRICS_COUNT; i++) /* a reason only with a NaN */
        if (!isnan(v[i]))
            why[i] = NULL;
    metrics_ws_destroy(&own);
    return 0;
}

int metrics_scores_f32(const float *x, const float *y, size_t b, size_t k,
                       const metrics_params_t *p, unsigned set, metrics_ws_t *ws,
                       metrics_out_t *out)
{
    if (!x || !out)
        return -EINVAL;
    metrics_params_t def;
    if (!p) {
        metrics_params_default(&def);
        p = &def;
    }
    set &= METRICS_BIT(METRICS_ER_ENTROPY) | (y ? METRICS_BIT(METRICS_ER_RECONSTRUCTION) : 0u);
    s_out_init(out, set);
    if (!set)
        return 0;
    metrics_ws_t *own = ws ? NULL : metrics_ws_new();
    if (own)
        ws = own;
    const char *w = NULL;
    S_GROW(ws, qx, b * k + 1);
    int rc = metrics_sinkhorn_f32(x, b, k, p->sinkhorn_eps, p->sinkhorn_iters, ws->qx, ws, &w);
    if (rc == 0 && y) {
        S_GROW(ws, qy, b * k + 1);
        rc = metrics_sinkhorn_f32(y, b, k, p->sinkhorn_eps, p->sinkhorn_iters, ws->qy, ws, &w);
    }
    for (int i = 0; i < METRICS_COUNT; i++)
        if (set & METRICS_BIT(i))
            out->why[i] = rc == 0 ? NULL : w;
    if (rc == 0) {
        if (s_has(set, METRICS_ER_ENTROPY))
            out->value[METRICS_ER_ENTROPY] =
                metrics_er_entropy_f32(ws->qx, b, k, EW_SUPPORT_DISCRETE, p->kappa, p->reduction,
                                       ws, &out->why[METRICS_ER_ENTROPY]);
        if (s_has(set, METRICS_ER_RECONSTRUCTION))
            out->value[METRICS_ER_RECONSTRUCTION] =
                metrics_er_reconstruction_f32(ws->qx, ws->qy, b, k, EW_SUPPORT_DISCRETE, p->kappa,
                                              ws, &out->why[METRICS_ER_RECONSTRUCTION]);
    }
    metrics_ws_destroy(&own);
    return 0;
}
