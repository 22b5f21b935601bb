/* notify_payload.c: the JSON that notify.c sends (see notify.h). Pure.
 *
 * The shapes are Alertmanager's own, field for field: a postable alert of
 * its v2 API (labels, annotations, startsAt, endsAt, generatorURL) and the
 * webhook receiver's message (version "4"), so that anything written for
 * Alertmanager reads ours. Labels are always the same five, written in
 * sorted order: alertname, metric, run, severity, tag.
 */
#include "notify.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"

#define S_NLABELS 5

/* The labels in sorted name order (the fingerprint needs that order). */
static void s_labels(const alert_t *a, const char *name[S_NLABELS], const char *value[S_NLABELS])
{
    name[0] = "alertname";
    value[0] = a->alertname;
    name[1] = "metric";
    value[1] = a->metric;
    name[2] = "run";
    value[2] = a->run;
    name[3] = "severity";
    value[3] = a->severity;
    name[4] = "tag";
    value[4] = a->tag;
}

void notify_fingerprint(const alert_t *a, char out[17])
{
    const char *name[S_NLABELS], *value[S_NLABELS];
    s_labels(a, name, value);
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < S_NLABELS; i++) {
        const char *parts[2] = {name[i], value[i]};
        for (int p = 0; p < 2; p++) {
            for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++) {
                h ^= *c;
                h *= 1099511628211ull;
            }
            h ^= 0xff; /* model.SeparatorByte */
            h *= 1099511628211ull;
        }
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

void notify_rfc3339(double t, char *out, size_t outlen)
{
    if (!(t > 0)) {
        snprintf(out, outlen, "0001-01-01T00:00:00Z");
        return;
    }
    time_t sec = (time_t)floor(t);
    int ms = (int)((t - (double)sec) * 1000.0);
    if (ms > 999)
        ms = 999;
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, ms);
}

/* Percent-encodes s for a query string (RFC 3986 unreserved kept). */
static void s_urlenc(strbuf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            strbuf_putc(b, (char)*c);
        } else {
            strbuf_putc(b, '%');
            strbuf_putc(b, hex[*c >> 4]);
            strbuf_putc(b, hex[*c & 15]);
        }
    }
}

void notify_generator_url(strbuf_t *b, const char *external_url, const alert_t *a)
{
    const char *base = external_url ? external_url : "";
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    strbuf_append(b, base, len);
    strbuf_puts(b, "/?run=");
    s_urlenc(b, a->run);
    strbuf_puts(b, "&tag=");
    s_urlenc(b, a->tag);
    strbuf_puts(b, "&metric=");
    s_urlenc(b, a->metric);
}

static void s_json_labels(strbuf_t *b, const alert_t *a)
{
    const char *name[S_NLABELS], *value[S_NLABELS];
    s_labels(a, name, value);
    strbuf_putc(b, '{');
    for (int i = 0; i < S_NLABELS; i++) {
        if (i)
            strbuf_putc(b, ',');
        strbuf_json_str(b, name[i]);
        strbuf_putc(b, ':');
        strbuf_json_str(b, value[i]);
    }
    strbuf_putc(b, '}');
}

static void s_json_annotations(strbuf_t *b, const alert_t *a)
{
    char num[64];
    strbuf_puts(b, "{\"summary\":");
    strbuf_json_str(b, a->summary);
    strbuf_puts(b, ",\"description\":");
    strbuf_json_str(b, a->description);
    /* Annotations are strings in Alertmanager's model. */
    snprintf(num, sizeof num, "%.10g", a->value); /* for people; the API has all digits */
    strbuf_puts(b, ",\"value\":");
    strbuf_json_str(b, isnan(a->value) ? "" : num);
    snprintf(num, sizeof num, "%lld",
             (long long)(a->state == ALERT_RESOLVED ? a->resolved_step
                         : a->fired_step >= 0       ? a->fired_step
                                                    : a->last_step));
    strbuf_puts(b, ",\"step\":");
    strbuf_json_str(b, num);
    strbuf_putc(b, '}');
}

static void s_json_time(strbuf_t *b, const char *key, double t)
{
    char ts[40];
    notify_rfc3339(t, ts, sizeof ts);
    strbuf_printf(b, ",\"%s\":\"%s\"", key, ts);
}

/* The start of an alert: when it fired (or, never fired, began). */
static double s_starts_at(const alert_t *a)
{
    return isnan(a->fired_time) ? a->first_time : a->fired_time;
}

void notify_am_alert_json(strbuf_t *b, const alert_t *a, const char *external_url, double ends_at)
{
    strbuf_puts(b, "{\"labels\":");
    s_json_labels(b, a);
    strbuf_puts(b, ",\"annotations\":");
    s_json_annotations(b, a);
    s_json_time(b, "startsAt", s_starts_at(a));
    s_json_time(b, "endsAt", a->state == ALERT_RESOLVED ? a->resolved_time : ends_at);
    strbuf_t url;
    strbuf_init(&url);
    notify_generator_url(&url, external_url, a);
    strbuf_puts(b, ",\"generatorURL\":");
    strbuf_json_str(b, url.data);
    strbuf_free(&url);
    strbuf_putc(b, '}');
}

/* Go's %q for a label value inside groupKey: quotes and backslashes escaped. */
static void s_goquote(strbuf_t *b, const char *s)
{
    strbuf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            strbuf_putc(b, '\\');
        strbuf_putc(b, *s);
    }
    strbuf_putc(b, '"');
}

void notify_webhook_json(strbuf_t *b, const alert_t *a, const char *external_url)
{
    const char *status = a->state == ALERT_RESOLVED ? "resolved" : "firing";
    char fp[17];
    notify_fingerprint(a, fp);
    strbuf_puts(b, "{\"receiver\":\"erwatch\",\"status\":");
    strbuf_json_str(b, status);
    strbuf_puts(b, ",\"alerts\":[{\"status\":");
    strbuf_json_str(b, status);
    strbuf_puts(b, ",\"labels\":");
    s_json_labels(b, a);
    strbuf_puts(b, ",\"annotations\":");
    s_json_annotations(b, a);
    s_json_time(b, "startsAt", s_starts_at(a));
    s_json_time(b, "endsAt", a->state == ALERT_RESOLVED ? a->resolved_time : NAN);
    strbuf_t tmp;
    strbuf_init(&tmp);
    notify_generator_url(&tmp, external_url, a);
    strbuf_puts(b, ",\"generatorURL\":");
    strbuf_json_str(b, tmp.data);
    strbuf_printf(b, ",\"fingerprint\":\"%s\"}]", fp);

    /* One alert per notification: it is its own group, grouped by rule and
     * series, and every label and annotation is common to the group. */
    strbuf_puts(b, ",\"groupLabels\":{\"alertname\":");
    strbuf_json_str(b, a->alertname);
    strbuf_puts(b, ",\"run\":");
    strbuf_json_str(b, a->run);
    strbuf_puts(b, ",\"tag\":");
    strbuf_json_str(b, a->tag);
    strbuf_puts(b, "},\"commonLabels\":");
    s_json_labels(b, a);
    strbuf_puts(b, ",\"commonAnnotations\":");
    s_json_annotations(b, a);
    strbuf_puts(b, ",\"externalURL\":");
    strbuf_json_str(b, external_url ? external_url : "");
    strbuf_puts(b, ",\"version\":\"4\",\"groupKey\":");
    strbuf_reset(&tmp);
    strbuf_puts(&tmp, "{}:{alertname=");
    s_goquote(&tmp, a->alertname);
    strbuf_puts(&tmp, ", run=");
    s_goquote(&tmp, a->run);
    strbuf_puts(&tmp, ", tag=");
    s_goquote(&tmp, a->tag);
    strbuf_putc(&tmp, '}');
    strbuf_json_str(b, tmp.data);
    strbuf_free(&tmp);
    strbuf_puts(b, ",\"truncatedAlerts\":0}");
}

void notify_redact_url(const char *url, char *out, size_t outlen)
{
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t authlen = strcspn(auth, "/?#");
    /* The last '@' of the authority ends the user info (a password may hold '@'). */
    const char *at = NULL;
    for (const char *p = auth; p < auth + authlen; p++)
        if (*p == '@')
            at = p;
    const char *host = at ? at + 1 : auth;
    int hostlen = (int)(auth + authlen - host);
    const char *rest = auth + authlen;
    int more = rest[0] && !(rest[0] == '/' && rest[1] == '\0');
    snprintf(out, outlen, "%.*s%s%.*s%s", (int)(auth - url), url, at ? "***@" : "", hostlen, host,
             more ? "/..." : "");
}
