"""The Python client (client/python/erwatch): values a real daemon stores
from Monitor.log() equal `erwatch compute` on the same arrays; the wire
format (read back from a raw PULL socket); never blocking, with an exact drop
count that reaches the daemon, when the daemon is absent or restarts; torch
tensors of every dtype; bad input; `every` and `max_rows`; an offline pip
install. Tests that need torch report "# SKIP" when it is not installed."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings

import msgpack
import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ROOT, SLOW, Daemon, assert_close, run_all, run_cli, save_npy, test,  # noqa: E402
                     unit_rows, wait_for)

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import erwatch  # noqa: E402

try:
    import torch
    torch.set_num_threads(1)
except ImportError:
    torch = None


def needs_torch(fn):
    """Registers fn, or a stand-in reporting "# SKIP" when torch is absent."""
    if torch is not None:
        return test(fn)

    def skipped():
        pass
    skipped.__name__ = fn.__name__ + " # SKIP python3-torch not installed"
    return test(skipped)


# The daemon renormalises rows and runs the float32 path; the reference is
# double on the array as given. As in test_e2e.py: 10x the float32 tolerance
# of tests/vectors/README.md (2e-7 * (|H| + kappa)) covers both.
def tol(value, kappa):
    return 10 * 2e-7 * (abs(value) + kappa) + 1e-6


def compute(d, metric, *arrays, **opts):
    """`erwatch compute` on arrays (saved as .npy in the daemon's temp dir)."""
    files = [save_npy(os.path.join(d.dir, "c%d.npy" % i), a) for i, a in enumerate(arrays)]
    args = ["compute", metric] + files
    for k, v in opts.items():
        args += ["--" + k, v]
    return float(run_cli(*args).stdout.strip())


def normalised(a):
    """Rows of a widened to double and scaled to unit length: what the
    daemon computes on for sphere support (it normalises in float32)."""
    a = np.asarray(a, dtype=np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def stored(d, run, tag, metric):
    return d.sql("SELECT step, value FROM series_points WHERE run=? AND tag=? AND metric=? "
                 "ORDER BY step", run, tag, metric)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RawSink:
    """A bare PULL socket on an ephemeral port: what the client puts on the
    wire, frame by frame."""

    def __init__(self):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PULL)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def recv(self, timeout_ms=5000):
        assert self.sock.poll(timeout_ms), "no message within %d ms" % timeout_ms
        frames = self.sock.recv_multipart()
        return msgpack.unpackb(frames[0], raw=False), frames[1:]

    def close(self):
        self.sock.close(linger=0)
        self.ctx.term()


def quiet_monitor(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", erwatch.DropWarning)
        return erwatch.Monitor(*args, **kw)


# ---------------------------------------------------------------- values

@test
def numpy_values_match_compute():
    rng = np.random.default_rng(11)
    with Daemon() as d:
        x32, y32 = unit_rows(rng, 256, 64), unit_rows(rng, 256, 64)
        x64, y64 = unit_rows(rng, 128, 32, "float64"), unit_rows(rng, 128, 32, "float64")
        p = rng.random((64, 10))
        p /= p.sum(axis=1, keepdims=True)
        q = rng.random((64, 10))
        q /= q.sum(axis=1, keepdims=True)
        with erwatch.Monitor("np", endpoint=d.zmq) as m, \
                erwatch.Monitor("np", tag="k20", endpoint=d.zmq, kappa=20) as mk, \
                erwatch.Monitor("np", tag="protos", endpoint=d.zmq, support="discrete") as md:
            for step in range(3):
                assert m.log(step, x32, y32, loss=1.0 / (step + 1), lr=0.05)
            assert mk.log(0, x64, y64)
            assert md.log(0, p.astype(np.float32), q.astype(np.float32))
            assert m.flush(5)
        assert m.stats()["sent"] == 3 and m.stats()["dropped"] == 0, m.stats()
        d.wait_stored(5)

        ent, rec = compute(d, "er_entropy", x32), compute(d, "er_reconstruction", x32, y32)
        rows = stored(d, "np", "projector", "er_entropy")
        assert [s for s, _ in rows] == [0, 1, 2], rows
        for _, v in rows:
            assert_close(v, ent, tol(ent, 10), "er_entropy f32")
        assert_close(stored(d, "np", "projector", "er_reconstruction")[0][1], rec,
                     tol(rec, 10), "er_reconstruction f32")
        assert stored(d, "np", "projector", "loss") == [(0, 1.0), (1, 0.5), (2, 1.0 / 3.0)]
        assert stored(d, "np", "projector", "lr") == [(0, 0.05), (1, 0.05), (2, 0.05)]

        ent = compute(d, "er_entropy", x64, kappa=20)
        assert_close(stored(d, "np", "k20", "er_entropy")[0][1], ent, tol(ent, 20), "f64 kappa 20")
        rec = compute(d, "er_reconstruction", x64, y64, kappa=20)
        assert_close(stored(d, "np", "k20", "er_reconstruction")[0][1], rec, tol(rec, 20))

        ent = compute(d, "er_entropy", p.astype(np.float32), support="discrete")
        assert_close(stored(d, "np", "protos", "er_entropy")[0][1], ent, 2e-6, "discrete")
        rec = compute(d, "er_reconstruction", p.astype(np.float32), q.astype(np.float32),
                      support="discrete")
        assert_close(stored(d, "np", "protos", "er_reconstruction")[0][1], rec, 2e-6)

        info = d.sql("SELECT tag, n, d, views, support, kappa, dropped FROM batch_info "
                     "WHERE step = 0 ORDER BY tag")
        assert info == [("k20", 128, 32, 2, "sphere", 20.0, 0),
                        ("projector", 256, 64, 2, "sphere", 10.0, 0),
                        ("protos", 64, 10, 2, "discrete", 10.0, 0)], info


@needs_torch
def torch_tensors_of_every_dtype_arrive():
    g = torch.Generator().manual_seed(12)
    base_x = torch.randn(200, 48, generator=g, dtype=torch.float64) * 3.0  # not unit rows
    base_y = base_x + 0.3 * torch.randn(200, 48, generator=g, dtype=torch.float64)
    dtypes = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
              "f64": torch.float64}
    with Daemon() as d:
        with erwatch.Monitor("torch", endpoint=d.zmq) as m:
            for step, (name, dt) in enumerate(dtypes.items()):
                x = base_x.to(dt).clone().requires_grad_()  # a live autograd leaf
                y = base_y.to(dt)
                m.log(step, x * 1, y.t().contiguous().t(), loss=torch.tensor(0.25 * step))
            # A non-contiguous view and a single view.
            m.log(10, base_x.float()[:, ::2], None)
        assert m.stats()["sent"] == 5, m.stats()
        d.wait_stored(5)
        ent_rows = dict(stored(d, "torch", "projector", "er_entropy"))
        rec_rows = dict(stored(d, "torch", "projector", "er_reconstruction"))
        for step, (name, dt) in enumerate(dtypes.items()):
            # Reference: the values as that dtype holds them, widened exactly,
            # normalised in double (the daemon normalises in float32).
            xs = normalised(base_x.to(dt).double().numpy())
            ys = normalised(base_y.to(dt).double().numpy())
            ent, rec = compute(d, "er_entropy", xs), compute(d, "er_reconstruction", xs, ys)
            assert_close(ent_rows[step], ent, tol(ent, 10), "er_entropy " + name)
            assert_close(rec_rows[step], rec, tol(rec, 10), "er_reconstruction " + name)
        ent = compute(d, "er_entropy", normalised(base_x.float()[:, ::2].double().numpy()))
        assert_close(ent_rows[10], ent, tol(ent, 10), "non-contiguous view")
        assert 10 not in rec_rows
        assert stored(d, "torch", "projector", "loss")[:4] == [(0, 0.0), (1, 0.25), (2, 0.5),
                                                                (3, 0.75)]


@needs_torch
def wire_format_of_each_dtype():
    sink = RawSink()
    try:
        m = erwatch.Monitor("wire", tag="t", endpoint=sink.endpoint, kappa=5, rank=2,
                            world=4, all_ranks=True)
        x = torch.randn(6, 5, generator=torch.Generator().manual_seed(3))
        expect = {"f32": x.numpy().tobytes(),
                  "f16": x.half().numpy().tobytes(),
                  "bf16": x.bfloat16().view(torch.int16).numpy().tobytes(),
                  "f64": x.double().numpy().tobytes()}
        tensors = {"f32": x, "f16": x.half(), "bf16": x.bfloat16(), "f64": x.double()}
        for step, name in enumerate(expect):
            assert m.log(step, tensors[name], tensors[name], loss=1.5)
        assert m.log(9, x.numpy().astype(">f4"))  # big-endian numpy: sent little-endian
        for step, name in enumerate(expect):
            h, frames = sink.recv()
            assert h["dtype"] == name and h["step"] == step, h
            assert h["shape"] == [6, 5] and h["views"] == 2 and h["v"] == 1, h
            assert (h["run"], h["tag"], h["support"], h["kappa"]) == ("wire", "t", "sphere", 5.0)
            assert (h["rank"], h["world"], h["dropped"]) == (2, 4, 0), h
            assert h["scalars"] == {"loss": 1.5} and abs(h["time"] - time.time()) < 60, h
            assert "subsample" not in h, h
            assert frames[0] == expect[name] and frames[1] == expect[name], name
        h, frames = sink.recv()
        assert h["dtype"] == "f32" and h["views"] == 1 and len(frames) == 1, h
        assert frames[0] == x.numpy().astype("<f4").tobytes()
        for key in ("metrics", "t", "alpha", "eps", "iters", "subsample"):
            assert key not in h, h  # optional keys: only when set
        # Views in different dtypes go out widened to float32.
        assert m.log(11, x.half(), x.bfloat16())
        h, frames = sink.recv()
        assert h["dtype"] == "f32", h
        assert frames[0] == x.half().float().numpy().tobytes()
        assert frames[1] == x.bfloat16().float().numpy().tobytes()
        # copy=True (default): the caller may overwrite its array at once.
        a = np.arange(20, dtype=np.float32).reshape(4, 5)
        assert m.log(20, a)
        a[:] = -1.0
        h, frames = sink.recv()
        assert frames[0] == np.arange(20, dtype="<f4").tobytes()
        # copy=False hands the same bytes over without a copy.
        m0 = erwatch.Monitor("wire", endpoint=sink.endpoint, copy=False)
        assert m0.log(21, a)
        assert sink.recv()[1][0] == a.tobytes()
        m0.close()
        m.close()
        # The optional metric keys, when set.
        m = erwatch.Monitor("wire", endpoint=sink.endpoint, support="scores",
                            metrics=["er_entropy", "std_l2"], t=3, alpha=1.5, eps=0.1, iters=5)
        assert m.log(0, x.numpy())
        h, _ = sink.recv()
        assert h["support"] == "scores" and h["metrics"] == ["er_entropy", "std_l2"], h
        assert (h["t"], h["alpha"], h["eps"], h["iters"]) == (3.0, 1.5, 0.1, 5), h
        assert isinstance(h["t"], float) and isinstance(h["iters"], int), h
        m.close()
    finally:
        sink.close()


@needs_torch
def rank_and_world_from_torch_distributed():
    import torch.distributed as dist
    if not dist.is_available():
        return
    sink = RawSink()
    tmp = tempfile.mkdtemp(prefix="ew-dist-")
    try:
        m = erwatch.Monitor("dist", endpoint=sink.endpoint)
        assert m.log(0, np.eye(3, dtype=np.float32))
        h, _ = sink.recv()
        assert "rank" not in h and "world" not in h, h
        dist.init_process_group("gloo", init_method="file://" + os.path.join(tmp, "pg"),
                                rank=0, world_size=1)
        try:
            assert m.log(1, np.eye(3, dtype=np.float32))
            h, _ = sink.recv()
            assert (h["rank"], h["world"]) == (0, 1), h
        finally:
            dist.destroy_process_group()
        m.close()
    finally:
        sink.close()
        subprocess.run(["rm", "-rf", tmp])


# ---------------------------------------------------------------- never block

@test
def no_daemon_thousands_of_calls_are_fast_and_drops_exact():
    port = free_port()  # nobody listens here (yet)
    endpoint = "tcp://127.0.0.1:%d" % port
    x = unit_rows(np.random.default_rng(13), 64, 16)
    calls = 5000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = erwatch.Monitor("nodaemon", endpoint=endpoint, connect_timeout=0)
        worst, t0 = 0.0, time.monotonic()
        for step in range(calls):
            t = time.monotonic()
            assert m.log(step, x, x, loss=1.0) is False
            worst = max(worst, time.monotonic() - t)
        total = time.monotonic() - t0
    drops = [w for w in caught if issubclass(w.category, erwatch.DropWarning)]
    assert len(drops) == 1, [str(w.message) for w in caught]
    assert "tcp://127.0.0.1:%d" % port in str(drops[0].message)
    assert drops[0].filename == __file__, drops[0].filename  # points at the caller
    st = m.stats()
    assert st == {"sent": 0, "dropped": calls, "bytes": 0, "skipped": 0, "buffered": 0}, st
    assert total < 10.0 * SLOW and worst < 0.5 * SLOW, (total, worst)
    print("# %d log() calls without a daemon: %.1f us each, worst %.1f ms"
          % (calls, total / calls * 1e6, worst * 1e3))

    # The daemon comes up on that port: the next batch carries the count.
    d = Daemon()
    d.args[d.args.index("--zmq") + 1] = endpoint
    with d:
        assert m.wait_connected(5.0)
        assert m.log(calls, x, x)
        assert m.flush(5.0)
        d.wait_stored(1)
        wait_for(lambda: d.health()["client_dropped"] == calls, what="client_dropped")
        assert d.sql("SELECT dropped FROM batch_info WHERE run='nodaemon'") == [(calls,)]
        runs = {r["run"]: r for r in d.get("/api/runs")[1]["runs"]}
        assert runs["nodaemon"]["dropped"] == calls, runs
        d.stop()
    # It goes away: drops again, counted exactly, no second warning.
    wait_for(lambda: not m.wait_connected(0), timeout=5, what="disconnect")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(calls + 1, calls + 101):
            assert m.log(step, x) is False
    assert not caught, [str(w.message) for w in caught]
    assert m.stats()["dropped"] == calls + 100, m.stats()
    # It restarts on the same port: the client reconnects by itself.
    d = Daemon()
    d.args[d.args.index("--zmq") + 1] = endpoint
    with d:
        assert m.wait_connected(5.0)
        assert m.log(calls + 200, x)
        assert m.close(5.0)
        d.wait_stored(1)
        wait_for(lambda: d.health()["client_dropped"] == calls + 100, what="client_dropped")
    assert m.stats()["sent"] == 2


@test
def slow_daemon_drops_instead_of_blocking():
    """A daemon that stops reading (SIGSTOP): the buffer (sndhwm batches
    plus the kernel's socket buffers) fills, then every call drops."""
    import signal
    x = unit_rows(np.random.default_rng(14), 1024, 256)  # 1 MiB a view
    with Daemon() as d:
        m = erwatch.Monitor("slow", endpoint=d.zmq, sndhwm=4)
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            worst = 0.0
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for step in range(300):
                    t = time.monotonic()
                    m.log(step, x, x)
                    worst = max(worst, time.monotonic() - t)
            st = m.stats()
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        print("# daemon stopped: %d sent (buffered), %d dropped, worst call %.1f ms"
              % (st["sent"], st["dropped"], worst * 1e3))
        assert st["sent"] + st["dropped"] == 300, st
        assert st["dropped"] > 200 and worst < 0.5 * SLOW, (st, worst)
        assert len([w for w in caught if issubclass(w.category, erwatch.DropWarning)]) == 1
        m.log(1000, x, x)  # may drop too while the backlog drains; counted either way
        assert m.close(10.0)
        d.wait_stored(1)


@test
def twenty_back_to_back_batches_into_an_idle_daemon_drop_none():
    """The default buffer is bounded in bytes (64 MiB), not in batches: 20
    log() calls of a 256 x 32 two-view batch (64 KiB each) in a tight loop
    are all accepted and all stored."""
    x = unit_rows(np.random.default_rng(31), 256, 32)
    with Daemon() as d:
        with erwatch.Monitor("burst", endpoint=d.zmq) as m:
            for step in range(20):
                m.log(step, x, x, loss=float(step))
            st = m.stats()
        assert st["sent"] == 20 and st["dropped"] == 0, st
        d.wait_stored(20)
        assert d.sql("SELECT count(*) FROM batch_info WHERE run='burst'") == [(20,)]


@test
def a_full_byte_budget_drops_and_only_then():
    """A daemon that stops reading (SIGSTOP): batches are accepted until
    the bytes ZeroMQ holds reach max_buffer_mb, and each drop happens with
    the buffer too full for the batch."""
    import signal
    x = unit_rows(np.random.default_rng(32), 256, 32)
    need = 2 * x.nbytes  # plus a header of a few hundred bytes
    budget = 1 << 20
    with Daemon() as d:
        m = erwatch.Monitor("budget", endpoint=d.zmq, max_buffer_mb=1)
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            at_drop = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for step in range(2000):
                    before = m.stats()["buffered"]
                    if not m.log(step, x, x):
                        at_drop.append(before)
                    assert m.stats()["buffered"] <= budget, m.stats()
            st = m.stats()
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        print("# budget 1 MiB, daemon stopped: %d sent, %d dropped, %d bytes held"
              % (st["sent"], st["dropped"], st["buffered"]))
        assert st["dropped"] > 0 and st["sent"] + st["dropped"] == 2000, st
        # every drop: the budget could not take the batch (a few bytes of
        # slack for frames ZeroMQ finished between the two reads)
        low = [b for b in at_drop if b + need + 1024 <= budget]
        assert not low, ("dropped with room left", low[:5], budget, need)
        m.close(10.0)


@test
def scalar_only_log_stores_the_scalars():
    x = unit_rows(np.random.default_rng(33), 64, 8)
    with Daemon() as d:
        with erwatch.Monitor("scal", endpoint=d.zmq) as m:
            for step in range(10):
                assert m.log(step, loss=1.0 / (step + 1), lr=0.1), m.stats()
            assert m.log(10, x, loss=0.05)
            try:
                m.log(11)
            except ValueError as e:
                assert "at least one scalar" in str(e), e
            else:
                raise AssertionError("log(step) with nothing to send did not raise")
            try:
                m.log(11, z2=x, loss=1.0)
            except ValueError as e:
                assert "z2 given without z1" in str(e), e
            else:
                raise AssertionError("z2 without z1 did not raise")
        d.wait_stored(11)
        rows = d.sql("SELECT step, value FROM series_points WHERE run='scal' AND metric='loss' "
                     "ORDER BY step")
        assert [r[0] for r in rows] == list(range(11)), rows
        assert rows[3][1] == 0.25 and rows[10][1] == 0.05, rows
        assert d.sql("SELECT count(*) FROM series_points WHERE run='scal' AND metric='lr'") \
            == [(10,)]
        # only the embedding batch has a row in batches (a shape)
        assert d.sql("SELECT step FROM batch_info WHERE run='scal'") == [(10,)]
        assert sum(d.health()["rejected"].values()) == 0, d.health()["rejected"]


@test
def close_flushes_what_was_queued():
    rng = np.random.default_rng(15)
    x = unit_rows(rng, 256, 64)
    with Daemon() as d:
        with erwatch.Monitor("flush", endpoint=d.zmq, sndhwm=1000) as m:
            for step in range(200):
                assert m.log(step, x, x), m.stats()
        assert m.closed and m.stats()["sent"] == 200
        d.wait_stored(200)
        assert d.sql("SELECT count(*) FROM batch_info WHERE run='flush'") == [(200,)]
        try:
            m.log(201, x)
        except RuntimeError as e:
            assert "closed" in str(e)
        else:
            raise AssertionError("log() after close() did not raise")


# ---------------------------------------------------------------- input

@test
def bad_input_raises_value_error():
    m = quiet_monitor("bad", endpoint="tcp://127.0.0.1:%d" % free_port(), connect_timeout=0)
    ok = np.ones((4, 3), np.float32)
    nan = ok.copy()
    nan[2, 1] = np.nan
    inf = ok.copy()
    inf[3, 0] = -np.inf

    def raises(fn, *words):
        try:
            fn()
        except ValueError as e:
            for w in words:
                assert w in str(e), (str(e), w)
        else:
            raise AssertionError("no ValueError (expected %s)" % (words,))

    raises(lambda: m.log(0, np.ones((2, 3, 4), np.float32)), "2-D", "(2, 3, 4)")
    raises(lambda: m.log(0, np.ones(8, np.float32)), "2-D")
    raises(lambda: m.log(0, ok, np.ones((5, 3), np.float32)), "differ", "4 x 3")
    raises(lambda: m.log(0, ok, np.ones((4, 2), np.float32)), "differ")
    raises(lambda: m.log(0, nan), "z1", "NaN or Inf", "row 2, column 1")
    raises(lambda: m.log(0, ok, inf), "z2", "row 3, column 0")
    raises(lambda: m.log(0, nan.astype(np.float16)), "row 2")
    raises(lambda: m.log(0, np.ones((4, 3), np.int64)), "dtype")
    raises(lambda: m.log(-1, ok), "step")
    raises(lambda: m.log(1.5, ok), "step")
    raises(lambda: m.log(0, ok, loss="high"), "loss")
    raises(lambda: m.log(0, ok, **{"s%d" % i: 1.0 for i in range(65)}), "64")
    raises(lambda: m.log(0, np.ones((65537, 1), np.float32)), "max_rows")
    raises(lambda: m.log(0, np.ones((4, 8193), np.float32)), "8192")
    raises(lambda: erwatch.Monitor("", endpoint=m.endpoint), "run")
    raises(lambda: erwatch.Monitor("a\nb", endpoint=m.endpoint), "control")
    raises(lambda: erwatch.Monitor("x" * 129, endpoint=m.endpoint), "128")
    raises(lambda: erwatch.Monitor("r", support="simplex"), "support")
    raises(lambda: erwatch.Monitor("r", kappa=0), "kappa")
    raises(lambda: erwatch.Monitor("r", kappa=float("inf")), "kappa")
    raises(lambda: erwatch.Monitor("r", every=0), "every")
    raises(lambda: erwatch.Monitor("r", rank=3, world=2), "rank")
    raises(lambda: erwatch.Monitor("r", metrics=["er_entropy", "nope"]), "nope")
    raises(lambda: erwatch.Monitor("r", metrics=["rankme", "rankme"]), "twice")
    raises(lambda: erwatch.Monitor("r", metrics=[]), "at least one")
    raises(lambda: erwatch.Monitor("r", t=0), "t must")
    raises(lambda: erwatch.Monitor("r", alpha=17), "alpha")
    raises(lambda: erwatch.Monitor("r", iters=0), "iters")
    raises(lambda: erwatch.Monitor("r", iters=2.5), "iters")
    if torch is not None:
        t = torch.ones(4, 3, dtype=torch.bfloat16)
        t[1, 2] = float("nan")
        raises(lambda: m.log(0, t), "row 1, column 2")
        raises(lambda: m.log(0, torch.ones(2, 2, 2)), "2-D")
        raises(lambda: m.log(0, torch.ones(4, 3, dtype=torch.int32)), "dtype")
    # The cheap checks hold on steps that `every` skips too; NaN needs a scan
    # and is looked for only when a batch is sent.
    sparse = quiet_monitor("bad", endpoint=m.endpoint, every=10, connect_timeout=0)
    raises(lambda: sparse.log(3, np.ones((2, 3, 4), np.float32)), "2-D")
    raises(lambda: sparse.log(3, np.ones((4, 3), np.int32)), "dtype")
    raises(lambda: sparse.log(3, ok, ok[:2]), "differ")
    assert sparse.log(3, nan) is False and sparse.stats()["skipped"] == 1
    raises(lambda: sparse.log(10, nan), "NaN")
    sparse.close()
    # Nothing was sent or counted as dropped for any of these.
    assert m.stats() == {"sent": 0, "dropped": 0, "bytes": 0, "skipped": 0, "buffered": 0}, \
        m.stats()
    # A NaN scalar (an inf loss under mixed precision) is left out, not fatal.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.log(0, ok, loss=float("nan"))
        m.log(1, ok, loss=float("inf"))
    msgs = [str(w.message) for w in caught if not issubclass(w.category, erwatch.DropWarning)]
    assert len(msgs) == 1 and "loss" in msgs[0], msgs
    assert m.stats()["dropped"] == 2
    m.close()


@test
def every_and_max_rows():
    rng = np.random.default_rng(16)
    x = unit_rows(rng, 200, 16)
    with Daemon() as d:
        with erwatch.Monitor("every", endpoint=d.zmq, every=3) as m:
            sent = [m.log(step, x, x) for step in range(10)]
        assert sent == [s % 3 == 0 for s in range(10)], sent
        assert m.stats()["sent"] == 4 and m.stats()["skipped"] == 6, m.stats()
        with erwatch.Monitor("sub", endpoint=d.zmq, max_rows=50, seed=1) as m:
            assert m.log(0, x, x)
            assert m.log(1, x[:30], x[:30])  # fewer rows than max_rows: all sent
        d.wait_stored(6)
        assert [s for s, _ in stored(d, "every", "projector", "er_entropy")] == [0, 3, 6, 9]
        assert d.sql("SELECT step, n FROM batch_info WHERE run='sub' ORDER BY step") == \
            [(0, 50), (1, 30)]

    # What goes on the wire: the same random rows of both views, the
    # original N in "subsample", different rows at different steps, and the
    # same rows again for the same seed.
    sink = RawSink()
    try:
        y = 2.0 * x
        got = []
        for _ in range(2):
            with erwatch.Monitor("sub", endpoint=sink.endpoint, max_rows=50, seed=7) as m:
                m.log(0, x, y)
                m.log(1, x, y)
                m.log(2, x[:50], y[:50])
            got.append([sink.recv() for _ in range(3)])
        for h, frames in got[0][:2]:
            assert h["subsample"] == 200 and h["shape"] == [50, 16], h
            a = np.frombuffer(frames[0], "<f4").reshape(50, 16)
            b = np.frombuffer(frames[1], "<f4").reshape(50, 16)
            assert np.array_equal(b, 2.0 * a)  # row i of y is the view of row i of x
            rows = [int(np.flatnonzero((x == r).all(axis=1))[0]) for r in a]
            assert len(set(rows)) == 50 and rows == sorted(rows), rows
        assert got[0][0][1][0] != got[0][1][1][0]
        h, _ = got[0][2]
        assert "subsample" not in h and h["shape"] == [50, 16], h
        assert [f for _, f in got[0]] == [f for _, f in got[1]]  # seeded
    finally:
        sink.close()

    if torch is not None:  # rows are gathered on the tensor's side too
        sink = RawSink()
        try:
            with erwatch.Monitor("sub", endpoint=sink.endpoint, max_rows=10, seed=3) as m:
                m.log(0, torch.from_numpy(x).bfloat16(), torch.from_numpy(y).bfloat16())
            h, frames = sink.recv()
            assert h["subsample"] == 200 and h["shape"] == [10, 16] and h["dtype"] == "bf16"
            a = np.frombuffer(frames[0], "<i2").reshape(10, 16)
            full = torch.from_numpy(x).bfloat16().view(torch.int16).numpy()
            assert all((full == r).all(axis=1).any() for r in a)
        finally:
            sink.close()


# ---------------------------------------------------------------- packaging

@test
def works_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"  # `import torch` would fail
            "import numpy as np, erwatch\n"
            "m = erwatch.Monitor('nt', endpoint='tcp://127.0.0.1:%d', connect_timeout=0)\n"
            "import warnings; warnings.simplefilter('ignore')\n"
            "assert m.log(0, np.eye(4, dtype=np.float32)) is False\n"
            "assert m.stats()['dropped'] == 1\n"
            "m.close(); print('fine')\n" % free_port())
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env=env)
    assert p.returncode == 0 and "fine" in p.stdout, (p.stdout, p.stderr)


@test
def pip_installs_offline():
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode != 0:
        print("# python3-pip is not installed; skipping the install check")
        return
    with tempfile.TemporaryDirectory(prefix="ew-pip-") as tmp:
        # pip builds in place: work on a copy so the checkout gets no build/ or egg-info.
        src = os.path.join(tmp, "src")
        subprocess.run(["cp", "-r", os.path.join(ROOT, "client", "python"), src], check=True)
        target = os.path.join(tmp, "site")
        p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                            "--no-build-isolation", "--no-deps", "--quiet", "--target", target,
                            src], capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, (p.stdout, p.stderr)
        p = subprocess.run([sys.executable, "-c",
                            "import erwatch; print(erwatch.__file__, erwatch.__version__)"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=target), cwd=tmp)
        assert p.returncode == 0 and p.stdout.startswith(target), (p.stdout, p.stderr)


if __name__ == "__main__":
    run_all()
