"""Daemon memory vs the number of runs and vs the batch shape (issue 14's
scaling table): RSS of an idle erwatchd after every batch is stored.

  runs:  R runs of T steps each (16 x 8 batches, default metric set, the
         built-in alert rules watching each run) for R = 100, 1000, 10000;
         the dashboard's run list asked once, as a browser would.
  shape: 200 batches of N x d (two views) for a few shapes, --max-queue-mb
         64: RSS at rest and the peak while they were computed.

Prints a Markdown section. Usage: python3 tests/bench/bench_memory.py BUILD [--quick]
"""

import os
import sys
import time

import msgpack
import numpy as np
import zmq

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("EW_BUILD", sys.argv[1] if len(sys.argv) > 1 else "build")
from harness import Daemon, wait_for  # noqa: E402

QUICK = "--quick" in sys.argv
RUNS = [100, 1000] if QUICK else [100, 1000, 10000]
STEPS = 3
SHAPES = [(256, 128), (1024, 256)] if QUICK else [(256, 128), (1024, 256), (4096, 512)]


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sender(d):
    s = zmq.Context.instance().socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, 100000)
    s.connect(d.zmq)
    return s


def header(run, step, n, d, views=1):
    h = {"v": 1, "run": run, "tag": "proj", "step": step, "dtype": "f32", "shape": [n, d],
         "scalars": {"loss": 1.0 / (step + 1)}}
    if views == 2:
        h["views"] = 2
    return msgpack.packb(h, use_bin_type=True)


def settle(d, n, t0):
    """Waits until n batches are stored; returns the seconds since t0 then,
    after a second more for the writer's and the alert engine's last group."""
    wait_for(lambda: d.health()["batches"]["stored"] >= n, 1800, interval=0.05,
             what="%d batches stored" % n)
    dt = time.perf_counter() - t0
    time.sleep(1.0)
    return dt


def by_runs(rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    for r in RUNS:
        with Daemon(workers=2) as d:
            base = status_kib(d.proc.pid, "VmRSS")
            s = sender(d)
            t0 = time.perf_counter()
            for step in range(STEPS):
                for i in range(r):
                    s.send_multipart([header("run-%05d" % i, step, 16, 8), x])
            dt = settle(d, r * STEPS, t0)
            st, body = d.get("/api/runs", limit=50)
            assert st == 200, st
            rest = status_kib(d.proc.pid, "VmRSS")
            peak = status_kib(d.proc.pid, "VmHWM")
            s.close(0)
            rows.append(("%d runs x %d steps (16 x 8)" % (r, STEPS), base, rest, peak,
                         "%.0f batches/s" % (r * STEPS / dt)))


def by_shape(rows):
    rng = np.random.default_rng(1)
    n_batches = 50 if QUICK else 200
    for n, dd in SHAPES:
        x = rng.standard_normal((n, dd)).astype(np.float32)
        with Daemon("--max-queue-mb", "64", workers=2) as d:
            base = status_kib(d.proc.pid, "VmRSS")
            s = sender(d)
            t0 = time.perf_counter()
            for step in range(n_batches):
                s.send_multipart([header("shape", step, n, dd, views=2), x, x])
            dt = settle(d, n_batches, t0)
            rest = status_kib(d.proc.pid, "VmRSS")
            peak = status_kib(d.proc.pid, "VmHWM")
            s.close(0)
            rows.append(("%d batches of %d x %d, two views (%.1f MiB each)"
                         % (n_batches, n, dd, 2 * n * dd * 4 / 2**20), base, rest, peak,
                         "%.1f batches/s" % (n_batches / dt)))


def main():
    rows = []
    by_runs(rows)
    by_shape(rows)
    print("Command: `/usr/bin/python3 tests/bench/bench_memory.py build`; RSS of erwatchd "
          "(2 workers) at start, at rest after everything was stored, and its peak.")
    print()
    print("| load | RSS at start | at rest | peak | stored at |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for what, base, rest, peak, rate in rows:
        print("| %s | %.1f MiB | %.1f MiB | %.1f MiB | %s |"
              % (what, base / 1024, rest / 1024, peak / 1024, rate))


if __name__ == "__main__":
    main()
