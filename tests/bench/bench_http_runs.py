"""bench_http_runs.py BUILD: GET /api/runs with many runs, as the dashboard
asks it.

Builds databases the way the daemon lays them out (schema/schema.sql, the
documented interface) with 50, 1 000 and 10 000 runs, each with one tag of 8
series (the run list reads runs and series, not points), starts erwatchd on
each (ephemeral loopback ports) and measures over one keep-alive connection,
as a browser tab holds it:

  - the page the run list shows: limit=50, newest first;
  - the live poll once a second: since=<the newest last_seen held>, which
    answers the one run that changed;
  - the ticked runs: run=... for 8 names;
  - a name filter (q=) over every run, one page of the matches;
  - the whole list (no parameter), what the dashboard asked once a second
    before it paged.

Prints a markdown section (for tests/bench/run.sh). Times are the median in
milliseconds, sizes the answer's bytes.
"""

import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("EW_BUILD", sys.argv[1] if len(sys.argv) > 1 else "build")
import harness  # noqa: E402
from bench_http_series import Client  # noqa: E402

SIZES = [50, 1000, 10000]
METRICS = ["er_entropy", "er_reconstruction", "align", "uniform", "w2", "rankme", "std_l2",
           "loss"]
REPEAT = 21


def build_db(path, nruns):
    con = sqlite3.connect(path)
    with open(os.path.join(ROOT, "schema", "schema.sql")) as f:
        con.executescript(f.read())
    con.execute("PRAGMA journal_mode = WAL")
    t0 = 1.7e9
    con.executemany("INSERT INTO runs (id, name, first_seen, last_seen, last_step, dropped)"
                    " VALUES (?, ?, ?, ?, ?, 0)",
                    ((r + 1, "run-%05d" % r, t0 + r, t0 + r + 0.5, 1000 + r)
                     for r in range(nruns)))
    con.executemany("INSERT INTO series (run_id, tag, metric, last_step) VALUES (?, ?, ?, ?)",
                    ((r + 1, "projector", m, 1000 + r) for r in range(nruns) for m in METRICS))
    con.commit()
    con.close()


def measure(cl, path, **params):
    """Median ms over REPEAT requests, the answer's size and run count."""
    ts = []
    body = b""
    for _ in range(REPEAT):
        ms, body = cl.get_ms(path, **params)
        ts.append(ms)
    js = json.loads(body)
    return statistics.median(ts), len(body), len(js["runs"])


def main():
    rows = {}
    for n in SIZES:
        tmp = tempfile.mkdtemp(prefix="ew-bench-runs-")
        try:
            db = os.path.join(tmp, "bench.db")
            build_db(db, n)
            with harness.Daemon(db=db) as d:
                cl = Client(d.http)
                newest = 1.7e9 + (n - 1) + 0.5
                picked = ["run-%05d" % (n - 1 - 5 * i) for i in range(8)]
                rows[n] = {
                    "page": measure(cl, "/api/runs", limit=50),
                    "poll": measure(cl, "/api/runs", since=repr(newest), limit=50),
                    "ticked": measure(cl, "/api/runs?" + urllib.parse.urlencode(
                        [("run", x) for x in picked])),
                    "filter": measure(cl, "/api/runs", q="run-000", limit=50),
                    "all": measure(cl, "/api/runs"),
                }
                cl.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    what = [
        ("page", "the list's page: limit=50"),
        ("poll", "live poll: since=<newest>, 1 run changed"),
        ("ticked", "the 8 ticked runs: run=..x8"),
        ("filter", "name filter q=run-000 (every name scanned), limit=50"),
        ("all", "the whole list (no parameter; what the dashboard polled before)"),
    ]
    print("Runs of one tag with 8 series each; one keep-alive connection; median of %d"
          " requests, ms (answer size)." % REPEAT)
    print()
    print("| request | " + " | ".join("%d runs" % n for n in SIZES) + " |")
    print("| --- |" + " ---: |" * len(SIZES))
    for key, name in what:
        cells = []
        for n in SIZES:
            ms, size, got = rows[n][key]
            cells.append("%.1f (%s, %d runs)" % (ms, _size(size), got))
        print("| %s | %s |" % (name, " | ".join(cells)))
    print()
    p50, p10k = rows[SIZES[0]]["page"][0], rows[SIZES[-1]]["page"][0]
    q50, q10k = rows[SIZES[0]]["poll"][0], rows[SIZES[-1]]["poll"][0]
    print("What the dashboard asks once a second (the poll) takes %.1f ms with %d runs and"
          " %.1f ms with %d (x%.2f); its page %.1f and %.1f ms (x%.2f). The whole list, which"
          " it no longer asks, grows with the runs: %.1f ms and %s with %d runs."
          % (q50, SIZES[0], q10k, SIZES[-1], q10k / q50, p50, p10k, p10k / p50,
             rows[SIZES[-1]]["all"][0], _size(rows[SIZES[-1]]["all"][1]), SIZES[-1]))


def _size(b):
    return "%.1f MB" % (b / 1e6) if b >= 1e6 else "%.1f kB" % (b / 1e3)


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print()
    print("(section took %.0f s)" % (time.perf_counter() - t))
