/* erwatch.h: the C client library. Pushes embedding batches from a training
 * job to erwatchd (schema/protocol.md) over a ZeroMQ PUSH socket.
 *
 * Promise to the training loop: erwatch_push() never blocks, never aborts,
 * never exits and never prints. When the daemon is slow, absent or
 * restarting, the batch is dropped, counted, and the running drop count is
 * sent in the next header that gets through. Errors are negative errno-style
 * codes; erwatch_strerror() names them.
 *
 * Ownership: erwatch_new() returns an owned client; erwatch_destroy(&c) frees
 * it and sets c to NULL. A client is not thread-safe: use one per thread.
 *
 * The reply channel, erwatch_alerts(), asks the daemon's HTTP API which
 * alerts fire for a run (libcurl; link with -lcurl too when static).
 *
 * Launches (README, "Runs, launches and resume"): every client is one
 * launch of a training job and sends its identity with each batch. A launch
 * whose run name another launch already used gets its own run, NAME.2,
 * NAME.3...; erwatch_run_name() tells which. erwatch_set_launch() sets the
 * identity (so that the ranks of one job share it) and resume;
 * erwatch_set_meta() the run's config (a JSON object) and notes.
 */
#ifndef ERWATCH_H
#define ERWATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct erwatch erwatch_t;

typedef enum {
    ERWATCH_F32 = 0,
    ERWATCH_F64 = 1,
    ERWATCH_F16 = 2,
    ERWATCH_BF16 = 3
} erwatch_dtype_t;

typedef enum { ERWATCH_SPHERE = 0, ERWATCH_DISCRETE = 1 } erwatch_support_t;

typedef struct {
    const char *name;
    double value;
} erwatch_scalar_t;

/* One batch. Zero-initialise, then set what you need: run, tag, step,
 * n, d and x are required; the rest has the protocol's defaults.
 * Scalar-only: x = NULL, y = NULL, n = d = 0 and at least one scalar sends
 * the scalars alone (loss, lr, ...; protocol `views` 0). */
typedef struct {
    const char *run;
    const char *tag;
    uint64_t step;
    erwatch_dtype_t dtype; /* element type of x and y */
    uint32_t n, d;         /* shape of each view */
    const void *x;         /* view 1, n*d elements, row-major */
    const void *y;         /* view 2 or NULL */
    erwatch_support_t support;
    double kappa;        /* 0: daemon default (10) */
    int32_t rank, world; /* world 0: not sent */
    double time;         /* 0: now */
    const erwatch_scalar_t *scalars;
    size_t nscalars;
    int pool; /* 1: this is rank's part of a pooled batch: the
                 daemon computes on all world ranks' rows
                 of this step together (needs world >= 2);
                 last, so that older callers' layout holds */
} erwatch_batch_t;

typedef struct {
    uint64_t sent;     /* batches handed to ZeroMQ */
    uint64_t dropped;  /* batches dropped (daemon slow/absent, queue full) */
    uint64_t bytes;    /* bytes handed to ZeroMQ */
    uint64_t invalid;  /* pushes refused for bad arguments */
    uint64_t buffered; /* bytes ZeroMQ holds now, not yet written out
                        * (at most the byte budget, see erwatch_options_t) */
} erwatch_stats_t;

/* How much a client may buffer for a slow daemon: 64 MiB of batches
 * (header and tensor bytes) handed to ZeroMQ and not yet written to the
 * kernel. Past it, pushes are dropped and counted. */
#define ERWATCH_DEFAULT_MAX_BUFFER ((size_t)64 << 20)

/* Options of erwatch_new_opts(). Zero-initialise; every 0 is a default. */
typedef struct {
    const char *endpoint;    /* NULL: $ERWATCH_ENDPOINT, else the default */
    size_t max_buffer_bytes; /* the byte budget; 0: ERWATCH_DEFAULT_MAX_BUFFER */
    int sndhwm;              /* also cap the buffer at this many batches; 0: no cap */
    int connect_timeout_ms;  /* wait this long for the daemon in erwatch_new
                              * (0: 1000; < 0: do not wait) */
    /* The launch (README, "Runs, launches and resume"), as
     * erwatch_set_launch() and erwatch_set_meta() set them: */
    const char *launch;      /* NULL: the default identity; "": none */
    int resume;              /* nonzero: continue the latest run of the name */
    const char *config_json; /* the run's config, a JSON object; NULL: none */
    const char *notes;       /* the run's notes; NULL: none */
    /* CURVE (README.md, "Running on a cluster"): key files from `erwatch
     * keygen`. NULL: $ERWATCH_SERVER_PUB and $ERWATCH_CLIENT_KEY; both or
     * neither. A missing or bad file makes erwatch_new_opts fail: never a
     * silent plaintext connection. */
    const char *server_pub; /* the daemon's NAME.pub */
    const char *client_key; /* this client's NAME.key (secret) */
    char *errbuf;           /* if set, why erwatch_new_opts returned NULL */
    size_t errlen;
} erwatch_options_t;

/* Creates a client connected to o->endpoint (e.g. "tcp://127.0.0.1:5557").
 * Waits up to connect_timeout_ms (default 1 s) for the daemon, returning
 * as soon as it is there, so that the first pushes are not dropped while
 * TCP connects (the Python Monitor does the same). Its launch identity is
 * $ERWATCH_LAUNCH, else torchrun's $TORCHELASTIC_RUN_ID "."
 * $TORCHELASTIC_RESTART_COUNT (unless the id is "none"), else 32 random hex
 * digits (o->launch or erwatch_set_launch() set it). Returns NULL only on
 * a bad endpoint, an invalid launch ($ERWATCH_LAUNCH or o->launch), resume
 * without a launch, a config or notes erwatch_set_meta() refuses, a bad CURVE key file or OOM
 * (o->errbuf says which); a
 * daemon that is not running is not an error (pushes are dropped). o NULL:
 * every default. */
erwatch_t *erwatch_new_opts(const erwatch_options_t *o);

/* erwatch_new_opts() with endpoint and sndhwm set, the rest default
 * (sndhwm 0: the byte budget alone bounds the buffer). */
erwatch_t *erwatch_new(const char *endpoint, int sndhwm);
void erwatch_destroy(erwatch_t **c);

#define ERWATCH_LAUNCH_MAX 128   /* bytes of a launch identity */
#define ERWATCH_CONFIG_MAX 32768 /* bytes of the config JSON text */
#define ERWATCH_NOTES_MAX 4096   /* bytes of notes */

/* Sets the launch identity (NULL: keep the current one; "": none, so the
 * batches keep the meaning they had before launches: same run name, same
 * run, as `erwatch push` without --launch; else 1 to ERWATCH_LAUNCH_MAX
 * bytes of printable ASCII without spaces) and resume
 * (nonzero: continue the latest run of the batches' run name; its points at
 * steps >= this launch's first step are removed; a resume of a run that does
 * not exist is refused by the daemon, counted in /api/health
 * rejected.resume_unknown). Call it before the first push. Returns 0 or
 * -EINVAL (nothing changed). */
int erwatch_set_launch(erwatch_t *c, const char *launch, int resume);
/* This client's launch identity (owned by c). */
const char *erwatch_launch(const erwatch_t *c);

/* The run's config, the text of one JSON object of at most
 * ERWATCH_CONFIG_MAX bytes (checked with jansson), and notes (UTF-8 text
 * of at most ERWATCH_NOTES_MAX bytes, no control characters but newline
 * and tab); either may be NULL. They are copied and sent with the next
 * batches until one is handed to ZeroMQ. Returns 0, or -EINVAL (not a JSON
 * object, too long, bad notes: nothing changed) or -ENOMEM. */
int erwatch_set_meta(erwatch_t *c, const char *config_json, const char *notes);

/* Sends one batch without blocking. Returns 0 when handed to ZeroMQ,
 * -EAGAIN when dropped (daemon absent, or the byte budget full: counted in
 * stats.dropped; a batch larger than the whole budget is sent only when
 * nothing else is buffered),
 * -EINVAL for bad arguments (counted in stats.invalid), -ENOMEM. */
int erwatch_push(erwatch_t *c, const erwatch_batch_t *b);

/* Waits up to timeout_ms for the connection to the daemon to be up.
 * Returns 0 or -ETIMEDOUT. erwatch_new() already waited (1 s by default);
 * pushes while no daemon is connected are dropped. */
int erwatch_wait_connected(erwatch_t *c, int timeout_ms);

/* Waits up to timeout_ms for queued batches to leave this process.
 * Returns 0, or -ETIMEDOUT when the time ran out first. The batches still
 * queued then are discarded (the socket is rebuilt) and ZeroMQ cannot say
 * how many there were: they stay counted in `sent` and are not added to
 * `dropped`, so after a -ETIMEDOUT stats.dropped is a lower bound. */
int erwatch_flush(erwatch_t *c, int timeout_ms);

void erwatch_stats(const erwatch_t *c, erwatch_stats_t *out); /* OUT */
const char *erwatch_strerror(int err);

/* ---- reply channel: which alerts fire for my run? ---- */

/* Asks erwatchd's HTTP API (GET /api/alerts?run=RUN&state=firing, see
 * schema/protocol.md) which alerts are firing for run, so that a training
 * job can checkpoint or stop itself when its representation collapses.
 * http_url: e.g. "http://127.0.0.1:8080"; NULL: $ERWATCH_HTTP, else
 * ERWATCH_DEFAULT_HTTP. timeout_ms bounds the whole call, connecting
 * included (<= 0: 1000).
 *
 * Returns the number of firing alerts (>= 0). When buf is not NULL it gets
 * the daemon's JSON answer, NUL-terminated ({"alerts":[{"rule":..,"tag":..,
 * "metric":..,"severity":..,"value":..,"fired_step":..,"summary":..},...],
 * "count":N}); pass buf = NULL, len = 0 for the count alone. Errors:
 * -ETIMEDOUT, -ECONNREFUSED (no daemon there), -ENOSPC (the answer does not
 * fit in len bytes: buf is ""), -EPROTO (not an erwatchd answer), -ENOTSUP
 * (an erwatchd without alerting), -EINVAL, -ENOMEM, -EIO.
 *
 * This call waits for the network (up to timeout_ms), unlike
 * erwatch_push(): call it every few hundred steps or seconds, or from
 * another thread. It never prints, aborts or exits, and needs no erwatch_t.
 * Thread-safe (libcurl 7.84 or later, as in Debian 12). */
int erwatch_alerts(const char *http_url, const char *run, int timeout_ms, char *buf, size_t len);

/* The run the daemon stores launch's batches named run under (run itself,
 * or run.2, run.3... when another launch has it): GET /api/run?launch=&name=
 * on erwatchd's HTTP API (http_url as for erwatch_alerts()). Copies the
 * name, NUL-terminated, into buf (len >= 129 fits any). Returns 0,
 * -ENOENT while the daemon has stored none of the launch's batches of that
 * name (or refused them), -ENOSPC, -EINVAL, and the errors of
 * erwatch_alerts(). Waits up to timeout_ms: not for the training loop. */
int erwatch_run_name(const char *http_url, const char *launch, const char *run, int timeout_ms,
                     char *buf, size_t len);
/* The run a resume of run would continue (GET /api/run?resume=run): the
 * latest run whose name began as run, else the run named run. Same returns
 * as erwatch_run_name(); -ENOENT: there is none, a resume would be refused. */
int erwatch_resume_target(const char *http_url, const char *run, int timeout_ms, char *buf,
                          size_t len);

#define ERWATCH_DEFAULT_HTTP "http://127.0.0.1:8080"

#define ERWATCH_DEFAULT_ENDPOINT "tcp://127.0.0.1:5557"

/* ---- CURVE key files (README.md, "Running on a cluster") ---- */

#define ERWATCH_KEY_Z85_LEN 40

/* 1 when z85 is a 40-character Z85 key (32 bytes). */
int erwatch_key_valid(const char *z85);
/* Reads the one key of a key file (`erwatch keygen` writes NAME.key, the
 * secret, and NAME.pub): '#' comments, then the Z85 key. secret: 1 for a
 * secret key file, 0 for a public one (a file labelled as the other kind is
 * refused). Returns 0 with the key in out (OUT), or a negative errno with
 * a message in err naming the file and line. */
int erwatch_key_read(const char *path, int secret, char out[ERWATCH_KEY_Z85_LEN + 1], char *err,
                     size_t errlen);
/* Reads a list of public keys, one per line (a name may follow it), '#'
 * comments and blank lines skipped; concatenated .pub files are a list.
 * Returns 0 with *keys (OUT, malloc'd, the caller frees) and *nkeys, or a
 * negative errno with a message naming the line. */
int erwatch_key_list_read(const char *path, char (**keys)[ERWATCH_KEY_Z85_LEN + 1], size_t *nkeys,
                          char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
