/* alerts.c: the alert engine (see alerts.h).
 *
 * Design decisions:
 *  - One state per (rule, run, tag), found through an open-addressing hash
 *    map; states are allocated one by one and never move or die before the
 *    engine, so the dirty list can point at them.
 *  - Cheap per point: a rule's metric is found by a scan of the result's
 *    points (at most 96), its levels are recomputed only when the batch shape
 *    changes, and its conditions are short stack programs. Nothing is
 *    allocated per point once a state exists.
 *  - Transitions are reported at once (so persistence and notification see
 *    them in order); plain updates of an ongoing episode (last step, value)
 *    only mark it dirty and are written once per group by alerts_flush().
 *  - `best` is tracked in both directions (the highest and lowest value so
 *    far); which one is "best" depends on whether ideal lies above or below
 *    collapsed for that batch.
 */
#include "alerts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_levels.h"
#include "xalloc.h"

#define S_CACHE_NONE UINT32_MAX

typedef struct {
    alert_t *a;    /* the ongoing episode, or NULL: inactive */
    uint32_t rule; /* index in rules->rule */
    int64_t count; /* consecutive points in the current streak */
    int64_t since; /* first step of that streak */
    int dirty;     /* a changed since its last snapshot */
    int listed;    /* on the dirty list until alerts_flush(), even
                      when dirty was cleared since (fired, resolved,
                      dropped): never evicted while listed */
    int best_loaded;
    int have_best;
    double hi, lo; /* highest and lowest value so far */
    /* levels of the last shape seen */
    uint32_t ln, ld;
    double lk;
    int lsup;
    double ideal, collapsed;
    /* the key, for the map */
    uint64_t hash;
    size_t klen;
    char key[4 + 2 * (EW_NAME_MAX + 1)];
} s_state_t;

struct alerts {
    const rules_t *rules;
    int64_t next_id;
    alerts_history_fn history;
    void *history_ctx;
    s_state_t **slot; /* open addressing, cap a power of two */
    size_t cap, count;
    size_t max_states; /* past this, idle states are dropped */
    uint64_t evicted;
    s_state_t **dirty;
    size_t ndirty, cdirty;
    uint64_t npending, nfiring;
};

/* ---------------------------------------------------------------- helpers */

const char *alert_state_name(alert_state_t s)
{
    switch (s) {
    case ALERT_PENDING:
        return "pending";
    case ALERT_FIRING:
        return "firing";
    case ALERT_RESOLVED:
        return "resolved";
    }
    return "?";
}

alert_state_t alert_state_parse(const char *name)
{
    for (int s = ALERT_PENDING; s <= ALERT_RESOLVED; s++)
        if (strcmp(name, alert_state_name((alert_state_t)s)) == 0)
            return (alert_state_t)s;
    return (alert_state_t)0;
}

void alert_changes_clear(alert_changes_t *c)
{
    c->n = 0;
}

void alert_changes_free(alert_changes_t *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

static void s_change(alert_changes_t *c, alert_change_kind_t kind, int notify, const alert_t *a)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = ew_xrealloc(c->v, c->cap * sizeof *c->v);
    }
    alert_change_t *ch = &c->v[c->n++];
    ch->kind = kind;
    ch->notify = notify;
    ch->a = *a;
}

/* ---------------------------------------------------------------- map */

static uint64_t s_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* "RRRR" (rule index) "run\0tag" */
static size_t s_key(char *key, uint32_t rule, const char *run, const char *tag)
{
    memcpy(key, &rule, 4);
    size_t rl = strlen(run), tl = strlen(tag);
    memcpy(key + 4, run, rl + 1);
    memcpy(key + 5 + rl, tag, tl);
    return 5 + rl + tl;
}

static s_state_t *s_find(alerts_t *a, const char *key, size_t klen, uint64_t h)
{
    if (!a->cap)
        return NULL;
    for (size_t i = h & (a->cap - 1);; i = (i + 1) & (a->cap - 1)) {
        s_state_t *s = a->slot[i];
        if (!s)
            return NULL;
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
    }
}

/* Drops every idle state: no ongoing episode and nothing waiting for a
 * snapshot. What an idle state holds is a cache (the run's best and worst,
 * reloaded through the history lookup from series.vmax/vmin; the levels of
 * the last shape), so a run that comes back later loses nothing. Without
 * this, a daemon watching sweeps of thousands of runs would keep a state
 * for every (rule, run, tag) it ever saw. */
static void s_evict_idle(alerts_t *a)
{
    s_state_t **slot = calloc(a->cap, sizeof *slot);
    if (!slot)
        abort();
    size_t kept = 0;
    for (size_t i = 0; i < a->cap; i++) {
        s_state_t *st = a->slot[i];
        if (!st)
            continue;
        if (!st->a && !st->dirty && !st->listed) {
            free(st);
            a->evicted++;
            continue;
        }
        size_t j = st->hash & (a->cap - 1);
        while (slot[j])
            j = (j + 1) & (a->cap - 1);
        slot[j] = st;
        kept++;
    }
    free(a->slot);
    a->slot = slot;
    a->count = kept;
}

static void s_insert(alerts_t *a, s_state_t *s)
{
    if (a->count >= a->max_states)
        s_evict_idle(a);
    if ((a->count + 1) * 2 > a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        s_state_t **slot = calloc(cap, sizeof *slot);
        if (!slot)
            abort();
        for (size_t i = 0; i < a->cap; i++) {
            if (!a->slot[i])
                continue;
            size_t j = a->slot[i]->hash & (cap - 1);
            while (slot[j])
                j = (j + 1) & (cap - 1);
            slot[j] = a->slot[i];
        }
        free(a->slot);
        a->slot = slot;
        a->cap = cap;
    }
    size_t i = s->hash & (a->cap - 1);
    while (a->slot[i])
        i = (i + 1) & (a->cap - 1);
    a->slot[i] = s;
    a->count++;
}

static s_state_t *s_state(alerts_t *a, uint32_t rule, const char *run, const char *tag)
{
    char key[sizeof(((s_state_t *)0)->key)];
    size_t klen = s_key(key, rule, run, tag);
    uint64_t h = s_hash(key, klen);
    s_state_t *s = s_find(a, key, klen, h);
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->rule = rule;
    s->hash = h;
    s->klen = klen;
    memcpy(s->key, key, klen);
    s->ln = S_CACHE_NONE;
    s_insert(a, s);
    return s;
}

static void s_mark_dirty(alerts_t *a, s_state_t *s)
{
    s->dirty = 1;
    if (s->listed)
        return;
    s->listed = 1;
    if (a->ndirty == a->cdirty) {
        a->cdirty = a->cdirty ? 2 * a->cdirty : 64;
        a->dirty = ew_xrealloc(a->dirty, a->cdirty * sizeof *a->dirty);
    }
    a->dirty[a->ndirty++] = s;
}

/* ---------------------------------------------------------------- engine */

alerts_t *alerts_new(const rules_t *rules, int64_t next_id)
{
    alerts_t *a = calloc(1, sizeof *a);
    if (!a)
        abort();
    a->rules = rules;
    a->next_id = next_id > 0 ? next_id : 1;
    a->max_states = ALERTS_MAX_STATES;
    return a;
}

void alerts_destroy(alerts_t **ap)
{
    if (!ap || !*ap)
        return;
    alerts_t *a = *ap;
    for (size_t i = 0; i < a->cap; i++) {
        if (a->slot[i]) {
            free(a->slot[i]->a);
            free(a->slot[i]);
        }
    }
    free(a->slot);
    free(a->dirty);
    free(a);
    *ap = NULL;
}

void alerts_set_history(alerts_t *a, alerts_history_fn fn, void *ctx)
{
    a->history = fn;
    a->history_ctx = ctx;
}

void alerts_counts(const alerts_t *a, uint64_t *pending, uint64_t *firing)
{
    *pending = a->npending;
    *firing = a->nfiring;
}

/* Has a streak of count points starting at step since, now at step, lasted
 * n units? n = 0 means at once. */
static int s_reached(int64_t n, rules_unit_t unit, int64_t count, int64_t since, int64_t step)
{
    if (n <= 0)
        return 1;
    if (unit == RULES_BATCHES)
        return count >= n;
    return step - since >= n;
}

/* Starts a streak at step, or extends it; a step that goes back (a job
 * restarted from a checkpoint) restarts the step count there. */
static void s_streak(s_state_t *s, int64_t step)
{
    if (s->count == 0 || step < s->since)
        s->since = step;
    s->count++;
}

static void s_render(const rule_t *rule, alert_t *al, const double *v)
{
    rules_fields_t f = {
        .alertname = al->alertname,
        .run = al->run,
        .tag = al->tag,
        .metric = al->metric,
        .severity = al->severity,
        .value = al->value,
        .level = v[RV_LEVEL],
        .best = v[RV_BEST],
        .step = al->last_step,
    };
    if (rule->summary[0])
        rules_render(rule->summary, &f, al->summary, sizeof al->summary);
    else
        rules_render("{alertname}: {metric} of {run}/{tag} is {value} at step {step}", &f,
                     al->summary, sizeof al->summary);
    if (rule->description[0]) {
        rules_render(rule->description, &f, al->description, sizeof al->description);
    } else {
        char t[RULES_TEXT_MAX];
        snprintf(t, sizeof t, "rule %s: when %.200s%s", rule->name, rule->when_text,
                 rule->for_n ? " for " : "");
        size_t k = strlen(t);
        if (rule->for_n)
            snprintf(t + k, sizeof t - k, "%lld %s", (long long)rule->for_n,
                     rule->for_unit == RULES_STEPS ? "steps" : "batches");
        /* A template with no placeholders is copied as is, braces and all,
         * since rules_render() only replaces known names. */
        rules_render(t, &f, al->description, sizeof al->description);
    }
}

static alert_t *s_begin(alerts_t *a, const rule_t *rule, const result_t *r, int64_t step,
                        double value, double now)
{
    alert_t *al = calloc(1, sizeof *al);
    if (!al)
        abort();
    al->id = a->next_id++;
    snprintf(al->alertname, sizeof al->alertname, "%s", rule->name);
    snprintf(al->run, sizeof al->run, "%s", result_run(r));
    snprintf(al->tag, sizeof al->tag, "%s", r->tag);
    snprintf(al->metric, sizeof al->metric, "%s", rule->metric);
    snprintf(al->severity, sizeof al->severity, "%s", rule->severity);
    al->state = ALERT_PENDING;
    al->value = value;
    al->first_step = al->last_step = step;
    al->fired_step = al->resolved_step = -1;
    al->first_time = al->last_time = now;
    al->fired_time = al->resolved_time = NAN;
    return al;
}

/* Fills v[RV_IDEAL..RV_DROP] for this point. */
static void s_levels(s_state_t *s, const rule_t *rule, const result_t *r, double *v)
{
    if (s->ln != r->n || s->ld != r->d || s->lk != r->kappa || s->lsup != (int)r->support) {
        s->ln = r->n;
        s->ld = r->d;
        s->lk = r->kappa;
        s->lsup = (int)r->support;
        double ideal = NAN, collapsed = NAN;
        if (!rule->is_scalar)
            metrics_levels(rule->metric, r->support, r->n, r->d, r->kappa, &ideal, &collapsed);
        s->ideal = ideal;
        s->collapsed = collapsed;
    }
    double ideal = rule->ideal.nops ? rules_eval(&rule->ideal, v) : s->ideal;
    double collapsed = rule->collapsed.nops ? rules_eval(&rule->collapsed, v) : s->collapsed;
    double value = v[RV_VALUE];
    v[RV_IDEAL] = ideal;
    v[RV_COLLAPSED] = collapsed;
    v[RV_LEVEL] = ideal != collapsed ? (value - collapsed) / (ideal - collapsed) : NAN;
    double best = NAN;
    if (s->have_best && ideal > collapsed)
        best = s->hi;
    else if (s->have_best && ideal < collapsed)
        best = s->lo;
    v[RV_BEST] = best;
    /* A run that never left its collapsed level has dropped nothing. */
    v[RV_DROP] =
        best != collapsed ? (best - value) / (best - collapsed) : (isnan(best) ? NAN : 0.0);
}

static void s_fire(alerts_t *a, s_state_t *s, const rule_t *rule, const double *v, int64_t step,
                   double now, alert_changes_t *out)
{
    alert_t *al = s->a;
    al->state = ALERT_FIRING;
    al->fired_step = step;
    al->fired_time = now;
    s_render(rule, al, v);
    a->npending--;
    a->nfiring++;
    s->count = 0; /* from now on: the streak of points that clear it */
    s->dirty = 0;
    s_change(out, ALERT_CH_UPSERT, 1, al);
}

static void s_eval(alerts_t *a, uint32_t ri, const rule_t *rule, const result_t *r, double value,
                   double now, alert_changes_t *out)
{
    s_state_t *s = s_state(a, ri, result_run(r), r->tag);
    int64_t step = (int64_t)r->step;

    if ((rule->uses & ((1u << RV_BEST) | (1u << RV_DROP))) && !s->best_loaded) {
        s->best_loaded = 1;
        double hi, lo;
        if (a->history &&
            a->history(a->history_ctx, result_run(r), r->tag, rule->metric, &hi, &lo) == 0 &&
            !isnan(hi) && !isnan(lo)) {
            s->hi = hi;
            s->lo = lo;
            s->have_best = 1;
        }
    }
    if (!s->have_best) {
        s->hi = s->lo = value;
        s->have_best = 1;
    } else {
        if (value > s->hi)
            s->hi = value;
        if (value < s->lo)
            s->lo = value;
    }

    double v[RV_COUNT];
    v[RV_VALUE] = value;
    v[RV_N] = r->n;
    v[RV_D] = r->d;
    v[RV_KAPPA] = r->kappa;
    v[RV_STEP] = (double)step;
    s_levels(s, rule, r, v);

    int when = rules_eval(&rule->when, v) != 0;
    int clear = rule->resolve.nops ? rules_eval(&rule->resolve, v) != 0 : !when;

    if (!s->a) {
        if (!when)
            return;
        s->a = s_begin(a, rule, r, step, value, now);
        s_render(rule, s->a, v);
        a->npending++;
        s->count = 0;
        s_streak(s, step);
        if (s_reached(rule->for_n, rule->for_unit, s->count, s->since, step)) {
            s_fire(a, s, rule, v, step, now, out);
        } else {
            s->dirty = 0;
            s_change(out, ALERT_CH_UPSERT, 0, s->a);
        }
        return;
    }

    alert_t *al = s->a;
    al->value = value;
    al->last_step = step;
    al->last_time = now;
    if (al->state == ALERT_PENDING) {
        if (!when) {
            s_change(out, ALERT_CH_DELETE, 0, al);
            free(al);
            s->a = NULL;
            s->count = 0;
            s->dirty = 0;
            a->npending--;
            return;
        }
        s_streak(s, step);
        if (s_reached(rule->for_n, rule->for_unit, s->count, s->since, step))
            s_fire(a, s, rule, v, step, now, out);
        else
            s_mark_dirty(a, s);
        return;
    }

    /* Firing: `when` or the band between the two thresholds keeps it so. */
    if (when || !clear) {
        s->count = 0;
        s_mark_dirty(a, s);
        return;
    }
    s_streak(s, step);
    if (!s_reached(rule->keep_n, rule->keep_unit, s->count, s->since, step)) {
        s_mark_dirty(a, s);
        return;
    }
    al->state = ALERT_RESOLVED;
    al->resolved_step = step;
    al->resolved_time = now;
    s_render(rule, al, v);
    s_change(out, ALERT_CH_UPSERT, 1, al);
    free(al);
    s->a = NULL;
    s->count = 0;
    s->dirty = 0;
    a->nfiring--;
}

void alerts_observe(alerts_t *a, const result_t *r, double now, alert_changes_t *out)
{
    const rules_t *rs = a->rules;
    for (size_t ri = 0; rs && ri < rs->n; ri++) {
        const rule_t *rule = &rs->rule[ri];
        if (rule->tag[0] && strcmp(rule->tag, r->tag) != 0)
            continue;
        for (int i = 0; i < r->npoints; i++) {
            if (strcmp(r->points[i].metric, rule->metric) != 0)
                continue;
            if (!isnan(r->points[i].value))
                s_eval(a, (uint32_t)ri, rule, r, r->points[i].value, now, out);
            break;
        }
    }
}

void alerts_rewind(alerts_t *a, const char *run, int64_t step, double now, alert_changes_t *out)
{
    size_t rl = strlen(run);
    for (size_t i = 0; i < a->cap; i++) {
        s_state_t *s = a->slot[i];
        if (!s || s->klen < 5 + rl || memcmp(s->key + 4, run, rl + 1) != 0)
            continue;
        alert_t *al = s->a;
        if (al && al->state == ALERT_PENDING) {
            s_change(out, ALERT_CH_DELETE, 0, al);
            a->npending--;
        } else if (al) {
            al->state = ALERT_RESOLVED;
            al->resolved_step = step;
            al->resolved_time = now;
            s_change(out, ALERT_CH_UPSERT, 1, al);
            if (al->first_step >= step) /* it was about removed points only */
                s_change(out, ALERT_CH_DELETE, 0, al);
            a->nfiring--;
        }
        free(al);
        /* A fresh start; s->dirty and s->listed stay as they are: the
         * state may be on the dirty list, and a listed one is never
         * evicted. */
        s->a = NULL;
        s->count = 0;
        s->best_loaded = 0;
        s->have_best = 0;
    }
}

void alerts_flush(alerts_t *a, alert_changes_t *out)
{
    for (size_t i = 0; i < a->ndirty; i++) {
        s_state_t *s = a->dirty[i];
        if (s->dirty && s->a)
            s_change(out, ALERT_CH_UPSERT, 0, s->a);
        s->dirty = 0;
        s->listed = 0;
    }
    a->ndirty = 0;
}

int alerts_restore(alerts_t *a, const alert_t *row)
{
    if (!row || (row->state != ALERT_PENDING && row->state != ALERT_FIRING) || !row->run[0] ||
        !row->tag[0] || row->id <= 0)
        return -EINVAL;
    const rules_t *rs = a->rules;
    size_t ri = 0;
    while (rs && ri < rs->n && strcmp(rs->rule[ri].name, row->alertname) != 0)
        ri++;
    if (!rs || ri == rs->n || strcmp(rs->rule[ri].metric, row->metric) != 0)
        return -ENOENT;
    s_state_t *s = s_state(a, (uint32_t)ri, row->run, row->tag);
    if (s->a)
        return -EEXIST;
    s->a = malloc(sizeof *s->a);
    if (!s->a)
        abort();
    *s->a = *row;
    if (row->id >= a->next_id)
        a->next_id = row->id + 1;
    /* A pending streak restarts at its last point: a restart costs a few
     * points of `for`, never an alert fired early. */
    s->count = row->state == ALERT_PENDING ? 1 : 0;
    s->since = row->last_step;
    if (row->state == ALERT_PENDING)
        a->npending++;
    else
        a->nfiring++;
    return 0;
}

/* Whether state s belongs to run (its key is "RRRR" run "\0" tag). */
static int s_of_run(const s_state_t *s, const char *run, size_t rl)
{
    return s->klen >= 5 + rl && memcmp(s->key + 4, run, rl) == 0 && s->key[4 + rl] == '\0';
}

void alerts_run_changed(alerts_t *a, const char *run, const char *new_name, double now,
                        alert_changes_t *out)
{
    size_t rl = strlen(run);
    s_state_t **moved = NULL;
    size_t nmoved = 0;
    /* The new name has no run, so no state either; if it somehow has some,
     * they give way. */
    if (new_name)
        alerts_run_changed(a, new_name, NULL, now, out);
    /* Take the run's states out of the map (they are rehashed or freed). */
    for (size_t i = 0; i < a->cap; i++) {
        s_state_t *st = a->slot[i];
        if (!st || !s_of_run(st, run, rl))
            continue;
        moved = ew_xrealloc(moved, (nmoved + 1) * sizeof *moved);
        moved[nmoved++] = st;
    }
    if (!nmoved)
        return;
    s_state_t **slot = calloc(a->cap, sizeof *slot);
    if (!slot)
        abort();
    size_t kept = 0;
    for (size_t i = 0; i < a->cap; i++) {
        s_state_t *st = a->slot[i];
        if (!st || s_of_run(st, run, rl))
            continue;
        size_t j = st->hash & (a->cap - 1);
        while (slot[j])
            j = (j + 1) & (a->cap - 1);
        slot[j] = st;
        kept++;
    }
    free(a->slot);
    a->slot = slot;
    a->count = kept;

    /* The dirty list must not keep a state that is freed below. */
    size_t k = 0;
    for (size_t i = 0; i < a->ndirty; i++) {
        int gone = 0;
        for (size_t j = 0; j < nmoved && new_name == NULL; j++)
            gone |= a->dirty[i] == moved[j];
        if (!gone)
            a->dirty[k++] = a->dirty[i];
    }
    a->ndirty = k;

    for (size_t i = 0; i < nmoved; i++) {
        s_state_t *st = moved[i];
        alert_t *al = st->a;
        if (al && al->state == ALERT_FIRING) {
            /* Receivers that track it by its labels must learn it ended. */
            alert_t end = *al;
            end.state = ALERT_RESOLVED;
            end.resolved_step = al->last_step;
            end.resolved_time = now;
            s_change(out, ALERT_CH_UPSERT, 1, &end);
        }
        if (!new_name) {
            if (al) {
                if (al->state == ALERT_FIRING)
                    a->nfiring--;
                else
                    a->npending--;
            }
            free(al);
            free(st);
            continue;
        }
        /* Renamed: the same state under the new key. */
        char key[sizeof st->key], tag[EW_NAME_MAX + 1];
        size_t tl = st->klen - 5 - rl;
        memcpy(tag, st->key + 5 + rl, tl);
        tag[tl] = '\0';
        size_t klen = s_key(key, st->rule, new_name, tag);
        uint64_t h = s_hash(key, klen);
        memcpy(st->key, key, klen);
        st->klen = klen;
        st->hash = h;
        if (al) {
            snprintf(al->run, sizeof al->run, "%s", new_name);
            if (al->state == ALERT_FIRING)
                s_change(out, ALERT_CH_UPSERT, 1, al);
        }
        s_insert(a, st);
    }
    free(moved);
}

void alerts_set_max_states(alerts_t *a, size_t n)
{
    a->max_states = n ? n : 1;
}

uint64_t alerts_evicted(const alerts_t *a)
{
    return a->evicted;
}
