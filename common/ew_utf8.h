/* ew_utf8.h: the one UTF-8 validator of erwatch, for the daemon (decode.c's
 * name rule, strbuf.c's JSON strings) and the client library (erwatch.c's
 * name rule). Header-only (static inline): the client library stays
 * standalone and no symbol can clash between libewcore.a and liberwatch.a.
 */
#ifndef ERWATCH_EW_UTF8_H
#define ERWATCH_EW_UTF8_H

#include <stddef.h>

/* Length (1 to 4) of the well-formed UTF-8 sequence at p, of which avail
 * >= 1 bytes may be read, or 0 when the bytes there are not one: overlong
 * forms, UTF-16 surrogates and code points above U+10FFFF are invalid, as
 * RFC 3629 says. An ASCII byte (control characters included) is 1. */
static inline size_t ew_utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (avail < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

#endif
