/* test_downsample.c: bucketing of a series for display (downsample.h). */
#include <math.h>

#include "downsample.h"
#include "test.h"

TEST(empty_series)
{
    series_t s;
    ASSERT_EQ(downsample(NULL, NULL, 0, 10, &s), 0);
    ASSERT_EQ(s.n, 0);
    ASSERT_EQ(s.bucketed, 0);
    series_free(&s);
}

TEST(n_le_p_is_a_copy)
{
    int64_t st[] = {1, 5, 9};
    double v[] = {0.5, NAN, 2.0};
    series_t s;
    ASSERT_EQ(downsample(st, v, 3, 3, &s), 0);
    ASSERT_EQ(s.n, 3);
    ASSERT_EQ(s.bucketed, 0);
    ASSERT_NULL(s.min);
    ASSERT_NULL(s.max);
    ASSERT_NE(s.step, st);
    ASSERT_NE(s.value, v); /* a copy, owned by s */
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(s.step[i], st[i]);
    ASSERT_EQ(s.value[0], 0.5);
    ASSERT_NAN(s.value[1]);
    ASSERT_EQ(s.value[2], 2.0);
    series_free(&s);
    ASSERT_NULL(s.step);
    ASSERT_EQ(s.n, 0);
    series_free(&s); /* twice is harmless */
}

TEST(single_point)
{
    int64_t st[] = {42};
    double v[] = {-3.0};
    series_t s;
    ASSERT_EQ(downsample(st, v, 1, 1, &s), 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_EQ(s.step[0], 42);
    ASSERT_EQ(s.value[0], -3.0);
    series_free(&s);
}

/* Steps 0..99, 10 buckets: bucket b holds steps 10b .. 10b+9 exactly. */
TEST(bucket_boundaries_even)
{
    int64_t st[100];
    double v[100];
    for (int i = 0; i < 100; i++) {
        st[i] = i;
        v[i] = i;
    }
    series_t s;
    ASSERT_EQ(downsample(st, v, 100, 10, &s), 0);
    ASSERT_EQ(s.bucketed, 1);
    ASSERT_EQ(s.n, 10);
    for (int b = 0; b < 10; b++) {
        ASSERT_EQ(s.step[b], 10 * b + 9);  /* last step of the bucket */
        ASSERT_EQ(s.value[b], 10 * b + 9); /* its value */
        ASSERT_EQ(s.min[b], 10 * b);
        ASSERT_EQ(s.max[b], 10 * b + 9);
    }
    series_free(&s);
}

/* 10 integer steps in 3 buckets: floor(k * 3 / 10) puts 0-3 | 4-6 | 7-9. */
TEST(bucket_boundaries_uneven)
{
    int64_t st[10];
    double v[10];
    for (int i = 0; i < 10; i++) {
        st[i] = 100 + i; /* offset from 0 must not matter */
        v[i] = i;
    }
    series_t s;
    ASSERT_EQ(downsample(st, v, 10, 3, &s), 0);
    ASSERT_EQ(s.n, 3);
    ASSERT_EQ(s.step[0], 103);
    ASSERT_EQ(s.step[1], 106);
    ASSERT_EQ(s.step[2], 109);
    ASSERT_EQ(s.min[0], 0);
    ASSERT_EQ(s.max[0], 3);
    ASSERT_EQ(s.min[1], 4);
    ASSERT_EQ(s.max[1], 6);
    ASSERT_EQ(s.min[2], 7);
    ASSERT_EQ(s.max[2], 9);
    series_free(&s);
}

/* Sparse steps leave empty buckets out; first and last steps always land in
 * the first and last bucket. */
TEST(empty_buckets_skipped)
{
    int64_t st[] = {0, 1, 2, 1000, 1001};
    double v[] = {1, 2, 3, 4, 5};
    series_t s;
    ASSERT_EQ(downsample(st, v, 5, 4, &s), 0);
    ASSERT_EQ(s.n, 2);
    ASSERT_EQ(s.step[0], 2);
    ASSERT_EQ(s.min[0], 1);
    ASSERT_EQ(s.max[0], 3);
    ASSERT_EQ(s.value[0], 3);
    ASSERT_EQ(s.step[1], 1001);
    ASSERT_EQ(s.min[1], 4);
    ASSERT_EQ(s.max[1], 5);
    ASSERT_EQ(s.value[1], 5);
    series_free(&s);
}

TEST(spike_preserved_in_max)
{
    enum { N = 10000 };
    static int64_t st[N];
    static double v[N];
    for (int i = 0; i < N; i++) {
        st[i] = i;
        v[i] = 1.0;
    }
    v[4321] = 50.0; /* one spike */
    v[7777] = -9.0; /* one dip */
    series_t s;
    ASSERT_EQ(downsample(st, v, N, 100, &s), 0);
    ASSERT_EQ(s.n, 100);
    double hi = -INFINITY, lo = INFINITY;
    for (size_t b = 0; b < s.n; b++) {
        hi = fmax(hi, s.max[b]);
        lo = fmin(lo, s.min[b]);
    }
    ASSERT_EQ(hi, 50.0);
    ASSERT_EQ(lo, -9.0);
    ASSERT_EQ(s.max[43], 50.0);  /* step 4321 lies in bucket 43 */
    ASSERT_EQ(s.value[43], 1.0); /* the last value is not the spike */
    series_free(&s);
}

TEST(nan_handling)
{
    int64_t st[] = {0, 1, 2, 3, 4, 5};
    double v[] = {NAN, 2.0, 1.0, NAN, NAN, NAN};
    series_t s;
    ASSERT_EQ(downsample(st, v, 6, 3, &s), 0);
    ASSERT_EQ(s.n, 3);
    /* bucket 0: NaN, 2 -> last 2, min = max = 2 (NaN ignored) */
    ASSERT_EQ(s.value[0], 2.0);
    ASSERT_EQ(s.min[0], 2.0);
    ASSERT_EQ(s.max[0], 2.0);
    /* bucket 1: 1, NaN -> last is NaN, kept; min/max from 1 */
    ASSERT_NAN(s.value[1]);
    ASSERT_EQ(s.min[1], 1.0);
    ASSERT_EQ(s.max[1], 1.0);
    /* bucket 2: only NaNs */
    ASSERT_NAN(s.value[2]);
    ASSERT_NAN(s.min[2]);
    ASSERT_NAN(s.max[2]);
    series_free(&s);
}

TEST(all_same_step)
{
    int64_t st[] = {7, 7, 7, 7, 7};
    double v[] = {3, 1, 4, 1, 5};
    series_t s;
    ASSERT_EQ(downsample(st, v, 5, 2, &s), 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_EQ(s.step[0], 7);
    ASSERT_EQ(s.value[0], 5);
    ASSERT_EQ(s.min[0], 1);
    ASSERT_EQ(s.max[0], 5);
    series_free(&s);
}

TEST(one_bucket)
{
    int64_t st[] = {1, 2, 3};
    double v[] = {9, -1, 4};
    series_t s;
    ASSERT_EQ(downsample(st, v, 3, 1, &s), 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_EQ(s.step[0], 3);
    ASSERT_EQ(s.value[0], 4);
    ASSERT_EQ(s.min[0], -1);
    ASSERT_EQ(s.max[0], 9);
    series_free(&s);
}

/* Steps near the int64 ends: the bucket arithmetic must not overflow. */
TEST(huge_step_range)
{
    int64_t st[] = {INT64_MIN, -1, 0, INT64_MAX / 2, INT64_MAX};
    double v[] = {1, 2, 3, 4, 5};
    series_t s;
    ASSERT_EQ(downsample(st, v, 5, 2, &s), 0);
    ASSERT_EQ(s.n, 2);
    ASSERT_EQ(s.step[0], -1);
    ASSERT_EQ(s.step[1], INT64_MAX);
    ASSERT_EQ(s.min[1], 3);
    ASSERT_EQ(s.max[1], 5);
    series_free(&s);

    /* INT64_MAX / 3 is one step short of the second bucket, but its grid
     * cell (2^16 steps) ends inside it, so it counts there. */
    int64_t st2[] = {0, INT64_MAX / 3, INT64_MAX - 1, INT64_MAX};
    double v2[] = {1, 2, 3, 4};
    ASSERT_EQ(downsample(st2, v2, 4, 3, &s), 0);
    ASSERT_EQ(s.n, 3);
    ASSERT_EQ(s.step[0], 0);
    ASSERT_EQ(s.step[1], INT64_MAX / 3);
    ASSERT_EQ(s.step[2], INT64_MAX);
    series_free(&s);
}

/* Many more points than buckets: never more than P buckets, steps kept in
 * order, every point counted in exactly one bucket's range. */
TEST(many_points_bound)
{
    enum { N = 100003 };
    static int64_t st[N];
    static double v[N];
    for (int i = 0; i < N; i++) {
        st[i] = 3 * (int64_t)i + (i % 7 == 0);
        v[i] = sin(i * 0.01);
    }
    for (size_t p = 1; p < 2000; p = p * 3 + 1) {
        series_t s;
        ASSERT_EQ(downsample(st, v, N, p, &s), 0);
        ASSERT_GE(s.n, 1);
        ASSERT_LE(s.n, p);
        ASSERT_EQ(s.step[s.n - 1], st[N - 1]);
        for (size_t b = 1; b < s.n; b++)
            ASSERT_GT(s.step[b], s.step[b - 1]);
        for (size_t b = 0; b < s.n; b++) {
            ASSERT_LE(s.min[b], s.value[b]);
            ASSERT_LE(s.value[b], s.max[b]);
        }
        series_free(&s);
    }
}

/* The buckets against a brute-force oracle: group by
 * floor((key - first) * P / span) computed in 128 bits, key the step or,
 * when buckets are at least 2^8 steps wide, the last step of its grid cell
 * (at most the last step), for random steps with gaps and many budgets (the
 * stream only divides when the bucket changes; this pins that shortcut to
 * the formula). */
TEST(matches_floor_formula_oracle)
{
    enum { N = 5000 };
    static int64_t st[N];
    static double v[N];
    uint64_t x = 88172645463325252ull;
    int gridded = 0;
    for (int round = 0; round < 40; round++) {
        int64_t s0 = (int64_t)(x % 1000) - 500;
        for (int i = 0; i < N; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s0 += 1 + (int64_t)(x % (round % 4 == 0 ? 1 : 97));
            st[i] = s0;
            v[i] = (double)(x % 1000) / 7.0;
        }
        size_t p = 1 + (size_t)(x % 3000);
        series_t s;
        ASSERT_EQ(downsample(st, v, N, p, &s), 0);
        __extension__ typedef unsigned __int128 u128;
        uint64_t span = (uint64_t)(st[N - 1] - st[0]) + 1;
        size_t nb = 0;
        double lo = v[0], hi = v[0];
        /* the widest of 2^8, 2^12, 2^16 no wider than a bucket, or none */
        int64_t cell = 1;
        for (int64_t w = 256; w <= 65536; w *= 16)
            if ((uint64_t)w <= span / p)
                cell = w;
        if (round == 0)
            ASSERT_EQ(cell, 1); /* dense steps: no grid */
        gridded += cell > 1;
#define CELL_END(x) (((x) >= 0 ? (x) / cell : ((x) + 1) / cell - 1) * cell + cell - 1)
#define KEY(i) (cell == 1 ? st[i] : CELL_END(st[i]) < st[N - 1] ? CELL_END(st[i]) : st[N - 1])
        for (int i = 0; i < N; i++) {
            size_t b = (size_t)((u128)(uint64_t)(KEY(i) - st[0]) * p / span);
            size_t bn =
                i + 1 < N ? (size_t)((u128)(uint64_t)(KEY(i + 1) - st[0]) * p / span) : (size_t)-1;
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
            if (bn != b) { /* i is the last point of its bucket */
                if (N > (int)p) {
                    ASSERT_LT(nb, s.n);
                    ASSERT_EQ(s.step[nb], st[i]);
                    ASSERT_EQ(s.value[nb], v[i]);
                    ASSERT_EQ(s.min[nb], lo);
                    ASSERT_EQ(s.max[nb], hi);
                }
                nb++;
                if (i + 1 < N)
                    lo = hi = v[i + 1];
            }
        }
        if (N > (int)p)
            ASSERT_EQ(s.n, nb);
        series_free(&s);
#undef KEY
#undef CELL_END
    }
    ASSERT_GT(gridded, 5);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(empty_series),
        T(n_le_p_is_a_copy),
        T(single_point),
        T(bucket_boundaries_even),
        T(bucket_boundaries_uneven),
        T(empty_buckets_skipped),
        T(spike_preserved_in_max),
        T(nan_handling),
        T(all_same_step),
        T(one_bucket),
        T(huge_step_range),
        T(many_points_bound),
        T(matches_floor_formula_oracle),
        {0},
    });
}
