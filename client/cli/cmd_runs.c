/* cmd_runs.c: `erwatch rm RUN` and `erwatch mv OLD NEW`, through the
 * daemon's HTTP API (POST /api/runs/delete and /rename, with the header the
 * API requires of writes) by the CLI's one HTTP client (api.h), which finds
 * the daemon the way `erwatch query` does.
 *
 * The daemon's writer thread does the work, so both are safe while
 * training jobs write; the CLI never opens the database.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* POSTs path with the parameters (name, value pairs, NULL-terminated);
 * prints done on success. */
static int s_post(const char *cmd, const char *base, const char *path, const char *const *params,
                  const char *done)
{
    cli_api_t a;
    int rc = cli_api_open(&a, cmd, base);
    if (rc != 0)
        return rc;
    erwatch__body_t body = {0};
    rc = cli_api_post(&a, path, params, &body);
    erwatch__body_free(&body);
    cli_api_close(&a);
    if (rc == 0)
        printf("%s\n", done);
    return rc;
}

static int s_run(const char *cmd, int argc, char **argv, int nargs, const char *usage)
{
    static const cli_opt_t opts[] = {
        {"help", 'h', 0},
        {"http", 0, 1},
        {NULL, 0, 0},
    };
    const char *base = NULL, *args[2] = {NULL, NULL};
    int nargs_seen = 0;
    cli_args_t a;
    cli_args_init(&a, cmd, argc, argv);
    for (;;) {
        const char *v;
        int k = cli_next(&a, opts, &v);
        if (k == CLI_DONE)
            break;
        if (k == CLI_BAD)
            return CLI_USAGE;
        if (k == CLI_ARG) {
            if (nargs_seen == nargs)
                return cli_fail(cmd, CLI_USAGE, "unexpected argument '%s' (see --help)", v);
            args[nargs_seen++] = v;
        } else if (k == 0) {
            fputs(usage, stdout);
            return CLI_OK;
        } else {
            base = v;
        }
    }
    if (nargs_seen < nargs)
        return cli_fail(cmd, CLI_USAGE, "%s (see --help)",
                        nargs == 1 ? "which run? erwatch rm RUN"
                                   : "erwatch mv OLD NEW needs both names");
    for (int i = 0; i < nargs; i++) {
        const char *why = cli_name_problem(args[i]);
        if (why)
            return cli_fail(cmd, CLI_USAGE, "run name '%s' %s", args[i], why);
    }
    if (nargs == 2 && strcmp(args[0], args[1]) == 0)
        return cli_fail(cmd, CLI_USAGE, "run '%s' already has that name", args[0]);
    char done[600];
    if (nargs == 1) {
        const char *const params[] = {"run", args[0], NULL};
        snprintf(done, sizeof done, "deleted run '%s'", args[0]);
        return s_post(cmd, base, "/api/runs/delete", params, done);
    }
    const char *const params[] = {"run", args[0], "to", args[1], NULL};
    snprintf(done, sizeof done, "renamed run '%s' to '%s'", args[0], args[1]);
    return s_post(cmd, base, "/api/runs/rename", params, done);
}

int cmd_rm(int argc, char **argv)
{
    return s_run("erwatch rm", argc, argv, 1,
                 "usage: erwatch rm [--http URL] RUN\n"
                 "\n"
                 "Deletes a run: its points, batches, spectra and alerts. erwatchd does\n"
                 "it (safe while jobs write); batches that arrive later under the same\n"
                 "name start a new run. Exit code 1 when there is no such run.\n"
                 "\n"
                 "options:\n"
                 "  --http URL   API base URL (default $ERWATCH_HTTP, else http://127.0.0.1:8080)\n"
                 "  -h, --help   this help\n");
}

int cmd_mv(int argc, char **argv)
{
    return s_run("erwatch mv", argc, argv, 2,
                 "usage: erwatch mv [--http URL] OLD NEW\n"
                 "\n"
                 "Renames a run, its alerts with it. erwatchd does it (safe while jobs\n"
                 "write); batches that arrive later under OLD start a new run OLD.\n"
                 "Refused, with nothing changed, when NEW exists or OLD does not.\n"
                 "\n"
                 "options:\n"
                 "  --http URL   API base URL (default $ERWATCH_HTTP, else http://127.0.0.1:8080)\n"
                 "  -h, --help   this help\n");
}
