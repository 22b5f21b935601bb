/* fuzz_params.c: libFuzzer target for the HTTP API's query-parameter parser
 * (daemon/params.c). The input is read as a query string, "k=v&k=v...",
 * with %XX escapes decoded as libmicrohttpd does (so values may hold NUL
 * bytes), and handed to params_series and params_runs through a lookup
 * over those pairs (repeated keys too). Beyond not crashing, the target
 * checks what params.h promises: on success, non-empty names without NULs,
 * a non-empty window and points in range, a run list's limit, offset and
 * names in range; on failure, a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

#define S_MAX_PAIRS 32
#define S_MAX_BYTES 4096

typedef struct {
    char *key[S_MAX_PAIRS], *val[S_MAX_PAIRS];
    size_t vlen[S_MAX_PAIRS];
    int n;
} s_query_t;

static int s_hex(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes [p, p+n) in place into out (NUL-terminated); returns its length. */
static size_t s_unescape(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && s_hex(p[i + 1]) >= 0 && s_hex(p[i + 2]) >= 0) {
            out[o++] = (char)(s_hex(p[i + 1]) * 16 + s_hex(p[i + 2]));
            i += 2;
        } else {
            out[o++] = p[i] == '+' ? ' ' : p[i];
        }
    }
    out[o] = '\0';
    return o;
}

static const char *s_get(void *ctx, const char *name, size_t *len)
{
    s_query_t *q = ctx;
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->key[i], name) == 0) {
            *len = q->vlen[i];
            return q->val[i] ? q->val[i] : "";
        }
    return NULL;
}

static size_t s_all(void *ctx, const char *name, const char **vals, size_t *lens, size_t max)
{
    s_query_t *q = ctx;
    size_t k = 0;
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->key[i], name) == 0) {
            if (k < max) {
                vals[k] = q->val[i] ? q->val[i] : "";
                lens[k] = q->vlen[i];
            }
            k++;
        }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > S_MAX_BYTES)
        return 0;
    char *buf = malloc(2 * size + 2);
    if (!buf)
        abort();
    s_query_t q = {0};
    char *o = buf;
    size_t i = 0;
    while (i <= size && q.n < S_MAX_PAIRS) {
        size_t j = i;
        while (j < size && data[j] != '&')
            j++;
        const char *pair = (const char *)data + i;
        size_t plen = j - i;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;
        q.key[q.n] = o;
        o += s_unescape(pair, klen, o) + 1;
        if (eq) {
            q.val[q.n] = o;
            q.vlen[q.n] = s_unescape(eq + 1, plen - klen - 1, o);
            o += q.vlen[q.n] + 1;
        }
        q.n++;
        i = j + 1;
    }
    params_t p = {s_get, &q, NULL};
    params_series_t r;
    char msg[256] = "";
    for (int nnames = 2; nnames <= 3; nnames++) {
        if (params_series(&p, nnames, &r, msg, sizeof msg) == 0) {
            if (!r.run || !*r.run || !r.tag || !*r.tag ||
                (nnames == 3 && (!r.metric || !*r.metric)))
                abort();
            if (!(r.after < r.before) || r.points < 1 || r.points > PARAMS_MAX_POINTS)
                abort();
            if ((r.csv != 0 && r.csv != 1) || (r.with_time != 0 && r.with_time != 1))
                abort();
        } else if (!msg[0]) {
            abort();
        }
    }
    for (int with_all = 0; with_all < 2; with_all++) {
        params_t pr = {s_get, &q, with_all ? s_all : NULL};
        query_runs_filter_t f;
        int csv = -1;
        msg[0] = '\0';
        if (params_runs(&pr, &f, &csv, msg, sizeof msg) == 0) {
            if ((f.limit != -1 && (f.limit < 1 || f.limit > PARAMS_MAX_RUNS_LIMIT)) ||
                f.offset < 0 || f.nnames > QUERY_RUNS_NAMES_MAX || f.nids > QUERY_RUNS_NAMES_MAX ||
                (csv != 0 && csv != 1) || (f.match && !*f.match))
                abort();
            for (size_t k = 0; k < f.nnames; k++)
                if (!f.names[k] || !*f.names[k])
                    abort();
            for (size_t k = 0; k < f.nids; k++)
                if (f.ids[k] < 1)
                    abort();
        } else if (!msg[0]) {
            abort();
        }
    }
    free(buf);
    return 0;
}
