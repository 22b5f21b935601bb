/* cli.c: helpers shared by the `erwatch` subcommands: the option parser and
 * number parsing that reports bad input as one line naming the option.
 *
 * The parser is hand-rolled rather than getopt_long so that every message is
 * ours ("erwatch push: --step needs a value") and so that options and
 * positional arguments can be mixed freely in any order.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ew_name.h"

#define S_STR_(x) #x
#define S_STR(x) S_STR_(x) /* a macro's value as a string literal */

int cli_fail(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* ---------------------------------------------------------------- options */

void cli_args_init(cli_args_t *a, const char *cmd, int argc, char **argv)
{
    a->cmd = cmd;
    a->argc = argc;
    a->argv = argv;
    a->i = 1; /* argv[0] is the subcommand itself */
    a->no_more_opts = 0;
}

int cli_next(cli_args_t *a, const cli_opt_t *opts, const char **value)
{
    *value = NULL;
    if (a->i >= a->argc)
        return CLI_DONE;
    const char *arg = a->argv[a->i++];
    if (a->no_more_opts || arg[0] != '-' || arg[1] == '\0') {
        *value = arg; /* "-" alone is a positional (stdin by convention) */
        return CLI_ARG;
    }
    if (strcmp(arg, "--") == 0) {
        a->no_more_opts = 1;
        return cli_next(a, opts, value);
    }

    int k = -1;
    const char *inline_val = NULL;
    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        for (int i = 0; opts[i].name; i++)
            if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
                k = i;
        if (k < 0) {
            cli_fail(a->cmd, CLI_USAGE, "unknown option '--%.*s' (see --help)", (int)len, name);
            return CLI_BAD;
        }
        if (eq) {
            if (!opts[k].takes_value) {
                cli_fail(a->cmd, CLI_USAGE, "--%s takes no value", opts[k].name);
                return CLI_BAD;
            }
            inline_val = eq + 1;
        }
    } else {
        for (int i = 0; opts[i].name; i++)
            if (opts[i].short_name && opts[i].short_name == arg[1] && arg[2] == '\0')
                k = i;
        if (k < 0) {
            /* "-1.5" is a value, not an option, but no subcommand takes a
             * negative positional; report it as what it looks like. */
            cli_fail(a->cmd, CLI_USAGE, "unknown option '%s' (see --help)", arg);
            return CLI_BAD;
        }
    }
    if (opts[k].takes_value) {
        if (inline_val) {
            *value = inline_val;
        } else if (a->i < a->argc) {
            *value = a->argv[a->i++];
        } else {
            cli_fail(a->cmd, CLI_USAGE, "--%s needs a value", opts[k].name);
            return CLI_BAD;
        }
    }
    return k;
}

/* ---------------------------------------------------------------- values */

int cli_parse_double(const char *cmd, const char *what, const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end); /* overflow gives inf; underflow a tiny value */
    if (end == s || *end != '\0' || !isfinite(v)) {
        cli_fail(cmd, CLI_USAGE, "%s: '%s' is not a finite number", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_i64(const char *cmd, const char *what, const char *s, int64_t min, int64_t max,
                  int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) {
        cli_fail(cmd, CLI_USAGE, "%s: '%s' is not an integer", what, s);
        return -1;
    }
    if (v < min || v > max) {
        cli_fail(cmd, CLI_USAGE, "%s: %lld is out of range [%lld, %lld]", what, v, (long long)min,
                 (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_shape(const char *cmd, const char *s, size_t *n, size_t *d)
{
    char *end;
    errno = 0;
    unsigned long long a = strtoull(s, &end, 10);
    if (end == s || *end != ',' || s[0] == '-' || errno == ERANGE)
        goto bad;
    const char *s2 = end + 1;
    unsigned long long b = strtoull(s2, &end, 10);
    if (end == s2 || *end != '\0' || s2[0] == '-' || errno == ERANGE)
        goto bad;
    if (a < 1 || b < 1 || a > SIZE_MAX / 8 / b)
        goto bad;
    *n = (size_t)a;
    *d = (size_t)b;
    return 0;
bad:
    cli_fail(cmd, CLI_USAGE, "--shape: '%s' is not N,d with N, d >= 1", s);
    return -1;
}

const char *cli_name_problem(const char *name)
{
    switch (ew_name_check(name, strlen(name), NULL)) {
    case EW_NAME_OK:
        return NULL;
    case EW_NAME_EMPTY:
        return "is empty";
    case EW_NAME_TOO_LONG:
        return "is longer than " S_STR(EW_NAME_MAX) " bytes";
    case EW_NAME_CONTROL:
        return "contains a control character";
    case EW_NAME_BAD_UTF8:
        return "is not valid UTF-8";
    }
    return "is not a valid name";
}
