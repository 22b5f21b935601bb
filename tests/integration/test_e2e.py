"""End to end: a batch pushed by the CLI or the C library is computed,
stored in SQLite and served over HTTP with the same value `erwatch compute`
gives offline."""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import (CClient, Daemon, assert_close, run_all, run_cli, save_npy, test,  # noqa: E402
                     unit_rows, wait_for)

# The daemon runs the float32 path after renormalising rows in float32; the
# offline reference is double on the file as given. 10x the float32
# tolerance of tests/vectors/README.md (2e-7 * (|H| + kappa)) covers both.
def tol(value, kappa):
    return 10 * 2e-7 * (abs(value) + kappa) + 1e-6


def compute(metric, *files, **opts):
    args = ["compute", metric] + list(files)
    for k, v in opts.items():
        args += ["--" + k, v]
    out = run_cli(*args).stdout.strip()
    return float(out)


def series(d, run, tag, metric, **kw):
    st, body = d.get("/api/series", run=run, tag=tag, metric=metric, **kw)
    assert st == 200, (st, body)
    return body


@test
def cli_push_value_matches_compute_over_http_and_sql():
    rng = np.random.default_rng(1)
    with Daemon() as d:
        tmp = d.dir
        x = save_npy(os.path.join(tmp, "x.npy"), unit_rows(rng, 256, 128))
        y = save_npy(os.path.join(tmp, "y.npy"), unit_rows(rng, 256, 128))
        for step in range(3):
            run_cli("push", "--endpoint", d.zmq, "--run", "cli-run", "--tag", "projector",
                    "--step", step, "--kappa", 10, "--scalar", "loss=%r" % (1.0 / (step + 1)),
                    x, y)
        d.wait_stored(3)
        ent = compute("er_entropy", x, kappa=10)
        rec = compute("er_reconstruction", x, y, kappa=10)
        s = series(d, "cli-run", "projector", "er_entropy")
        assert s["step"] == [0, 1, 2], s
        for v in s["value"]:
            assert_close(v, ent, tol(ent, 10), "http er_entropy")
        s = series(d, "cli-run", "projector", "er_reconstruction")
        assert_close(s["value"][0], rec, tol(rec, 10), "http er_reconstruction")
        s = series(d, "cli-run", "projector", "loss")
        assert s["value"] == [1.0, 0.5, 1.0 / 3.0], s
        rows = d.sql("SELECT step, value FROM series_points WHERE run='cli-run' AND "
                     "tag='projector' AND metric='er_entropy' ORDER BY step")
        assert [r[0] for r in rows] == [0, 1, 2], rows
        for _, v in rows:
            assert_close(v, ent, tol(ent, 10), "sql er_entropy")


@test
def c_library_push_sphere_and_discrete():
    rng = np.random.default_rng(2)
    with Daemon() as d:
        c = CClient(d.zmq)
        try:
            assert c.wait_connected(5000) == 0
            x = unit_rows(rng, 64, 16)
            y = unit_rows(rng, 64, 16)
            assert c.push("lib", "proj", 7, x, y, kappa=100.0) == 0
            p = rng.random((32, 8)).astype(np.float64)
            p /= p.sum(axis=1, keepdims=True)
            q = rng.random((32, 8)).astype(np.float64)
            q /= q.sum(axis=1, keepdims=True)
            assert c.push("lib", "protos", 7, p, q, support=1) == 0
            assert c.flush(5000) == 0
            st = c.stats()
            assert st.sent == 2 and st.dropped == 0, (st.sent, st.dropped)
        finally:
            c.close()
        d.wait_stored(2)
        xf, yf = save_npy(os.path.join(d.dir, "x.npy"), x), save_npy(os.path.join(d.dir, "y.npy"), y)
        ent = compute("er_entropy", xf, kappa=100)
        assert_close(series(d, "lib", "proj", "er_entropy")["value"][0], ent, tol(ent, 100))
        rec = compute("er_reconstruction", xf, yf, kappa=100)
        assert_close(series(d, "lib", "proj", "er_reconstruction")["value"][0], rec, tol(rec, 100))
        # discrete: f64 input is converted to f32 by the daemon; compare with
        # the reference on the same f32 values.
        pf = save_npy(os.path.join(d.dir, "p.npy"), p.astype(np.float32))
        qf = save_npy(os.path.join(d.dir, "q.npy"), q.astype(np.float32))
        ent = compute("er_entropy", pf, support="discrete")
        assert_close(series(d, "lib", "protos", "er_entropy")["value"][0], ent, 2e-6)
        rec = compute("er_reconstruction", pf, qf, support="discrete")
        assert_close(series(d, "lib", "protos", "er_reconstruction")["value"][0], rec, 2e-6)
        rows = d.sql("SELECT n, d, views, support, kappa FROM batches ORDER BY tag")
        assert rows == [(64, 16, 2, "sphere", 100.0), (32, 8, 2, "discrete", 10.0)], rows


@test
def collapsed_batch_has_low_entropy_undefined_is_null():
    rng = np.random.default_rng(3)
    with Daemon() as d:
        c = CClient(d.zmq)
        try:
            c.wait_connected()
            healthy = unit_rows(rng, 128, 32)
            collapsed = np.tile(unit_rows(rng, 1, 32), (128, 1))
            assert c.push("r", "t", 0, healthy) == 0
            assert c.push("r", "t", 1, collapsed) == 0
            # An all-zero batch: rows stay zero after normalisation.
            assert c.push("r", "t", 2, np.zeros((4, 32), np.float32)) == 0
            c.flush()
        finally:
            c.close()
        d.wait_stored(3)
        v = series(d, "r", "t", "er_entropy")["value"]
        assert v[0] > v[1] + 3, v  # collapse is several nats lower
        h = d.health()
        assert h["batches"]["accepted"] == 3


@test
def duplicate_step_replaces_point():
    rng = np.random.default_rng(4)
    with Daemon() as d:
        c = CClient(d.zmq)
        try:
            c.wait_connected()
            for val in (1.0, 2.0, 3.0):
                assert c.push("dup", "t", 5, unit_rows(rng, 8, 4), scalars={"loss": val}) == 0
            c.flush()
        finally:
            c.close()
        d.wait_stored(3)
        rows = d.sql("SELECT step, value FROM series_points WHERE run='dup' AND metric='loss'")
        assert rows == [(5, 3.0)], rows


@test
def runs_listing_and_downsampling():
    rng = np.random.default_rng(5)
    with Daemon() as d:
        c = CClient(d.zmq, hwm=1000)
        try:
            c.wait_connected()
            x = unit_rows(rng, 8, 4)
            for step in range(500):
                loss = 10.0 if step == 333 else 1.0
                while c.push("many", "t", step, x, scalars={"loss": loss}) != 0:
                    pass  # hwm reached: the daemon catches up
            c.flush()
        finally:
            c.close()
        d.wait_stored(500)
        st, runs = d.get("/api/runs")
        assert st == 200
        r = [r for r in runs["runs"] if r["run"] == "many"][0]
        assert r["last_step"] == 499, r
        s = series(d, "many", "t", "loss", points=50)
        assert s["bucketed"] is True and len(s["step"]) <= 50, len(s["step"])
        assert max(s["max"]) == 10.0  # the spike survives bucketing
        s = series(d, "many", "t", "loss", after=100, before=110)
        assert s["step"] == list(range(101, 110)), s["step"]
        out = run_cli("query", "--http", d.http, "series", "--run", "many", "--tag", "t",
                      "--metric", "loss", "--after", 495, "--csv").stdout
        assert out.splitlines()[0].startswith("step,value"), out
        assert len(out.strip().splitlines()) == 5, out
        out = run_cli("query", "--http", d.http, "runs").stdout
        assert "many" in out and " 499 " in out, out  # one row per run


@test
def every_default_metric_matches_compute_and_spectrum_matches_svd():
    rng = np.random.default_rng(8)
    n, dim = 128, 32
    # raw rows, not unit: the daemon normalises a copy for the sphere metrics
    # and gives rankme, std_l2 and the spectrum the rows as sent
    x = (rng.standard_normal((n, dim)) * np.linspace(3, 0.1, dim)).astype(np.float32)
    y = (x + 0.3 * rng.standard_normal((n, dim))).astype(np.float32)
    with Daemon() as d:
        c = CClient(d.zmq)
        try:
            c.wait_connected()
            assert c.push("all", "proj", 3, x, y) == 0
            c.flush()
        finally:
            c.close()
        d.wait_stored(1)
        xd, yd = x.astype(np.float64), y.astype(np.float64)
        ux = xd / np.linalg.norm(xd, axis=1, keepdims=True)
        uy = yd / np.linalg.norm(yd, axis=1, keepdims=True)
        files = {}
        for name, arr in (("x", x), ("y", y), ("ux", ux), ("uy", uy)):
            files[name] = save_npy(os.path.join(d.dir, name + ".npy"), arr)
        want = {
            "er_entropy": (compute("er_entropy", files["ux"], kappa=10), 2e-6 * 20),
            "er_reconstruction": (compute("er_reconstruction", files["ux"], files["uy"],
                                          kappa=10), 2e-6 * 20),
            "align": (compute("align", files["ux"], files["uy"]), 2e-6),
            "uniform": (compute("uniform", files["ux"]), 2e-6),
            "w2": (compute("w2", files["ux"]), 6e-6),
            "rankme": (compute("rankme", files["x"]), 2.4e-5 * 32),
            "std_l2": (compute("std_l2", files["x"]), 2e-6),
        }
        got = dict(d.sql("SELECT metric, value FROM series_points WHERE run='all'"))
        assert set(got) == set(want), (sorted(got), sorted(want))
        for m, (exp, tol_) in want.items():
            assert_close(got[m], exp, tol_, m)
        # the spectrum: raw rows' singular values normalised to sum 1
        (k, blob), = d.sql("SELECT k, vals FROM spectrum_info WHERE run='all'")
        sv = np.linalg.svd(xd, compute_uv=False)
        assert k == dim
        assert np.allclose(np.frombuffer(blob, "<f4"), sv / sv.sum(), atol=1e-5)


@test
def header_metric_list_and_parameters():
    rng = np.random.default_rng(9)
    x = unit_rows(rng, 64, 8)
    with Daemon() as d:
        import msgpack
        import zmq
        s = zmq.Context.instance().socket(zmq.PUSH)
        s.connect(d.zmq)
        hdr = {"v": 1, "run": "sel", "tag": "t", "step": 1, "dtype": "f32", "shape": [64, 8],
               "metrics": ["uniform", "std_l2"], "t": 0.5}
        s.send_multipart([msgpack.packb(hdr), x.tobytes()])
        s.close(linger=2000)
        d.wait_stored(1)
        got = dict(d.sql("SELECT metric, value FROM series_points WHERE run='sel'"))
        assert set(got) == {"uniform", "std_l2"}, got
        xf = save_npy(os.path.join(d.dir, "x.npy"), x)
        assert_close(got["uniform"], compute("uniform", xf, t=0.5), 2e-6)


@test
def api_errors():
    with Daemon() as d:
        st, body = d.get("/api/series", run="nope", tag="t", metric="m")
        assert st == 404 and "error" in body, (st, body)
        st, body = d.get("/api/series", run="r", tag="t")
        assert st == 400 and "metric" in body["error"], (st, body)
        st, body = d.get("/api/series", run="r", tag="t", metric="m", points="abc")
        assert st == 400 and "points" in body["error"], (st, body)
        st, body = d.get("/api/nothing")
        assert st == 404, st


@test
def client_reported_drops_reach_health():
    with Daemon() as d:
        c = CClient(d.zmq)
        try:
            c.wait_connected()
            # Fake a client that dropped before: raw header with dropped=17.
            import msgpack
            import zmq
            ctx = zmq.Context.instance()
            s = ctx.socket(zmq.PUSH)
            s.connect(d.zmq)
            hdr = {"v": 1, "run": "dropper", "tag": "t", "step": 1, "dtype": "f32",
                   "shape": [2, 2], "dropped": 17}
            s.send_multipart([msgpack.packb(hdr), np.eye(2, dtype=np.float32).tobytes()])
            s.close(linger=2000)
        finally:
            c.close()
        d.wait_stored(1)
        wait_for(lambda: d.health()["client_dropped"] == 17, what="client_dropped=17")


@test
def sigterm_exits_zero_and_reports():
    with Daemon() as d:
        assert d.stop() == 0
        assert "stopped:" in d.log()


if __name__ == "__main__":
    run_all()
