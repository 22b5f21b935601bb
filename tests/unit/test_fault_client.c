/* test_fault_client.c: the client library's failure paths, walked with the
 * fault points of daemon/fault.h: every allocation of erwatch_new,
 * erwatch_push, erwatch_set_meta, the reply channel (erwatch_alerts), the
 * run-name lookup (erwatch_run_name) and the CURVE key files (through
 * erwatch_new_opts and erwatch_key_list_read) made to fail in turn
 * (EW_FAULT_ALLOC: the library's allocator, client/erwatch_alloc.h), and each
 * frame's send (EW_FAULT_SEND). The library must never abort: it returns an
 * error, counts the batch as dropped, keeps working, and a receiver sees
 * only whole batches, exactly those whose push returned 0 (under make asan:
 * no leak). The HTTP calls ask a stub server (tests/lib/http_stub.h). */
#include "erwatch.h"
#include "fault.h"
#include "lib/http_stub.h"
#include "test.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

typedef struct {
    void *ctx, *pull;
    char endpoint[256];
} s_rx_t;

static int s_rx_start(s_rx_t *d)
{
    d->ctx = zmq_ctx_new();
    d->pull = zmq_socket(d->ctx, ZMQ_PULL);
    int linger = 0, timeo = 300;
    zmq_setsockopt(d->pull, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d->pull, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
    size_t len = sizeof d->endpoint;
    if (zmq_bind(d->pull, "tcp://127.0.0.1:*") != 0)
        return -1;
    return zmq_getsockopt(d->pull, ZMQ_LAST_ENDPOINT, d->endpoint, &len);
}

static void s_rx_stop(s_rx_t *d)
{
    zmq_close(d->pull);
    zmq_ctx_term(d->ctx);
}

/* The header's step, or -1. With str set, copies the string value of key
 * str into out instead ("" when absent) and returns 0. */
static long long s_header(const void *data, size_t size, const char *str, char *out, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    long long step = -1;
    const char *key = str ? str : "step";
    if (out && len)
        out[0] = '\0';
    if (msgpack_unpack_next(&u, data, size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        msgpack_object_map *m = &u.data.via.map;
        for (uint32_t i = 0; i < m->size; i++) {
            msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
            if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != strlen(key) ||
                memcmp(k->via.str.ptr, key, strlen(key)) != 0)
                continue;
            if (!str && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                step = (long long)v->via.u64;
            else if (str && v->type == MSGPACK_OBJECT_STR)
                snprintf(out, len, "%.*s", (int)v->via.str.size, v->via.str.ptr);
        }
    }
    msgpack_unpacked_destroy(&u);
    return str ? 0 : step;
}

static long long s_step(const void *data, size_t size)
{
    return s_header(data, size, NULL, NULL, 0);
}

/* Receives every message until 300 ms of silence. Sets bit `step` of *steps
 * for each whole batch (header + two frames of tensor bytes); counts any
 * other message in *bad. Returns the number of whole batches. */
static int s_rx_drain(s_rx_t *d, size_t tensor, uint64_t *steps, int *bad)
{
    int whole = 0;
    for (;;) {
        zmq_msg_t f[4];
        int nf = 0, more = 1;
        while (more && nf < 4) {
            zmq_msg_init(&f[nf]);
            if (zmq_msg_recv(&f[nf], d->pull, 0) < 0) {
                zmq_msg_close(&f[nf]);
                for (int i = 0; i < nf; i++)
                    zmq_msg_close(&f[i]);
                if (nf)
                    (*bad)++;
                return whole;
            }
            more = zmq_msg_more(&f[nf]);
            nf++;
        }
        long long step = s_step(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]));
        if (nf == 3 && !more && step >= 0 && step < 64 && zmq_msg_size(&f[1]) == tensor &&
            zmq_msg_size(&f[2]) == tensor) {
            *steps |= UINT64_C(1) << step;
            whole++;
        } else {
            (*bad)++;
        }
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&f[i]);
    }
}

static float s_x[32 * 8], s_y[32 * 8];

static erwatch_batch_t s_batch(uint64_t step)
{
    return (erwatch_batch_t){.run = "fault-run",
                             .tag = "proj",
                             .step = step,
                             .dtype = ERWATCH_F32,
                             .n = 32,
                             .d = 8,
                             .x = s_x,
                             .y = s_y,
                             .world = 0};
}

/* erwatch_new with its kth allocation failing, for every k: NULL, never an
 * abort, nothing leaked; the first k that does not fire gives a client. */
TEST(new_returns_null_on_every_allocation_failure)
{
    long k = 1;
    for (;; k++) {
        ew_fault_arm(EW_FAULT_ALLOC, k, 1);
        erwatch_options_t o = {.endpoint = "tcp://127.0.0.1:1", .connect_timeout_ms = -1};
        erwatch_t *c = erwatch_new_opts(&o);
        long fired = ew_fault_fired(EW_FAULT_ALLOC);
        ew_fault_reset();
        if (!fired) {
            ASSERT_NOT_NULL(c);
            erwatch_destroy(&c);
            break;
        }
        ASSERT_NULL(c);
    }
    printf("# erwatch_new: %ld allocation(s) each failed once\n", k - 1);
    ASSERT_GE(k - 1, 2); /* the client, its endpoint */
}

/* A push whose kth allocation fails returns -ENOMEM and counts a drop; the
 * next push goes through; the receiver gets exactly the batches whose push
 * returned 0, each whole. Walked until a push allocates fewer than k times,
 * on a fresh client each time (the first push also grows the header
 * buffer). */
TEST(push_out_of_memory_drops_the_batch_and_the_next_one_goes)
{
    s_rx_t d;
    ASSERT_EQ(s_rx_start(&d), 0);
    long k = 1;
    int walked = 0;
    for (;; k++) {
        erwatch_options_t o = {.endpoint = d.endpoint, .connect_timeout_ms = 3000};
        erwatch_t *c = erwatch_new_opts(&o);
        ASSERT_NOT_NULL(c);
        ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
        erwatch_batch_t b0 = s_batch(2 * (uint64_t)k), b1 = s_batch(2 * (uint64_t)k + 1);
        ew_fault_arm(EW_FAULT_ALLOC, k, 1);
        int rc0 = erwatch_push(c, &b0);
        long fired = ew_fault_fired(EW_FAULT_ALLOC);
        ew_fault_reset();
        /* a failure after the header went out rebuilds the socket (a half
         * batch cannot be withdrawn otherwise): it connects anew */
        int conn = erwatch_wait_connected(c, 3000);
        int rc1 = erwatch_push(c, &b1);
        erwatch_stats_t st;
        erwatch_stats(c, &st);
        int flushed = erwatch_flush(c, 3000);
        erwatch_destroy(&c);
        uint64_t steps = 0;
        int bad = 0;
        int whole = s_rx_drain(&d, sizeof s_x, &steps, &bad);
        if (fired) {
            ASSERT_EQ(rc0, -ENOMEM);
            ASSERT_EQ(rc1, 0);
            ASSERT_EQ(st.dropped, 1);
            ASSERT_EQ(st.sent, 1);
            ASSERT_EQ(whole, 1);
            ASSERT_EQ(steps, UINT64_C(1) << (2 * k + 1));
        } else {
            ASSERT_EQ(rc0, 0);
            ASSERT_EQ(st.dropped, 0);
            ASSERT_EQ(whole, 2);
        }
        ASSERT_EQ(conn, 0);
        ASSERT_EQ(rc1, 0);
        ASSERT_EQ(flushed, 0);
        ASSERT_EQ(bad, 0);
        if (!fired)
            break;
        walked++;
        ASSERT_LT(k, 20); /* 2k+1 < 64: the steps fit the bit set */
    }
    s_rx_stop(&d);
    printf("# erwatch_push: %d allocation(s) each failed once\n", walked);
    ASSERT_GE(walked, 4); /* header buffer, header frame, x frame, y frame */
}

/* Frame k of a two-view batch refused by ZeroMQ (1: the header, then the
 * tensors): the push fails and counts a drop, no half batch ever reaches the
 * receiver, and the next push goes through. */
TEST(push_send_failure_on_each_frame_sends_no_half_batch)
{
    s_rx_t d;
    ASSERT_EQ(s_rx_start(&d), 0);
    erwatch_options_t o = {.endpoint = d.endpoint, .connect_timeout_ms = 3000};
    erwatch_t *c = erwatch_new_opts(&o);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
    uint64_t want = 0;
    int ok = 0;
    for (long k = 1; k <= 3; k++) {
        erwatch_batch_t b0 = s_batch(2 * (uint64_t)k), b1 = s_batch(2 * (uint64_t)k + 1);
        ew_fault_arm(EW_FAULT_SEND, k, 1);
        int rc0 = erwatch_push(c, &b0);
        long fired = ew_fault_fired(EW_FAULT_SEND);
        ew_fault_reset();
        ASSERT_EQ(fired, 1);
        ASSERT_EQ(rc0, -EAGAIN);
        if (k > 1) /* the socket was rebuilt: let it reconnect */
            ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
        ASSERT_EQ(erwatch_push(c, &b1), 0);
        want |= UINT64_C(1) << (2 * k + 1);
        ok++;
    }
    erwatch_stats_t st;
    erwatch_stats(c, &st);
    ASSERT_EQ(erwatch_flush(c, 3000), 0);
    erwatch_destroy(&c);
    uint64_t steps = 0;
    int bad = 0;
    int whole = s_rx_drain(&d, sizeof s_x, &steps, &bad);
    s_rx_stop(&d);
    ASSERT_EQ(st.dropped, 3);
    ASSERT_EQ(st.sent, ok);
    ASSERT_EQ(bad, 0);
    ASSERT_EQ(whole, ok);
    ASSERT_EQ(steps, want);
}

/* ------------------------------------------------------- erwatch_set_meta */

/* Receives one message (up to 300 ms) and copies its header's config and
 * notes. Returns the number of frames, 0 when none came. */
static int s_rx_meta(s_rx_t *d, char *config, size_t clen, char *notes, size_t nlen)
{
    int nf = 0, more = 1;
    config[0] = notes[0] = '\0';
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, d->pull, 0) < 0) {
            zmq_msg_close(&f);
            return nf;
        }
        if (nf == 0) {
            s_header(zmq_msg_data(&f), zmq_msg_size(&f), "config", config, clen);
            s_header(zmq_msg_data(&f), zmq_msg_size(&f), "notes", notes, nlen);
        }
        more = zmq_msg_more(&f);
        zmq_msg_close(&f);
        nf++;
    }
    return nf;
}

/* erwatch_set_meta with its kth allocation failing: -ENOMEM and nothing
 * changed (the next batch still carries the config and notes set before);
 * the first k that does not fire sets both. A fresh client each time: a
 * batch handed over ends the meta's life. */
TEST(set_meta_out_of_memory_keeps_the_previous_meta)
{
    static const char old_cfg[] = "{\"lr\":0.1}", new_cfg[] = "{\"lr\":0.2,\"bs\":256}";
    s_rx_t d;
    ASSERT_EQ(s_rx_start(&d), 0);
    long k = 1;
    for (;; k++) {
        erwatch_options_t o = {.endpoint = d.endpoint,
                               .connect_timeout_ms = 3000,
                               .config_json = old_cfg,
                               .notes = "old notes"};
        erwatch_t *c = erwatch_new_opts(&o);
        ASSERT_NOT_NULL(c);
        ASSERT_EQ(erwatch_wait_connected(c, 3000), 0);
        ew_fault_arm(EW_FAULT_ALLOC, k, 1);
        int rc = erwatch_set_meta(c, new_cfg, "new notes");
        long fired = ew_fault_fired(EW_FAULT_ALLOC);
        ew_fault_reset();
        erwatch_batch_t b = s_batch((uint64_t)k);
        int pushed = erwatch_push(c, &b);
        int flushed = erwatch_flush(c, 3000);
        erwatch_destroy(&c);
        char cfg[128], notes[64];
        int frames = s_rx_meta(&d, cfg, sizeof cfg, notes, sizeof notes);
        ASSERT_EQ(pushed, 0);
        ASSERT_EQ(flushed, 0);
        ASSERT_EQ(frames, 3);
        if (!fired) {
            ASSERT_EQ(rc, 0);
            ASSERT_STREQ(cfg, new_cfg);
            ASSERT_STREQ(notes, "new notes");
            break;
        }
        ASSERT_EQ(rc, -ENOMEM);
        ASSERT_STREQ(cfg, old_cfg);
        ASSERT_STREQ(notes, "old notes");
        ASSERT_LT(k, 20);
    }
    s_rx_stop(&d);
    printf("# erwatch_set_meta: %ld allocation(s) each failed once\n", k - 1);
    ASSERT_EQ(k - 1, 2); /* the config's copy, the notes' copy */
}

/* ------------------------------------------------ the HTTP calls (libcurl) */

/* An /api/alerts answer past the body sink's first 4096 bytes, so that its
 * growth is walked too. */
static char s_alerts_body[8192];
static int s_alerts_count;

static void s_make_alerts_body(void)
{
    size_t n = (size_t)snprintf(s_alerts_body, sizeof s_alerts_body, "{\"alerts\":[");
    int i = 0;
    while (n < 6000) {
        n += (size_t)snprintf(s_alerts_body + n, sizeof s_alerts_body - n,
                              "%s{\"rule\":\"collapse-%d\",\"tag\":\"proj\",\"metric\":\"er\","
                              "\"severity\":\"critical\",\"value\":0.125,\"fired_step\":%d,"
                              "\"summary\":\"effective rank fell below the collapsed level\"}",
                              i ? "," : "", i, 100 + i);
        i++;
    }
    snprintf(s_alerts_body + n, sizeof s_alerts_body - n, "],\"count\":%d}", i);
    s_alerts_count = i;
}

/* erwatch_alerts with its kth allocation failing: -ENOMEM and buf "", for
 * every k, until a call makes fewer than k: it returns the count and the
 * whole answer. */
TEST(alerts_out_of_memory_returns_enomem)
{
    s_make_alerts_body();
    http_stub_route_t routes[] = {{"/api/alerts", 200, s_alerts_body}, {NULL, 0, NULL}};
    http_stub_t *srv = http_stub_start(routes);
    ASSERT_NOT_NULL(srv);
    static char buf[16384];
    long k = 1;
    int rc = 0;
    for (;; k++) {
        memcpy(buf, "stale", 6);
        ew_fault_arm(EW_FAULT_ALLOC, k, 1);
        rc = erwatch_alerts(http_stub_url(srv), "fault-run", 3000, buf, sizeof buf);
        long fired = ew_fault_fired(EW_FAULT_ALLOC);
        ew_fault_reset();
        if (!fired)
            break;
        ASSERT_EQ(rc, -ENOMEM);
        ASSERT_STREQ(buf, "");
        ASSERT_LT(k, 20);
    }
    long requests = http_stub_requests(srv);
    http_stub_stop(&srv);
    ASSERT_EQ(rc, s_alerts_count);
    ASSERT_STREQ(buf, s_alerts_body);
    /* the URL's failure stops the call before it asks */
    ASSERT_EQ(requests, k - 1);
    printf("# erwatch_alerts: %ld allocation(s) each failed once\n", k - 1);
    ASSERT_GE(k - 1, 2); /* the URL, the body (grown once or more) */
}

/* erwatch_run_name with its kth allocation failing: -ENOMEM, buf "". */
TEST(run_name_out_of_memory_returns_enomem)
{
    http_stub_route_t routes[] = {{"/api/run", 200, "{\"run\":\"fault-run.2\"}"}, {NULL, 0, NULL}};
    http_stub_t *srv = http_stub_start(routes);
    ASSERT_NOT_NULL(srv);
    char buf[130];
    long k = 1;
    int rc = 0;
    for (;; k++) {
        memcpy(buf, "stale", 6);
        ew_fault_arm(EW_FAULT_ALLOC, k, 1);
        rc = erwatch_run_name(http_stub_url(srv), "launch-1", "fault-run", 3000, buf, sizeof buf);
        long fired = ew_fault_fired(EW_FAULT_ALLOC);
        ew_fault_reset();
        if (!fired)
            break;
        ASSERT_EQ(rc, -ENOMEM);
        ASSERT_STREQ(buf, "");
        ASSERT_LT(k, 20);
    }
    http_stub_stop(&srv);
    ASSERT_EQ(rc, 0);
    ASSERT_STREQ(buf, "fault-run.2");
    printf("# erwatch_run_name: %ld allocation(s) each failed once\n", k - 1);
    ASSERT_EQ(k - 1, 2); /* the URL, the body */
}

/* ------------------------------------------------------ CURVE key files */

/* Writes text to dir/name; path gets the file's path. */
static int s_write(const char *dir, const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int bad = fputs(text, f) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

/* A CURVE client (server_pub and client_key files, as `erwatch keygen`
 * writes them) with its kth allocation failing: NULL with "out of memory"
 * in errbuf, for every k; the first k that does not fire gives a client. */
TEST(new_with_curve_keys_returns_null_on_every_allocation_failure)
{
    char dir[] = "/tmp/ew-fault-keys-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char spub[41], ssec[41], cpub[41], csec[41], text[256], pubpath[128], keypath[128];
    ASSERT_EQ(zmq_curve_keypair(spub, ssec), 0);
    ASSERT_EQ(zmq_curve_keypair(cpub, csec), 0);
    snprintf(text, sizeof text, "# erwatch curve public key \"srv\"\n%s\n", spub);
    ASSERT_EQ(s_write(dir, "srv.pub", text, pubpath, sizeof pubpath), 0);
    snprintf(text, sizeof text,
             "# erwatch curve secret key \"cli\": keep it private (mode 0600)\n"
             "# its public half is cli.pub\n%s\n",
             csec);
    ASSERT_EQ(s_write(dir, "cli.key", text, keypath, sizeof keypath), 0);
    long k = 1;
    erwatch_t *c = NULL;
    char err[256];
    for (;; k++) {
        err[0] = '\0';
        erwatch_options_t o = {.endpoint = "tcp://127.0.0.1:1",
                               .connect_timeout_ms = -1,
                               .server_pub = pubpath,
                               .client_key = keypath,
                               .errbuf = err,
                               .errlen = sizeof err};
        ew_fault_arm(EW_FAULT_ALLOC, k, 1);
        c = erwatch_new_opts(&o);
        long fired = ew_fault_fired(EW_FAULT_ALLOC);
        ew_fault_reset();
        if (!fired)
            break;
        ASSERT_NULL(c);
        ASSERT_STREQ(err, "out of memory");
        ASSERT_LT(k, 20);
    }
    ASSERT_NOT_NULL(c);
    ASSERT_STREQ(err, "");
    erwatch_destroy(&c);
    unlink(pubpath);
    unlink(keypath);
    ASSERT_EQ(rmdir(dir), 0);
    printf("# erwatch_new_opts with CURVE keys: %ld allocation(s) each failed once\n", k - 1);
    ASSERT_GE(k - 1, 4); /* the client, the two key files' buffers, the endpoint */
}

/* erwatch_key_list_read of a list that outgrows its array twice: -ENOMEM,
 * no keys, "out of memory", for every k; then all the keys, in order. */
TEST(key_list_read_out_of_memory_returns_enomem)
{
    char dir[] = "/tmp/ew-fault-keys-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    enum { N = 40 }; /* the array starts at 16 keys and doubles */
    char want[N][41], sec[41];
    static char text[N * 64];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(zmq_curve_keypair(want[i], sec), 0);
        n += (size_t)snprintf(text + n, sizeof text - n, "# client %d\n%s client-%d\n", i, want[i],
                              i);
    }
    char path[128];
    ASSERT_EQ(s_write(dir, "clients.txt", text, path, sizeof path), 0);
    long k = 1;
    int rc = 0;
    char(*keys)[ERWATCH_KEY_Z85_LEN + 1] = NULL;
    size_t nkeys = 0;
    char err[256];
    for (;; k++) {
        err[0] = '\0';
        ew_fault_arm(EW_FAULT_ALLOC, k, 1);
        rc = erwatch_key_list_read(path, &keys, &nkeys, err, sizeof err);
        long fired = ew_fault_fired(EW_FAULT_ALLOC);
        ew_fault_reset();
        if (!fired)
            break;
        ASSERT_EQ(rc, -ENOMEM);
        ASSERT_NULL(keys);
        ASSERT_EQ(nkeys, 0);
        ASSERT_STREQ(err, "out of memory");
        ASSERT_LT(k, 20);
    }
    unlink(path);
    rmdir(dir);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(nkeys, N);
    for (int i = 0; i < N; i++)
        ASSERT_STREQ(keys[i], want[i]);
    free(keys);
    printf("# erwatch_key_list_read: %ld allocation(s) each failed once\n", k - 1);
    ASSERT_EQ(k - 1, 4); /* the file's buffer; the array at 16, 32, 64 keys */
}

int main(void)
{
    return test_main((test_case_t[]){
        T(new_returns_null_on_every_allocation_failure),
        T(push_out_of_memory_drops_the_batch_and_the_next_one_goes),
        T(push_send_failure_on_each_frame_sends_no_half_batch),
        T(set_meta_out_of_memory_keeps_the_previous_meta),
        T(alerts_out_of_memory_returns_enomem),
        T(run_name_out_of_memory_returns_enomem),
        T(new_with_curve_keys_returns_null_on_every_allocation_failure),
        T(key_list_read_out_of_memory_returns_enomem),
        {0},
    });
}
