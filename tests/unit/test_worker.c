/* test_worker.c: the per-batch computation of the workers: which metrics a
 * batch gets, normalisation of sphere rows, the float path agreeing with
 * the double reference, scalars and the computed-metric-wins rule. */
#include <math.h>
#include <stdlib.h>

#include "metrics.h"
#include "test.h"
#include "worker.h"

static batch_t *s_batch(uint32_t n, uint32_t d, int views, ew_support_t s, unsigned seed)
{
    batch_t *b = calloc(1, sizeof(*b));
    b->h.version = 1;
    snprintf(b->h.run, sizeof(b->h.run), "r");
    snprintf(b->h.tag, sizeof(b->h.tag), "t");
    b->h.step = 42;
    b->h.n = n;
    b->h.d = d;
    b->h.views = views;
    b->h.support = s;
    b->h.kappa = 10;
    b->h.rank = b->h.world = -1;
    b->h.time = NAN;
    b->recv_time = 1000.0;
    srand(seed);
    for (int v = 0; v < views; v++) {
        b->view[v] = malloc(sizeof(float) * n * d);
        for (size_t i = 0; i < (size_t)n * d; i++)
            b->view[v][i] = (float)rand() / (float)RAND_MAX + (s == EW_SUPPORT_SPHERE ? -0.5f : 0.01f);
        if (s == EW_SUPPORT_DISCRETE) /* rows sum to 1 */
            for (size_t i = 0; i < n; i++) {
                float sum = 0;
                for (size_t k = 0; k < d; k++)
                    sum += b->view[v][i * d + k];
                for (size_t k = 0; k < d; k++)
                    b->view[v][i * d + k] /= sum;
            }
    }
    return b;
}

static double *s_to_double(const float *x, size_t n)
{
    double *o = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        o[i] = x[i];
    return o;
}

static const result_point_t *s_find(const result_t *r, const char *m)
{
    for (int i = 0; i < r->npoints; i++)
        if (strcmp(r->points[i].metric, m) == 0)
            return &r->points[i];
    return NULL;
}

TEST(sphere_two_views_matches_double_reference)
{
    batch_t *b = s_batch(64, 16, 2, EW_SUPPORT_SPHERE, 1);
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, ws, &r);
    /* worker_compute normalised the views in place: check unit rows, then
     * compare with the double path on exactly those rows. */
    for (size_t i = 0; i < 64; i++) {
        double s = 0;
        for (size_t k = 0; k < 16; k++)
            s += (double)b->view[0][i * 16 + k] * b->view[0][i * 16 + k];
        ASSERT(fabs(s - 1.0) < 1e-6);
    }
    double *x = s_to_double(b->view[0], 64 * 16), *y = s_to_double(b->view[1], 64 * 16);
    double ent = metrics_er_entropy(x, 64, 16, EW_SUPPORT_SPHERE, 10, EW_REDUCE_EXPECTATION, NULL);
    double rec = metrics_er_reconstruction(x, y, 64, 16, EW_SUPPORT_SPHERE, 10, NULL);
    const result_point_t *pe = s_find(&r, "er_entropy"), *pr = s_find(&r, "er_reconstruction");
    ASSERT(pe && pr);
    ASSERT_MIXED(pe->value, ent, 10 * 2e-7 * (fabs(ent) + 10));
    ASSERT_MIXED(pr->value, rec, 10 * 2e-7 * (fabs(rec) + 10));
    ASSERT_EQ(r.npoints, 2);
    ASSERT_EQ(r.step, 42);
    ASSERT(r.wall_time == 1000.0); /* no client time: receive time */
    free(x);
    free(y);
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

TEST(one_view_has_no_reconstruction)
{
    batch_t *b = s_batch(8, 4, 1, EW_SUPPORT_SPHERE, 2);
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, ws, &r);
    ASSERT(s_find(&r, "er_entropy"));
    ASSERT(!s_find(&r, "er_reconstruction"));
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

TEST(discrete_is_not_normalised)
{
    batch_t *b = s_batch(32, 8, 2, EW_SUPPORT_DISCRETE, 3);
    double *x = s_to_double(b->view[0], 32 * 8), *y = s_to_double(b->view[1], 32 * 8);
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, ws, &r);
    double ent = metrics_er_entropy(x, 32, 8, EW_SUPPORT_DISCRETE, 10, EW_REDUCE_EXPECTATION, NULL);
    double rec = metrics_er_reconstruction(x, y, 32, 8, EW_SUPPORT_DISCRETE, 10, NULL);
    ASSERT_MIXED(s_find(&r, "er_entropy")->value, ent, 2e-6);
    ASSERT_MIXED(s_find(&r, "er_reconstruction")->value, rec, 2e-6);
    free(x);
    free(y);
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

TEST(scalars_follow_and_computed_metric_wins)
{
    batch_t *b = s_batch(8, 4, 1, EW_SUPPORT_SPHERE, 4);
    b->h.nscalars = 2;
    snprintf(b->h.scalars[0].name, sizeof(b->h.scalars[0].name), "loss");
    b->h.scalars[0].value = 0.25;
    snprintf(b->h.scalars[1].name, sizeof(b->h.scalars[1].name), "er_entropy");
    b->h.scalars[1].value = -999;
    b->h.time = 1234.5;
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, ws, &r);
    ASSERT_EQ(r.npoints, 2);
    ASSERT(s_find(&r, "loss")->value == 0.25);
    ASSERT(s_find(&r, "er_entropy")->value != -999);
    ASSERT(r.wall_time == 1234.5);
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

TEST(all_zero_batch_gives_a_value_or_nan_never_crash)
{
    batch_t *b = s_batch(4, 4, 2, EW_SUPPORT_SPHERE, 5);
    memset(b->view[0], 0, sizeof(float) * 16);
    memset(b->view[1], 0, sizeof(float) * 16);
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, ws, &r);
    ASSERT_EQ(r.npoints, 2);
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(sphere_two_views_matches_double_reference),
        T(one_view_has_no_reconstruction),
        T(discrete_is_not_normalised),
        T(scalars_follow_and_computed_metric_wins),
        T(all_zero_batch_gives_a_value_or_nan_never_crash),
        {0},
    });
}
