/* http_alerts.c: GET /api/alerts and the health counters of alerting (see
 * http_alerts.h). Parameters are checked as strictly as the rest of the
 * API: every rejection names the parameter and what it accepts. */
#include "http_alerts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"

static int s_states(const char *v, unsigned *out)
{
    *out = 0;
    const char *p = v;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char word[16];
        if (len == 0 || len >= sizeof word)
            return -1;
        memcpy(word, p, len);
        word[len] = '\0';
        if (strcmp(word, "active") == 0) {
            *out |= (1u << ALERT_PENDING) | (1u << ALERT_FIRING);
        } else {
            alert_state_t s = alert_state_parse(word);
            if (!s)
                return -1;
            *out |= 1u << s;
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}

int http_alerts_parse(const params_t *p, alerts_filter_t *f, char *msg, size_t msglen)
{
    memset(f, 0, sizeof *f);
    f->limit = ALERTS_QUERY_LIMIT_DEFAULT;
    int bad;
    static const char *const names[2] = {"run", "tag"};
    const char **dst[2] = {&f->run, &f->tag};
    for (int i = 0; i < 2; i++) {
        const char *v = params_get(p, names[i], &bad);
        if (v && (!*v || bad)) {
            snprintf(msg, msglen, "parameter '%s' is %s", names[i],
                     bad ? "holding a NUL byte" : "empty");
            return -1;
        }
        *dst[i] = v;
    }
    const char *v = params_get(p, "state", &bad);
    if (v && (bad || s_states(v, &f->states) != 0)) {
        snprintf(msg, msglen,
                 "parameter 'state' must be pending, firing, resolved or "
                 "active, or several of them separated by commas");
        return -1;
    }
    v = params_get(p, "limit", &bad);
    if (v) {
        int64_t n;
        if (bad || *v < '0' || *v > '9' || params_i64(v, &n) != 0 || n < 1 ||
            n > ALERTS_QUERY_LIMIT_MAX) {
            snprintf(msg, msglen, "parameter 'limit' must be an integer from 1 to %d",
                     ALERTS_QUERY_LIMIT_MAX);
            return -1;
        }
        f->limit = (size_t)n;
    }
    return 0;
}

int http_alerts_body(query_t *q, const alerts_filter_t *f, strbuf_t *out, char *err, size_t errlen)
{
    return query_alerts(q, f, out, err, errlen);
}

void http_alerts_health(strbuf_t *b, const stats_t *s)
{
    if (!s) {
        strbuf_puts(b, ",\"alerts\":{}");
        return;
    }
    strbuf_printf(b,
                  ",\"alerts\":{\"rules\":%" PRIu64 ",\"pending\":%" PRIu64 ",\"firing\":%" PRIu64
                  ",\"fired\":%" PRIu64 ",\"notifications\":{\"sent\":%" PRIu64
                  ",\"errors\":%" PRIu64 ",\"dropped\":%" PRIu64 "}}",
                  stats_get(&s->alert_rules), stats_get(&s->alerts_pending),
                  stats_get(&s->alerts_firing), stats_get(&s->alerts_fired),
                  stats_get(&s->notify_sent), stats_get(&s->notify_errors),
                  stats_get(&s->notify_dropped));
}
