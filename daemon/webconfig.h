/* webconfig.h: --web-config FILE, TLS and basic auth for the HTTP API in the
 * format Prometheus and its exporters read (exporter-toolkit's web
 * configuration), so operators reuse the file they have:
 *
 *   tls_server_config:
 *     cert_file: server.crt      # PEM; relative paths are relative to FILE
 *     key_file: server.key
 *   basic_auth_users:
 *     alice: $2y$10$...          # bcrypt (htpasswd -B, python3-bcrypt)
 *
 * Other keys of that format erwatchd does not implement (client_auth_type,
 * http_server_config, ...) are an error at start, not silently ignored.
 * Passwords are checked with libcrypt's crypt_rn (bcrypt $2a$/$2b$/$2y$);
 * a pair that passed is remembered (a few, in memory), so a dashboard's
 * polling does not pay bcrypt's cost on every request.
 */
#ifndef ERWATCH_WEBCONFIG_H
#define ERWATCH_WEBCONFIG_H

#include <stddef.h>

typedef struct webconfig webconfig_t;

/* Reads and checks FILE (and the certificate and key it names). Returns 0
 * with *out, or -1 with err naming the file, the key and what is wrong. */
int webconfig_load(const char *path, webconfig_t **out, char *err, size_t errlen);
void webconfig_destroy(webconfig_t **w);

/* The PEM certificate and key, or NULL without tls_server_config. */
const char *webconfig_cert_pem(const webconfig_t *w);
const char *webconfig_key_pem(const webconfig_t *w);
/* The number of basic_auth_users. */
size_t webconfig_nusers(const webconfig_t *w);
/* 1 when user and password match a basic_auth_users entry. Thread-safe. */
int webconfig_check(webconfig_t *w, const char *user, const char *password);

#endif
