/* metrics_levels.h: the reference levels of the metrics, where a fully
 * collapsed batch lands ("collapsed") and where a healthy one does
 * ("ideal"), for a batch's shape. The alert rules' `ideal`, `collapsed` and
 * `level` (rules.c, alerts.c) and the dashboard's dashed lines (http.c,
 * GET /api/series "ref") both come from here, so they cannot disagree.
 * Pure: no I/O, no globals, no threads.
 */
#ifndef ERWATCH_METRICS_LEVELS_H
#define ERWATCH_METRICS_LEVELS_H

#include <stdint.h>

#include "batch.h"

/* The levels of a computed metric for a batch of shape n x d (README.md,
 * "Alerting"): er_entropy (sphere: the value a uniform spread on the sphere
 * gives for that N, d and kappa, and c(d,kappa)-kappa; discrete: ln d and
 * 0), std_l2 (1/sqrt(d), 0), rankme (min(N,d), 1). Returns 0, or -1 (both
 * NAN) when the metric has no such levels. */
int metrics_levels(const char *metric, ew_support_t support, uint32_t n, uint32_t d, double kappa,
                   double *ideal, double *collapsed);
/* 1 when metrics_levels() has levels for metric (for some batch). */
int metrics_has_levels(const char *metric);

/* What the dashboard draws: metrics_levels(), plus two guides that hold
 * only for the daemon's defaults and are no exact level of a finite batch,
 * so the alert rules do not use them: uniform (t = 2, unit rows: 0 for one
 * point, the uniform sphere's value for a spread) and w2 (sqrt 2 for one
 * unit vector, 0 for N(0, I/d) moments). Same returns. */
int metrics_chart_levels(const char *metric, ew_support_t support, uint32_t n, uint32_t d,
                         double kappa, double *ideal, double *collapsed);

#endif
