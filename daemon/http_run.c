/* http_run.c: GET /api/run (see http_run.h): its parameters, and the
 * message when the run is missing; the reads are query_run's (query.h). */
#include "http_run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int http_run_parse(const params_t *p, http_run_req_t *r, char *msg, size_t msglen)
{
    memset(r, 0, sizeof *r);
    static const char *const names[4] = {"run", "launch", "name", "resume"};
    const char **dst[4] = {&r->run, &r->launch, &r->name, &r->resume};
    for (int i = 0; i < 4; i++) {
        int bad;
        const char *v = params_get(p, names[i], &bad);
        if (v && (!*v || bad)) {
            snprintf(msg, msglen, "parameter '%s' is %s", names[i],
                     bad ? "holding a NUL byte" : "empty");
            return -1;
        }
        *dst[i] = v;
    }
    int ways = (r->run != NULL) + (r->launch != NULL) + (r->resume != NULL);
    if (ways != 1 || (r->launch != NULL) != (r->name != NULL)) {
        snprintf(msg, msglen, "give one of: run=NAME, launch=ID&name=NAME, resume=NAME");
        return -1;
    }
    return 0;
}

int http_run_body(query_t *q, const http_run_req_t *r, strbuf_t *out, char *msg, size_t msglen)
{
    int rc = query_run(q, r, out, msg, msglen);
    if (rc != -ENOENT)
        return rc;
    if (r->run)
        snprintf(msg, msglen, "no run named '%s'", r->run);
    else if (r->launch)
        snprintf(msg, msglen,
                 "launch '%s' has stored nothing under run name '%s' (yet, or it was "
                 "refused: see /api/health rejected)",
                 r->launch, r->name);
    else
        snprintf(msg, msglen, "no run named '%s' to resume", r->resume);
    return -ENOENT;
}
