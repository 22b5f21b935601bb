"""bench_summaries.py BUILD: how the series query grows with the series.

Builds one database with plain SQL (schema/schema.sql), the way
bench_http_series.py does: four runs of one series each, of 10k, 100k, 1M
and 10M points (one point per step, wall times 0.1 s apart). Plain SQL
leaves series.summarized = 0, so erwatchd builds the summaries when it
opens the file, in the background (store_summary.c). Measures, over HTTP
with keep-alive:

  - while the build has not reached a series: the whole 1M and 10M series
    to 2000 buckets from the points (the scan every request paid before the
    summaries; checked to have run before that series was built);
  - the build itself: its time, and its longest transaction (the longest
    the writer held off storing batches), from the daemon's log;
  - after a restart (start-up time measured): each series to 2000 buckets
    cold (the daemon's first request for it), beside SQLite's own count(*)
    over that series; zooms into random 10 % windows of the 10M series
    (starting and ending mid-cell);
  - bytes on disk per point, for the points and for the summaries (dbstat).

Prints a markdown section (for tests/bench/run.sh). Times are milliseconds.
The 10M-point file takes about a minute to build and 0.5 GB in /tmp;
EW_BENCH_MAX_POINTS lowers the largest size (e.g. 1000000) for a quick run.
"""

import http.client
import json
import os
import random
import re
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

MAX = int(os.environ.get("EW_BENCH_MAX_POINTS", "10000000"))
SIZES = [n for n in (10_000_000, 1_000_000, 100_000, 10_000) if n <= MAX]
BUCKETS = 2000


def name(n):
    return "s%dk" % (n // 1000) if n < 1_000_000 else "s%dm" % (n // 1_000_000)


def build_db(path):
    """Largest first: the build goes by series id, so the big series are
    built first and the 1M one is still unbuilt while it is measured."""
    con = sqlite3.connect(path)
    with open(os.path.join(ROOT, "schema", "schema.sql")) as f:
        con.executescript(f.read())
    con.execute("PRAGMA journal_mode = WAL")
    t0 = 1.7e9
    for i, n in enumerate(SIZES):
        rid = i + 1
        con.execute("INSERT INTO runs (id, name, first_seen, last_seen, last_step, dropped)"
                    " VALUES (?, ?, ?, ?, ?, 0)", (rid, name(n), t0, t0 + n, n - 1))
        con.execute("INSERT INTO series (id, run_id, tag, metric, last_step)"
                    " VALUES (?, ?, 'projector', 'er_entropy', ?)", (rid, rid, n - 1))
        # a slow drift, noise from a multiplicative hash, a spike every 99991 steps
        con.execute("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?)"
                    " INSERT INTO points (series_id, step, value, wall_time)"
                    " SELECT ?, i, -12.6 - 4.8 * i / ? + ((i * 2654435761) % 1000) / 20000.0"
                    " + (CASE WHEN i % 99991 = 0 THEN 2.0 ELSE 0.0 END), ? + i * 0.1 FROM c",
                    (n - 1, rid, n, t0))
        con.commit()
    con.close()


class Client:
    """One keep-alive HTTP connection, as a browser tab has."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)

    def get_ms(self, path, **params):
        q = urllib.parse.urlencode(params)
        t = time.perf_counter()
        self.c.request("GET", path + ("?" + q if q else ""))
        r = self.c.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t) * 1e3
        assert r.status == 200, (path, r.status, body[:200])
        return ms, json.loads(body)

    def close(self):
        self.c.close()


def series_ms(cl, n, **extra):
    ms, js = cl.get_ms("/api/series", run=name(n), tag="projector", metric="er_entropy",
                       points=BUCKETS, **extra)
    assert js["bucketed"] and 0 < len(js["step"]) <= BUCKETS, (n, len(js["step"]))
    return ms


def summarized(con, rid):
    return con.execute("SELECT summarized FROM series WHERE id = ?", (rid,)).fetchone()[0]


def floor_ms(db, rid, reps=3):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        con.execute("SELECT count(*) FROM points WHERE series_id = ?", (rid,)).fetchone()
        ts.append((time.perf_counter() - t) * 1e3)
    con.close()
    return statistics.median(ts)


def start_ms(db):
    t = time.perf_counter()
    d = harness.Daemon(db=db)
    d.start()
    return d, (time.perf_counter() - t) * 1e3


def disk(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        rows = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    except sqlite3.OperationalError:
        rows = {}
    npts = con.execute("SELECT count(*) FROM points").fetchone()[0]
    nsum = con.execute("SELECT count(*) FROM summaries").fetchone()[0]
    con.close()
    return npts, nsum, rows.get("points"), rows.get("summaries")


def main():
    tmp = tempfile.mkdtemp(prefix="ew-bench-sum-")
    try:
        db = os.path.join(tmp, "bench.db")
        t = time.perf_counter()
        build_db(db)
        gen_s = time.perf_counter() - t
        total = sum(SIZES)
        size_mb = os.path.getsize(db) / 1e6
        floors = {n: floor_ms(db, i + 1) for i, n in enumerate(SIZES)}
        ro = sqlite3.connect("file:%s?mode=ro" % db, uri=True)

        # 1. from the points, before the build reaches the series
        d, start_unbuilt = start_ms(db)
        t_build = time.perf_counter()
        raw = {}
        try:
            cl = Client(d.http)
            cl.get_ms("/api/runs")
            for i, n in reversed(list(enumerate(SIZES))):
                if n < 1_000_000:
                    continue
                ms = series_ms(cl, n)
                if not summarized(ro, i + 1):
                    raw[n] = ms
            cl.close()
            harness.wait_for(lambda: ro.execute(
                "SELECT count(*) FROM series WHERE summarized = 0").fetchone()[0] == 0,
                timeout=1800, interval=0.2, what="the summaries to be built")
            build_s = time.perf_counter() - t_build
            time.sleep(0.3)
            m = re.search(r"summaries built for (\d+) series \((\d+) points\) in ([0-9.]+) s;"
                          r" longest transaction ([0-9.]+) ms", d.log())
        finally:
            d.stop()
            d.cleanup()

        # 2. cold, from the summaries, after a restart
        d, start_built = start_ms(db)
        cold, zoom = {}, []
        try:
            cl = Client(d.http)
            cl.get_ms("/api/runs")  # the connection and a reader, not timed
            for n in reversed(SIZES):
                cold[n] = series_ms(cl, n)
            big = SIZES[0]
            rng = random.Random(14)
            for _ in range(9):
                a = rng.randrange(0, big - big // 10)
                zoom.append(series_ms(cl, big, after=a, before=a + big // 10 + 1))
            cl.close()
        finally:
            d.stop()
            d.cleanup()
        npts, nsum, bpts, bsum = disk(db)
        ro.close()

        # 3. ingest on an empty file and on this one (e2e.sh, alternating)
        ingest = {"empty": [], "full": []}
        build = os.environ["EW_BUILD"]
        for _ in range(2):
            for k in ("empty", "full"):
                env = dict(os.environ)
                if k == "full":
                    env["EW_E2E_DB"] = db
                out = subprocess.run(["sh", os.path.join(ROOT, "tests", "bench", "e2e.sh"), build,
                                      "256x128", "2", "8"], capture_output=True, text=True,
                                     env=env, timeout=600).stdout
                r = re.search(r"= (\d+) batches/s", out)
                if r:
                    ingest[k].append(int(r.group(1)))

        print("Database: one series each of %s points, %d in all, written with plain SQL"
              " (generated in %.0f s, %.0f MB); erwatchd builds the summaries when it opens it."
              % (", ".join(name(n)[1:] for n in reversed(SIZES)), total, gen_s, size_mb))
        print()
        print("| series | SQLite count(*) ms | from the points, ms (x count) | from the summaries,"
              " cold, ms (x count) |")
        print("| ---: | ---: | ---: | ---: |")
        for n in reversed(SIZES):
            r = ("%.1f (%.2f)" % (raw[n], raw[n] / floors[n])) if n in raw else \
                ("(same path)" if n < 1_000_000 else "n/a (built before asked)")
            print("| %s | %.1f | %s | %.1f (%.2f) |"
                  % (name(n)[1:], floors[n], r, cold[n], cold[n] / floors[n]))
        print()
        print("Zoom into a random 10 %% window of the %s series (cold, from the summaries): median"
              " %.1f ms, max %.1f ms over %d windows (target: under 20 ms)."
              % (name(SIZES[0])[1:], statistics.median(zoom), max(zoom), len(zoom)))
        if m:
            print("Build on open: %s series, %s points in %.1f s (%.2f M points/s); longest"
                  " transaction %s ms (the writer stores no batch meanwhile)."
                  % (m.group(1), m.group(2), float(m.group(3)),
                     int(m.group(2)) / max(float(m.group(3)), 1e-9) / 1e6, m.group(4)))
        else:
            print("Build on open: %.1f s (waited for by polling)." % build_s)
        print("Start-up (to ready): %.0f ms on an empty file, %.0f ms on this one before the"
              " build, %.0f ms after it." % (EMPTY_START_MS[0], start_unbuilt, start_built))
        if bpts and bsum:
            print("On disk: points %.1f bytes/point, summaries %.2f bytes/point (%d rows,"
                  " %.2f %% of the points' bytes)."
                  % (bpts / npts, bsum / npts, nsum, 100.0 * bsum / bpts))
        else:
            print("On disk: %.1f bytes/point in all; %d summary rows (dbstat not available)."
                  % (os.path.getsize(db) / npts, nsum))
        if ingest["empty"] and ingest["full"]:
            print("Ingest end to end (256 x 128, 2 workers, 8 s, tests/bench/e2e.sh, alternating):"
                  " %s batches/s on an empty file, %s on this one (%d points)."
                  % (", ".join(map(str, ingest["empty"])), ", ".join(map(str, ingest["full"])),
                     total))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


EMPTY_START_MS = [0.0]


def empty_start():
    tmp = tempfile.mkdtemp(prefix="ew-bench-sum0-")
    try:
        d, ms = start_ms(os.path.join(tmp, "e.db"))
        d.stop()
        d.cleanup()
        EMPTY_START_MS[0] = ms
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    empty_start()
    main()
