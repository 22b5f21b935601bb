/* curve.h: CURVE on the ingest socket (README.md, "Running on a cluster").
 *
 * Owns the daemon's secret key, the set of authorised client public keys
 * (--curve-clients, re-read by curve_reload on SIGHUP) and a thread that
 * answers libzmq's ZAP requests (RFC 27) from that set and watches the
 * socket's handshake failures. Who may push is decided twice: at the
 * handshake (ZAP) and for each message (curve_allowed on the message's
 * User-Id, the client's key), so a key removed by SIGHUP is refused from
 * its next batch on while the connections of keys still listed stay up.
 *
 * Counters (stats.h): auth_refused (an unlisted key's handshake, or a
 * message from a key no longer listed; each key logged once),
 * handshake_failed (plaintext peers, a wrong server key, garbage).
 */
#ifndef ERWATCH_CURVE_H
#define ERWATCH_CURVE_H

#include <stddef.h>

#include "stats.h"

typedef struct curve curve_t;

/* Reads the key files and starts the ZAP thread on the ZeroMQ context ctx
 * (before any CURVE socket of ctx binds). Returns NULL with err filled. */
curve_t *curve_new(void *ctx, const char *key_file, const char *clients_file, stats_t *stats,
                   char *err, size_t errlen);
/* Makes sock a CURVE server under this ZAP handler, and watches it. Call
 * before zmq_bind. Returns 0 or -1 with err filled. */
int curve_apply(curve_t *c, void *sock, char *err, size_t errlen);
/* The daemon's public key (Z85), what clients give as ERWATCH_SERVER_PUB. */
const char *curve_server_public(const curve_t *c);
/* Re-reads the client list. On an error the old list stays (err says
 * why). Returns the number of keys, or -1. */
int curve_reload(curve_t *c, char *err, size_t errlen);
/* 1 when user_id (a message's "User-Id", the client key in Z85) is listed
 * now; 0 otherwise, counted and logged once per key. */
int curve_allowed(curve_t *c, const char *user_id);
/* Stops the thread and frees; call before the context terminates. */
void curve_destroy(curve_t **c);

#endif
