/* test_alerts.c: the alert state machine: `for` in batches and in steps, a
 * pending episode that ends without firing, resolve hysteresis,
 * keep_firing_for, drop from the run's best (both directions, and after a
 * restart), restore, independence of runs and tags, levels of a real
 * metric. Values are driven directly through results, as the writer does. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "alerts.h"
#include "metrics.h"
#include "metrics_levels.h"
#include "notify.h"
#include "rules.h"
#include "store.h"
#include "strbuf.h"
#include "test.h"

static char s_err[512];

static rules_t *s_rules(const char *text)
{
    rules_t *r = NULL;
    if (rules_parse(text, "test", &r, s_err, sizeof s_err) != 0) {
        fprintf(stderr, "  rules: %s\n", s_err);
        return NULL;
    }
    return r;
}

static result_t s_res(const char *run, const char *tag, int64_t step, const char *metric,
                      double value)
{
    result_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.run, sizeof r.run, "%s", run);
    snprintf(r.tag, sizeof r.tag, "%s", tag);
    r.step = (uint64_t)step;
    r.n = 256;
    r.d = 64;
    r.views = 1;
    r.kappa = 10;
    r.rank = r.world = -1;
    r.npoints = 2;
    snprintf(r.points[0].metric, sizeof r.points[0].metric, "er_entropy");
    r.points[0].value = NAN;
    snprintf(r.points[1].metric, sizeof r.points[1].metric, "%s", metric);
    r.points[1].value = value;
    return r;
}

/* Feeds one value of scalar x; returns how many changes it produced. */
static size_t s_feed(alerts_t *a, alert_changes_t *ch, int64_t step, double x)
{
    result_t r = s_res("run", "proj", step, "x", x);
    size_t before = ch->n;
    alerts_observe(a, &r, 1000.0 + (double)step, ch);
    return ch->n - before;
}

static size_t s_notifications(const alert_changes_t *ch, alert_state_t state)
{
    size_t n = 0;
    for (size_t i = 0; i < ch->n; i++)
        if (ch->v[i].notify && ch->v[i].a.state == state)
            n++;
    return n;
}

/* ---------------------------------------------------------------- for */

TEST(for_batches_fires_on_the_nth_point_once)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 for 3 batches severity=page\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    uint64_t pending, firing;

    ASSERT_EQ(s_feed(a, &ch, 1, 5), 0);   /* healthy: nothing */
    ASSERT_EQ(s_feed(a, &ch, 2, 0.5), 1); /* pending row */
    ASSERT_EQ(ch.v[0].kind, ALERT_CH_UPSERT);
    ASSERT_EQ(ch.v[0].notify, 0);
    ASSERT_EQ(ch.v[0].a.state, ALERT_PENDING);
    ASSERT_EQ(ch.v[0].a.id, 1);
    ASSERT_EQ(ch.v[0].a.first_step, 2);
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(pending, 1);
    ASSERT_EQ(firing, 0);
    ASSERT_EQ(s_feed(a, &ch, 3, 0.4), 0); /* 2 of 3: only dirty */
    ASSERT_EQ(s_feed(a, &ch, 4, 0.3), 1); /* 3 of 3: fires */
    const alert_t *f = &ch.v[1].a;
    ASSERT_EQ(ch.v[1].notify, 1);
    ASSERT_EQ(f->state, ALERT_FIRING);
    ASSERT_EQ(f->id, 1);
    ASSERT_EQ(f->first_step, 2);
    ASSERT_EQ(f->fired_step, 4);
    ASSERT_EQ(f->last_step, 4);
    ASSERT_MIXED(f->fired_time, 1004.0, 1e-12);
    ASSERT_MIXED(f->value, 0.3, 1e-15);
    ASSERT_STREQ(f->alertname, "Low");
    ASSERT_STREQ(f->run, "run");
    ASSERT_STREQ(f->tag, "proj");
    ASSERT_STREQ(f->metric, "x");
    ASSERT_STREQ(f->severity, "page");
    ASSERT_STREQ(f->summary, "Low: x of run/proj is 0.3 at step 4");
    ASSERT_HAS(f->description, "when value < 1 for 3 batches");
    for (int s = 5; s < 50; s++)
        s_feed(a, &ch, s, 0.1); /* still low: no new notification */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    ASSERT_EQ(ch.n, 2);
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(pending, 0);
    ASSERT_EQ(firing, 1);

    /* the updates are written once per flush, with the latest values */
    alerts_flush(a, &ch);
    ASSERT_EQ(ch.n, 3);
    ASSERT_EQ(ch.v[2].notify, 0);
    ASSERT_EQ(ch.v[2].a.last_step, 49);
    ASSERT_EQ(ch.v[2].a.state, ALERT_FIRING);
    alerts_flush(a, &ch);
    ASSERT_EQ(ch.n, 3);

    alert_changes_free(&ch);
    alerts_destroy(&a);
    ASSERT_NULL(a);
    rules_destroy(&rs);
}

TEST(pending_that_recovers_is_deleted_and_never_notified)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 for 3 batches\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 7);
    alert_changes_t ch = {0};
    s_feed(a, &ch, 1, 0.5);
    s_feed(a, &ch, 2, 0.5);
    ASSERT_EQ(s_feed(a, &ch, 3, 2), 1);
    ASSERT_EQ(ch.v[1].kind, ALERT_CH_DELETE);
    ASSERT_EQ(ch.v[1].a.id, 7);
    uint64_t pending, firing;
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(pending, 0);
    /* the streak starts over: two more low points are not enough */
    s_feed(a, &ch, 4, 0.5);
    s_feed(a, &ch, 5, 0.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    ASSERT_EQ(ch.v[ch.n - 1].a.id, 8); /* a new episode, a new id */
    s_feed(a, &ch, 6, 0.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(for_steps_counts_steps_not_points)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 for 20 steps\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    s_feed(a, &ch, 100, 0.5);
    s_feed(a, &ch, 110, 0.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    s_feed(a, &ch, 119, 0.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    s_feed(a, &ch, 120, 0.5); /* 20 steps after 100 */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(for_zero_fires_at_the_first_point)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    ASSERT_EQ(s_feed(a, &ch, 1, 0.5), 1);
    ASSERT_EQ(ch.v[0].a.state, ALERT_FIRING);
    ASSERT_EQ(ch.v[0].notify, 1);
    ASSERT_EQ(ch.v[0].a.first_step, 1);
    ASSERT_EQ(ch.v[0].a.fired_step, 1);
    /* no keep_firing_for, no resolve: the first point above resolves */
    ASSERT_EQ(s_feed(a, &ch, 2, 1.5), 1);
    ASSERT_EQ(ch.v[1].a.state, ALERT_RESOLVED);
    ASSERT_EQ(ch.v[1].notify, 1);
    ASSERT_EQ(ch.v[1].a.resolved_step, 2);
    ASSERT_MIXED(ch.v[1].a.resolved_time, 1002.0, 1e-12);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

/* ---------------------------------------------------------------- flapping */

TEST(oscillating_around_threshold_never_fires_with_for)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 for 3 batches\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    for (int s = 0; s < 1000; s++)
        s_feed(a, &ch, s, s % 2 ? 0.99 : 1.01);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 0);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(resolve_hysteresis_keeps_firing_in_the_band)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 resolve when value > 2\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    s_feed(a, &ch, 0, 0.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    /* hovering around the firing threshold, and anywhere below 2 */
    for (int s = 1; s < 500; s++)
        s_feed(a, &ch, s, s % 2 ? 0.99 : 1.9);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 0);
    s_feed(a, &ch, 500, 2.1);
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 1);
    /* hovering around the resolve threshold does not re-fire */
    for (int s = 501; s < 1000; s++)
        s_feed(a, &ch, s, s % 2 ? 1.9 : 2.1);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 1);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(keep_firing_for_needs_a_clean_streak)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 keep_firing_for 3 batches\n"
                          "alert LowSteps scalar=y when value < 1 keep_firing_for 30 steps\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    s_feed(a, &ch, 0, 0.5);
    s_feed(a, &ch, 1, 1.5);
    s_feed(a, &ch, 2, 1.5);
    s_feed(a, &ch, 3, 0.5); /* relapse: streak resets */
    s_feed(a, &ch, 4, 1.5);
    s_feed(a, &ch, 5, 1.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 0);
    s_feed(a, &ch, 6, 1.5); /* third clean point */
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 1);
    const alert_t *r = &ch.v[ch.n - 1].a;
    ASSERT_EQ(r->first_step, 0);
    ASSERT_EQ(r->fired_step, 0);
    ASSERT_EQ(r->resolved_step, 6);

    alert_changes_clear(&ch);
    for (int s = 0; s <= 40; s += 10) {
        result_t res = s_res("run", "proj", s, "y", s == 0 ? 0.5 : 1.5);
        alerts_observe(a, &res, 1.0, &ch);
    }
    /* clean since step 10: resolved at step 40 (30 steps later) */
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 1);
    ASSERT_EQ(ch.v[ch.n - 1].a.resolved_step, 40);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

/* ---------------------------------------------------------------- best */

TEST(drop_from_best_higher_is_better)
{
    rules_t *rs = s_rules("alert Dropped scalar=x ideal=1 collapsed=0 when drop > 0.5 "
                          "resolve when drop < 0.2 summary=\"best {best} now {value}\"\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    s_feed(a, &ch, 0, 0.2);
    s_feed(a, &ch, 1, 0.8); /* best 0.8 */
    s_feed(a, &ch, 2, 0.5); /* drop 0.375 */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    s_feed(a, &ch, 3, 0.3); /* drop 0.625 */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    ASSERT_STREQ(ch.v[ch.n - 1].a.summary, "best 0.8 now 0.3");
    s_feed(a, &ch, 4, 0.6); /* drop 0.25: in the band */
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 0);
    s_feed(a, &ch, 5, 0.7); /* drop 0.125 */
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 1);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(drop_from_best_lower_is_better)
{
    /* a loss: ideal 0 below collapsed 10, so best is the lowest value */
    rules_t *rs = s_rules("alert Worse scalar=x ideal=0 collapsed=10 when drop > 0.5\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    s_feed(a, &ch, 0, 6);
    s_feed(a, &ch, 1, 2); /* best 2 */
    s_feed(a, &ch, 2, 5); /* drop 3/8 */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    s_feed(a, &ch, 3, 7); /* drop 5/8 */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

static int s_history_calls;

static int s_history(void *ctx, const char *run, const char *tag, const char *metric, double *max,
                     double *min)
{
    (void)ctx;
    s_history_calls++;
    if (strcmp(run, "run") || strcmp(tag, "proj") || strcmp(metric, "x"))
        return -1;
    *max = 0.9;
    *min = 0.1;
    return 0;
}

TEST(best_survives_a_restart_through_history)
{
    rules_t *rs = s_rules("alert Dropped scalar=x ideal=1 collapsed=0 when drop > 0.5\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alerts_set_history(a, s_history, NULL);
    alert_changes_t ch = {0};
    s_history_calls = 0;
    s_feed(a, &ch, 10, 0.4); /* (0.9 - 0.4) / 0.9 = 0.56 */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    s_feed(a, &ch, 11, 0.4);
    ASSERT_EQ(s_history_calls, 1); /* once per state */
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

/* Past its state limit the engine drops idle states only: an alert under
 * way (pending here) survives a flood of other runs and still fires. */
TEST(idle_states_are_evicted_active_ones_kept)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 for 3 batches\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alerts_set_max_states(a, 8);
    alert_changes_t ch = {0};
    result_t r = s_res("run", "proj", 1, "x", 0.5); /* pending */
    alerts_observe(a, &r, 1001, &ch);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    for (int i = 0; i < 100; i++) { /* 100 other, healthy runs */
        char name[32];
        snprintf(name, sizeof name, "other-%d", i);
        result_t o = s_res(name, "proj", 1, "x", 5.0);
        alerts_observe(a, &o, 1002, &ch);
    }
    ASSERT_GE(alerts_evicted(a), 90);
    for (int step = 2; step <= 3; step++) {
        r = s_res("run", "proj", step, "x", 0.5);
        alerts_observe(a, &r, 1000 + step, &ch);
    }
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1); /* the streak was kept */
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

/* A state marked dirty and then cleared in the same group (a pending
 * alert dropped here) stays on the dirty list until the flush: evicting
 * it before would leave the list pointing at freed memory (make asan sees
 * the read in alerts_flush). The flush must then report nothing for it. */
TEST(state_on_the_dirty_list_is_not_evicted_before_the_flush)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 for 3 batches\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alerts_set_max_states(a, 8);
    alert_changes_t ch = {0};
    result_t r = s_res("run", "proj", 1, "x", 0.5); /* pending */
    alerts_observe(a, &r, 1001, &ch);
    r = s_res("run", "proj", 2, "x", 0.5); /* still pending: dirty */
    alerts_observe(a, &r, 1002, &ch);
    r = s_res("run", "proj", 3, "x", 5.0); /* dropped: idle, listed */
    alerts_observe(a, &r, 1003, &ch);
    size_t before = ch.n;
    for (int i = 0; i < 100; i++) { /* evictions, no flush */
        char name[32];
        snprintf(name, sizeof name, "other-%d", i);
        result_t o = s_res(name, "proj", 1, "x", 5.0);
        alerts_observe(a, &o, 1004, &ch);
    }
    ASSERT_GE(alerts_evicted(a), 90);
    alerts_flush(a, &ch);
    ASSERT_EQ(ch.n, before); /* nothing for the dropped one */
    uint64_t pending, firing;
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(pending, 0);
    ASSERT_EQ(firing, 0);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(run_that_never_left_collapsed_has_no_drop)
{
    rules_t *rs = s_rules("alert Dropped scalar=x ideal=1 collapsed=0 when drop > 0.5 "
                          "alert Stays scalar=x ideal=1 collapsed=0 when drop < 0.5\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    s_feed(a, &ch, 0, 0);
    s_feed(a, &ch, 1, 0);
    ASSERT_EQ(ch.n, 1);
    ASSERT_STREQ(ch.v[0].a.alertname, "Stays");
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

/* ---------------------------------------------------------------- scope */

TEST(runs_and_tags_are_independent_and_tag_filters)
{
    rules_t *rs = s_rules("alert Any scalar=x when value < 1\n"
                          "alert OnlyProj scalar=x tag=proj when value < 1\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    result_t r1 = s_res("r1", "proj", 1, "x", 0.5);
    result_t r2 = s_res("r2", "back", 1, "x", 0.5);
    result_t r3 = s_res("r1", "back", 1, "x", 2.0);
    alerts_observe(a, &r1, 1, &ch);
    alerts_observe(a, &r2, 1, &ch);
    alerts_observe(a, &r3, 1, &ch);
    ASSERT_EQ(ch.n, 3); /* Any r1/proj, OnlyProj r1/proj, Any r2/back */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 3);
    ASSERT_STREQ(ch.v[1].a.alertname, "OnlyProj");
    ASSERT_STREQ(ch.v[2].a.run, "r2");
    ASSERT_NE(ch.v[0].a.id, ch.v[1].a.id);
    ASSERT_NE(ch.v[1].a.id, ch.v[2].a.id);
    uint64_t pending, firing;
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(firing, 3);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(undefined_points_change_nothing)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 for 2 batches\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    s_feed(a, &ch, 1, 0.5);
    s_feed(a, &ch, 2, NAN);
    s_feed(a, &ch, 3, NAN);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    s_feed(a, &ch, 4, 0.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

/* ---------------------------------------------------------------- restore */

TEST(restore_firing_episode_keeps_its_id_and_resolves_later)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_t row;
    memset(&row, 0, sizeof row);
    row.id = 41;
    snprintf(row.alertname, sizeof row.alertname, "Low");
    snprintf(row.run, sizeof row.run, "run");
    snprintf(row.tag, sizeof row.tag, "proj");
    snprintf(row.metric, sizeof row.metric, "x");
    snprintf(row.severity, sizeof row.severity, "warning");
    row.state = ALERT_FIRING;
    row.first_step = row.fired_step = row.last_step = 5;
    row.resolved_step = -1;
    row.first_time = row.fired_time = row.last_time = 900;
    row.resolved_time = NAN;
    ASSERT_EQ(alerts_restore(a, &row), 0);
    ASSERT_EQ(alerts_restore(a, &row), -EEXIST);
    alert_t gone = row;
    snprintf(gone.alertname, sizeof gone.alertname, "Removed");
    ASSERT_EQ(alerts_restore(a, &gone), -ENOENT);
    alert_t moved = row;
    snprintf(moved.metric, sizeof moved.metric, "y"); /* the rule now watches x */
    snprintf(moved.run, sizeof moved.run, "other");
    ASSERT_EQ(alerts_restore(a, &moved), -ENOENT);
    uint64_t pending, firing;
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(firing, 1);

    alert_changes_t ch = {0};
    s_feed(a, &ch, 6, 0.5); /* still low: no re-notification */
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    s_feed(a, &ch, 7, 2);
    ASSERT_EQ(s_notifications(&ch, ALERT_RESOLVED), 1);
    ASSERT_EQ(ch.v[ch.n - 1].a.id, 41);
    ASSERT_EQ(ch.v[ch.n - 1].a.fired_step, 5);
    s_feed(a, &ch, 8, 0.5); /* next episode: a fresh id */
    ASSERT_EQ(ch.v[ch.n - 1].a.id, 42);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

/* ---------------------------------------------------------------- levels */

TEST(entropy_level_rule_on_real_levels)
{
    rules_t *rs = s_rules(rules_default_text);
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    double collapsed = metrics_vmf_log_norm(64, 10) - 10;
    double ideal, c2;
    ASSERT_EQ(metrics_levels("er_entropy", EW_SUPPORT_SPHERE, 256, 64, 10, &ideal, &c2), 0);
    for (int s = 0; s < 10; s++) {
        /* healthy at level 0.6, then 4 points at level 0.05 */
        result_t r = s_res("run", "proj", s, "loss", 1.0);
        double level = s < 6 ? 0.6 : 0.05;
        r.points[0].value = collapsed + level * (ideal - collapsed);
        alerts_observe(a, &r, 1, &ch);
    }
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0); /* 4 of 5 batches */
    result_t r = s_res("run", "proj", 10, "loss", 1.0);
    r.points[0].value = collapsed + 0.05 * (ideal - collapsed);
    alerts_observe(a, &r, 1, &ch);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    const alert_t *f = &ch.v[ch.n - 1].a;
    ASSERT_STREQ(f->alertname, "EntropyCollapse");
    ASSERT_STREQ(f->severity, "critical");
    ASSERT_HAS(f->summary, "run/proj: complete collapse");
    ASSERT_HAS(f->summary, "at level 0.05 ");
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(dimensional_rule_needs_both_low_rank_and_a_drop)
{
    rules_t *rs = s_rules(rules_default_text);
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    /* n 256, d 64: ideal 64; a steady low rank of 10 never fires */
    for (int s = 0; s < 20; s++) {
        result_t r = s_res("steady", "proj", s, "rankme", 10.0);
        alerts_observe(a, &r, 1, &ch);
    }
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    /* a run at rank 50 that falls to 8 fires after 5 batches */
    for (int s = 0; s < 20; s++) {
        result_t r = s_res("falls", "proj", s, "rankme", s < 10 ? 50.0 : 8.0);
        alerts_observe(a, &r, 1, &ch);
    }
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);
    ASSERT_STREQ(ch.v[ch.n - 1].a.alertname, "DimensionalCollapse");
    ASSERT_EQ(ch.v[ch.n - 1].a.fired_step, 14);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(state_names_round_trip)
{
    ASSERT_STREQ(alert_state_name(ALERT_PENDING), "pending");
    ASSERT_STREQ(alert_state_name(ALERT_FIRING), "firing");
    ASSERT_STREQ(alert_state_name(ALERT_RESOLVED), "resolved");
    ASSERT_EQ(alert_state_parse("firing"), ALERT_FIRING);
    ASSERT_EQ(alert_state_parse("Firing"), 0);
}

/* ---------------------------------------------------------------- payloads */

static alert_t s_alert(alert_state_t state)
{
    alert_t a;
    memset(&a, 0, sizeof a);
    a.id = 3;
    snprintf(a.alertname, sizeof a.alertname, "LossHigh");
    snprintf(a.run, sizeof a.run, "r1");
    snprintf(a.tag, sizeof a.tag, "t");
    snprintf(a.metric, sizeof a.metric, "loss");
    snprintf(a.severity, sizeof a.severity, "critical");
    snprintf(a.summary, sizeof a.summary, "say \"hi\"");
    snprintf(a.description, sizeof a.description, "d");
    a.state = state;
    a.value = 2.5;
    a.first_step = 5;
    a.fired_step = 7;
    a.last_step = 9;
    a.resolved_step = state == ALERT_RESOLVED ? 9 : -1;
    a.first_time = 1700000000.0;
    a.fired_time = 1700000001.25;
    a.last_time = 1700000002.0;
    a.resolved_time = state == ALERT_RESOLVED ? 1700000003.5 : NAN;
    return a;
}

/* Alertmanager's own value for these labels (FNV-1a over sorted names and
 * values, 0xff separators), computed independently in Python. */
TEST(fingerprint_matches_alertmanager)
{
    alert_t a = s_alert(ALERT_FIRING);
    char fp[17];
    notify_fingerprint(&a, fp);
    ASSERT_STREQ(fp, "ac648e9feb90f1a0");
}

TEST(rfc3339_times)
{
    char t[40];
    notify_rfc3339(1700000001.25, t, sizeof t);
    ASSERT_STREQ(t, "2023-11-14T22:13:21.250Z");
    notify_rfc3339(NAN, t, sizeof t);
    ASSERT_STREQ(t, "0001-01-01T00:00:00Z");
}

TEST(alertmanager_and_webhook_payloads)
{
    alert_t a = s_alert(ALERT_FIRING);
    snprintf(a.run, sizeof a.run, "r 1&x");
    strbuf_t b;
    strbuf_init(&b);
    notify_am_alert_json(&b, &a, "http://h:1/", 1700000240.0);
    ASSERT_STREQ(
        b.data, "{\"labels\":{\"alertname\":\"LossHigh\",\"metric\":\"loss\",\"run\":\"r 1&x\","
                "\"severity\":\"critical\",\"tag\":\"t\"},\"annotations\":{\"summary\":"
                "\"say \\\"hi\\\"\",\"description\":\"d\",\"value\":\"2.5\",\"step\":\"7\"},"
                "\"startsAt\":\"2023-11-14T22:13:21.250Z\",\"endsAt\":\"2023-11-14T22:17:20.000Z\","
                "\"generatorURL\":\"http://h:1/?run=r%201%26x&tag=t&metric=loss\"}");
    strbuf_reset(&b);
    a = s_alert(ALERT_RESOLVED);
    notify_webhook_json(&b, &a, "http://h:1");
    ASSERT_HAS(b.data, "\"version\":\"4\"");
    ASSERT_HAS(
        b.data,
        "{\"receiver\":\"erwatch\",\"status\":\"resolved\",\"alerts\":[{\"status\":\"resolved\"");
    ASSERT_HAS(b.data, "\"endsAt\":\"2023-11-14T22:13:23.500Z\"");
    ASSERT_HAS(b.data, "\"fingerprint\":\"ac648e9feb90f1a0\"");
    ASSERT_HAS(b.data,
               "\"groupKey\":\"{}:{alertname=\\\"LossHigh\\\", run=\\\"r1\\\", tag=\\\"t\\\"}\"");
    ASSERT_HAS(b.data, "\"externalURL\":\"http://h:1\"");
    ASSERT_HAS(b.data, "\"truncatedAlerts\":0}");
    strbuf_free(&b);
}

/* ---------------------------------------------------------------- store */

TEST(store_round_trip_and_schema_upgrade)
{
    char dir[] = "/tmp/ew-alerts-XXXXXX", path[128], err[512];
    ASSERT(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.db", dir);
    store_t *st = NULL;
    ASSERT_EQ(store_open(&st, path, err, sizeof err), 0);
    alert_change_t ch[4];
    memset(ch, 0, sizeof ch);
    ch[0].a = s_alert(ALERT_PENDING);
    ch[0].a.id = 1;
    ch[1].a = s_alert(ALERT_FIRING);
    ch[1].a.id = 2;
    ch[2].a = s_alert(ALERT_RESOLVED);
    ch[2].a.id = 3;
    ch[3].kind = ALERT_CH_DELETE;
    ch[3].a.id = 1;
    ASSERT_EQ(store_alerts_write(st, ch, 4, err, sizeof err), 0);
    alert_t *rows = NULL;
    size_t n = 0;
    int64_t max_id = 0;
    ASSERT_EQ(store_alerts_open(st, &rows, &n, &max_id, err, sizeof err), 0);
    ASSERT_EQ(n, 1); /* the firing one; pending deleted, resolved done */
    ASSERT_EQ(max_id, 3);
    ASSERT_EQ(rows[0].id, 2);
    ASSERT_EQ(rows[0].state, ALERT_FIRING);
    ASSERT_STREQ(rows[0].summary, "say \"hi\"");
    ASSERT_EQ(rows[0].fired_step, 7);
    ASSERT_EQ(rows[0].resolved_step, -1);
    ASSERT_NAN(rows[0].resolved_time);
    ASSERT_MIXED(rows[0].fired_time, 1700000001.25, 1e-15);
    free(rows);
    double hi, lo;
    ASSERT_EQ(store_series_range(st, "r1", "t", "loss", &hi, &lo), -1);
    store_close(&st);

    /* A version-1 file from before alerting: the table comes back on open. */
    sqlite3 *db;
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DROP TABLE alerts", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ASSERT_EQ(store_open(&st, path, err, sizeof err), 0);
    ASSERT_EQ(store_alerts_open(st, &rows, &n, &max_id, err, sizeof err), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(max_id, 0);
    free(rows);
    store_close(&st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* Version 3 -> 4: alerts gain the daemon that raised them; rows from
 * before keep NULL, new ones carry store_set_daemon()'s name. */
TEST(store_alerts_name_their_daemon_and_v3_files_upgrade)
{
    char dir[] = "/tmp/ew-alerts-XXXXXX", path[128], err[512];
    ASSERT(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.db", dir);
    store_t *st = NULL;
    ASSERT_EQ(store_open(&st, path, err, sizeof err), 0);
    alert_change_t ch[1];
    memset(ch, 0, sizeof ch);
    ch[0].a = s_alert(ALERT_FIRING);
    ch[0].a.id = 1;
    ASSERT_EQ(store_alerts_write(st, ch, 1, err, sizeof err), 0);
    store_close(&st);
    /* back to a version-3 alerts table */
    sqlite3 *db;
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE alerts DROP COLUMN daemon; PRAGMA user_version = 3;",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);

    ASSERT_EQ(store_open(&st, path, err, sizeof err), 0);
    store_set_daemon(st, "gpu07:5557");
    ch[0].a.id = 2;
    ASSERT_EQ(store_alerts_write(st, ch, 1, err, sizeof err), 0);
    store_close(&st);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT (SELECT user_version FROM pragma_user_version), id,"
                                 " coalesce(daemon, '(null)') FROM alerts ORDER BY id",
                                 -1, &q, NULL),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int(q, 0), EW_SCHEMA_VERSION);
    ASSERT_EQ(sqlite3_column_int(q, 1), 1);
    ASSERT_STREQ((const char *)sqlite3_column_text(q, 2), "(null)");
    ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int(q, 1), 2);
    ASSERT_STREQ((const char *)sqlite3_column_text(q, 2), "gpu07:5557");
    sqlite3_finalize(q);
    sqlite3_close(db);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* ---------------------------------------------------------------- rewind */

TEST(rewind_ends_what_removed_points_started)
{
    rules_t *rs = s_rules("alert Low scalar=x when value < 1 for 3 batches\n"
                          "alert Lower scalar=x when value < 0.2 for 2 batches\n");
    ASSERT(rs);
    alerts_t *a = alerts_new(rs, 1);
    alert_changes_t ch = {0};
    uint64_t pending, firing;
    for (int s = 1; s <= 3; s++)
        s_feed(a, &ch, s, 5);
    for (int s = 4; s <= 7; s++)
        s_feed(a, &ch, s, 0.5); /* Low fires at 6 */
    s_feed(a, &ch, 8, 0.1);     /* Lower pending at 8 */
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(pending, 1);
    ASSERT_EQ(firing, 1);
    /* another run's states are left alone */
    result_t other = s_res("other", "proj", 1, "x", 0.1);
    alerts_observe(a, &other, 1.0, &ch); /* Low and Lower pending for it */
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(pending, 3);

    /* a resume from step 5: Low began at 4 (kept, resolved at 5), Lower
     * began at 8 (deleted) */
    alert_changes_clear(&ch);
    alerts_rewind(a, "run", 5, 2000.0, &ch);
    alerts_counts(a, &pending, &firing);
    ASSERT_EQ(pending, 2); /* other's */
    ASSERT_EQ(firing, 0);
    size_t resolved = 0, deleted = 0;
    for (size_t i = 0; i < ch.n; i++) {
        if (ch.v[i].kind == ALERT_CH_DELETE) {
            deleted++;
            ASSERT_STREQ(ch.v[i].a.alertname, "Lower");
        } else {
            resolved++;
            ASSERT_EQ(ch.v[i].notify, 1);
            ASSERT_EQ(ch.v[i].a.state, ALERT_RESOLVED);
            ASSERT_EQ(ch.v[i].a.resolved_step, 5);
            ASSERT_STREQ(ch.v[i].a.alertname, "Low");
        }
    }
    ASSERT_EQ(resolved, 1);
    ASSERT_EQ(deleted, 1);
    /* the streak starts afresh: two low points do not fire Low (3 needed) */
    alert_changes_clear(&ch);
    s_feed(a, &ch, 5, 0.5);
    s_feed(a, &ch, 6, 0.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 0);
    s_feed(a, &ch, 7, 0.5);
    ASSERT_EQ(s_notifications(&ch, ALERT_FIRING), 1);

    /* a firing episode that began after the resume step goes entirely */
    alert_changes_clear(&ch);
    alerts_rewind(a, "run", 5, 3000.0, &ch);
    ASSERT_EQ(ch.n, 2);
    ASSERT_EQ(ch.v[0].kind, ALERT_CH_UPSERT);
    ASSERT_EQ(ch.v[0].notify, 1);
    ASSERT_EQ(ch.v[1].kind, ALERT_CH_DELETE);
    ASSERT_EQ(ch.v[1].a.id, ch.v[0].a.id);
    alert_changes_free(&ch);
    alerts_destroy(&a);
    rules_destroy(&rs);
}

TEST(urls_redacted_for_logs)
{
    static const char *cases[][2] = {
        {"https://u:p@hooks.example:8443/T0K3N?x=1", "https://***@hooks.example:8443/..."},
        {"http://user:p@ss@am:9093/api/v2/alerts", "http://***@am:9093/..."},
        {"http://127.0.0.1:9093/", "http://127.0.0.1:9093"},
        {"http://127.0.0.1:9093", "http://127.0.0.1:9093"},
        {"http://[::1]:80?token=1", "http://[::1]:80/..."},
    };
    char out[128];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        notify_redact_url(cases[i][0], out, sizeof out);
        ASSERT_STREQ(out, cases[i][1]);
    }
}

int main(void)
{
    return test_main((test_case_t[]){
        T(urls_redacted_for_logs),
        T(for_batches_fires_on_the_nth_point_once),
        T(rewind_ends_what_removed_points_started),
        T(pending_that_recovers_is_deleted_and_never_notified),
        T(for_steps_counts_steps_not_points),
        T(for_zero_fires_at_the_first_point),
        T(oscillating_around_threshold_never_fires_with_for),
        T(resolve_hysteresis_keeps_firing_in_the_band),
        T(keep_firing_for_needs_a_clean_streak),
        T(drop_from_best_higher_is_better),
        T(drop_from_best_lower_is_better),
        T(best_survives_a_restart_through_history),
        T(idle_states_are_evicted_active_ones_kept),
        T(state_on_the_dirty_list_is_not_evicted_before_the_flush),
        T(run_that_never_left_collapsed_has_no_drop),
        T(runs_and_tags_are_independent_and_tag_filters),
        T(undefined_points_change_nothing),
        T(restore_firing_episode_keeps_its_id_and_resolves_later),
        T(entropy_level_rule_on_real_levels),
        T(dimensional_rule_needs_both_low_rank_and_a_drop),
        T(state_names_round_trip),
        T(fingerprint_matches_alertmanager),
        T(rfc3339_times),
        T(alertmanager_and_webhook_payloads),
        T(store_round_trip_and_schema_upgrade),
        T(store_alerts_name_their_daemon_and_v3_files_upgrade),
        {0},
    });
}
