/* erwatch_alloc.h: the one allocator of the client library. Every
 * allocation of client/ (erwatch.c, erwatch_alerts.c, erwatch_run.c,
 * erwatch_body.c, erwatch_key.c) goes through these, so that a test can make
 * any one of them fail (daemon/fault.h, EW_FAULT_ALLOC) and walk the library's
 * out-of-memory paths. Internal: not installed, names are erwatch__*, hidden
 * from liberwatch.so's symbol table.
 *
 * Ownership: as malloc(3) and friends; the caller frees with free(3). A
 * failed erwatch__realloc leaves p allocated, as realloc(3) does.
 */
#ifndef ERWATCH_ALLOC_H
#define ERWATCH_ALLOC_H

#include <stddef.h>

#define ERWATCH__HIDDEN __attribute__((visibility("hidden")))

ERWATCH__HIDDEN void *erwatch__malloc(size_t n);
ERWATCH__HIDDEN void *erwatch__calloc(size_t k, size_t n);
ERWATCH__HIDDEN void *erwatch__realloc(void *p, size_t n);
ERWATCH__HIDDEN char *erwatch__strdup(const char *s);
/* True when this allocation must fail: for an allocation made by another
 * library on our behalf (msgpack's sbuffer), checked before calling it. */
ERWATCH__HIDDEN int erwatch__alloc_fails(void);

#endif
