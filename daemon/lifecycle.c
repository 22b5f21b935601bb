/* lifecycle.c: run deletion, renaming and retention on the writer thread
 * (see lifecycle.h).
 *
 * Design decisions:
 *  - Requests are a linked list under one lock; each has its own state, and
 *    the caller waits on a shared condvar for its request to be done. A
 *    caller that gives up (LIFECYCLE_WAIT_MS) takes a request out if the
 *    writer has not started it, so a late writer never acts on a request
 *    whose caller was told "nothing changed"; once started, the caller
 *    waits for it (one small transaction).
 *  - While ingest runs (writer.h: load), purging takes at most a tenth of
 *    the time (a token bucket); idle, it runs in 50 ms slices. On a small
 *    machine the workers need the CPU the deletes would take, so this is
 *    what keeps ingest at its rate (tests/bench/bench_retention.py).
 *  - Retention is checked ten times a second (an index seek and four
 *    PRAGMAs). The age limit deletes every run
 *    past it (a few per tick); the size limit deletes one run, the oldest,
 *    then waits until that run's rows are purged before it measures again,
 *    so it never deletes more than it must. It never deletes the only run
 *    left, and says so in the log when a run it deletes was still live.
 *  - Free space: SQLite reuses the pages of deleted rows for new ones, so
 *    with steady ingest the file stops growing on its own. When more than a
 *    quarter of a file with incremental auto-vacuum is free (a big delete,
 *    a lowered limit), the free pages beyond a tenth of the file are given
 *    back in steps of S_VACUUM_PAGES, a few milliseconds at a time.
 */
#include "lifecycle.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "log.h"
#include "store_runs.h"
#include "writer.h"

#define S_LISTENERS_MAX 4
#define S_RETENTION_EVERY_S 0.1
#define S_AGE_PER_TICK 16    /* runs the age limit deletes per check, at most */
#define S_IDLE_BUDGET_S 0.05 /* purge/vacuum work per tick when idle */
#define S_PURGE_SHARE 0.1    /* while ingest runs: purge this share of the time */
#define S_LIVE_S 60.0        /* a run seen this recently is "still live" */
#define S_VACUUM_PAGES 256
#define S_VACUUM_EVERY_S 5.0

typedef enum { S_QUEUED, S_RUNNING, S_DONE } s_state_t;
typedef enum { S_DELETE, S_RENAME } s_kind_t;

typedef struct s_req {
    struct s_req *next;
    s_kind_t kind;
    s_state_t state;
    char run[EW_NAME_MAX + 1], to[EW_NAME_MAX + 1];
    int rc;
    char msg[512];
    lifecycle_result_t res;
} s_req_t;

struct lifecycle {
    lifecycle_config_t cfg;
    struct {
        lifecycle_listener_fn fn;
        void *ctx;
    } listeners[S_LISTENERS_MAX];
    int nlisteners;

    pthread_mutex_t tick_lock; /* held for a whole tick: close waits for it */
    pthread_mutex_t lock;
    pthread_cond_t done;
    s_req_t *head, *tail; /* queued requests, in order */
    int closed;

    /* writer thread only */
    int purging;                        /* deleted runs may still have rows */
    double next_retention, next_vacuum; /* monotonic */
    int failing;                        /* consecutive purge errors */
    double tokens, refilled;            /* purge time allowed while ingest runs (s), and when */
};

lifecycle_t *lifecycle_new(const lifecycle_config_t *cfg)
{
    lifecycle_t *l = calloc(1, sizeof *l);
    if (!l)
        abort();
    if (cfg)
        l->cfg = *cfg;
    pthread_mutex_init(&l->tick_lock, NULL);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->done, NULL);
    l->purging = 1; /* a deletion a previous run of the daemon left unfinished */
    l->refilled = ew_monotonic();
    return l;
}

void lifecycle_listen(lifecycle_t *l, lifecycle_listener_fn fn, void *ctx)
{
    if (l->nlisteners < S_LISTENERS_MAX) {
        l->listeners[l->nlisteners].fn = fn;
        l->listeners[l->nlisteners].ctx = ctx;
        l->nlisteners++;
    }
}

void lifecycle_destroy(lifecycle_t **lp)
{
    if (!lp || !*lp)
        return;
    lifecycle_t *l = *lp;
    lifecycle_close(l);
    pthread_cond_destroy(&l->done);
    pthread_mutex_destroy(&l->lock);
    pthread_mutex_destroy(&l->tick_lock);
    free(l);
    *lp = NULL;
}

#define S_COUNT(l, field, by)                                                                      \
    do {                                                                                           \
        if ((l)->cfg.stats)                                                                        \
            stats_inc(&(l)->cfg.stats->field, (by));                                               \
    } while (0)

/* ---------------------------------------------------------------- requests */

static int s_check_name(const char *what, const char *name, char *msg, size_t msglen)
{
    char why[96];
    if (decode_name_problem(name, strlen(name), why, sizeof why) == 0)
        return 0;
    snprintf(msg, msglen, "%s %s", what, why);
    return -EINVAL;
}

static int s_request(lifecycle_t *l, s_kind_t kind, const char *run, const char *to,
                     lifecycle_result_t *out, char *msg, size_t msglen)
{
    int rc = s_check_name("run name", run, msg, msglen);
    if (rc == 0 && to)
        rc = s_check_name("new run name", to, msg, msglen);
    if (rc == 0 && to && strcmp(run, to) == 0) {
        snprintf(msg, msglen, "run '%s' already has that name", run);
        rc = -EINVAL;
    }
    if (rc != 0)
        return rc;

    s_req_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->kind = kind;
    snprintf(r->run, sizeof r->run, "%s", run);
    if (to)
        snprintf(r->to, sizeof r->to, "%s", to);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += LIFECYCLE_WAIT_MS / 1000;
    deadline.tv_nsec += (long)(LIFECYCLE_WAIT_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&l->lock);
    if (l->closed) {
        pthread_mutex_unlock(&l->lock);
        free(r);
        snprintf(msg, msglen, "the daemon is stopping");
        return -ECANCELED;
    }
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    int timed_out = 0;
    while (r->state != S_DONE) {
        if (timed_out && r->state == S_QUEUED) {
            /* Not started: take it out, so it never happens. */
            s_req_t **pp = &l->head, *prev = NULL;
            while (*pp != r) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            *pp = r->next;
            if (l->tail == r)
                l->tail = prev;
            r->rc = -ETIMEDOUT;
            snprintf(r->msg, sizeof r->msg,
                     "the writer did not get to it within %d s (is the database "
                     "failing? see the daemon's log); nothing changed",
                     LIFECYCLE_WAIT_MS / 1000);
            break;
        }
        if (pthread_cond_timedwait(&l->done, &l->lock, &deadline) == ETIMEDOUT)
            timed_out = 1;
    }
    pthread_mutex_unlock(&l->lock);
    rc = r->rc;
    if (rc != 0)
        snprintf(msg, msglen, "%s", r->msg);
    else if (out)
        *out = r->res;
    free(r);
    return rc;
}

int lifecycle_delete(lifecycle_t *l, const char *run, lifecycle_result_t *out, char *msg,
                     size_t msglen)
{
    return s_request(l, S_DELETE, run, NULL, out, msg, msglen);
}

int lifecycle_rename(lifecycle_t *l, const char *old, const char *new_name, char *msg,
                     size_t msglen)
{
    return s_request(l, S_RENAME, old, new_name, NULL, msg, msglen);
}

void lifecycle_close(lifecycle_t *l)
{
    pthread_mutex_lock(&l->tick_lock);
    pthread_mutex_lock(&l->lock);
    l->closed = 1;
    for (s_req_t *r = l->head; r; r = r->next) {
        r->rc = -ECANCELED;
        snprintf(r->msg, sizeof r->msg, "the daemon is stopping; nothing changed");
        r->state = S_DONE;
    }
    l->head = l->tail = NULL;
    pthread_cond_broadcast(&l->done);
    pthread_mutex_unlock(&l->lock);
    pthread_mutex_unlock(&l->tick_lock);
}

/* ---------------------------------------------------------------- writer side */

static void s_notify(lifecycle_t *l, const char *run, const char *new_name, const int64_t *sids,
                     size_t nsids)
{
    for (int i = 0; i < l->nlisteners; i++)
        l->listeners[i].fn(l->listeners[i].ctx, run, new_name, sids, nsids);
}

/* Phase 1 of a deletion and what follows it in memory. Returns
 * store_run_delete's code. */
static int s_delete(lifecycle_t *l, store_t *store, const char *run, lifecycle_result_t *res,
                    char *msg, size_t msglen)
{
    store_deleted_t del;
    int rc = store_run_delete(store, run, ew_now(), &del, msg, msglen);
    if (rc == -ENOENT)
        snprintf(msg, msglen, "no run named '%s'; nothing deleted", run);
    if (rc != 0)
        return rc;
    store_forget_ids(store);
    s_notify(l, run, NULL, del.sids, del.nsids);
    if (res) {
        res->alerts = del.alerts;
        res->series = del.nsids;
    }
    free(del.sids);
    l->purging = 1;
    S_COUNT(l, runs_deleted, 1);
    return 0;
}

static void s_serve(lifecycle_t *l, store_t *store)
{
    for (;;) {
        pthread_mutex_lock(&l->lock);
        s_req_t *r = l->head;
        if (r) {
            l->head = r->next;
            if (!l->head)
                l->tail = NULL;
            r->state = S_RUNNING;
        }
        pthread_mutex_unlock(&l->lock);
        if (!r)
            return;

        int rc;
        if (r->kind == S_DELETE) {
            rc = s_delete(l, store, r->run, &r->res, r->msg, sizeof r->msg);
            if (rc == 0)
                log_info("run '%s' deleted (%zu series, %lld alert episode(s)); its rows are "
                         "removed in the background",
                         r->run, r->res.series, (long long)r->res.alerts);
        } else {
            rc = store_run_rename(store, r->run, r->to, r->msg, sizeof r->msg);
            if (rc == -ENOENT)
                snprintf(r->msg, sizeof r->msg, "no run named '%s'; nothing renamed", r->run);
            else if (rc == -EEXIST)
                snprintf(r->msg, sizeof r->msg,
                         "a run named '%s' already exists; nothing renamed (delete it "
                         "first, or pick another name)",
                         r->to);
            if (rc == 0) {
                store_forget_ids(store);
                s_notify(l, r->run, r->to, NULL, 0);
                S_COUNT(l, runs_renamed, 1);
                log_info("run '%s' renamed to '%s'", r->run, r->to);
            }
        }
        if (rc == -EIO)
            log_error("%s", r->msg);

        pthread_mutex_lock(&l->lock);
        r->rc = rc;
        r->state = S_DONE;
        pthread_cond_broadcast(&l->done);
        pthread_mutex_unlock(&l->lock);
    }
}

/* Deletes one run for retention; logs why. */
static int s_retire(lifecycle_t *l, store_t *store, const char *name, double last_seen,
                    const char *why)
{
    char msg[512];
    double age = ew_now() - last_seen;
    if (s_delete(l, store, name, NULL, msg, sizeof msg) != 0) {
        log_error("retention: %s", msg);
        return -1;
    }
    S_COUNT(l, retention_deleted, 1);
    if (age < S_LIVE_S)
        log_warn("retention: deleted run '%s' %s, though it received a batch %.0f s ago: the "
                 "live runs alone exceed the limit",
                 name, why, age);
    else
        log_info("retention: deleted run '%s' (last batch %.1f days ago) %s", name, age / 86400.0,
                 why);
    return 0;
}

static void s_retention(lifecycle_t *l, store_t *store)
{
    char name[EW_NAME_MAX + 1];
    double last_seen;
    int others;
    if (l->cfg.retention_s > 0) {
        double cutoff = ew_now() - l->cfg.retention_s;
        for (int i = 0; i < S_AGE_PER_TICK; i++) {
            if (store_oldest_run(store, name, &last_seen, &others) != 0 || last_seen >= cutoff)
                break;
            if (s_retire(l, store, name, last_seen, "by --retention-days") != 0)
                break;
        }
    }
    if (l->cfg.retention_bytes > 0 && !l->purging) {
        store_space_t sp;
        if (store_space(store, &sp) != 0)
            return;
        int64_t used = (sp.pages - sp.free_pages) * sp.page_size;
        if (used > l->cfg.retention_bytes &&
            store_oldest_run(store, name, &last_seen, &others) == 0 && others) {
            char why[96];
            snprintf(why, sizeof why, "by --retention-size (%.1f MB stored)", (double)used / 1e6);
            s_retire(l, store, name, last_seen, why);
        }
    }
}

/* One purge transaction. Returns 1 when more is left. */
static int s_purge_one(lifecycle_t *l, store_t *store)
{
    char err[512];
    long n = store_purge_step(store, LIFECYCLE_PURGE_ROWS, err, sizeof err);
    if (n < 0) {
        if (l->failing++ % 100 == 0)
            log_error("%s (retried)", err);
        return 0;
    }
    l->failing = 0;
    if (n == 0) {
        l->purging = 0;
        return 0;
    }
    S_COUNT(l, rows_purged, (uint64_t)n);
    return 1;
}

static void s_vacuum(store_t *store, double until)
{
    store_space_t sp;
    if (store_space(store, &sp) != 0 || !sp.incremental || sp.free_pages * 4 <= sp.pages)
        return;
    int64_t give = sp.free_pages - sp.pages / 10;
    while (give > 0 && ew_monotonic() < until) {
        int64_t n = give < S_VACUUM_PAGES ? give : S_VACUUM_PAGES;
        if (store_vacuum_step(store, n) != 0)
            return;
        give -= n;
    }
}

/* Purges for at most S_IDLE_BUDGET_S. While ingest runs, only as long as
 * the token bucket allows (S_PURGE_SHARE of the time), one step at most
 * when the writer is behind: the rows of deleted runs go at the pace the
 * writer's spare time allows, and ingest keeps its rate. Returns 1 when
 * more is left and the writer should call again at once (idle only). */
static int s_purge(lifecycle_t *l, store_t *store, int load, double now)
{
    l->tokens += (now - l->refilled) * S_PURGE_SHARE;
    if (l->tokens > S_IDLE_BUDGET_S)
        l->tokens = S_IDLE_BUDGET_S;
    l->refilled = now;
    if (load != WRITER_IDLE && l->tokens <= 0)
        return 0; /* the next group's tick goes on */
    double until = now + S_IDLE_BUDGET_S;
    for (;;) {
        double t0 = ew_monotonic();
        int more = s_purge_one(l, store);
        double t1 = ew_monotonic();
        if (load != WRITER_IDLE)
            l->tokens -= t1 - t0;
        if (!more)
            return 0;
        if (t1 >= until || load == WRITER_BEHIND || (load != WRITER_IDLE && l->tokens <= 0))
            return load == WRITER_IDLE;
    }
}

static int s_tick(lifecycle_t *l, store_t *store, int load)
{
    s_serve(l, store);
    double now = ew_monotonic();
    if (now >= l->next_retention) {
        l->next_retention = now + S_RETENTION_EVERY_S;
        s_retention(l, store);
    }
    if (l->purging)
        return s_purge(l, store, load, now);
    if (now >= l->next_vacuum) {
        l->next_vacuum = now + S_VACUUM_EVERY_S;
        s_vacuum(store,
                 ew_monotonic() + (load == WRITER_IDLE ? S_IDLE_BUDGET_S : S_IDLE_BUDGET_S / 5));
    }
    return 0;
}

int lifecycle_tick(void *ctx, store_t *store, int load)
{
    lifecycle_t *l = ctx;
    pthread_mutex_lock(&l->tick_lock);
    pthread_mutex_lock(&l->lock);
    int closed = l->closed;
    pthread_mutex_unlock(&l->lock);
    int more = closed ? 0 : s_tick(l, store, load);
    pthread_mutex_unlock(&l->tick_lock);
    return more;
}
