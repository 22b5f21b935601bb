/* summary_build.c: the build's tick policy (summary_build.h). */
#include "summary_build.h"

#include "log.h"
#include "writer.h"

#define S_IDLE_S 0.05    /* build work per tick when idle */
#define S_BUSY_EVERY 1.0 /* while batches arrive: one piece a second */

int summary_build_tick(summary_build_t *b, summary_build_fn fn, void *ctx, const char *label,
                       int load)
{
    double now = ew_monotonic();
    if (load != WRITER_IDLE && now - b->last < S_BUSY_EVERY)
        return 0;
    double until = now + S_IDLE_S;
    for (;;) {
        double t0 = ew_monotonic();
        if (b->points == 0 && b->series == 0) {
            b->began = t0;
            b->longest = 0;
        }
        char why[512] = "";
        int finished = 0;
        long n = fn(ctx, SUMMARY_BUILD_POINTS, &finished, why, sizeof why);
        b->last = ew_monotonic();
        if (n > 0 && b->last - t0 > b->longest)
            b->longest = b->last - t0;
        b->series += finished;
        if (n < 0) { /* a database down fails every piece: said once in 100 */
            if (b->failing++ % 100 == 0)
                log_error("cannot build the summaries of %s: %s (retried)", label, why);
            return 0;
        }
        b->failing = 0;
        if (n == 0) {
            if (b->series)
                log_info("summaries built for %ld series (%lld points) in %.1f s; longest "
                         "transaction %.1f ms",
                         b->series, (long long)b->points, b->last - b->began, b->longest * 1e3);
            b->series = 0;
            b->points = 0;
            return 0;
        }
        b->points += n;
        if (load != WRITER_IDLE || b->last >= until)
            return load == WRITER_IDLE;
    }
}
