/* api.h: the CLI's client of erwatchd's HTTP API, shared by `erwatch query`,
 * `erwatch export`, `erwatch rm` and `erwatch mv`: where the daemon is
 * (--http, $ERWATCH_HTTP, the default), GET (POST for rm and mv) with
 * escaped parameters, answers parsed with jansson, and
 * the server's {"error": "..."} shown as one line. Also the number and CSV
 * spelling both commands print.
 *
 * Ownership: cli_api_open() fills a caller-owned cli_api_t that
 * cli_api_close() releases; cli_api_get_json() returns a json_t the caller
 * json_decref()s.
 */
#ifndef ERWATCH_CLI_API_H
#define ERWATCH_CLI_API_H

#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#include "erwatch_body.h"

typedef struct {
    const char *cmd;  /* for messages, e.g. "erwatch query" */
    const char *base; /* the URL as the user gave it, for messages */
    size_t baselen;   /* without trailing slashes */
    CURL *h;
} cli_api_t;

/* base NULL: $ERWATCH_HTTP, else http://127.0.0.1:8080. Returns 0, or
 * prints the problem and returns the exit code. */
int cli_api_open(cli_api_t *a, const char *cmd, const char *base);
void cli_api_close(cli_api_t *a);

/* GETs base + path with params (name, value pairs, NULL-terminated;
 * values escaped here). Returns 0 with the body of a 2xx answer, or prints
 * the error (unreachable, HTTP status with the server's message) and
 * returns the exit code. body is caller-owned (erwatch__body_free). */
int cli_api_get(cli_api_t *a, const char *path, const char *const *params, erwatch__body_t *body);

/* The same as a POST carrying the header X-Erwatch-Request: 1, for the
 * API's writes (erwatch rm, erwatch mv). */
int cli_api_post(cli_api_t *a, const char *path, const char *const *params, erwatch__body_t *body);

/* cli_api_get() and a parse of the answer as a JSON object. Returns it, or
 * NULL with *rc set to the exit code (message printed). */
json_t *cli_api_get_json(cli_api_t *a, const char *path, const char *const *params, int *rc);

/* The shortest decimal that reads back as v ("%.17g" at most); "" for a
 * non-finite v. out has at least 32 bytes. */
const char *cli_fmt_num(char *out, double v);

/* s as one CSV field (RFC 4180: quoted when it holds a comma, quote or
 * line break). */
void cli_csv_field(FILE *f, const char *s);

#endif
