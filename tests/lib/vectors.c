/* vectors.c: reader for tests/vectors (see vectors.h).
 *
 * An index file is read whole; each case keeps a private copy of its line,
 * cut in place into key and value strings, so lookups hand out pointers into
 * it. Matrices are decoded byte by byte from little-endian, so the reader is
 * right on any host.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"

struct vectors_case {
    char *line; /* owned, cut into the strings below */
    size_t nfields;
    char **key; /* owned array; strings point into line */
    char **val;
};

struct vectors {
    size_t n, cap;
    vectors_case_t *cases;
};

const char *vectors_dir(void)
{
    const char *env = getenv("EW_VECTORS");
    return env && *env ? env : "tests/vectors";
}

/* dir/file into buf, or file itself when absolute. */
static const char *s_path(char *buf, size_t cap, const char *file)
{
    if (file[0] == '/')
        snprintf(buf, cap, "%s", file);
    else
        snprintf(buf, cap, "%s/%s", vectors_dir(), file);
    return buf;
}

/* The whole file, NUL-terminated; *len gets its size. NULL on error. */
static char *s_slurp(const char *file, size_t *len)
{
    char path[4096];
    s_path(path, sizeof path, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "vectors: cannot open %s: %s (set EW_VECTORS?)\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *bigger = realloc(buf, 2 * cap + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        fprintf(stderr, "vectors: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Cut one line into key=value fields. 0 on success. */
static int s_parse_case(vectors_case_t *c, const char *text, size_t len)
{
    memset(c, 0, sizeof *c);
    c->line = malloc(len + 1);
    if (!c->line)
        return -1;
    memcpy(c->line, text, len);
    c->line[len] = '\0';

    size_t ntok = 1;
    for (size_t i = 0; i < len; i++)
        ntok += text[i] == ' ' || text[i] == '\t' || text[i] == '\r';
    c->key = calloc(ntok, sizeof *c->key);
    c->val = calloc(ntok, sizeof *c->val);
    if (!c->key || !c->val)
        return -1;

    /* Split on runs of blanks; each token at its first '='. */
    for (char *p = c->line; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            *p++ = '\0';
        if (!*p)
            break;
        char *tok = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        char *eq = memchr(tok, '=', (size_t)(p - tok));
        c->key[c->nfields] = tok;
        c->val[c->nfields] = eq ? eq + 1 : p;
        if (eq)
            *eq = '\0';
        c->nfields++;
    }
    return 0;
}

static void s_free_case(vectors_case_t *c)
{
    free(c->line);
    free(c->key);
    free(c->val);
}

vectors_t *vectors_load(const char *file)
{
    size_t len = 0;
    char *text = s_slurp(file, &len);
    if (!text)
        return NULL;
    vectors_t *v = calloc(1, sizeof *v);
    if (!v)
        goto oom;

    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        int blank = strspn(p, " \t\r") >= l;
        if (!blank && p[0] != '#') {
            if (v->n == v->cap) {
                size_t cap = v->cap ? 2 * v->cap : 256;
                vectors_case_t *c = realloc(v->cases, cap * sizeof *c);
                if (!c)
                    goto oom;
                v->cases = c;
                v->cap = cap;
            }
            if (s_parse_case(&v->cases[v->n++], p, l) != 0)
                goto oom;
        }
        p += l + 1;
    }
    free(text);
    return v;

oom:
    fprintf(stderr, "vectors: out of memory reading %s\n", file);
    free(text);
    vectors_destroy(&v);
    return NULL;
}

void vectors_destroy(vectors_t **vp)
{
    if (!vp || !*vp)
        return;
    vectors_t *v = *vp;
    for (size_t i = 0; i < v->n; i++)
        s_free_case(&v->cases[i]);
    free(v->cases);
    free(v);
    *vp = NULL;
}

size_t vectors_count(const vectors_t *v)
{
    return v ? v->n : 0;
}

const vectors_case_t *vectors_case(const vectors_t *v, size_t i)
{
    return v && i < v->n ? &v->cases[i] : NULL;
}

const char *vectors_str(const vectors_case_t *c, const char *key)
{
    for (size_t i = 0; c && i < c->nfields; i++)
        if (strcmp(c->key[i], key) == 0)
            return c->val[i];
    return NULL;
}

double vectors_num(const vectors_case_t *c, const char *key)
{
    const char *s = vectors_str(c, key);
    if (!s || !*s || strcmp(s, "na") == 0)
        return NAN;
    char *end = NULL;
    double x = strtod(s, &end);
    return *end == '\0' ? x : NAN;
}

size_t vectors_size(const vectors_case_t *c, const char *key)
{
    const char *s = vectors_str(c, key);
    if (!s || *s < '0' || *s > '9')
        return 0;
    char *end = NULL;
    unsigned long long x = strtoull(s, &end, 10);
    return *end == '\0' ? (size_t)x : 0;
}

int vectors_has_note(const vectors_case_t *c, const char *flag)
{
    const char *s = vectors_str(c, "note");
    size_t fl = strlen(flag);
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t l = comma ? (size_t)(comma - s) : strlen(s);
        if (l == fl && strncmp(s, flag, l) == 0)
            return 1;
        s = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* The raw bytes of a file that must hold exactly count values of width w. */
static unsigned char *s_read_raw(const char *file, size_t count, size_t w)
{
    size_t len = 0;
    char *buf = s_slurp(file, &len);
    if (buf && len != count * w) {
        fprintf(stderr, "vectors: %s is %zu bytes, expected %zu x %zu = %zu\n", file, len, count, w,
                count * w);
        free(buf);
        return NULL;
    }
    return (unsigned char *)buf;
}

static uint64_t s_le(const unsigned char *p, size_t w)
{
    uint64_t u = 0;
    for (size_t b = 0; b < w; b++)
        u |= (uint64_t)p[b] << (8 * b);
    return u;
}

float *vectors_read_f32(const char *file, size_t count)
{
    unsigned char *raw = s_read_raw(file, count, 4);
    float *out = raw ? malloc((count ? count : 1) * sizeof *out) : NULL;
    for (size_t i = 0; out && i < count; i++) {
        uint32_t u = (uint32_t)s_le(raw + 4 * i, 4);
        memcpy(&out[i], &u, sizeof u);
    }
    free(raw);
    return out;
}

double *vectors_read_f32_as_f64(const char *file, size_t count)
{
    float *f = vectors_read_f32(file, count);
    double *out = f ? malloc((count ? count : 1) * sizeof *out) : NULL;
    for (size_t i = 0; out && i < count; i++)
        out[i] = (double)f[i];
    free(f);
    return out;
}

double *vectors_read_f64(const char *file, size_t count)
{
    unsigned char *raw = s_read_raw(file, count, 8);
    double *out = raw ? malloc((count ? count : 1) * sizeof *out) : NULL;
    for (size_t i = 0; out && i < count; i++) {
        uint64_t u = s_le(raw + 8 * i, 8);
        memcpy(&out[i], &u, sizeof u);
    }
    free(raw);
    return out;
}

/* The file named by field key and the case's N x d size; NULL when absent. */
static const char *s_input(const vectors_case_t *c, const char *key, size_t *count)
{
    const char *file = vectors_str(c, key);
    if (!file || strcmp(file, "na") == 0) {
        const char *name = vectors_str(c, "name");
        fprintf(stderr, "vectors: case %s has no input '%s'\n", name ? name : "?", key);
        return NULL;
    }
    *count = vectors_size(c, "N") * vectors_size(c, "d");
    return file;
}

float *vectors_input_f32(const vectors_case_t *c, const char *key)
{
    size_t count = 0;
    const char *file = s_input(c, key, &count);
    return file ? vectors_read_f32(file, count) : NULL;
}

double *vectors_input_f64(const vectors_case_t *c, const char *key)
{
    size_t count = 0;
    const char *file = s_input(c, key, &count);
    return file ? vectors_read_f32_as_f64(file, count) : NULL;
}
