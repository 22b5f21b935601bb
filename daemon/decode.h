/* decode.h: turns one ZeroMQ multipart message (schema/protocol.md) into a
 * validated batch_t. Pure: no I/O, no globals, no threads; the fuzz target
 * (tests/fuzz/fuzz_decode.c) calls it on arbitrary bytes.
 *
 * Any malformed input gives a rejection reason and a message a user can act
 * on ("step 12: tensor frame 2 is 4096 bytes, header says 8192"); it never
 * crashes and never reads outside the frames it is given.
 */
#ifndef ERWATCH_DECODE_H
#define ERWATCH_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

typedef enum {
    EW_REJ_FRAMES = 0,
    EW_REJ_MSGPACK,
    EW_REJ_MISSING_KEY,
    EW_REJ_BAD_TYPE,
    EW_REJ_VERSION,
    EW_REJ_BAD_NAME,
    EW_REJ_DTYPE,
    EW_REJ_SHAPE,
    EW_REJ_BAD_VALUE,
    EW_REJ_FRAME_SIZE,
    EW_REJ_NONFINITE,
    EW_REJ_BAD_LAUNCH,
    EW_REJ_BAD_CONFIG,
    /* given by the pool (pool.h), after decoding */
    EW_REJ_POOL_LATE,
#define EW_REJ_DECODE_COUNT EW_REJ_POOL_LATE /* the reasons the decoder gives */
    EW_REJ_POOL_DUPLICATE,
    EW_REJ_POOL_MISMATCH,
    EW_REJ_POOL_TOO_LARGE,
    /* Not a decode rejection: the writer counts here the batches of a launch
     * that asked to resume a run that does not exist (store.h). */
    EW_REJ_RESUME_UNKNOWN,
    EW_REJ_COUNT
} ew_reject_t;

/* Checks a run, tag or scalar name against protocol.md's rule (1..128
 * bytes of UTF-8, no control character). Returns 0, or -1 with why (OUT)
 * saying what is wrong ("is empty", "has control character 0x0a at byte 3"). */
int decode_name_problem(const char *name, size_t len, char *why, size_t whysz);

/* The protocol.md name of a reason ("frame_size", ...). */
const char *decode_reason_name(ew_reject_t r);

typedef struct {
    const void *data;
    size_t size;
} decode_frame_t;

typedef struct {
    ew_reject_t reason;
    char run[EW_NAME_MAX + 1]; /* "" when the run was not decoded yet */
    int has_step;
    uint64_t step;
    char msg[256]; /* human-readable, without run/step prefix */
} decode_error_t;

/* Decodes and validates the msgpack header alone. Returns 0, or -1 with
 * *err filled (err->run/step as far as they were read). */
int decode_header(const void *buf, size_t len, ew_header_t *h, decode_error_t *err);

/* Decodes a whole message: header, frame count and sizes, tensor conversion
 * to float32, NaN/Inf check. On success returns 0 and *out owns a new batch
 * (recv_time set from the argument); on failure returns -1, *out is NULL,
 * *err filled. Out of memory aborts (the daemon's policy, STYLE.md). */
int decode_message(const decode_frame_t *frames, size_t nframes, double recv_time, batch_t **out,
                   decode_error_t *err);

#endif
