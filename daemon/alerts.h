/* alerts.h: the alert engine. Evaluates rules (rules.h) on stored points and
 * keeps, per (rule, run, tag), the state machine
 *
 *   inactive --when--> pending --held `for`--> firing
 *   pending --not when--> inactive (the row is deleted: it never fired)
 *   firing --resolve held `keep_firing_for`--> resolved (episode over;
 *            the next `when` starts a new episode with a new id)
 *
 * A firing alert stays firing while its value is between the `when` and
 * `resolve` thresholds (hysteresis), so a metric hovering at a threshold
 * neither flaps nor storms.
 *
 * Pure and single-threaded: the writer thread owns an alerts_t (so rule
 * state needs no lock), feeds it each committed result and gets back the
 * changes to persist and to notify. No I/O; the one outside read (a run's
 * best value so far, after a restart) goes through a callback.
 *
 * Ownership: alerts_new() borrows the rules (they must outlive the engine)
 * and returns an owned engine; alerts_destroy(&a) frees it.
 */
#ifndef ERWATCH_ALERTS_H
#define ERWATCH_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "rules.h"

typedef enum { ALERT_PENDING = 1, ALERT_FIRING = 2, ALERT_RESOLVED = 3 } alert_state_t;

const char *alert_state_name(alert_state_t s); /* "pending", ... */
/* Returns the state for its name, or 0. */
alert_state_t alert_state_parse(const char *name);

/* One alert episode: a row of the `alerts` table (schema/README.md). Steps
 * are -1 and times NAN where the episode has not got there yet. Times are
 * the daemon's wall clock (Unix s). */
typedef struct {
    int64_t id;
    char alertname[RULES_NAME_MAX + 1];
    char run[EW_NAME_MAX + 1];
    char tag[EW_NAME_MAX + 1];
    char metric[EW_NAME_MAX + 1];
    char severity[RULES_SEVERITY_MAX + 1];
    alert_state_t state;
    double value; /* the latest value evaluated */
    int64_t first_step, fired_step, last_step, resolved_step;
    double first_time, fired_time, last_time, resolved_time;
    char summary[RULES_TEXT_MAX];
    char description[RULES_TEXT_MAX];
} alert_t;

typedef enum {
    ALERT_CH_UPSERT = 0, /* write this row (insert or replace by id) */
    ALERT_CH_DELETE      /* delete the row a.id (a pending episode ended) */
} alert_change_kind_t;

typedef struct {
    alert_change_kind_t kind;
    int notify; /* 1: the alert just fired or resolved: send it */
    alert_t a;
} alert_change_t;

/* A growable list the caller owns; alert_changes_free() frees its memory. */
typedef struct {
    alert_change_t *v;
    size_t n, cap;
} alert_changes_t;

void alert_changes_clear(alert_changes_t *c);
void alert_changes_free(alert_changes_t *c);

typedef struct alerts alerts_t;

/* Reads the highest and lowest stored value of (run, tag, metric). Returns
 * 0, or -1 when there is none. Called once per (rule, run, tag) that uses
 * best or drop, the first time the engine sees it, so that a restarted
 * daemon remembers a run's peak. */
typedef int (*alerts_history_fn)(void *ctx, const char *run, const char *tag, const char *metric,
                                 double *max, double *min);

/* next_id: the id the next episode gets (1 + the largest id stored). */
alerts_t *alerts_new(const rules_t *rules, int64_t next_id);
void alerts_destroy(alerts_t **a);
void alerts_set_history(alerts_t *a, alerts_history_fn fn, void *ctx);

/* Evaluates every rule that watches one of r's points (now: wall clock).
 * Appends state transitions to out: an UPSERT for each new, fired or
 * resolved episode (notify = 1 for fired and resolved), a DELETE for a
 * pending one that ended. Points that are NAN (undefined) change nothing. */
void alerts_observe(alerts_t *a, const result_t *r, double now, alert_changes_t *out);

/* A resume removed run's points at steps >= step (store.h): every state of
 * the run starts afresh (its streaks and best value came from removed
 * points). A pending episode is deleted; a firing one is resolved at step
 * (notify = 1) and, when it began at or after step, deleted after that. */
void alerts_rewind(alerts_t *a, const char *run, int64_t step, double now, alert_changes_t *out);

/* Appends an UPSERT with the latest values (last step, value) of every
 * ongoing episode updated since the previous flush. */
void alerts_flush(alerts_t *a, alert_changes_t *out);

/* Takes back a pending or firing episode stored before a restart. Returns
 * 0, -ENOENT when no rule of that name exists any more, -EEXIST when
 * (rule, run, tag) already has one, -EINVAL for a bad row. */
int alerts_restore(alerts_t *a, const alert_t *row);

/* The run was deleted (new_name NULL) or renamed: its states are dropped
 * or move to the new name. For each of its firing episodes out gets a
 * resolved copy under the old name (now: its resolution time) and, for a
 * rename, the episode under the new name, both with notify = 1, for
 * receivers that track alerts by their labels (Alertmanager); the table's
 * rows are the caller's to change (store_runs.h does it with the run). */
void alerts_run_changed(alerts_t *a, const char *run, const char *new_name, double now,
                        alert_changes_t *out);

void alerts_counts(const alerts_t *a, uint64_t *pending, uint64_t *firing); /* OUT */

/* The engine keeps one small state per (rule, run, tag); past this many it
 * drops the idle ones (no ongoing alert), which cost nothing to rebuild. */
#define ALERTS_MAX_STATES 65536
void alerts_set_max_states(alerts_t *a, size_t n); /* for tests */
uint64_t alerts_evicted(const alerts_t *a);        /* states dropped so far */

#endif
