/* webconfig.c: --web-config (see webconfig.h). libyaml's document API reads
 * the file; every value is checked here so a mistake is one message at
 * start. A verified (user, password) pair is kept in a small ring under a
 * mutex: bcrypt costs tens of milliseconds by design, and the dashboard
 * sends a request every second or so.
 */
#include "webconfig.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define S_NAME_MAX 128
#define S_HASH_MAX 128
#define S_PASS_MAX 256
#define S_USERS_MAX 1024
#define S_PEM_MAX (1u << 20)
#define S_CACHE 16

typedef struct {
    char name[S_NAME_MAX + 1];
    char hash[S_HASH_MAX + 1];
} s_user_t;

typedef struct {
    char user[S_NAME_MAX + 1];
    char pass[S_PASS_MAX + 1];
} s_ok_t;

struct webconfig {
    char *cert_pem, *key_pem;
    s_user_t *users;
    size_t nusers;
    pthread_mutex_t lock; /* cache, next */
    s_ok_t cache[S_CACHE];
    size_t next;
};

/* Constant-time string equality (lengths compared openly). */
static int s_same(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b))
        return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static const char *s_scalar(yaml_document_t *doc, yaml_node_t *n)
{
    (void)doc;
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* path relative to the config file's folder unless absolute. */
static void s_resolve(const char *cfg, const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(cfg, '/');
    if (path[0] == '/' || !slash)
        snprintf(out, outlen, "%s", path);
    else
        snprintf(out, outlen, "%.*s/%s", (int)(slash - cfg), cfg, path);
}

static char *s_read_pem(const char *cfg, const char *key, const char *file, char *err,
                        size_t errlen)
{
    char path[4096];
    s_resolve(cfg, file, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "--web-config %s: tls_server_config.%s: cannot read '%s': %s", cfg,
                 key, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(S_PEM_MAX + 1);
    if (!buf)
        abort();
    size_t n = fread(buf, 1, S_PEM_MAX + 1, f);
    fclose(f);
    buf[n < S_PEM_MAX ? n : S_PEM_MAX] = '\0';
    if (n > S_PEM_MAX || !strstr(buf, "-----BEGIN ")) {
        snprintf(err, errlen, "--web-config %s: tls_server_config.%s: '%s' is not a PEM file", cfg,
                 key, path);
        free(buf);
        return NULL;
    }
    return buf;
}

static int s_tls(webconfig_t *w, const char *cfg, yaml_document_t *doc, yaml_node_t *map, char *err,
                 size_t errlen)
{
    if (map->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "--web-config %s: tls_server_config must be a mapping", cfg);
        return -1;
    }
    const char *cert = NULL, *key = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = s_scalar(doc, yaml_document_get_node(doc, p->key));
        const char *v = s_scalar(doc, yaml_document_get_node(doc, p->value));
        if (k && !strcmp(k, "cert_file"))
            cert = v;
        else if (k && !strcmp(k, "key_file"))
            key = v;
        else {
            snprintf(err, errlen,
                     "--web-config %s: tls_server_config.%s is not supported by erwatchd "
                     "(it reads cert_file and key_file)",
                     cfg, k ? k : "?");
            return -1;
        }
        if (!v || !*v) {
            snprintf(err, errlen, "--web-config %s: tls_server_config.%s must be a file name", cfg,
                     k);
            return -1;
        }
    }
    if (!cert || !key) {
        snprintf(err, errlen,
                 "--web-config %s: tls_server_config needs both cert_file and "
                 "key_file",
                 cfg);
        return -1;
    }
    w->cert_pem = s_read_pem(cfg, "cert_file", cert, err, errlen);
    w->key_pem = w->cert_pem ? s_read_pem(cfg, "key_file", key, err, errlen) : NULL;
    return w->key_pem ? 0 : -1;
}

static int s_users(webconfig_t *w, const char *cfg, yaml_document_t *doc, yaml_node_t *map,
                   char *err, size_t errlen)
{
    if (map->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen,
                 "--web-config %s: basic_auth_users must be a mapping of "
                 "user: bcrypt hash",
                 cfg);
        return -1;
    }
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n > S_USERS_MAX) {
        snprintf(err, errlen, "--web-config %s: more than %d basic_auth_users", cfg, S_USERS_MAX);
        return -1;
    }
    w->users = calloc(n ? n : 1, sizeof *w->users);
    if (!w->users)
        abort();
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = s_scalar(doc, yaml_document_get_node(doc, p->key));
        const char *v = s_scalar(doc, yaml_document_get_node(doc, p->value));
        if (!k || !*k || strlen(k) > S_NAME_MAX || strchr(k, ':')) {
            snprintf(err, errlen,
                     "--web-config %s: basic_auth_users: '%s' is not a user "
                     "name (1..128 bytes, no ':')",
                     cfg, k ? k : "?");
            return -1;
        }
        int bcrypt = v &&
                     (!strncmp(v, "$2a$", 4) || !strncmp(v, "$2b$", 4) || !strncmp(v, "$2y$", 4)) &&
                     strlen(v) == 60;
        if (!bcrypt) {
            snprintf(err, errlen,
                     "--web-config %s: basic_auth_users.%s: not a bcrypt hash "
                     "($2y$..., 60 characters, from htpasswd -nB or python3-bcrypt)",
                     cfg, k);
            return -1;
        }
        snprintf(w->users[w->nusers].name, sizeof w->users[0].name, "%s", k);
        snprintf(w->users[w->nusers].hash, sizeof w->users[0].hash, "%s", v);
        w->nusers++;
    }
    return 0;
}

int webconfig_load(const char *path, webconfig_t **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "--web-config %s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_file(&parser, f);
    int loaded = yaml_parser_load(&parser, &doc);
    fclose(f);
    if (!loaded) {
        snprintf(err, errlen, "--web-config %s line %zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "bad YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    webconfig_t *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    pthread_mutex_init(&w->lock, NULL);
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen,
                 "--web-config %s: expected a mapping with tls_server_config "
                 "and/or basic_auth_users",
                 path);
        rc = -1;
    }
    for (yaml_node_pair_t *p = rc ? NULL : root->data.mapping.pairs.start;
         p && p < root->data.mapping.pairs.top && rc == 0; p++) {
        const char *k = s_scalar(&doc, yaml_document_get_node(&doc, p->key));
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (k && !strcmp(k, "tls_server_config"))
            rc = s_tls(w, path, &doc, v, err, errlen);
        else if (k && !strcmp(k, "basic_auth_users"))
            rc = s_users(w, path, &doc, v, err, errlen);
        else {
            snprintf(err, errlen,
                     "--web-config %s: '%s' is not supported by erwatchd (it "
                     "reads tls_server_config and basic_auth_users)",
                     path, k ? k : "?");
            rc = -1;
        }
    }
    yaml_document_delete(&doc);
    if (rc != 0) {
        webconfig_destroy(&w);
        return -1;
    }
    *out = w;
    return 0;
}

void webconfig_destroy(webconfig_t **wp)
{
    webconfig_t *w = wp ? *wp : NULL;
    if (!w)
        return;
    free(w->cert_pem);
    if (w->key_pem) {
        memset(w->key_pem, 0, strlen(w->key_pem));
        free(w->key_pem);
    }
    free(w->users);
    memset(w->cache, 0, sizeof w->cache);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *wp = NULL;
}

const char *webconfig_cert_pem(const webconfig_t *w)
{
    return w ? w->cert_pem : NULL;
}

const char *webconfig_key_pem(const webconfig_t *w)
{
    return w ? w->key_pem : NULL;
}

size_t webconfig_nusers(const webconfig_t *w)
{
    return w ? w->nusers : 0;
}

int webconfig_check(webconfig_t *w, const char *user, const char *password)
{
    if (!user || !password || strlen(user) > S_NAME_MAX || strlen(password) > S_PASS_MAX)
        return 0;
    const s_user_t *u = NULL;
    for (size_t i = 0; i < w->nusers; i++)
        if (!strcmp(w->users[i].name, user))
            u = &w->users[i];
    if (!u)
        return 0;
    pthread_mutex_lock(&w->lock);
    int hit = 0;
    for (size_t i = 0; i < S_CACHE; i++)
        hit |= w->cache[i].user[0] && !strcmp(w->cache[i].user, user) &&
               s_same(w->cache[i].pass, password);
    pthread_mutex_unlock(&w->lock);
    if (hit)
        return 1;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        abort();
    const char *h = crypt_rn(password, u->hash, cd, (int)sizeof *cd);
    int ok = h && s_same(h, u->hash);
    memset(cd, 0, sizeof *cd);
    free(cd);
    if (ok) {
        pthread_mutex_lock(&w->lock);
        s_ok_t *e = &w->cache[w->next++ % S_CACHE];
        snprintf(e->user, sizeof e->user, "%s", user);
        snprintf(e->pass, sizeof e->pass, "%s", password);
        pthread_mutex_unlock(&w->lock);
    }
    return ok;
}
