/* npy.c: the .npy / raw float32 loader of the CLI (npy.h).
 *
 * The .npy header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * It is parsed as a tiny grammar (strings, True/False, int tuples) rather
 * than searched with strstr, so that a key inside a string, reordered keys or
 * odd spacing cannot fool it. The whole file is read into memory first:
 * inputs are at most a few hundred MB and the metrics need them all anyway.
 */
#include "npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_DIMS 8

static int s_fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

static int s_host_is_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Converts n elements of size sz from little-endian to host order. */
static void s_from_le(void *data, size_t n, size_t sz)
{
    if (s_host_is_le())
        return;
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += sz)
        for (size_t a = 0, b = sz - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Reads a whole file. Returns 0 or -1 with err set. */
static int s_read_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, used = 0;
    unsigned char *b = malloc(cap);
    for (;;) {
        if (!b) {
            fclose(f);
            return s_fail(err, errlen, "out of memory");
        }
        used += fread(b + used, 1, cap - used, f);
        if (used < cap)
            break;
        unsigned char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(b, cap * 2);
        if (!nb)
            free(b);
        b = nb;
        cap *= 2;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "read error: %s", strerror(errno));
        fclose(f);
        free(b);
        return -1;
    }
    fclose(f);
    *buf = b;
    *len = used;
    return 0;
}

/* ---------------------------------------------------------------- header */

typedef struct {
    const char *p, *end;
} s_lex_t;

static void s_skip_ws(s_lex_t *lx)
{
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r'))
        lx->p++;
}

static int s_accept(s_lex_t *lx, char c)
{
    s_skip_ws(lx);
    if (lx->p < lx->end && *lx->p == c) {
        lx->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes (numpy never writes any in the
 * keys and values we read). Copies at most cap-1 bytes. */
static int s_string(s_lex_t *lx, char *out, size_t cap)
{
    s_skip_ws(lx);
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"'))
        return -1;
    char q = *lx->p++;
    const char *start = lx->p;
    while (lx->p < lx->end && *lx->p != q) {
        if (*lx->p == '\\')
            return -1;
        lx->p++;
    }
    if (lx->p >= lx->end)
        return -1;
    size_t len = (size_t)(lx->p - start);
    lx->p++;
    if (len >= cap)
        return -1;
    memcpy(out, start, len);
    out[len] = '\0';
    return 0;
}

static int s_word(s_lex_t *lx, const char *w)
{
    s_skip_ws(lx);
    size_t len = strlen(w);
    if ((size_t)(lx->end - lx->p) >= len && memcmp(lx->p, w, len) == 0) {
        lx->p += len;
        return 1;
    }
    return 0;
}

/* "(3, 4)", "(3,)", "()"; numpy may write "3L" in old Python 2 files. */
static int s_tuple(s_lex_t *lx, unsigned long long *dims, int *ndims)
{
    *ndims = 0;
    if (!s_accept(lx, '('))
        return -1;
    for (;;) {
        if (s_accept(lx, ')'))
            return 0;
        s_skip_ws(lx);
        if (lx->p >= lx->end || *lx->p < '0' || *lx->p > '9')
            return -1;
        unsigned long long v = 0;
        while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (unsigned)(*lx->p++ - '0');
        }
        if (lx->p < lx->end && *lx->p == 'L')
            lx->p++;
        if (*ndims == S_MAX_DIMS)
            return -1;
        dims[(*ndims)++] = v;
        if (!s_accept(lx, ',')) {
            if (!s_accept(lx, ')'))
                return -1;
            return 0;
        }
    }
}

typedef struct {
    char descr[32];
    int fortran;
    unsigned long long dims[S_MAX_DIMS];
    int ndims;
    int have_descr, have_fortran, have_shape;
} s_header_t;

static int s_parse_dict(const char *text, size_t len, s_header_t *h, char *err, size_t errlen)
{
    s_lex_t lx = {text, text + len};
    memset(h, 0, sizeof *h);
    if (!s_accept(&lx, '{'))
        return s_fail(err, errlen, "header is not a Python dict");
    for (;;) {
        if (s_accept(&lx, '}'))
            break;
        char key[32];
        if (s_string(&lx, key, sizeof key) != 0 || !s_accept(&lx, ':'))
            return s_fail(err, errlen, "malformed header dict");
        if (strcmp(key, "descr") == 0) {
            /* A structured dtype is a list, not a string. */
            if (s_string(&lx, h->descr, sizeof h->descr) != 0)
                return s_fail(err, errlen,
                              "unsupported dtype (structured or "
                              "malformed 'descr'); need '<f4' or '<f8'");
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (s_word(&lx, "True"))
                h->fortran = 1;
            else if (s_word(&lx, "False"))
                h->fortran = 0;
            else
                return s_fail(err, errlen, "malformed 'fortran_order'");
            h->have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (s_tuple(&lx, h->dims, &h->ndims) != 0)
                return s_fail(err, errlen, "malformed 'shape'");
            h->have_shape = 1;
        } else {
            return s_fail(err, errlen, "unexpected key in header dict");
        }
        if (!s_accept(&lx, ',')) {
            if (!s_accept(&lx, '}'))
                return s_fail(err, errlen, "malformed header dict");
            break;
        }
    }
    s_skip_ws(&lx);
    if (lx.p != lx.end)
        return s_fail(err, errlen, "trailing bytes after the header dict");
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return s_fail(err, errlen, "header lacks 'descr', 'fortran_order' or 'shape'");
    return 0;
}

/* ---------------------------------------------------------------- API */

size_t npy_dtype_size(npy_dtype_t t)
{
    return t == NPY_F64 ? 8 : 4;
}

/* Validates the .npy image buf and finds its data. Returns 0 with *out's
 * dtype/n/d set (data left NULL) and *offset at the first data byte. */
static int s_parse(const unsigned char *b, size_t len, npy_array_t *out, size_t *offset, char *err,
                   size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return s_fail(err, errlen,
                      "not a .npy file (raw "
                      "float32 needs --shape N,d)");
    unsigned major = b[6], minor = b[7];
    size_t hlen, pre;
    if ((major < 1 || major > 3) || minor != 0) {
        snprintf(err, errlen,
                 "unsupported .npy format version %u.%u "
                 "(need 1.0, 2.0 or 3.0)",
                 major, minor);
        return -1;
    }
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        pre = 10;
    } else {
        if (len < 12)
            return s_fail(err, errlen, "truncated .npy header");
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        pre = 12;
    }
    if (hlen > len - pre)
        return s_fail(err, errlen, "truncated .npy header");

    s_header_t h;
    if (s_parse_dict((const char *)b + pre, hlen, &h, err, errlen) != 0)
        return -1;

    npy_dtype_t dt;
    if (strcmp(h.descr, "<f4") == 0) {
        dt = NPY_F32;
    } else if (strcmp(h.descr, "<f8") == 0) {
        dt = NPY_F64;
    } else if (strcmp(h.descr, ">f4") == 0 || strcmp(h.descr, ">f8") == 0) {
        snprintf(err, errlen,
                 "big-endian dtype '%s' is not supported; "
                 "save with dtype '<f4' or '<f8'",
                 h.descr);
        return -1;
    } else {
        snprintf(err, errlen,
                 "unsupported dtype '%s' (need '<f4' or '<f8', "
                 "i.e. float32 or float64)",
                 h.descr);
        return -1;
    }
    if (h.fortran)
        return s_fail(err, errlen,
                      "fortran_order is True; save a C-order "
                      "array (numpy.ascontiguousarray)");
    if (h.ndims != 2) {
        snprintf(err, errlen, "expected a 2-D array (N, d), got %d dimension%s", h.ndims,
                 h.ndims == 1 ? "" : "s");
        return -1;
    }
    unsigned long long n = h.dims[0], d = h.dims[1];
    if (n == 0 || d == 0) {
        snprintf(err, errlen, "empty array, shape (%llu, %llu)", n, d);
        return -1;
    }
    size_t sz = npy_dtype_size(dt);
    if (n > SIZE_MAX / sz / d)
        return s_fail(err, errlen, "shape too large");
    size_t bytes = (size_t)(n * d) * sz, have = len - pre - hlen;
    if (have != bytes) {
        snprintf(err, errlen,
                 "data is %zu bytes, shape (%llu, %llu) of '%s' "
                 "needs %zu",
                 have, n, d, h.descr, bytes);
        return -1;
    }
    out->dtype = dt;
    out->n = (size_t)n;
    out->d = (size_t)d;
    *offset = pre + hlen;
    return 0;
}

int npy_parse(const void *buf, size_t len, npy_array_t *out, char *err, size_t errlen)
{
    size_t off;
    if (s_parse(buf, len, out, &off, err, errlen) != 0)
        return -1;
    size_t bytes = out->n * out->d * npy_dtype_size(out->dtype);
    void *data = malloc(bytes);
    if (!data) {
        memset(out, 0, sizeof *out);
        return s_fail(err, errlen, "out of memory");
    }
    memcpy(data, (const unsigned char *)buf + off, bytes);
    s_from_le(data, out->n * out->d, npy_dtype_size(out->dtype));
    out->data = data;
    return 0;
}

int npy_load(const char *path, npy_array_t *out, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len, off;
    memset(out, 0, sizeof *out);
    if (s_read_file(path, &buf, &len, err, errlen) != 0)
        return -1;
    if (s_parse(buf, len, out, &off, err, errlen) != 0) {
        free(buf);
        return -1;
    }
    /* Reuse the file buffer for the data rather than copying it. */
    size_t bytes = len - off;
    memmove(buf, buf + off, bytes);
    s_from_le(buf, out->n * out->d, npy_dtype_size(out->dtype));
    out->data = buf;
    return 0;
}

int npy_load_raw_f32(const char *path, size_t n, size_t d, npy_array_t *out, char *err,
                     size_t errlen)
{
    unsigned char *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    if (n == 0 || d == 0 || n > SIZE_MAX / 4 / d)
        return s_fail(err, errlen, "bad shape");
    if (s_read_file(path, &buf, &len, err, errlen) != 0)
        return -1;
    if (len != 4 * n * d) {
        snprintf(err, errlen,
                 "file is %zu bytes, --shape %zu,%zu of float32 "
                 "needs %zu",
                 len, n, d, 4 * n * d);
        free(buf);
        return -1;
    }
    s_from_le(buf, n * d, 4);
    out->dtype = NPY_F32;
    out->n = n;
    out->d = d;
    out->data = buf;
    return 0;
}

double *npy_to_double(const npy_array_t *a)
{
    size_t m = a->n * a->d;
    double *z = malloc((m ? m : 1) * sizeof *z);
    if (!z)
        return NULL;
    if (a->dtype == NPY_F64) {
        memcpy(z, a->data, m * sizeof *z);
    } else {
        const float *f = a->data;
        for (size_t i = 0; i < m; i++)
            z[i] = (double)f[i];
    }
    return z;
}

void npy_free(npy_array_t *a)
{
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
    a->n = a->d = 0;
}
