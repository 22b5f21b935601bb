/* xalloc.c: allocation that aborts on out of memory (see xalloc.h). */
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_oom(size_t n)
{
    fprintf(stderr, "erwatchd: out of memory (%zu bytes)\n", n);
    abort();
}

void *ew_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        s_oom(n);
    return p;
}

void *ew_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        s_oom(count * size);
    return p;
}

void *ew_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        s_oom(n);
    return q;
}

char *ew_xstrdup(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *p = ew_xmalloc(n);
    memcpy(p, s, n);
    return p;
}
