"""GET /metrics through a real Prometheus (Debian's prometheus, 2.42): the
daemon is scraped every second on loopback, and Prometheus's own
/api/v1/query must return erwatch_metric values equal to the latest stored
points (/api/series), erwatch_step equal to the highest step, and the health
counters equal to /api/health. Then, on the daemon directly: the window and
the limit bound what is exposed, and bad parameters get a 400. Everything on
127.0.0.1 ephemeral ports in a temporary directory; skipped, visibly, only
when the prometheus binary is not installed."""

import json
import math
import os
import shutil
import sys
import time
import urllib.parse

import numpy as np

os.environ.pop("LD_PRELOAD", None)  # see test_alerts_am.py

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Daemon, Service, run_all, run_cli, save_npy, test, unit_rows,  # noqa: E402
                     wait_for)

PROM = shutil.which("prometheus") or "/usr/bin/prometheus"


class Prometheus(Service):
    def __init__(self, target):
        def argv(dir_, port):
            cfg = os.path.join(dir_, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write("global:\n"
                        "  scrape_interval: 1s\n"
                        "  scrape_timeout: 1s\n"
                        "scrape_configs:\n"
                        "  - job_name: erwatch\n"
                        "    static_configs:\n"
                        "      - targets: ['%s']\n" % target)
            return [PROM, "--config.file=" + cfg,
                    "--storage.tsdb.path=" + os.path.join(dir_, "data"),
                    "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"]
        super().__init__("prometheus", argv)

    def query(self, expr):
        body = self.get_json("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert body["status"] == "success", body
        return body["data"]["result"]


def push(d, run, step, x, y=None, scalars=()):
    args = ["push", "--endpoint", d.zmq, "--run", run, "--tag", "proj", "--step", step]
    for s in scalars:
        args += ["--scalar", s]
    args.append(x)
    if y:
        args.append(y)
    run_cli(*args)


def latest(d, run, metric):
    st, s = d.get("/api/series", run=run, tag="proj", metric=metric)
    assert st == 200, (st, s)
    return s["step"][-1], s["value"][-1]


def series_names(d, run):
    st, runs = d.get("/api/runs")
    assert st == 200, (st, runs)
    for r in runs["runs"]:
        if r["run"] == run:
            return sorted(next(t["metrics"] for t in r["tags"] if t["tag"] == "proj"))
    raise AssertionError("run %r not in /api/runs: %r" % (run, runs))


def inputs(d, rng):
    x = os.path.join(d.dir, "x.npy")
    y = os.path.join(d.dir, "y.npy")
    save_npy(x, unit_rows(rng, 64, 16))
    save_npy(y, unit_rows(rng, 64, 16))
    one = os.path.join(d.dir, "one.npy")  # one row: uniform, w2, rankme undefined
    save_npy(one, unit_rows(rng, 1, 16))
    return x, y, one


@test
def prometheus_scrapes_latest_points_and_health():
    if not os.path.exists(PROM):
        print("ok prometheus_scrapes_latest_points_and_health # SKIP %s not installed "
              "(scripts/deps.sh installs Debian's prometheus)" % PROM)
        return
    rng = np.random.default_rng(5)
    with Daemon() as d:
        x, y, one = inputs(d, rng)
        for step in range(3):
            push(d, 'two "views"', step, x, y, ["loss=%g" % (1.0 / (step + 1))])
        push(d, "one-row", 7, one)
        d.wait_stored(4)
        hostport = d.http.split("//", 1)[1]
        prom = Prometheus(hostport)
        try:
            wait_for(lambda: prom.query('erwatch_step{run="one-row"}'), 30, interval=0.2,
                     what="prometheus to have scraped erwatch_step")
            for run, last in (('two "views"', 2), ("one-row", 7)):
                got = prom.query('erwatch_metric{run=%s}' % json.dumps(run))
                nans = sum(math.isnan(float(r["value"][1])) for r in got)
                # one row: uniform, w2 and rankme are undefined, stored NULL
                assert (nans > 0) == (run == "one-row"), (run, nans, got)
                names = sorted(r["metric"]["metric"] for r in got)
                assert names == series_names(d, run), (run, names, series_names(d, run))
                for r in got:
                    m = r["metric"]["metric"]
                    assert r["metric"]["tag"] == "proj", r
                    assert r["metric"]["job"] == "erwatch", r
                    step, value = latest(d, run, m)
                    assert step == last, (run, m, step, last)
                    v = float(r["value"][1])
                    if value is None:
                        assert math.isnan(v), (run, m, r["value"], "stored NULL")
                    else:
                        assert v == value, (run, m, "prometheus", v, "stored", value)
                st = prom.query('erwatch_step{run=%s,tag="proj"}' % json.dumps(run))
                assert len(st) == 1 and float(st[0]["value"][1]) == last, (run, st)
            h = d.health()
            for fam, want in (("erwatch_batches_stored_total", h["batches"]["stored"]),
                              ("erwatch_batches_accepted_total", h["batches"]["accepted"]),
                              ("erwatch_points_written_total", h["points_written"]),
                              ("erwatch_store_errors_total", h["store_errors"]),
                              ("erwatch_client_dropped", h["client_dropped"]),
                              ("erwatch_store_up", 1), ("erwatch_store_readable", 1)):
                got = prom.query(fam)
                assert len(got) == 1 and float(got[0]["value"][1]) == want, (fam, got, want)
            got = prom.query("sum(erwatch_batches_rejected_total)")
            assert float(got[0]["value"][1]) == h["batches"]["rejected"], (got, h["batches"])
            got = prom.query("erwatch_commit_duration_seconds_count")
            assert float(got[0]["value"][1]) >= 1, got
        except BaseException:
            print("--- prometheus log:\n" + prom.log())
            raise
        finally:
            prom.close()


def exposed_runs(text):
    runs = set()
    for line in text.splitlines():
        if line.startswith("erwatch_metric{"):
            runs.add(line.split('run="', 1)[1].split('"', 1)[0])
    return runs


@test
def window_and_limit_bound_what_is_exposed():
    rng = np.random.default_rng(6)
    with Daemon() as d:
        x, _, _ = inputs(d, rng)
        push(d, "old", 0, x)
        d.wait_stored(1)
        time.sleep(2.5)
        push(d, "new", 0, x)
        d.wait_stored(2)
        st, text = d.get("/metrics", window=2)
        assert st == 200, (st, text)
        assert exposed_runs(text) == {"new"}, exposed_runs(text)
        st, text = d.get("/metrics")
        assert exposed_runs(text) == {"old", "new"}, exposed_runs(text)
        assert "\nerwatch_metric_truncated 0\n" in text, text[-300:]
        st, text = d.get("/metrics", limit=3)
        lines = [ln for ln in text.splitlines() if ln.startswith("erwatch_metric{")]
        assert len(lines) == 3, lines
        assert exposed_runs(text) == {"new"}, ("most recently active first", lines)
        assert "\nerwatch_metric_truncated 1\n" in text, text[-300:]


@test
def bad_parameters_answer_400():
    with Daemon() as d:
        for params in ({"limit": "0"}, {"window": "x"}, {"limit": "100001"}):
            st, body = d.get("/metrics", **params)
            assert st == 400, (params, st, body)
            assert list(params)[0] in body["error"], (params, body)


if __name__ == "__main__":
    run_all()
