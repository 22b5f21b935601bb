/* xalloc.h: the daemon's allocation wrappers. The daemon may abort on out
 * of memory (STYLE.md); these say so on stderr ("erwatchd: out of memory
 * (N bytes)") and abort, so that callers need no NULL check and no copy of
 * that check lives in every module. Never used by the client library, which
 * returns -ENOMEM instead. A size of 0 still returns a unique pointer.
 */
#ifndef ERWATCH_XALLOC_H
#define ERWATCH_XALLOC_H

#include <stddef.h>

void *ew_xmalloc(size_t n);
/* count * size bytes, zeroed; aborts on overflow of the product too. */
void *ew_xcalloc(size_t count, size_t size);
void *ew_xrealloc(void *p, size_t n);
/* A copy of s; NULL gives an empty string. */
char *ew_xstrdup(const char *s);

#endif
