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

void worker_compute(batch_t *b, metrics_ws_t *ws, result_t *r)
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
    r->dropped = h->dropped;

    const size_t n = h->n, d = h->d;
    if (h->support == EW_SUPPORT_SPHERE)
        for (int v = 0; v < h->views; v++)
            metrics_l2_normalise_f32(b->view[v], n, d);

    const char *why = NULL;
    double ent = metrics_er_entropy_f32(b->view[0], n, d, h->support, h->kappa,
                                        EW_REDUCE_EXPECTATION, ws, &why);
    if (isnan(ent))
        log_debug("run=\"%s\" step=%llu: er_entropy undefined: %s", h->run,
                  (unsigned long long)h->step, why ? why : "?");
    s_add(r, "er_entropy", ent);
    if (h->views == 2) {
        why = NULL;
        double rec = metrics_er_reconstruction_f32(b->view[0], b->view[1], n, d, h->support,
                                                   h->kappa, ws, &why);
        if (isnan(rec))
            log_debug("run=\"%s\" step=%llu: er_reconstruction undefined: %s", h->run,
                      (unsigned long long)h->step, why ? why : "?");
        s_add(r, "er_reconstruction", rec);
    }
    for (int i = 0; i < h->nscalars; i++)
        s_add(r, h->scalars[i].name, h->scalars[i].value);
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
        worker_compute(b, ws, r);
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

workers_t *workers_start(int n, queue_t *in, queue_t *out, stats_t *stats)
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
