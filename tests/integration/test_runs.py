"""A run's life cycle end to end: `erwatch rm` and `erwatch mv` while a job
writes (alerts and the alert engine follow), their errors, the write
endpoints refusing what a web page can send, and retention (by age, and by
size under load with the file no longer growing)."""

import os
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np

os.environ.pop("LD_PRELOAD", None)  # see test_alerts.py

sys.path.insert(0, os.path.dirname(__file__))
from alerts_receiver import Pusher  # noqa: E402
from harness import CClient, Daemon, run_all, run_cli, test, unit_rows, wait_for  # noqa: E402

LOSS_RULE = ("alert LossHigh scalar=loss\n"
             "    when value > 1 for 3 batches\n"
             "    resolve when value < 0.5 keep_firing_for 2 batches\n"
             "    severity=critical\n")


def rules_daemon(*extra):
    d = Daemon("--no-default-rules", *extra)
    path = os.path.join(d.dir, "rules.conf")
    with open(path, "w") as f:
        f.write(LOSS_RULE)
    d.args += ["--rules", path]
    return d


def run_names(d):
    st, body = d.get("/api/runs")
    assert st == 200, (st, body)
    return [r["run"] for r in body["runs"]]


def alerts(d, **params):
    st, body = d.get("/api/alerts", **params)
    assert st == 200, (st, body)
    return body["alerts"]


def post(d, path, headers=None, method="POST"):
    req = urllib.request.Request(d.http + path, data=b"" if method == "POST" else None,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


class Writer(threading.Thread):
    """A job that keeps writing run `live` until stopped."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.p = Pusher(d)
        self.stop = threading.Event()
        self.steps = 0

    def run(self):
        while not self.stop.is_set():
            self.p.push("live", self.steps, loss=0.1)
            self.steps += 1
            time.sleep(0.002)

    def finish(self, d):
        """Stops, and waits until every batch it sent is stored."""
        self.stop.set()
        self.join(10)
        assert self.p.c.flush(5000) == 0
        self.p.close()
        wait_for(lambda: live_steps(d) == self.steps, timeout=30,
                 what="the %d batches of run 'live'" % self.steps)


def live_steps(d):
    return d.sql("SELECT count(*) FROM series_points WHERE run = 'live' AND metric = 'loss'")[0][0]


@test
def rm_and_mv_while_a_job_writes():
    with rules_daemon() as d:
        job = Writer(d)
        job.start()
        p = Pusher(d)
        p.series("doomed", [5.0] * 6)
        p.series("moving", [5.0] * 6)
        wait_for(lambda: len(alerts(d, state="firing")) == 2, what="two firing alerts")
        fired = {a["run"]: a for a in alerts(d, state="firing")}
        assert set(fired) == {"doomed", "moving"}, fired

        r = run_cli("rm", "--http", d.http, "doomed")
        assert r.stdout.strip() == "deleted run 'doomed'", r.stdout
        r = run_cli("mv", "--http", d.http, "moving", "moved")
        assert r.stdout.strip() == "renamed run 'moving' to 'moved'", r.stdout
        names = run_names(d)
        assert "doomed" not in names and "moving" not in names and "moved" in names, names
        assert alerts(d, run="doomed") == [], alerts(d, run="doomed")
        moved = alerts(d, run="moved", state="firing")
        assert [a["id"] for a in moved] == [fired["moving"]["id"]], (moved, fired)
        st, s = d.get("/api/series", run="moved", tag="proj", metric="loss")
        assert st == 200 and s["value"] == [5.0] * 6, (st, s)
        st, s = d.get("/api/series", run="moving", tag="proj", metric="loss")
        assert st == 404, (st, s)

        # Its rows are removed in the background, to the last one.
        wait_for(lambda: d.sql("SELECT count(*) FROM runs_deleted")[0][0] == 0,
                 what="the purge of 'doomed'")
        orphans = d.sql("SELECT count(*) FROM points WHERE series_id NOT IN"
                        " (SELECT id FROM series)")[0][0]
        assert orphans == 0, orphans
        assert d.health()["runs"]["deleted"] == 1 and d.health()["runs"]["renamed"] == 1

        # The engine forgot 'doomed' (a new episode, new id, from the new
        # points) and kept 'moved''s episode going under its new name.
        p.series("doomed", [5.0] * 4, start=100)
        p.series("moved", [5.0] * 2, start=6)
        # (p.settle() counts all stored batches, the job's too: wait for ours)
        wait_for(lambda: d.sql("SELECT last_step FROM runs WHERE name IN ('doomed', 'moved')"
                               " ORDER BY name") == [(103,), (7,)], what="the new points")
        again = wait_for(lambda: alerts(d, run="doomed", state="firing"), what="a new episode")
        assert len(again) == 1 and again[0]["id"] > fired["moving"]["id"], again
        assert again[0]["first_step"] == 100, again
        assert [a["id"] for a in alerts(d, run="moved")] == [fired["moving"]["id"]]
        p.close()

        job.finish(d)  # every batch of the job stored, none lost
        h = d.health()
        assert h["batches"]["rejected"] == 0 and job.steps > 50, (h["batches"], job.steps)


@test
def rm_and_mv_errors_change_nothing():
    with rules_daemon() as d:
        p = Pusher(d)
        p.series("a", [0.1] * 3)
        p.series("b", [0.2] * 3)
        p.settle()
        p.close()
        before = d.sql("SELECT (SELECT group_concat(name) FROM runs),"
                       " (SELECT count(*) FROM points)")
        r = run_cli("rm", "--http", d.http, "ghost", check=False)
        assert r.returncode == 1 and "no run named 'ghost'" in r.stderr, r
        r = run_cli("mv", "--http", d.http, "a", "b", check=False)
        assert r.returncode == 1 and "a run named 'b' already exists" in r.stderr, r
        r = run_cli("mv", "--http", d.http, "ghost", "c", check=False)
        assert r.returncode == 1 and "no run named 'ghost'" in r.stderr, r
        r = run_cli("mv", "--http", d.http, "a", "bad\nname", check=False)
        assert r.returncode == 2 and "control character" in r.stderr, r
        r = run_cli("rm", "--http", d.http, check=False)
        assert r.returncode == 2 and "which run" in r.stderr, r
        # The API checks names itself too (not only the CLI).
        st, body, _ = post(d, "/api/runs/rename?run=a&to=x%0Ay",
                           headers={"X-Erwatch-Request": "1"})
        assert st == 400 and "control character" in body, (st, body)
        assert d.sql("SELECT (SELECT group_concat(name) FROM runs),"
                     " (SELECT count(*) FROM points)") == before
        assert d.health()["runs"]["deleted"] == 0 and d.health()["runs"]["renamed"] == 0
    r = run_cli("rm", "--http", "http://127.0.0.1:1", "x", check=False)
    assert r.returncode == 1 and "is erwatchd running?" in r.stderr, r


@test
def writes_refused_to_web_pages():
    with rules_daemon() as d:
        p = Pusher(d)
        p.series("keep", [0.1] * 2)
        p.settle()
        p.close()
        host = d.http[len("http://"):]
        mark = {"X-Erwatch-Request": "1"}
        cases = [
            ({}, 403),                                               # a form post
            (dict(mark, Origin="http://evil.example"), 403),          # another origin
            (dict(mark, **{"Sec-Fetch-Site": "cross-site"}), 403),
            (dict(mark, Origin="http://" + host, **{"Sec-Fetch-Site": "same-site"}), 403),
        ]
        for headers, want in cases:
            st, body, _ = post(d, "/api/runs/delete?run=keep", headers)
            assert st == want, (headers, st, body)
        st, body, hd = post(d, "/api/runs/delete?run=keep", method="GET")
        assert st == 405 and hd.get("Allow") == "POST", (st, body, hd)
        # The CORS preflight a cross-origin script needs gets no permission.
        st, body, hd = post(d, "/api/runs/delete?run=keep", mark, method="OPTIONS")
        assert st == 405 and not any(k.lower().startswith("access-control") for k in hd), hd
        assert "keep" in run_names(d)
        # Same origin, at the IP address: allowed.
        st, body, _ = post(d, "/api/runs/delete?run=keep",
                           dict(mark, Origin="http://" + host,
                                **{"Sec-Fetch-Site": "same-origin"}))
        assert st == 200 and '"deleted":"keep"' in body, (st, body)
        assert "keep" not in run_names(d)


@test
def retention_days_deletes_runs_older_than_the_limit():
    # 0.00005 days = 4.3 s
    with rules_daemon("--retention-days", "0.00005") as d:
        p = Pusher(d)
        p.series("old", [0.1] * 3)
        p.settle()
        t0 = time.monotonic()
        step = 0
        while "old" in run_names(d):
            p.push("new", step, loss=0.1)
            step += 1
            time.sleep(0.05)
            assert time.monotonic() - t0 < 20, "old run not deleted"
        p.settle()
        waited = time.monotonic() - t0
        assert waited > 3.0, waited  # not before its time
        assert "new" in run_names(d)
        assert d.health()["runs"]["retention_deleted"] == 1
        assert "retention: deleted run 'old'" in d.log()
        p.close()


def file_size(d):
    return os.path.getsize(d.db)


@test
def retention_size_deletes_oldest_runs_under_load_and_the_file_stops_growing():
    limit = 2 << 20
    rng = np.random.default_rng(5)
    x = unit_rows(rng, 128, 64)
    y = unit_rows(rng, 128, 64)
    runs = ["r%02d" % i for i in range(14)]
    per_run = 600
    with Daemon("--retention-size", str(limit), "--no-default-rules") as d:
        c = CClient(d.zmq, hwm=100000)
        assert c.wait_connected(5000) == 0
        sent = 0
        sizes = []
        for run in runs:
            for s in range(per_run):
                while c.push(run, "proj", s, x, y) != 0:
                    time.sleep(0.001)
                sent += 1
            d.wait_stored(sent, timeout=120)
            sizes.append(file_size(d))
        assert c.flush(5000) == 0
        assert c.stats().dropped == 0
        h = d.health()
        assert h["batches"]["stored"] == sent and h["batches"]["rejected"] == 0, h["batches"]
        wait_for(lambda: d.sql("SELECT count(*) FROM runs_deleted")[0][0] == 0, timeout=60,
                 what="the purge")
        left = d.sql("SELECT name FROM runs ORDER BY name")
        left = [r[0] for r in left]
        # Oldest first: what is left is the newest runs, in one piece.
        assert left == runs[len(runs) - len(left):], left
        assert 1 <= len(left) < len(runs) - 2, left
        assert d.health()["runs"]["retention_deleted"] == len(runs) - len(left)
        page_size, pages, free = (d.sql("PRAGMA page_size")[0][0], d.sql("PRAGMA page_count")[0][0],
                                  d.sql("PRAGMA freelist_count")[0][0])
        used = (pages - free) * page_size
        run_bytes = used / len(left)
        print("# sizes per run (MB): %s; used %.2f MB in %d runs, limit %.2f MB"
              % (" ".join("%.2f" % (s / 1e6) for s in sizes), used / 1e6, len(left), limit / 1e6))
        assert used <= limit + 2 * run_bytes, (used, limit, run_bytes)
        # The file stopped growing: at no point of the load did it pass the
        # limit by more than what the used pages may (free pages are reused;
        # the 14 runs without retention would take about 5 MB). Sampled
        # after each run; the file lags the data by what the WAL holds, so
        # comparing the halves of the load failed on a fast machine, whose
        # first half was still mostly in the WAL.
        assert max(sizes) <= limit + 2 * run_bytes, (sizes, limit, run_bytes)
        c.close()


if __name__ == "__main__":
    run_all()
