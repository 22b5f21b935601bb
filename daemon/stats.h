/* stats.h: the daemon's counters, shared by every stage and read by
 * GET /api/health. Plain C11 atomics (relaxed: counters, not
 * synchronisation); one stats_t per daemon, owned by main().
 */
#ifndef ERWATCH_STATS_H
#define ERWATCH_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"

#define EW_COMMIT_BUCKETS 12

typedef struct {
    double start_time;             /* wall clock at start */
    atomic_uint_fast64_t received; /* messages read from ZeroMQ */
    atomic_uint_fast64_t accepted; /* decoded and queued */
    atomic_uint_fast64_t rejected[EW_REJ_COUNT];
    atomic_uint_fast64_t computed; /* batches through a worker */
    atomic_uint_fast64_t stored;   /* batches committed (and their alerts evaluated) */
    atomic_uint_fast64_t points_written;
    atomic_uint_fast64_t store_errors;      /* failed transactions */
    atomic_uint_fast64_t store_lost;        /* results given up at shutdown */
    atomic_uint_fast64_t auth_refused;      /* CURVE: unlisted key (curve.h) */
    atomic_uint_fast64_t handshake_failed;  /* CURVE: plaintext, wrong server key */
    atomic_uint_fast64_t discarded_at_stop; /* messages still arriving past the
                                               shutdown's drain, not decoded */
    atomic_uint_fast64_t undefined_metrics; /* NaN results (stored NULL) */
    /* The sequence number (batch.h) of the next result the writer will take
     * in order. Ingest accepts batch seq only once seq - next_store_seq <
     * EW_SEQ_WINDOW, which bounds everything between them (queues, workers,
     * the writer's reorder heap) to that many batches. Not a tally: stored
     * with release, read with acquire. */
    atomic_uint_fast64_t next_store_seq;
    /* alerting (alerts_hook.c, notify.c) */
    atomic_uint_fast64_t alert_rules;    /* rules loaded */
    atomic_uint_fast64_t alerts_pending; /* gauges, set by the writer */
    atomic_uint_fast64_t alerts_firing;
    atomic_uint_fast64_t alerts_fired;   /* episodes that fired since start */
    atomic_uint_fast64_t notify_sent;    /* notifications delivered */
    atomic_uint_fast64_t notify_errors;  /* failed attempts (each retry) */
    atomic_uint_fast64_t notify_dropped; /* given up: queue full, retries out */
    /* pooling the ranks of a distributed job (pool.h, ingest.c) */
    atomic_uint_fast64_t pool_complete; /* pooled batches with every rank */
    atomic_uint_fast64_t pool_partial;  /* ... sent on timeout without some */
    atomic_uint_fast64_t pool_evicted;  /* ... sent early: memory or shutdown */
    atomic_uint_fast64_t pool_groups;   /* gauges: steps waiting for parts */
    atomic_uint_fast64_t pool_bytes;    /* and the bytes of their parts */
    /* GET /metrics (http_prom.c) */
    atomic_uint_fast64_t worker_busy_us;                 /* computing, summed over workers */
    atomic_uint_fast64_t store_up;                       /* gauge: 0 while commits fail, else 1 */
    atomic_uint_fast64_t commit_count;                   /* commits that worked, and their */
    atomic_uint_fast64_t commit_us_sum;                  /* summed latency */
    atomic_uint_fast64_t commit_hist[EW_COMMIT_BUCKETS]; /* per bucket, not cumulative */
    /* run life cycle (lifecycle.c) */
    atomic_uint_fast64_t runs_deleted; /* by erwatch rm and retention */
    atomic_uint_fast64_t runs_renamed;
    atomic_uint_fast64_t retention_deleted; /* of runs_deleted, by retention */
    atomic_uint_fast64_t rows_purged;       /* rows of deleted runs removed */
    /* The store's state for /api/health: while the latest commit failed,
     * the error and when the episode began (stats_store_*). */
    pthread_mutex_t store_lock;
    double store_failing_since; /* 0: the last commit worked */
    char store_error[256];
} stats_t;

/* Upper bounds (seconds) of the commit-latency buckets; the last bucket,
 * past the last bound, is +Inf. Prometheus's defaults, shifted down one
 * decade's worth: a grouped SQLite commit takes about a millisecond. */
extern const double stats_commit_le[EW_COMMIT_BUCKETS - 1];

#define EW_SEQ_WINDOW 2048

void stats_init(stats_t *s, double now);
uint64_t stats_get(const atomic_uint_fast64_t *c);
void stats_inc(atomic_uint_fast64_t *c, uint64_t by);
void stats_set(atomic_uint_fast64_t *c, uint64_t v); /* for gauges */
uint64_t stats_rejected_total(const stats_t *s);
/* One commit that worked and took seconds (writer thread). */
void stats_observe_commit(stats_t *s, double seconds);

/* The writer reports each failed commit (msg: why) and the first one that
 * works again; health reads the state. stats_store_state returns 1 while
 * failing, with the message (OUT, msg) and the episode's start (OUT, since). */
void stats_store_failed(stats_t *s, const char *msg, double now);
void stats_store_ok(stats_t *s);
int stats_store_state(stats_t *s, char *msg, size_t msglen, double *since);

#endif
