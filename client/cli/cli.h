/* cli.h: what the `erwatch` subcommands share: the entry point of each
 * subcommand, a small option parser, and number parsing with messages.
 *
 * Conventions every subcommand keeps: errors are one line on stderr that
 * starts with the command ("erwatch compute: ..."); exit code 2 for usage
 * errors, 1 for runtime errors, 0 for success. `--help` prints the usage on
 * stdout and exits 0.
 */
#ifndef ERWATCH_CLI_H
#define ERWATCH_CLI_H

#include <stddef.h>
#include <stdint.h>

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

/* Subcommands: argv[0] is the subcommand name. Return the exit code. */
int cmd_compute(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_rm(int argc, char **argv); /* cmd_runs.c */
int cmd_mv(int argc, char **argv);
int cmd_keygen(int argc, char **argv); /* cmd_keygen.c */

/* Prints "<cmd>: <message>\n" on stderr and returns code. */
int cli_fail(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- options */

/* One option: "--name" (and "-c" when short_name is set). Options that take
 * a value accept "--name VALUE" and "--name=VALUE". */
typedef struct {
    const char *name;
    char short_name; /* 0: none */
    int takes_value;
} cli_opt_t;

typedef struct {
    const char *cmd; /* for messages, e.g. "erwatch compute" */
    int argc;
    char **argv;
    int i;            /* next argv index */
    int no_more_opts; /* after "--" */
} cli_args_t;

enum { CLI_ARG = -1, CLI_DONE = -2, CLI_BAD = -3 };

void cli_args_init(cli_args_t *a, const char *cmd, int argc, char **argv);

/* Next item of argv. Returns the index of the matched option in opts (the
 * table ends with a zero entry; *value set when it takes one), CLI_ARG for
 * a positional argument (*value is it), CLI_DONE at the end, or CLI_BAD for
 * an unknown option or a missing value (message already printed). */
int cli_next(cli_args_t *a, const cli_opt_t *opts, const char **value);

/* ---------------------------------------------------------------- values */

/* Each returns 0, or prints "<cmd>: <what> ..." and returns -1. */
int cli_parse_double(const char *cmd, const char *what, const char *s, double *out);
int cli_parse_i64(const char *cmd, const char *what, const char *s, int64_t min, int64_t max,
                  int64_t *out);
/* "N,d" with both >= 1. */
int cli_parse_shape(const char *cmd, const char *s, size_t *n, size_t *d);

/* Checks the protocol's name rule (ew_name.h: 1..128 bytes of UTF-8, no
 * control characters); returns NULL or what is wrong ("is empty", ...). */
const char *cli_name_problem(const char *name);

#endif
