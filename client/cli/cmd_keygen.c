/* cmd_keygen.c: `erwatch keygen NAME`, a CURVE key pair for erwatchd or for
 * a client (README.md, "Running on a cluster"): NAME.key, the secret,
 * created mode 0600 and never over an existing file; NAME.pub, the public
 * half, to hand out (the daemon's to clients as ERWATCH_SERVER_PUB, a
 * client's into the daemon's --curve-clients list). Z85 text, the format
 * erwatch_key_read() reads.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "erwatch.h"

static const char *const S_CMD = "erwatch keygen";

static void s_usage(FILE *f)
{
    fprintf(f, "usage: erwatch keygen NAME\n"
               "\n"
               "Writes a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub\n"
               "(public). Neither file may exist already.\n"
               "  erwatchd:  --curve-key NAME.key; give NAME.pub to clients\n"
               "             (ERWATCH_SERVER_PUB=NAME.pub)\n"
               "  a client:  ERWATCH_CLIENT_KEY=NAME.key; add the line of NAME.pub to\n"
               "             the daemon's --curve-clients file\n");
}

/* Writes text to path, created exclusively with mode; removes it on error. */
static int s_write_new(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return cli_fail(S_CMD, CLI_RUNTIME, "cannot create %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int e = errno;
    if (close(fd) != 0 && w == (ssize_t)len) {
        w = -1;
        e = errno;
    }
    if (w != (ssize_t)len) {
        unlink(path);
        return cli_fail(S_CMD, CLI_RUNTIME, "cannot write %s: %s", path,
                        w < 0 ? strerror(e) : "short write");
    }
    return 0;
}

int cmd_keygen(int argc, char **argv)
{
    static const cli_opt_t opts[] = {{"help", 'h', 0}, {0}};
    cli_args_t a;
    cli_args_init(&a, S_CMD, argc, argv);
    const char *name = NULL, *v;
    for (int o; (o = cli_next(&a, opts, &v)) != CLI_DONE;) {
        if (o == CLI_BAD)
            return CLI_USAGE;
        if (o == 0) {
            s_usage(stdout);
            return CLI_OK;
        }
        if (name)
            return cli_fail(S_CMD, CLI_USAGE, "one NAME only ('%s' is extra)", v);
        name = v;
    }
    if (!name || !*name)
        return cli_fail(S_CMD, CLI_USAGE, "NAME missing (see --help)");
    char pub[ERWATCH_KEY_Z85_LEN + 1], sec[ERWATCH_KEY_Z85_LEN + 1];
    if (zmq_curve_keypair(pub, sec) != 0)
        return cli_fail(S_CMD, CLI_RUNTIME,
                        "cannot make a key pair: %s (libzmq without "
                        "CURVE?)",
                        zmq_strerror(zmq_errno()));
    char keypath[4200], pubpath[4200], text[8800];
    if (strlen(name) > 4000)
        return cli_fail(S_CMD, CLI_USAGE, "NAME is too long");
    snprintf(keypath, sizeof keypath, "%s.key", name);
    snprintf(pubpath, sizeof pubpath, "%s.pub", name);
    /* Refuse before writing either file, so a pair is never half-replaced. */
    if (access(keypath, F_OK) == 0 || access(pubpath, F_OK) == 0)
        return cli_fail(S_CMD, CLI_RUNTIME, "%s or %s exists already; pick another NAME", keypath,
                        pubpath);
    snprintf(text, sizeof text,
             "# erwatch curve secret key \"%s\": keep it private (mode 0600)\n"
             "# its public half is %s\n%s\n",
             name, pubpath, sec);
    int rc = s_write_new(keypath, 0600, text);
    memset(sec, 0, sizeof sec);
    memset(text, 0, sizeof text);
    if (rc)
        return rc;
    snprintf(text, sizeof text, "# erwatch curve public key \"%s\"\n%s\n", name, pub);
    if ((rc = s_write_new(pubpath, 0644, text)) != 0) {
        unlink(keypath);
        return rc;
    }
    printf("%s (secret, mode 0600) and %s (public: %s)\n", keypath, pubpath, pub);
    return CLI_OK;
}
