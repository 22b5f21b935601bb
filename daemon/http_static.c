/* http_static.c: the dashboard's files, served from the web directory
 * (see http_static.h), and where that directory is found.
 *
 * Design decisions a reader must know:
 * - Files are served only from a fixed layout (index.html and static/...),
 *   with every path segment made of [A-Za-z0-9._-] and not starting with
 *   '.', so "..", hidden files and encoded tricks never reach open(). The
 *   URL MHD hands us is already percent-decoded. The file is opened
 *   beneath the web directory without following any symlink on the way
 *   (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; where the kernel
 *   lacks it, one openat(O_NOFOLLOW) per path segment), so a link planted
 *   inside the folder cannot serve a file from outside it.
 * - MHD sends a file from its descriptor (no copy in memory); an ETag of
 *   size and mtime answers an unchanged file with a 304.
 */
#include "http_static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "http.h"

#define S_MAX_PATH 512 /* bytes of a file's path under the web directory */

/* ------------------------------------------------------------ paths */

int http_static_path_ok(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || len >= S_MAX_PATH)
        return 0;
    int seg_start = 1;
    for (const char *q = p; *q; q++) {
        char ch = *q;
        if (ch == '/') {
            if (seg_start)
                return 0; /* empty segment: "//" or a leading '/' */
            seg_start = 1;
            continue;
        }
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-' || ch == '.';
        if (!ok || (seg_start && ch == '.'))
            return 0;
        seg_start = 0;
    }
    return !seg_start; /* no trailing '/' */
}

static const char *s_content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", HTTP_CT_HTML},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", HTTP_CT_JSON},
        {".map", HTTP_CT_JSON},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* The page / shows when no dashboard is installed. */
static enum MHD_Result s_not_installed(struct MHD_Connection *c)
{
    static const char page[] = "<!doctype html><meta charset=utf-8><title>erwatch</title>"
                               "<p>The erwatch dashboard is not installed: erwatchd found no "
                               "web directory. Build it with <code>make</code> (it lands in "
                               "build/web) or pass <code>--web DIR</code>.</p>"
                               "<p>The JSON API works: <a href=\"/api/runs\">/api/runs</a>, "
                               "<a href=\"/api/health\">/api/health</a>.</p>\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof page - 1, (void *)page, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, HTTP_CT_HTML);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
    MHD_destroy_response(r);
    return ret;
}

/* Opens rel (a checked relative path) beneath dirfd, following no
 * symlink. Returns an fd or -1 (errno set). */
static int s_open_beneath(int dirfd, const char *rel)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
        return (int)fd;
    /* No openat2 (kernel < 5.6, or a seccomp filter): the same walk by
     * hand, one segment at a time, none of them a symlink. */
    char seg[S_MAX_PATH];
    int cur = dirfd;
    for (const char *p = rel;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || n >= sizeof seg) {
            if (cur != dirfd)
                close(cur);
            errno = ENOENT;
            return -1;
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        int last = p[n] == '\0';
        int next = openat(cur, seg,
                          last ? O_RDONLY | O_CLOEXEC | O_NOFOLLOW
                               : O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        int e = errno;
        if (cur != dirfd)
            close(cur);
        if (next < 0 || last) {
            errno = e;
            return next;
        }
        cur = next;
        p += n + 1;
    }
}

/* Files are revalidated on every load (no-cache + ETag), so a rebuilt
 * dashboard is picked up at once while unchanged files cost a 304. */
int http_static_serve(struct MHD_Connection *c, const char *web_dir, const char *rel,
                      enum MHD_Result *ret)
{
    if (!web_dir) {
        *ret = s_not_installed(c);
        return 0;
    }
    if (strlen(rel) >= S_MAX_PATH)
        return -ENOENT;
    int dirfd = open(web_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = dirfd >= 0 ? s_open_beneath(dirfd, rel) : -1;
    if (dirfd >= 0)
        close(dirfd);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return -ENOENT;
    }
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);

    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    const char *inm =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && strcmp(inm, etag) == 0) {
        close(fd);
        status = MHD_HTTP_NOT_MODIFIED;
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        /* MHD owns fd from here (it closes it, also on failure). */
        r = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    }
    if (!r) {
        *ret = MHD_NO;
        return 0;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, s_content_type(rel));
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (strcmp(rel, "index.html") == 0)
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data: blob:; "
                                "style-src 'self' 'unsafe-inline'; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'");
    *ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return 0;
}

/* ------------------------------------------------------------ web dir */

int http_static_has_index(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/index.html", dir);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int http_find_web_dir(char *out, size_t outlen)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char cand[3][PATH_MAX];
    int ncand = 0;
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(cand[ncand++], PATH_MAX, "%.*s/web", PATH_MAX - 8, exe);
            snprintf(cand[ncand++], PATH_MAX, "%.*s/../share/erwatch/web", PATH_MAX - 32, exe);
        }
    }
    snprintf(cand[ncand++], PATH_MAX, "build/web");
    for (int i = 0; i < ncand; i++) {
        char real[PATH_MAX];
        if (http_static_has_index(cand[i]) && realpath(cand[i], real) && strlen(real) < outlen) {
            snprintf(out, outlen, "%s", real);
            return 0;
        }
    }
    return -ENOENT;
}
