/* erwatch_alloc.c: the client library's allocator (erwatch_alloc.h): the
 * C library's, behind the EW_FAULT_ALLOC injection point of daemon/fault.h.
 * Off by default, a call costs one relaxed atomic load more than malloc.
 */
#include "erwatch_alloc.h"

#include <stdlib.h>
#include <string.h>

#include "fault.h"

int erwatch__alloc_fails(void)
{
    return ew_fault(EW_FAULT_ALLOC);
}

void *erwatch__malloc(size_t n)
{
    return erwatch__alloc_fails() ? NULL : malloc(n);
}

void *erwatch__calloc(size_t k, size_t n)
{
    return erwatch__alloc_fails() ? NULL : calloc(k, n);
}

void *erwatch__realloc(void *p, size_t n)
{
    return erwatch__alloc_fails() ? NULL : realloc(p, n);
}

char *erwatch__strdup(const char *s)
{
    return erwatch__alloc_fails() ? NULL : strdup(s);
}
