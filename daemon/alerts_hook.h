/* alerts_hook.h: alerting where points are stored. The writer thread calls
 * alerts_hook_run() after each committed group: the engine (alerts.h)
 * evaluates the rules on the group's results, fired and resolved alerts are
 * handed to the notifier (notify.h, which copies them and returns at once),
 * and the state changes are written to the alerts table in a transaction of
 * their own. Everything runs on the writer thread, so rule state needs no
 * lock; the cost when nothing changes is the rule evaluation alone.
 *
 * Ownership: alerts_hook_new() borrows rules, store (only for the call),
 * notify and stats; they must outlive the hook. alerts_hook_destroy(&h)
 * frees it.
 */
#ifndef ERWATCH_ALERTS_HOOK_H
#define ERWATCH_ALERTS_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "notify.h"
#include "rules.h"
#include "stats.h"
#include "store.h"

typedef struct alerts_hook alerts_hook_t;

/* Takes back the episodes stored before a restart: a firing one is
 * re-sent to Alertmanager (it must keep seeing it) but not to webhooks
 * (they were told); one whose rule is gone is resolved and notified.
 * Call before the writer starts. Returns NULL with err filled when the
 * alerts table cannot be read. notify may be NULL. */
alerts_hook_t *alerts_hook_new(const rules_t *rules, store_t *store, notify_t *notify,
                               stats_t *stats, char *err, size_t errlen);

/* The writer's hook (writer.h): evaluates results[0..n) and persists and
 * notifies the changes. n = 0 only writes what an earlier failure left. */
void alerts_hook_run(void *hook, store_t *store, result_t *const *results, size_t n);

/* A lifecycle listener (lifecycle.h): the run was deleted (new_name NULL)
 * or renamed; the engine's states and unwritten changes follow it, and
 * Alertmanager learns that its firing alerts ended (or were renamed). */
void alerts_hook_run_changed(void *hook, const char *run, const char *new_name, const int64_t *sids,
                             size_t nsids);

void alerts_hook_destroy(alerts_hook_t **h);

#endif
