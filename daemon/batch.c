/* batch.c: freeing batches and results, and the names of the enums that
 * travel in them (dtype, support).
 *
 * Design: a batch_t is one malloc for the struct plus one per view, made by
 * decode_message() (plus the config and notes texts when sent); a result_t
 * is a single malloc plus the config and notes it took over from its batch. The destroy functions
 * take the owner's pointer by address and set it to NULL, so a second destroy is a no-op rather
 * than a double free. Name lookups never return NULL: an out-of-range value (only possible through
 * memory corruption or a bad cast) gives "?" so a log line stays printable.
 */
#include <stdlib.h>

#include "batch.h"

#include <string.h>

void batch_destroy(batch_t **b)
{
    if (!b || !*b)
        return;
    free((*b)->view[0]);
    free((*b)->view[1]);
    free((*b)->config);
    free((*b)->notes);
    free(*b);
    *b = NULL;
}

void result_destroy(result_t **r)
{
    if (!r || !*r)
        return;
    free((*r)->config);
    free((*r)->notes);
    free(*r);
    *r = NULL;
}

const char *result_run(const result_t *r)
{
    return r->stored_run[0] ? r->stored_run : r->run;
}

const char *ew_dtype_name(ew_dtype_t t)
{
#define S_CASE(id, name, bytes)                                                                    \
    case EW_DTYPE_##id:                                                                            \
        return #name;
    switch (t) {
        EW_DTYPES(S_CASE)
    }
#undef S_CASE
    return "?";
}

size_t ew_dtype_size(ew_dtype_t t)
{
#define S_CASE(id, name, bytes)                                                                    \
    case EW_DTYPE_##id:                                                                            \
        return bytes;
    switch (t) {
        EW_DTYPES(S_CASE)
    }
#undef S_CASE
    return 0;
}

const char *ew_support_name(ew_support_t s)
{
#define S_CASE(id, name)                                                                           \
    case EW_SUPPORT_##id:                                                                          \
        return #name;
    switch (s) {
        EW_SUPPORTS(S_CASE)
    }
#undef S_CASE
    return "?";
}

#define S_NAME(id, name, views) [EW_M_##id] = #name,
static const char *const s_metric_names[EW_M_COUNT] = {EW_METRICS(S_NAME)};
#undef S_NAME

const char *ew_metric_name(ew_metric_t m)
{
    return (unsigned)m < EW_M_COUNT ? s_metric_names[m] : "?";
}

int ew_metric_lookup(const char *s, size_t n)
{
    for (int m = 0; m < EW_M_COUNT; m++)
        if (strlen(s_metric_names[m]) == n && memcmp(s_metric_names[m], s, n) == 0)
            return m;
    return -1;
}
