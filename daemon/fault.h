/* fault.h: fault injection points, the SQLite way (sqlite3_test_control's
 * FAULT_INSTALL): the code paths that handle a failed allocation, a failed
 * statement or a failed send are reached by tests on demand instead of by
 * filling a disk or starving the machine.
 *
 * The points are compiled into the libraries the binaries and the tests
 * link (libewcore.a and liberwatch.a/.so both carry this one module), so
 * tests exercise the code that ships. Off by default: a point costs one
 * relaxed atomic load and a branch not taken until a test arms one (nothing
 * outside the tests does). Building with -DEW_NO_FAULTS removes them.
 *
 * Arming: ew_fault_arm(p, nth, repeat) makes the nth hit of p from now fail
 * (1 = the next one), and the repeat - 1 hits after it too (repeat < 0: every
 * hit from the nth on). A test walks a path by arming nth = 1, 2, 3... until
 * an operation completes without the point firing: then every failure site
 * on that path has been taken once. Each point says below what "fails" means
 * where it sits. Thread-safe; the counts are process-wide.
 */
#ifndef ERWATCH_FAULT_H
#define ERWATCH_FAULT_H

#include <stdatomic.h>

typedef enum {
    EW_FAULT_ALLOC,        /* client (erwatch_alloc.c): an allocation returns NULL */
    EW_FAULT_SEND,         /* client: zmq_msg_send of one frame fails, EAGAIN */
    EW_FAULT_STORE_STMT,   /* store_sqlite.c: a write statement fails, SQLITE_IOERR */
    EW_FAULT_STORE_COMMIT, /* store_sqlite.c: a group's COMMIT fails, SQLITE_FULL */
    EW_FAULT_NOTIFY_FULL,  /* notify.c: a target's queue counts as full */
    EW_FAULT_NOTIFY_SEND,  /* notify.c: a delivery attempt fails, before any I/O */
    EW_FAULT_COUNT
} ew_fault_t;

#define EW_FAULT_HIDDEN __attribute__((visibility("hidden")))

/* nth <= 0 disarms p; repeat 0 counts as 1. Resets p's hit and fire counts. */
EW_FAULT_HIDDEN void ew_fault_arm(ew_fault_t p, long nth, long repeat);
/* Disarms every point. */
EW_FAULT_HIDDEN void ew_fault_reset(void);
/* Hits of p since it was armed (counted only while armed), and how many of
 * them failed. */
EW_FAULT_HIDDEN long ew_fault_hits(ew_fault_t p);
EW_FAULT_HIDDEN long ew_fault_fired(ew_fault_t p);

/* internal: set while any point is armed */
extern EW_FAULT_HIDDEN atomic_int ew_fault__armed;
/* Counts a hit of p; true when it must fail. Call it only when
 * ew_fault_any(): a caller with a condition of its own checks that between
 * the two, so hits it does not take are not counted. */
EW_FAULT_HIDDEN int ew_fault_hit(ew_fault_t p);

#ifdef EW_NO_FAULTS
#define ew_fault_any() 0
#else
#define ew_fault_any() atomic_load_explicit(&ew_fault__armed, memory_order_relaxed)
#endif
/* True when this hit of point p must fail. */
#define ew_fault(p) (ew_fault_any() && ew_fault_hit(p))

#endif
