/* notify.c: the notification threads (see notify.h).
 *
 * Design decisions:
 *  - One thread per target, each with a ring buffer of alert copies under
 *    its own lock. notify_post() takes each lock only to copy an alert in,
 *    so the writer never waits on a network, a receiver or a child process.
 *  - A notification leaves its queue only after it was delivered or given
 *    up, so the queue bound counts the one in flight too.
 *  - Waits (backoff, resend timer) are timed waits on the target's condvar:
 *    notify_stop() wakes them at once. At shutdown each target gets until a
 *    deadline (about one timeout) to deliver what it holds; no backoff then.
 *  - libcurl is used with one easy handle per thread and CURLOPT_NOSIGNAL
 *    (timeouts without SIGALRM, which the threads could not take anyway).
 *  - The hook is started with posix_spawn (no fork of a threaded process),
 *    in its own process group so that a timeout kills its children too,
 *    with the signal mask and SIGPIPE/SIGINT/SIGTERM reset to defaults: the
 *    daemon blocks or ignores those, and a child would inherit that.
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "fault.h"
#include "log.h"
#include "xalloc.h"

#define S_BACKOFF_MIN_S 0.5
#define S_BACKOFF_MAX_S 30.0
#define S_RESOLVED_KEEP_S 900.0 /* re-send a resolved alert this long */
#define S_AM_BATCH 128          /* alerts per POST to Alertmanager */

extern char **environ;

typedef enum { S_WEBHOOK = 0, S_ALERTMANAGER, S_EXEC } s_kind_t;

static const char *const s_kind_name[] = {"webhook", "alertmanager", "alert-exec"};

/* An alert Alertmanager must keep hearing about. */
typedef struct {
    alert_t a;
    char fp[17];
    double drop_at; /* monotonic; resolved ones are forgotten then */
} s_active_t;

typedef struct s_target {
    notify_t *n;
    s_kind_t kind;
    char *where;     /* URL (Alertmanager: the full API URL) or command */
    char shown[600]; /* where, as logs show it (notify_redact_url) */
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    alert_t *q; /* ring buffer */
    size_t head, len, cap;
    int closing;
    double deadline; /* monotonic: shutdown delivery deadline */
    CURL *curl;
    /* Alertmanager only (its thread's own) */
    s_active_t *act;
    size_t nact, cact;
} s_target_t;

struct notify {
    notify_config_t cfg;
    char *external_url;
    char *exec_cmd;
    s_target_t *t;
    size_t nt;
};

/* ---------------------------------------------------------------- helpers */

static void s_count(notify_t *n, size_t which, uint64_t by)
{
    stats_t *st = n->cfg.stats;
    if (!st)
        return;
    atomic_uint_fast64_t *c[] = {&st->notify_sent, &st->notify_errors, &st->notify_dropped};
    stats_inc(c[which], by);
}
enum { S_SENT = 0, S_ERRORS, S_DROPPED };

/* Waits on the target's condvar until the monotonic time `until` or a
 * notify_stop(). Called with the lock held. */
static void s_wait_until(s_target_t *t, double until)
{
    double left = until - ew_monotonic();
    if (left <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double s = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + left;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&t->cond, &t->lock, &ts);
}

/* The time a request may take: the configured timeout, cut to what is left
 * before the shutdown deadline once notify_stop() has begun. */
static long s_timeout_ms(s_target_t *t)
{
    double tmo = t->n->cfg.timeout_ms;
    pthread_mutex_lock(&t->lock);
    if (t->closing) {
        double left = (t->deadline - ew_monotonic()) * 1000.0;
        if (left < tmo)
            tmo = left < 100 ? 100 : left;
    }
    pthread_mutex_unlock(&t->lock);
    return (long)tmo;
}

/* ---------------------------------------------------------------- HTTP */

typedef struct {
    char text[256];
    size_t len;
} s_body_t;

/* Keeps the start of the response (for error messages), discards the rest. */
static size_t s_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    s_body_t *b = ud;
    size_t n = size * nmemb;
    size_t room = sizeof b->text - 1 - b->len;
    size_t k = n < room ? n : room;
    memcpy(b->text + b->len, p, k);
    b->len += k;
    b->text[b->len] = '\0';
    return n;
}

/* Aborts a transfer still running at the shutdown deadline: a receiver
 * that accepted the connection and never answers must not hold up exit. */
static int s_on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    s_target_t *t = ud;
    pthread_mutex_lock(&t->lock);
    int stop = t->closing && ew_monotonic() >= t->deadline;
    pthread_mutex_unlock(&t->lock);
    return stop;
}

/* POSTs a JSON body. Returns 0 on a 2xx answer, else -1 with err filled. */
static int s_post(s_target_t *t, const char *body, size_t len, char *err, size_t errlen)
{
    if (ew_fault(EW_FAULT_NOTIFY_SEND)) {
        snprintf(err, errlen, "injected fault (fault.h)");
        return -1;
    }
    if (!t->curl && !(t->curl = curl_easy_init())) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    CURL *c = t->curl;
    char cerr[CURL_ERROR_SIZE] = "";
    s_body_t resp = {.len = 0};
    resp.text[0] = '\0';
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    long tmo = s_timeout_ms(t);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, t->where);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, tmo);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* A proxy from the environment is for the outside world, never loopback. */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "erwatchd/" EW_VERSION);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdr);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        for (char *p = resp.text; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        snprintf(err, errlen, "HTTP %ld%s%.200s", status, resp.len ? ": " : "", resp.text);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- exec */

static void s_env_add(char ***env, size_t *n, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 2;
    char *e = ew_xrealloc(NULL, len);
    snprintf(e, len, "%s=%s", name, value);
    *env = ew_xrealloc(*env, (*n + 2) * sizeof **env);
    (*env)[(*n)++] = e;
    (*env)[*n] = NULL;
}

/* Runs the hook with body on stdin. Returns 0 when it exits 0 in time, else
 * -1 with err filled. */
static int s_run_hook(s_target_t *t, const alert_t *a, const char *body, size_t len, char *err,
                      size_t errlen)
{
    if (ew_fault(EW_FAULT_NOTIFY_SEND)) {
        snprintf(err, errlen, "injected fault (fault.h)");
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    /* The environment: ours, minus any ERWATCH_ALERT* we set, plus those. */
    char **env = NULL;
    size_t nenv = 0, nown = 0;
    for (char **e = environ; *e; e++) {
        env = ew_xrealloc(env, (nenv + 2) * sizeof *env);
        env[nenv++] = *e;
    }
    nown = nenv;
    char num[64];
    s_env_add(&env, &nenv, "ERWATCH_ALERT_STATUS",
              a->state == ALERT_RESOLVED ? "resolved" : "firing");
    s_env_add(&env, &nenv, "ERWATCH_ALERTNAME", a->alertname);
    s_env_add(&env, &nenv, "ERWATCH_RUN", a->run);
    s_env_add(&env, &nenv, "ERWATCH_TAG", a->tag);
    s_env_add(&env, &nenv, "ERWATCH_METRIC", a->metric);
    s_env_add(&env, &nenv, "ERWATCH_SEVERITY", a->severity);
    snprintf(num, sizeof num, "%.10g", a->value);
    s_env_add(&env, &nenv, "ERWATCH_VALUE", num);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    /* Nothing of the daemon's but stdin/out/err: libcurl's sockets (the
     * webhooks' keep-alive connections) and SQLite's files are not opened
     * close-on-exec, and a hook that leaves a process behind would keep them.
     * (glibc >= 2.34; Debian 12 has 2.36.) */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigset_t none, defs;
    sigemptyset(&none);
    sigemptyset(&defs);
    sigaddset(&defs, SIGPIPE);
    sigaddset(&defs, SIGINT);
    sigaddset(&defs, SIGTERM);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &defs);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    char *argv[] = {(char *)"/bin/sh", (char *)"-c", t->where, NULL};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    for (size_t i = nown; i < nenv; i++)
        free(env[i]);
    free(env);
    close(fds[0]);
    if (rc != 0) {
        close(fds[1]);
        snprintf(err, errlen, "cannot start /bin/sh: %s", strerror(rc));
        return -1;
    }

    double deadline = ew_monotonic() + (double)s_timeout_ms(t) / 1000.0;
    /* Write stdin without blocking past the deadline: a hook that never
     * reads must not hang this thread. EPIPE (it exited) is fine. */
    fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(fds[1], body + off, len - off);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN) {
            int ms = (int)((deadline - ew_monotonic()) * 1000.0);
            if (ms <= 0)
                break;
            struct pollfd p = {.fd = fds[1], .events = POLLOUT};
            poll(&p, 1, ms > 100 ? 100 : ms);
            continue;
        }
        break;
    }
    close(fds[1]);

    int status = 0, timed_out = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(err, errlen, "waitpid: %s", strerror(errno));
            return -1;
        }
        if (ew_monotonic() >= deadline) {
            timed_out = 1;
            kill(-pid, SIGKILL); /* its process group: sh and what it started */
            waitpid(pid, &status, 0);
            break;
        }
        usleep(5000);
    }
    if (timed_out) {
        snprintf(err, errlen, "timed out, killed");
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        snprintf(err, errlen, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(err, errlen, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return -1;
}

/* ---------------------------------------------------------------- queue */

/* The oldest queued alert, copied out (the slot stays taken). 0, or -1 when
 * the queue is empty and closing. Blocks while empty. */
static int s_peek(s_target_t *t, alert_t *out)
{
    pthread_mutex_lock(&t->lock);
    while (t->len == 0 && !t->closing)
        pthread_cond_wait(&t->cond, &t->lock);
    int rc = -1;
    if (t->len) {
        *out = t->q[t->head];
        rc = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static void s_pop(s_target_t *t)
{
    pthread_mutex_lock(&t->lock);
    t->head = (t->head + 1) % t->cap;
    t->len--;
    pthread_mutex_unlock(&t->lock);
}

static const char *s_status(const alert_t *a)
{
    return a->state == ALERT_RESOLVED ? "resolved" : "firing";
}

/* ---------------------------------------------------------------- webhook, exec */

static void s_deliver_one(s_target_t *t, const alert_t *a)
{
    notify_t *n = t->n;
    pthread_mutex_lock(&t->lock);
    int late = t->closing && ew_monotonic() >= t->deadline;
    pthread_mutex_unlock(&t->lock);
    if (late) {
        s_count(n, S_DROPPED, 1);
        log_error("alert %s %s run=%s tag=%s: %s %s not sent: shutting down", a->alertname,
                  s_status(a), a->run, a->tag, s_kind_name[t->kind], t->shown);
        return;
    }
    strbuf_t body;
    strbuf_init(&body);
    notify_webhook_json(&body, a, n->external_url);
    strbuf_putc(&body, '\n');
    double start = ew_monotonic(), delay = S_BACKOFF_MIN_S;
    for (int attempt = 1;; attempt++) {
        char err[512] = "";
        int rc = t->kind == S_EXEC ? s_run_hook(t, a, body.data, body.len, err, sizeof err)
                                   : s_post(t, body.data, body.len, err, sizeof err);
        if (rc == 0) {
            s_count(n, S_SENT, 1);
            log_info("alert %s %s run=%s tag=%s: %s %s ok%s", a->alertname, s_status(a), a->run,
                     a->tag, s_kind_name[t->kind], t->shown, attempt > 1 ? " (after retries)" : "");
            break;
        }
        s_count(n, S_ERRORS, 1);
        pthread_mutex_lock(&t->lock);
        int closing = t->closing;
        double now = ew_monotonic();
        int give_up = t->kind == S_EXEC || now - start + delay > n->cfg.retry_s ||
                      (closing && now + delay > t->deadline);
        if (give_up) {
            pthread_mutex_unlock(&t->lock);
            s_count(n, S_DROPPED, 1);
            log_error("alert %s %s run=%s tag=%s: %s %s failed, %s: %s", a->alertname, s_status(a),
                      a->run, a->tag, s_kind_name[t->kind], t->shown,
                      t->kind == S_EXEC ? "not retried"
                      : closing         ? "giving up at shutdown"
                                        : "giving up after retries",
                      err);
            break;
        }
        if (attempt == 1 || attempt % 10 == 0)
            log_warn("alert %s %s run=%s tag=%s: %s %s failed (attempt %d), retrying "
                     "in %.1fs: %s",
                     a->alertname, s_status(a), a->run, a->tag, s_kind_name[t->kind], t->shown,
                     attempt, delay, err);
        s_wait_until(t, now + delay);
        pthread_mutex_unlock(&t->lock);
        delay = delay * 2 > S_BACKOFF_MAX_S ? S_BACKOFF_MAX_S : delay * 2;
    }
    strbuf_free(&body);
}

static void *s_run_queue(void *arg)
{
    s_target_t *t = arg;
    alert_t a;
    while (s_peek(t, &a) == 0) {
        s_deliver_one(t, &a);
        s_pop(t);
    }
    return NULL;
}

/* ---------------------------------------------------------------- Alertmanager */

/* Records a in the active set (replacing the alert of the same labels). */
static void s_am_track(s_target_t *t, const alert_t *a)
{
    char fp[17];
    notify_fingerprint(a, fp);
    s_active_t *slot = NULL;
    for (size_t i = 0; i < t->nact; i++)
        if (strcmp(t->act[i].fp, fp) == 0)
            slot = &t->act[i];
    if (!slot) {
        if (t->nact == t->cact) {
            t->cact = t->cact ? 2 * t->cact : 16;
            t->act = ew_xrealloc(t->act, t->cact * sizeof *t->act);
        }
        slot = &t->act[t->nact++];
    }
    slot->a = *a;
    memcpy(slot->fp, fp, sizeof fp);
    slot->drop_at = a->state == ALERT_RESOLVED ? ew_monotonic() + S_RESOLVED_KEEP_S : INFINITY;
}

static void s_am_expire(s_target_t *t)
{
    double now = ew_monotonic();
    size_t k = 0;
    for (size_t i = 0; i < t->nact; i++)
        if (t->act[i].drop_at > now)
            t->act[k++] = t->act[i];
    t->nact = k;
}

/* POSTs alerts a[0..n) (at most S_AM_BATCH per request). A firing alert
 * is valid until 4 resend intervals from now, as Prometheus sends it.
 * Returns 0, or -1 with err filled. */
static int s_am_send(s_target_t *t, const alert_t *a, size_t n, size_t stride, char *err,
                     size_t errlen)
{
    notify_t *nt = t->n;
    double ends_at = ew_now() + 4.0 * nt->cfg.resend_s;
    strbuf_t b;
    strbuf_init(&b);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += S_AM_BATCH) {
        strbuf_reset(&b);
        strbuf_putc(&b, '[');
        for (size_t j = i; j < n && j < i + S_AM_BATCH; j++) {
            if (j > i)
                strbuf_putc(&b, ',');
            const alert_t *x = (const alert_t *)((const char *)a + j * stride);
            notify_am_alert_json(&b, x, nt->external_url, ends_at);
        }
        strbuf_putc(&b, ']');
        rc = s_post(t, b.data, b.len, err, errlen);
    }
    strbuf_free(&b);
    return rc;
}

static void *s_run_am(void *arg)
{
    s_target_t *t = arg;
    notify_t *n = t->n;
    double resend = n->cfg.resend_s;
    double next_all = INFINITY, delay = S_BACKOFF_MIN_S;
    int failures = 0;
    size_t unsent = 0; /* new notifications taken from the queue, not yet delivered */
    alert_t *batch = ew_xrealloc(NULL, t->cap * sizeof *batch);
    for (;;) {
        /* Take everything queued; wait for more or for the next send. */
        pthread_mutex_lock(&t->lock);
        while (t->len == 0 && !t->closing && ew_monotonic() < next_all) {
            if (isinf(next_all))
                pthread_cond_wait(&t->cond, &t->lock);
            else
                s_wait_until(t, next_all);
        }
        size_t nb = 0;
        while (t->len) {
            batch[nb++] = t->q[t->head];
            t->head = (t->head + 1) % t->cap;
            t->len--;
        }
        int closing = t->closing;
        pthread_mutex_unlock(&t->lock);

        unsent += nb;
        for (size_t i = 0; i < nb; i++)
            s_am_track(t, &batch[i]);
        s_am_expire(t);
        /* at shutdown, undelivered ones get one last try at once, no backoff */
        int all = ew_monotonic() >= next_all || (closing && unsent);
        if (!nb && !all) {
            if (closing)
                break;
            continue;
        }
        if (t->nact == 0) {
            next_all = INFINITY;
            if (closing)
                break;
            continue;
        }

        /* New alerts go out at once; the whole active set on the timer, or
         * after a failure (it holds the alerts that failed). */
        char err[512] = "";
        int rc = all ? s_am_send(t, &t->act[0].a, t->nact, sizeof *t->act, err, sizeof err)
                     : s_am_send(t, batch, nb, sizeof *batch, err, sizeof err);
        if (rc == 0) {
            /* a retry after a failure (nb = 0) delivers the earlier ones */
            s_count(n, S_SENT, unsent);
            unsent = 0;
            for (size_t i = 0; i < nb; i++)
                log_info("alert %s %s run=%s tag=%s: alertmanager %s ok", batch[i].alertname,
                         s_status(&batch[i]), batch[i].run, batch[i].tag, t->shown);
            if (failures)
                log_info("alertmanager %s: reachable again; %zu alert(s) sent", t->shown, t->nact);
            failures = 0;
            delay = S_BACKOFF_MIN_S;
            if (all || isinf(next_all))
                next_all = ew_monotonic() + resend;
        } else {
            s_count(n, S_ERRORS, 1);
            if (failures++ == 0 || failures % 10 == 0)
                log_warn("alertmanager %s: cannot send (attempt %d), retrying in %.1fs: %s",
                         t->shown, failures, delay < resend ? delay : resend, err);
            next_all = ew_monotonic() + (delay < resend ? delay : resend);
            delay = delay * 2 > S_BACKOFF_MAX_S ? S_BACKOFF_MAX_S : delay * 2;
        }
        if (closing) {
            if (rc != 0) {
                s_count(n, S_DROPPED, unsent);
                log_error("alertmanager %s: giving up at shutdown: %s", t->shown, err);
            }
            break;
        }
    }
    free(batch);
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

static void s_target_init(notify_t *n, s_target_t *t, s_kind_t kind, const char *where)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->kind = kind;
    if (kind == S_ALERTMANAGER) {
        /* A base URL gets the API path; a full API URL is used as given. */
        size_t len = strlen(where);
        while (len > 0 && where[len - 1] == '/')
            len--;
        const char *api = "/api/v2/alerts";
        size_t alen = strlen(api);
        int full = len >= alen && memcmp(where + len - alen, api, alen) == 0;
        t->where = ew_xrealloc(NULL, len + alen + 1);
        memcpy(t->where, where, len);
        memcpy(t->where + len, full ? "" : api, full ? 1 : alen + 1);
        t->where[len + (full ? 0 : alen)] = '\0';
    } else {
        t->where = ew_xstrdup(where);
    }
    if (kind == S_EXEC)
        snprintf(t->shown, sizeof t->shown, "%s", t->where);
    else
        notify_redact_url(t->where, t->shown, sizeof t->shown);
    t->cap = n->cfg.queue_max ? n->cfg.queue_max : 256;
    t->q = ew_xrealloc(NULL, t->cap * sizeof *t->q);
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
}

static void s_free(notify_t *n)
{
    for (size_t i = 0; i < n->nt; i++) {
        s_target_t *t = &n->t[i];
        if (t->curl)
            curl_easy_cleanup(t->curl);
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->cond);
        free(t->q);
        free(t->act);
        free(t->where);
    }
    free(n->t);
    free(n->external_url);
    free(n->exec_cmd);
    free(n);
}

notify_t *notify_start(const notify_config_t *cfg, char *err, size_t errlen)
{
    notify_t *n = calloc(1, sizeof *n);
    if (!n)
        abort();
    n->cfg = *cfg;
    n->external_url = ew_xstrdup(cfg->external_url);
    n->cfg.external_url = n->external_url;
    if (!(n->cfg.resend_s > 0))
        n->cfg.resend_s = 60;
    if (n->cfg.retry_s <= 0)
        n->cfg.retry_s = 600;
    if (n->cfg.timeout_ms <= 0)
        n->cfg.timeout_ms = 5000;
    size_t total = cfg->nalertmanagers + cfg->nwebhooks + (cfg->exec_cmd && *cfg->exec_cmd);
    n->t = calloc(total ? total : 1, sizeof *n->t);
    if (!n->t)
        abort();
    for (size_t i = 0; i < cfg->nalertmanagers; i++)
        s_target_init(n, &n->t[n->nt++], S_ALERTMANAGER, cfg->alertmanagers[i]);
    for (size_t i = 0; i < cfg->nwebhooks; i++)
        s_target_init(n, &n->t[n->nt++], S_WEBHOOK, cfg->webhooks[i]);
    if (cfg->exec_cmd && *cfg->exec_cmd)
        s_target_init(n, &n->t[n->nt++], S_EXEC, cfg->exec_cmd);
    for (size_t i = 0; i < n->nt; i++) {
        s_target_t *t = &n->t[i];
        if (pthread_create(&t->thread, NULL, t->kind == S_ALERTMANAGER ? s_run_am : s_run_queue,
                           t) != 0) {
            snprintf(err, errlen, "cannot start the %s notification thread", s_kind_name[t->kind]);
            notify_stop(&n);
            return NULL;
        }
        t->started = 1;
    }
    return n;
}

void notify_post(notify_t *n, const alert_t *a, int resend_only)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nt; i++) {
        s_target_t *t = &n->t[i];
        if (resend_only && t->kind != S_ALERTMANAGER)
            continue;
        pthread_mutex_lock(&t->lock);
        int full = t->len == t->cap || ew_fault(EW_FAULT_NOTIFY_FULL);
        if (!full) {
            t->q[(t->head + t->len) % t->cap] = *a;
            t->len++;
            pthread_cond_signal(&t->cond);
        }
        pthread_mutex_unlock(&t->lock);
        if (full) {
            s_count(n, S_DROPPED, 1);
            log_error("alert %s %s run=%s tag=%s: %s %s queue full (%zu); notification "
                      "dropped",
                      a->alertname, s_status(a), a->run, a->tag, s_kind_name[t->kind], t->shown,
                      t->cap);
        }
    }
}

void notify_stop(notify_t **np)
{
    notify_t *n = np ? *np : NULL;
    if (!n)
        return;
    double deadline = ew_monotonic() + n->cfg.timeout_ms / 1000.0;
    for (size_t i = 0; i < n->nt; i++) {
        s_target_t *t = &n->t[i];
        pthread_mutex_lock(&t->lock);
        t->closing = 1;
        t->deadline = deadline;
        pthread_cond_broadcast(&t->cond);
        pthread_mutex_unlock(&t->lock);
    }
    for (size_t i = 0; i < n->nt; i++)
        if (n->t[i].started)
            pthread_join(n->t[i].thread, NULL);
    s_free(n);
    *np = NULL;
}
