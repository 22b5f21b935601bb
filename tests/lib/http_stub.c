/* http_stub.c: a fixed-answer HTTP server for unit tests (http_stub.h).
 * libmicrohttpd's internal polling thread answers every request from the
 * route table; nothing here allocates per request but MHD itself, so a test
 * that injects allocation failures into the client library (fault.h) never
 * hits the server's side.
 */
#include "http_stub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct http_stub {
    struct MHD_Daemon *mhd;
    const http_stub_route_t *routes;
    atomic_long requests;
    char url[64];
};

static const char s_not_found[] = "{\"error\":\"no such endpoint\"}";

static enum MHD_Result s_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_len, void **con_cls)
{
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)con_cls;
    http_stub_t *s = cls;
    unsigned status = MHD_HTTP_NOT_FOUND;
    const char *body = s_not_found;
    for (const http_stub_route_t *r = s->routes; r->path; r++)
        if (strcmp(r->path, url) == 0) {
            status = r->status;
            body = r->body;
            break;
        }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    atomic_fetch_add(&s->requests, 1); /* before the client can see the answer */
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

http_stub_t *http_stub_start(const http_stub_route_t *routes)
{
    http_stub_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->routes = routes;
    atomic_init(&s->requests, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->mhd =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                         s_answer, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        s->mhd ? MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info || info->port == 0) {
        fprintf(stderr, "http_stub: cannot listen on 127.0.0.1\n");
        http_stub_stop(&s);
        return NULL;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", (unsigned)info->port);
    return s;
}

const char *http_stub_url(const http_stub_t *s)
{
    return s->url;
}

long http_stub_requests(const http_stub_t *s)
{
    return atomic_load(&((http_stub_t *)s)->requests);
}

void http_stub_stop(http_stub_t **sp)
{
    if (!sp || !*sp)
        return;
    if ((*sp)->mhd)
        MHD_stop_daemon((*sp)->mhd);
    free(*sp);
    *sp = NULL;
}
