/* cmd_push.c: `erwatch push`, sends one batch to erwatchd through the client
 * library, exactly as a training job would (same header, same socket).
 *
 * Unlike a training loop, a one-shot command wants its batch delivered, so
 * it waits: for the connection, then for the library to accept the batch,
 * then for the flush. Each wait is bounded by --timeout. Retries are gated
 * on the socket becoming writable, so the library counts (and reports in
 * `dropped`) only pushes that were really refused, not every polling step.
 */
#include "cli.h"
#include "npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "erwatch.h"
#include "ew_protocol.h"

static const char *const S_CMD = "erwatch push";

#define S_MAX_SCALARS 64

static void s_usage(FILE *f)
{
    fprintf(f, "usage: erwatch push --run R --tag T --step S [options] X [Y]\n"
               "\n"
               "Sends one batch (X, and Y as the second view) to erwatchd and waits\n"
               "until it has left this process. X, Y: .npy files (2-D, '<f4' or '<f8',\n"
               "C order; sent as f32 or f64 as loaded), or raw little-endian float32\n"
               "with --shape N,d.\n"
               "\n"
               "options:\n"
               "  --endpoint E        daemon endpoint (default $ERWATCH_ENDPOINT, else\n"
               "                      " ERWATCH_DEFAULT_ENDPOINT ")\n"
               "  --run R             run name (required)\n"
               "  --tag T             embedding tag, e.g. projector (required)\n"
               "  --step S            training step, 0..2^63-1 (required)\n"
               "  --support S         sphere | discrete (default sphere)\n"
               "  --kappa K           vMF concentration, 0 < K <= 100000 (default: the\n"
               "                      daemon's, 10)\n"
               "  --scalar NAME=VAL   a scalar stored beside the metrics; repeatable\n"
               "  --shape N,d         inputs are raw float32\n"
               "  --rank R --world W  this process's rank in a distributed job of W\n"
               "  --pool              this batch is rank R's part of step S: the daemon\n"
               "                      computes on all W ranks' rows together (README,\n"
               "                      \"Distributed training\"); needs --rank, --world >= 2\n"
               "  --timeout MS        how long to wait at each stage (default 5000)\n"
               "  --launch ID         the launch this batch belongs to (1..128 printable\n"
               "                      ASCII, no spaces): pushes of one ID form one launch;\n"
               "                      a new ID under a taken run name gets its own run\n"
               "                      (NAME.2, ...). Default: none, the run named R\n"
               "  --resume            continue the latest run named R: its points at steps\n"
               "                      >= S are removed first (with --launch ID: once, at\n"
               "                      that launch's first push). Fails when there is none\n"
               "  --http URL          the daemon's HTTP API, asked by --resume (default\n"
               "                      $ERWATCH_HTTP, else " ERWATCH_DEFAULT_HTTP ")\n"
               "  --server-pub FILE   CURVE: the daemon's public key file (default\n"
               "                      $ERWATCH_SERVER_PUB; with --client-key)\n"
               "  --client-key FILE   CURVE: this client's secret key file (default\n"
               "                      $ERWATCH_CLIENT_KEY; see erwatch keygen)\n"
               "  -v, --verbose       print one line when the batch is sent\n"
               "  -h, --help          this help\n");
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_load(const char *path, int have_shape, size_t n, size_t d, npy_array_t *a)
{
    char err[256];
    int rc = have_shape ? npy_load_raw_f32(path, n, d, a, err, sizeof err)
                        : npy_load(path, a, err, sizeof err);
    if (rc != 0)
        return cli_fail(S_CMD, CLI_RUNTIME, "%s: %s", path, err);
    return 0;
}

/* "NAME=VALUE" (split at the last '=') into sc; the name is copied to
 * name (at least 129 bytes). */
static int s_parse_scalar(const char *arg, char *name, erwatch_scalar_t *sc)
{
    const char *eq = strrchr(arg, '=');
    if (!eq)
        return cli_fail(S_CMD, CLI_USAGE, "--scalar: '%s' is not NAME=VALUE", arg);
    size_t len = (size_t)(eq - arg);
    if (len > 128)
        return cli_fail(S_CMD, CLI_USAGE,
                        "--scalar: name '%.*s...' is longer "
                        "than 128 bytes",
                        20, arg);
    memcpy(name, arg, len);
    name[len] = '\0';
    const char *problem = cli_name_problem(name);
    if (problem)
        return cli_fail(S_CMD, CLI_USAGE, "--scalar: name '%s' %s", name, problem);
    if (cli_parse_double(S_CMD, "--scalar", eq + 1, &sc->value) != 0)
        return CLI_USAGE;
    sc->name = name;
    return 0;
}

/* Refuses NaN and Inf before sending, with the Python client's message
 * (client/python/erwatch/_convert.py): the daemon would reject the batch. */
static int s_check_finite(const char *what, const npy_array_t *a)
{
    size_t count = a->n * a->d;
    for (size_t i = 0; i < count; i++) {
        double v = a->dtype == NPY_F64 ? ((const double *)a->data)[i]
                                       : (double)((const float *)a->data)[i];
        if (!isfinite(v))
            return cli_fail(S_CMD, CLI_USAGE,
                            "%s contains NaN or Inf (first at row %zu, "
                            "column %zu); the daemon would reject the batch",
                            what, i / a->d, i % a->d);
    }
    return 0;
}

/* Pushes b, retrying while the library reports -EAGAIN, until deadline. */
static int s_push_until(erwatch_t *c, const erwatch_batch_t *b, int64_t deadline)
{
    int rc = erwatch_push(c, b);
    while (rc == -EAGAIN) {
        int64_t left = deadline - s_now_ms();
        if (left <= 0)
            break;
        /* At most 10 ms between attempts; attempt only once writable. */
        if (erwatch_wait_connected(c, left < 10 ? (int)left : 10) == 0)
            rc = erwatch_push(c, b);
    }
    return rc;
}

/* --resume: asks the daemon's HTTP API whether there is a run to continue.
 * Returns 0 (there is, or the API cannot be asked: the daemon then decides
 * and counts a refusal in rejected.resume_unknown) or a usage failure. */
static int s_check_resume(const char *http, const char *run, int64_t timeout)
{
    char name[ERWATCH_LAUNCH_MAX + 1];
    int e = erwatch_resume_target(http, run, (int)timeout, name, sizeof name);
    if (e == -ENOENT)
        return cli_fail(S_CMD, CLI_RUNTIME,
                        "--resume: the daemon has no run named '%s' "
                        "to continue; push without --resume to start one",
                        run);
    if (e != 0)
        fprintf(stderr,
                "%s: note: cannot ask %s whether run '%s' exists (%s); if it does "
                "not, the daemon refuses the batch (rejected.resume_unknown)\n",
                S_CMD, http ? http : "the daemon's HTTP API", run, erwatch_strerror(e));
    return 0;
}

int cmd_push(int argc, char **argv)
{
    int rc = 0;
    static const cli_opt_t opts[] = {
        {"help", 'h', 0}, {"verbose", 'v', 0},  {"endpoint", 0, 1},   {"run", 0, 1},
        {"tag", 0, 1},    {"step", 0, 1},       {"support", 0, 1},    {"kappa", 0, 1},
        {"scalar", 0, 1}, {"timeout", 0, 1},    {"shape", 0, 1},      {"rank", 0, 1},
        {"world", 0, 1},  {"pool", 0, 0},       {"launch", 0, 1},     {"resume", 0, 0},
        {"http", 0, 1},   {"server-pub", 0, 1}, {"client-key", 0, 1}, {NULL, 0, 0},
    };
    enum {
        O_HELP,
        O_VERBOSE,
        O_ENDPOINT,
        O_RUN,
        O_TAG,
        O_STEP,
        O_SUPPORT,
        O_KAPPA,
        O_SCALAR,
        O_TIMEOUT,
        O_SHAPE,
        O_RANK,
        O_WORLD,
        O_POOL,
        O_LAUNCH,
        O_RESUME,
        O_HTTP,
        O_SERVER_PUB,
        O_CLIENT_KEY
    };

    erwatch_batch_t b;
    memset(&b, 0, sizeof b);
    erwatch_scalar_t scalars[S_MAX_SCALARS];
    char names[S_MAX_SCALARS][129];
    const char *endpoint = NULL, *pos[3], *server_pub = NULL, *client_key = NULL;
    int npos = 0, verbose = 0, have_step = 0, have_shape = 0, have_rank = 0;
    const char *launch = NULL, *http = NULL;
    int resume = 0;
    int64_t timeout = 5000, iv;
    size_t sn = 0, sd = 0;

    cli_args_t a;
    cli_args_init(&a, S_CMD, argc, argv);
    for (;;) {
        const char *v;
        int k = cli_next(&a, opts, &v);
        if (k == CLI_DONE)
            break;
        if (k == CLI_BAD)
            return CLI_USAGE;
        if (k == CLI_ARG) {
            if (npos == 2)
                return cli_fail(S_CMD, CLI_USAGE,
                                "too many inputs ('%s'); "
                                "a batch has at most two views, X and Y",
                                v);
            pos[npos++] = v;
            continue;
        }
        switch (k) {
        case O_HELP:
            s_usage(stdout);
            return CLI_OK;
        case O_VERBOSE:
            verbose = 1;
            break;
        case O_ENDPOINT:
            endpoint = v;
            break;
        case O_SERVER_PUB:
            server_pub = v;
            break;
        case O_CLIENT_KEY:
            client_key = v;
            break;
        case O_RUN:
            b.run = v;
            break;
        case O_TAG:
            b.tag = v;
            break;
        case O_STEP:
            if (cli_parse_i64(S_CMD, "--step", v, 0, INT64_MAX, &iv) != 0)
                return CLI_USAGE;
            b.step = (uint64_t)iv;
            have_step = 1;
            break;
        case O_SUPPORT:
            if (strcmp(v, "sphere") == 0)
                b.support = ERWATCH_SPHERE;
            else if (strcmp(v, "discrete") == 0)
                b.support = ERWATCH_DISCRETE;
            else
                return cli_fail(S_CMD, CLI_USAGE,
                                "--support must be sphere or "
                                "discrete, got '%s'",
                                v);
            break;
        case O_KAPPA:
            if (cli_parse_double(S_CMD, "--kappa", v, &b.kappa) != 0)
                return CLI_USAGE;
            if (!(b.kappa > 0 && b.kappa <= 100000))
                return cli_fail(S_CMD, CLI_USAGE,
                                "--kappa must be in (0, 100000], "
                                "got %s",
                                v);
            break;
        case O_SCALAR:
            if (b.nscalars == S_MAX_SCALARS)
                return cli_fail(S_CMD, CLI_USAGE, "at most %d --scalar", S_MAX_SCALARS);
            if (s_parse_scalar(v, names[b.nscalars], &scalars[b.nscalars]) != 0)
                return CLI_USAGE;
            for (size_t i = 0; i < b.nscalars; i++)
                if (strcmp(scalars[i].name, scalars[b.nscalars].name) == 0)
                    return cli_fail(S_CMD, CLI_USAGE, "--scalar '%s' given twice", scalars[i].name);
            b.nscalars++;
            break;
        case O_TIMEOUT:
            if (cli_parse_i64(S_CMD, "--timeout", v, 1, 3600 * 1000, &timeout) != 0)
                return CLI_USAGE;
            break;
        case O_SHAPE:
            if (cli_parse_shape(S_CMD, v, &sn, &sd) != 0)
                return CLI_USAGE;
            have_shape = 1;
            break;
        case O_RANK:
            if (cli_parse_i64(S_CMD, "--rank", v, 0, EW_WORLD_MAX - 1, &iv) != 0)
                return CLI_USAGE;
            b.rank = (int32_t)iv;
            have_rank = 1;
            break;
        case O_WORLD:
            if (cli_parse_i64(S_CMD, "--world", v, 1, EW_WORLD_MAX, &iv) != 0)
                return CLI_USAGE;
            b.world = (int32_t)iv;
            break;
        case O_POOL:
            b.pool = 1;
            break;
        case O_LAUNCH:
            launch = v;
            break;
        case O_RESUME:
            resume = 1;
            break;
        case O_HTTP:
            http = v;
            break;
        }
    }
    if (!b.run || !b.tag || !have_step)
        return cli_fail(S_CMD, CLI_USAGE,
                        "--run, --tag and --step are required "
                        "(see --help)");
    const char *problem;
    if ((problem = cli_name_problem(b.run)))
        return cli_fail(S_CMD, CLI_USAGE, "--run %s", problem);
    if ((problem = cli_name_problem(b.tag)))
        return cli_fail(S_CMD, CLI_USAGE, "--tag %s", problem);
    if (npos == 0)
        return cli_fail(S_CMD, CLI_USAGE, "missing input X (see --help)");
    if (have_rank && !b.world)
        return cli_fail(S_CMD, CLI_USAGE, "--rank needs --world");
    if (b.world && b.rank >= b.world)
        return cli_fail(S_CMD, CLI_USAGE, "--rank %d must be below --world %d", (int)b.rank,
                        (int)b.world);
    if (b.pool && (!have_rank || b.world < 2))
        return cli_fail(S_CMD, CLI_USAGE, "--pool needs --rank and --world of 2 or more");
    if (launch && (strlen(launch) > ERWATCH_LAUNCH_MAX || !*launch ||
                   strspn(launch, "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") != strlen(launch)))
        return cli_fail(S_CMD, CLI_USAGE,
                        "--launch must be 1 to %d printable ASCII "
                        "characters without spaces, got '%s'",
                        ERWATCH_LAUNCH_MAX, launch);
    if (resume && (rc = s_check_resume(http, b.run, timeout)) != 0)
        return rc;
    b.scalars = b.nscalars ? scalars : NULL;
    if (!endpoint) {
        const char *env = getenv("ERWATCH_ENDPOINT");
        endpoint = env && *env ? env : ERWATCH_DEFAULT_ENDPOINT;
    }

    npy_array_t xa = {0}, ya = {0};
    rc = s_load(pos[0], have_shape, sn, sd, &xa);
    if (rc == 0 && npos == 2)
        rc = s_load(pos[1], have_shape, sn, sd, &ya);
    if (rc == 0 && npos == 2 && (xa.n != ya.n || xa.d != ya.d || xa.dtype != ya.dtype))
        rc = cli_fail(S_CMD, CLI_RUNTIME,
                      "X is %zu x %zu %s but Y is %zu x %zu %s; "
                      "the views must have the same shape and dtype",
                      xa.n, xa.d, xa.dtype == NPY_F64 ? "f64" : "f32", ya.n, ya.d,
                      ya.dtype == NPY_F64 ? "f64" : "f32");
    if (rc == 0 && (xa.n > EW_N_MAX || xa.d > EW_D_MAX || xa.n * xa.d > EW_ELEMS_MAX))
        rc = cli_fail(S_CMD, CLI_RUNTIME,
                      "%zu x %zu is over the protocol's "
                      "limits (N <= %u, d <= %u, N*d <= %u)",
                      xa.n, xa.d, EW_N_MAX, EW_D_MAX, EW_ELEMS_MAX);
    if (rc == 0)
        rc = s_check_finite("X", &xa);
    if (rc == 0 && npos == 2)
        rc = s_check_finite("Y", &ya);
    if (rc != 0)
        goto done;
    b.dtype = xa.dtype == NPY_F64 ? ERWATCH_F64 : ERWATCH_F32;
    b.n = (uint32_t)xa.n;
    b.d = (uint32_t)xa.d;
    b.x = xa.data;
    b.y = npos == 2 ? ya.data : NULL;

    char why[700];
    erwatch_options_t o = {.endpoint = endpoint,
                           .server_pub = server_pub,
                           .client_key = client_key,
                           .errbuf = why,
                           .errlen = sizeof why};
    erwatch_t *c = erwatch_new_opts(&o);
    if (!c) {
        rc = cli_fail(S_CMD, CLI_USAGE, "%s", why);
        goto done;
    }
    /* One push is one batch: no launch unless asked for, so that pushing
     * step by step keeps writing one run (README, "Runs, launches and
     * resume"); --resume alone is a fresh launch that resumes. */
    (void)erwatch_set_launch(c, launch ? launch : resume ? NULL : "", resume);
    double secs = (double)timeout / 1000.0;
    int e = erwatch_wait_connected(c, (int)timeout);
    if (e == -ETIMEDOUT) {
        rc =
            cli_fail(S_CMD, CLI_RUNTIME, "no daemon reachable at %s within %.1f s", endpoint, secs);
    } else if (e == 0) {
        e = s_push_until(c, &b, s_now_ms() + timeout);
        if (e == -EAGAIN)
            rc = cli_fail(S_CMD, CLI_RUNTIME,
                          "the daemon at %s did not accept "
                          "the batch within %.1f s (is its queue full?)",
                          endpoint, secs);
        else if (e == -EINVAL)
            rc = cli_fail(S_CMD, CLI_USAGE,
                          "the batch breaks a protocol rule "
                          "(see schema/protocol.md)");
        else if (e != 0)
            rc = cli_fail(S_CMD, CLI_RUNTIME, "push failed: %s", erwatch_strerror(e));
        else if ((e = erwatch_flush(c, (int)timeout)) != 0)
            rc = cli_fail(S_CMD, CLI_RUNTIME,
                          "the batch may not have reached "
                          "the daemon at %s within %.1f s",
                          endpoint, secs);
    } else {
        rc = cli_fail(S_CMD, CLI_RUNTIME, "%s", erwatch_strerror(e));
    }
    if (rc == 0 && verbose)
        printf("pushed run=%s tag=%s step=%llu: %zu x %zu %s, %d view%s to %s\n", b.run, b.tag,
               (unsigned long long)b.step, xa.n, xa.d, b.dtype == ERWATCH_F64 ? "f64" : "f32", npos,
               npos == 2 ? "s" : "", endpoint);
    if (rc == 0 && verbose && erwatch_launch(c)[0]) {
        /* which run the launch went to (NAME, NAME.2, ...), once stored */
        char name[ERWATCH_LAUNCH_MAX + 1] = "";
        int64_t end = s_now_ms() + timeout;
        int e2;
        while ((e2 = erwatch_run_name(http, erwatch_launch(c), b.run, 1000, name, sizeof name)) ==
                   -ENOENT &&
               s_now_ms() < end) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (e2 == 0)
            printf("launch %s: stored as run %s\n", erwatch_launch(c), name);
        else
            printf("launch %s: run name not known (%s)\n", erwatch_launch(c), erwatch_strerror(e2));
    }
    erwatch_destroy(&c);
done:
    npy_free(&xa);
    npy_free(&ya);
    return rc;
}
