/* idmap.h: the stores' id cache, an open-addressing hash table from a byte
 * key (a run name, "run_id\0tag\0metric", "launch\0name") to a database id,
 * with the per-group bookkeeping the writers keep beside it. Both store
 * backends (store_sqlite.c, store_pg.c) use it; only the writer thread
 * touches a store's maps. A zeroed idmap_t is empty.
 */
#ifndef ERWATCH_IDMAP_H
#define ERWATCH_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t hash;
    char *key; /* owned; NULL marks an empty slot */
    size_t klen;
    int64_t id;
    char *name;    /* launches map: the run's name (owned, freed by idmap_clear); else NULL */
    uint32_t gen;  /* the store's group counter when a group last touched the row */
    uint32_t slot; /* index in that group's touched list */
} idmap_entry_t;

typedef struct {
    idmap_entry_t *e;
    size_t cap; /* power of two, or 0 */
    size_t count;
} idmap_t;

/* FNV-1a of the key: computed once, passed to find and add. */
uint64_t idmap_hash(const char *key, size_t klen);
/* The entry of key, or NULL. */
idmap_entry_t *idmap_find(idmap_t *m, const char *key, size_t klen, uint64_t hash);
/* Adds a key known to be absent (its name, gen and slot zeroed). Aborts on
 * out of memory, as ew_xcalloc does. The entry stays valid until the next add. */
idmap_entry_t *idmap_add(idmap_t *m, const char *key, size_t klen, uint64_t hash, int64_t id);
/* Frees every key and name; m is empty again. */
void idmap_clear(idmap_t *m);

#endif
