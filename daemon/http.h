/* http.h: the JSON API and the dashboard over libmicrohttpd.
 *
 * libmicrohttpd runs its own thread pool; handlers read through a pool of
 * read-only query_t connections and never touch the writer (the two writes
 * queue a request that the writer thread carries out: lifecycle.h). Routes:
 *   GET /api/health  GET /api/runs  GET /api/series  GET /api/spectrum
 *   GET /api/alerts (http_alerts.c)   GET /metrics (http_prom.c, Prometheus)
 *   POST /api/runs/delete  POST /api/runs/rename  (http_runs.c: the only
 *   writes, done by the writer thread through lifecycle.h)
 *   GET /  GET /static/...   (the dashboard's files, from web_dir)
 * Bad parameters: 400 with {"error": "..."}; unknown series: 404.
 */
#ifndef ERWATCH_HTTP_H
#define ERWATCH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "lifecycle.h"
#include "queue.h"
#include "stats.h"

typedef struct http http_t;

typedef struct {
    const char *host;         /* bind address, e.g. "127.0.0.1" or "::1" */
    int port;                 /* 0: pick a free port (see http_port) */
    const char *db_path;      /* opened read-only by the handlers */
    int threads;              /* libmicrohttpd thread-pool size */
    stats_t *stats;           /* read for /api/health */
    queue_t *in_queue;        /* decoded batches waiting for workers */
    queue_t *out_queue;       /* results waiting for the writer */
    const char *web_dir;      /* the dashboard's files (index.html, static/);
                                 NULL: / explains how to install them */
    lifecycle_t *lifecycle;   /* deletes and renames runs; NULL: refused */
    const char *external_url; /* --external-url or NULL: its host is a name
                                 the Host header may carry (see http.c) */
    struct webconfig *web;    /* --web-config (webconfig.h) or NULL; the
                                 caller owns it and frees it after http_stop */
    const char *name;         /* --name, shown by /api/health; NULL: "" */
    const char *store;        /* the store's backend (store_backend()) */
    int ingest;               /* 0: --zmq none (this daemon takes no batches) */
} http_config_t;

/* Starts serving. Returns NULL with a message in err ("cannot listen on
 * 127.0.0.1:8080: Address already in use"). */
http_t *http_start(const http_config_t *cfg, char *err, size_t errlen);
int http_port(const http_t *h); /* the bound port */
void http_stop(http_t **h);

/* A lifecycle listener (lifecycle.h): drops the deleted run's series from
 * the series cache. */
void http_runs_changed(void *h, const char *run, const char *new_name, const int64_t *sids,
                       size_t nsids);

/* Where the dashboard's files are when --web is not given: the first
 * directory holding index.html among <dir of the running binary>/web (the
 * build output, build/web beside build/erwatchd), <dir>/../share/erwatch/web
 * (make install) and ./build/web (the source tree). Returns 0 with the path
 * in out (OUT), or -ENOENT. */
int http_find_web_dir(char *out, size_t outlen);

#endif
