"""Pooling the ranks of a distributed job (README, "Distributed training"):
parts of one step, sent by the CLI, the Python client or 4 torch.distributed
processes, are computed as one batch of their rows in rank order, equal to
`erwatch compute` on the concatenation whatever the arrival order; a step
missing a rank completes on timeout with pool_ranks below world; late,
duplicate, mismatched and malformed parts are refused and counted; a flood
of never-completed steps keeps memory under the bound."""

import os
import socket
import subprocess
import sys
import textwrap
import time

import msgpack
import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ROOT, Daemon, assert_close, run_all, run_cli, save_npy, test,  # noqa: E402
                     wait_for)

PY = "/usr/bin/python3"


def compute(metric, *files, **opts):
    args = ["compute", metric] + list(files)
    for k, v in opts.items():
        args += ["--" + k, v]
    return float(run_cli(*args).stdout.strip())


def push_part(d, run, step, rank, world, x, y=None, extra=()):
    args = ["push", "--endpoint", d.zmq, "--run", run, "--tag", "proj", "--step", step,
            "--rank", rank, "--world", world, "--pool"] + list(extra) + [x]
    if y:
        args.append(y)
    return run_cli(*args)


def stored(d, run, metric="er_entropy"):
    return dict(d.sql("SELECT step, value FROM series_points WHERE run=? AND tag='proj' "
                      "AND metric=?", run, metric))


def pool_health(d):
    return d.health()["pool"]


def unit(a):
    a = a.astype(np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@test
def uneven_parts_in_any_order_equal_compute_on_the_concatenation():
    rng = np.random.default_rng(11)
    sizes = [37, 1, 64, 90]  # ranks 0..3, one part of a single row
    xs = [(rng.standard_normal((n, 16)) * np.linspace(2, 0.2, 16)).astype(np.float32)
          for n in sizes]
    ys = [(x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32) for x in xs]
    with Daemon() as d:
        files = []
        for r, (x, y) in enumerate(zip(xs, ys)):
            files.append((save_npy(os.path.join(d.dir, "x%d.npy" % r), x),
                          save_npy(os.path.join(d.dir, "y%d.npy" % r), y)))
        orders = {0: [0, 1, 2, 3], 1: [3, 1, 0, 2], 2: [2, 3, 1, 0]}
        for step, order in orders.items():
            for r in order:
                push_part(d, "pooled", step, r, 4, files[r][0], files[r][1])
        wait_for(lambda: len(stored(d, "pooled")) == 3, 20, what="3 pooled steps stored")
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert x.shape == (192, 16)
        f = {}
        for name, arr in (("x", x), ("ux", unit(x)), ("uy", unit(y))):
            f[name] = save_npy(os.path.join(d.dir, name + ".npy"), arr)
        want = {
            "er_entropy": (compute("er_entropy", f["ux"], kappa=10), 2e-6 * 20),
            "er_reconstruction": (compute("er_reconstruction", f["ux"], f["uy"], kappa=10),
                                  2e-6 * 20),
            "align": (compute("align", f["ux"], f["uy"]), 2e-6),
            "uniform": (compute("uniform", f["ux"]), 2e-6),
            "w2": (compute("w2", f["ux"]), 6e-6),
            "rankme": (compute("rankme", f["x"]), 2.4e-5 * 16),
            "std_l2": (compute("std_l2", f["x"]), 2e-6),
        }
        for m, (exp, tol) in want.items():
            got = stored(d, "pooled", m)
            assert sorted(got) == [0, 1, 2], (m, got)
            assert_close(got[0], exp, tol, m)
            # another arrival order, the same rows in rank order: the same bits
            assert got[1] == got[0] and got[2] == got[0], (m, got)
        ranks = stored(d, "pooled", "pool_ranks")
        assert ranks == {0: 4.0, 1: 4.0, 2: 4.0}, ranks
        n = d.sql("SELECT n FROM batches b JOIN runs r ON r.id = b.run_id WHERE r.name='pooled'")
        assert [row[0] for row in n] == [192, 192, 192], n
        p = pool_health(d)
        assert p["complete"] == 3 and p["partial"] == 0, p
        assert p["waiting"] == {"steps": 0, "bytes": 0}, p
        h = d.health()
        assert h["batches"]["accepted"] == 12 and h["batches"]["stored"] == 3, h["batches"]


@test
def missing_rank_completes_on_timeout_and_late_part_is_refused():
    rng = np.random.default_rng(12)
    with Daemon("--pool-timeout-ms", "400") as d:
        xs = [rng.standard_normal((20, 8)).astype(np.float32) for _ in range(3)]
        files = [save_npy(os.path.join(d.dir, "p%d.npy" % r), x) for r, x in enumerate(xs)]
        t0 = time.monotonic()
        push_part(d, "straggler", 5, 0, 3, files[0])
        push_part(d, "straggler", 5, 1, 3, files[1])
        wait_for(lambda: stored(d, "straggler", "pool_ranks"), 10, what="the partial step")
        waited = time.monotonic() - t0
        assert waited >= 0.4, ("stored before the timeout", waited)
        assert stored(d, "straggler", "pool_ranks") == {5: 2.0}
        u = save_npy(os.path.join(d.dir, "u.npy"), unit(np.concatenate(xs[:2])))
        assert_close(stored(d, "straggler")[5], compute("er_entropy", u, kappa=10), 4e-5,
                     "partial er_entropy")
        before = stored(d, "straggler")
        push_part(d, "straggler", 5, 2, 3, files[2])  # after its step went out
        wait_for(lambda: d.health()["rejected"]["pool_late"] == 1, 10, what="pool_late")
        time.sleep(0.6)
        assert stored(d, "straggler") == before
        p = pool_health(d)
        assert p["partial"] == 1 and p["late"] == 1 and p["complete"] == 0, p
        assert "pooled with 2 of 3 ranks" in d.log(), d.log()


def raw_sender(d):
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, 100000)
    s.setsockopt(zmq.LINGER, 5000)
    s.connect(d.zmq)
    return s


def part(run, step, rank, world, x, pool=True, **kw):
    h = {"v": 1, "run": run, "tag": "proj", "step": step, "dtype": "f32",
         "shape": list(x.shape), "rank": rank, "world": world}
    if pool is not None:
        h["pool"] = pool
    h.update(kw)
    return [msgpack.packb(h, use_bin_type=True), np.ascontiguousarray(x, "<f4").tobytes()]


@test
def bad_parts_are_refused_with_their_reason():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    wide = rng.standard_normal((8, 5)).astype(np.float32)
    with Daemon("--pool-timeout-ms", "300") as d:
        s = raw_sender(d)
        s.send_multipart(part("bad", 1, 0, 2, x))
        s.send_multipart(part("bad", 1, 0, 2, x))                  # duplicate rank 0
        s.send_multipart(part("bad", 1, 1, 2, wide))               # d differs
        s.send_multipart(part("bad", 1, 1, 2, x, kappa=20.0))      # kappa differs
        s.send_multipart(part("bad", 1, 1, 3, x))                  # world differs
        s.send_multipart(part("bad", 2, 2, 2, x))                  # rank >= world
        s.send_multipart(part("bad", 2, 0, 1, x))                  # pool with world 1
        s.send_multipart(part("bad", 2, 0, 2, x, pool=1))          # pool not a bool
        s.send_multipart(part("bad", 1, 1, 2, x))                  # the good rank 1
        s.close()
        wait_for(lambda: stored(d, "bad", "pool_ranks") == {1: 2.0}, 10, what="step 1 pooled")
        h = d.health()
        r = h["rejected"]
        assert r["pool_duplicate"] == 1 and r["pool_mismatch"] == 3, r
        assert r["bad_value"] == 2 and r["bad_type"] == 1, r
        p = h["pool"]
        assert p["complete"] == 1 and p["duplicate"] == 1 and p["mismatched"] == 3, p
        log = d.log()
        assert "differs in d from" in log and "sent its part of this step twice" in log, log
        # the pooled step is the first part's rows and the good rank 1's
        assert d.sql("SELECT n FROM batches b JOIN runs r ON r.id = b.run_id "
                     "WHERE r.name='bad'") == [(16,)]


def rss_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


@test
def flood_of_never_completed_steps_stays_under_the_bound():
    """20,000 steps of a world of 64 that never complete, from one client,
    with --max-queue-mb 4: the waiting parts never pass the bound (the
    oldest are sent on, partial, and counted), the daemon's peak RSS stays
    under the bound plus a fixed overhead, and a valid run keeps going."""
    steps = 20000
    x = np.ones((2, 8), np.float32)
    with Daemon("--max-queue-mb", "4", "--pool-timeout-ms", "60000", workers=1) as d:
        base = rss_kib(d.proc.pid, "VmRSS")
        s = raw_sender(d)
        peak_waiting = 0
        for step in range(steps):
            s.send_multipart(part("flood", step, step % 64, 64, x), copy=False)
            if step % 2000 == 0:
                peak_waiting = max(peak_waiting, pool_health(d)["waiting"]["bytes"])
        run_cli("push", "--endpoint", d.zmq, "--run", "valid", "--tag", "proj", "--step", 0,
                save_npy(os.path.join(d.dir, "v.npy"), np.eye(8, dtype=np.float32)))
        s.close()
        wait_for(lambda: pool_health(d)["evicted"] + pool_health(d)["waiting"]["steps"]
                 == steps, 120, interval=0.2, what="every flood step evicted or waiting")
        wait_for(lambda: stored(d, "valid"), 30, what="the valid run stored")
        p = pool_health(d)
        hwm = rss_kib(d.proc.pid, "VmHWM")
        print("# flood: base RSS %d KiB, peak %d KiB, waiting bytes peak %d, evicted %d"
              % (base, hwm, peak_waiting, p["evicted"]))
        assert p["evicted"] > steps // 2, p
        assert p["waiting"]["bytes"] <= 4 << 20 and peak_waiting <= 4 << 20, (p, peak_waiting)
        # The bound (4 MiB) plus the pipeline's fixed overhead, mostly the
        # writer's run-ahead of up to 2048 results of ~15 KiB each (~30 MiB,
        # README "Architecture"): measured 46 MiB over the start; a pool
        # that grew with the flood would pass 64 MiB many times over. Under
        # a sanitizer RSS measures the sanitizer, not us.
        if not os.environ.get("EW_SAN"):
            assert hwm - base < 64 * 1024, ("peak RSS grew by KiB", hwm - base)


WORKER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import torch, torch.distributed as dist
    sys.path.insert(0, os.path.join(%(root)r, "client", "python"))
    import erwatch
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%(port)d",
                            rank=int(sys.argv[1]), world_size=4)
    rank = dist.get_rank()
    stop_at = int(sys.argv[2])
    mon = erwatch.Monitor("ddp", tag="proj", endpoint=%(zmq)r, pool=True)
    for step in range(%(steps)d):
        if rank == 3 and step == stop_at:
            break                      # this rank dies; the others go on
        g = torch.Generator().manual_seed(1000 * step + rank)
        z = torch.randn(16 + 8 * rank, 12, generator=g)
        mon.log(step, z)
        if step < stop_at:
            dist.barrier()
    mon.flush(10)
    mon.close()
""")


@test
def torch_distributed_gloo_job_pools_every_step():
    steps, stop_at = 24, 16
    with Daemon("--pool-timeout-ms", "700") as d:
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
        script = os.path.join(d.dir, "worker.py")
        with open(script, "w") as f:
            f.write(WORKER % {"root": ROOT, "port": port, "zmq": d.zmq, "steps": steps})
        env = dict(os.environ, OMP_NUM_THREADS="1")
        env.pop("LD_PRELOAD", None)
        procs = [subprocess.Popen([PY, script, str(r), str(stop_at)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL) for r in range(4)]
        outs = []
        for p in procs:
            out, _ = p.communicate(timeout=180)
            outs.append(out.decode("utf-8", "replace"))
        for r, (p, out) in enumerate(zip(procs, outs)):
            assert p.returncode == 0, (r, p.returncode, out)
        wait_for(lambda: len(stored(d, "ddp", "pool_ranks")) == steps, 30,
                 what="every step of the job stored")
        ranks = stored(d, "ddp", "pool_ranks")
        assert all(ranks[s] == 4.0 for s in range(stop_at)), ranks
        assert all(ranks[s] == 3.0 for s in range(stop_at, steps)), ranks
        ns = dict(d.sql("SELECT step, n FROM batches b JOIN runs r ON r.id = b.run_id "
                        "WHERE r.name='ddp'"))
        full, three = sum(16 + 8 * r for r in range(4)), sum(16 + 8 * r for r in range(3))
        assert all(ns[s] == full for s in range(stop_at)), ns
        assert all(ns[s] == three for s in range(stop_at, steps)), ns
        # values: step 3's rows rebuilt exactly as the ranks made them
        import torch
        rows = [torch.randn(16 + 8 * r, 12, generator=torch.Generator().manual_seed(3000 + r))
                .numpy() for r in range(4)]
        u = save_npy(os.path.join(d.dir, "s3.npy"), unit(np.concatenate(rows)))
        assert_close(stored(d, "ddp")[3], compute("er_entropy", u, kappa=10), 4e-5,
                     "ddp step 3 er_entropy")
        p = pool_health(d)
        assert p["complete"] == stop_at and p["partial"] == steps - stop_at, p


if __name__ == "__main__":
    run_all()
