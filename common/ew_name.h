/* ew_name.h: the protocol's name rule (schema/protocol.md) for run, tag,
 * scalar and metric names: 1 to EW_NAME_MAX bytes of well-formed UTF-8,
 * no control character (a byte < 0x20 or 0x7f). One check for the daemon's
 * decoder, the client library and the CLI; each words its own message.
 * Header-only, like ew_utf8.h, for the same reasons.
 */
#ifndef ERWATCH_EW_NAME_H
#define ERWATCH_EW_NAME_H

#include <stddef.h>

#include "ew_protocol.h"
#include "ew_utf8.h"

typedef enum {
    EW_NAME_OK = 0,
    EW_NAME_EMPTY,
    EW_NAME_TOO_LONG, /* more than EW_NAME_MAX bytes */
    EW_NAME_CONTROL,  /* a byte < 0x20 or 0x7f, at *at */
    EW_NAME_BAD_UTF8  /* not well-formed UTF-8 from *at on */
} ew_name_rc_t;

/* Checks the n bytes at s. *at (OUT, may be NULL) gets the offending
 * byte's offset for EW_NAME_CONTROL and EW_NAME_BAD_UTF8. */
static inline ew_name_rc_t ew_name_check(const char *s, size_t n, size_t *at)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0)
        return EW_NAME_EMPTY;
    if (n > EW_NAME_MAX)
        return EW_NAME_TOO_LONG;
    for (size_t i = 0; i < n;) {
        size_t k = ew_utf8_len(p + i, n - i);
        if (p[i] < 0x20 || p[i] == 0x7f || k == 0) {
            if (at)
                *at = i;
            return k == 0 ? EW_NAME_BAD_UTF8 : EW_NAME_CONTROL;
        }
        i += k;
    }
    return EW_NAME_OK;
}

#endif
