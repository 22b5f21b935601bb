/* bench_store.c: the writer alone: store_write() of groups of results into
 * one database, SQLite file or PostgreSQL URI (the same call, either
 * backend), with no ZeroMQ, no workers and no HTTP in the way: the points
 * per second a store takes from one writer.
 *
 *   bench_store DB [SECONDS] [RESULTS_PER_GROUP] [RUN]
 *
 * Each group holds RESULTS_PER_GROUP results (default 64) of 12 points and
 * a batches row each, steps ascending, spread over 2 tags of run RUN
 * (default "bench"), as a busy writer sees them; groups are written back
 * to back for SECONDS (default 5). Prints one line: groups, points, points/s
 * and the median group's milliseconds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "log.h"
#include "store.h"

#define S_POINTS 12

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store DB [SECONDS] [RESULTS_PER_GROUP] [RUN]\n");
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 5.0;
    size_t per = argc > 3 ? (size_t)atoi(argv[3]) : 64;
    const char *run = argc > 4 ? argv[4] : "bench";
    char err[512];
    store_t *s = NULL;
    if (store_open(&s, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "bench_store: %s\n", err);
        return 1;
    }
    result_t **rs = calloc(per, sizeof *rs);
    for (size_t i = 0; i < per; i++) {
        rs[i] = calloc(1, sizeof **rs);
        result_t *r = rs[i];
        snprintf(r->run, sizeof r->run, "%s", run);
        snprintf(r->tag, sizeof r->tag, "%s", i % 2 ? "backbone" : "projector");
        r->n = 256;
        r->d = 128;
        r->views = 2;
        r->support = EW_SUPPORT_SPHERE;
        r->kappa = 10;
        r->rank = r->world = -1;
        r->client_time = NAN;
        r->npoints = S_POINTS;
        for (int k = 0; k < S_POINTS; k++)
            snprintf(r->points[k].metric, sizeof r->points[k].metric, "m%d", k);
    }
    size_t cap = 1 << 16, ngroups = 0;
    double *ms = malloc(cap * sizeof *ms);
    long points = 0;
    uint64_t step = 0;
    double t0 = ew_monotonic(), end = t0 + secs;
    while (ew_monotonic() < end && ngroups < cap) {
        for (size_t i = 0; i < per; i++) {
            result_t *r = rs[i];
            r->step = step + i / 2;
            r->recv_time = r->wall_time = ew_now();
            for (int k = 0; k < S_POINTS; k++)
                r->points[k].value = sin((double)r->step * 0.01 + k);
        }
        step += (per + 1) / 2;
        double g0 = ew_monotonic();
        long n = store_write(s, rs, per, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "bench_store: %s\n", err);
            return 1;
        }
        ms[ngroups++] = (ew_monotonic() - g0) * 1e3;
        points += n;
    }
    double dt = ew_monotonic() - t0;
    qsort(ms, ngroups, sizeof *ms, s_cmp);
    printf("bench_store %s %s: %zu groups of %zu results x %d points: %ld points in %.2f s = %.0f "
           "points/s; median group %.2f ms\n",
           store_backend(s), run, ngroups, per, S_POINTS, points, dt, points / dt,
           ngroups ? ms[ngroups / 2] : 0.0);
    store_close(&s);
    for (size_t i = 0; i < per; i++)
        free(rs[i]);
    free(rs);
    free(ms);
    return 0;
}
