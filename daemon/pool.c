/* pool.c: pooling the ranks of a distributed job (see pool.h).
 *
 * Groups are kept twice: in a hash table by (run, tag, step), and in a
 * list in order of creation, which is also the order of their deadlines
 * (every group waits the same timeout), so expiry and eviction look only
 * at the list's head. Steps already handed back are remembered by a 64-bit
 * hash in two generations of a set (the older one is forgotten when the
 * newer fills), so a late part is refused for at least S_DONE_GEN steps
 * after its group went out, in constant memory.
 */
#include "pool.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BUCKETS 4096                /* hash buckets of groups (chained) */
#define S_DONE_GEN 32768              /* remembered steps per generation */
#define S_DONE_SLOTS (2 * S_DONE_GEN) /* open addressing, half full at most */

typedef struct s_group {
    uint64_t hash;
    double deadline;
    int32_t world;
    size_t nparts, bytes, rows;
    batch_t **part;              /* [world], indexed by rank */
    struct s_group *chain;       /* next in the bucket */
    struct s_group *prev, *next; /* creation order; head is the oldest */
} s_group_t;

struct pool {
    double timeout_s;
    s_group_t *bucket[S_BUCKETS];
    s_group_t *head, *tail;
    size_t ngroups, bytes;
    uint64_t *done[2]; /* [0] newer, [1] older; 0 = empty slot */
    size_t ndone;      /* entries in done[0] */
};

static uint64_t s_hash(const ew_header_t *h)
{
    uint64_t x = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)h->run; *p; p++)
        x = (x ^ *p) * 1099511628211ull;
    x = (x ^ 0xff) * 1099511628211ull; /* separator: ("ab","c") != ("a","bc") */
    for (const unsigned char *p = (const unsigned char *)h->tag; *p; p++)
        x = (x ^ *p) * 1099511628211ull;
    for (int i = 0; i < 8; i++)
        x = (x ^ ((h->step >> (8 * i)) & 0xff)) * 1099511628211ull;
    return x ? x : 1;
}

static void *s_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        abort(); /* out of memory: the daemon's policy */
    return p;
}

pool_t *pool_new(double timeout_s)
{
    pool_t *p = s_calloc(1, sizeof *p);
    p->timeout_s = timeout_s;
    p->done[0] = s_calloc(S_DONE_SLOTS, sizeof(uint64_t));
    p->done[1] = s_calloc(S_DONE_SLOTS, sizeof(uint64_t));
    return p;
}

static void s_group_free(s_group_t *g)
{
    for (int32_t r = 0; r < g->world; r++)
        batch_destroy(&g->part[r]);
    free(g->part);
    free(g);
}

void pool_destroy(pool_t **pp)
{
    pool_t *p = pp ? *pp : NULL;
    if (!p)
        return;
    for (s_group_t *g = p->head, *next; g; g = next) {
        next = g->next;
        s_group_free(g);
    }
    free(p->done[0]);
    free(p->done[1]);
    free(p);
    *pp = NULL;
}

/* ------------------------------------------------------------ done set */

static int s_done_has(const pool_t *p, uint64_t k)
{
    for (int gen = 0; gen < 2; gen++) {
        size_t i = k % S_DONE_SLOTS;
        while (p->done[gen][i]) {
            if (p->done[gen][i] == k)
                return 1;
            i = (i + 1) % S_DONE_SLOTS;
        }
    }
    return 0;
}

static void s_done_add(pool_t *p, uint64_t k)
{
    if (p->ndone == S_DONE_GEN) { /* the newer is full: forget the older */
        uint64_t *old = p->done[1];
        memset(old, 0, S_DONE_SLOTS * sizeof *old);
        p->done[1] = p->done[0];
        p->done[0] = old;
        p->ndone = 0;
    }
    size_t i = k % S_DONE_SLOTS;
    while (p->done[0][i]) {
        if (p->done[0][i] == k)
            return;
        i = (i + 1) % S_DONE_SLOTS;
    }
    p->done[0][i] = k;
    p->ndone++;
}

/* ------------------------------------------------------------ groups */

static int s_same_step(const ew_header_t *a, const ew_header_t *b)
{
    return a->step == b->step && strcmp(a->run, b->run) == 0 && strcmp(a->tag, b->tag) == 0;
}

static batch_t *s_any_part(const s_group_t *g)
{
    for (int32_t r = 0; r < g->world; r++)
        if (g->part[r])
            return g->part[r];
    return NULL;
}

static s_group_t *s_find(const pool_t *p, const ew_header_t *h, uint64_t hash)
{
    for (s_group_t *g = p->bucket[hash % S_BUCKETS]; g; g = g->chain)
        if (g->hash == hash && s_same_step(&s_any_part(g)->h, h))
            return g;
    return NULL;
}

/* Takes g out of the table and the list; the caller owns it then. */
static void s_unlink(pool_t *p, s_group_t *g)
{
    s_group_t **pp = &p->bucket[g->hash % S_BUCKETS];
    while (*pp != g)
        pp = &(*pp)->chain;
    *pp = g->chain;
    if (g->prev)
        g->prev->next = g->next;
    else
        p->head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        p->tail = g->prev;
    p->ngroups--;
    p->bytes -= g->bytes;
}

/* The pooled batch of g, which is freed; its step is remembered as done. */
static batch_t *s_finish(pool_t *p, s_group_t *g)
{
    s_unlink(p, g);
    s_done_add(p, g->hash);
    size_t n = 0;
    for (int32_t r = 0; r < g->world; r++)
        if (g->part[r])
            g->part[n++] = g->part[r]; /* compact in rank order, in place */
    batch_t *out = pool_merge(g->part, n);
    free(g->part);
    free(g);
    return out;
}

/* Whether b may join a group whose parts were made like first: every
 * setting the metrics depend on must agree. NULL when it may, else what
 * differs. */
static const char *s_mismatch(const ew_header_t *a, const ew_header_t *b)
{
    if (a->world != b->world)
        return "world";
    if (a->d != b->d)
        return "d";
    if (a->views != b->views)
        return "views";
    if (a->dtype != b->dtype)
        return "dtype";
    if (a->support != b->support)
        return "support";
    if (a->metrics != b->metrics)
        return "metrics";
    /* Same parameters are the same bits: both came through the same
     * decoder from the same defaults. */
    if (memcmp(&a->kappa, &b->kappa, sizeof a->kappa) != 0)
        return "kappa";
    if (memcmp(&a->t, &b->t, sizeof a->t) != 0)
        return "t";
    if (memcmp(&a->alpha, &b->alpha, sizeof a->alpha) != 0)
        return "alpha";
    if (memcmp(&a->eps, &b->eps, sizeof a->eps) != 0)
        return "eps";
    if (a->iters != b->iters)
        return "iters";
    return NULL;
}

pool_verdict_t pool_add(pool_t *p, batch_t **part, double now, batch_t **ready, char *msg,
                        size_t msglen)
{
    batch_t *b = *part;
    const ew_header_t *h = &b->h;
    *ready = NULL;
    msg[0] = '\0';
    uint64_t hash = s_hash(h);
    s_group_t *g = s_find(p, h, hash);
    if (!g) {
        if (s_done_has(p, hash)) {
            snprintf(msg, msglen,
                     "part of rank %d came after its step was pooled (complete or timed out)",
                     (int)h->rank);
            return POOL_LATE;
        }
        g = s_calloc(1, sizeof *g);
        g->hash = hash;
        g->world = h->world;
        g->deadline = now + p->timeout_s;
        g->part = s_calloc((size_t)h->world, sizeof *g->part);
        /* The group's own memory counts too: a flood of steps of a large
         * world would otherwise grow it unseen. */
        g->bytes = sizeof *g + (size_t)h->world * sizeof *g->part;
        p->bytes += g->bytes;
        g->chain = p->bucket[hash % S_BUCKETS];
        p->bucket[hash % S_BUCKETS] = g;
        g->prev = p->tail;
        if (p->tail)
            p->tail->next = g;
        else
            p->head = g;
        p->tail = g;
        p->ngroups++;
    } else {
        const char *what = s_mismatch(&s_any_part(g)->h, h);
        if (what) {
            snprintf(msg, msglen, "part of rank %d differs in %s from the step's first part",
                     (int)h->rank, what);
            return POOL_MISMATCH;
        }
        if (g->part[h->rank]) {
            snprintf(msg, msglen, "rank %d sent its part of this step twice", (int)h->rank);
            return POOL_DUPLICATE;
        }
        if (g->rows + h->n > EW_N_MAX || (g->rows + h->n) * h->d > EW_ELEMS_MAX) {
            snprintf(msg, msglen,
                     "part of rank %d would make the pooled batch %zu x %u, past the limits "
                     "of one batch (N <= %u, N*d <= %u): send fewer rows per rank (max_rows)",
                     (int)h->rank, g->rows + h->n, (unsigned)h->d, EW_N_MAX, EW_ELEMS_MAX);
            return POOL_TOO_LARGE;
        }
    }
    g->part[h->rank] = b;
    g->nparts++;
    g->rows += h->n;
    g->bytes += b->bytes;
    p->bytes += b->bytes;
    *part = NULL;
    if (g->nparts < (size_t)g->world)
        return POOL_HELD;
    *ready = s_finish(p, g);
    return POOL_COMPLETE;
}

batch_t *pool_take_expired(pool_t *p, double now)
{
    if (!p->head || now < p->head->deadline)
        return NULL;
    return s_finish(p, p->head);
}

batch_t *pool_take_oldest(pool_t *p)
{
    return p->head ? s_finish(p, p->head) : NULL;
}

size_t pool_groups(const pool_t *p)
{
    return p->ngroups;
}

size_t pool_bytes(const pool_t *p)
{
    return p->bytes;
}

double pool_next_deadline(const pool_t *p)
{
    return p->head ? p->head->deadline : -1.0;
}

/* ------------------------------------------------------------ merge */

static int s_by_rank(const void *a, const void *b)
{
    int32_t ra = (*(batch_t *const *)a)->h.rank, rb = (*(batch_t *const *)b)->h.rank;
    return (ra > rb) - (ra < rb);
}

batch_t *pool_merge(batch_t **parts, size_t n)
{
    if (n == 0)
        return NULL;
    qsort(parts, n, sizeof *parts, s_by_rank);
    batch_t *out = s_calloc(1, sizeof *out);
    out->h = parts[0]->h;
    out->recv_time = parts[0]->recv_time;
    size_t rows = 0;
    uint64_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        rows += parts[i]->h.n;
        dropped += parts[i]->h.dropped;
        if (parts[i]->recv_time < out->recv_time)
            out->recv_time = parts[i]->recv_time;
    }
    size_t d = out->h.d;
    for (int v = 0; v < out->h.views; v++) {
        out->view[v] = malloc(rows * d * sizeof(float));
        if (!out->view[v])
            abort();
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len = (size_t)parts[i]->h.n * d;
            memcpy(out->view[v] + at, parts[i]->view[v], len * sizeof(float));
            at += len;
        }
    }
    out->h.n = (uint32_t)rows;
    out->h.rank = -1;
    out->h.pool = 0;
    out->h.ranks = (int32_t)n;
    out->h.dropped = dropped;
    out->bytes = sizeof *out + (size_t)out->h.views * rows * d * sizeof(float);
    for (size_t i = 0; i < n; i++) {
        /* the run's config and notes, from the lowest rank that sent them */
        if (!out->config && parts[i]->config) {
            out->config = parts[i]->config;
            parts[i]->config = NULL;
        }
        if (!out->notes && parts[i]->notes) {
            out->notes = parts[i]->notes;
            parts[i]->notes = NULL;
        }
        batch_destroy(&parts[i]);
    }
    return out;
}
