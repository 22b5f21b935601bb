/* rules.c: the alert rules language (see rules.h and README.md).
 *
 * Design decisions:
 *  - The file is tokenised once; a rule starts at the keyword `alert` and
 *    runs to the next one, so a rule may be written on one line or spread
 *    over several (indentation is for people, the parser does not need it).
 *    Every token keeps its line, so every message names the line to fix.
 *  - Expressions are compiled to a short stack program at load time and
 *    evaluated with a fixed-size stack: evaluation runs for every stored
 *    point a rule watches, so it must not parse, allocate or recurse.
 *  - Conditions are comparisons joined by `and`/`or` (and binds tighter);
 *    there is no arithmetic on truth values, so `value < 1 < 2` is an error
 *    rather than a surprise.
 *  - Names a rule reads are checked at load time: an unknown metric, a
 *    variable that does not exist, `level` on a metric that has no collapsed
 *    level all fail at start, not silently at 3 a.m.
 */
#include "rules.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_levels.h"
#include "xalloc.h"

#define S_STACK_MAX 64 /* evaluation stack; deeper expressions are refused */
#define S_NEST_MAX 48  /* parentheses and unary minus nesting */
#define S_FILE_MAX (4u << 20)
#define S_COUNT_MAX 1000000000000LL /* for / keep_firing_for */

/* ---------------------------------------------------------------- defaults */

const char rules_default_text[] =
    "# erwatchd's built-in rules (turn them off with --no-default-rules; a rule\n"
    "# of the same name in --rules FILE replaces one of these). `ideal` and\n"
    "# `collapsed` are levels for each batch's N, d and kappa; `level` puts a\n"
    "# value on the scale from collapsed (0) to ideal (1).\n"
    "\n"
    "# Complete collapse: every embedding in nearly one place. Level 0 is\n"
    "# er_entropy's lowest value c(d,kappa) - kappa, level 1 what a uniform\n"
    "# spread over the sphere gives; level 0.1 is a mean pairwise cosine of\n"
    "# about 0.95 at kappa 10, far below any useful representation.\n"
    "alert EntropyCollapse metric=er_entropy\n"
    "    when level < 0.1 for 5 batches\n"
    "    resolve when level > 0.2 keep_firing_for 5 batches\n"
    "    severity=critical\n"
    "    summary=\"{run}/{tag}: complete collapse, er_entropy {value} is at level {level} (0 = "
    "collapsed, 1 = spread over the sphere)\"\n"
    "\n"
    "# The same failure seen by SimSiam's statistic: the std of l2-normalised\n"
    "# embeddings is about 1/sqrt(d) for a spread-out batch and 0 for a collapsed\n"
    "# one; a quarter of 1/sqrt(d) leaves about 1/16 of the variance.\n"
    "alert StdCollapse metric=std_l2\n"
    "    when value < 0.25 * ideal for 5 batches\n"
    "    resolve when value > 0.4 * ideal keep_firing_for 5 batches\n"
    "    severity=critical\n"
    "    summary=\"{run}/{tag}: complete collapse, std of normalised embeddings {value} is under "
    "1/4 of 1/sqrt(d)\"\n"
    "\n"
    "# Dimensional collapse: the effective rank (RankMe) is under a quarter of\n"
    "# min(N, d) AND has lost more than half of the run's own best. Both, so\n"
    "# that data of low intrinsic dimension (a low but steady rank) and the\n"
    "# normal ups and downs of a healthy run do not fire.\n"
    "alert DimensionalCollapse metric=rankme\n"
    "    when value < 0.25 * ideal and drop > 0.5 for 5 batches\n"
    "    resolve when value > 0.35 * ideal or drop < 0.3 keep_firing_for 5 batches\n"
    "    severity=warning\n"
    "    summary=\"{run}/{tag}: dimensional collapse, effective rank {value} (best so far "
    "{best})\"\n";

/* ---------------------------------------------------------------- metrics */

int rules_known_metric(const char *metric)
{
    for (int i = 0; i < METRICS_COUNT; i++)
        if (strcmp(metrics_name((metrics_id_t)i), metric) == 0)
            return 1;
    return 0;
}

/* ---------------------------------------------------------------- tokens */

typedef enum { S_EOF = 0, S_IDENT, S_NUM, S_STR, S_OP } s_ttype_t;

typedef struct {
    s_ttype_t type;
    const char *p; /* in the source text */
    size_t len;
    int line;
    int space; /* whitespace or a line break before it */
    double num;
} s_tok_t;

typedef struct {
    const char *name;
    char *err;
    size_t errlen;
    s_tok_t *t;
    size_t nt, ct, i;
    int nest;
    int level_line; /* first use of ideal/collapsed/level/best/drop */
} s_parser_t;

__attribute__((format(printf, 3, 4))) static int s_fail(s_parser_t *P, int line, const char *fmt,
                                                        ...)
{
    if (!P->err || P->errlen == 0)
        return -1;
    int k = snprintf(P->err, P->errlen, "%s:%d: ", P->name, line);
    if (k < 0 || (size_t)k >= P->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->err + k, P->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static int s_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void s_push_tok(s_parser_t *P, s_tok_t t)
{
    if (P->nt == P->ct) {
        P->ct = P->ct ? 2 * P->ct : 256;
        P->t = ew_xrealloc(P->t, P->ct * sizeof *P->t);
    }
    P->t[P->nt++] = t;
}

static int s_tokenise(s_parser_t *P, const char *src)
{
    const char *s = src;
    int line = 1, space = 1;
    for (;;) {
        char c = *s;
        if (c == '\0')
            break;
        if (c == '\n') {
            line++;
            s++;
            space = 1;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            s++;
            space = 1;
            continue;
        }
        if (c == '#') {
            while (*s && *s != '\n')
                s++;
            space = 1;
            continue;
        }
        s_tok_t t = {.p = s, .line = line, .space = space};
        space = 0;
        if (s_is_alpha(c)) {
            while (s_is_alpha(*s) || s_is_digit(*s) || *s == '.')
                s++;
            t.type = S_IDENT;
        } else if (s_is_digit(c) || (c == '.' && s_is_digit(s[1]))) {
            char *end;
            errno = 0;
            t.num = strtod(s, &end);
            if (errno == ERANGE || !isfinite(t.num))
                return s_fail(P, line, "number '%.*s' is out of range",
                              (int)(end - s > 40 ? 40 : end - s), s);
            s = end;
            if (s_is_alpha(*s))
                return s_fail(P, line, "unexpected '%c' after the number '%.*s'", *s,
                              (int)(s - t.p > 40 ? 40 : s - t.p), t.p);
            t.type = S_NUM;
        } else if (c == '"') {
            s++;
            while (*s && *s != '"' && *s != '\n') {
                if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
                    s++;
                else if (*s == '\\')
                    return s_fail(P, line,
                                  "unknown escape '\\%c' in a string (only \\\" "
                                  "and \\\\ are known)",
                                  s[1] ? s[1] : ' ');
                else if ((unsigned char)*s < 0x20 && *s != '\t')
                    return s_fail(P, line, "control character in a string");
                s++;
            }
            if (*s != '"')
                return s_fail(P, line,
                              "unterminated string (a string ends on "
                              "the line it starts)");
            s++;
            t.type = S_STR;
        } else if ((c == '<' || c == '>') && s[1] == '=') {
            s += 2;
            t.type = S_OP;
        } else if (strchr("<>=+-*/(),", c)) {
            if (c == '=' && s[1] == '=')
                return s_fail(P, line,
                              "'==' is not a comparison here; use <, "
                              "<=, > or >=");
            s++;
            t.type = S_OP;
        } else if (c == '!' && s[1] == '=') {
            return s_fail(P, line,
                          "'!=' is not a comparison here; use <, <=, "
                          "> or >=");
        } else {
            if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
                return s_fail(P, line, "unexpected byte 0x%02x", (unsigned)(unsigned char)c);
            return s_fail(P, line, "unexpected character '%c'", c);
        }
        t.len = (size_t)(s - t.p);
        s_push_tok(P, t);
    }
    /* The end of the file is reported on the last line that says something. */
    s_tok_t eof = {.type = S_EOF, .p = s, .line = P->nt ? P->t[P->nt - 1].line : line, .space = 1};
    s_push_tok(P, eof);
    return 0;
}

static const s_tok_t *s_peek(const s_parser_t *P)
{
    return &P->t[P->i];
}

static const s_tok_t *s_next(s_parser_t *P)
{
    const s_tok_t *t = &P->t[P->i];
    if (t->type != S_EOF)
        P->i++;
    return t;
}

static int s_is(const s_tok_t *t, s_ttype_t type, const char *text)
{
    return t->type == type && strlen(text) == t->len && memcmp(t->p, text, t->len) == 0;
}

/* The token as quoted in messages. */
static void s_show(const s_tok_t *t, char *out, size_t outlen)
{
    if (t->type == S_EOF)
        snprintf(out, outlen, "the end of the file");
    else
        snprintf(out, outlen, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->p);
}

/* The contents of a string token (escapes undone). 0, or -1 when too long. */
static int s_str_value(const s_tok_t *t, char *out, size_t outlen)
{
    size_t k = 0;
    for (size_t i = 1; i + 1 < t->len; i++) {
        char c = t->p[i];
        if (c == '\\')
            c = t->p[++i];
        if (k + 1 >= outlen)
            return -1;
        out[k++] = c;
    }
    out[k] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- programs */

typedef enum {
    S_OP_CONST = 0,
    S_OP_VAR,
    S_OP_ADD,
    S_OP_SUB,
    S_OP_MUL,
    S_OP_DIV,
    S_OP_NEG,
    S_OP_MIN,
    S_OP_MAX,
    S_OP_SQRT,
    S_OP_LN,
    S_OP_LOG10,
    S_OP_EXP,
    S_OP_ABS,
    S_OP_LT,
    S_OP_LE,
    S_OP_GT,
    S_OP_GE,
    S_OP_AND,
    S_OP_OR
} s_op_t;

typedef struct {
    rules_expr_t e;
    size_t cap;
    int sp; /* stack depth at this point of the program */
} s_prog_t;

static void s_emit(s_prog_t *g, s_op_t op, double arg)
{
    if (g->e.nops == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->e.op = ew_xrealloc(g->e.op, g->cap);
        g->e.arg = ew_xrealloc(g->e.arg, g->cap * sizeof(double));
    }
    g->e.op[g->e.nops] = (uint8_t)op;
    g->e.arg[g->e.nops] = arg;
    g->e.nops++;
    if (op == S_OP_CONST || op == S_OP_VAR)
        g->sp++;
    else if (op != S_OP_NEG && op != S_OP_SQRT && op != S_OP_LN && op != S_OP_LOG10 &&
             op != S_OP_EXP && op != S_OP_ABS)
        g->sp--;
    if (g->sp > g->e.depth)
        g->e.depth = g->sp;
}

static void s_expr_free(rules_expr_t *e)
{
    free(e->op);
    free(e->arg);
    memset(e, 0, sizeof *e);
}

double rules_eval(const rules_expr_t *e, const double *v)
{
    double st[S_STACK_MAX];
    int sp = 0;
    for (size_t i = 0; i < e->nops; i++) {
        switch ((s_op_t)e->op[i]) {
        case S_OP_CONST:
            st[sp++] = e->arg[i];
            break;
        case S_OP_VAR:
            st[sp++] = v[(int)e->arg[i]];
            break;
        case S_OP_ADD:
            sp--;
            st[sp - 1] += st[sp];
            break;
        case S_OP_SUB:
            sp--;
            st[sp - 1] -= st[sp];
            break;
        case S_OP_MUL:
            sp--;
            st[sp - 1] *= st[sp];
            break;
        case S_OP_DIV:
            sp--;
            st[sp - 1] /= st[sp];
            break;
        case S_OP_NEG:
            st[sp - 1] = -st[sp - 1];
            break;
        case S_OP_MIN:
            sp--;
            st[sp - 1] = fmin(st[sp - 1], st[sp]);
            break;
        case S_OP_MAX:
            sp--;
            st[sp - 1] = fmax(st[sp - 1], st[sp]);
            break;
        case S_OP_SQRT:
            st[sp - 1] = sqrt(st[sp - 1]);
            break;
        case S_OP_LN:
            st[sp - 1] = log(st[sp - 1]);
            break;
        case S_OP_LOG10:
            st[sp - 1] = log10(st[sp - 1]);
            break;
        case S_OP_EXP:
            st[sp - 1] = exp(st[sp - 1]);
            break;
        case S_OP_ABS:
            st[sp - 1] = fabs(st[sp - 1]);
            break;
        case S_OP_LT:
            sp--;
            st[sp - 1] = st[sp - 1] < st[sp];
            break;
        case S_OP_LE:
            sp--;
            st[sp - 1] = st[sp - 1] <= st[sp];
            break;
        case S_OP_GT:
            sp--;
            st[sp - 1] = st[sp - 1] > st[sp];
            break;
        case S_OP_GE:
            sp--;
            st[sp - 1] = st[sp - 1] >= st[sp];
            break;
        case S_OP_AND:
            sp--;
            st[sp - 1] = st[sp - 1] != 0 && st[sp] != 0;
            break;
        case S_OP_OR:
            sp--;
            st[sp - 1] = st[sp - 1] != 0 || st[sp] != 0;
            break;
        }
    }
    return sp ? st[0] : NAN;
}

/* ---------------------------------------------------------------- expressions */

static const char *const s_var_names[RV_COUNT] = {
    "value", "ideal", "collapsed", "level", "best", "drop", "n", "d", "kappa", "step",
};

/* Variables that need the metric's levels. */
#define S_LEVEL_VARS                                                                               \
    ((1u << RV_IDEAL) | (1u << RV_COLLAPSED) | (1u << RV_LEVEL) | (1u << RV_BEST) | (1u << RV_DROP))

typedef enum {
    S_CTX_COND = 0, /* a when/resolve condition: every variable */
    S_CTX_LEVEL     /* an ideal=/collapsed= override: the batch's shape only */
} s_ctx_t;

static const struct {
    const char *name;
    s_op_t op;
    int min_args, max_args;
} s_funcs[] = {
    {"min", S_OP_MIN, 2, 16}, {"max", S_OP_MAX, 2, 16}, {"sqrt", S_OP_SQRT, 1, 1},
    {"ln", S_OP_LN, 1, 1},    {"log", S_OP_LN, 1, 1},   {"log10", S_OP_LOG10, 1, 1},
    {"exp", S_OP_EXP, 1, 1},  {"abs", S_OP_ABS, 1, 1},
};

static int s_expr(s_parser_t *P, s_prog_t *g, s_ctx_t ctx);

static int s_expect_op(s_parser_t *P, const char *op, const char *after)
{
    const s_tok_t *t = s_peek(P);
    if (s_is(t, S_OP, op)) {
        s_next(P);
        return 0;
    }
    char got[64];
    s_show(t, got, sizeof got);
    return s_fail(P, t->line, "expected '%s' %s, found %s", op, after, got);
}

static int s_primary(s_parser_t *P, s_prog_t *g, s_ctx_t ctx)
{
    const s_tok_t *t = s_next(P);
    char got[64];
    if (t->type == S_NUM) {
        s_emit(g, S_OP_CONST, t->num);
        return 0;
    }
    if (s_is(t, S_OP, "(")) {
        if (++P->nest > S_NEST_MAX)
            return s_fail(P, t->line, "expression nested too deeply");
        if (s_expr(P, g, ctx) != 0)
            return -1;
        P->nest--;
        return s_expect_op(P, ")", "to close the '('");
    }
    if (t->type == S_IDENT) {
        for (size_t f = 0; f < sizeof s_funcs / sizeof s_funcs[0]; f++) {
            if (!s_is(t, S_IDENT, s_funcs[f].name))
                continue;
            if (s_expect_op(P, "(", "after a function name") != 0)
                return -1;
            if (++P->nest > S_NEST_MAX)
                return s_fail(P, t->line, "expression nested too deeply");
            int nargs = 0;
            for (;;) {
                if (s_expr(P, g, ctx) != 0)
                    return -1;
                if (++nargs > 1 && (s_funcs[f].op == S_OP_MIN || s_funcs[f].op == S_OP_MAX))
                    s_emit(g, s_funcs[f].op, 0);
                if (!s_is(s_peek(P), S_OP, ","))
                    break;
                s_next(P);
            }
            P->nest--;
            if (nargs < s_funcs[f].min_args || nargs > s_funcs[f].max_args)
                return s_fail(P, t->line, "%s() takes %s%d argument%s, not %d", s_funcs[f].name,
                              s_funcs[f].min_args == s_funcs[f].max_args ? "" : "at least ",
                              s_funcs[f].min_args, s_funcs[f].min_args == 1 ? "" : "s", nargs);
            if (s_funcs[f].op != S_OP_MIN && s_funcs[f].op != S_OP_MAX)
                s_emit(g, s_funcs[f].op, 0);
            return s_expect_op(P, ")", "to close the argument list");
        }
        for (int v = 0; v < RV_COUNT; v++) {
            if (!s_is(t, S_IDENT, s_var_names[v]))
                continue;
            if (ctx == S_CTX_LEVEL && v != RV_N && v != RV_D && v != RV_KAPPA && v != RV_STEP)
                return s_fail(P, t->line,
                              "'%s' cannot be used in ideal= or collapsed= (only "
                              "n, d, kappa and step)",
                              s_var_names[v]);
            if (((1u << v) & S_LEVEL_VARS) && !P->level_line)
                P->level_line = t->line;
            g->e.uses |= 1u << v;
            s_emit(g, S_OP_VAR, v);
            return 0;
        }
        s_show(t, got, sizeof got);
        return s_fail(P, t->line,
                      "unknown name %s in an expression (variables: value, ideal, "
                      "collapsed, level, best, drop, n, d, kappa, step; functions: "
                      "min, max, sqrt, ln, log10, exp, abs)",
                      got);
    }
    s_show(t, got, sizeof got);
    return s_fail(P, t->line,
                  "expected a number, a name or '(' in an expression, "
                  "found %s",
                  got);
}

static int s_unary(s_parser_t *P, s_prog_t *g, s_ctx_t ctx)
{
    const s_tok_t *t = s_peek(P);
    if (s_is(t, S_OP, "-") || s_is(t, S_OP, "+")) {
        s_next(P);
        if (++P->nest > S_NEST_MAX)
            return s_fail(P, t->line, "expression nested too deeply");
        if (s_unary(P, g, ctx) != 0)
            return -1;
        P->nest--;
        if (t->p[0] == '-')
            s_emit(g, S_OP_NEG, 0);
        return 0;
    }
    return s_primary(P, g, ctx);
}

static int s_term(s_parser_t *P, s_prog_t *g, s_ctx_t ctx)
{
    if (s_unary(P, g, ctx) != 0)
        return -1;
    for (;;) {
        const s_tok_t *t = s_peek(P);
        if (!s_is(t, S_OP, "*") && !s_is(t, S_OP, "/"))
            return 0;
        s_next(P);
        if (s_unary(P, g, ctx) != 0)
            return -1;
        s_emit(g, t->p[0] == '*' ? S_OP_MUL : S_OP_DIV, 0);
    }
}

static int s_expr(s_parser_t *P, s_prog_t *g, s_ctx_t ctx)
{
    if (s_term(P, g, ctx) != 0)
        return -1;
    for (;;) {
        const s_tok_t *t = s_peek(P);
        if (!s_is(t, S_OP, "+") && !s_is(t, S_OP, "-"))
            break;
        s_next(P);
        if (s_term(P, g, ctx) != 0)
            return -1;
        s_emit(g, t->p[0] == '+' ? S_OP_ADD : S_OP_SUB, 0);
    }
    if (g->e.depth > S_STACK_MAX)
        return s_fail(P, s_peek(P)->line,
                      "expression too long (more than %d "
                      "values pending)",
                      S_STACK_MAX);
    return 0;
}

static int s_cmp_op(const s_tok_t *t, s_op_t *op)
{
    static const struct {
        const char *text;
        s_op_t op;
    } ops[] = {
        {"<", S_OP_LT},
        {"<=", S_OP_LE},
        {">", S_OP_GT},
        {">=", S_OP_GE},
    };
    for (size_t i = 0; i < 4; i++) {
        if (s_is(t, S_OP, ops[i].text)) {
            *op = ops[i].op;
            return 1;
        }
    }
    return 0;
}

static int s_comparison(s_parser_t *P, s_prog_t *g)
{
    const s_tok_t *first = s_peek(P);
    if (s_expr(P, g, S_CTX_COND) != 0)
        return -1;
    const s_tok_t *t = s_peek(P);
    s_op_t op;
    if (!s_cmp_op(t, &op)) {
        char got[64];
        s_show(t, got, sizeof got);
        return s_fail(P, t->line,
                      "expected a comparison (<, <=, >, >=) in the condition "
                      "starting '%.*s', found %s",
                      (int)(first->len > 40 ? 40 : first->len), first->p, got);
    }
    s_next(P);
    if (s_expr(P, g, S_CTX_COND) != 0)
        return -1;
    s_emit(g, op, 0);
    t = s_peek(P);
    if (s_cmp_op(t, &op))
        return s_fail(P, t->line,
                      "a comparison cannot be chained; join two "
                      "with 'and'");
    return 0;
}

static int s_and(s_parser_t *P, s_prog_t *g)
{
    if (s_comparison(P, g) != 0)
        return -1;
    while (s_is(s_peek(P), S_IDENT, "and")) {
        s_next(P);
        if (s_comparison(P, g) != 0)
            return -1;
        s_emit(g, S_OP_AND, 0);
    }
    return 0;
}

/* Parses a condition into *e and its source text into text. */
static int s_condition(s_parser_t *P, rules_expr_t *e, char *text, size_t textlen)
{
    s_prog_t g;
    memset(&g, 0, sizeof g);
    size_t i0 = P->i;
    int rc = s_and(P, &g);
    while (rc == 0 && s_is(s_peek(P), S_IDENT, "or")) {
        s_next(P);
        rc = s_and(P, &g);
        if (rc == 0)
            s_emit(&g, S_OP_OR, 0);
    }
    if (rc != 0) {
        s_expr_free(&g.e);
        return -1;
    }
    *e = g.e;
    /* The text as written, one space where the source had any. */
    size_t k = 0;
    for (size_t i = i0; i < P->i && k + 1 < textlen; i++) {
        const s_tok_t *t = &P->t[i];
        if (i > i0 && t->space)
            text[k++] = ' ';
        for (size_t j = 0; j < t->len && k + 1 < textlen; j++)
            text[k++] = t->p[j];
    }
    text[k] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- rules */

static const char *const s_fields[] = {
    "alertname", "run", "tag", "metric", "severity", "value", "step", "level", "best",
};
#define S_NFIELDS (sizeof s_fields / sizeof s_fields[0])

/* Checks the {placeholders} of a summary or description. */
static int s_check_template(s_parser_t *P, int line, const char *what, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '{' && p[1] == '{') {
            p++;
            continue;
        }
        if (*p != '{')
            continue;
        const char *end = strchr(p, '}');
        if (!end)
            return s_fail(P, line, "unclosed '{' in %s (write {{ for a brace)", what);
        size_t len = (size_t)(end - p - 1);
        int ok = 0;
        for (size_t f = 0; f < S_NFIELDS; f++)
            if (strlen(s_fields[f]) == len && memcmp(s_fields[f], p + 1, len) == 0)
                ok = 1;
        if (!ok)
            return s_fail(P, line,
                          "unknown placeholder '{%.*s}' in %s (known: {alertname}, "
                          "{run}, {tag}, {metric}, {severity}, {value}, {step}, "
                          "{level}, {best})",
                          (int)(len > 40 ? 40 : len), p + 1, what);
        p = end;
    }
    return 0;
}

/* A name value: a bare word or a "string"; 1..max bytes, printable. */
static int s_name_value(s_parser_t *P, const char *what, char *out, size_t outlen)
{
    const s_tok_t *t = s_next(P);
    char got[64];
    if (t->type == S_IDENT) {
        if (t->len >= outlen)
            return s_fail(P, t->line, "%s '%.*s...' is longer than %zu bytes", what, 40, t->p,
                          outlen - 1);
        memcpy(out, t->p, t->len);
        out[t->len] = '\0';
        return 0;
    }
    if (t->type == S_STR) {
        if (s_str_value(t, out, outlen) != 0)
            return s_fail(P, t->line, "%s %.40s... is longer than %zu bytes", what, t->p,
                          outlen - 1);
        if (!*out)
            return s_fail(P, t->line, "%s is empty", what);
        return 0;
    }
    s_show(t, got, sizeof got);
    return s_fail(P, t->line, "expected a name after '%s=', found %s", what, got);
}

static int s_count(s_parser_t *P, const char *kw, int64_t *n, rules_unit_t *unit)
{
    const s_tok_t *t = s_next(P);
    char got[64];
    if (t->type != S_NUM || t->num != floor(t->num) || t->num < 0 || t->num > (double)S_COUNT_MAX) {
        s_show(t, got, sizeof got);
        return s_fail(P, t->line,
                      "expected a whole number of steps or batches "
                      "after '%s', found %s",
                      kw, got);
    }
    *n = (int64_t)t->num;
    const s_tok_t *u = s_next(P);
    if (s_is(u, S_IDENT, "batches") || s_is(u, S_IDENT, "batch")) {
        *unit = RULES_BATCHES;
        return 0;
    }
    if (s_is(u, S_IDENT, "steps") || s_is(u, S_IDENT, "step")) {
        *unit = RULES_STEPS;
        return 0;
    }
    s_show(u, got, sizeof got);
    return s_fail(P, u->line, "'%s %lld' needs a unit, 'batches' or 'steps'; found %s", kw,
                  (long long)*n, got);
}

static void s_rule_free(rule_t *r)
{
    s_expr_free(&r->when);
    s_expr_free(&r->resolve);
    s_expr_free(&r->ideal);
    s_expr_free(&r->collapsed);
}

static int s_once(s_parser_t *P, const s_tok_t *kw, unsigned *seen, unsigned bit)
{
    if (*seen & bit)
        return s_fail(P, kw->line, "'%.*s' is given twice in one rule", (int)kw->len, kw->p);
    *seen |= bit;
    return 0;
}

enum {
    S_C_METRIC = 1u << 0,
    S_C_TAG = 1u << 1,
    S_C_WHEN = 1u << 2,
    S_C_RESOLVE = 1u << 3,
    S_C_FOR = 1u << 4,
    S_C_KEEP = 1u << 5,
    S_C_SEV = 1u << 6,
    S_C_SUMMARY = 1u << 7,
    S_C_DESC = 1u << 8,
    S_C_IDEAL = 1u << 9,
    S_C_COLLAPSED = 1u << 10,
};

static int s_level_expr(s_parser_t *P, rules_expr_t *e)
{
    s_prog_t g;
    memset(&g, 0, sizeof g);
    if (s_expr(P, &g, S_CTX_LEVEL) != 0) {
        s_expr_free(&g.e);
        return -1;
    }
    *e = g.e;
    return 0;
}

static int s_rule_body(s_parser_t *P, rule_t *r)
{
    unsigned seen = 0;
    char got[64];
    for (;;) {
        const s_tok_t *kw = s_peek(P);
        if (kw->type == S_EOF || s_is(kw, S_IDENT, "alert"))
            break;
        s_next(P);
        if (kw->type != S_IDENT) {
            s_show(kw, got, sizeof got);
            return s_fail(P, kw->line, "unexpected %s in rule '%s'", got, r->name);
        }
        if (s_is(kw, S_IDENT, "metric") || s_is(kw, S_IDENT, "scalar")) {
            r->is_scalar = kw->p[0] == 's';
            if (s_once(P, kw, &seen, S_C_METRIC) != 0 ||
                s_expect_op(P, "=", r->is_scalar ? "after 'scalar'" : "after 'metric'") != 0)
                return -1;
            int line = s_peek(P)->line;
            if (s_name_value(P, r->is_scalar ? "scalar" : "metric", r->metric, sizeof r->metric) !=
                0)
                return -1;
            if (!r->is_scalar && !rules_known_metric(r->metric))
                return s_fail(P, line,
                              "unknown metric '%s' (computed metrics: %s; "
                              "for a scalar the client sends, write scalar=NAME)",
                              r->metric, EW_METRIC_LIST);
            if (r->is_scalar && rules_known_metric(r->metric))
                return s_fail(P, line, "'%s' is a computed metric; write metric=%s", r->metric,
                              r->metric);
        } else if (s_is(kw, S_IDENT, "tag")) {
            if (s_once(P, kw, &seen, S_C_TAG) != 0 || s_expect_op(P, "=", "after 'tag'") != 0 ||
                s_name_value(P, "tag", r->tag, sizeof r->tag) != 0)
                return -1;
        } else if (s_is(kw, S_IDENT, "when")) {
            if (s_once(P, kw, &seen, S_C_WHEN) != 0 ||
                s_condition(P, &r->when, r->when_text, sizeof r->when_text) != 0)
                return -1;
        } else if (s_is(kw, S_IDENT, "resolve")) {
            if (s_once(P, kw, &seen, S_C_RESOLVE) != 0)
                return -1;
            const s_tok_t *w = s_next(P);
            if (!s_is(w, S_IDENT, "when")) {
                s_show(w, got, sizeof got);
                return s_fail(P, w->line, "expected 'when' after 'resolve', found %s", got);
            }
            if (s_condition(P, &r->resolve, r->resolve_text, sizeof r->resolve_text) != 0)
                return -1;
        } else if (s_is(kw, S_IDENT, "for")) {
            if (s_once(P, kw, &seen, S_C_FOR) != 0 ||
                s_count(P, "for", &r->for_n, &r->for_unit) != 0)
                return -1;
        } else if (s_is(kw, S_IDENT, "keep_firing_for")) {
            if (s_once(P, kw, &seen, S_C_KEEP) != 0 ||
                s_count(P, "keep_firing_for", &r->keep_n, &r->keep_unit) != 0)
                return -1;
        } else if (s_is(kw, S_IDENT, "severity")) {
            if (s_once(P, kw, &seen, S_C_SEV) != 0 || s_expect_op(P, "=", "after 'severity'") != 0)
                return -1;
            const s_tok_t *v = s_next(P);
            if (v->type != S_IDENT || v->len > RULES_SEVERITY_MAX) {
                s_show(v, got, sizeof got);
                return s_fail(P, v->line,
                              "expected a word of at most %d characters "
                              "after 'severity=', found %s",
                              RULES_SEVERITY_MAX, got);
            }
            memcpy(r->severity, v->p, v->len);
            r->severity[v->len] = '\0';
        } else if (s_is(kw, S_IDENT, "summary") || s_is(kw, S_IDENT, "description")) {
            int sum = kw->p[0] == 's';
            char *dst = sum ? r->summary : r->description;
            const char *what = sum ? "summary" : "description";
            if (s_once(P, kw, &seen, sum ? S_C_SUMMARY : S_C_DESC) != 0 ||
                s_expect_op(P, "=", sum ? "after 'summary'" : "after 'description'") != 0)
                return -1;
            const s_tok_t *v = s_next(P);
            if (v->type != S_STR) {
                s_show(v, got, sizeof got);
                return s_fail(P, v->line,
                              "expected a \"quoted string\" after '%s=', "
                              "found %s",
                              what, got);
            }
            if (s_str_value(v, dst, RULES_TEXT_MAX) != 0)
                return s_fail(P, v->line, "%s is longer than %d bytes", what, RULES_TEXT_MAX - 1);
            if (s_check_template(P, v->line, what, dst) != 0)
                return -1;
        } else if (s_is(kw, S_IDENT, "ideal") || s_is(kw, S_IDENT, "collapsed")) {
            int ideal = kw->p[0] == 'i';
            if (s_once(P, kw, &seen, ideal ? S_C_IDEAL : S_C_COLLAPSED) != 0 ||
                s_expect_op(P, "=", ideal ? "after 'ideal'" : "after 'collapsed'") != 0 ||
                s_level_expr(P, ideal ? &r->ideal : &r->collapsed) != 0)
                return -1;
        } else {
            s_show(kw, got, sizeof got);
            return s_fail(P, kw->line,
                          "unknown keyword %s in rule '%s' (expected metric=, "
                          "scalar=, tag=, when, resolve when, for, keep_firing_for, "
                          "severity=, summary=, description=, ideal=, collapsed=)",
                          got, r->name);
        }
    }
    if (!(seen & S_C_METRIC))
        return s_fail(P, r->line,
                      "rule '%s' names no metric; add metric=NAME or "
                      "scalar=NAME",
                      r->name);
    if (!(seen & S_C_WHEN))
        return s_fail(P, r->line, "rule '%s' has no 'when' condition", r->name);
    r->uses = r->when.uses | r->resolve.uses;
    if (r->uses & S_LEVEL_VARS) {
        int own = !r->is_scalar && metrics_has_levels(r->metric);
        if (!own && (!(seen & S_C_IDEAL) || !(seen & S_C_COLLAPSED)))
            return s_fail(P, P->level_line,
                          "rule '%s' uses ideal/collapsed/level/best/drop, but %s "
                          "'%s' has no such levels; give both ideal=EXPR and "
                          "collapsed=EXPR in the rule",
                          r->name, r->is_scalar ? "scalar" : "metric", r->metric);
    }
    if (!r->severity[0])
        snprintf(r->severity, sizeof r->severity, "warning");
    return 0;
}

static int s_parse(s_parser_t *P, rules_t *rs)
{
    size_t cap = 0;
    for (;;) {
        const s_tok_t *t = s_next(P);
        if (t->type == S_EOF)
            return 0;
        char got[64];
        if (!s_is(t, S_IDENT, "alert")) {
            s_show(t, got, sizeof got);
            return s_fail(P, t->line, "expected 'alert NAME' to start a rule, found %s", got);
        }
        const s_tok_t *nt = s_next(P);
        if (nt->type != S_IDENT || nt->len > RULES_NAME_MAX || memchr(nt->p, '.', nt->len)) {
            s_show(nt, got, sizeof got);
            return s_fail(P, nt->line,
                          "expected a rule name (letters, digits and _, "
                          "at most %d) after 'alert', found %s",
                          RULES_NAME_MAX, got);
        }
        for (size_t i = 0; i < rs->n; i++)
            if (strlen(rs->rule[i].name) == nt->len &&
                memcmp(rs->rule[i].name, nt->p, nt->len) == 0)
                return s_fail(P, nt->line, "rule '%.*s' is already defined at line %d",
                              (int)nt->len, nt->p, rs->rule[i].line);
        if (rs->n == RULES_MAX)
            return s_fail(P, t->line, "more than %d rules", RULES_MAX);
        if (rs->n == cap) {
            cap = cap ? 2 * cap : 8;
            rs->rule = ew_xrealloc(rs->rule, cap * sizeof *rs->rule);
        }
        rule_t *r = &rs->rule[rs->n];
        memset(r, 0, sizeof *r);
        memcpy(r->name, nt->p, nt->len);
        r->line = t->line;
        P->level_line = 0;
        rs->n++; /* counted now so that a failure frees its expressions */
        if (s_rule_body(P, r) != 0)
            return -1;
    }
}

rules_t *rules_empty(void)
{
    rules_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    return r;
}

int rules_parse(const char *text, const char *name, rules_t **out, char *err, size_t errlen)
{
    *out = NULL;
    s_parser_t P;
    memset(&P, 0, sizeof P);
    P.name = name ? name : "rules";
    P.err = err;
    P.errlen = errlen;
    rules_t *rs = rules_empty();
    int rc = s_tokenise(&P, text ? text : "");
    if (rc == 0)
        rc = s_parse(&P, rs);
    free(P.t);
    if (rc != 0) {
        rules_destroy(&rs);
        return -1;
    }
    *out = rs;
    return 0;
}

int rules_load(const char *path, rules_t **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read rules file '%s': %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            buf = ew_xrealloc(buf, cap);
        }
        size_t k = fread(buf + len, 1, cap - len - 1, f);
        len += k;
        if (k == 0 || len > S_FILE_MAX)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || len > S_FILE_MAX) {
        snprintf(err, errlen, "cannot read rules file '%s': %s", path,
                 bad ? "read error" : "larger than 4 MiB");
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        snprintf(err, errlen, "%s: holds a NUL byte; not a text file", path);
        free(buf);
        return -1;
    }
    int rc = rules_parse(buf, path, out, err, errlen);
    free(buf);
    return rc;
}

void rules_merge(rules_t *base, rules_t **addp)
{
    rules_t *add = addp ? *addp : NULL;
    if (!add)
        return;
    for (size_t i = 0; i < add->n; i++) {
        rule_t *dst = NULL;
        for (size_t j = 0; j < base->n; j++)
            if (strcmp(base->rule[j].name, add->rule[i].name) == 0)
                dst = &base->rule[j];
        if (dst) {
            s_rule_free(dst);
        } else {
            base->rule = ew_xrealloc(base->rule, (base->n + 1) * sizeof *base->rule);
            dst = &base->rule[base->n++];
        }
        *dst = add->rule[i]; /* moves the expressions */
    }
    free(add->rule);
    free(add);
    *addp = NULL;
}

void rules_destroy(rules_t **rp)
{
    if (!rp || !*rp)
        return;
    rules_t *r = *rp;
    for (size_t i = 0; i < r->n; i++)
        s_rule_free(&r->rule[i]);
    free(r->rule);
    free(r);
    *rp = NULL;
}

const rule_t *rules_find(const rules_t *r, const char *name)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->rule[i].name, name) == 0)
            return &r->rule[i];
    return NULL;
}

int rules_load_set(const char *path, int with_defaults, rules_t **out, char *err, size_t errlen)
{
    *out = NULL;
    rules_t *set = NULL;
    if (with_defaults) {
        if (rules_parse(rules_default_text, "built-in rules", &set, err, errlen) != 0)
            return -1;
    } else {
        set = rules_empty();
    }
    if (path && *path) {
        rules_t *file = NULL;
        if (rules_load(path, &file, err, errlen) != 0) {
            rules_destroy(&set);
            return -1;
        }
        rules_merge(set, &file);
    }
    *out = set;
    return 0;
}

static void s_unit(char *out, size_t outlen, const char *kw, int64_t n, rules_unit_t u)
{
    size_t k = strlen(out);
    if (n > 0 && k < outlen)
        snprintf(out + k, outlen - k, " %s %lld %s", kw, (long long)n,
                 u == RULES_STEPS ? "steps" : "batches");
}

void rules_describe(const rule_t *r, char *out, size_t outlen)
{
    if (!outlen)
        return;
    snprintf(out, outlen, "%s %s=%s%s%s when %s", r->name, r->is_scalar ? "scalar" : "metric",
             r->metric, r->tag[0] ? " tag=" : "", r->tag, r->when_text);
    s_unit(out, outlen, "for", r->for_n, r->for_unit);
    size_t k = strlen(out);
    if (r->resolve_text[0] && k < outlen)
        snprintf(out + k, outlen - k, " resolve when %s", r->resolve_text);
    s_unit(out, outlen, "keep_firing_for", r->keep_n, r->keep_unit);
    k = strlen(out);
    if (k < outlen)
        snprintf(out + k, outlen - k, " severity=%s", r->severity);
}

/* ---------------------------------------------------------------- text */

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static size_t s_utf8_fit(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

/* Appends what fits of s; returns -1 once out is full (a cut piece: later,
 * shorter pieces must not squeeze in after it). */
static int s_put(char *out, size_t outlen, size_t *k, const char *s, size_t len)
{
    size_t n = s_utf8_fit(s, len, outlen - 1 - *k);
    memcpy(out + *k, s, n);
    *k += n;
    return n < len ? -1 : 0;
}

static void s_num(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%.4g", v);
}

void rules_render(const char *tmpl, const rules_fields_t *f, char *out, size_t outlen)
{
    if (!outlen)
        return;
    size_t k = 0;
    int full = 0;
    for (const char *p = tmpl; *p && !full; p++) {
        const char *end;
        if (*p == '{' && p[1] == '{') {
            full = s_put(out, outlen, &k, "{", 1);
            p++;
            continue;
        }
        if (*p != '{' || !(end = strchr(p, '}'))) {
            size_t n = 1; /* a whole UTF-8 sequence, so a cut never splits one */
            while (((unsigned char)*p & 0xC0) == 0xC0 && (((unsigned char)p[n]) & 0xC0) == 0x80)
                n++;
            full = s_put(out, outlen, &k, p, n);
            p += n - 1;
            continue;
        }
        size_t len = (size_t)(end - p - 1);
        const char *name = p + 1;
        char num[64];
        const char *val = NULL;
#define S_IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
        if (S_IS("alertname"))
            val = f->alertname;
        else if (S_IS("run"))
            val = f->run;
        else if (S_IS("tag"))
            val = f->tag;
        else if (S_IS("metric"))
            val = f->metric;
        else if (S_IS("severity"))
            val = f->severity;
        else if (S_IS("value")) {
            s_num(num, sizeof num, f->value);
            val = num;
        } else if (S_IS("level")) {
            s_num(num, sizeof num, f->level);
            val = num;
        } else if (S_IS("best")) {
            s_num(num, sizeof num, f->best);
            val = num;
        } else if (S_IS("step")) {
            snprintf(num, sizeof num, "%lld", (long long)f->step);
            val = num;
        }
#undef S_IS
        if (!val) {
            full = s_put(out, outlen, &k, p, 1); /* not a placeholder: as is */
            continue;
        }
        full = s_put(out, outlen, &k, val, strlen(val));
        p = end;
    }
    out[k] = '\0';
}
