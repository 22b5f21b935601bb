/* http_static.h: the dashboard's files (GET / and GET /static/...), served
 * from the web directory (http_config_t.web_dir), for http.c's dispatch.
 * http_find_web_dir(), declared in http.h, is defined in http_static.c.
 */
#ifndef ERWATCH_HTTP_STATIC_H
#define ERWATCH_HTTP_STATIC_H

#include <microhttpd.h>

#define HTTP_CT_JSON "application/json; charset=utf-8"
#define HTTP_CT_HTML "text/html; charset=utf-8"

/* 1 when p ("static/app.js") is a path under the web directory we are
 * willing to open: '/'-separated segments of [A-Za-z0-9._-], none empty or
 * starting with '.', shorter than 512 bytes; else 0. */
int http_static_path_ok(const char *p);

/* Answers GET web_dir/rel (rel checked by http_static_path_ok): the file
 * (200, or 304 when If-None-Match has its ETag), or, when web_dir is NULL,
 * an HTML page saying how to install the dashboard (404). Returns 0 with
 * MHD's result in *ret (OUT), or -ENOENT when there is no such regular file
 * (nothing queued: the caller answers the 404). */
int http_static_serve(struct MHD_Connection *c, const char *web_dir, const char *rel,
                      enum MHD_Result *ret);

/* 1 when dir holds a regular file index.html (a dashboard), else 0. */
int http_static_has_index(const char *dir);

#endif
