/* metrics_impl.h: internals shared by metrics.c (the double reference path)
 * and metrics_f32.c (the float path), defined in metrics_common.c (the
 * float path's vector kernels have their own metrics_simd.h). Not part of
 * the module's API: nothing outside daemon/metrics*.c includes it, except
 * tests/unit/test_metrics.c for the test hooks at the end. Internal names use the metrics__ prefix.
 */
#ifndef ERWATCH_METRICS_IMPL_H
#define ERWATCH_METRICS_IMPL_H

#include <stddef.h>

#include "metrics.h"

/* The probability floor of the ER reference (tests/vectors README). */
#define METRICS__ER_EPS 1e-7

/* Plain loops over rows (array updates, conversions) that GCC's -O2 cost
 * model leaves scalar because they need an epilogue or an alias check; -O3
 * on those functions alone vectorises them (no fast-math: results are the
 * same bits). Reductions that must be vectorised get explicit kernels. */
#if defined(__GNUC__) && !defined(__clang__)
#define METRICS__O3 __attribute__((optimize("O3")))
#else
#define METRICS__O3
#endif

/* malloc that aborts on out-of-memory or size overflow (the daemon may
 * abort on OOM); count 0 still returns a valid pointer. */
void *metrics__alloc(size_t count, size_t size);

/* Set *why (when why is not NULL) and return NaN. */
double metrics__undefined(const char **why, const char *reason);
/* v, or NaN with "input contains NaN or infinity" when v is NaN: a NaN no
 * explicit check caught can only come from the input. */
double metrics__result(double v, const char **why);

/* Fold a partial log-sum-exp (mt, st), meaning mt + ln st, into the running
 * pair (*m, *s). st == 0 adds nothing; *s == 0 means "empty"; NaN sticks. */
void metrics__lse_merge(double *m, double *s, double mt, double st);

/* ER entropy from the per-row log-sum-exps s_i (sphere support, c = the
 * vMF constant) or from the batch mean m (discrete support). */
double metrics__er_sphere_finish(const double *s, size_t n, double c, ew_reduction_t r);
double metrics__er_discrete_finish(const double *m, size_t d, ew_reduction_t r);
/* Argument checks shared by the ER metrics; a reason, or NULL when fine. */
const char *metrics__er_check(size_t n, size_t d, ew_support_t s, double kappa);

/* 1 when no element is NaN or infinite. */
int metrics__all_finite(const double *x, size_t count);
int metrics__all_finite_f32(const float *x, size_t count);
/* n and d usable (>= 1, within BLAS's int); a reason, or NULL when fine. */
const char *metrics__shape_check(size_t n, size_t d);

/* Both paths share these two, on rows given either as float (xf) or as
 * double (xd; the other NULL), summed in double the same way. */
/* The shape check, then every element finite (LAPACK's behaviour on NaN is
 * undefined): the argument check of the spectral metrics (W2, RankMe). */
const char *metrics__spectral_check(const float *xf, const double *xd, size_t n, size_t d);
/* std_l2 (metrics.h), two passes so that nothing cancels. */
double metrics__std_l2(const float *xf, const double *xd, size_t n, size_t d, const char **why);

/* ---------------------------------------------------------------- tests */

/* y[i] = e^x[i] by the float path's own exp: isa 0 is the portable C
 * version, 1 the fastest the CPU supports (AVX2+FMA when present). */
void metrics__exp_f32(const float *x, float *y, size_t n, int isa);
/* Force a workspace onto the portable C kernels (isa 0) or back to the
 * fastest (1), so tests can check both on whole metrics. */
void metrics__ws_set_isa(metrics_ws_t *ws, int isa);

#endif
