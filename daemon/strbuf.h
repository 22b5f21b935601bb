/* strbuf.h: a growable byte buffer for building JSON, CSV and log lines.
 * Out of memory aborts (daemon policy). The buffer is always NUL-terminated.
 */
#ifndef ERWATCH_STRBUF_H
#define ERWATCH_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data; /* owned; NUL-terminated */
    size_t len;
    size_t cap;
} strbuf_t;

void strbuf_init(strbuf_t *b);
void strbuf_free(strbuf_t *b);
void strbuf_reset(strbuf_t *b);  /* len = 0, keeps memory */
char *strbuf_steal(strbuf_t *b); /* caller frees; b reset */
void strbuf_append(strbuf_t *b, const void *p, size_t n);
void strbuf_puts(strbuf_t *b, const char *s);
void strbuf_putc(strbuf_t *b, char c);
__attribute__((format(printf, 2, 3))) void strbuf_printf(strbuf_t *b, const char *fmt, ...);
/* A JSON string literal, quotes included, with all required escapes. */
void strbuf_json_str(strbuf_t *b, const char *s);
/* A JSON number in shortest round-trip form (the fewest of 15, 16 or 17
 * significant digits that read back to v), or null for NaN/Inf (JSON has no
 * such numbers). */
void strbuf_json_num(strbuf_t *b, double v);
/* Appends "[v1,v2,...]" from k little-endian float32s at v (a spectrum's
 * stored blob): 7 significant digits, all a float has; null for NaN/Inf. */
void strbuf_json_f32le(strbuf_t *b, const unsigned char *v, int k);

/* The same text into out (STRBUF_NUM_LEN bytes), without printf on the
 * common path (a series answer formats thousands of numbers). Returns its
 * length. Thread-safe. */
#define STRBUF_NUM_LEN 32
int strbuf_format_double(char *out, double v);
/* The same text by the portable path alone (snprintf and strtod), which
 * strbuf_format_double takes for every number where long double has fewer
 * than 64 mantissa bits (LDBL_MANT_DIG); here so tests can compare the two
 * on any machine. */
int strbuf__format_double_portable(char *out, double v);
/* A CSV text field (RFC 4180): quoted when it holds , " CR or LF; one that
 * starts with = + - @ TAB or CR gets a leading apostrophe (a spreadsheet
 * would run it as a formula). */
void strbuf_csv_str(strbuf_t *b, const char *s);

#endif
