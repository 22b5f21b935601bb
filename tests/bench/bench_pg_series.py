"""bench_pg_series.py BUILD: the dashboard's series query on PostgreSQL vs SQLite.

One run with two 1 000 000-point series (the shape and values of
bench_http_series.py), written into an SQLite file with plain SQL, then
copied into a throw-away PostgreSQL 15 (tests/integration/pgserver.py;
schema/schema_pg.sql, points loaded with COPY through psql). Both are served
by http.c through build/tests/query_pair serve (the query side only, no
writer), and measured over HTTP with keep-alive:

  - /api/series of a 1M-point series to 2000 buckets, cold (the first
    request for that series) and the median of repeats. Each store twice:
    with its summaries (built by a daemon start on the file, copied into
    PostgreSQL), and without them (a copy of the file; a PostgreSQL
    database whose series have summarized = 0), where SQLite scans the
    points (whose copy the series cache then answers repeats from) and
    PostgreSQL buckets them in SQL (GROUP BY the bucket index) on every
    request;
  - a zoom: a 100k-point window to 2000 buckets (a scan on every backend);
  - a live poll (after = last step - 10).

Prints a markdown section (for tests/bench/run.sh). Times are milliseconds.
"""

import http.client
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
import pgserver  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import bench_http_series as bhs  # noqa: E402

BIG = bhs.BIG
BUCKETS = bhs.BUCKETS
METRICS = ["er_entropy", "rankme"]


def build_sqlite(path):
    con = sqlite3.connect(path)
    with open(os.path.join(ROOT, "schema", "schema.sql")) as f:
        con.executescript(f.read())
    con.execute("PRAGMA journal_mode = WAL")
    t0 = 1.7e9
    con.execute("INSERT INTO runs (id, name, first_seen, last_seen, last_step, dropped, base)"
                " VALUES (1, 'big', ?, ?, ?, 0, 'big')", (t0, t0 + BIG, BIG - 1))
    for sid, m in enumerate(METRICS, 1):
        con.execute("INSERT INTO series (id, run_id, tag, metric, last_step)"
                    " VALUES (?, 1, 'projector', ?, ?)", (sid, m, BIG - 1))
        con.execute(
            "WITH RECURSIVE i(s) AS (SELECT 0 UNION ALL SELECT s + 1 FROM i WHERE s < ?)"
            " INSERT INTO points (series_id, step, value, wall_time)"
            " SELECT ?, s, -12.6 - 4.8 / (1 + exp(-(s - 0.6 * ?) / (0.05 * ?)))"
            "  + 0.05 * sin(s * 0.37) + (CASE WHEN s % 99991 = 0 THEN 2.0 ELSE 0.0 END),"
            "  ? + s * 0.1 FROM i", (BIG - 1, sid, BIG, BIG, t0))
    con.execute("INSERT INTO batches (run_id, tag, step, n, d, views, support, kappa, recv_time)"
                " VALUES (1, 'projector', ?, 256, 32, 2, 'sphere', 10, ?)", (BIG - 1, t0 + BIG))
    con.commit()
    con.close()


def copy_to_pg(pg, path, tmp, dbname):
    """Every table into database dbname; its series summarized as in the
    file (1: with their summaries; 0 with summaries=False: read from the
    points, as a series of a version-4 database is)."""
    pg.psql("CREATE DATABASE %s OWNER erwatch" % dbname, db="postgres")
    with open(os.path.join(ROOT, "schema", "schema_pg.sql")) as f:
        pg.psql(f.read(), db=dbname)
    src = sqlite3.connect(path)
    for table, cols in (("runs", "id, name, first_seen, last_seen, last_step, dropped, base"),
                        ("series", "id, run_id, tag, metric, last_step, summarized"),
                        ("batches", "run_id, tag, step, n, d, views, support, kappa, recv_time"),
                        ("points", "series_id, step, value, wall_time"),
                        ("summaries", "series_id, level, bucket, n, vmin, vmax, last_step,"
                         " last_value, last_time")):
        tsv = os.path.join(tmp, table + ".tsv")
        with open(tsv, "w") as f:
            for r in src.execute("SELECT %s FROM %s" % (cols, table)):
                f.write("\t".join("\\N" if v is None else repr(v) if isinstance(v, float)
                                  else str(v) for v in r) + "\n")
        os.chmod(tsv, 0o644)
        pg.psql("\\copy %s (%s) FROM '%s'" % (table, cols, tsv), db=dbname)
        os.unlink(tsv)
    src.close()
    pg.psql("ANALYZE", db=dbname)


def pg_floor_ms(pg, n=5):
    """PostgreSQL alone touching every row of the series: the server's own
    execution time of count(*) (EXPLAIN ANALYZE, no client round trip)."""
    ts = []
    for _ in range(n):
        rows = pg.psql("EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM points"
                       " WHERE series_id = 1", db="summarized")
        ts += [float(r[0].split(":")[1].split()[0]) for r in rows if "Execution Time" in r[0]]
    return statistics.median(ts)


def measure(base):
    cl = bhs.Client(base)
    colds = []
    for m in METRICS:
        ms, body = cl.get_ms("/api/series", run="big", tag="projector", metric=m, points=BUCKETS)
        colds.append(ms)
        assert b'"bucketed":true' in body, body[:200]
    out = {
        "cold": statistics.median(colds),
        "repeat": bhs.median_ms(cl, 9, "/api/series", run="big", tag="projector",
                                metric="er_entropy", points=BUCKETS),
        "zoom": bhs.median_ms(cl, 9, "/api/series", run="big", tag="projector",
                              metric="er_entropy", points=BUCKETS, after=BIG // 2,
                              before=BIG // 2 + BIG // 10),
        "poll": bhs.median_ms(cl, 21, "/api/series", run="big", tag="projector",
                              metric="er_entropy", points=BUCKETS, after=BIG - 11),
    }
    body = cl.get_ms("/api/series", run="big", tag="projector", metric="rankme",
                     points=BUCKETS)[1]
    cl.close()
    return out, body


def main():
    tmp = tempfile.mkdtemp(prefix="ew-bench-pg-")
    pg = None
    try:
        db = os.path.join(tmp, "bench.db")
        raw = os.path.join(tmp, "raw.db")
        t = time.perf_counter()
        build_sqlite(db)
        shutil.copy(db, raw)  # no summaries: the scan
        with harness.Daemon(db=db) as d:
            harness.wait_for(lambda: d.sql("SELECT count(*) FROM series WHERE summarized = 0")
                             [0][0] == 0, timeout=600, interval=0.2, what="the summaries")
            d.stop()
        build_s = time.perf_counter() - t
        pg = pgserver.PgServer()
        t = time.perf_counter()
        copy_to_pg(pg, db, tmp, "summarized")
        copy_s = time.perf_counter() - t
        copy_to_pg(pg, raw, tmp, "scanned")
        uri = pg.uri.rsplit("/", 1)[0]
        p = subprocess.Popen([os.path.join(harness.BUILD, "tests", "query_pair"), "serve", db,
                              raw, uri + "/summarized", uri + "/scanned"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        names = ("sqlite", "sqlite_raw", "pg", "pg_raw")
        try:
            urls = ["http://127.0.0.1:%s" % p.stdout.readline().split()[1] for _ in names]
            res = {}
            bodies = {}
            for name, url in zip(names, urls):
                res[name], bodies[name] = measure(url)
        finally:
            p.stdin.close()
            p.wait(30)
        same = len({bodies[n] for n in names}) == 1
        floor_sq, floor_pg = bhs.sqlite_floor_ms(db), pg_floor_ms(pg)
        print("One run, two series of %d points each (SQLite file built and summarized in"
              " %.1f s; copied into PostgreSQL 15 with COPY in %.1f s). Served by http.c"
              " (query_pair serve); PostgreSQL on loopback, its defaults but fsync=off."
              % (BIG, build_s, copy_s))
        print()
        print("| request (ms) | SQLite, summaries | SQLite, scan | PostgreSQL, summaries |"
              " PostgreSQL, scan | PG / SQLite (summaries) | PG / SQLite (scan) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for key, label in (("cold", "1M points -> %d buckets, cold, median of 2 series" % BUCKETS),
                           ("repeat", "1M points -> %d buckets, repeat, median" % BUCKETS),
                           ("zoom", "zoom: 100k-point window -> %d buckets, median" % BUCKETS),
                           ("poll", "live poll: after = last step - 10, median")):
            a, r = res["sqlite"][key], res["sqlite_raw"][key]
            g, gr = res["pg"][key], res["pg_raw"][key]
            print("| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |"
                  % (label, a, r, g, gr, g / a, gr / r))
        print()
        print("Floors (each database alone touching every row of one series, count(*)):"
              " SQLite %.1f ms, PostgreSQL %.1f ms (server-side execution time). The cold"
              " 1M-point query is %.2f x SQLite's floor from SQLite's summaries, %.2f x on"
              " its scan; %.2f x PostgreSQL's floor from PostgreSQL's summaries, %.2f x on its"
              " scan. SQLite's repeats and zoom on the scanned file come from the series"
              " cache (query_cache.c), which the PostgreSQL backend does not keep."
              % (floor_sq, floor_pg, res["sqlite"]["cold"] / floor_sq,
                 res["sqlite_raw"]["cold"] / floor_sq, res["pg"]["cold"] / floor_pg,
                 res["pg_raw"]["cold"] / floor_pg))
        print()
        print("Answers identical on the four: %s." % ("yes" if same else "NO"))
    finally:
        if pg:
            pg.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
