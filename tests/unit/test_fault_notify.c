/* test_fault_notify.c: the notification queue's full and failed paths
 * (daemon/notify.c), reached with the fault points of daemon/fault.h
 * instead of a hung or dead receiver: a full queue drops the new
 * notification and counts it; a failed webhook POST is retried with backoff
 * and delivered once; retries that run out, an exec hook that fails (never
 * retried) and a target still failing at shutdown count the notification
 * as dropped. Every posted notification ends up sent or dropped, each
 * counted once. The receiver is libmicrohttpd on 127.0.0.1, ephemeral port. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "fault.h"
#include "log.h"
#include "notify.h"
#include "stats.h"
#include "test.h"

/* ---------------------------------------------------------------- receiver */

typedef struct {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t lock;
    char bodies[16][2048];
    int n;
} s_rx_t;

typedef struct {
    char buf[2048];
    size_t len;
} s_upload_t;

static enum MHD_Result s_on_req(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *data,
                                size_t *size, void **ctx)
{
    (void)url, (void)method, (void)version;
    s_rx_t *rx = cls;
    s_upload_t *u = *ctx;
    if (!u) {
        *ctx = calloc(1, sizeof *u);
        return *ctx ? MHD_YES : MHD_NO;
    }
    if (*size) {
        size_t k = *size < sizeof u->buf - 1 - u->len ? *size : sizeof u->buf - 1 - u->len;
        memcpy(u->buf + u->len, data, k);
        u->len += k;
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rx->lock);
    if (rx->n < 16)
        memcpy(rx->bodies[rx->n++], u->buf, u->len + 1);
    pthread_mutex_unlock(&rx->lock);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void s_on_done(void *cls, struct MHD_Connection *c, void **ctx,
                      enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)c, (void)why;
    free(*ctx);
    *ctx = NULL;
}

static int s_rx_start(s_rx_t *rx)
{
    memset(rx, 0, sizeof *rx);
    pthread_mutex_init(&rx->lock, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rx->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, s_on_req, rx,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_NOTIFY_COMPLETED, s_on_done, NULL, MHD_OPTION_END);
    if (!rx->d)
        return -1;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(rx->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(rx->url, sizeof rx->url, "http://127.0.0.1:%u/hook", i ? i->port : 0);
    return 0;
}

static int s_rx_count(s_rx_t *rx)
{
    pthread_mutex_lock(&rx->lock);
    int n = rx->n;
    pthread_mutex_unlock(&rx->lock);
    return n;
}

static void s_rx_stop(s_rx_t *rx)
{
    MHD_stop_daemon(rx->d);
    pthread_mutex_destroy(&rx->lock);
}

/* ---------------------------------------------------------------- helpers */

static alert_t s_alert(const char *run)
{
    alert_t a = {.id = 1, .state = ALERT_FIRING, .value = 0.5};
    snprintf(a.alertname, sizeof a.alertname, "Collapse");
    snprintf(a.run, sizeof a.run, "%s", run);
    snprintf(a.tag, sizeof a.tag, "proj");
    snprintf(a.metric, sizeof a.metric, "er_entropy");
    snprintf(a.severity, sizeof a.severity, "critical");
    a.first_step = a.fired_step = a.last_step = 3;
    a.resolved_step = -1;
    a.first_time = a.fired_time = a.last_time = 1.7e9;
    a.resolved_time = NAN;
    return a;
}

/* Waits (at most 20 s) until sent + dropped reaches n. */
static void s_wait_settled(stats_t *st, uint64_t n)
{
    for (int i = 0; i < 2000; i++) {
        if (stats_get(&st->notify_sent) + stats_get(&st->notify_dropped) >= n)
            return;
        usleep(10 * 1000);
    }
}

static notify_t *s_webhook(const char *url, stats_t *st, double retry_s)
{
    notify_config_t cfg = {.nwebhooks = 1,
                           .external_url = "http://127.0.0.1:1",
                           .resend_s = 60,
                           .timeout_ms = 2000,
                           .retry_s = retry_s,
                           .queue_max = 4,
                           .stats = st};
    cfg.webhooks[0] = url;
    char err[256];
    notify_t *n = notify_start(&cfg, err, sizeof err);
    if (!n)
        fprintf(stderr, "  notify_start: %s\n", err);
    return n;
}

/* ---------------------------------------------------------------- tests */

/* The 2nd of three posts finds the queue full: it is dropped and counted,
 * the other two are delivered, in order. */
TEST(full_queue_drops_the_new_notification_and_counts_it)
{
    s_rx_t rx;
    ASSERT_EQ(s_rx_start(&rx), 0);
    stats_t st;
    stats_init(&st, 0);
    notify_t *n = s_webhook(rx.url, &st, 60);
    ASSERT_NOT_NULL(n);
    ew_fault_arm(EW_FAULT_NOTIFY_FULL, 2, 1);
    alert_t a1 = s_alert("first"), a2 = s_alert("second"), a3 = s_alert("third");
    notify_post(n, &a1, 0);
    notify_post(n, &a2, 0);
    notify_post(n, &a3, 0);
    long fired = ew_fault_fired(EW_FAULT_NOTIFY_FULL);
    ew_fault_reset();
    s_wait_settled(&st, 3);
    notify_stop(&n);
    int got = s_rx_count(&rx);
    s_rx_stop(&rx);
    ASSERT_EQ(fired, 1);
    ASSERT_EQ(stats_get(&st.notify_dropped), 1);
    ASSERT_EQ(stats_get(&st.notify_sent), 2);
    ASSERT_EQ(stats_get(&st.notify_errors), 0);
    ASSERT_EQ(got, 2);
    ASSERT_HAS(rx.bodies[0], "\"run\":\"first\"");
    ASSERT_HAS(rx.bodies[1], "\"run\":\"third\"");
}

/* Two failed POSTs, then the third attempt (after 0.5 s and 1 s of backoff)
 * gets through: delivered once, two errors, nothing dropped. */
TEST(failed_post_is_retried_and_delivered_once)
{
    s_rx_t rx;
    ASSERT_EQ(s_rx_start(&rx), 0);
    stats_t st;
    stats_init(&st, 0);
    notify_t *n = s_webhook(rx.url, &st, 60);
    ASSERT_NOT_NULL(n);
    ew_fault_arm(EW_FAULT_NOTIFY_SEND, 1, 2);
    alert_t a = s_alert("retried");
    notify_post(n, &a, 0);
    s_wait_settled(&st, 1);
    long fired = ew_fault_fired(EW_FAULT_NOTIFY_SEND);
    ew_fault_reset();
    notify_stop(&n);
    int got = s_rx_count(&rx);
    s_rx_stop(&rx);
    ASSERT_EQ(fired, 2);
    ASSERT_EQ(stats_get(&st.notify_errors), 2);
    ASSERT_EQ(stats_get(&st.notify_sent), 1);
    ASSERT_EQ(stats_get(&st.notify_dropped), 0);
    ASSERT_EQ(got, 1);
    ASSERT_HAS(rx.bodies[0], "\"run\":\"retried\"");
}

/* Every attempt fails for longer than retry_s: the notification is given
 * up and counted dropped; the next one (the target working again) goes. */
TEST(retries_running_out_drop_the_notification)
{
    s_rx_t rx;
    ASSERT_EQ(s_rx_start(&rx), 0);
    stats_t st;
    stats_init(&st, 0);
    notify_t *n = s_webhook(rx.url, &st, 1.0);
    ASSERT_NOT_NULL(n);
    ew_fault_arm(EW_FAULT_NOTIFY_SEND, 1, -1);
    alert_t a = s_alert("lost"), b = s_alert("after");
    notify_post(n, &a, 0);
    s_wait_settled(&st, 1);
    long fired = ew_fault_fired(EW_FAULT_NOTIFY_SEND);
    ew_fault_reset();
    notify_post(n, &b, 0);
    s_wait_settled(&st, 2);
    notify_stop(&n);
    int got = s_rx_count(&rx);
    s_rx_stop(&rx);
    ASSERT_GE(fired, 2); /* 0.5 s of backoff fits in 1 s, 1.5 s does not */
    ASSERT_EQ(stats_get(&st.notify_errors), fired);
    ASSERT_EQ(stats_get(&st.notify_dropped), 1);
    ASSERT_EQ(stats_get(&st.notify_sent), 1);
    ASSERT_EQ(got, 1);
    ASSERT_HAS(rx.bodies[0], "\"run\":\"after\"");
}

/* An exec hook that fails is not run again (a hook that stops a job must
 * not run twice): one error, one drop; the next alert runs it. */
TEST(failed_exec_hook_is_not_retried)
{
    char dir[] = "/tmp/ew-fault-notify-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char cmd[256], out[128];
    snprintf(out, sizeof out, "%s/ran", dir);
    snprintf(cmd, sizeof cmd, "echo \"$ERWATCH_RUN\" >> %s", out);
    stats_t st;
    stats_init(&st, 0);
    notify_config_t cfg = {.exec_cmd = cmd,
                           .resend_s = 60,
                           .timeout_ms = 5000,
                           .retry_s = 60,
                           .queue_max = 4,
                           .stats = &st};
    char err[256];
    notify_t *n = notify_start(&cfg, err, sizeof err);
    ASSERT_NOT_NULL(n);
    ew_fault_arm(EW_FAULT_NOTIFY_SEND, 1, 1);
    alert_t a = s_alert("hookfail"), b = s_alert("hookok");
    notify_post(n, &a, 0);
    s_wait_settled(&st, 1);
    ew_fault_reset();
    notify_post(n, &b, 0);
    s_wait_settled(&st, 2);
    notify_stop(&n);
    char text[256] = "";
    FILE *f = fopen(out, "r");
    if (f) {
        size_t k = fread(text, 1, sizeof text - 1, f);
        text[k] = '\0';
        fclose(f);
    }
    unlink(out);
    rmdir(dir);
    ASSERT_EQ(stats_get(&st.notify_errors), 1);
    ASSERT_EQ(stats_get(&st.notify_dropped), 1);
    ASSERT_EQ(stats_get(&st.notify_sent), 1);
    ASSERT_STREQ(text, "hookok\n");
}

/* A webhook and an Alertmanager target both failing when the daemon stops:
 * notify_stop returns within about timeout_ms, and every notification
 * posted is counted dropped (none sent, none forgotten). */
TEST(targets_failing_at_shutdown_count_every_notification_dropped)
{
    stats_t st;
    stats_init(&st, 0);
    notify_config_t cfg = {.nwebhooks = 1,
                           .nalertmanagers = 1,
                           .external_url = "http://127.0.0.1:1",
                           .resend_s = 60,
                           .timeout_ms = 500,
                           .retry_s = 60,
                           .queue_max = 8,
                           .stats = &st};
    cfg.webhooks[0] = "http://127.0.0.1:1/never";
    cfg.alertmanagers[0] = "http://127.0.0.1:1";
    char err[256];
    notify_t *n = notify_start(&cfg, err, sizeof err);
    ASSERT_NOT_NULL(n);
    ew_fault_arm(EW_FAULT_NOTIFY_SEND, 1, -1);
    alert_t a[3] = {s_alert("s1"), s_alert("s2"), s_alert("s3")};
    for (int i = 0; i < 3; i++)
        notify_post(n, &a[i], 0);
    double t0 = ew_monotonic();
    notify_stop(&n);
    double took = ew_monotonic() - t0;
    ew_fault_reset();
    ASSERT_LT(took, 5.0);
    ASSERT_EQ(stats_get(&st.notify_sent), 0);
    ASSERT_EQ(stats_get(&st.notify_dropped), 6); /* 3 per target */
    ASSERT_GE(stats_get(&st.notify_errors), 2);
}

/* Alertmanager: a failed POST is retried (the whole active set, after the
 * backoff) and the alert counts as sent once it is delivered. */
TEST(alertmanager_failed_post_is_retried_and_counted_sent)
{
    s_rx_t rx;
    ASSERT_EQ(s_rx_start(&rx), 0);
    stats_t st;
    stats_init(&st, 0);
    char base[64];
    snprintf(base, sizeof base, "%.*s", (int)(strlen(rx.url) - strlen("/hook")), rx.url);
    notify_config_t cfg = {.nalertmanagers = 1,
                           .external_url = "http://127.0.0.1:1",
                           .resend_s = 60,
                           .timeout_ms = 2000,
                           .retry_s = 60,
                           .queue_max = 4,
                           .stats = &st};
    cfg.alertmanagers[0] = base;
    char err[256];
    notify_t *n = notify_start(&cfg, err, sizeof err);
    ASSERT_NOT_NULL(n);
    ew_fault_arm(EW_FAULT_NOTIFY_SEND, 1, 1);
    alert_t a = s_alert("am");
    notify_post(n, &a, 0);
    s_wait_settled(&st, 1);
    long fired = ew_fault_fired(EW_FAULT_NOTIFY_SEND);
    ew_fault_reset();
    notify_stop(&n);
    int got = s_rx_count(&rx);
    s_rx_stop(&rx);
    ASSERT_EQ(fired, 1);
    ASSERT_EQ(stats_get(&st.notify_errors), 1);
    ASSERT_EQ(stats_get(&st.notify_sent), 1);
    ASSERT_EQ(stats_get(&st.notify_dropped), 0);
    ASSERT_EQ(got, 1);
    ASSERT_HAS(rx.bodies[0], "\"run\":\"am\"");
}

int main(void)
{
    /* As erwatchd does (erwatchd.c): an exec hook that exits before reading
     * its stdin must give the notifier EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    return test_main((test_case_t[]){
        T(full_queue_drops_the_new_notification_and_counts_it),
        T(failed_post_is_retried_and_delivered_once),
        T(retries_running_out_drop_the_notification),
        T(failed_exec_hook_is_not_retried),
        T(targets_failing_at_shutdown_count_every_notification_dropped),
        T(alertmanager_failed_post_is_retried_and_counted_sent),
        {0},
    });
}
