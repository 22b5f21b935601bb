/* ingest.h: the ZeroMQ PULL stage. One thread reads multipart messages,
 * decodes them (decode.h) and pushes accepted batches into the work queue.
 *
 * Back-pressure: queue_push() blocks when the work queue is full, so ingest
 * stops reading; ZeroMQ's high-water marks then fill and clients drop.
 * Pooled parts (one rank's slice of a distributed job's step) wait in the
 * pool (pool.h), owned by this thread, whose bytes count against the work
 * queue's bound; the oldest waiting step is sent on, partial, when the
 * bound needs room.
 * Shutdown: ingest_stop() makes the thread read what ZeroMQ already holds
 * (bounded in time), queue it and every step still in the pool, then close
 * the work queue (the sentinel that lets workers finish).
 */
#ifndef ERWATCH_INGEST_H
#define ERWATCH_INGEST_H

#include <stddef.h>

#include "batch.h"
#include "queue.h"
#include "stats.h"

typedef struct ingest ingest_t;

/* What libzmq may hold per connected peer, outside the work queue's bound:
 * ZMQ_MAXMSGSIZE is the protocol's largest frame (a larger one drops the
 * connection), and the receive high-water mark is as many of the largest
 * messages as --max-queue-mb holds, at least 2 and at most 4 (at 1, libzmq
 * 4.3.4 under CURVE with ZAP leaves the first message unread: measured). The HWM
 * counts whole messages, so a peer also holds one unfinished message: with
 * no frame-count limit in libzmq, an unauthenticated peer on a plaintext
 * socket can grow it without bound (README.md, "Running on a cluster"). */
#define EW_FRAME_MAX ((size_t)EW_ELEMS_MAX * 8u)    /* f64, N*d at its limit */
#define EW_MESSAGE_MAX (2u * EW_FRAME_MAX + 65536u) /* 2 views + header */
int ingest_rcvhwm(size_t max_queue_bytes);

typedef struct {
    const char *endpoint;
    queue_t *work;
    stats_t *stats;
    size_t max_queue_bytes;    /* --max-queue-mb: sizes the HWM above */
    const char *curve_key;     /* --curve-key FILE, or NULL: plaintext */
    const char *curve_clients; /* --curve-clients FILE (with curve_key) */
} ingest_config_t;

/* Binds cfg->endpoint (in the caller's thread, so errors are reported at
 * start). Returns NULL with err filled ("cannot bind ZeroMQ endpoint
 * tcp://127.0.0.1:5557: Address already in use"). */
ingest_t *ingest_new(const ingest_config_t *cfg, char *err, size_t errlen);
/* How long a pooled step waits for its missing ranks' parts (pool.h);
 * call before ingest_start(). Default EW_POOL_TIMEOUT_MS_DEFAULT (batch.h). */
void ingest_set_pool_timeout(ingest_t *in, int ms);
/* The endpoint actually bound (the port filled in for "tcp://host:*"). */
const char *ingest_endpoint(const ingest_t *in);
/* The server's CURVE public key (Z85), or NULL without CURVE. */
const char *ingest_curve_public(const ingest_t *in);
/* SIGHUP: re-reads --curve-clients (curve.h). Returns the number of keys,
 * -1 with err filled (the old list stays), or -2 without CURVE. */
int ingest_reload_clients(ingest_t *in, char *err, size_t errlen);
int ingest_start(ingest_t *in);
/* Stops reading, drains what is buffered, closes the work queue, joins. */
void ingest_stop(ingest_t *in);
void ingest_destroy(ingest_t **in);

#endif
