/* cmd_compute.c: `erwatch compute METRIC X [Y]`, the offline reference path.
 *
 * Loads X (and Y) as given, widens them exactly to double and calls the
 * double-precision metrics_* functions of daemon/metrics.h: the formulas of
 * tests/vectors/README.md with no normalisation, so the printed value is
 * what `expected_f64` in cases.txt holds for the same input. One table lists
 * each metric's inputs and the options that apply to it; an option given to
 * a metric it does not apply to is a usage error, not silently ignored.
 */
#include "cli.h"
#include "npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ew_protocol.h"
#include "metrics.h"

static const char *const S_CMD = "erwatch compute";

enum {
    P_KAPPA = 1 << 0,
    P_SUPPORT = 1 << 1,
    P_REDUCTION = 1 << 2,
    P_T = 1 << 3,
    P_ALPHA = 1 << 4,
    P_EPS = 1 << 5,
    P_ITERS = 1 << 6,
    P_OUT = 1 << 7
};

/* --precision: the double reference, or the float32 kernels the daemon's
 * workers run (so the fast path can be checked offline). */
typedef enum { S_DOUBLE = 0, S_FLOAT } s_precision_t;

/* The daemon's metric catalogue (EW_METRICS, common/ew_protocol.h), in its
 * order, then the two computations only the reference path offers. Names
 * and inputs of the catalogue's metrics come from the catalogue; a metric
 * added there without a case below fails the build (-Wswitch). */
#define S_ID(id, name, views) M_##id,
typedef enum { EW_METRICS(S_ID) M_W2_LOSS, M_SINKHORN } s_metric_id_t;
#undef S_ID
#define M_COUNT (M_SINKHORN + 1)
#define S_NAME(id, name, views) [M_##id] = #name,
static const char *const S_NAMES[M_COUNT] = {
    EW_METRICS(S_NAME)[M_W2_LOSS] = "w2_loss",
    [M_SINKHORN] = "sinkhorn",
};
#undef S_NAME
#define S_VIEWS(id, name, views) [M_##id] = views,
static const int S_INPUTS[M_COUNT] = {EW_METRICS(S_VIEWS)[M_W2_LOSS] = 1, [M_SINKHORN] = 1};
#undef S_VIEWS

typedef struct {
    s_metric_id_t id;
    unsigned params; /* P_* that apply */
    double eps;      /* default --eps where P_EPS applies */
    const char *about;
} s_metric_t;

static const s_metric_t S_METRICS[] = {
    {M_ER_ENTROPY, P_KAPPA | P_SUPPORT | P_REDUCTION, 0,
     "ER entropy of X (--support, --kappa, --reduction)"},
    {M_ER_RECONSTRUCTION, P_KAPPA | P_SUPPORT, 0,
     "ER reconstruction between views X and Y (--support, --kappa)"},
    {M_ALIGN, P_ALPHA, 0, "alignment of X and Y (--alpha)"},
    {M_UNIFORM, P_T, 0, "uniformity of X (--t)"},
    {M_W2, P_EPS, 1e-8, "W2 uniformity of X (--eps, default 1e-8)"},
    {M_W2_LOSS, P_EPS, 0, "W2 training loss of X = [view1; view2] (--eps = ridge, default 0)"},
    {M_RANKME, P_EPS, 1e-7, "RankMe of X (--eps, default 1e-7)"},
    {M_STD_L2, 0, 0, "mean column std of row-normalised X"},
    {M_SINKHORN, P_EPS | P_ITERS | P_OUT, 0.05,
     "SwAV Sinkhorn on scores X (B x K); prints sum of Q^2 (--eps, default "
     "0.05, --iters, --out)"},
};
#define S_NMETRICS (sizeof S_METRICS / sizeof S_METRICS[0])

static void s_usage(FILE *f)
{
    fprintf(f, "usage: erwatch compute METRIC X [Y] [options]\n"
               "\n"
               "Computes one metric with the reference formulas\n"
               "(tests/vectors/README.md), on the input exactly as given: nothing is\n"
               "normalised. Prints the value (%%.17g); an undefined value prints 'nan'\n"
               "and the reason on stderr.\n"
               "\n"
               "X, Y: .npy files (2-D, '<f4' or '<f8', C order), or raw little-endian\n"
               "float32 when --shape N,d is given.\n"
               "\n"
               "metrics:\n");
    for (size_t i = 0; i < S_NMETRICS; i++)
        fprintf(f, "  %-18s %s\n", S_NAMES[S_METRICS[i].id], S_METRICS[i].about);
    fprintf(f, "\n"
               "options:\n"
               "  --shape N,d        inputs are raw float32 of N rows, d columns\n"
               "  --kappa K          vMF concentration, > 0 (default 10)\n"
               "  --support S        sphere | discrete (default sphere)\n"
               "  --reduction R      expectation | average (default expectation)\n"
               "  --t T              uniformity temperature (default 2)\n"
               "  --alpha A          alignment exponent, > 0 (default 2)\n"
               "  --eps E            metric-specific epsilon, >= 0 (see above)\n"
               "  --iters I          Sinkhorn iterations (default 3)\n"
               "  --out FILE         sinkhorn: write Q (B x K) as raw little-endian float64\n"
               "  --precision P      double (default): the reference formulas in double;\n"
               "                     float: the float32 kernels erwatchd's workers run, on\n"
               "                     the input rounded to float32\n"
               "  -h, --help         this help\n");
}

typedef struct {
    double kappa, t, alpha, eps;
    int iters;
    ew_support_t support;
    ew_reduction_t reduction;
    const char *out;
    unsigned given; /* P_* set on the command line */
    s_precision_t precision;
} s_params_t;

static int s_load(const char *path, int have_shape, size_t n, size_t d, npy_array_t *a)
{
    char err[256];
    int rc = have_shape ? npy_load_raw_f32(path, n, d, a, err, sizeof err)
                        : npy_load(path, a, err, sizeof err);
    if (rc != 0)
        return cli_fail(S_CMD, CLI_RUNTIME, "%s: %s", path, err);
    return 0;
}

/* Writes n doubles as little-endian float64. Returns 0 or -errno. */
static int s_write_f64le(const char *path, const double *q, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        uint64_t u;
        unsigned char b[8];
        memcpy(&u, &q[i], 8);
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)(u >> (8 * k));
        ok = fwrite(b, 1, 8, f) == 8;
    }
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && ok)
        e = errno ? errno : EIO;
    return ok && !e ? 0 : -(e ? e : EIO);
}

static int s_print_value(const s_metric_t *m, double v, const char *why)
{
    if (isnan(v)) {
        printf("nan\n");
        fprintf(stderr, "%s: %s is undefined for this input: %s\n", S_CMD, S_NAMES[m->id],
                why ? why : "the result is not a number");
    } else {
        printf("%.17g\n", v);
    }
    return fflush(stdout) == 0 ? CLI_OK : cli_fail(S_CMD, CLI_RUNTIME, "cannot write output");
}

static int s_sinkhorn(const s_metric_t *m, const double *x, size_t n, size_t d, const s_params_t *p)
{
    double *q = malloc(n * d * sizeof *q);
    if (!q)
        return cli_fail(S_CMD, CLI_RUNTIME, "out of memory");
    const char *why = NULL;
    int rc = metrics_sinkhorn(x, n, d, p->eps, p->iters, q, &why);
    if (rc != 0) {
        free(q);
        return cli_fail(S_CMD, CLI_RUNTIME, "sinkhorn: %s", why ? why : strerror(-rc));
    }
    double sum = 0;
    for (size_t i = 0; i < n * d; i++)
        sum += q[i] * q[i];
    if (p->out) {
        rc = s_write_f64le(p->out, q, n * d);
        if (rc != 0) {
            free(q);
            return cli_fail(S_CMD, CLI_RUNTIME, "cannot write %s: %s", p->out, strerror(-rc));
        }
    }
    free(q);
    return s_print_value(m, sum, why);
}

static int s_run(const s_metric_t *m, const double *x, const double *y, size_t n, size_t d,
                 const s_params_t *p)
{
    const char *why = NULL;
    double v = NAN;
    switch (m->id) {
    case M_ER_ENTROPY:
        v = metrics_er_entropy(x, n, d, p->support, p->kappa, p->reduction, &why);
        break;
    case M_ER_RECONSTRUCTION:
        v = metrics_er_reconstruction(x, y, n, d, p->support, p->kappa, &why);
        break;
    case M_ALIGN:
        v = metrics_align(x, y, n, d, p->alpha, &why);
        break;
    case M_UNIFORM:
        v = metrics_uniform(x, n, d, p->t, &why);
        break;
    case M_W2:
        v = metrics_w2(x, n, d, p->eps, &why);
        break;
    case M_W2_LOSS:
        v = metrics_w2_loss(x, n, d, p->eps, &why);
        break;
    case M_RANKME:
        v = metrics_rankme(x, n, d, p->eps, &why);
        break;
    case M_STD_L2:
        v = metrics_std_l2(x, n, d, &why);
        break;
    case M_SINKHORN:
        return s_sinkhorn(m, x, n, d, p);
    }
    return s_print_value(m, v, why);
}

/* The float path: the same metrics through the daemon's float32 kernels. */
static int s_run_f32(const s_metric_t *m, const float *x, const float *y, size_t n, size_t d,
                     const s_params_t *p)
{
    const char *why = NULL;
    double v = NAN;
    switch (m->id) {
    case M_ER_ENTROPY:
        v = metrics_er_entropy_f32(x, n, d, p->support, p->kappa, p->reduction, NULL, &why);
        break;
    case M_ER_RECONSTRUCTION:
        v = metrics_er_reconstruction_f32(x, y, n, d, p->support, p->kappa, NULL, &why);
        break;
    case M_ALIGN:
        v = metrics_align_f32(x, y, n, d, p->alpha, &why);
        break;
    case M_UNIFORM:
        v = metrics_uniform_f32(x, n, d, p->t, NULL, &why);
        break;
    case M_W2:
        v = metrics_w2_f32(x, n, d, p->eps, NULL, &why);
        break;
    case M_W2_LOSS:
        v = metrics_w2_loss_f32(x, n, d, p->eps, NULL, &why);
        break;
    case M_RANKME:
        v = metrics_rankme_f32(x, n, d, p->eps, NULL, &why);
        break;
    case M_STD_L2:
        v = metrics_std_l2_f32(x, n, d, &why);
        break;
    case M_SINKHORN: {
        float *qf = malloc(n * d * sizeof *qf);
        double *q = malloc(n * d * sizeof *q);
        if (!qf || !q) {
            free(qf);
            free(q);
            return cli_fail(S_CMD, CLI_RUNTIME, "out of memory");
        }
        int rc = metrics_sinkhorn_f32(x, n, d, p->eps, p->iters, qf, NULL, &why);
        double sum = 0;
        for (size_t i = 0; i < n * d; i++) {
            q[i] = qf[i];
            sum += q[i] * q[i];
        }
        free(qf);
        if (rc == 0 && p->out && (rc = s_write_f64le(p->out, q, n * d)) != 0) {
            free(q);
            return cli_fail(S_CMD, CLI_RUNTIME, "cannot write %s: %s", p->out, strerror(-rc));
        }
        free(q);
        if (rc != 0)
            return cli_fail(S_CMD, CLI_RUNTIME, "sinkhorn: %s", why ? why : strerror(-rc));
        return s_print_value(m, sum, why);
    }
    }
    return s_print_value(m, v, why);
}

/* The array as float32 (f64 rounds to nearest, as the daemon's decoder
 * does). NULL on OOM. */
static float *s_to_float(const npy_array_t *a)
{
    size_t n = a->n * a->d;
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f)
        return NULL;
    if (a->dtype == NPY_F32)
        memcpy(f, a->data, n * sizeof *f);
    else
        for (size_t i = 0; i < n; i++)
            f[i] = (float)((const double *)a->data)[i];
    return f;
}

static const char *const S_PNAMES[] = {"kappa", "support", "reduction", "t",
                                       "alpha", "eps",     "iters",     "out"};

int cmd_compute(int argc, char **argv)
{
    static const cli_opt_t opts[] = {
        {"help", 'h', 0},    {"shape", 0, 1}, {"kappa", 0, 1},     {"support", 0, 1},
        {"reduction", 0, 1}, {"t", 0, 1},     {"alpha", 0, 1},     {"eps", 0, 1},
        {"iters", 0, 1},     {"out", 0, 1},   {"precision", 0, 1}, {NULL, 0, 0},
    };
    enum {
        O_HELP,
        O_SHAPE,
        O_KAPPA,
        O_SUPPORT,
        O_REDUCTION,
        O_T,
        O_ALPHA,
        O_EPS,
        O_ITERS,
        O_OUT,
        O_PRECISION
    };

    s_params_t p = {.kappa = 10,
                    .t = 2,
                    .alpha = 2,
                    .iters = 3,
                    .support = EW_SUPPORT_SPHERE,
                    .reduction = EW_REDUCE_EXPECTATION};
    const char *pos[4];
    int npos = 0, have_shape = 0;
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
            if (npos == 3)
                return cli_fail(S_CMD, CLI_USAGE,
                                "too many arguments ('%s'); "
                                "usage: erwatch compute METRIC X [Y]",
                                v);
            pos[npos++] = v;
            continue;
        }
        int64_t iv;
        switch (k) {
        case O_HELP:
            s_usage(stdout);
            return CLI_OK;
        case O_SHAPE:
            if (cli_parse_shape(S_CMD, v, &sn, &sd) != 0)
                return CLI_USAGE;
            have_shape = 1;
            break;
        case O_KAPPA:
            if (cli_parse_double(S_CMD, "--kappa", v, &p.kappa) != 0)
                return CLI_USAGE;
            if (!(p.kappa > 0))
                return cli_fail(S_CMD, CLI_USAGE, "--kappa must be > 0, got %s", v);
            p.given |= P_KAPPA;
            break;
        case O_SUPPORT:
            if (strcmp(v, "sphere") == 0)
                p.support = EW_SUPPORT_SPHERE;
            else if (strcmp(v, "discrete") == 0)
                p.support = EW_SUPPORT_DISCRETE;
            else
                return cli_fail(S_CMD, CLI_USAGE,
                                "--support must be sphere or "
                                "discrete, got '%s'",
                                v);
            p.given |= P_SUPPORT;
            break;
        case O_REDUCTION:
            if (strcmp(v, "expectation") == 0)
                p.reduction = EW_REDUCE_EXPECTATION;
            else if (strcmp(v, "average") == 0)
                p.reduction = EW_REDUCE_AVERAGE;
            else
                return cli_fail(S_CMD, CLI_USAGE,
                                "--reduction must be "
                                "expectation or average, got '%s'",
                                v);
            p.given |= P_REDUCTION;
            break;
        case O_T:
            if (cli_parse_double(S_CMD, "--t", v, &p.t) != 0)
                return CLI_USAGE;
            p.given |= P_T;
            break;
        case O_ALPHA:
            if (cli_parse_double(S_CMD, "--alpha", v, &p.alpha) != 0)
                return CLI_USAGE;
            if (!(p.alpha > 0))
                return cli_fail(S_CMD, CLI_USAGE, "--alpha must be > 0, got %s", v);
            p.given |= P_ALPHA;
            break;
        case O_EPS:
            if (cli_parse_double(S_CMD, "--eps", v, &p.eps) != 0)
                return CLI_USAGE;
            if (p.eps < 0)
                return cli_fail(S_CMD, CLI_USAGE, "--eps must be >= 0, got %s", v);
            p.given |= P_EPS;
            break;
        case O_ITERS:
            if (cli_parse_i64(S_CMD, "--iters", v, 0, 1000000, &iv) != 0)
                return CLI_USAGE;
            p.iters = (int)iv;
            p.given |= P_ITERS;
            break;
        case O_OUT:
            p.out = v;
            p.given |= P_OUT;
            break;
        case O_PRECISION:
            if (strcmp(v, "double") == 0)
                p.precision = S_DOUBLE;
            else if (strcmp(v, "float") == 0)
                p.precision = S_FLOAT;
            else
                return cli_fail(S_CMD, CLI_USAGE,
                                "--precision must be double or "
                                "float, got '%s'",
                                v);
            break;
        }
    }

    if (npos == 0)
        return cli_fail(S_CMD, CLI_USAGE,
                        "missing METRIC; usage: erwatch "
                        "compute METRIC X [Y] (see --help)");
    const s_metric_t *m = NULL;
    for (size_t i = 0; i < S_NMETRICS; i++)
        if (strcmp(pos[0], S_NAMES[S_METRICS[i].id]) == 0)
            m = &S_METRICS[i];
    if (!m) {
        char known[256] = "";
        for (size_t i = 0, at = 0; i < S_NMETRICS && at < sizeof known; i++)
            at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "",
                                   S_NAMES[S_METRICS[i].id]);
        return cli_fail(S_CMD, CLI_USAGE, "unknown metric '%s' (known: %s)", pos[0], known);
    }
    if (npos - 1 < S_INPUTS[m->id])
        return cli_fail(S_CMD, CLI_USAGE, "%s needs %s", S_NAMES[m->id],
                        S_INPUTS[m->id] == 2 ? "two inputs, X and Y" : "an input X");
    if (npos - 1 > S_INPUTS[m->id])
        return cli_fail(S_CMD, CLI_USAGE, "%s takes one input, got a second ('%s')", S_NAMES[m->id],
                        pos[2]);
    for (unsigned b = 0; b < 8; b++)
        if ((p.given & (1u << b)) && !(m->params & (1u << b)))
            return cli_fail(S_CMD, CLI_USAGE, "--%s does not apply to %s", S_PNAMES[b],
                            S_NAMES[m->id]);
    if (!(p.given & P_EPS))
        p.eps = m->eps;
    if (m->id == M_SINKHORN && !(p.eps > 0))
        return cli_fail(S_CMD, CLI_USAGE, "--eps must be > 0 for sinkhorn");

    npy_array_t xa = {0}, ya = {0};
    double *x = NULL, *y = NULL;
    int rc = s_load(pos[1], have_shape, sn, sd, &xa);
    if (rc == 0 && S_INPUTS[m->id] == 2)
        rc = s_load(pos[2], have_shape, sn, sd, &ya);
    if (rc == 0 && S_INPUTS[m->id] == 2 && (xa.n != ya.n || xa.d != ya.d))
        rc = cli_fail(S_CMD, CLI_RUNTIME,
                      "X is %zu x %zu but Y is %zu x %zu; "
                      "the views must have the same shape",
                      xa.n, xa.d, ya.n, ya.d);
    if (rc == 0 && p.precision == S_FLOAT) {
        float *xf = s_to_float(&xa), *yf = S_INPUTS[m->id] == 2 ? s_to_float(&ya) : NULL;
        if (!xf || (S_INPUTS[m->id] == 2 && !yf))
            rc = cli_fail(S_CMD, CLI_RUNTIME, "out of memory");
        else
            rc = s_run_f32(m, xf, yf, xa.n, xa.d, &p);
        free(xf);
        free(yf);
        npy_free(&xa);
        npy_free(&ya);
        return rc;
    }
    if (rc == 0) {
        x = npy_to_double(&xa);
        y = S_INPUTS[m->id] == 2 ? npy_to_double(&ya) : NULL;
        if (!x || (S_INPUTS[m->id] == 2 && !y))
            rc = cli_fail(S_CMD, CLI_RUNTIME, "out of memory");
    }
    if (rc == 0)
        rc = s_run(m, x, y, xa.n, xa.d, &p);
    free(x);
    free(y);
    npy_free(&xa);
    npy_free(&ya);
    return rc;
}
