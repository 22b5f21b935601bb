/* config.c: erwatchd's flags (see config.h). Every flag has a default that
 * is safe on a laptop: loopback addresses only, a database file in the
 * current folder, one worker per core. Values are checked strictly (the
 * whole string must parse, ranges enforced) so a typo fails at start rather
 * than at 3 a.m. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void config_defaults(config_t *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->db_path, sizeof(c->db_path), "erwatch.db");
    snprintf(c->zmq_endpoint, sizeof(c->zmq_endpoint), "tcp://127.0.0.1:5557");
    snprintf(c->http_host, sizeof(c->http_host), "127.0.0.1");
    c->http_port = 8080;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    c->max_queue_bytes = 256u << 20;
    c->http_threads = 4;
    c->commit_ms = 200;
    c->pool_timeout_ms = EW_POOL_TIMEOUT_MS_DEFAULT;
    c->log_level = LOG_INFO;
    c->metrics = EW_METRICS_ALL;
    c->default_rules = 1;
    c->alert_resend_s = 60;
    c->notify_timeout_ms = 5000;
    c->notify_retry_s = 600;
}

void config_usage(FILE *out)
{
    fputs("usage: erwatchd [options]\n"
          "\n"
          "Receives embedding batches from training jobs over ZeroMQ, computes\n"
          "representation-collapse metrics, stores them in SQLite and serves them\n"
          "over HTTP. Stop with Ctrl-C or SIGTERM: queued batches are stored first.\n"
          "\n"
          "options:\n"
          "  --db PATH|URI        SQLite database file, created if missing (default:\n"
          "                       erwatch.db), or a PostgreSQL connection URI\n"
          "                       postgresql://USER@HOST:PORT/DB (README.md, \"Scaling out\")\n"
          "  --zmq ENDPOINT       ZeroMQ PULL endpoint to bind\n"
          "                       (default: tcp://127.0.0.1:5557; tcp://127.0.0.1:* picks a port;\n"
          "                       none: take no batches, only serve the database)\n"
          "  --name NAME          this daemon's name, stored with the alerts it raises\n"
          "                       (default: HOST:PORT of --zmq); give each daemon that\n"
          "                       shares a PostgreSQL database its own\n"
          "  --http HOST:PORT     HTTP API address (default: 127.0.0.1:8080;\n"
          "                       [::1]:8080 for IPv6; port 0 picks a free port)\n"
          "  --workers N          metric worker threads, 1..64 (default: cores, at most 16)\n"
          "  --max-queue-mb M     memory bound of queued batches, 1..65536 MiB (default: 256);\n"
          "                       when full, the daemon stops reading and clients drop\n"
          "  --http-threads N     HTTP thread-pool size, 1..64 (default: 4)\n"
          "  --commit-ms MS       longest time a result waits before its transaction\n"
          "                       commits, 1..60000 (default: 200)\n"
          "  --metrics LIST       metrics a batch gets when its header names none: 'all'\n"
          "                       (default) or a comma list of\n",
          out);
    fprintf(out, "                       %s\n", EW_METRIC_LIST);
    fputs("  --log-level L        error, warn, info or debug (default: info)\n"
          "  --pool-timeout-ms MS how long a pooled step of a distributed job waits for\n"
          "                       its missing ranks, 1..3600000 (default: 10000)\n"
          "alerting (README.md, \"Alerting\"):\n"
          "  --rules FILE         alert rules, added to the built-in ones (a rule of\n"
          "                       the same name replaces the built-in one)\n"
          "  --no-default-rules   without the built-in rules (EntropyCollapse,\n"
          "                       StdCollapse, DimensionalCollapse)\n"
          "  --check-rules        load the rules, print them and exit (0: all good)\n"
          "  --alertmanager URL   Alertmanager to send alerts to (repeatable, up to 8)\n"
          "  --webhook URL        POST each fired/resolved alert there in Alertmanager's\n"
          "                       webhook format (repeatable, up to 8)\n"
          "  --alert-exec CMD     run `sh -c CMD` with each alert's JSON on stdin\n"
          "  --external-url URL   this daemon as alert links should name it\n"
          "                       (default: http://HOST:PORT of --http)\n"
          "  --alert-resend S     re-send firing alerts to Alertmanager every S seconds,\n"
          "                       1..3600 (default: 60)\n"
          "  --notify-timeout MS  per webhook/Alertmanager request and hook run,\n"
          "                       100..600000 (default: 5000)\n"
          "  --notify-retry S     retry a failed webhook for up to S seconds,\n"
          "                       1..86400 (default: 600)\n"
          "retention (README.md, \"Deleting runs and retention\"):\n"
          "  --retention-days D   delete runs whose last batch is older than D days\n"
          "                       (a number > 0, e.g. 30 or 0.5)\n"
          "  --retention-size S   delete the oldest runs while the stored data is larger\n"
          "                       than S, e.g. 500MB, 20GB, 1TiB (at least 1MiB)\n"
          "exposure (README.md, \"Running on a cluster\"):\n"
          "  --curve-key FILE     CURVE-encrypt and authenticate ingest with this secret key\n"
          "                       (erwatch keygen NAME writes NAME.key and NAME.pub)\n"
          "  --curve-clients FILE the client public keys allowed to push, one per line;\n"
          "                       re-read on SIGHUP\n"
          "  --web-config FILE    TLS and basic auth for HTTP, in the Prometheus exporters'\n"
          "                       format (tls_server_config, basic_auth_users)\n"
          "  --insecure           allow a non-loopback --zmq or --http without protection\n"
          "                       (anyone who reaches the port can write runs, fire\n"
          "                       alerts and read every series); logged as a warning\n"
          "other:\n"
          "  --ready-file PATH    once listening, write the bound ZeroMQ endpoint and\n"
          "                       HTTP URL there (two lines), for scripts and tests\n"
          "  --web DIR            the dashboard's files (default: build/web next to\n"
          "                       the binary, else PREFIX/share/erwatch/web)\n"
          "  -h, --help           this help\n"
          "  -V, --version        print the version\n",
          out);
}

static int s_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int config_parse_size(const char *s, int64_t *bytes)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1e3},
        {"kb", 1e3},
        {"m", 1e6},
        {"mb", 1e6},
        {"g", 1e9},
        {"gb", 1e9},
        {"t", 1e12},
        {"tb", 1e12},
        {"kib", 1024.0},
        {"mib", 1048576.0},
        {"gib", 1073741824.0},
        {"tib", 1099511627776.0},
    };
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0))
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].unit) != 0)
            continue;
        double b = v * units[i].mult;
        if (!(b < 9.2e18))
            return -1;
        *bytes = (int64_t)b;
        return 0;
    }
    return -1;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl)) /* a bare IPv6 address needs brackets */
            return -1;
    }
    long p;
    if (s_parse_long(colon + 1, 0, 65535, &p) < 0)
        return -1;
    if (hl == 0) {
        h = "127.0.0.1";
        hl = strlen(h);
    }
    if (hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int config_host_is_loopback(const char *host)
{
    if (!strcmp(host, "localhost") || !strcmp(host, "lo"))
        return 1;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) != 1)
        return 0;
    static const unsigned char loop6[16] = {[15] = 1};
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    return !memcmp(a, loop6, 16) || (!memcmp(a, mapped, 12) && a[12] == 127);
}

int config_zmq_none(const config_t *c)
{
    return strcmp(c->zmq_endpoint, "none") == 0;
}

void config_default_name(const char *host, const char *zmq_endpoint, char *out, size_t outlen)
{
    const char *colon = strrchr(zmq_endpoint, ':');
    const char *port = colon ? colon + 1 : "";
    int numeric = *port != '\0';
    for (const char *p = port; *p; p++)
        numeric &= *p >= '0' && *p <= '9';
    if (numeric && strncmp(zmq_endpoint, "tcp://", 6) == 0)
        snprintf(out, outlen, "%s:%s", host && *host ? host : "erwatchd", port);
    else
        snprintf(out, outlen, "%s", host && *host ? host : "erwatchd");
}

int config_zmq_is_local(const char *ep)
{
    if (!strcmp(ep, "none"))
        return 1; /* nothing is bound */
    if (!strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9))
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0; /* pgm, udp, ws...: not ours to judge, so not local */
    const char *h = ep + 6;
    char host[256];
    size_t n;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close)
            return 0;
        h++;
        n = (size_t)(close - h);
    } else {
        const char *colon = strrchr(h, ':');
        n = colon ? (size_t)(colon - h) : strlen(h);
    }
    if (n == 0 || n >= sizeof host)
        return 0;
    memcpy(host, h, n);
    host[n] = '\0';
    return config_host_is_loopback(host);
}

int config_check_exposure(const config_t *c, int http_protected, int *warn, char *err,
                          size_t errlen)
{
    *warn = 0;
    err[0] = '\0';
    int zmq_open = !config_zmq_is_local(c->zmq_endpoint) && !c->curve_key[0];
    int http_open = !config_host_is_loopback(c->http_host) && !http_protected;
    if (!zmq_open && !http_open)
        return 0;
    if (c->insecure) {
        *warn = 1;
        int n = 0;
        if (zmq_open)
            n = snprintf(err, errlen,
                         "--insecure: --zmq %s is reachable from other machines without "
                         "protection: anyone who reaches it can write runs and fire alerts "
                         "(webhooks, the exec hook)%s",
                         c->zmq_endpoint, http_open ? "; " : "");
        if (http_open && n >= 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n,
                     "--insecure: --http %s is reachable from other machines without "
                     "protection: anyone who reaches it can read every series and alert",
                     c->http_host);
        return 0;
    }
    if (zmq_open)
        snprintf(err, errlen,
                 "--zmq %s is reachable from other machines and is not protected: anyone "
                 "could write runs and fire alerts. Add --curve-key FILE --curve-clients "
                 "FILE (keys from `erwatch keygen`), bind a loopback address "
                 "(tcp://127.0.0.1:PORT), or pass --insecure to accept the risk "
                 "(README.md, \"Running on a cluster\")",
                 c->zmq_endpoint);
    else
        snprintf(err, errlen,
                 "--http %s is reachable from other machines and is not protected: anyone "
                 "could read every series. Add --web-config FILE with tls_server_config and "
                 "basic_auth_users, bind a loopback address (127.0.0.1:PORT), or "
                 "pass --insecure to accept the risk (README.md, \"Running on a cluster\")",
                 c->http_host);
    return -1;
}

static int s_copy(char *dst, size_t n, const char *src)
{
    if (!*src || strlen(src) >= n)
        return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

/* An http:// or https:// URL that fits. */
static int s_url(char *dst, size_t n, const char *src)
{
    if (strncmp(src, "http://", 7) != 0 && strncmp(src, "https://", 8) != 0)
        return -1;
    return s_copy(dst, n, src);
}

int config_parse_metrics(const char *list, unsigned *set, char *err, size_t errlen)
{
    if (strcmp(list, "all") == 0) {
        *set = EW_METRICS_ALL;
        return 0;
    }
    unsigned m = 0;
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        int id = ew_metric_lookup(p, len);
        if (id < 0) {
            snprintf(err, errlen,
                     "--metrics: unknown metric '%.*s' (known: all, or a list of "
                     "%s)",
                     (int)len, p, EW_METRIC_LIST);
            return -1;
        }
        m |= EW_MBIT(id);
        if (!p[len])
            break;
        p += len + 1;
    }
    *set = m;
    return 0;
}

int config_parse(config_t *c, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    enum {
        O_DB = 256,
        O_ZMQ,
        O_HTTP,
        O_WORKERS,
        O_QMB,
        O_HTHREADS,
        O_COMMIT,
        O_LOG,
        O_READY,
        O_WEB,
        O_METRICS,
        O_RDAYS,
        O_RSIZE,
        O_POOL_TIMEOUT,
        O_NAME
    };
    static const struct option opts[] = {
        {"db", required_argument, NULL, O_DB},
        {"zmq", required_argument, NULL, O_ZMQ},
        {"name", required_argument, NULL, O_NAME},
        {"http", required_argument, NULL, O_HTTP},
        {"workers", required_argument, NULL, O_WORKERS},
        {"max-queue-mb", required_argument, NULL, O_QMB},
        {"http-threads", required_argument, NULL, O_HTHREADS},
        {"commit-ms", required_argument, NULL, O_COMMIT},
        {"log-level", required_argument, NULL, O_LOG},
        {"ready-file", required_argument, NULL, O_READY},
        {"web", required_argument, NULL, O_WEB},
        {"metrics", required_argument, NULL, O_METRICS},
        {"retention-days", required_argument, NULL, O_RDAYS},
        {"retention-size", required_argument, NULL, O_RSIZE},
        {"pool-timeout-ms", required_argument, NULL, O_POOL_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    enum {
        O_RULES = 400,
        O_NODEF,
        O_CHECK,
        O_AM,
        O_HOOK,
        O_EXEC,
        O_EXT,
        O_RESEND,
        O_NTIMEOUT,
        O_NRETRY,
        O_INSECURE,
        O_CKEY,
        O_CCLIENTS,
        O_WEBCFG
    };
    static const struct option alert_opts[] = {
        {"rules", required_argument, NULL, O_RULES},
        {"no-default-rules", no_argument, NULL, O_NODEF},
        {"check-rules", no_argument, NULL, O_CHECK},
        {"alertmanager", required_argument, NULL, O_AM},
        {"webhook", required_argument, NULL, O_HOOK},
        {"alert-exec", required_argument, NULL, O_EXEC},
        {"external-url", required_argument, NULL, O_EXT},
        {"alert-resend", required_argument, NULL, O_RESEND},
        {"notify-timeout", required_argument, NULL, O_NTIMEOUT},
        {"notify-retry", required_argument, NULL, O_NRETRY},
        {"insecure", no_argument, NULL, O_INSECURE},
        {"curve-key", required_argument, NULL, O_CKEY},
        {"curve-clients", required_argument, NULL, O_CCLIENTS},
        {"web-config", required_argument, NULL, O_WEBCFG},
    };
    /* getopt wants one table: the general options, then the alerting ones. */
    enum {
        NGEN = sizeof opts / sizeof opts[0] - 1,
        NAL = sizeof alert_opts / sizeof alert_opts[0]
    };
    struct option all[NGEN + NAL + 1];
    memcpy(all, opts, NGEN * sizeof opts[0]);
    memcpy(all + NGEN, alert_opts, sizeof alert_opts);
    memset(&all[NGEN + NAL], 0, sizeof all[0]);
    long v;
    optind = 0; /* reset getopt (also lets tests call this repeatedly) */
    opterr = 0;
    for (;;) {
        int o = getopt_long(argc, argv, ":hV", all, NULL);
        if (o == -1)
            break;
        switch (o) {
        case 'h':
            config_usage(out);
            return 1;
        case 'V':
            fprintf(out, "erwatchd %s\n", EW_VERSION);
            return 1;
        case O_DB:
            if (s_copy(c->db_path, sizeof(c->db_path), optarg) < 0)
                goto bad;
            break;
        case O_ZMQ:
            if (s_copy(c->zmq_endpoint, sizeof(c->zmq_endpoint), optarg) < 0 ||
                (!strstr(optarg, "://") && strcmp(optarg, "none") != 0))
                goto bad;
            break;
        case O_NAME:
            if (s_copy(c->name, sizeof(c->name), optarg) < 0 || !*optarg)
                goto bad;
            for (const unsigned char *p = (const unsigned char *)optarg; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                    goto bad;
            break;
        case O_HTTP:
            if (config_parse_hostport(optarg, c->http_host, sizeof(c->http_host), &c->http_port) <
                0) {
                snprintf(err, errlen,
                         "--http '%s': expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080",
                         optarg);
                return -1;
            }
            break;
        case O_WORKERS:
            if (s_parse_long(optarg, 1, 64, &v) < 0)
                goto bad;
            c->workers = (int)v;
            break;
        case O_QMB:
            if (s_parse_long(optarg, 1, 65536, &v) < 0)
                goto bad;
            c->max_queue_bytes = (size_t)v << 20;
            break;
        case O_HTHREADS:
            if (s_parse_long(optarg, 1, 64, &v) < 0)
                goto bad;
            c->http_threads = (int)v;
            break;
        case O_COMMIT:
            if (s_parse_long(optarg, 1, 60000, &v) < 0)
                goto bad;
            c->commit_ms = (int)v;
            break;
        case O_POOL_TIMEOUT:
            if (s_parse_long(optarg, 1, 3600000, &v) < 0)
                goto bad;
            c->pool_timeout_ms = (int)v;
            break;
        case O_LOG:
            if (log_parse_level(optarg, &c->log_level) < 0)
                goto bad;
            break;
        case O_READY:
            if (s_copy(c->ready_file, sizeof(c->ready_file), optarg) < 0)
                goto bad;
            break;
        case O_WEB:
            if (s_copy(c->web_dir, sizeof(c->web_dir), optarg) < 0)
                goto bad;
            break;
        case O_METRICS:
            if (config_parse_metrics(optarg, &c->metrics, err, errlen) < 0)
                return -1;
            break;
        case O_RDAYS: {
            char *end;
            errno = 0;
            double d = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(d > 0) || d > 1e6) {
                snprintf(err, errlen,
                         "--retention-days '%s': expected a number of days > 0, "
                         "e.g. 30 or 0.5",
                         optarg);
                return -1;
            }
            c->retention_s = d * 86400.0;
            break;
        }
        case O_RSIZE:
            if (config_parse_size(optarg, &c->retention_bytes) < 0 ||
                c->retention_bytes < (1 << 20)) {
                snprintf(err, errlen,
                         "--retention-size '%s': expected a size of at least 1MiB, "
                         "e.g. 500MB, 20GB or 1TiB",
                         optarg);
                return -1;
            }
            break;
        case O_RULES:
            if (s_copy(c->rules_file, sizeof(c->rules_file), optarg) < 0)
                goto bad;
            break;
        case O_NODEF:
            c->default_rules = 0;
            break;
        case O_CHECK:
            c->check_rules = 1;
            break;
        case O_AM:
        case O_HOOK: {
            int am = o == O_AM;
            int *n = am ? &c->nalertmanagers : &c->nwebhooks;
            if (*n == EW_NOTIFY_MAX) {
                snprintf(err, errlen, "at most %d %s URLs", EW_NOTIFY_MAX,
                         am ? "--alertmanager" : "--webhook");
                return -1;
            }
            char *dst = am ? c->alertmanagers[*n] : c->webhooks[*n];
            if (s_url(dst, sizeof(c->webhooks[0]), optarg) < 0) {
                snprintf(err, errlen, "%s '%s': expected an http:// or https:// URL",
                         am ? "--alertmanager" : "--webhook", optarg);
                return -1;
            }
            (*n)++;
            break;
        }
        case O_EXEC:
            if (s_copy(c->alert_exec, sizeof(c->alert_exec), optarg) < 0)
                goto bad;
            break;
        case O_EXT:
            if (s_url(c->external_url, sizeof(c->external_url), optarg) < 0) {
                snprintf(err, errlen, "--external-url '%s': expected an http:// or https:// URL",
                         optarg);
                return -1;
            }
            break;
        case O_RESEND:
            if (s_parse_long(optarg, 1, 3600, &v) < 0)
                goto bad;
            c->alert_resend_s = (int)v;
            break;
        case O_NTIMEOUT:
            if (s_parse_long(optarg, 100, 600000, &v) < 0)
                goto bad;
            c->notify_timeout_ms = (int)v;
            break;
        case O_NRETRY:
            if (s_parse_long(optarg, 1, 86400, &v) < 0)
                goto bad;
            c->notify_retry_s = (int)v;
            break;
        case O_INSECURE:
            c->insecure = 1;
            break;
        case O_CKEY:
            if (s_copy(c->curve_key, sizeof(c->curve_key), optarg) < 0)
                goto bad;
            break;
        case O_CCLIENTS:
            if (s_copy(c->curve_clients, sizeof(c->curve_clients), optarg) < 0)
                goto bad;
            break;
        case O_WEBCFG:
            if (s_copy(c->web_config, sizeof(c->web_config), optarg) < 0)
                goto bad;
            break;
        case ':':
            snprintf(err, errlen, "option '%s' needs a value (see --help)", argv[optind - 1]);
            return -1;
        default:
            snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
            return -1;
        }
        continue;
    bad:
        snprintf(err, errlen, "bad value '%s' for %s (see --help)", optarg,
                 argv[optind - 1 - (argv[optind - 1] == optarg)]);
        return -1;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (!c->curve_key[0] != !c->curve_clients[0]) {
        snprintf(err, errlen, "%s",
                 c->curve_key[0] ? "--curve-key needs --curve-clients FILE: the client public "
                                   "keys allowed to push (one per line)"
                                 : "--curve-clients needs --curve-key FILE: the daemon's secret "
                                   "key (erwatch keygen NAME writes NAME.key)");
        return -1;
    }
    return 0;
}
