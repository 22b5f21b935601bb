/* erwatch_body.c: the libcurl body sink of the client code (see
 * erwatch_body.h). The buffer doubles, so a body of n bytes costs O(n)
 * copies whatever the chunk sizes libcurl hands over.
 */
#include "erwatch_body.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t erwatch__body_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    erwatch__body_t *b = ud;
    size_t n = size * nmemb;
    if (n > SIZE_MAX / 2 - b->len || (b->max && b->len + n + 1 > b->max)) {
        b->overflow = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->data, cap);
        if (!q) {
            b->oom = 1;
            return 0;
        }
        b->data = q;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

void erwatch__body_free(erwatch__body_t *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
