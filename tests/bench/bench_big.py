"""bench_big.py BUILD [POINTS]: start-up and ingest vs a large database
(issue 14's scaling table, the sizes bench_summaries.py does not reach).

Writes an SQLite file of POINTS points (default 100M: 100 runs of one
1M-point series, plain SQL, as bench_summaries.py does), lets erwatchd
build its summaries, then measures the start-up time (to ready: erwatchd
runs PRAGMA quick_check over the whole file) and the ingest rate end to
end (tests/bench/e2e.sh 256x128, 2 workers, on a copy of the file) beside
an empty file, alternating. Needs about 2 x 31 bytes per point in /tmp.
Prints a Markdown section.
"""

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
os.environ.setdefault("EW_BUILD", BUILD)
import harness  # noqa: E402

POINTS = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000_000
PER_SERIES = 1_000_000


def build_db(path):
    con = sqlite3.connect(path)
    with open(os.path.join(ROOT, "schema", "schema.sql")) as f:
        con.executescript(f.read())
    con.execute("PRAGMA journal_mode = WAL")
    t0 = 1.7e9
    for rid in range(1, POINTS // PER_SERIES + 1):
        n = PER_SERIES
        con.execute("INSERT INTO runs (id, name, first_seen, last_seen, last_step, dropped)"
                    " VALUES (?, ?, ?, ?, ?, 0)", (rid, "big-%03d" % rid, t0, t0 + n, n - 1))
        con.execute("INSERT INTO series (id, run_id, tag, metric, last_step)"
                    " VALUES (?, ?, 'projector', 'er_entropy', ?)", (rid, rid, n - 1))
        con.execute("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?)"
                    " INSERT INTO points (series_id, step, value, wall_time)"
                    " SELECT ?, i, -12.6 - 4.8 * i / ? + ((i * 2654435761) % 1000) / 20000.0,"
                    " ? + i * 0.1 FROM c", (n - 1, rid, n, t0))
        con.commit()
    con.close()


def start_ms(db):
    d = harness.Daemon(db=db)
    t = time.perf_counter()
    try:
        d.start(timeout=1800)
        ms = (time.perf_counter() - t) * 1e3
        return ms, d
    except BaseException:
        d.cleanup()
        raise


def ingest(db):
    env = dict(os.environ)
    if db:
        env["EW_E2E_DB"] = db
    out = subprocess.run(["sh", os.path.join(ROOT, "tests", "bench", "e2e.sh"), BUILD,
                          "256x128", "2", "8"], capture_output=True, text=True, env=env,
                         timeout=3600).stdout
    r = re.search(r"= (\d+) batches/s", out)
    return int(r.group(1)) if r else None


def main():
    tmp = tempfile.mkdtemp(prefix="ew-bench-big-")
    try:
        db = os.path.join(tmp, "big.db")
        t = time.perf_counter()
        build_db(db)
        gen_s = time.perf_counter() - t
        size_mb = os.path.getsize(db) / 1e6
        # the first open builds the summaries in the background
        ms_unbuilt, d = start_ms(db)
        t = time.perf_counter()
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        harness.wait_for(lambda: con.execute("SELECT count(*) FROM series WHERE summarized = 0")
                         .fetchone()[0] == 0, 3600, interval=0.5, what="the summaries built")
        build_s = time.perf_counter() - t
        con.close()
        assert d.stop() == 0, d.log()
        d.cleanup()
        ms_built, d = start_ms(db)
        d.stop()
        d.cleanup()
        ms_empty, d = start_ms(None)
        d.stop()
        d.cleanup()
        rates = {"empty": [], "big": []}
        for _ in range(2):
            rates["empty"].append(ingest(None))
            rates["big"].append(ingest(db))
        print("Command: `/usr/bin/python3 tests/bench/bench_big.py %s %d` (ad hoc; not in "
              "`make bench`: it writes %.1f GB)." % (BUILD, POINTS, 2 * size_mb / 1e3))
        print()
        print("Database: %d points in %d series of %d, plain SQL (generated in %.0f s, %.0f MB); "
              "summaries built by erwatchd in the background in %.0f s after its first start."
              % (POINTS, POINTS // PER_SERIES, PER_SERIES, gen_s, size_mb, build_s))
        print()
        print("| | empty file | %dM points |" % (POINTS // 1_000_000))
        print("| --- | ---: | ---: |")
        print("| start-up to ready | %.0f ms | %.0f ms (%.0f ms before the summaries) |"
              % (ms_empty, ms_built, ms_unbuilt))
        print("| ingest 256 x 128, 2 workers (batches/s, two rounds) | %s | %s |"
              % (", ".join(map(str, rates["empty"])), ", ".join(map(str, rates["big"]))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
