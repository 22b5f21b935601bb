/* main.c: `erwatch`, the command-line tool. Dispatches to a subcommand
 * (compute, push, query, export, rm, mv), each in its own cmd_*.c; everything but this
 * dispatch lives in build/libewcli.a so that tests link the same code.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "config.h" /* EW_VERSION, shared with erwatchd */

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;
} s_command_t;

static const s_command_t S_COMMANDS[] = {
    {"compute", cmd_compute, "compute a metric offline, in double precision"},
    {"push", cmd_push, "send one batch of embeddings to erwatchd"},
    {"query", cmd_query, "read runs and series from erwatchd's HTTP API"},
    {"export", cmd_export, "one run's series as a wide CSV or JSON table"},
    {"rm", cmd_rm, "delete a run (erwatchd does it, safe while jobs write)"},
    {"mv", cmd_mv, "rename a run (likewise)"},
    {"keygen", cmd_keygen, "write a CURVE key pair (NAME.key, NAME.pub)"},
};

static void s_usage(FILE *f)
{
    fprintf(f, "usage: erwatch COMMAND [options]\n"
               "\n"
               "Watches embedding collapse in training jobs, with erwatchd.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof S_COMMANDS / sizeof S_COMMANDS[0]; i++)
        fprintf(f, "  %-9s %s\n", S_COMMANDS[i].name, S_COMMANDS[i].about);
    fprintf(f, "\n"
               "  erwatch COMMAND --help   options of a command\n"
               "  erwatch --version        print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2) {
            /* "erwatch help push" is "erwatch push --help" */
            char *args[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof S_COMMANDS / sizeof S_COMMANDS[0]; i++)
                if (strcmp(argv[2], S_COMMANDS[i].name) == 0)
                    return S_COMMANDS[i].run(2, args);
            return cli_fail("erwatch", CLI_USAGE,
                            "unknown command '%s' (see "
                            "erwatch --help)",
                            argv[2]);
        }
        s_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("erwatch %s\n", EW_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof S_COMMANDS / sizeof S_COMMANDS[0]; i++)
        if (strcmp(cmd, S_COMMANDS[i].name) == 0)
            return S_COMMANDS[i].run(argc - 1, argv + 1);
    return cli_fail("erwatch", CLI_USAGE,
                    "unknown command '%s' (see erwatch "
                    "--help)",
                    cmd);
}
