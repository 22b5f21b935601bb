/* prom.h: Prometheus's text exposition format (version 0.0.4), written into
 * a strbuf. Pure: no I/O, no globals; http_prom.c builds GET /metrics with it.
 *
 * A family is announced once with prom_family() (# HELP and # TYPE lines),
 * then its samples follow with prom_sample(). Label values are escaped as
 * the format requires (backslash, double quote, line feed); values are
 * written in shortest round-trip form, with NaN, +Inf and -Inf spelled as
 * Prometheus reads them.
 */
#ifndef ERWATCH_PROM_H
#define ERWATCH_PROM_H

#include <stddef.h>

#include "strbuf.h"

/* "# HELP name help\n# TYPE name type\n"; type is counter, gauge or
 * histogram. help must not hold a line feed. */
void prom_family(strbuf_t *b, const char *name, const char *type, const char *help);

/* One sample line: name{k0="v0",k1="v1"} value\n. keys and vals hold
 * nlabels strings each (nlabels may be 0, and then they may be NULL). */
void prom_sample(strbuf_t *b, const char *name, const char *const *keys, const char *const *vals,
                 size_t nlabels, double value);

/* The same with an integer value (counters past 2^53 stay exact). */
void prom_sample_u64(strbuf_t *b, const char *name, const char *const *keys,
                     const char *const *vals, size_t nlabels, unsigned long long value);

/* A label value as the format escapes it, without the quotes. */
void prom_label_value(strbuf_t *b, const char *v);

#endif
