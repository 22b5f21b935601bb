"""The `erwatch` CLI against a real daemon: `query runs` (one row per run,
readable times), `export` (one wide table per run, CSV and JSON), `push`
refusing NaN/Inf locally with the Python client's message, and a 404 for an
unknown series that says what the run has."""

import csv
import io
import json
import os
import socket
import sys
import time

import numpy as np

os.environ["TZ"] = "UTC"  # query runs prints local times: make them known
time.tzset()

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ROOT, CClient, Daemon, run_all, run_cli, save_npy, test,  # noqa: E402
                     unit_rows)

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import erwatch  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(d):
    """Run "ex": tag proj, steps 0..4 with embeddings and a loss, steps 5
    and 6 with the loss alone; run "two": tags a and b. Returns the number
    of batches stored."""
    rng = np.random.default_rng(3)
    c = CClient(d.zmq)
    try:
        assert c.wait_connected() == 0
        for step in range(5):
            assert c.push("ex", "proj", step, unit_rows(rng, 32, 8),
                          scalars={"loss": 1.0 / (step + 1)}) == 0
        for tag in ("a", "b"):
            assert c.push("two", tag, 1, unit_rows(rng, 16, 4)) == 0
        assert c.flush() == 0
    finally:
        c.close()
    with erwatch.Monitor("ex", tag="proj", endpoint=d.zmq) as m:
        assert m.log(5, loss=0.125) and m.log(6, loss=0.0625)
    d.wait_stored(9)
    return 9


def api_runs(d):
    st, runs = d.get("/api/runs")
    assert st == 200, runs
    return {r["run"]: r for r in runs["runs"]}


@test
def query_runs_prints_one_row_per_run_with_readable_times():
    with Daemon() as d:
        fill(d)
        runs = api_runs(d)
        out = run_cli("query", "--http", d.http, "runs").stdout
        lines = out.splitlines()
        assert lines[0].split() == ["run", "tags", "metrics", "last_step", "first_seen",
                                    "last_seen", "dropped"], lines[0]
        rows = lines[2:]
        assert len(rows) == 2, out  # one per run, not one per series
        for name in ("ex", "two"):
            row = [r for r in rows if r.split()[0] == name]
            assert len(row) == 1, (name, out)
            last = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(runs[name]["last_seen"]))
            assert last in row[0], (last, row[0])
        ex = [r for r in rows if r.startswith("ex ")][0].split()
        assert ex[1] == "proj" and ex[3] == "6", ex
        two = [r for r in rows if r.startswith("two ")][0].split()
        assert two[1] == "a,b", two

        got = list(csv.DictReader(io.StringIO(
            run_cli("query", "--http", d.http, "runs", "--csv").stdout)))
        assert len(got) == 2, got
        for r in got:
            api = runs[r["run"]]
            assert float(r["last_seen"]) == api["last_seen"], (r, api)
            assert float(r["first_seen"]) == api["first_seen"], (r, api)
            assert int(r["last_step"]) == api["last_step"], (r, api)


@test
def export_gives_one_row_per_step_and_one_column_per_series():
    with Daemon() as d:
        fill(d)
        st, s = d.get("/api/series", run="ex", tag="proj", metric="er_entropy")
        assert st == 200, s
        ent = dict(zip(s["step"], s["value"]))
        st, s = d.get("/api/series", run="ex", tag="proj", metric="loss")
        loss = dict(zip(s["step"], s["value"]))

        out = run_cli("export", "ex", "--http", d.http).stdout
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [int(r["step"]) for r in rows] == list(range(7)), out
        cols = list(rows[0].keys())
        assert cols[:2] == ["step", "time"] and "loss" in cols and "er_entropy" in cols, cols
        for r in rows:
            step = int(r["step"])
            assert float(r["loss"]) == loss[step], (r, loss)
            assert float(r["time"]) > 1e9, r
            if step < 5:
                assert float(r["er_entropy"]) == ent[step], (r, ent)
            else:  # scalar-only steps: no metric there
                assert r["er_entropy"] == "", r

        js = json.loads(run_cli("export", "ex", "--http", d.http, "--format", "json",
                                "--tag", "proj").stdout)
        assert [r["step"] for r in js] == list(range(7)), js
        assert js[6]["loss"] == 0.0625 and js[6]["er_entropy"] is None, js[6]
        assert js[0]["er_entropy"] == ent[0] and set(js[0]) == set(cols), (js[0], cols)

        # several tags: the columns say which
        two = list(csv.DictReader(io.StringIO(run_cli("export", "two", "--http",
                                                      d.http).stdout)))
        assert len(two) == 1 and "a/er_entropy" in two[0] and "b/er_entropy" in two[0], two

        p = run_cli("export", "ex", "--http", d.http, "--tag", "nope", check=False)
        assert p.returncode == 1 and "run 'ex' has no tag 'nope' (its tags: proj)" in p.stderr, \
            p.stderr
        p = run_cli("export", "nope", "--http", d.http, check=False)
        assert p.returncode == 1 and "no run 'nope'" in p.stderr, p.stderr
        p = run_cli("export", "ex", "--format", "xml", check=False)
        assert p.returncode == 2 and "--format must be csv or json" in p.stderr, p.stderr


@test
def push_refuses_nan_locally_with_the_python_message():
    x = np.ones((4, 3), np.float32)
    x[2, 1] = np.nan
    port = free_port()  # no daemon: the check comes before any sending
    with Daemon() as d:
        path = save_npy(os.path.join(d.dir, "x.npy"), x)
        p = run_cli("push", "--endpoint", "tcp://127.0.0.1:%d" % port, "--run", "r",
                    "--tag", "t", "--step", 1, path, check=False)
        m = erwatch.Monitor("r", endpoint="tcp://127.0.0.1:%d" % port, connect_timeout=0)
        try:
            m.log(1, x)
        except ValueError as e:
            py = str(e)
        else:
            raise AssertionError("the Python client took NaN")
        m.close(0)
    assert p.returncode == 2, (p.returncode, p.stderr)
    cli = p.stderr.strip()
    assert cli.startswith("erwatch push: X ") and py.startswith("erwatch: z1 "), (cli, py)
    assert cli[len("erwatch push: X "):] == py[len("erwatch: z1 "):], (cli, py)
    assert "row 2, column 1" in cli, cli


@test
def unknown_series_404_says_what_the_run_has():
    with Daemon() as d:
        fill(d)
        st, e = d.get("/api/series", run="ex", tag="proj", metric="er_entropyy")
        assert st == 404, (st, e)
        msg = e["error"]
        assert "run 'ex' tag 'proj' has: " in msg and "er_entropy" in msg and "loss" in msg, msg
        st, e = d.get("/api/series", run="two", tag="c", metric="loss")
        assert st == 404 and "run 'two' has no tag 'c' (its tags: a, b)" in e["error"], e
        st, e = d.get("/api/series", run="nobody", tag="c", metric="loss")
        assert st == 404 and "no run 'nobody'" in e["error"], e
        p = run_cli("query", "--http", d.http, "series", "--run", "ex", "--tag", "proj",
                    "--metric", "los", check=False)
        assert p.returncode == 1 and "has: " in p.stderr and "(HTTP 404)" in p.stderr, p.stderr
        # query series still prints the points as a table
        out = run_cli("query", "--http", d.http, "series", "--run", "ex", "--tag", "proj",
                      "--metric", "loss").stdout.splitlines()
        assert out[0].split() == ["step", "value"] and len(out) == 2 + 7, out
        assert out[-1].split() == ["6", "0.0625"], out


if __name__ == "__main__":
    run_all()
