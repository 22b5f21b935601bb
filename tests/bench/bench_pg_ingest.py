"""Ingest end to end into PostgreSQL vs SQLite (issue 13): tests/bench/e2e.sh
(the real daemon, 2 workers, the load generator outrunning them) with
--db FILE and with --db postgresql://... on a throw-away PostgreSQL 15 of
this machine (tests/integration/pgserver.py: fsync off, so the server's
disk is not what is measured), alternating the two so that both see the
same machine; then two daemons at once into one PostgreSQL database, each
its own run. Then the writer alone (build/bench/bench_store: store_write()
of groups back to back, no ZeroMQ or workers): what one store takes from one
writer, and from two writers at once on PostgreSQL (two daemons' writers).
A fresh database for every measurement. Prints each measurement's line and
the PostgreSQL / SQLite ratio of the medians.

Usage: /usr/bin/python3 tests/bench/bench_pg_ingest.py BUILD [SECONDS]"""

import os
import re
import statistics
import subprocess
import sys
import threading

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pgserver  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
SECS = sys.argv[2] if len(sys.argv) > 2 else "8"
SHAPES = [("16x8", "1"), ("256x128", "2")]
ROUNDS = 2


def e2e(shape, views, pg_uri=None, run="bench"):
    env = dict(os.environ, EW_E2E_RUN=run)
    env.pop("EW_E2E_DB", None)
    if pg_uri:
        env["EW_E2E_PG"] = pg_uri
    p = subprocess.run(["sh", os.path.join(ROOT, "tests", "bench", "e2e.sh"), BUILD, shape,
                        views, SECS], capture_output=True, text=True, env=env, timeout=600)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr
    print(line, flush=True)
    m = re.search(r"= (\d+) batches/s \((\d+) points/s\)", line)
    if not m:
        raise SystemExit("e2e.sh failed: %s" % (p.stdout + p.stderr))
    return int(m.group(1)), int(m.group(2))


def bench_store(db, per, run="bench"):
    p = subprocess.run([os.path.join(BUILD, "bench", "bench_store"), db, SECS, str(per), run],
                       capture_output=True, text=True, timeout=600)
    print((p.stdout + p.stderr).strip(), flush=True)
    m = re.search(r"= (\d+) points/s", p.stdout)
    if not m:
        raise SystemExit("bench_store failed: %s" % (p.stdout + p.stderr))
    return int(m.group(1))


def writer_alone(pg, base, k):
    import tempfile
    summary = []
    for per in (64, 8):
        got = {"sqlite": [], "postgresql": []}
        for _ in range(ROUNDS):
            with tempfile.TemporaryDirectory(prefix="ew-bench-store-") as tmp:
                got["sqlite"].append(bench_store(os.path.join(tmp, "b.db"), per))
            k += 1
            pg.psql("CREATE DATABASE b%d" % k, db="postgres")
            got["postgresql"].append(bench_store(base + "b%d" % k, per))
        lite, post = statistics.median(got["sqlite"]), statistics.median(got["postgresql"])
        summary.append("writer alone, groups of %d results x 12 points: SQLite %.0f points/s, "
                       "PostgreSQL %.0f points/s: PostgreSQL / SQLite = %.2f"
                       % (per, lite, post, post / lite))
    k += 1
    pg.psql("CREATE DATABASE b%d" % k, db="postgres")
    res = [0, 0]

    def one(i):
        res[i] = bench_store(base + "b%d" % k, 64, "writer%d" % i)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary.append("two writers at once into one PostgreSQL database (groups of 64, each its "
                   "own run): %d + %d = %d points/s" % (res[0], res[1], sum(res)))
    return summary, k


def main():
    if not pgserver.available():
        print("SKIP: PostgreSQL 15 server binaries not installed (scripts/deps.sh)")
        return
    with pgserver.PgServer() as pg:
        base = "postgresql://erwatch@127.0.0.1:%d/" % pg.port
        k = 0
        print("```")
        summary = []
        for shape, views in SHAPES:
            got = {"sqlite": [], "postgresql": []}
            for _ in range(ROUNDS):
                got["sqlite"].append(e2e(shape, views))
                k += 1
                pg.psql("CREATE DATABASE b%d" % k, db="postgres")
                got["postgresql"].append(e2e(shape, views, base + "b%d" % k))
            med = {s: (statistics.median(b for b, _ in v), statistics.median(p for _, p in v))
                   for s, v in got.items()}
            summary.append("%s views=%s: SQLite %.0f batches/s (%.0f points/s), PostgreSQL %.0f "
                           "batches/s (%.0f points/s): PostgreSQL / SQLite = %.2f"
                           % (shape, views, med["sqlite"][0], med["sqlite"][1],
                              med["postgresql"][0], med["postgresql"][1],
                              med["postgresql"][1] / max(1, med["sqlite"][1])))
        # two daemons, one database, each its own run, at the same time
        k += 1
        pg.psql("CREATE DATABASE b%d" % k, db="postgres")
        res = [None, None]

        def one(i):
            res[i] = e2e("16x8", "1", base + "b%d" % k, run="bench%d" % i)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        more, k = writer_alone(pg, base, k)
        summary += more
        print("```")
        print()
        for line in summary:
            print("- " + line)
        total = sum(p for _, p in res)
        print("- two daemons at once into one PostgreSQL database (16x8 views=1, each its own "
              "run, daemons, load generators and server on the same 2 cores): %d + %d = %d "
              "points/s stored" % (res[0][1], res[1][1], total))


if __name__ == "__main__":
    main()
