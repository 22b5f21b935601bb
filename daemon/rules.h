/* rules.h: alert rules, their text format and their expressions.
 *
 * A rules file is a list of rules in a small line-oriented language
 * (README.md, "Alerting"):
 *
 *   alert EntropyCollapse metric=er_entropy
 *       when level < 0.1 for 5 batches
 *       resolve when level > 0.2 keep_firing_for 5 batches
 *       severity=critical summary="{run}/{tag}: complete collapse"
 *
 * Pure: rules_parse() takes text and returns rules or an error naming the
 * line ("rules.conf:7: unknown metric 'entrpy'"); rules_eval() evaluates a
 * compiled expression on the variables of one point. No I/O besides
 * rules_load() reading the file, no globals, no threads.
 *
 * Ownership: rules_parse()/rules_load() return an owned rules_t that
 * rules_destroy(&r) frees (and sets to NULL). A rules_t is immutable after
 * parsing and may be read from any thread.
 */
#ifndef ERWATCH_RULES_H
#define ERWATCH_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

#define RULES_NAME_MAX 64 /* alertname bytes */
#define RULES_SEVERITY_MAX 32
#define RULES_TEXT_MAX 512 /* summary, description, condition text */
#define RULES_MAX 256      /* rules in one set */

/* The variables an expression can read (README.md lists their meaning). */
typedef enum {
    RV_VALUE = 0, /* the point's value */
    RV_IDEAL,     /* the metric's ideal level for this batch's shape */
    RV_COLLAPSED, /* its fully collapsed level */
    RV_LEVEL,     /* (value - collapsed) / (ideal - collapsed): 0 collapsed, 1 ideal */
    RV_BEST,      /* the run's best value so far (furthest from collapsed) */
    RV_DROP,      /* (best - value) / (best - collapsed) */
    RV_N,
    RV_D,
    RV_KAPPA,
    RV_STEP,
    RV_COUNT
} rules_var_t;

/* A compiled expression: a small stack program. */
typedef struct {
    uint8_t *op;
    double *arg; /* the constant of a push, per op */
    size_t nops;
    int depth;     /* stack slots needed */
    unsigned uses; /* bit (1 << rules_var_t) per variable read */
} rules_expr_t;

typedef enum { RULES_BATCHES = 0, RULES_STEPS = 1 } rules_unit_t;

typedef struct {
    char name[RULES_NAME_MAX + 1]; /* alertname */
    char metric[EW_NAME_MAX + 1];  /* metric or scalar name */
    int is_scalar;                 /* given as scalar=NAME */
    char tag[EW_NAME_MAX + 1];     /* "" : every tag */
    char severity[RULES_SEVERITY_MAX + 1];
    char summary[RULES_TEXT_MAX]; /* "" : a default is written */
    char description[RULES_TEXT_MAX];
    char when_text[RULES_TEXT_MAX];    /* the condition as written */
    char resolve_text[RULES_TEXT_MAX]; /* "" : "not when" */
    rules_expr_t when;
    rules_expr_t resolve;          /* nops == 0: not (when) */
    rules_expr_t ideal, collapsed; /* nops == 0: the metric's own */
    int64_t for_n;                 /* 0: fire at the first point */
    rules_unit_t for_unit;
    int64_t keep_n; /* keep_firing_for; 0: resolve at once */
    rules_unit_t keep_unit;
    unsigned uses; /* union of every expression's uses */
    int line;      /* where `alert` is, for messages */
} rule_t;

typedef struct {
    rule_t *rule;
    size_t n;
} rules_t;

/* The built-in rule set, in the rules language (README.md explains each). */
extern const char rules_default_text[];

/* Parses text (name is used in messages, e.g. the file path). Returns 0 and
 * *out, or -1 with "NAME:LINE: what is wrong" in err. */
int rules_parse(const char *text, const char *name, rules_t **out, char *err, size_t errlen);
/* Reads and parses a file. Errors as rules_parse, or "cannot read ...". */
int rules_load(const char *path, rules_t **out, char *err, size_t errlen);
/* Appends the rules of *add to *base; a rule of add whose name is already in
 * base replaces it (a file can re-tune a built-in rule). Frees *add. */
void rules_merge(rules_t *base, rules_t **add);
rules_t *rules_empty(void);
void rules_destroy(rules_t **r);
const rule_t *rules_find(const rules_t *r, const char *name);

/* Evaluates e on vars (indexed by rules_var_t). A comparison with NaN is
 * false; a condition's result is 1.0 or 0.0. */
double rules_eval(const rules_expr_t *e, const double *vars);

/* The values a summary or description template can name, as {run} etc. */
typedef struct {
    const char *alertname, *run, *tag, *metric, *severity;
    double value, level, best; /* NAN prints as "n/a" */
    int64_t step;
} rules_fields_t;

/* Writes tmpl with its {placeholders} filled into out (always terminated,
 * cut at a UTF-8 boundary when it does not fit). */
void rules_render(const char *tmpl, const rules_fields_t *f, char *out, size_t outlen);

/* One line saying what r does, in the rules language (for --check-rules
 * and logs): "EntropyCollapse metric=er_entropy when level < 0.1 for 5
 * batches resolve when ... severity=critical". */
void rules_describe(const rule_t *r, char *out, size_t outlen);

/* Loads the rule set the daemon runs: the built-in rules (unless
 * with_defaults is 0), then the rules of path (unless NULL or ""), a rule of
 * the file replacing a built-in one of the same name. Returns 0 and *out, or
 * -1 with "FILE:LINE: message" in err. */
int rules_load_set(const char *path, int with_defaults, rules_t **out, char *err, size_t errlen);

/* 1 when metric is a computed metric the daemon knows, else 0. */
int rules_known_metric(const char *metric);

#endif
