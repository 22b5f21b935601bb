"""bench_retention.py BUILD: does retention slow ingest down?

Builds a database the way the daemon lays it out (schema/schema.sql) with
RUNS old runs of POINTS points each (one series), about SIZE_MB of data.
Runs erwatchd on a copy of it twice, each time with the load generator
(tests/bench/loadgen.c, 256 x 128, two views, as fast as the daemon takes
them) for SECONDS: once without retention, once with --retention-size set
well below the data, so that the writer deletes the oldest runs and purges
their millions of rows while the load runs. Reports batches stored per
second in both, and what retention did meanwhile (runs deleted, rows
purged) and the file's size before and after.

Prints a markdown section (for tests/bench/run.sh).
"""

import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("EW_BUILD", sys.argv[1] if len(sys.argv) > 1 else "build")
import harness  # noqa: E402

RUNS = 16
POINTS = 250_000
SECONDS = 10
LIMIT = "20MB"


def build_db(path):
    con = sqlite3.connect(path)
    con.execute("PRAGMA auto_vacuum = INCREMENTAL")  # as the daemon creates files
    with open(os.path.join(ROOT, "schema", "schema.sql")) as f:
        con.executescript(f.read())
    t0 = 1.7e9
    for r in range(RUNS):
        con.execute("INSERT INTO runs (id, name, first_seen, last_seen, last_step, dropped)"
                    " VALUES (?, ?, ?, ?, ?, 0)", (r + 1, "old-%02d" % r, t0 + r, t0 + r, POINTS - 1))
        con.execute("INSERT INTO series (id, run_id, tag, metric, last_step) VALUES (?, ?, ?, ?, ?)",
                    (r + 1, r + 1, "projector", "er_entropy", POINTS - 1))
        con.executemany("INSERT INTO points (series_id, step, value, wall_time) VALUES (?, ?, ?, ?)",
                        ((r + 1, i, -12.6 + 0.05 * math.sin(i * 0.37), t0 + i * 0.1)
                         for i in range(POINTS)))
    con.commit()
    con.execute("PRAGMA journal_mode = WAL")
    con.close()


def one(src, tmp, label, *extra):
    db = os.path.join(tmp, label + ".db")
    shutil.copy(src, db)
    size0 = os.path.getsize(db)
    d = harness.Daemon(*extra, "--no-default-rules", db=db)
    with d:
        t0 = time.monotonic()
        out = subprocess.run([os.path.join(harness.BUILD, "bench", "loadgen"), d.zmq, "256", "128",
                              "2", str(SECONDS), "live"], capture_output=True, text=True,
                             timeout=SECONDS + 60, check=True).stdout.strip()
        sent = int(out.split("sent=")[1].split()[0])
        harness.wait_for(lambda: d.health()["batches"]["stored"] >= sent, timeout=120,
                         what="the load stored")
        dt = time.monotonic() - t0
        h = d.health()
        d.stop()
    return {"rate": sent / dt, "sent": sent, "dt": dt, "runs": h["runs"], "size0": size0,
            "size1": os.path.getsize(db)}


def main():
    tmp = tempfile.mkdtemp(prefix="ew-bench-retention-")
    try:
        src = os.path.join(tmp, "src.db")
        t = time.perf_counter()
        build_db(src)
        build_s = time.perf_counter() - t
        base = one(src, tmp, "none")
        ret = one(src, tmp, "retention", "--retention-size", LIMIT)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("Database: %d old runs of %d points (%.0f MB, built in %.0f s); the load generator"
          " pushes 256 x 128 two-view batches of a new run for %d s, as fast as the daemon"
          " takes them, first without retention, then with --retention-size %s (the writer"
          " deletes the old runs and purges their rows while the load runs)."
          % (RUNS, POINTS, base["size0"] / 1e6, build_s, SECONDS, LIMIT))
    print()
    print("| | batches stored/s | runs deleted | rows purged | file before -> after |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in (("no retention", base), ("--retention-size " + LIMIT, ret)):
        print("| %s | %.0f (%d in %.1f s) | %d | %d | %.0f -> %.0f MB |"
              % (name, r["rate"], r["sent"], r["dt"], r["runs"]["retention_deleted"],
                 r["runs"]["rows_purged"], r["size0"] / 1e6, r["size1"] / 1e6))
    print()
    print("Ingest with retention at work: %.2f of the rate without." % (ret["rate"] / base["rate"]))


if __name__ == "__main__":
    main()
