/* test_fault_client.c: the client library's failure paths, walked with the
 * fault points of daemon/fault.h: every allocation of erwatch_new and
 * erwatch_push made to fail in turn (EW_FAULT_ALLOC), and each frame's send
 * (EW_FAULT_SEND). The library must never abort: it returns an error, counts
 * the batch as dropped, keeps working, and a receiver sees only whole
 * batches, exactly those whose push returned 0 (under make asan: no leak). */
#include "erwatch.h"
#include "fault.h"
#include "test.h"

#include <errno.h>
#include <stdint.h>

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

/* The header's step, or -1. */
static long long s_step(const void *data, size_t size)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    long long step = -1;
    if (msgpack_unpack_next(&u, data, size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        msgpack_object_map *m = &u.data.via.map;
        for (uint32_t i = 0; i < m->size; i++)
            if (m->ptr[i].key.type == MSGPACK_OBJECT_STR && m->ptr[i].key.via.str.size == 4 &&
                memcmp(m->ptr[i].key.via.str.ptr, "step", 4) == 0 &&
                m->ptr[i].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                step = (long long)m->ptr[i].val.via.u64;
    }
    msgpack_unpacked_destroy(&u);
    return step;
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

int main(void)
{
    return test_main((test_case_t[]){
        T(new_returns_null_on_every_allocation_failure),
        T(push_out_of_memory_drops_the_batch_and_the_next_one_goes),
        T(push_send_failure_on_each_frame_sends_no_half_batch),
        {0},
    });
}
