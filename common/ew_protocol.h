/* ew_protocol.h: the facts of the wire protocol (schema/protocol.md) that
 * the daemon and the client both need: its limits and the metric catalogue.
 * Each is written here once; daemon/batch.h and client/erwatch.c include
 * this file, and the Python package (client/python/erwatch/_protocol.py)
 * and the dashboard (web/src/chart.js) are checked against it by
 * tests/integration/test_facts.py, which fails when they drift.
 *
 * Macros only: the client library stays standalone (nothing to link), and
 * no symbol can clash when a program links libewcore.a and liberwatch.a.
 */
#ifndef ERWATCH_EW_PROTOCOL_H
#define ERWATCH_EW_PROTOCOL_H

/* ---------------------------------------------------------------- limits */

#define EW_PROTOCOL_VERSION 1
#define EW_HEADER_MAX 65536u    /* bytes of the msgpack header frame */
#define EW_NAME_MAX 128         /* bytes of UTF-8 in run, tag, scalar and metric names */
#define EW_N_MAX 65536u         /* rows per view */
#define EW_D_MAX 8192u          /* columns */
#define EW_ELEMS_MAX (1u << 25) /* N * d */
#define EW_SCALARS_MAX 64
#define EW_KAPPA_MAX 100000.0
#define EW_WORLD_MAX 65536
#define EW_LAUNCH_MAX 128    /* bytes of a launch identity (printable ASCII) */
#define EW_CONFIG_MAX 32768u /* bytes of the `config` JSON text */
#define EW_NOTES_MAX 4096u   /* bytes of `notes` */
/* Upper bounds of the optional metric parameters (each must be > 0). */
#define EW_T_MAX 1000.0   /* uniformity temperature */
#define EW_ALPHA_MAX 16.0 /* alignment exponent */
#define EW_EPS_MAX 100.0  /* Sinkhorn entropic regularisation */
#define EW_SINKHORN_ITERS_MAX 100
/* The series a pooled batch's rank count is stored under, beside its
 * metrics (schema/protocol.md, "Pooled batches"). */
#define EW_POOL_RANKS_SERIES "pool_ranks"

/* ---------------------------------------------------------------- values */

/* The header's `dtype` values, the element types of the tensor frames:
 * X(ID, name, bytes per element). ID makes EW_DTYPE_ID (batch.h) and names
 * the client's ERWATCH_ID (erwatch.h). */
#define EW_DTYPES(X) X(F32, f32, 4) X(F64, f64, 8) X(F16, f16, 2) X(BF16, bf16, 2)
/* The header's `support` values: X(ID, name); EW_SUPPORT_ID in batch.h. */
#define EW_SUPPORTS(X) X(SPHERE, sphere) X(DISCRETE, discrete) X(SCORES, scores)

/* How many entries a list has: EW_COUNT(EW_DTYPES). */
#define EW_COUNT_ONE_(...) +1
#define EW_COUNT(LIST) (0 LIST(EW_COUNT_ONE_))

/* ---------------------------------------------------------------- metrics */

/* The metric catalogue: what a batch may ask the daemon to compute (header
 * key `metrics`), in the order of its bits. X(ID, name, views): ID makes
 * EW_M_ID (batch.h) and METRICS_ID (metrics.h); name is the series name and
 * `erwatch compute`'s; views is 2 for a metric of two views. */
#define EW_METRICS(X)                                                                              \
    X(ER_ENTROPY, er_entropy, 1)                                                                   \
    X(ER_RECONSTRUCTION, er_reconstruction, 2)                                                     \
    X(ALIGN, align, 2)                                                                             \
    X(UNIFORM, uniform, 1)                                                                         \
    X(W2, w2, 1)                                                                                   \
    X(RANKME, rankme, 1)                                                                           \
    X(STD_L2, std_l2, 1)

/* "er_entropy, er_reconstruction, ..., std_l2": the names for messages (a
 * const char *, past the leading ", " of the concatenated literal). */
#define EW_METRIC_LIST_(id, name, views) ", " #name
#define EW_METRIC_LIST (&(EW_METRICS(EW_METRIC_LIST_))[2])
/* The same for dtypes and supports: "f32, f64, f16, bf16". */
#define EW_DTYPE_LIST_(id, name, bytes) ", " #name
#define EW_DTYPE_LIST (&(EW_DTYPES(EW_DTYPE_LIST_))[2])
#define EW_SUPPORT_LIST_(id, name) ", " #name
#define EW_SUPPORT_LIST (&(EW_SUPPORTS(EW_SUPPORT_LIST_))[2])

#endif
