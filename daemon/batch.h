/* batch.h: the decoded batch, the unit of work that flows from ingest to the
 * workers, and the result that flows from the workers to the writer.
 *
 * Ownership: a batch_t is created by decode_message() and owns its tensor
 * buffers; whoever pops it from a queue frees it with batch_destroy(). A
 * result_t is created by a worker and freed by the writer with
 * result_destroy(). Neither is shared between threads at the same time.
 */
#ifndef ERWATCH_BATCH_H
#define ERWATCH_BATCH_H

#include <stddef.h>
#include <stdint.h>

/* The protocol's limits (EW_NAME_MAX, EW_N_MAX, ...) and its metric
 * catalogue (EW_METRICS), shared with the client. */
#include "ew_protocol.h"

#define EW_KAPPA_DEFAULT 10.0
/* How long a pooled step waits for its missing ranks (--pool-timeout-ms).
 * The ranks of a data-parallel job meet at every step's all-reduce, so
 * their parts of one step leave within a step time of each other; 10 s
 * covers steps of several seconds plus a client's send buffer, and a dead
 * rank costs each later step this long before it is stored. */
#define EW_POOL_TIMEOUT_MS_DEFAULT 10000

/* EW_DTYPE_F32, ... and EW_SUPPORT_SPHERE, ... (EW_DTYPES, EW_SUPPORTS). */
#define EW_DTYPE_ENUM_(id, name, bytes) EW_DTYPE_##id,
typedef enum { EW_DTYPES(EW_DTYPE_ENUM_) } ew_dtype_t;
#undef EW_DTYPE_ENUM_
/* sphere: embeddings (rows l2-normalised by the daemon); discrete: rows are
 * probability vectors; scores: rows are prototype scores (B x K), turned
 * into assignments by Sinkhorn-Knopp before the discrete ER metrics. */
#define EW_SUPPORT_ENUM_(id, name) EW_SUPPORT_##id,
typedef enum { EW_SUPPORTS(EW_SUPPORT_ENUM_) } ew_support_t;
#undef EW_SUPPORT_ENUM_

/* The metric catalogue (EW_METRICS in ew_protocol.h): EW_M_ER_ENTROPY, ... */
#define EW_M_ENUM_(id, name, views) EW_M_##id,
typedef enum { EW_METRICS(EW_M_ENUM_) EW_M_COUNT } ew_metric_t;
#undef EW_M_ENUM_

#define EW_MBIT(m) (1u << (m))
/* The daemon's default set: every metric that applies to the batch. */
#define EW_METRICS_ALL ((1u << EW_M_COUNT) - 1u)

const char *ew_metric_name(ew_metric_t m);
/* Returns the metric named by the n bytes at s, or -1. */
int ew_metric_lookup(const char *s, size_t n);

/* Per-batch metric parameters, with the defaults of tests/vectors. */
#define EW_T_DEFAULT 2.0     /* uniformity temperature */
#define EW_ALPHA_DEFAULT 2.0 /* alignment exponent */
#define EW_SINKHORN_EPS_DEFAULT 0.05
#define EW_SINKHORN_ITERS_DEFAULT 3

typedef struct {
    char name[EW_NAME_MAX + 1];
    double value;
} ew_scalar_t;

/* Everything the header says, validated. Plain data, no pointers. */
typedef struct {
    int version;
    char run[EW_NAME_MAX + 1];
    char tag[EW_NAME_MAX + 1];
    uint64_t step; /* <= INT64_MAX */
    ew_dtype_t dtype;
    uint32_t n, d;
    int views; /* 1 or 2; 0: scalar-only (n = d = 0, no tensor) */
    ew_support_t support;
    double kappa;
    unsigned metrics;    /* EW_MBIT set asked for; 0: the daemon's default */
    double t, alpha;     /* uniform temperature, align exponent */
    double eps;          /* Sinkhorn entropic regularisation (scores) */
    int iters;           /* Sinkhorn iterations (scores) */
    int32_t rank, world; /* -1 when not given */
    int pool;            /* 1: one rank's part of a pooled batch (pool.h) */
    int32_t ranks;       /* a pooled batch: the parts it was made of; else 0 */
    double time;         /* client wall clock; NAN when not given */
    uint64_t dropped;
    int nscalars;
    ew_scalar_t scalars[EW_SCALARS_MAX];
    char launch[EW_LAUNCH_MAX + 1]; /* "" when not sent */
    int resume;                     /* 1: continue the latest run of this name */
    /* `config` and `notes`, validated, as byte ranges of the header frame
     * (the header stays plain data; decode_message() copies them out).
     * len 0: not sent. */
    uint32_t config_off, config_len;
    uint32_t notes_off, notes_len;
} ew_header_t;

/* A decoded batch: header plus the views converted to float32, row-major. */
typedef struct {
    ew_header_t h;
    uint64_t seq;     /* arrival order among accepted batches, from 0 */
    double recv_time; /* daemon wall clock at receipt */
    float *view[2];   /* view[1] is NULL for a one-view batch, both for a
                       * scalar-only one; owned */
    char *config;     /* the header's `config` JSON text, or NULL; owned */
    char *notes;      /* the header's `notes`, or NULL; owned */
    size_t bytes;     /* bytes held (for the byte-bounded queue) */
} batch_t;

void batch_destroy(batch_t **b);

/* One computed or reported value. */
typedef struct {
    char metric[EW_NAME_MAX + 1];
    double value; /* NAN: undefined for this batch (stored as NULL) */
} result_point_t;

#define EW_RESULT_POINTS_MAX (EW_SCALARS_MAX + 32)
#define EW_SPECTRUM_MAX 512 /* singular values kept per batch */

/* What the writer stores for one batch. */
typedef struct {
    uint64_t seq; /* the batch's arrival order: the writer stores in it */
    char run[EW_NAME_MAX + 1];
    char tag[EW_NAME_MAX + 1];
    uint64_t step;
    double wall_time;   /* client time when given, else receive time */
    double client_time; /* the header's `time`; NAN when not sent */
    double recv_time;
    uint32_t n, d;
    int views;
    ew_support_t support;
    double kappa;
    int32_t rank, world;
    int32_t ranks;                  /* a pooled batch: the parts it was made of; else 0 */
    uint64_t dropped;               /* client-reported running total */
    char launch[EW_LAUNCH_MAX + 1]; /* "" when the batch carried none */
    int resume;
    char *config, *notes; /* NUL-terminated or NULL; owned (from the batch) */
    /* Set by the store (store_write): the run's name as stored, which for a
     * launch may differ from `run` (the name the client gave: NAME.2...);
     * the first step of a resume that removed later points (-1: none);
     * 1 when the result was not stored because it asked to resume a run
     * that does not exist (2 for later results of that launch). */
    char stored_run[EW_NAME_MAX + 1];
    int64_t rewind_from;
    int resume_missing;
    int npoints;
    result_point_t points[EW_RESULT_POINTS_MAX];
    /* sigma_k / sum_j sigma_j of the raw rows, descending; 0 values when
     * the batch has no spectrum (discrete support, or undefined) */
    int nspectrum;
    float spectrum[EW_SPECTRUM_MAX];
} result_t;

void result_destroy(result_t **r);
/* The run the result was stored under: stored_run once the store set it,
 * else the name the client gave. */
const char *result_run(const result_t *r);

const char *ew_dtype_name(ew_dtype_t t);
size_t ew_dtype_size(ew_dtype_t t);
const char *ew_support_name(ew_support_t s);

#endif
