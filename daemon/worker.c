/* worker.c: metric worker threads (see worker.h).
 *
 * OpenBLAS is pinned to one thread by main() (openblas_set_num_threads), so
 * N workers use N cores without oversubscription; parallelism comes from
 * batches, not from inside one Gram product.
 */
#include "worker.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct workers {
    int n;
    unsigned default_set;
    pthread_t *threads;
    queue_t *in, *out;
    stats_t *stats;
};

static void s_add(result_t *r, const char *metric, double v)
{
    /* A computed metric wins over a scalar of the same name (protocol.md):
     * computed ones are added first, so a clashing scalar is skipped. */
    for (int i = 0; i < r->npoints; i++)
        if (strcmp(r->points[i].metric, metric) == 0)
            return;
    if (r->npoints >= EW_RESULT_POINTS_MAX)
        return;
    result_point_t *p = &r->points[r->npoints++];
    snprintf(p->metric, sizeof(p->metric), "%s", metric);
    p->value = v;
}

/* The protocol's metric ids (batch.h) and the kernels' (metrics.h) are
 * both made from EW_METRICS, so a set mask passes through unchanged. */
_Static_assert((int)EW_M_COUNT == (int)METRICS_COUNT, "catalogue size");

/* Probability rows and prototype scores get only the ER metrics: the
 * geometric ones (uniformity, W2, RankMe, spectrum) describe embeddings. */
#define S_ER_ONLY (EW_MBIT(EW_M_ER_ENTROPY) | EW_MBIT(EW_M_ER_RECONSTRUCTION))

void worker_compute(batch_t *b, unsigned default_set, metrics_ws_t *ws, result_t *r)
{
    const ew_header_t *h = &b->h;
    memset(r, 0, sizeof(*r));
    r->seq = b->seq;
    memcpy(r->run, h->run, sizeof(r->run));
    memcpy(r->tag, h->tag, sizeof(r->tag));
    r->step = h->step;
    r->recv_time = b->recv_time;
    r->client_time = h->time;
    r->wall_time = isnan(h->time) ? b->recv_time : h->time;
    r->n = h->n;
    r->d = h->d;
    r->views = h->views;
    r->support = h->support;
    r->kappa = h->kappa;
    r->rank = h->rank;
    r->world = h->world;
    r->ranks = h->ranks;
    memcpy(r->launch, h->launch, sizeof(r->launch));
    r->resume = h->resume;
    r->rewind_from = -1;
    r->config = b->config; /* moved: the result owns them now */
    r->notes = b->notes;
    b->config = b->notes = NULL;
    r->dropped = h->dropped;

    metrics_params_t p;
    metrics_params_default(&p);
    p.kappa = h->kappa;
    p.t = h->t;
    p.alpha = h->alpha;
    p.sinkhorn_eps = h->eps;
    p.sinkhorn_iters = h->iters;
    p.support = h->support == EW_SUPPORT_SPHERE ? EW_SUPPORT_SPHERE : EW_SUPPORT_DISCRETE;
    unsigned set = (h->metrics ? h->metrics : default_set) & EW_METRICS_ALL;
    const float *y = h->views == 2 ? b->view[1] : NULL;
    metrics_out_t out;
    int rc;
    if (h->views == 0) { /* scalar-only: nothing to compute */
        out.mask = 0;
        out.spectrum_len = 0;
        rc = 0;
    } else if (h->support == EW_SUPPORT_SCORES)
        rc = metrics_scores_f32(b->view[0], y, h->n, h->d, &p, set & S_ER_ONLY, ws, &out);
    else if (h->support == EW_SUPPORT_DISCRETE)
        rc = metrics_compute_set_f32(b->view[0], y, h->n, h->d, &p, set & S_ER_ONLY, ws, &out);
    else /* raw rows: the kernels normalise a copy for the sphere metrics */
        rc = metrics_compute_set_f32(b->view[0], y, h->n, h->d, &p, set | METRICS_SPECTRUM, ws,
                                     &out);
    if (rc != 0) {
        /* Only NULL pointers give an error; a decoded batch has none. */
        log_error("run=\"%s\" step=%llu: metrics failed (%d)", h->run, (unsigned long long)h->step,
                  rc);
        out.mask = 0;
        out.spectrum_len = 0;
    }
    for (int id = 0; id < METRICS_COUNT; id++) {
        if (!(out.mask & METRICS_BIT(id)))
            continue;
        if (isnan(out.value[id]))
            log_debug("run=\"%s\" step=%llu: %s undefined: %s", h->run, (unsigned long long)h->step,
                      metrics_name((metrics_id_t)id), out.why[id] ? out.why[id] : "?");
        s_add(r, metrics_name((metrics_id_t)id), out.value[id]);
    }
    size_t k = out.spectrum_len > EW_SPECTRUM_MAX ? EW_SPECTRUM_MAX : out.spectrum_len;
    for (size_t i = 0; i < k; i++)
        r->spectrum[i] = (float)out.spectrum[i];
    r->nspectrum = (int)k;
    for (int i = 0; i < h->nscalars; i++)
        s_add(r, h->scalars[i].name, h->scalars[i].value);
    /* A pooled batch says how many ranks it holds (below world: some
     * timed out), as a series beside the metrics (schema/protocol.md). */
    if (h->ranks > 0)
        s_add(r, EW_POOL_RANKS_SERIES, (double)h->ranks);
}

static void *s_run(void *arg)
{
    workers_t *w = arg;
    metrics_ws_t *ws = metrics_ws_new();
    batch_t *b;
    while ((b = queue_pop(w->in)) != NULL) {
        result_t *r = malloc(sizeof(*r));
        if (!r)
            abort();
        double t0 = ew_monotonic();
        worker_compute(b, w->default_set, ws, r);
        stats_inc(&w->stats->worker_busy_us, (uint64_t)((ew_monotonic() - t0) * 1e6 + 0.5));
        batch_destroy(&b);
        for (int i = 0; i < r->npoints; i++)
            if (isnan(r->points[i].value))
                stats_inc(&w->stats->undefined_metrics, 1);
        stats_inc(&w->stats->computed, 1);
        if (queue_push(w->out, r, sizeof(*r)) != 0) {
            /* main() closes the result queue only after every worker has
             * joined, so this is a bug, not a shutdown race. */
            log_error("result queue closed under a worker; result lost");
            result_destroy(&r);
        }
    }
    metrics_ws_destroy(&ws);
    return NULL;
}

workers_t *workers_start(int n, queue_t *in, queue_t *out, stats_t *stats, unsigned default_set)
{
    workers_t *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->threads = calloc((size_t)n, sizeof(*w->threads));
    if (!w->threads)
        abort();
    w->in = in;
    w->out = out;
    w->stats = stats;
    w->default_set = default_set;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&w->threads[i], NULL, s_run, w) != 0) {
            log_error("cannot start worker thread %d", i);
            break;
        }
        w->n++;
    }
    if (w->n == 0) {
        free(w->threads);
        free(w);
        return NULL;
    }
    return w;
}

void workers_join(workers_t **wp)
{
    workers_t *w = wp ? *wp : NULL;
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    free(w);
    *wp = NULL;
}
