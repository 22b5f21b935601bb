/* config.h: erwatchd's settings and their command-line parsing. Pure: no
 * I/O besides what config_usage() prints, no globals; unit-tested. */
#ifndef ERWATCH_CONFIG_H
#define ERWATCH_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "batch.h"
#include "log.h"

#define EW_VERSION "0.1.0"
#define EW_NOTIFY_MAX 8 /* --alertmanager and --webhook, each */

typedef struct {
    char db_path[4096];
    char zmq_endpoint[512]; /* "tcp://127.0.0.1:*" picks a free port; "none": no ingest */
    char name[129];         /* --name; "" : config_default_name() at start */
    char http_host[256];    /* numeric address or "localhost" */
    int http_port;          /* 0 picks a free port */
    int workers;
    size_t max_queue_bytes;
    int http_threads;
    int commit_ms;       /* longest a stored point waits for commit */
    int pool_timeout_ms; /* a pooled step's wait for missing ranks */
    log_level_t log_level;
    unsigned metrics;      /* default metric set (EW_MBIT bits) */
    char ready_file[4096]; /* "" or where to write the bound addresses */
    /* alerting (README.md, "Alerting") */
    char rules_file[4096]; /* "" : none; --rules FILE */
    int default_rules;     /* 1 unless --no-default-rules */
    int check_rules;       /* --check-rules: load the rules, print, exit */
    char alertmanagers[EW_NOTIFY_MAX][1024];
    int nalertmanagers;
    char webhooks[EW_NOTIFY_MAX][1024];
    int nwebhooks;
    char alert_exec[4096];   /* "" : no hook */
    char external_url[1024]; /* "" : http://HOST:PORT of --http */
    int alert_resend_s;      /* Alertmanager re-send interval */
    int notify_timeout_ms;   /* per POST and per hook run */
    int notify_retry_s;      /* a webhook notification is retried this long */
    char web_dir[4096];      /* "" : look for the dashboard's files
                                (http_find_web_dir) */
    /* retention (README.md, "Deleting runs and retention"); 0: off */
    double retention_s;      /* --retention-days, in seconds */
    int64_t retention_bytes; /* --retention-size */
    /* exposure (README.md, "Running on a cluster") */
    int insecure;             /* --insecure: allow unprotected non-loopback binds */
    char curve_key[4096];     /* "" : plaintext ingest; --curve-key FILE (secret) */
    char curve_clients[4096]; /* --curve-clients FILE: authorised public keys */
    char web_config[4096];    /* "" : plain HTTP; --web-config FILE (webconfig.h) */
} config_t;

void config_defaults(config_t *c);

/* Parses argv. Returns 0 to run, 1 when --help/--version was handled
 * (printed to out), -1 on a bad flag (message in err, meant for stderr). */
int config_parse(config_t *c, int argc, char **argv, FILE *out, char *err, size_t errlen);

void config_usage(FILE *out);

/* 1 when --zmq is "none": the daemon serves the database and takes no batches. */
int config_zmq_none(const config_t *c);

/* The daemon's name when --name is not given: host, then ":PORT" when the
 * --zmq endpoint has a numeric port ("gpu07:5557"), so that two daemons of
 * one machine sharing a database differ. Pure; host is gethostname()'s. */
void config_default_name(const char *host, const char *zmq_endpoint, char *out, size_t outlen);

/* Parses "all" or a comma list of metric names into EW_MBIT bits. Returns 0,
 * or -1 with a message naming the unknown metric. */
int config_parse_metrics(const char *list, unsigned *set, char *err, size_t errlen);

/* "500MB", "10GB", "1.5TB", "512MiB", "2GiB", "1048576" (bytes): decimal
 * (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units, case-insensitive,
 * the B optional. Returns 0 with *bytes, or -1. */
int config_parse_size(const char *s, int64_t *bytes);
/* 1 when host names this machine only: "localhost", "lo", 127.0.0.0/8,
 * ::1 (also IPv4-mapped). Numeric or these names; anything else (a
 * wildcard, an interface, a DNS name) is 0. */
int config_host_is_loopback(const char *host);

/* 1 when a ZeroMQ bind endpoint is reachable from this machine only:
 * tcp:// on a loopback host (see above), ipc:// (file permissions guard
 * it) and inproc://. */
int config_zmq_is_local(const char *endpoint);

/* The exposure rule: a non-loopback --zmq needs CURVE, a non-loopback
 * --http needs a web config with TLS and users (http_protected: the one
 * given has both), unless --insecure. Returns
 * 0 when the settings may run (*warn set to 1 when --insecure let an
 * unprotected bind through, message in err for the log), or -1 with err
 * saying what to add. */
int config_check_exposure(const config_t *c, int http_protected, int *warn, char *err,
                          size_t errlen);

/* Splits "HOST:PORT", "[v6]:PORT" or ":PORT" into host and port.
 * Returns 0 or -1. */
int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
