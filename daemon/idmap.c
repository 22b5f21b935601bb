/* idmap.c: the stores' id cache (idmap.h). Linear probing at most half
 * full; it only grows, and idmap_clear() empties it. */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

uint64_t idmap_hash(const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

idmap_entry_t *idmap_find(idmap_t *m, const char *key, size_t klen, uint64_t hash)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = hash & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        idmap_entry_t *e = &m->e[i];
        if (!e->key)
            return NULL;
        if (e->hash == hash && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    }
}

static void s_grow(idmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    idmap_entry_t *e = ew_xcalloc(cap, sizeof *e);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->e[i].key)
            continue;
        size_t j = m->e[i].hash & (cap - 1);
        while (e[j].key)
            j = (j + 1) & (cap - 1);
        e[j] = m->e[i];
    }
    free(m->e);
    m->e = e;
    m->cap = cap;
}

idmap_entry_t *idmap_add(idmap_t *m, const char *key, size_t klen, uint64_t hash, int64_t id)
{
    if ((m->count + 1) * 2 > m->cap)
        s_grow(m);
    size_t i = hash & (m->cap - 1);
    while (m->e[i].key)
        i = (i + 1) & (m->cap - 1);
    idmap_entry_t *e = &m->e[i];
    memset(e, 0, sizeof *e);
    e->hash = hash;
    e->key = ew_xrealloc(NULL, klen);
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->id = id;
    m->count++;
    return e;
}

void idmap_clear(idmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->e[i].key);
        free(m->e[i].name);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}
