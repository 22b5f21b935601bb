/* fuzz_decode.c: libFuzzer target for daemon/decode.c.
 *
 * Input format (tests/fuzz/make_corpus.py writes it):
 *
 *   byte 0     mode: bits 0-1 = frame count - 1 (1..4 frames);
 *              bit 2 set = header-only: bytes 1.. go to decode_header()
 *              as they are, no framing
 *   then       every frame but the last: u16 little-endian length, then
 *              that many bytes (fewer if the input ends first);
 *              the last frame: all remaining bytes
 *
 * Each frame is copied into its own heap block of exactly its size, so
 * AddressSanitizer catches a read one byte past any frame (within the raw
 * input it would only read the next frame). Besides "does not crash", the
 * target checks what decode.h promises and aborts when a promise breaks: a
 * reason in range and a terminated message on failure, *out NULL on failure,
 * a batch consistent with its header and frames and holding only finite
 * values on success, and decode_message agreeing with decode_header on
 * frame 1.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_CHECK(c)                                                                                 \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void s_check_err(const decode_error_t *err)
{
    S_CHECK((unsigned)err->reason < EW_REJ_COUNT);
    S_CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL);
    S_CHECK(err->msg[0] != '\0');
    S_CHECK(memchr(err->run, '\0', sizeof err->run) != NULL);
    S_CHECK(strcmp(decode_reason_name(err->reason), "?") != 0);
}

static void s_check_header(const ew_header_t *h)
{
    S_CHECK(h->version == EW_PROTOCOL_VERSION);
    S_CHECK(strlen(h->run) >= 1 && strlen(h->run) <= EW_NAME_MAX);
    S_CHECK(strlen(h->tag) >= 1 && strlen(h->tag) <= EW_NAME_MAX);
    S_CHECK(h->step <= (uint64_t)INT64_MAX);
    S_CHECK(h->views >= 0 && h->views <= 2);
    if (h->views == 0) { /* scalar-only: no shape, at least one scalar */
        S_CHECK(h->n == 0 && h->d == 0 && h->nscalars >= 1);
    } else {
        S_CHECK(h->n >= 1 && h->n <= EW_N_MAX && h->d >= 1 && h->d <= EW_D_MAX);
        S_CHECK((uint64_t)h->n * h->d <= EW_ELEMS_MAX);
    }
    S_CHECK(isfinite(h->kappa) && h->kappa > 0 && h->kappa <= EW_KAPPA_MAX);
    S_CHECK((h->rank == -1 && h->world >= -1) || (h->rank >= 0 && h->rank < h->world));
    S_CHECK(h->world == -1 || (h->world >= 1 && h->world <= EW_WORLD_MAX));
    S_CHECK(isnan(h->time) || (isfinite(h->time) && h->time >= 0));
    S_CHECK(h->nscalars >= 0 && h->nscalars <= EW_SCALARS_MAX);
    for (int i = 0; i < h->nscalars; i++) {
        S_CHECK(strlen(h->scalars[i].name) >= 1);
        S_CHECK(isfinite(h->scalars[i].value));
    }
    size_t ll = strnlen(h->launch, sizeof h->launch);
    S_CHECK(ll <= EW_LAUNCH_MAX);
    for (size_t i = 0; i < ll; i++)
        S_CHECK(h->launch[i] > 0x20 && h->launch[i] < 0x7f);
    S_CHECK(h->resume == 0 || (h->resume == 1 && ll > 0));
    S_CHECK(h->config_len <= EW_CONFIG_MAX && h->notes_len <= EW_NOTES_MAX);
}

static void s_header_only(const uint8_t *data, size_t size)
{
    ew_header_t h;
    decode_error_t err;
    if (decode_header(data, size, &h, &err) == 0)
        s_check_header(&h);
    else
        s_check_err(&err);
}

static void s_check_batch(const batch_t *b, const decode_frame_t *frames, size_t nframes)
{
    const ew_header_t *h = &b->h;
    size_t count = (size_t)h->n * h->d;
    s_check_header(h);
    S_CHECK(nframes == 1 + (size_t)h->views);
    S_CHECK((b->view[0] != NULL) == (h->views >= 1));
    S_CHECK((b->view[1] != NULL) == (h->views == 2));
    S_CHECK(b->recv_time == 12345.5);
    S_CHECK(b->bytes ==
            sizeof *b + (size_t)h->views * count * sizeof(float) + h->config_len + h->notes_len);
    /* config and notes: copies of their bytes in the header frame */
    S_CHECK((b->config != NULL) == (h->config_len > 0));
    S_CHECK((b->notes != NULL) == (h->notes_len > 0));
    S_CHECK(!b->config ||
            (h->config_off + (size_t)h->config_len <= frames[0].size &&
             memcmp(b->config, (const char *)frames[0].data + h->config_off, h->config_len) == 0 &&
             b->config[h->config_len] == '\0'));
    S_CHECK(!b->notes ||
            (h->notes_off + (size_t)h->notes_len <= frames[0].size &&
             memcmp(b->notes, (const char *)frames[0].data + h->notes_off, h->notes_len) == 0 &&
             b->notes[h->notes_len] == '\0'));
    for (int v = 0; v < h->views; v++) {
        S_CHECK(frames[1 + v].size == count * ew_dtype_size(h->dtype));
        for (size_t i = 0; i < count; i++)
            S_CHECK(isfinite(b->view[v][i]));
    }
}

static void s_message(const uint8_t *data, size_t size, size_t nframes)
{
    decode_frame_t frames[4];
    void *blocks[4];
    size_t off = 0;

    for (size_t i = 0; i < nframes; i++) {
        size_t n = size - off;
        if (i + 1 < nframes) {
            size_t want = 0;
            if (size - off >= 2) {
                want = (size_t)data[off] | (size_t)data[off + 1] << 8;
                off += 2;
            } else {
                off = size;
            }
            n = want < size - off ? want : size - off;
        }
        blocks[i] = malloc(n ? n : 1);
        S_CHECK(blocks[i] != NULL);
        if (n)
            memcpy(blocks[i], data + off, n);
        frames[i].data = blocks[i];
        frames[i].size = n;
        off += n;
    }

    ew_header_t h;
    decode_error_t herr, merr;
    batch_t sentinel;
    batch_t *b = &sentinel; /* decode_message must set it to NULL on failure */
    int hrc = decode_header(frames[0].data, frames[0].size, &h, &herr);
    int mrc = decode_message(frames, nframes, 12345.5, &b, &merr);

    if (hrc == 0)
        s_check_header(&h);
    else
        s_check_err(&herr);
    if (mrc == 0) {
        S_CHECK(b != NULL);
        S_CHECK(hrc == 0);
        S_CHECK(strcmp(b->h.run, h.run) == 0 && b->h.step == h.step);
        S_CHECK(b->h.n == h.n && b->h.d == h.d && b->h.dtype == h.dtype);
        s_check_batch(b, frames, nframes);
        batch_destroy(&b);
        S_CHECK(b == NULL);
    } else {
        S_CHECK(mrc == -1 && b == NULL);
        s_check_err(&merr);
        if (hrc != 0 && merr.reason != EW_REJ_FRAMES) {
            /* a header rejection is the message's rejection */
            S_CHECK(merr.reason == herr.reason);
            S_CHECK(strcmp(merr.msg, herr.msg) == 0);
        }
        if (hrc == 0)
            S_CHECK(merr.reason == EW_REJ_FRAMES || merr.reason == EW_REJ_FRAME_SIZE ||
                    merr.reason == EW_REJ_NONFINITE);
        /* run and step come from the header whatever the reason */
        S_CHECK(strcmp(merr.run, herr.run) == 0);
        S_CHECK(merr.has_step == herr.has_step && merr.step == herr.step);
    }
    for (size_t i = 0; i < nframes; i++)
        free(blocks[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 4)
        s_header_only(data + 1, size - 1);
    else
        s_message(data + 1, size - 1, (size_t)(data[0] & 3) + 1);
    return 0;
}
