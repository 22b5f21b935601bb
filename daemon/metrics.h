/* metrics.h: the collapse metrics, pure numeric kernels (no I/O, no globals,
 * no threads; safe to call from any number of threads at once).
 *
 * Two paths:
 *  - the double reference path (metrics_*): applies each formula of
 *    shared/vectors/README.md exactly, in double, to the input as given (no
 *    normalisation). `erwatch compute` and the tests use it.
 *  - the float path (metrics_*_f32): float32 inputs, OpenBLAS kernels, double
 *    accumulation where it matters. The daemon's workers run it. Scratch
 *    memory comes from a metrics_ws_t that a worker owns and reuses.
 *
 * Every metric returns its value, or NAN when it is undefined for the input
 * (N < 2 where a variance or pair is needed, an all-zero matrix, ...); then
 * *why (when why is not NULL) points to a static string saying why.
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

double metrics_er_entropy(const double *z, size_t n, size_t d, ew_support_t s,
                          double kappa, ew_reduction_t r, const char **why);
double metrics_er_reconstruction(const double *a, const double *b, size_t n,
                                 size_t d, ew_support_t s, double kappa,
                                 const char **why);
double metrics_align(const double *x, const double *y, size_t n, size_t d,
                     double alpha, const char **why);
double metrics_uniform(const double *x, size_t n, size_t d, double t,
                       const char **why);
double metrics_w2(const double *x, size_t n, size_t d, double eps,
                  const char **why);
double metrics_w2_loss(const double *x, size_t n, size_t d, double ridge,
                       const char **why);
double metrics_rankme(const double *x, size_t n, size_t d, double eps,
                      const char **why);
double metrics_std_l2(const double *x, size_t n, size_t d, const char **why);
/* SwAV Sinkhorn-Knopp on scores s (b x k). q (OUT, b x k, row-major) gets
 * the assignments. Returns 0, or -EINVAL/-ENOMEM with *why set. */
int metrics_sinkhorn(const double *s, size_t b, size_t k, double eps,
                     int iters, double *q, const char **why);

/* ---------------------------------------------------------------- float */

/* Reusable scratch memory for the float path; one per worker thread. */
typedef struct metrics_ws metrics_ws_t;
metrics_ws_t *metrics_ws_new(void);
void metrics_ws_destroy(metrics_ws_t **ws);

/* In place: each row scaled to unit l2 norm; an all-zero row stays zero. */
void metrics_l2_normalise_f32(float *z, size_t n, size_t d);

double metrics_er_entropy_f32(const float *z, size_t n, size_t d,
                              ew_support_t s, double kappa, ew_reduction_t r,
                              metrics_ws_t *ws, const char **why);
double metrics_er_reconstruction_f32(const float *a, const float *b, size_t n,
                                     size_t d, ew_support_t s, double kappa,
                                     metrics_ws_t *ws, const char **why);

#endif
