"""Alerting end to end: the real daemon with rules, a real HTTP receiver on
loopback (Python's http.server) taking webhooks, the exec hook, and the
alerts API. Metric values are driven by scalars (a rule can watch any
scalar), except in the test with real collapsing embeddings."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

# Under `make asan|tsan` this interpreter runs with the sanitizer runtime
# preloaded (for liberwatch.so). erwatchd is built with it and does not need
# that, and the /bin/sh its exec hook starts crashes with it: keep it from
# the processes these tests start.
os.environ.pop("LD_PRELOAD", None)

sys.path.insert(0, os.path.dirname(__file__))
from alerts_receiver import Pusher, Receiver, free_port  # noqa: E402
from harness import (ERWATCHD, CClient, Daemon, run_all, test, unit_rows,  # noqa: E402
                     wait_for)


def write_rules(d, text):
    path = os.path.join(d.dir, "rules.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def alerting_daemon(rules_text, *extra):
    """A daemon with only the given rules (no built-in ones)."""
    d = Daemon("--no-default-rules", *extra)
    path = write_rules(d, rules_text)
    d.args += ["--rules", path]
    return d


def alerts(d, **params):
    st, body = d.get("/api/alerts", **params)
    assert st == 200, (st, body)
    assert body["count"] == len(body["alerts"]), body
    return body["alerts"]


LOSS_RULE = ("alert LossHigh scalar=loss\n"
             "    when value > 1 for 3 batches\n"
             "    resolve when value < 0.5 keep_firing_for 2 batches\n"
             "    severity=critical\n"
             "    summary=\"{run}/{tag}: loss {value} at step {step}\"\n")


@test
def collapsing_run_fires_once_with_labels_then_one_resolved():
    with Receiver() as rx, alerting_daemon(LOSS_RULE, "--webhook", rx.url) as d:
        p = Pusher(d)
        p.series("bad-run", [0.1] * 5 + [2.0] * 20)
        p.series("good-run", [0.1] * 25)
        p.settle()
        wait_for(lambda: len(rx.bodies()) >= 1, 10, what="the firing webhook")
        time.sleep(0.5)  # nothing else may arrive
        posts = rx.bodies()
        assert len(posts) == 1, posts
        m = posts[0]
        assert m["version"] == "4" and m["status"] == "firing", m
        assert m["receiver"] and m["truncatedAlerts"] == 0, m
        a = m["alerts"][0]
        assert a["labels"] == {"alertname": "LossHigh", "run": "bad-run", "tag": "proj",
                               "metric": "loss", "severity": "critical"}, a
        assert a["status"] == "firing" and a["endsAt"] == "0001-01-01T00:00:00Z", a
        assert a["annotations"]["summary"] == "bad-run/proj: loss 2 at step 7", a
        assert a["generatorURL"] == d.http + "/?run=bad-run&tag=proj&metric=loss", a
        assert len(a["fingerprint"]) == 16, a
        assert m["groupLabels"] == {"alertname": "LossHigh", "run": "bad-run", "tag": "proj"}
        assert m["commonLabels"] == a["labels"] and m["externalURL"] == d.http, m
        assert m["groupKey"] == '{}:{alertname="LossHigh", run="bad-run", tag="proj"}', m

        fired = alerts(d, run="bad-run", state="firing")
        assert len(fired) == 1, fired
        f = fired[0]
        assert (f["rule"], f["metric"], f["severity"]) == ("LossHigh", "loss", "critical"), f
        assert f["first_step"] == 5 and f["fired_step"] == 7 and f["last_step"] == 24, f
        assert f["resolved_step"] is None and f["value"] == 2.0, f
        assert alerts(d, run="good-run") == []
        h = d.health()["alerts"]
        assert h["firing"] == 1 and h["fired"] == 1 and h["rules"] == 1, h

        # Recovery: one point under 0.5 is not enough (keep_firing_for 2).
        p.series("bad-run", [0.1] * 10, start=25)
        p.settle()
        wait_for(lambda: len(rx.bodies()) >= 2, 10, what="the resolved webhook")
        time.sleep(0.5)
        posts = rx.bodies()
        assert len(posts) == 2, posts
        r = posts[1]
        assert r["status"] == "resolved" and r["alerts"][0]["status"] == "resolved", r
        assert r["alerts"][0]["labels"] == a["labels"], r
        assert r["alerts"][0]["fingerprint"] == a["fingerprint"], r
        assert r["alerts"][0]["startsAt"] == a["startsAt"], r
        assert r["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z", r
        res = alerts(d, run="bad-run")
        assert len(res) == 1 and res[0]["state"] == "resolved", res
        assert res[0]["resolved_step"] == 26 and res[0]["id"] == f["id"], res
        h = d.health()["alerts"]
        assert h["firing"] == 0 and h["notifications"]["sent"] == 2, h
        # The table is the documented interface too.
        rows = d.sql("SELECT rule, run, tag, state, fired_step, resolved_step FROM alerts")
        assert rows == [("LossHigh", "bad-run", "proj", "resolved", 7, 26)], rows
        p.close()


@test
def oscillating_metric_sends_no_storm():
    with Receiver() as rx, alerting_daemon(LOSS_RULE, "--webhook", rx.url) as d:
        p = Pusher(d)
        # Around the firing threshold: never 3 in a row above it.
        p.series("wobbly", [0.9, 1.1] * 100)
        p.settle()
        time.sleep(0.5)
        assert rx.bodies() == [], rx.bodies()
        # (a pending episode may be open: the series ends above the threshold)
        assert alerts(d, run="wobbly", state="firing,resolved") == []
        # Once firing, hovering between the two thresholds keeps it firing.
        p.series("wobbly", [2.0] * 3 + [0.45, 0.9, 1.1, 0.6] * 50, start=200)
        p.settle()
        time.sleep(0.5)
        posts = rx.bodies()
        assert [b["status"] for b in posts] == ["firing"], posts
        assert len(alerts(d, run="wobbly")) == 1
        p.close()


@test
def receiver_down_then_back_gets_the_notification():
    port = free_port()
    url = "http://127.0.0.1:%d/hook" % port
    with alerting_daemon(LOSS_RULE, "--webhook", url, "--notify-retry", "60") as d:
        p = Pusher(d)
        p.series("r", [2.0] * 3)
        p.settle()
        wait_for(lambda: d.health()["alerts"]["notifications"]["errors"] >= 2, 10,
                 what="failed attempts while the receiver is down")
        assert "retrying" in d.log(), d.log()
        t_up = time.monotonic()
        with Receiver(port=port) as rx:
            # backoff 0.5 s doubling: the next attempt comes within ~8 s
            wait_for(lambda: rx.bodies(), 20, what="the retried webhook")
            time.sleep(0.5)
            posts = rx.bodies()
            assert len(posts) == 1 and posts[0]["status"] == "firing", posts
            print("# delivered %.1fs after the receiver came back" % (time.monotonic() - t_up))
        h = d.health()["alerts"]["notifications"]
        assert h["sent"] == 1 and h["dropped"] == 0, h
        p.close()


def ingest_seconds(d, p, runs, steps, start, value):
    """Pushes steps batches per run and waits until all are stored."""
    t0 = time.monotonic()
    for s in range(steps):
        for r in runs:
            p.push(r, start + s, loss=value)
    p.settle()
    return time.monotonic() - t0


@test
def hung_or_slow_receiver_leaves_ingest_rate_alone():
    runs = ["run%02d" % i for i in range(40)]
    with Receiver(hang=True) as hung, Receiver(delay=1.0) as slow, \
            alerting_daemon(LOSS_RULE, "--webhook", hung.url, "--webhook", slow.url,
                            "--notify-timeout", "8000") as d:
        p = Pusher(d)
        base = ingest_seconds(d, p, runs, 25, 0, 0.1)             # no alert fires
        loaded = ingest_seconds(d, p, runs, 25, 25, 2.0)          # 40 alerts fire
        firing = len(alerts(d, state="firing"))
        assert firing == 40, firing
        n = len(runs) * 25
        print("# ingest: %.0f batches/s without alerts, %.0f with 40 alerts and a hung "
              "and a slow receiver" % (n / base, n / loaded))
        assert loaded < 2.0 * base + 1.0, (base, loaded)
        # The receivers really were slow: the hung one has nothing, the slow
        # one is far behind (1 s per notification).
        assert hung.bodies() == []
        assert len(slow.bodies()) < 40, len(slow.bodies())
        # And shutting down does not wait for them for long.
        t0 = time.monotonic()
        p.close()
        assert d.stop() == 0
        took = time.monotonic() - t0
        assert took < 20, took  # at most about one --notify-timeout


@test
def exec_hook_runs_with_the_payload():
    out_dir = tempfile.mkdtemp(prefix="ew-hook-")
    try:
        hook = ('cat > "%s/hook-$ERWATCH_ALERT_STATUS.json"; '
                'ls /proc/self/fd > "%s/hook-fds"; '
                'echo "$ERWATCH_ALERTNAME $ERWATCH_RUN $ERWATCH_TAG $ERWATCH_VALUE" '
                '>> "%s/hook.log"' % (out_dir, out_dir, out_dir))
        # with a webhook too: its keep-alive socket must not reach the hook
        with Receiver() as rx, alerting_daemon(LOSS_RULE, "--alert-exec", hook,
                                               "--webhook", rx.url) as d:
            p = Pusher(d)
            p.series("ex", [2.0] * 3 + [0.1] * 2)
            p.settle()
            log = os.path.join(out_dir, "hook.log")
            wait_for(lambda: os.path.exists(log) and len(open(log).readlines()) == 2, 10,
                     what="two hook runs")
            with open(log) as f:
                assert f.read().splitlines() == ["LossHigh ex proj 2", "LossHigh ex proj 0.1"]
            with open(os.path.join(out_dir, "hook-firing.json")) as f:
                m = json.load(f)
            assert m["version"] == "4" and m["status"] == "firing", m
            assert m["alerts"][0]["labels"]["run"] == "ex", m
            with open(os.path.join(out_dir, "hook-resolved.json")) as f:
                assert json.load(f)["status"] == "resolved"
            assert "alert-exec" in d.log() and "ok" in d.log()
            # what the hook runs inherits stdin/out/err only (3 is the
            # directory `ls` itself opens to list)
            with open(os.path.join(out_dir, "hook-fds")) as f:
                fds = sorted(int(x) for x in f.read().split())
            assert fds == [0, 1, 2, 3], fds
            p.close()
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


@test
def exec_hook_that_hangs_is_killed_and_blocks_nothing():
    with alerting_daemon(LOSS_RULE, "--alert-exec", "sleep 60", "--notify-timeout", "500") as d:
        p = Pusher(d)
        t0 = time.monotonic()
        p.series("slowhook", [2.0] * 3 + [0.1] * 2)
        p.series("other", [0.1] * 50)
        p.settle()
        assert time.monotonic() - t0 < 10
        wait_for(lambda: "timed out, killed" in d.log(), 10, what="the hook to be killed")
        wait_for(lambda: d.health()["alerts"]["notifications"]["dropped"] == 2, 10,
                 what="both hook runs given up")
        p.close()
        t0 = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - t0 < 10


def run_daemon_expecting_failure(*args):
    p = subprocess.run([ERWATCHD, "--db", "/nonexistent-dir/x.db"] + list(args),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


@test
def bad_rules_file_fails_at_start_naming_the_line():
    tmp = tempfile.mkdtemp(prefix="ew-rules-")
    try:
        path = os.path.join(tmp, "rules.conf")
        with open(path, "w") as f:
            f.write("# my rules\n"
                    "alert Ok metric=er_entropy when level < 0.1 for 5 batches\n"
                    "\n"
                    "alert Typo\n"
                    "    when value < 0.1\n"
                    "    for 3 batches\n"
                    "    metric=entrpy\n")
        rc, out, err = run_daemon_expecting_failure("--rules", path)
        assert rc == 2, (rc, out, err)
        assert err.startswith("erwatchd: %s:7: unknown metric 'entrpy'" % path), err
        assert err.count("\n") == 1, err   # one line
        rc, out, err = run_daemon_expecting_failure("--rules", path + ".missing")
        assert rc == 2 and "cannot read rules file" in err, (rc, err)
        with open(path, "w") as f:
            f.write("alert A scalar=loss when value > 1 for 3 batchs\n")
        rc, out, err = run_daemon_expecting_failure("--rules", path)
        assert rc == 2 and ("%s:1: 'for 3' needs a unit" % path) in err, err
        # --check-rules prints what would run, and says OK.
        with open(path, "w") as f:
            f.write("alert A scalar=loss when value > 1 for 3 batches\n")
        p = subprocess.run([ERWATCHD, "--rules", path, "--check-rules"], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0, p
        lines = p.stdout.splitlines()
        assert lines[-1] == "4 rule(s) OK", lines
        assert "A scalar=loss when value > 1 for 3 batches severity=warning" in lines, lines
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def alerts_api_filters_and_rejects_bad_parameters():
    rules = LOSS_RULE + "alert LossLow scalar=loss tag=val when value < 0.05\n"
    with alerting_daemon(rules) as d:
        p = Pusher(d)
        p.series("a", [2.0] * 3)
        p.series("b", [2.0] * 3 + [0.1] * 2)
        p.series("c", [0.01], tag="val")
        p.settle()
        assert {a["run"] for a in alerts(d)} == {"a", "b", "c"}
        assert {a["run"] for a in alerts(d, state="firing")} == {"a", "c"}
        assert [a["run"] for a in alerts(d, state="resolved")] == ["b"]
        assert {a["run"] for a in alerts(d, state="pending,resolved")} == {"b"}
        assert {a["run"] for a in alerts(d, state="active")} == {"a", "c"}
        assert [a["rule"] for a in alerts(d, run="c")] == ["LossLow"]
        assert [a["run"] for a in alerts(d, tag="val")] == ["c"]
        assert len(alerts(d, limit=1)) == 1
        assert alerts(d, run="nobody") == []
        for bad in [{"state": "burning"}, {"state": ""}, {"state": "firing,"},
                    {"limit": "0"}, {"limit": "x"}, {"limit": "100001"}, {"run": ""}]:
            st, body = d.get("/api/alerts", **bad)
            assert st == 400 and "error" in body, (bad, st, body)
        h = d.health()["alerts"]
        assert h == {"rules": 2, "pending": 0, "firing": 2, "fired": 3,
                     "notifications": {"sent": 0, "errors": 0, "dropped": 0}}, h
        p.close()


@test
def firing_alert_survives_a_restart_without_a_second_notification():
    with Receiver() as rx:
        d = alerting_daemon(LOSS_RULE, "--webhook", rx.url)
        try:
            d.start()
            p = Pusher(d)
            p.series("r", [2.0] * 3)
            p.settle()
            wait_for(lambda: len(rx.bodies()) == 1, 10, what="the firing webhook")
            p.close()
            assert d.stop() == 0
            first = alerts_from_db(d)
            os.remove(d.ready)
            d.start()  # same database, same rules
            assert d.health()["alerts"]["firing"] == 1
            p = Pusher(d)
            p.series("r", [2.0] * 3, start=3)      # still firing: not notified again
            p.series("r", [0.1] * 2, start=6)      # recovers
            p.settle()
            wait_for(lambda: len(rx.bodies()) == 2, 10, what="the resolved webhook")
            time.sleep(0.3)
            assert [b["status"] for b in rx.bodies()] == ["firing", "resolved"]
            rows = alerts(d, run="r")
            assert len(rows) == 1 and rows[0]["id"] == first[0][0], (rows, first)
            assert rows[0]["state"] == "resolved" and rows[0]["fired_step"] == 2, rows
            p.close()
        finally:
            d.cleanup()


@test
def c_library_reply_channel_reports_firing_alerts():
    import ctypes
    import errno
    with alerting_daemon(LOSS_RULE) as d:
        p = Pusher(d)
        lib = p.c.lib
        lib.erwatch_alerts.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.c_char_p, ctypes.c_size_t]
        lib.erwatch_alerts.restype = ctypes.c_int
        buf = ctypes.create_string_buffer(1 << 16)

        def ask(run, url=d.http, timeout=2000, b=buf, n=None):
            return lib.erwatch_alerts(url.encode() if url else None, run.encode(), timeout,
                                      b, len(b) if n is None and b is not None else (n or 0))

        assert ask("job one") == 0, ask("job one")
        assert json.loads(buf.value) == {"alerts": [], "count": 0}
        p.series("job one", [2.0] * 3)
        p.settle()
        assert ask("job one") == 1
        got = json.loads(buf.value)["alerts"]
        assert got[0]["rule"] == "LossHigh" and got[0]["run"] == "job one", got
        assert ask("job one", b=None, n=0) == 1                  # count only
        assert ask("other") == 0
        small = ctypes.create_string_buffer(8)
        assert ask("job one", b=small) == -errno.ENOSPC and small.value == b""
        assert ask("job one", url="http://127.0.0.1:%d" % free_port()) == -errno.ECONNREFUSED
        with Receiver(hang=True) as hung:  # accepts, never answers
            t0 = time.monotonic()
            rc = ask("job one", url="http://127.0.0.1:%d" % hung.port, timeout=300)
            assert rc == -errno.ETIMEDOUT and time.monotonic() - t0 < 2, rc
        assert lib.erwatch_alerts(None, None, 100, None, 0) == -errno.EINVAL
        # The answer is parsed as JSON (jansson), not scanned: key order and
        # spacing do not matter, a wrong shape is -EPROTO.
        for body, want in ((b'{ "count" : 3, "alerts" : [] }', 3),
                           (b'{"alerts": "x", "count": 1}', -errno.EPROTO),
                           (b'{"alerts": [], "count": -1}', -errno.EPROTO),
                           (b'{"alerts": [], "count": 2', -errno.EPROTO),
                           (b'["count": 1]', -errno.EPROTO)):
            with _fixed_answer(body) as url:
                got = ask("job one", url=url)
                assert got == want, (body, got, want)
        p.close()


class _fixed_answer:
    """A loopback HTTP server answering every GET with 200 and body."""

    def __init__(self, body):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def alerts_from_db(d):
    return d.sql("SELECT id, state FROM alerts ORDER BY id")


@test
def real_collapsing_embeddings_fire_entropy_collapse_only_there():
    """Default rules, real embeddings: a run whose rows collapse onto one
    direction fires EntropyCollapse; a healthy run fires nothing."""
    rng = np.random.default_rng(7)
    n, dim = 128, 32
    with Receiver() as rx, Daemon("--webhook", rx.url) as d:
        c = CClient(d.zmq)
        assert c.wait_connected(5000) == 0
        center = unit_rows(rng, 1, dim)[0]
        sent = 0
        for step in range(20):
            assert c.push("healthy", "proj", step, unit_rows(rng, n, dim)) == 0
            if step < 8:
                z = unit_rows(rng, n, dim)
            else:  # every row within about 0.01 rad of one direction
                z = center + 0.01 * rng.standard_normal((n, dim)).astype(np.float32)
            assert c.push("collapse", "proj", step, np.ascontiguousarray(z, np.float32)) == 0
            sent += 2
        assert c.flush(5000) == 0
        d.wait_stored(sent)
        wait_for(lambda: rx.bodies(), 10, what="an alert for the collapsing run")
        time.sleep(0.5)
        fired = alerts(d, state="firing")
        assert {(a["rule"], a["run"]) for a in fired} >= {("EntropyCollapse", "collapse")}, fired
        assert all(a["run"] == "collapse" for a in fired), fired
        ent = [a for a in fired if a["rule"] == "EntropyCollapse"][0]
        assert ent["fired_step"] == 12 and ent["severity"] == "critical", ent
        assert "complete collapse" in ent["summary"], ent
        names = {b["alerts"][0]["labels"]["alertname"] for b in rx.bodies()}
        assert "EntropyCollapse" in names, names
        assert all(b["alerts"][0]["labels"]["run"] == "collapse" for b in rx.bodies())
        c.close()


run_all()
