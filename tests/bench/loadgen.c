/* loadgen.c: pushes batches to erwatchd as fast as it takes them, through
 * the C client library, for a fixed time; prints what it sent.
 *
 *   loadgen ENDPOINT N D VIEWS SECONDS [RUN]
 *
 * A push that returns -EAGAIN (daemon busy) is retried after 100 us, so
 * the rate measured is the daemon's sustained intake, not the client's. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "erwatch.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: loadgen ENDPOINT N D VIEWS SECONDS [RUN]\n");
        return 2;
    }
    const char *ep = argv[1];
    uint32_t n = (uint32_t)atoi(argv[2]), d = (uint32_t)atoi(argv[3]);
    int views = atoi(argv[4]);
    double seconds = atof(argv[5]);
    const char *run = argc > 6 ? argv[6] : "loadgen";
    float *x = malloc(sizeof(float) * n * d), *y = malloc(sizeof(float) * n * d);
    if (!x || !y)
        return 1;
    srand(1);
    for (size_t i = 0; i < (size_t)n * d; i++) {
        x[i] = (float)rand() / RAND_MAX - 0.5f;
        y[i] = x[i] + 0.1f * ((float)rand() / RAND_MAX - 0.5f);
    }
    erwatch_t *c = erwatch_new(ep, 16);
    if (!c || erwatch_wait_connected(c, 5000) != 0) {
        fprintf(stderr, "loadgen: cannot connect to %s\n", ep);
        return 1;
    }
    erwatch_batch_t b = {.run = run,
                         .tag = "projector",
                         .dtype = ERWATCH_F32,
                         .n = n,
                         .d = d,
                         .x = x,
                         .y = views == 2 ? y : NULL};
    uint64_t sent = 0, busy = 0;
    double t0 = s_now(), end = t0 + seconds;
    while (s_now() < end) {
        b.step = sent;
        int rc = erwatch_push(c, &b);
        if (rc == 0) {
            sent++;
        } else if (rc == -EAGAIN) {
            busy++;
            usleep(100);
        } else {
            fprintf(stderr, "loadgen: %s\n", erwatch_strerror(rc));
            return 1;
        }
    }
    double dt = s_now() - t0;
    erwatch_flush(c, 10000);
    erwatch_destroy(&c);
    printf("sent=%llu seconds=%.3f rate=%.1f busy_retries=%llu\n", (unsigned long long)sent, dt,
           (double)sent / dt, (unsigned long long)busy);
    free(x);
    free(y);
    return 0;
}
