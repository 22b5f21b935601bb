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
    b->h.t = EW_T_DEFAULT; /* what the decoder fills in */
    b->h.alpha = EW_ALPHA_DEFAULT;
    b->h.eps = EW_SINKHORN_EPS_DEFAULT;
    b->h.iters = EW_SINKHORN_ITERS_DEFAULT;
    b->h.rank = b->h.world = -1;
    b->h.time = NAN;
    b->recv_time = 1000.0;
    srand(seed);
    for (int v = 0; v < views; v++) {
        b->view[v] = malloc(sizeof(float) * n * d);
        for (size_t i = 0; i < (size_t)n * d; i++)
            b->view[v][i] =
                (float)rand() / (float)RAND_MAX + (s == EW_SUPPORT_SPHERE ? -0.5f : 0.01f);
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

/* The metric names r holds, comma-separated, for a failure message. */
static const char *s_names(const result_t *r, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < r->npoints && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", r->points[i].metric);
    return buf;
}

/* r has a point named m (fails listing what it has, before any dereference
 * of a missing point) / has none, printing its value if it does. */
#define ASSERT_POINT(r, m)                                                                         \
    do {                                                                                           \
        char have_[512];                                                                           \
        if (!s_find((r), (m)))                                                                     \
            T_FAIL_("no point \"%s\" in the result; it has: %s", (m),                              \
                    s_names((r), have_, sizeof have_));                                            \
    } while (0)
#define ASSERT_NO_POINT(r, m)                                                                      \
    do {                                                                                           \
        const result_point_t *p_ = s_find((r), (m));                                               \
        if (p_)                                                                                    \
            T_FAIL_("unexpected point \"%s\" = %g in the result", (m), p_->value);                 \
    } while (0)

/* Unit rows (in double) of a float view: what the daemon's metrics see. */
static double *s_unit(const float *x, size_t n, size_t d)
{
    double *o = s_to_double(x, n * d);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t k = 0; k < d; k++)
            s += o[i * d + k] * o[i * d + k];
        s = s > 0 ? 1 / sqrt(s) : 0;
        for (size_t k = 0; k < d; k++)
            o[i * d + k] *= s;
    }
    return o;
}

/* The default set on a two-view sphere batch: every catalogue metric, each
 * equal to the double reference on the rows it is defined on (normalised
 * for ER, uniform, w2 and align; raw for rankme and std_l2), and the views
 * left untouched. */
TEST(sphere_two_views_matches_double_reference)
{
    batch_t *b = s_batch(64, 16, 2, EW_SUPPORT_SPHERE, 1);
    float before = b->view[0][0];
    double *raw = s_to_double(b->view[0], 64 * 16);
    double *x = s_unit(b->view[0], 64, 16), *y = s_unit(b->view[1], 64, 16);
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, EW_METRICS_ALL, ws, &r);
    ASSERT_EQ(b->view[0][0], before);
    struct {
        const char *name;
        double want, tol;
    } c[] = {
        {"er_entropy",
         metrics_er_entropy(x, 64, 16, EW_SUPPORT_SPHERE, 10, EW_REDUCE_EXPECTATION, NULL), 0},
        {"er_reconstruction", metrics_er_reconstruction(x, y, 64, 16, EW_SUPPORT_SPHERE, 10, NULL),
         0},
        {"align", metrics_align(x, y, 64, 16, 2, NULL), 2e-6},
        {"uniform", metrics_uniform(x, 64, 16, 2, NULL), 2e-6},
        {"w2", metrics_w2(x, 64, 16, 1e-8, NULL), 6e-6},
        {"rankme", metrics_rankme(raw, 64, 16, 1e-7, NULL), 2.4e-5},
        {"std_l2", metrics_std_l2(raw, 64, 16, NULL), 2e-6},
    };
    ASSERT_EQ(r.npoints, 7);
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        ASSERT_POINT(&r, c[i].name);
        const result_point_t *pt = s_find(&r, c[i].name);
        double tol = c[i].tol ? c[i].tol : 10 * 2e-7 * (fabs(c[i].want) + 10);
        ASSERT_MIXED(pt->value, c[i].want, tol);
    }
    /* the spectrum: min(N, d) values, descending, summing to 1 */
    ASSERT_EQ(r.nspectrum, 16);
    double sum = 0;
    for (int i = 0; i < r.nspectrum; i++) {
        sum += r.spectrum[i];
        if (i)
            ASSERT_LE(r.spectrum[i], r.spectrum[i - 1]);
    }
    ASSERT_LT(fabs(sum - 1), 1e-5);
    ASSERT_EQ(r.step, 42);
    ASSERT_EQ(r.wall_time, 1000.0); /* no client time: receive time */
    free(raw);
    free(x);
    free(y);
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

/* A header's `metrics` list narrows the set; two-view metrics need two. */
TEST(header_metric_set_is_honoured)
{
    batch_t *b = s_batch(32, 8, 1, EW_SUPPORT_SPHERE, 6);
    b->h.metrics = EW_MBIT(EW_M_RANKME) | EW_MBIT(EW_M_ALIGN);
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, EW_METRICS_ALL, ws, &r);
    ASSERT_EQ(r.npoints, 1);
    ASSERT_POINT(&r, "rankme");
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

/* Prototype scores: Sinkhorn assignments, then discrete ER on them. */
TEST(scores_support_gives_discrete_er_of_assignments)
{
    batch_t *b = s_batch(16, 4, 2, EW_SUPPORT_SCORES, 7);
    metrics_ws_t *ws = metrics_ws_new();
    double *s0 = s_to_double(b->view[0], 16 * 4), *q = malloc(sizeof(double) * 16 * 4);
    ASSERT_EQ(metrics_sinkhorn(s0, 16, 4, 0.05, 3, q, NULL), 0);
    double want =
        metrics_er_entropy(q, 16, 4, EW_SUPPORT_DISCRETE, 10, EW_REDUCE_EXPECTATION, NULL);
    result_t r;
    worker_compute(b, EW_METRICS_ALL, ws, &r);
    ASSERT_EQ(r.npoints, 2);
    ASSERT_EQ(r.nspectrum, 0);
    ASSERT_POINT(&r, "er_entropy");
    ASSERT_MIXED(s_find(&r, "er_entropy")->value, want, 1e-5);
    ASSERT_POINT(&r, "er_reconstruction");
    free(s0);
    free(q);
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

TEST(one_view_has_no_reconstruction)
{
    batch_t *b = s_batch(8, 4, 1, EW_SUPPORT_SPHERE, 2);
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, EW_METRICS_ALL, ws, &r);
    ASSERT_POINT(&r, "er_entropy");
    ASSERT_NO_POINT(&r, "er_reconstruction");
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

TEST(discrete_is_not_normalised)
{
    batch_t *b = s_batch(32, 8, 2, EW_SUPPORT_DISCRETE, 3);
    double *x = s_to_double(b->view[0], 32 * 8), *y = s_to_double(b->view[1], 32 * 8);
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, EW_METRICS_ALL, ws, &r);
    double ent = metrics_er_entropy(x, 32, 8, EW_SUPPORT_DISCRETE, 10, EW_REDUCE_EXPECTATION, NULL);
    double rec = metrics_er_reconstruction(x, y, 32, 8, EW_SUPPORT_DISCRETE, 10, NULL);
    ASSERT_POINT(&r, "er_entropy");
    ASSERT_MIXED(s_find(&r, "er_entropy")->value, ent, 2e-6);
    ASSERT_POINT(&r, "er_reconstruction");
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
    worker_compute(b, EW_METRICS_ALL, ws, &r);
    ASSERT_EQ(r.npoints, 6); /* 5 one-view metrics + loss */
    ASSERT_POINT(&r, "loss");
    ASSERT_EQ(s_find(&r, "loss")->value, 0.25);
    ASSERT_POINT(&r, "er_entropy");
    ASSERT_NE(s_find(&r, "er_entropy")->value, -999);
    ASSERT_EQ(r.wall_time, 1234.5);
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

/* views 0: the scalars alone, no metric, no spectrum. */
TEST(scalar_only_batch_gives_its_scalars)
{
    batch_t *b = s_batch(0, 0, 0, EW_SUPPORT_SPHERE, 6);
    b->h.nscalars = 1;
    snprintf(b->h.scalars[0].name, sizeof(b->h.scalars[0].name), "loss");
    b->h.scalars[0].value = 0.75;
    metrics_ws_t *ws = metrics_ws_new();
    result_t r;
    worker_compute(b, EW_METRICS_ALL, ws, &r);
    ASSERT_EQ(r.npoints, 1);
    ASSERT_STREQ(r.points[0].metric, "loss");
    ASSERT_EQ(r.points[0].value, 0.75);
    ASSERT_EQ(r.nspectrum, 0);
    ASSERT_EQ(r.views, 0);
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
    worker_compute(b, EW_METRICS_ALL, ws, &r);
    ASSERT_EQ(r.npoints, 7);
    ASSERT_POINT(&r, "rankme");
    ASSERT_NAN(s_find(&r, "rankme")->value); /* 0/0: undefined, not a number */
    ASSERT_EQ(r.nspectrum, 0);
    metrics_ws_destroy(&ws);
    batch_destroy(&b);
}

int main(void)
{
    return test_main((test_case_t[]){
        T(sphere_two_views_matches_double_reference),
        T(header_metric_set_is_honoured),
        T(scores_support_gives_discrete_er_of_assignments),
        T(one_view_has_no_reconstruction),
        T(discrete_is_not_normalised),
        T(scalars_follow_and_computed_metric_wins),
        T(scalar_only_batch_gives_its_scalars),
        T(all_zero_batch_gives_a_value_or_nan_never_crash),
        {0},
    });
}
