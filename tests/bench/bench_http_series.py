"""bench_http_series.py BUILD: what the dashboard waits for.

Builds a database the way the daemon lays it out (schema/schema.sql, the
documented interface) with 50 runs: one with three 1 000 000-point series,
49 with 3 metrics x 10 000 points. Starts erwatchd on it (ephemeral loopback
ports) and measures, over HTTP with keep-alive:

  - /api/series for a 1M-point series reduced to 2000 buckets (the
    dashboard's first request for a wide panel): cold, the first request for
    each of the three series, and the median of repeats. The file is written
    with plain SQL, so erwatchd builds its summaries when it opens it; the
    measures start once they are built (bench_summaries.py measures the
    build and the scan without them), so a wide window is read from the
    summaries (a few thousand rows), not scanned;
  - a zoomed window (10 % of the run, 2000 buckets: too narrow for the
    summaries, a scan of its 100k points) and a live-update poll
    (after = last step - 10);
  - /api/runs with 50 runs (the once-a-second poll);
  - beside them, the floor: SQLite alone touching every row of the series
    (SELECT count(*) ... via Python's sqlite3), so the ratio says how much
    the bucketing and HTTP add to the unavoidable scan;
  - the first paint in chromium of a panel of that run, on a series the
    daemon has not read yet, when node, chromium and playwright-core are
    there.

Prints a markdown section (for tests/bench/run.sh). Times are milliseconds.
"""

import http.client
import json
import math
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("EW_BUILD", sys.argv[1] if len(sys.argv) > 1 else "build")
import harness  # noqa: E402

BIG = 1_000_000
SMALL = 10_000
RUNS = 50
BUCKETS = 2000


def build_db(path):
    con = sqlite3.connect(path)
    with open(os.path.join(ROOT, "schema", "schema.sql")) as f:
        con.executescript(f.read())
    con.execute("PRAGMA journal_mode = WAL")
    t0 = 1.7e9
    sid = 0
    for r in range(RUNS):
        name = "big" if r == 0 else "run-%02d" % r
        n = BIG if r == 0 else SMALL
        con.execute("INSERT INTO runs (id, name, first_seen, last_seen, last_step, dropped)"
                    " VALUES (?, ?, ?, ?, ?, 0)", (r + 1, name, t0, t0 + n, n - 1))
        metrics = ["er_entropy", "rankme", "std_l2"] if r == 0 else \
            ["er_entropy", "er_reconstruction", "loss"]
        for m in metrics:
            sid += 1
            con.execute("INSERT INTO series (id, run_id, tag, metric, last_step) VALUES (?, ?, ?, ?, ?)",
                        (sid, r + 1, "projector", m, n - 1))
            # a slow collapse with noise and a few spikes
            con.executemany(
                "INSERT INTO points (series_id, step, value, wall_time) VALUES (?, ?, ?, ?)",
                ((sid, i, -12.6 - 4.8 / (1 + math.exp(-(i - 0.6 * n) / (0.05 * n)))
                  + 0.05 * math.sin(i * 0.37) + (2.0 if i % 99991 == 0 else 0.0), t0 + i * 0.1)
                 for i in range(n)))
        con.execute("INSERT INTO batches (run_id, tag, step, n, d, views, support, kappa, recv_time)"
                    " VALUES (?, 'projector', ?, 256, 32, 2, 'sphere', 10, ?)", (r + 1, n - 1, t0 + n))
    con.commit()
    con.close()


class Client:
    """One keep-alive HTTP connection, as a browser tab has."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def get_ms(self, path, **params):
        q = urllib.parse.urlencode(params)
        t = time.perf_counter()
        self.c.request("GET", path + ("?" + q if q else ""))
        r = self.c.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t) * 1e3
        assert r.status == 200, (path, r.status, body[:200])
        return ms, body

    def close(self):
        self.c.close()


def median_ms(cl, n, path, **params):
    return statistics.median(cl.get_ms(path, **params)[0] for _ in range(n))


def sqlite_floor_ms(db, n=5):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        con.execute("SELECT count(*) FROM points WHERE series_id = 1").fetchone()
        ts.append((time.perf_counter() - t) * 1e3)
    con.close()
    return statistics.median(ts)


def first_paint_ms(base, metric):
    node = shutil.which("node")
    chromium = os.environ.get("EW_CHROMIUM", "/usr/bin/chromium")
    if not node or not os.access(chromium, os.X_OK) or not os.path.isdir(
            os.path.join(ROOT, "web", "node_modules", "playwright-core")):
        return None, "skipped (needs node, chromium and web/node_modules)"
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    p = subprocess.run([node, os.path.join(ROOT, "tests", "browser", "first_paint.mjs"),
                        base + "/?run=big&metric=" + metric], capture_output=True, text=True,
                       timeout=120, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    if p.returncode != 0:
        return None, "failed: " + (p.stdout + p.stderr).strip()[-300:]
    return json.loads(p.stdout.strip().splitlines()[-1]), ""


def main():
    tmp = tempfile.mkdtemp(prefix="ew-bench-http-")
    try:
        db = os.path.join(tmp, "bench.db")
        t = time.perf_counter()
        build_db(db)
        build_s = time.perf_counter() - t
        floor = sqlite_floor_ms(db)
        with harness.Daemon(db=db) as d:
            t = time.perf_counter()
            harness.wait_for(lambda: d.sql("SELECT count(*) FROM series WHERE summarized = 0")
                             [0][0] == 0, timeout=600, interval=0.2,
                             what="the summaries to be built")
            summ_s = time.perf_counter() - t
            # first paint on a series the daemon has not read yet (cold)
            paint, why = first_paint_ms(d.http, "std_l2")
            cl = Client(d.http)
            colds = []
            for m in ["rankme", "er_entropy"]:
                ms, body = cl.get_ms("/api/series", run="big", tag="projector", metric=m,
                                     points=BUCKETS)
                colds.append(ms)
                js = json.loads(body)
                assert js["bucketed"] and len(js["step"]) == BUCKETS, (m, len(js["step"]))
            cold = statistics.median(colds)
            full = median_ms(cl, 9, "/api/series", run="big", tag="projector", metric="er_entropy",
                             points=BUCKETS)
            full_t = median_ms(cl, 5, "/api/series", run="big", tag="projector", metric="er_entropy",
                               points=BUCKETS, time=1)
            zoom = median_ms(cl, 9, "/api/series", run="big", tag="projector", metric="er_entropy",
                             points=BUCKETS, after=BIG // 2, before=BIG // 2 + BIG // 10)
            poll = median_ms(cl, 21, "/api/series", run="big", tag="projector", metric="er_entropy",
                             points=BUCKETS, after=BIG - 11)
            runs = median_ms(cl, 21, "/api/runs")
            small = median_ms(cl, 21, "/api/series", run="run-07", tag="projector", metric="loss",
                              points=BUCKETS)
            cl.close()
        print("Database: %d runs, three series of %d points, %d x 3 x %d more (built in %.1f s;"
              " erwatchd built their summaries in %.1f s after opening it)."
              % (RUNS, BIG, RUNS - 1, SMALL, build_s, summ_s))
        print()
        print("| request | ms | vs SQLite count(*) of the 1M series |")
        print("| --- | ---: | ---: |")
        print("| SQLite alone: count(*) over the 1M-point series (the floor) | %.1f | 1.00 |" % floor)
        rows = [
            ("1M points -> %d buckets, cold (summaries), median of 2 series" % BUCKETS, cold),
            ("1M points -> %d buckets, repeat (summaries), median" % BUCKETS, full),
            ("1M points -> %d buckets with wall times (time=1), repeat, median" % BUCKETS, full_t),
            ("zoom: 100k-point window -> %d buckets (scan of its points), median" % BUCKETS, zoom),
            ("live poll: after = last step - 10, median", poll),
            ("10k points -> %d buckets, median" % BUCKETS, small),
            ("/api/runs with %d runs, median" % RUNS, runs),
        ]
        for name, ms in rows:
            print("| %s | %.1f | %.2f |" % (name, ms, ms / floor))
        print()
        print("Targets for the 1M-point query: 50 ms, and cold at most 0.3 x SQLite's own"
              " count(*) over the series. Cold: %.1f ms = %.2f x count(*) (%.1f ms): %s;"
              " repeats: %.1f ms, %s 50 ms."
              % (cold, cold / floor, floor, "met" if cold <= 0.3 * floor and cold < 50
                 else "NOT met", full, "under" if full < 50 else "over"))
        if paint:
            print("First paint in chromium (navigation to the panel drawn with a 1M-point series"
                  " the daemon had not read yet): %.0f ms (target 1000 ms); its series request"
                  " took %.0f ms."
                  % (paint["paint_ms"], paint["series_ms"]))
        else:
            print("First paint in chromium: " + why)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
