"""Cost of erwatch.Monitor.log() in the training loop, beside a plain memcpy
of the same bytes (np.copyto into a preallocated array), measured in one run.

Batch: 1024 x 256 float32 (1 MiB a view). The reference is a memcpy of the
same bytes into memory that is not in the cache (as ZeroMQ's message buffers
are); a memcpy into one buffer that stays cached is shown too. "Daemon reading" is a bare PULL
socket in another process that receives and discards as fast as it can, so
the number is the client's cost, not the daemon's metric time. Calls run back to back,
so the copy competes with ZeroMQ's I/O thread and the receiver for memory
bandwidth and (on a small machine) cores: a worst case beside a training
loop, which calls log() once per step. "No daemon"
is the drop path: every check runs, nothing is sent.

Prints a Markdown section (tests/bench/run.sh appends it to RESULTS.md).
Usage: python3 tests/bench/bench_python_client.py [--quick]
"""

import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import erwatch  # noqa: E402

N, D = 1024, 256
COLD_MIB = 128  # more than a last-level cache
SINK = r"""
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.PULL); s.setsockopt(zmq.RCVHWM, 64)
s.bind("tcp://127.0.0.1:*"); print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
while True:
    s.recv_multipart(copy=False)
"""


def per_call(fn, calls, repeats, between=None):
    """Times each call: (median wall us, median calling-thread CPU us) over
    calls * repeats calls. The CPU time leaves out the time the thread was
    preempted (by ZeroMQ's I/O thread, the sink, other processes)."""
    fn(0)  # warm-up
    wall, cpu = [], []
    for r in range(repeats):
        for i in range(calls):
            t0, c0 = time.perf_counter(), time.thread_time()
            fn(i)
            c1, t1 = time.thread_time(), time.perf_counter()
            wall.append(t1 - t0)
            cpu.append(c1 - c0)
        if between:
            between()
    return statistics.median(wall) * 1e6, statistics.median(cpu) * 1e6


def main():
    warnings.simplefilter("ignore", erwatch.DropWarning)  # drops are counted below
    quick = "--quick" in sys.argv
    calls, repeats = (50, 5) if quick else (200, 9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.standard_normal((N, D)).astype(np.float32)
    dst = np.empty_like(x)
    mib = x.nbytes / 2**20
    # A sender's copy lands in memory the I/O thread reads later, not in a
    # buffer that stays in cache: the reference memcpy rotates over more
    # destination memory than the last-level cache holds.
    cold = [np.ones_like(x) for _ in range(COLD_MIB * 2**20 // x.nbytes)]

    hot = per_call(lambda i: np.copyto(dst, x), calls * 4, repeats)
    memcpy = per_call(lambda i: np.copyto(cold[i % len(cold)], x), calls * 4, repeats)
    npcopy = per_call(lambda i: x.copy(), calls * 4, repeats)
    rows = [("memcpy of one view to cold memory (np.copyto over %d MiB): the reference"
             % COLD_MIB, memcpy, 1),
            ("memcpy of one view to one cache-resident buffer", hot, 1),
            ("numpy copy of one view (x.copy(), reuses the freed block)", npcopy, 1)]

    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    notes = []
    try:
        endpoint = sink.stdout.readline().strip()
        mon = erwatch.Monitor("bench", endpoint=endpoint, sndhwm=64, connect_timeout=5)
        assert mon.wait_connected(5), "the sink did not connect"

        def drain():
            mon.flush(30)

        step = iter(range(10**9))
        rows.append(("log(step, z1), daemon reading", per_call(
            lambda i: mon.log(next(step), x), calls, repeats, drain), 1))
        rows.append(("log(step, z1, z2, loss=...), daemon reading", per_call(
            lambda i: mon.log(next(step), x, y, loss=0.5), calls, repeats, drain), 2))
        try:
            import torch
            torch.set_num_threads(1)
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            rows.append(("log() of two torch float32 CPU tensors, daemon reading", per_call(
                lambda i: mon.log(next(step), tx, ty), calls, repeats, drain), 2))
            bx, by = tx.bfloat16(), ty.bfloat16()
            rows.append(("log() of two torch bfloat16 CPU tensors (1 MiB in all)", per_call(
                lambda i: mon.log(next(step), bx, by), calls, repeats, drain), 1))
        except ImportError:
            notes.append("torch is not installed: no tensor rows.")
        nocopy = erwatch.Monitor("bench", tag="nocopy", endpoint=endpoint, copy=False,
                                 sndhwm=64, connect_timeout=5)
        rows.append(("log(step, z1, z2), Monitor(copy=False): no copy at all", per_call(
            lambda i: nocopy.log(next(step), x, y), calls, repeats, lambda: nocopy.flush(30)), 2))
        nocopy.close(5)
        sub = erwatch.Monitor("bench", tag="sub", endpoint=endpoint, max_rows=256, seed=0,
                              sndhwm=64, connect_timeout=5)
        rows.append(("log(step, z1, z2) with max_rows=256 (sends 1/4)", per_call(
            lambda i: sub.log(next(step), x, y), calls, repeats, lambda: sub.flush(30)), 2))
        st = mon.stats()
        sub.close(5)
        mon.close(5)
        if st["dropped"]:
            notes.append("%d of %d batches to the sink were dropped (sink slower than log())."
                         % (st["dropped"], st["sent"] + st["dropped"]))
    finally:
        sink.kill()
        sink.wait()

    free = erwatch.Monitor("bench", endpoint="tcp://127.0.0.1:9", connect_timeout=0)
    rows.append(("log(step, z1, z2), no daemon (dropped after the checks)", per_call(
        lambda i: free.log(i, x, y), calls, repeats), 2))
    free.close(0)

    print("## Python client: Monitor.log() beside memcpy (%d x %d float32, %.0f MiB a view)"
          % (N, D, mib))
    print()
    print("Medians over %d calls, back to back; \"x memcpy\" divides by a memcpy of the bytes "
          "the call hands over (one or two views). Wall: what the training loop waits, "
          "including preemption by ZeroMQ's I/O thread and the receiver on this machine; CPU: "
          "the calling thread's own work (checks, the one copy into ZeroMQ, the send)."
          % (repeats * calls))
    print()
    print("| case | wall us | x memcpy | CPU us | x memcpy |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (wall, cpu), views in rows:
        print("| %s | %.1f | %.2f | %.1f | %.2f |" % (name, wall, wall / (memcpy[0] * views),
                                                      cpu, cpu / (memcpy[1] * views)))
    for n in notes:
        print()
        print(n)


if __name__ == "__main__":
    main()
