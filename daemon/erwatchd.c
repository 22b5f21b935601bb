/* erwatchd.c: main() of the daemon. Wires the stages in the order the data
 * flows and owns their lifetimes:
 *
 *   ingest (ZMQ PULL, decode) -> work queue (bounded in bytes) -> workers
 *     -> result queue -> writer (SQLite, single connection)
 *   http (libmicrohttpd pool, read-only connections) beside them
 *
 * A signal only writes a byte to a pipe main waits on (see "signals"), so
 * no stage runs daemon code in a signal handler. Shutdown runs the
 * pipeline dry front to back: ingest stops reading and closes the work
 * queue, workers finish and exit, the result queue is closed, the writer
 * commits the rest. Every accepted batch is stored before exit.
 */
#include <cblas.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts_hook.h"
#include "config.h"
#include "http.h"
#include "ingest.h"
#include "lifecycle.h"
#include "log.h"
#include "notify.h"
#include "queue.h"
#include "rules.h"
#include "stats.h"
#include "store.h"
#include "store_runs.h"
#include "webconfig.h"
#include "worker.h"
#include "writer.h"

/* Results are small; this bound only keeps a stalled writer from letting
 * workers run ahead without limit. */
#define S_RESULT_QUEUE_ITEMS EW_SEQ_WINDOW

/* The ready file is written under a fresh name of ours (O_CREAT|O_EXCL|
 * O_NOFOLLOW: no symlink planted in a shared folder can redirect the write)
 * and renamed over PATH, which replaces whatever PATH was (a symlink
 * included) instead of writing through it; readers never see half a file. */
static int s_write_ready(const char *path, const char *zmq_ep, const char *scheme, const char *host,
                         int port)
{
    char tmp[4200];
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        snprintf(tmp, sizeof(tmp), "%s.%ld.%d.tmp", path, (long)getpid(), i);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            return -errno;
    }
    if (fd < 0)
        return -EEXIST;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return -e;
    }
    int v6 = strchr(host, ':') != NULL;
    fprintf(f, "%s\n%s://%s%s%s:%d\n", zmq_ep, scheme, v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}

/* --check-rules: what the daemon would run, one rule a line. */
static void s_print_rules(const rules_t *rules)
{
    char line[4 * RULES_TEXT_MAX];
    for (size_t i = 0; i < rules->n; i++) {
        rules_describe(&rules->rule[i], line, sizeof line);
        printf("%s\n", line);
    }
    printf("%zu rule(s) OK\n", rules->n);
}

/* Alert links name this daemon as --external-url says, else as --http
 * binds it (a wildcard address by the host's name). */
static void s_external_url(const config_t *cfg, const char *scheme, const char *host, int port,
                           char *out, size_t outlen)
{
    if (cfg->external_url[0]) {
        snprintf(out, outlen, "%s", cfg->external_url);
        return;
    }
    char name[256];
    if ((!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) && gethostname(name, sizeof name) == 0) {
        name[sizeof name - 1] = '\0';
        host = name;
    }
    int v6 = strchr(host, ':') != NULL;
    snprintf(out, outlen, "%s://%s%s%s:%d", scheme, v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* ---------------------------------------------------------------- signals
 *
 * Libraries start threads of their own before main() runs (OpenBLAS's pool),
 * with every signal unblocked, so a process-directed SIGTERM may land on any
 * of them: blocking signals and sigwait() in main is not enough. Instead a
 * handler, whichever thread runs it, writes one byte to a pipe that main
 * waits on. A second signal while the pipeline drains means "now": the
 * handler says what is given up and exits, with async-signal-safe calls
 * only (write, _exit, lock-free atomic loads). */
static int s_sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t s_sig_count, s_sig_first, s_sig_hup;
static stats_t *s_sig_stats;

static size_t s_u64_text(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void s_on_signal(int sig)
{
    int saved = errno;
    if (++s_sig_count == 1) {
        s_sig_first = sig;
        char c = 1;
        if (write(s_sig_pipe[1], &c, 1) < 0) { /* nothing to do: main polls */
        }
        errno = saved;
        return;
    }
    uint64_t acc = stats_get(&s_sig_stats->accepted), st = stats_get(&s_sig_stats->stored);
    char msg[160] = "erwatchd: second signal: exiting now; ";
    size_t n = strlen(msg);
    n += s_u64_text(msg + n, acc > st ? acc - st : 0);
    static const char tail[] = " accepted batch(es) not stored\n";
    memcpy(msg + n, tail, sizeof(tail) - 1);
    n += sizeof(tail) - 1;
    if (write(STDERR_FILENO, msg, n) < 0) { /* exiting anyway */
    }
    _exit(1);
}

/* SIGHUP: re-read what can be re-read (the CURVE client list); main does
 * it, the handler only says so. */
static void s_on_hup(int sig)
{
    (void)sig;
    int saved = errno;
    s_sig_hup = 1;
    char c = 2;
    if (write(s_sig_pipe[1], &c, 1) < 0) { /* nothing to do: main polls */
    }
    errno = saved;
}

static int s_signals_install(stats_t *stats)
{
    if (pipe2(s_sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -errno;
    s_sig_stats = stats;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return -errno;
    sa.sa_handler = s_on_hup;
    if (sigaction(SIGHUP, &sa, NULL) != 0)
        return -errno;
    return 0;
}

/* Blocks until the first SIGINT/SIGTERM; returns it. The pipe wakes it at
 * once; the timeout is for sanitizer runtimes (TSan), which run a handler
 * only when its thread next enters one of their wrappers, so a thread
 * parked for ever in read() would never see it. */
static int s_signals_wait(ingest_t *ingest)
{
    for (;;) {
        struct pollfd p = {s_sig_pipe[0], POLLIN, 0};
        if (poll(&p, 1, 250) > 0) {
            char buf[16];
            (void)!read(s_sig_pipe[0], buf, sizeof buf);
        }
        if (s_sig_count > 0)
            return s_sig_first;
        if (s_sig_hup && !ingest) {
            s_sig_hup = 0;
            log_info("SIGHUP: nothing to re-read (--zmq none)");
        } else if (s_sig_hup) {
            s_sig_hup = 0;
            char err[1024];
            int n = ingest_reload_clients(ingest, err, sizeof err);
            if (n >= 0)
                log_info("SIGHUP: %d CURVE client key(s) authorised", n);
            else if (n == -2)
                log_info("SIGHUP: nothing to re-read (no --curve-clients)");
            else
                log_error("SIGHUP: %s; the previous client list stays", err);
        }
    }
}

static void s_final_report(const stats_t *st)
{
    log_info(
        "stopped: received=%llu accepted=%llu rejected=%llu stored=%llu "
        "points=%llu store_errors=%llu lost=%llu discarded_at_stop=%llu",
        (unsigned long long)stats_get(&st->received), (unsigned long long)stats_get(&st->accepted),
        (unsigned long long)stats_rejected_total(st), (unsigned long long)stats_get(&st->stored),
        (unsigned long long)stats_get(&st->points_written),
        (unsigned long long)stats_get(&st->store_errors),
        (unsigned long long)stats_get(&st->store_lost),
        (unsigned long long)stats_get(&st->discarded_at_stop));
}

/* The writer's work between groups (writer.h): the run life cycle, then
 * the backend's own (SQLite: the summaries an older file lacks). */
static int s_writer_tick(void *lifecycle, store_t *store, int load)
{
    int more = lifecycle_tick(lifecycle, store, load);
    return store_background(store, load) || more;
}

int main(int argc, char **argv)
{
    config_t cfg;
    char err[1024];
    config_defaults(&cfg);
    int rc = config_parse(&cfg, argc, argv, stdout, err, sizeof(err));
    if (rc > 0)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "erwatchd: %s\n", err);
        return 2;
    }
    log_set_level(cfg.log_level);
    if (config_zmq_none(&cfg) && cfg.curve_key[0]) {
        fprintf(stderr, "erwatchd: --curve-key and --curve-clients protect ingest; with --zmq "
                        "none there is none: drop them or give --zmq an endpoint\n");
        return 2;
    }
    if (!cfg.name[0]) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0)
            host[0] = '\0';
        config_default_name(host, cfg.zmq_endpoint, cfg.name, sizeof cfg.name);
    }

    rules_t *rules = NULL;
    if (rules_load_set(cfg.rules_file, cfg.default_rules, &rules, err, sizeof(err)) != 0) {
        fprintf(stderr, "erwatchd: %s\n", err);
        return 2;
    }
    if (cfg.check_rules) {
        s_print_rules(rules);
        rules_destroy(&rules);
        return 0;
    }
    webconfig_t *web = NULL;
    if (cfg.web_config[0] && webconfig_load(cfg.web_config, &web, err, sizeof(err)) != 0) {
        fprintf(stderr, "erwatchd: %s\n", err);
        rules_destroy(&rules);
        return 2;
    }
    const char *scheme = webconfig_cert_pem(web) ? "https" : "http";
    int exposed;
    if (config_check_exposure(&cfg, webconfig_cert_pem(web) && webconfig_nusers(web) > 0, &exposed,
                              err, sizeof(err)) != 0) {
        fprintf(stderr, "erwatchd: %s\n", err);
        rules_destroy(&rules);
        webconfig_destroy(&web);
        return 2;
    }
    if (exposed)
        log_warn("%s", err);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: not thread-safe everywhere */

    signal(SIGPIPE, SIG_IGN);
    openblas_set_num_threads(1);

    stats_t stats;
    stats_init(&stats, ew_now());
    if (s_signals_install(&stats) != 0) {
        fprintf(stderr, "erwatchd: cannot install signal handlers: %s\n", strerror(errno));
        return 1;
    }

    store_t *store = NULL;
    if (store_open(&store, cfg.db_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "erwatchd: %s\n", err);
        return 1;
    }
    store_set_daemon(store, cfg.name);
    char db_label[4200];
    store_describe(cfg.db_path, db_label, sizeof db_label);
    /* --retention-size measures the database file; a server has none. */
    store_space_t space;
    if (cfg.retention_bytes > 0 && store_space(store, &space) == -ENOTSUP) {
        fprintf(stderr,
                "erwatchd: --retention-size needs a database file (SQLite); the %s database %s "
                "has none: use --retention-days, or the server's own tools\n",
                store_backend(store), db_label);
        store_close(&store);
        return 1;
    }
    queue_t *work = queue_new(1u << 16, cfg.max_queue_bytes);
    queue_t *results = queue_new(S_RESULT_QUEUE_ITEMS, (size_t)-1);

    ingest_config_t ic = {
        .endpoint = cfg.zmq_endpoint,
        .work = work,
        .stats = &stats,
        .max_queue_bytes = cfg.max_queue_bytes,
        .curve_key = cfg.curve_key,
        .curve_clients = cfg.curve_clients,
    };
    /* --zmq none: no ingest; the work queue is closed at stop instead. */
    int serve_only = config_zmq_none(&cfg);
    ingest_t *ingest = serve_only ? NULL : ingest_new(&ic, err, sizeof(err));
    if (ingest)
        ingest_set_pool_timeout(ingest, cfg.pool_timeout_ms);
    if (!ingest && !serve_only) {
        fprintf(stderr, "erwatchd: %s\n", err);
        store_close(&store);
        return 1;
    }
    /* The dashboard is optional: without its files the API still serves. */
    if (!cfg.web_dir[0] && http_find_web_dir(cfg.web_dir, sizeof(cfg.web_dir)) != 0)
        log_warn("no dashboard files found (looked next to the binary and in build/web); "
                 "the API serves, / explains; pass --web DIR");
    lifecycle_config_t lc = {
        .retention_s = cfg.retention_s,
        .retention_bytes = cfg.retention_bytes,
        .stats = &stats,
    };
    lifecycle_t *lifecycle = lifecycle_new(&lc);
    http_config_t hc = {
        .host = cfg.http_host,
        .port = cfg.http_port,
        .db_path = cfg.db_path,
        .threads = cfg.http_threads,
        .stats = &stats,
        .in_queue = work,
        .out_queue = results,
        .web_dir = cfg.web_dir[0] ? cfg.web_dir : NULL,
        .lifecycle = lifecycle,
        .external_url = cfg.external_url[0] ? cfg.external_url : NULL,
        .web = web,
        .name = cfg.name,
        .store = store_backend(store),
        .ingest = !serve_only,
    };
    http_t *http = http_start(&hc, err, sizeof(err));
    if (!http) {
        fprintf(stderr, "erwatchd: %s\n", err);
        ingest_destroy(&ingest);
        store_close(&store);
        return 1;
    }

    /* Alerting: the notifier's threads, then the engine, which takes back
     * the alerts stored before a restart, then the writer that runs it. */
    char external[1100];
    s_external_url(&cfg, scheme, cfg.http_host, http_port(http), external, sizeof external);
    notify_config_t nc = {
        .exec_cmd = cfg.alert_exec,
        .external_url = external,
        .resend_s = cfg.alert_resend_s,
        .timeout_ms = cfg.notify_timeout_ms,
        .retry_s = cfg.notify_retry_s,
        .stats = &stats,
    };
    for (int i = 0; i < cfg.nalertmanagers; i++)
        nc.alertmanagers[nc.nalertmanagers++] = cfg.alertmanagers[i];
    for (int i = 0; i < cfg.nwebhooks; i++)
        nc.webhooks[nc.nwebhooks++] = cfg.webhooks[i];
    notify_t *notify = notify_start(&nc, err, sizeof(err));
    alerts_hook_t *alerting =
        notify ? alerts_hook_new(rules, store, notify, &stats, err, sizeof(err)) : NULL;
    if (!alerting) {
        fprintf(stderr, "erwatchd: %s\n", err);
        return 1;
    }
    log_info("alerting: %zu rule(s), %d alertmanager(s), %d webhook(s)%s", rules->n,
             cfg.nalertmanagers, cfg.nwebhooks, cfg.alert_exec[0] ? ", an exec hook" : "");

    /* A deleted or renamed run: the alert engine and the series cache follow. */
    lifecycle_listen(lifecycle, alerts_hook_run_changed, alerting);
    lifecycle_listen(lifecycle, http_runs_changed, http);
    if (cfg.retention_s > 0 || cfg.retention_bytes > 0)
        log_info("retention: runs whose last batch is older than %.4g days: %s; the oldest runs "
                 "beyond %.4g MB: %s",
                 cfg.retention_s / 86400.0, cfg.retention_s > 0 ? "deleted" : "kept",
                 (double)cfg.retention_bytes / 1e6, cfg.retention_bytes > 0 ? "deleted" : "kept");
    writer_t *writer = writer_start_ticked(store, results, cfg.commit_ms, &stats, alerts_hook_run,
                                           alerting, s_writer_tick, lifecycle);
    workers_t *workers =
        writer ? workers_start(cfg.workers, work, results, &stats, cfg.metrics) : NULL;
    if (!writer || !workers || (ingest && ingest_start(ingest) != 0)) {
        fprintf(stderr, "erwatchd: cannot start threads\n");
        return 1;
    }

    int port = http_port(http);
    const char *host = cfg.http_host;
    int v6 = strchr(host, ':') != NULL;
    const char *zmq_shown = ingest ? ingest_endpoint(ingest) : "none";
    char db_shown[4200];
    store_describe(cfg.db_path, db_shown, sizeof db_shown);
    log_info("erwatchd %s ready: name=%s zmq=%s http=%s://%s%s%s:%d db=%s (%s) workers=%d "
             "queue=%zu MiB",
             EW_VERSION, cfg.name, zmq_shown, scheme, v6 ? "[" : "", host, v6 ? "]" : "", port,
             db_shown, store_backend(store), cfg.workers, cfg.max_queue_bytes >> 20);
    if (cfg.web_dir[0] && ingest)
        log_info("dashboard: %s://%s%s%s:%d/  (push batches to %s; Ctrl-C stores "
                 "what is queued and stops)",
                 scheme, v6 ? "[" : "", host, v6 ? "]" : "", port, zmq_shown);
    else if (cfg.web_dir[0])
        log_info("dashboard: %s://%s%s%s:%d/  (--zmq none: this daemon takes no batches and "
                 "serves what the database holds)",
                 scheme, v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (cfg.ready_file[0]) {
        int e = s_write_ready(cfg.ready_file, zmq_shown, scheme, host, port);
        if (e)
            log_error("cannot write --ready-file %s: %s", cfg.ready_file, strerror(-e));
    }

    if (ingest && ingest_curve_public(ingest))
        log_info("ingest: CURVE on; server public key %s (clients: ERWATCH_SERVER_PUB, a "
                 "file holding it: the .pub beside --curve-key)",
                 ingest_curve_public(ingest));
    int sig = s_signals_wait(ingest);
    log_info("%s received: storing queued batches, then exiting",
             sig == SIGINT ? "SIGINT" : "SIGTERM");

    writer_shutdown_begins(writer);
    if (ingest)
        ingest_stop(ingest); /* closes the work queue when drained */
    else
        queue_close(work);
    workers_join(&workers);
    queue_close(results);
    /* No more deletions: the listeners' objects (http) are about to go. */
    lifecycle_close(lifecycle);
    /* Readers close before the writer: the last connection to close
     * checkpoints the WAL and removes it, leaving one self-contained file. */
    http_stop(&http);
    webconfig_destroy(&web);
    writer_join(&writer); /* commits the rest, closes the store */
    lifecycle_destroy(&lifecycle);
    notify_stop(&notify); /* a last try at what is queued, bounded */
    alerts_hook_destroy(&alerting);
    rules_destroy(&rules);
    curl_global_cleanup();
    ingest_destroy(&ingest);
    queue_destroy(&work);
    queue_destroy(&results);
    s_final_report(&stats);
    return stats_get(&stats.store_lost) ? 1 : 0;
}
