"""Pooling overhead, daemon end to end: a step of a data-parallel job sent
as 8 pooled parts of 256 x 128 (what 8 ranks send) against the same 2048 x
128 rows sent as one batch (what an all_gather in the training loop would
send from rank 0). Each side: STEPS steps pushed as fast as the daemon takes
them, timed from the first send to the last step stored; the two sides run
in alternation (ABAB) against fresh daemons so that a slow phase of a shared
machine hits both. Prints a Markdown section (tests/bench/run.sh appends it
to RESULTS.md). Then the flood: FLOOD_STEPS distinct steps of a 64-rank
job that never complete, from one client, against --max-queue-mb 4, while
another client's valid run is timed against the same run without the flood
(issue 11: memory stays under the bound, valid runs keep their rate).
Usage: python3 tests/bench/bench_pool.py BUILD [--quick]
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
FLOOD_STEPS = 50000 if QUICK else 1000000
VALID = 1000  # valid batches (64 x 32) timed with and without the flood


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


def rss_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def valid_run(d, rng):
    """VALID batches of 64 x 32 from a client of their own; seconds from the
    first send to the last one stored."""
    s = zmq.Context.instance().socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, 10000)
    s.connect(d.zmq)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    # connected and warm first: one batch of another run, stored
    h = {"v": 1, "run": "valid-warm-up", "tag": "proj", "step": 0, "dtype": "f32",
         "shape": [64, 32]}
    s.send_multipart([msgpack.packb(h, use_bin_type=True), x])
    wait_for(lambda: d.sql("SELECT count(*) FROM batch_info WHERE run = 'valid-warm-up'")[0][0],
             900, interval=0.05, what="the warm-up batch stored")
    before = d.health()["batches"]["stored"]
    t0 = time.perf_counter()
    for step in range(VALID):
        h = {"v": 1, "run": "valid", "tag": "proj", "step": step, "dtype": "f32", "shape": [64, 32]}
        s.send_multipart([msgpack.packb(h, use_bin_type=True), x])
    n_valid = lambda: d.sql("SELECT count(*) FROM batch_info WHERE run = 'valid'")[0][0]  # noqa: E731
    wait_for(lambda: n_valid() >= VALID, 900, interval=0.05, what="the valid run stored")
    dt = time.perf_counter() - t0
    s.close(0)
    return dt, d.health()["batches"]["stored"] - before


def flood():
    """(seconds for the valid run alone, with the flood, the flood's stats)."""
    rng = np.random.default_rng(1)
    args = ("--max-queue-mb", "4", "--pool-timeout-ms", "600000")
    with Daemon(*args, workers=2) as d:
        alone, _ = valid_run(d, rng)
    with Daemon(*args, workers=2) as d:
        base = rss_kib(d.proc.pid, "VmRSS")
        s = zmq.Context.instance().socket(zmq.PUSH)
        s.setsockopt(zmq.SNDHWM, 100000)
        s.connect(d.zmq)
        x = np.ones((2, 8), np.float32).tobytes()
        t0 = time.perf_counter()
        half = FLOOD_STEPS // 2
        peak_waiting = 0
        for step in range(half):
            h = {"v": 1, "run": "flood", "tag": "proj", "step": step, "dtype": "f32",
                 "shape": [2, 8], "rank": step % 64, "world": 64, "pool": True}
            s.send_multipart([msgpack.packb(h, use_bin_type=True), x])
        # the valid run while the second half of the flood goes in
        import threading
        res = {}
        t = threading.Thread(target=lambda: res.setdefault("v", valid_run(d, rng)))
        t.start()
        for step in range(half, FLOOD_STEPS):
            h = {"v": 1, "run": "flood", "tag": "proj", "step": step, "dtype": "f32",
                 "shape": [2, 8], "rank": step % 64, "world": 64, "pool": True}
            s.send_multipart([msgpack.packb(h, use_bin_type=True), x])
            if step % 10000 == 0:
                peak_waiting = max(peak_waiting, d.health()["pool"]["waiting"]["bytes"])
        t.join()
        wait_for(lambda: d.health()["pool"]["evicted"] + d.health()["pool"]["waiting"]["steps"]
                 >= FLOOD_STEPS, 1800, interval=0.5, what="every flood step evicted or waiting")
        sent_s = time.perf_counter() - t0
        p = d.health()["pool"]
        hwm = rss_kib(d.proc.pid, "VmHWM")
        s.close(0)
        return alone, res["v"][0], dict(seconds=sent_s, evicted=p["evicted"],
                                        waiting=p["waiting"], peak_waiting=peak_waiting,
                                        rss_base_mib=base / 1024, rss_peak_mib=hwm / 1024)


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
    alone, during, f = flood()
    print()
    print("### A flood of never-completed pooled steps (--max-queue-mb 4)")
    print()
    print("%d distinct steps of a 64-rank job, one 2 x 8 part each, none ever complete, "
          "from one raw ZeroMQ client; %d valid 64 x 32 batches from another client "
          "timed alone and while the second half of the flood goes in (2 workers)."
          % (FLOOD_STEPS, VALID))
    print()
    print("| | value |")
    print("| --- | ---: |")
    print("| flood: all steps evicted or waiting after | %.1f s |" % f["seconds"])
    print("| evicted (computed partial, oldest first) | %d |" % f["evicted"])
    print("| still waiting at the end | %d steps, %d bytes |"
          % (f["waiting"]["steps"], f["waiting"]["bytes"]))
    print("| waiting bytes, largest sample | %d (bound %d) |" % (f["peak_waiting"], 4 << 20))
    print("| daemon RSS at start / peak | %.0f / %.0f MiB |"
          % (f["rss_base_mib"], f["rss_peak_mib"]))
    print("| valid run alone | %.2f s (%.0f batches/s) |" % (alone, VALID / alone))
    print("| valid run during the flood | %.2f s (%.0f batches/s) |" % (during, VALID / during))


if __name__ == "__main__":
    main()
