/* erwatch_key.c: CURVE key files (README.md, "Running on a cluster"), read
 * by the client library, the CLI and erwatchd alike, so that one parser
 * decides what a key file is.
 *
 * A key file is text: '#' comment lines, blank lines, and one line holding
 * the key in Z85 (40 characters, 32 bytes). Z85 has '#' among its
 * characters (though never first in a key), so a line is a key when it is
 * one (40 Z85 characters, up to the first blank), else a comment when it
 * starts with '#'. `erwatch keygen` writes a first
 * comment naming the kind ("# erwatch curve secret key ..." or "public
 * key"); when that comment is there, a file of the other kind is refused,
 * so a public key given where the secret belongs is an error at start
 * rather than a handshake that fails for unclear reasons. A client list is
 * the same lines with one public key each, optionally followed by a name.
 */
#include "erwatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "erwatch_alloc.h"

#define S_FILE_MAX (1u << 20) /* a key list of ~20000 keys */

static int s_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int erwatch_key_valid(const char *z85)
{
    uint8_t raw[32];
    return strlen(z85) == ERWATCH_KEY_Z85_LEN && zmq_z85_decode(raw, z85) != NULL;
}

/* Reads a whole (small) file into a NUL-terminated buffer the caller frees. */
static char *s_slurp(const char *path, const char *what, char *err, size_t errlen, int *rc)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *rc = s_fail(err, errlen, -errno, "cannot read %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = erwatch__malloc(S_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        *rc = s_fail(err, errlen, -ENOMEM, "out of memory");
        return NULL;
    }
    size_t n = fread(buf, 1, S_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > S_FILE_MAX) {
        free(buf);
        *rc = s_fail(err, errlen, bad ? -EIO : -EFBIG, "cannot read %s '%s': %s", what, path,
                     bad ? "read error" : "larger than 1 MiB");
        return NULL;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        free(buf);
        *rc = s_fail(err, errlen, -EINVAL, "%s '%s' is not a text file", what, path);
        return NULL;
    }
    return buf;
}

/* The next line of *p (NUL-terminated in place, trimmed), advancing *p;
 * NULL at the end. */
static char *s_line(char **p)
{
    if (!**p)
        return NULL;
    char *line = *p;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = line + strlen(line);
    }
    while (*line == ' ' || *line == '\t')
        line++;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        line[--len] = '\0';
    return line;
}

int erwatch_key_read(const char *path, int secret, char out[ERWATCH_KEY_Z85_LEN + 1], char *err,
                     size_t errlen)
{
    const char *what = secret ? "secret key file" : "public key file";
    if (!path || !*path)
        return s_fail(err, errlen, -EINVAL, "no %s given", what);
    int rc = 0;
    char *buf = s_slurp(path, what, err, errlen, &rc);
    if (!buf)
        return rc;
    char *p = buf, *line;
    int lineno = 0, found = 0;
    rc = 0;
    while ((line = s_line(&p)) != NULL && rc == 0) {
        lineno++;
        if (!*line)
            continue;
        if (*line == '#' && !erwatch_key_valid(line)) {
            int says_secret = strstr(line, "erwatch curve secret key") != NULL;
            int says_public = strstr(line, "erwatch curve public key") != NULL;
            if ((secret && says_public) || (!secret && says_secret))
                rc = s_fail(err, errlen, -EINVAL,
                            "'%s' holds a %s key, where a %s key is expected (keygen "
                            "writes NAME.key, secret, and NAME.pub, public)",
                            path, says_secret ? "secret" : "public", secret ? "secret" : "public");
            continue;
        }
        if (found)
            rc = s_fail(err, errlen, -EINVAL, "%s '%s' line %d: a second key (one per file)", what,
                        path, lineno);
        else if (!erwatch_key_valid(line))
            rc = s_fail(err, errlen, -EINVAL,
                        "%s '%s' line %d: not a CURVE key (40 characters of Z85, as "
                        "`erwatch keygen` writes)",
                        what, path, lineno);
        else {
            memcpy(out, line, ERWATCH_KEY_Z85_LEN + 1);
            found = 1;
        }
    }
    free(buf);
    if (rc == 0 && !found)
        rc = s_fail(err, errlen, -EINVAL, "%s '%s' holds no key", what, path);
    return rc;
}

int erwatch_key_list_read(const char *path, char (**keys)[ERWATCH_KEY_Z85_LEN + 1], size_t *nkeys,
                          char *err, size_t errlen)
{
    *keys = NULL;
    *nkeys = 0;
    int rc = 0;
    char *buf = s_slurp(path, "client key list", err, errlen, &rc);
    if (!buf)
        return rc;
    size_t cap = 0;
    char(*k)[ERWATCH_KEY_Z85_LEN + 1] = NULL;
    char *p = buf, *line;
    int lineno = 0;
    while ((line = s_line(&p)) != NULL) {
        lineno++;
        size_t len = strcspn(line, " \t");
        char key[ERWATCH_KEY_Z85_LEN + 1];
        int is_key = len == ERWATCH_KEY_Z85_LEN;
        if (is_key) {
            memcpy(key, line, len);
            key[len] = '\0';
            is_key = erwatch_key_valid(key);
        }
        if (*line == '#' && !is_key && strstr(line, "erwatch curve secret key")) {
            rc = s_fail(err, errlen, -EINVAL,
                        "client key list '%s' line %d: a secret key file was pasted here; "
                        "list the clients' .pub files (and make a new pair for that one)",
                        path, lineno);
            break;
        }
        if (!*line || (*line == '#' && !is_key))
            continue;
        if (len != ERWATCH_KEY_Z85_LEN) {
            rc = s_fail(err, errlen, -EINVAL,
                        "client key list '%s' line %d: not a CURVE public key (40 "
                        "characters of Z85, then optionally a name)",
                        path, lineno);
            break;
        }
        memcpy(key, line, len);
        key[len] = '\0';
        if (!erwatch_key_valid(key)) {
            rc = s_fail(err, errlen, -EINVAL, "client key list '%s' line %d: '%s' is not valid Z85",
                        path, lineno, key);
            break;
        }
        if (*nkeys == cap) {
            cap = cap ? 2 * cap : 16;
            void *nk = erwatch__realloc(k, cap * sizeof *k);
            if (!nk) {
                rc = s_fail(err, errlen, -ENOMEM, "out of memory");
                break;
            }
            k = nk;
        }
        memcpy(k[(*nkeys)++], key, sizeof key);
    }
    free(buf);
    if (rc) {
        free(k);
        *nkeys = 0;
        return rc;
    }
    *keys = k;
    return 0;
}
