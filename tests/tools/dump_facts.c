/* dump_facts.c: prints the facts of common/ew_protocol.h (the protocol's
 * limits and the metric catalogue) as one JSON object, as the C compiler
 * sees them, for tests/integration/test_facts.py to check the Python,
 * JavaScript and Markdown copies against. Not a test suite itself. */
#include <stdio.h>

#include "ew_protocol.h"

int main(void)
{
    printf("{\"limits\": {");
    printf("\"VERSION\": %d, ", EW_PROTOCOL_VERSION);
    printf("\"HEADER_MAX\": %u, ", EW_HEADER_MAX);
    printf("\"NAME_MAX\": %d, ", EW_NAME_MAX);
    printf("\"N_MAX\": %u, ", EW_N_MAX);
    printf("\"D_MAX\": %u, ", EW_D_MAX);
    printf("\"ELEMS_MAX\": %u, ", EW_ELEMS_MAX);
    printf("\"SCALARS_MAX\": %d, ", EW_SCALARS_MAX);
    printf("\"KAPPA_MAX\": %.17g, ", EW_KAPPA_MAX);
    printf("\"WORLD_MAX\": %d, ", EW_WORLD_MAX);
    printf("\"T_MAX\": %.17g, ", EW_T_MAX);
    printf("\"ALPHA_MAX\": %.17g, ", EW_ALPHA_MAX);
    printf("\"EPS_MAX\": %.17g, ", EW_EPS_MAX);
    printf("\"ITERS_MAX\": %d", EW_SINKHORN_ITERS_MAX);
    printf("}, \"metrics\": [");
    const char *sep = "";
#define S_METRIC(id, name, views)                                                                  \
    printf("%s{\"name\": \"%s\", \"views\": %d}", sep, #name, views);                              \
    sep = ", ";
    EW_METRICS(S_METRIC)
#undef S_METRIC
    printf("], \"dtypes\": [");
    sep = "";
#define S_DTYPE(id, name, bytes)                                                                   \
    printf("%s{\"name\": \"%s\", \"bytes\": %d}", sep, #name, bytes);                              \
    sep = ", ";
    EW_DTYPES(S_DTYPE)
#undef S_DTYPE
    printf("], \"supports\": [");
    sep = "";
#define S_SUPPORT(id, name)                                                                        \
    printf("%s\"%s\"", sep, #name);                                                                \
    sep = ", ";
    EW_SUPPORTS(S_SUPPORT)
#undef S_SUPPORT
    printf("], \"series\": {\"pool_ranks\": \"%s\"}}\n", EW_POOL_RANKS_SERIES);
    return 0;
}
