"""Pooling overhead, daemon end to end: a step of a data-parallel job sent
as 8 pooled parts of 256 x 128 (what 8 ranks send) against the same 2048 x
128 rows sent as one batch (what an all_gather in the training loop would
send from rank 0). Each side: STEPS steps pushed as fast as the daemon takes
them, timed from the first send to the last step stored; the two sides run
in alternation (ABAB) against fresh daemons so that a slow phase of a shared
machine hits both. Prints a Markdown section (tests/bench/run.sh appends it
to RESULTS.md). Usage: python3 tests/bench/bench_pool.py BUILD [--quick]
"""

import os
import statistics
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
WORLD, LOCAL, D = 8, 256, 128
STEPS = 10 if QUICK else 40
ROUNDS = 1 if QUICK else 3


def header(run, step, n, rank=None, world=None):
    h = {"v": 1, "run": run, "tag": "proj", "step": step, "dtype": "f32", "shape": [n, D]}
    if world:
        h.update(rank=rank, world=world, pool=True)
    return msgpack.packb(h, use_bin_type=True)


def one_side(pooled, parts):
    with Daemon(workers=2) as d:
        s = zmq.Context.instance().socket(zmq.PUSH)
        s.setsockopt(zmq.SNDHWM, 1000)
        s.connect(d.zmq)
        whole = np.concatenate(parts)
        t0 = time.perf_counter()
        for step in range(STEPS):
            if pooled:
                for r, p in enumerate(parts):
                    s.send_multipart([header("b", step, LOCAL, r, WORLD), p])
            else:
                s.send_multipart([header("b", step, WORLD * LOCAL), whole])
        wait_for(lambda: d.health()["batches"]["stored"] >= STEPS, 600, interval=0.01,
                 what="%d steps stored" % STEPS)
        dt = time.perf_counter() - t0
        h = d.health()
        s.close(0)
        if pooled:
            assert h["pool"]["complete"] == STEPS, h["pool"]
        return dt


def main():
    rng = np.random.default_rng(0)
    parts = [rng.standard_normal((LOCAL, D)).astype(np.float32) for _ in range(WORLD)]
    t_pool, t_one = [], []
    for _ in range(ROUNDS):
        t_pool.append(one_side(True, parts))
        t_one.append(one_side(False, parts))
    mp, mo = statistics.median(t_pool), statistics.median(t_one)
    print("## Pooling the ranks of a distributed job (daemon end to end)")
    print()
    print("%d steps of %d x %d rows (2 workers, default metric set): sent as %d pooled "
          "parts of %d rows vs as one batch; median of %d alternating rounds."
          % (STEPS, WORLD * LOCAL, D, WORLD, LOCAL, ROUNDS))
    print()
    print("| sent as | steps/s | s per step | rounds (s) |")
    print("| --- | ---: | ---: | --- |")
    for name, m, ts in (("8 pooled parts", mp, t_pool), ("one batch", mo, t_one)):
        print("| %s | %.2f | %.3f | %s |" % (name, STEPS / m, m / STEPS,
                                            ", ".join("%.2f" % t for t in ts)))
    print()
    print("Pooled / one batch: **%.3fx** the time." % (mp / mo))


if __name__ == "__main__":
    main()
