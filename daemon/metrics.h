/* metrics.h: the collapse metrics, pure numeric kernels (no I/O, no globals,
 * no threads; safe to call from any number of threads at once).
 *
 * Two paths:
 *  - the double reference path (metrics_*, metrics.c): applies each formula
 *    of tests/vectors/README.md exactly, in double, to the input as given
 *    (no normalisation). `erwatch compute` and the tests use it.
 *  - the float path (metrics_*_f32, metrics_f32.c): float32 inputs, OpenBLAS
 *    kernels, double accumulation where it matters; within 10x the README's
 *    float32 tolerance table of the reference. The daemon's workers run it,
 *    normally through metrics_compute_set_f32(), which computes several
 *    metrics of one batch sharing the Gram and eigenvalue work. Scratch
 *    memory comes from a metrics_ws_t that a worker owns and reuses.
 *
 * Every metric returns its value, or NAN when it is undefined for the input
 * (N < 2 where a variance or pair is needed, an all-zero matrix, ...); then
 * *why (when why is not NULL) points to a static string saying why.
 *
 * Who normalises: the single-metric functions never do; they take the rows
 * as given, like the reference. metrics_compute_set_f32() takes RAW rows: it
 * computes rankme, the spectrum and std_l2 from them, and (unless
 * params.normalise is 0) gives er_entropy/er_reconstruction with sphere
 * support, uniform, w2 and align an l2-normalised copy held in the
 * workspace. Discrete-support ER always sees the rows as given.
 */
#ifndef ERWATCH_METRICS_H
#define ERWATCH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

typedef enum { EW_REDUCE_EXPECTATION = 0, EW_REDUCE_AVERAGE } ew_reduction_t;

/* ln I_nu(x), modified Bessel function of the first kind, computed in the
 * log domain: finite for x up to EW_KAPPA_MAX and nu up to EW_D_MAX/2.
 * Requires nu > -1, x > 0. */
double metrics_log_bessel_i(double nu, double x);

/* c(d, kappa) = -nu ln kappa + (d/2) ln(2 pi) + ln(I_nu(kappa) + 1e-7),
 * nu = d/2 - 1, with the +1e-7 floor of the reference (logaddexp). */
double metrics_vmf_log_norm(size_t d, double kappa);

/* ---------------------------------------------------------------- double */

double metrics_er_entropy(const double *z, size_t n, size_t d, ew_support_t s, double kappa,
                          ew_reduction_t r, const char **why);
double metrics_er_reconstruction(const double *a, const double *b, size_t n, size_t d,
                                 ew_support_t s, double kappa, const char **why);
double metrics_align(const double *x, const double *y, size_t n, size_t d, double alpha,
                     const char **why);
double metrics_uniform(const double *x, size_t n, size_t d, double t, const char **why);
double metrics_w2(const double *x, size_t n, size_t d, double eps, const char **why);
double metrics_w2_loss(const double *x, size_t n, size_t d, double ridge, const char **why);
double metrics_rankme(const double *x, size_t n, size_t d, double eps, const char **why);
double metrics_std_l2(const double *x, size_t n, size_t d, const char **why);
/* SwAV Sinkhorn-Knopp on scores s (b x k). q (OUT, b x k, row-major) gets
 * the assignments. Returns 0, or -EINVAL/-ENOMEM with *why set. */
int metrics_sinkhorn(const double *s, size_t b, size_t k, double eps, int iters, double *q,
                     const char **why);

/* ---------------------------------------------------------------- float */

/* Reusable scratch memory for the float path; one per worker thread, never
 * shared between threads at the same time. metrics_ws_new() returns an owned
 * workspace (aborts on OOM); metrics_ws_destroy(&ws) frees it and sets ws to
 * NULL. Every float function also accepts ws == NULL and then uses a
 * temporary one (slower: nothing is reused). Buffers only grow; a worker's
 * workspace ends up holding about 8 N d + 4 min(N, 1024)^2 + 8 min(N, d)^2
 * bytes plus 8 MiB for the largest batch it has seen. */
typedef struct metrics_ws metrics_ws_t;
metrics_ws_t *metrics_ws_new(void);
void metrics_ws_destroy(metrics_ws_t **ws);

/* In place: each row scaled to unit l2 norm; an all-zero row stays zero. */
void metrics_l2_normalise_f32(float *z, size_t n, size_t d);

/* The single metrics on float rows, taken as given (see the top of this
 * file); same contracts as their double counterparts. */
double metrics_er_entropy_f32(const float *z, size_t n, size_t d, ew_support_t s, double kappa,
                              ew_reduction_t r, metrics_ws_t *ws, const char **why);
double metrics_er_reconstruction_f32(const float *a, const float *b, size_t n, size_t d,
                                     ew_support_t s, double kappa, metrics_ws_t *ws,
                                     const char **why);
double metrics_align_f32(const float *x, const float *y, size_t n, size_t d, double alpha,
                         const char **why);
double metrics_uniform_f32(const float *x, size_t n, size_t d, double t, metrics_ws_t *ws,
                           const char **why);
double metrics_w2_f32(const float *x, size_t n, size_t d, double eps, metrics_ws_t *ws,
                      const char **why);
double metrics_w2_loss_f32(const float *x, size_t n, size_t d, double ridge, metrics_ws_t *ws,
                           const char **why);
double metrics_rankme_f32(const float *x, size_t n, size_t d, double eps, metrics_ws_t *ws,
                          const char **why);
double metrics_std_l2_f32(const float *x, size_t n, size_t d, const char **why);
/* SwAV Sinkhorn-Knopp on float scores s (b x k), in the log domain (no
 * overflow for any score). q (OUT, b x k floats, row-major) gets the
 * assignments; each row sums to 1. Returns 0, or -EINVAL with *why set. */
int metrics_sinkhorn_f32(const float *s, size_t b, size_t k, double eps, int iters, float *q,
                         metrics_ws_t *ws, const char **why);

/* ---------------------------------------------------------------- sets */

/* The metrics a set can hold, the protocol's catalogue (EW_METRICS in
 * ew_protocol.h, through batch.h) in its order: METRICS_ER_ENTROPY, ...
 * Each is one bit in a set mask. */
#define METRICS_ENUM_(id, name, views) METRICS_##id,
typedef enum { EW_METRICS(METRICS_ENUM_) METRICS_COUNT } metrics_id_t;
#undef METRICS_ENUM_

#define METRICS_BIT(id) (1u << (id))
/* The metrics that need two views (er_reconstruction, align). */
#define METRICS_TWO_VIEWS_(id, name, views) | ((views) == 2 ? METRICS_BIT(METRICS_##id) : 0u)
#define METRICS_SET_TWO_VIEWS (0u EW_METRICS(METRICS_TWO_VIEWS_))
/* Not a scalar: the normalised singular-value spectrum (metrics_out_t). */
#define METRICS_SPECTRUM (1u << 16)
#define METRICS_SET_ALL (((1u << METRICS_COUNT) - 1u) | METRICS_SPECTRUM)
#define METRICS_SET_DEFAULT METRICS_SET_ALL
#define METRICS_SPECTRUM_MAX 512

/* The metric's stored name ("er_entropy", ...), or NULL for a bad id. */
const char *metrics_name(metrics_id_t id);

/* Parameters of a set; metrics_params_default() fills the defaults named. */
typedef struct {
    ew_support_t support;     /* of the ER metrics (sphere) */
    double kappa;             /* vMF concentration, sphere ER (EW_KAPPA_DEFAULT) */
    ew_reduction_t reduction; /* of er_entropy (expectation) */
    double t;                 /* uniformity temperature (2) */
    double alpha;             /* alignment exponent (2) */
    double w2_eps;            /* eps under each root of W2 (1e-8) */
    double rankme_eps;        /* RankMe probability eps (1e-7) */
    double sinkhorn_eps;      /* scores: entropic regularisation (0.05) */
    int sinkhorn_iters;       /* scores: Sinkhorn iterations (3) */
    int normalise;            /* 1: sphere metrics on l2-normalised copies (1) */
} metrics_params_t;

void metrics_params_default(metrics_params_t *p);

/* What a set computed. value[id] and why[id] are meaningful for the ids in
 * mask: value is NAN (and why says why) when undefined, why is NULL
 * otherwise. */
typedef struct {
    unsigned mask;                  /* OUT: metrics computed (asked and applicable) */
    double value[METRICS_COUNT];    /* OUT */
    const char *why[METRICS_COUNT]; /* OUT: static strings */
    size_t spectrum_len;            /* OUT: 0 when not asked or undefined */
    /* OUT: sigma_k / sum_j sigma_j of the raw rows, descending, the first
     * min(N, d, METRICS_SPECTRUM_MAX) of them (they sum to 1 when
     * min(N, d) <= METRICS_SPECTRUM_MAX). */
    double spectrum[METRICS_SPECTRUM_MAX];
} metrics_out_t;

/* The metrics of set (METRICS_BIT()s, METRICS_SPECTRUM) of one batch: x
 * (and y, the second view, or NULL) are n x d RAW rows (see "Who normalises"
 * above). Work is shared: one pass over the Gram matrix of the normalised x
 * gives er_entropy and uniform; one eigen-decomposition of the raw rows
 * gives rankme and the spectrum; w2 needs its own (its matrix is the
 * covariance of the normalised rows, a different matrix). Two-view metrics
 * are left out of out->mask when y is NULL. p NULL means the defaults; ws
 * NULL a temporary workspace. Each value equals what the single-metric
 * function gives on the same (normalised or raw) rows. Returns 0, or -EINVAL
 * when x or out is NULL. */
int metrics_compute_set_f32(const float *x, const float *y, size_t n, size_t d,
                            const metrics_params_t *p, unsigned set, metrics_ws_t *ws,
                            metrics_out_t *out);

/* "Scores" support: x (and y) are b x k prototype scores per view. Each
 * view's Sinkhorn assignments Q (p->sinkhorn_eps, p->sinkhorn_iters) are
 * computed; er_entropy is the discrete ER entropy of Q_x's rows
 * (p->reduction), er_reconstruction the discrete one between Q_x and Q_y.
 * Only those two bits of set are used. Returns as metrics_compute_set_f32. */
int metrics_scores_f32(const float *x, const float *y, size_t b, size_t k,
                       const metrics_params_t *p, unsigned set, metrics_ws_t *ws,
                       metrics_out_t *out);

#endif
