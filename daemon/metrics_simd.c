/* metrics_simd.c: the inner loops of the float path (metrics_f32.c), each
 * in a portable C body and an AVX2+FMA body, and our own float exp that
 * they use. The caller picks the body per call (isa 1: AVX2+FMA, 0: C);
 * metrics__best_isa() says what this CPU runs. Pure code: no I/O, no
 * globals. Declared in metrics_simd.h.
 *
 * Only this file is compiled with intrinsics: the metric logic in
 * metrics_f32.c calls the dispatchers below once per row segment (a Gram
 * tile row, a whole row of the batch), so the call costs nothing beside
 * the loop it runs.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "metrics_impl.h"
#include "metrics_simd.h"

/* The portable kernels are also the tails of the AVX2 ones. Inlined there,
 * they are compiled VEX-encoded; called, they would run legacy-SSE code
 * after 256-bit code, a transition measured at ~250 ns per call here (more
 * than a whole row of 256 pairs). */
#if defined(__GNUC__)
#define S_INLINE static inline __attribute__((always_inline))
#else
#define S_INLINE static inline
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define S_X86 1
#define S_AVX2 __attribute__((target("avx2,fma")))
#else
#define S_X86 0
#endif

/* ================================================================ exp */

/* e^x for float x, our own: x = n ln2 + r with |r| <= ln2/2, e^r by a
 * polynomial, 2^n put into the exponent field. Below S_EXP_LO the result
 * would be subnormal and 0 is returned (every caller sums terms whose
 * largest is near 1, so those are far below one ulp); above S_EXP_HI, +inf
 * (true overflow is at 88.72; callers only pass arguments <= ~0). NaN stays
 * NaN. Max error 1.5 ulp over [S_EXP_LO, S_EXP_HI] (test_metrics checks). */
#define S_EXP_LO (-87.33654f) /* ln FLT_MIN */
#define S_EXP_HI 88.37f       /* n stays <= 127 */
#define S_LOG2E 1.44269504f
/* ln 2 split so that n * S_LN2_HI is exact (9 significant bits, |n| < 2^7)
 * and x - n * S_LN2_HI is exact too: r carries no reduction error. */
#define S_LN2_HI 0.693359375f
#define S_LN2_LO (-2.12194440e-4f)
/* e^r = 1 + r + r^2 (C2 + C3 r + C4 r^2 + C5 r^3 + C6 r^4): minimax
 * coefficients for relative error on [-ln2/2, ln2/2], fitted for this code
 * (linear programming on a dense grid); the fit's own error is 3e-9. */
#define S_C2 0.49999994f
#define S_C3 0.16666520f
#define S_C4 0.041668396f
#define S_C5 0.0083687492f
#define S_C6 0.0013814205f
/* 1.5 * 2^23: adding and subtracting it rounds a float to an integer. */
#define S_ROUND 12582912.0f

S_INLINE float s_expf(float x)
{
    if (!(x >= S_EXP_LO))
        return x < S_EXP_LO ? 0.0f : x; /* NaN stays NaN */
    if (x > S_EXP_HI)
        return INFINITY;
    float n = x * S_LOG2E + S_ROUND;
    n -= S_ROUND;
    float r = x - n * S_LN2_HI;
    r = r - n * S_LN2_LO;
    float q = (((S_C6 * r + S_C5) * r + S_C4) * r + S_C3) * r + S_C2;
    float p = ((r * r) * q + r) + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#if S_X86
/* Eight lanes of s_expf (FMA in the reduction and the polynomial). */
S_AVX2 static inline __m256 s_exp8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(S_EXP_LO), hi = _mm256_set1_ps(S_EXP_HI);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(S_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(S_LN2_HI), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(S_LN2_LO), r);
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(S_C6), r, _mm256_set1_ps(S_C5));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(S_C4));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(S_C3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(S_C2));
    __m256 p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r), _mm256_set1_ps(1.0f));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

S_AVX2 static inline double s_hsum4(__m256d v)
{
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(h) + _mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
}

S_AVX2 static inline float s_hmax8(__m256 v)
{
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}
#endif

/* ================================================================ kernels */

/* Each kernel below has a portable C body and an AVX2 body; the metrics__
 * dispatchers at the end choose by their isa argument. The AVX2 bodies
 * handle the last len % 8 elements with the C code, so both paths share
 * their tails. */

/* Returns sum_j e_j, e_j = exp(kap (g[j] - sh)), and adds each e_j to
 * col[j] when col is not NULL: one exp serves a pair's row and column. */
S_INLINE double s_fold_c(const float *g, size_t len, float kap, float sh, double *col)
{
    double sum = 0.0;
    for (size_t j = 0; j < len; j++) {
        float e = s_expf(kap * (g[j] - sh));
        sum += e;
        if (col)
            col[j] += e;
    }
    return sum;
}

/* Returns sum_j exp(t2 g[j] + (c + a[j])) (uniformity terms, a[j] and c
 * hold -t ||z||^2 of the two rows, c also minus the shift) and raises *amax
 * to the largest exponent seen. */
S_INLINE double s_ufold_c(const float *g, const float *a, size_t len, float t2, float c,
                          float *amax)
{
    double sum = 0.0;
    float mx = *amax;
    for (size_t j = 0; j < len; j++) {
        float v = t2 * g[j] + (c + a[j]);
        mx = v > mx ? v : mx;
        sum += s_expf(v);
    }
    *amax = mx;
    return sum;
}

/* cs[j] += exp(kap (g[j] - cm[j])): the column sums of the exact form. */
S_INLINE void s_colfold_c(const float *g, const float *cm, size_t len, float kap, double *cs)
{
    for (size_t j = 0; j < len; j++)
        cs[j] += s_expf(kap * (g[j] - cm[j]));
}

S_INLINE float s_rowmax_c(const float *g, size_t len)
{
    float mx = -INFINITY;
    for (size_t j = 0; j < len; j++)
        mx = g[j] > mx ? g[j] : mx;
    return mx;
}

S_INLINE void s_exp_array_c(const float *x, float *y, size_t n)
{
    for (size_t j = 0; j < n; j++)
        y[j] = s_expf(x[j]);
}

/* sum_k (a[k] - b[k])^2 in double (differences of floats are exact in
 * double); four accumulators break the add latency chain. */
S_INLINE double s_diff2_c(const float *a, const float *b, size_t len)
{
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    size_t k = 0;
    for (; k + 4 <= len; k += 4)
        for (size_t l = 0; l < 4; l++) {
            double u = (double)a[k + l] - b[k + l];
            acc[l] += u * u;
        }
    for (; k < len; k++) {
        double u = (double)a[k] - b[k];
        acc[0] += u * u;
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* sum_k a[k] b[k] in double: every product is exact in double, so this
 * is as good as the inputs allow. (cblas_dsdot is not: OpenBLAS's kernel
 * forms and sums float products, measured 3e-7 off on unit-size dots.) */
S_INLINE double s_dot_c(const float *a, const float *b, size_t len)
{
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    size_t k = 0;
    for (; k + 4 <= len; k += 4)
        for (size_t l = 0; l < 4; l++)
            acc[l] += (double)a[k + l] * b[k + l];
    for (; k < len; k++)
        acc[0] += (double)a[k] * b[k];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

#if S_X86
S_AVX2 static double s_dot_avx2(const float *a, const float *b, size_t len)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    size_t k = 0;
    for (; k + 8 <= len; k += 8) {
        __m256 fa = _mm256_loadu_ps(a + k), fb = _mm256_loadu_ps(b + k);
        a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(fa)),
                             _mm256_cvtps_pd(_mm256_castps256_ps128(fb)), a0);
        a1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(fa, 1)),
                             _mm256_cvtps_pd(_mm256_extractf128_ps(fb, 1)), a1);
    }
    return s_hsum4(_mm256_add_pd(a0, a1)) + s_dot_c(a + k, b + k, len - k);
}

S_AVX2 static double s_diff2_avx2(const float *a, const float *b, size_t len)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    size_t k = 0;
    for (; k + 8 <= len; k += 8) {
        __m256 fa = _mm256_loadu_ps(a + k), fb = _mm256_loadu_ps(b + k);
        __m256d u0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(fa)),
                                   _mm256_cvtps_pd(_mm256_castps256_ps128(fb)));
        __m256d u1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(fa, 1)),
                                   _mm256_cvtps_pd(_mm256_extractf128_ps(fb, 1)));
        a0 = _mm256_fmadd_pd(u0, u0, a0);
        a1 = _mm256_fmadd_pd(u1, u1, a1);
    }
    return s_hsum4(_mm256_add_pd(a0, a1)) + s_diff2_c(a + k, b + k, len - k);
}

/* s_fold_avx2 and s_ufold_avx2 in one sweep over g: the set's shared pass
 * reads each Gram entry once for both metrics. */
S_AVX2 static double s_fold2_avx2(const float *g, size_t len, float kap, float sh, double *col,
                                  const float *a, float t2, float c, float *amax, double *usum)
{
    const __m256 vk = _mm256_set1_ps(kap), vs = _mm256_set1_ps(sh);
    const __m256 vt = _mm256_set1_ps(t2), vc = _mm256_set1_ps(c);
    __m256 vm = _mm256_set1_ps(*amax);
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    __m256d u0 = _mm256_setzero_pd(), u1 = _mm256_setzero_pd();
    size_t j = 0;
    for (; j + 8 <= len; j += 8) {
        __m256 gv = _mm256_loadu_ps(g + j);
        __m256 e = s_exp8(_mm256_mul_ps(vk, _mm256_sub_ps(gv, vs)));
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(e));
        __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
        a0 = _mm256_add_pd(a0, lo);
        a1 = _mm256_add_pd(a1, hi);
        _mm256_storeu_pd(col + j, _mm256_add_pd(_mm256_loadu_pd(col + j), lo));
        _mm256_storeu_pd(col + j + 4, _mm256_add_pd(_mm256_loadu_pd(col + j + 4), hi));
        __m256 v = _mm256_fmadd_ps(vt, gv, _mm256_add_ps(vc, _mm256_loadu_ps(a + j)));
        vm = _mm256_max_ps(vm, v);
        __m256 f = s_exp8(v);
        u0 = _mm256_add_pd(u0, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
        u1 = _mm256_add_pd(u1, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
    }
    *amax = s_hmax8(vm);
    *usum += s_hsum4(_mm256_add_pd(u0, u1)) + s_ufold_c(g + j, a + j, len - j, t2, c, amax);
    return s_hsum4(_mm256_add_pd(a0, a1)) + s_fold_c(g + j, len - j, kap, sh, col + j);
}

S_AVX2 static double s_fold_avx2(const float *g, size_t len, float kap, float sh, double *col)
{
    const __m256 vk = _mm256_set1_ps(kap), vs = _mm256_set1_ps(sh);
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    size_t j = 0;
    for (; j + 8 <= len; j += 8) {
        __m256 e = s_exp8(_mm256_mul_ps(vk, _mm256_sub_ps(_mm256_loadu_ps(g + j), vs)));
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(e));
        __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
        a0 = _mm256_add_pd(a0, lo);
        a1 = _mm256_add_pd(a1, hi);
        if (col) {
            _mm256_storeu_pd(col + j, _mm256_add_pd(_mm256_loadu_pd(col + j), lo));
            _mm256_storeu_pd(col + j + 4, _mm256_add_pd(_mm256_loadu_pd(col + j + 4), hi));
        }
    }
    return s_hsum4(_mm256_add_pd(a0, a1)) + s_fold_c(g + j, len - j, kap, sh, col ? col + j : NULL);
}

S_AVX2 static double s_ufold_avx2(const float *g, const float *a, size_t len, float t2, float c,
                                  float *amax)
{
    const __m256 vt = _mm256_set1_ps(t2), vc = _mm256_set1_ps(c);
    __m256 vm = _mm256_set1_ps(*amax);
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    size_t j = 0;
    for (; j + 8 <= len; j += 8) {
        __m256 v =
            _mm256_fmadd_ps(vt, _mm256_loadu_ps(g + j), _mm256_add_ps(vc, _mm256_loadu_ps(a + j)));
        vm = _mm256_max_ps(vm, v);
        __m256 e = s_exp8(v);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    *amax = s_hmax8(vm);
    return s_hsum4(_mm256_add_pd(a0, a1)) + s_ufold_c(g + j, a + j, len - j, t2, c, amax);
}

S_AVX2 static void s_colfold_avx2(const float *g, const float *cm, size_t len, float kap,
                                  double *cs)
{
    const __m256 vk = _mm256_set1_ps(kap);
    size_t j = 0;
    for (; j + 8 <= len; j += 8) {
        __m256 e = s_exp8(
            _mm256_mul_ps(vk, _mm256_sub_ps(_mm256_loadu_ps(g + j), _mm256_loadu_ps(cm + j))));
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(e));
        __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
        _mm256_storeu_pd(cs + j, _mm256_add_pd(_mm256_loadu_pd(cs + j), lo));
        _mm256_storeu_pd(cs + j + 4, _mm256_add_pd(_mm256_loadu_pd(cs + j + 4), hi));
    }
    s_colfold_c(g + j, cm + j, len - j, kap, cs + j);
}

S_AVX2 static float s_rowmax_avx2(const float *g, size_t len)
{
    __m256 vm = _mm256_set1_ps(-INFINITY);
    size_t j = 0;
    for (; j + 8 <= len; j += 8)
        vm = _mm256_max_ps(vm, _mm256_loadu_ps(g + j));
    float a = s_hmax8(vm), b = s_rowmax_c(g + j, len - j);
    return a > b ? a : b;
}

S_AVX2 static void s_exp_array_avx2(const float *x, float *y, size_t n)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(y + j, s_exp8(_mm256_loadu_ps(x + j)));
    s_exp_array_c(x + j, y + j, n - j);
}
#endif

/* ================================================================ dispatch */

int metrics__best_isa(void)
{
#if S_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

double metrics__fold(int isa, const float *g, size_t len, float kap, float sh, double *col)
{
#if S_X86
    if (isa)
        return s_fold_avx2(g, len, kap, sh, col);
#endif
    (void)isa;
    return s_fold_c(g, len, kap, sh, col);
}

double metrics__dot(int isa, const float *a, const float *b, size_t len)
{
#if S_X86
    if (isa)
        return s_dot_avx2(a, b, len);
#endif
    (void)isa;
    return s_dot_c(a, b, len);
}

double metrics__diff2(int isa, const float *a, const float *b, size_t len)
{
#if S_X86
    if (isa)
        return s_diff2_avx2(a, b, len);
#endif
    (void)isa;
    return s_diff2_c(a, b, len);
}

/* Shared-shift ER fold and uniformity fold of one row segment, fused. */
double metrics__fold2(int isa, const float *g, size_t len, float kap, float sh, double *col,
                      const float *a, float t2, float c, float *amax, double *usum)
{
#if S_X86
    if (isa)
        return s_fold2_avx2(g, len, kap, sh, col, a, t2, c, amax, usum);
#endif
    (void)isa;
    *usum += s_ufold_c(g, a, len, t2, c, amax);
    return s_fold_c(g, len, kap, sh, col);
}

double metrics__ufold(int isa, const float *g, const float *a, size_t len, float t2, float c,
                      float *amax)
{
#if S_X86
    if (isa)
        return s_ufold_avx2(g, a, len, t2, c, amax);
#endif
    (void)isa;
    return s_ufold_c(g, a, len, t2, c, amax);
}

void metrics__colfold(int isa, const float *g, const float *cm, size_t len, float kap, double *cs)
{
#if S_X86
    if (isa) {
        s_colfold_avx2(g, cm, len, kap, cs);
        return;
    }
#endif
    (void)isa;
    s_colfold_c(g, cm, len, kap, cs);
}

float metrics__rowmax(int isa, const float *g, size_t len)
{
#if S_X86
    if (isa)
        return s_rowmax_avx2(g, len);
#endif
    (void)isa;
    return s_rowmax_c(g, len);
}

void metrics__exp_array(int isa, const float *x, float *y, size_t n)
{
#if S_X86
    if (isa) {
        s_exp_array_avx2(x, y, n);
        return;
    }
#endif
    (void)isa;
    s_exp_array_c(x, y, n);
}

void metrics__exp_f32(const float *x, float *y, size_t n, int isa)
{
    metrics__exp_array(isa ? metrics__best_isa() : 0, x, y, n);
}
