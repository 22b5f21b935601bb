/* prom.c: Prometheus text exposition (see prom.h). */
#include "prom.h"

#include <math.h>
#include <stdio.h>

void prom_family(strbuf_t *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_label_value(strbuf_t *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            strbuf_puts(b, "\\\\");
        else if (*p == '"')
            strbuf_puts(b, "\\\"");
        else if (*p == '\n')
            strbuf_puts(b, "\\n");
        else
            strbuf_putc(b, *p);
    }
}

static void s_name_labels(strbuf_t *b, const char *name, const char *const *keys,
                          const char *const *vals, size_t nlabels)
{
    strbuf_puts(b, name);
    if (nlabels == 0)
        return;
    strbuf_putc(b, '{');
    for (size_t i = 0; i < nlabels; i++) {
        if (i)
            strbuf_putc(b, ',');
        strbuf_puts(b, keys[i]);
        strbuf_puts(b, "=\"");
        prom_label_value(b, vals[i]);
        strbuf_putc(b, '"');
    }
    strbuf_putc(b, '}');
}

void prom_sample(strbuf_t *b, const char *name, const char *const *keys, const char *const *vals,
                 size_t nlabels, double value)
{
    s_name_labels(b, name, keys, vals, nlabels);
    strbuf_putc(b, ' ');
    if (isnan(value)) {
        strbuf_puts(b, "NaN");
    } else if (isinf(value)) {
        strbuf_puts(b, value > 0 ? "+Inf" : "-Inf");
    } else {
        char num[STRBUF_NUM_LEN];
        strbuf_format_double(num, value);
        strbuf_puts(b, num);
    }
    strbuf_putc(b, '\n');
}

void prom_sample_u64(strbuf_t *b, const char *name, const char *const *keys,
                     const char *const *vals, size_t nlabels, unsigned long long value)
{
    s_name_labels(b, name, keys, vals, nlabels);
    strbuf_printf(b, " %llu\n", value);
}
