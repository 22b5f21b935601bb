/* metrics_simd.h: the vector kernels of the float path (metrics_simd.c),
 * internal to daemon/metrics*.c like metrics_impl.h. Each takes isa: 1 runs
 * the AVX2+FMA body (only pass it when metrics__best_isa() said 1), 0 the
 * portable C body. Terms are float, sums are double.
 */
#ifndef ERWATCH_METRICS_SIMD_H
#define ERWATCH_METRICS_SIMD_H

#include <stddef.h>

/* 1 when this CPU runs the AVX2+FMA bodies, else 0. */
int metrics__best_isa(void);

/* sum_j e_j, e_j = exp(kap (g[j] - sh)); adds each e_j to col[j] when col
 * is not NULL (one exp serves a pair's row and its column). */
double metrics__fold(int isa, const float *g, size_t len, float kap, float sh, double *col);
/* sum_k a[k] b[k] in double (each product exact in double; cblas_dsdot is
 * not: OpenBLAS sums float products). */
double metrics__dot(int isa, const float *a, const float *b, size_t len);
/* sum_k (a[k] - b[k])^2 in double. */
double metrics__diff2(int isa, const float *a, const float *b, size_t len);
/* metrics__fold and metrics__ufold of one row segment in one sweep (the
 * set's shared pass reads each Gram entry once for both metrics): returns
 * the fold, adds the uniformity sum to *usum. */
double metrics__fold2(int isa, const float *g, size_t len, float kap, float sh, double *col,
                      const float *a, float t2, float c, float *amax, double *usum);
/* sum_j exp(t2 g[j] + (c + a[j])) (uniformity terms: a[j] and c hold
 * -t ||z||^2 of the two rows, c also minus the shift); raises *amax to the
 * largest exponent seen. */
double metrics__ufold(int isa, const float *g, const float *a, size_t len, float t2, float c,
                      float *amax);
/* cs[j] += exp(kap (g[j] - cm[j])): the column sums of ER's exact form. */
void metrics__colfold(int isa, const float *g, const float *cm, size_t len, float kap, double *cs);
/* max_j g[j]; -inf for len 0. */
float metrics__rowmax(int isa, const float *g, size_t len);
/* y[j] = e^x[j] by our float exp (1.5 ulp; 0 below ln FLT_MIN); y may be x. */
void metrics__exp_array(int isa, const float *x, float *y, size_t n);

#endif
