"""Runs have an identity (README, "Runs, launches and resume"), with the real
daemon: two launches under one run name are both kept and never mixed; the
client learns the name its launch got; a restart of the daemon keeps the
naming; resume continues the latest run and rewinds it (points, batches,
spectra and the series' range); a resume of a run that does not exist, an
oversized or non-JSON config are refused with a clear message and change
nothing; config and notes reach /api/run and SQL; `erwatch push --launch`
and `--resume`."""

import json
import os
import sys
import warnings

import msgpack
import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOT, Daemon, run_all, run_cli, save_npy, test, unit_rows, wait_for  # noqa

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import erwatch  # noqa: E402

RNG = np.random.default_rng(7)
Z = unit_rows(RNG, 32, 8)


def series(d, run, metric="loss", tag="projector"):
    st, body = d.get("/api/series", run=run, tag=tag, metric=metric)
    assert st == 200, (st, body)
    return list(zip(body["step"], body["value"]))


def log_steps(d, run, steps, loss, **kw):
    mon = erwatch.Monitor(run=run, endpoint=d.zmq, http=d.http, sndhwm=256, **kw)
    for s in steps:
        assert mon.log(s, Z, loss=loss(s)), "batch %d dropped" % s
    assert mon.close()
    return mon


@test
def two_launches_under_one_name_are_kept_apart():
    with Daemon() as d:
        first = log_steps(d, "demo", range(10), lambda s: float(s), launch="launch-a")
        d.wait_stored(10)
        second = log_steps(d, "demo", range(5), lambda s: 100.0 + s, launch="launch-b")
        d.wait_stored(15)
        assert series(d, "demo") == [(s, float(s)) for s in range(10)]
        assert series(d, "demo.2") == [(s, 100.0 + s) for s in range(5)]
        assert first.wait_run_name(5) == "demo", first.run_name
        assert second.wait_run_name(5) == "demo.2", second.run_name
        st, runs = d.get("/api/runs")
        got = sorted((r["run"], r["base"], r["launch"]) for r in runs["runs"])
        assert got == [("demo", "demo", "launch-a"), ("demo.2", "demo", "launch-b")], got
        st, one = d.get("/api/run", launch="launch-b", name="demo")
        assert st == 200 and one["run"] == "demo.2", (st, one)
        assert [(x["launch"], x["resumed"], x["first_step"]) for x in one["launches"]] == \
            [("launch-b", False, 0)], one
        st, none = d.get("/api/run", launch="launch-z", name="demo")
        assert st == 404 and "launch-z" in none["error"], (st, none)
        # the Monitors of one process (here: no launch given) share a launch
        a = erwatch.Monitor(run="multi", tag="projector", endpoint=d.zmq, http=d.http)
        b = erwatch.Monitor(run="multi", tag="backbone", endpoint=d.zmq, http=d.http)
        assert a.launch == b.launch and len(a.launch) == 32, (a.launch, b.launch)
        assert a.log(0, Z) and b.log(0, Z)
        a.close()
        b.close()
        d.wait_stored(17)
        assert d.sql("SELECT count(*) FROM runs WHERE base = 'multi'") == [(1,)]
        d.stop()
        # after a restart a known launch goes on in its run, a new one is .3
        d2 = Daemon(db=d.db)
        with d2:
            log_steps(d2, "demo", [5], lambda s: 105.0, launch="launch-b")
            third = log_steps(d2, "demo", [0], lambda s: 7.0, launch="launch-c")
            d2.wait_stored(2)
            assert series(d2, "demo.2")[-1] == (5, 105.0)
            assert third.wait_run_name(5) == "demo.3"
            assert series(d2, "demo") == [(s, float(s)) for s in range(10)]


@test
def resume_rewinds_the_latest_run():
    with Daemon() as d:
        log_steps(d, "job", range(20), lambda s: 1.0, launch="a")
        d.wait_stored(20)
        assert d.sql("SELECT count(*) FROM spectra") == [(20,)]
        mon = log_steps(d, "job", range(10, 15), lambda s: 2.0, launch="b", resume=True)
        d.wait_stored(25)
        assert mon.wait_run_name(5) == "job"
        want = [(s, 1.0) for s in range(10)] + [(s, 2.0) for s in range(10, 15)]
        assert series(d, "job") == want, series(d, "job")
        assert d.sql("SELECT count(*), max(step) FROM spectra") == [(15, 14)]
        assert d.sql("SELECT count(*), max(step) FROM batches") == [(15, 14)]
        assert d.sql("SELECT last_step, vmax, vmin FROM series WHERE metric = 'loss'") == \
            [(14, 2.0, 1.0)]
        st, run = d.get("/api/run", run="job")
        assert [(x["launch"], x["resumed"], x["first_step"]) for x in run["launches"]] == \
            [("a", False, 0), ("b", True, 10)], run
        assert "launch b resumes run \"job\" at step 10" in d.log(), d.log()
        # a new launch without resume gets job.2; resume then continues job.2
        log_steps(d, "job", range(3), lambda s: 5.0, launch="c")
        log_steps(d, "job", [1], lambda s: 6.0, launch="d", resume=True)
        d.wait_stored(29)
        assert series(d, "job.2") == [(0, 5.0), (1, 6.0)]
        assert series(d, "job") == want


@test
def resume_of_a_run_that_does_not_exist_changes_nothing():
    with Daemon() as d:
        log_steps(d, "kept", range(3), lambda s: 1.0, launch="k")
        d.wait_stored(3)
        try:
            erwatch.Monitor(run="ghost", endpoint=d.zmq, http=d.http, resume=True)
            raise AssertionError("resume of a missing run was accepted")
        except ValueError as e:
            assert "no run named 'ghost' to continue" in str(e), e
        # a client that does not check first: the daemon refuses and counts
        ctx = zmq.Context()
        s = ctx.socket(zmq.PUSH)
        s.connect(d.zmq)
        hdr = {"v": 1, "run": "ghost", "tag": "p", "step": 4, "dtype": "f32", "shape": [32, 8],
               "launch": "g", "resume": True}
        for step in (4, 5):
            hdr["step"] = step
            s.send_multipart([msgpack.packb(hdr), Z.tobytes()])
        wait_for(lambda: d.health()["rejected"].get("resume_unknown") == 2,
                 what="two refused resumes")
        s.close(linger=1000)
        ctx.term()
        assert d.sql("SELECT name FROM runs") == [("kept",)]
        assert d.sql("SELECT count(*) FROM launches") == [(1,)]
        log = d.log()
        assert log.count('launch g asked to resume run "ghost", which does not exist') == 1, log


@test
def config_and_notes_reach_the_api_and_sql():
    with Daemon() as d:
        cfg = {"lr": 0.05, "batch_size": 256, "optimizer": {"name": "sgd", "momentum": 0.9},
               "augment": ["crop", "flip"], "note": "d\u00e9j\u00e0 vu"}
        mon = log_steps(d, "cfg", range(3), lambda s: 1.0, config=cfg,
                        notes="baseline\nwith warm-up")
        d.wait_stored(3)
        st, run = d.get("/api/run", run="cfg")
        assert st == 200 and run["config"] == cfg and run["notes"] == "baseline\nwith warm-up", run
        assert run["launch"] == mon.launch
        assert d.sql("SELECT json_extract(config, '$.optimizer.momentum') FROM runs") == [(0.9,)]
        # only the first batch carries it: the header of later ones is small
        assert mon.stats()["bytes"] < 3 * (32 * 8 * 4 + 400) + len(json.dumps(cfg)) + 100


@test
def bad_config_is_refused_and_changes_nothing():
    with Daemon() as d:
        cases = [({"x": float("nan")}, "cannot be stored as JSON"),
                 ({"f": object()}, "cannot be stored as JSON"),
                 ("lr=0.1", "must be a dict"),
                 ({"big": "x" * 40000}, "the limit is 32768")]
        for cfg, want in cases:
            try:
                erwatch.Monitor(run="bad", endpoint=d.zmq, http=d.http, config=cfg)
                raise AssertionError("config %r accepted" % (cfg,))
            except ValueError as e:
                assert want in str(e), (cfg, str(e))
        try:
            erwatch.Monitor(run="bad", endpoint=d.zmq, http=d.http, notes="a\x00b")
            raise AssertionError("notes with NUL accepted")
        except ValueError as e:
            assert "control character" in str(e), e
        # straight to the daemon: counted, logged, nothing stored
        ctx = zmq.Context()
        s = ctx.socket(zmq.PUSH)
        s.connect(d.zmq)
        for cfg in ("{lr: 0.1}", "[1, 2]", '{"k": "' + "a" * 33000 + '"}'):
            hdr = {"v": 1, "run": "bad", "tag": "p", "step": 0, "dtype": "f32",
                   "shape": [32, 8], "launch": "x", "config": cfg}
            s.send_multipart([msgpack.packb(hdr), Z.tobytes()])
        wait_for(lambda: d.health()["rejected"].get("bad_config") == 3, what="3 rejections")
        s.close(linger=1000)
        ctx.term()
        assert d.sql("SELECT count(*) FROM runs") == [(0,)]
        assert "config is not JSON" in d.log(), d.log()


@test
def cli_push_launch_and_resume():
    with Daemon() as d:
        x = save_npy(os.path.join(d.dir, "x.npy"), Z)
        for step in range(4):  # step by step without --launch: one run, as always
            run_cli("push", "--endpoint", d.zmq, "--run", "cli", "--tag", "p", "--step", step,
                    "--scalar", "loss=1", x)
        d.wait_stored(4)
        for step in range(2):  # one launch over several pushes
            p = run_cli("push", "--endpoint", d.zmq, "--http", d.http, "--run", "cli", "--tag",
                        "p", "--step", step, "--launch", "L2", "--scalar", "loss=2", "-v", x)
            assert "launch L2: stored as run cli.2" in p.stdout, p.stdout
        d.wait_stored(6)
        assert series(d, "cli", tag="p") == [(s, 1.0) for s in range(4)]
        assert series(d, "cli.2", tag="p") == [(0, 2.0), (1, 2.0)]
        p = run_cli("push", "--endpoint", d.zmq, "--http", d.http, "--run", "cli", "--tag", "p",
                    "--step", 2, "--resume", "--scalar", "loss=3", x)
        d.wait_stored(7)
        # the latest run of the name is cli.2: rewound to step 2
        assert series(d, "cli.2", tag="p") == [(0, 2.0), (1, 2.0), (2, 3.0)]
        p = run_cli("push", "--endpoint", d.zmq, "--http", d.http, "--run", "nope", "--tag", "p",
                    "--step", 0, "--resume", x, check=False)
        assert p.returncode != 0 and "no run named 'nope'" in p.stderr, (p.returncode, p.stderr)
        p = run_cli("push", "--endpoint", d.zmq, "--run", "cli", "--tag", "p", "--step", 0,
                    "--launch", "has space", x, check=False)
        assert p.returncode != 0 and "--launch" in p.stderr, p.stderr
        assert d.sql("SELECT count(*) FROM runs") == [(2,)]


@test
def rm_and_mv_keep_launches_consistent():
    with Daemon() as d:
        log_steps(d, "lc", range(3), lambda s: 1.0, launch="one")
        log_steps(d, "lc", range(3), lambda s: 2.0, launch="two")
        d.wait_stored(6)
        run_cli("rm", "--http", d.http, "lc")
        wait_for(lambda: d.get("/api/run", run="lc")[0] == 404, what="lc deleted")
        assert d.sql("SELECT launch FROM launches") == [("two",)]
        # the deleted run's launch sends again: a run of that name afresh
        log_steps(d, "lc", [7], lambda s: 3.0, launch="one")
        d.wait_stored(7)
        assert series(d, "lc") == [(7, 3.0)]
        # a renamed run keeps its launch, and a resume of the new name finds it
        run_cli("mv", "--http", d.http, "lc.2", "best")
        wait_for(lambda: d.get("/api/run", run="best")[0] == 200, what="lc.2 renamed")
        log_steps(d, "lc", [3], lambda s: 2.5, launch="two")
        log_steps(d, "best", [1], lambda s: 9.0, launch="three", resume=True)
        d.wait_stored(9)
        assert series(d, "best") == [(0, 2.0), (1, 9.0)], series(d, "best")
        assert d.sql("SELECT count(*) FROM runs WHERE name LIKE 'lc%'") == [(1,)]


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("error", erwatch.DropWarning)
        run_all()
