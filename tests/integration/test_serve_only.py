"""One database, several daemons: --name (which daemon raised an alert) and
--zmq none (a daemon that only serves what others store). The same on
PostgreSQL is in test_pg_*.py; here the database is one SQLite file."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from alerts_receiver import Pusher  # noqa: E402
from harness import ERWATCHD, Daemon, run_all, test, wait_for  # noqa: E402

RULE = "alert LossHigh scalar=loss when value > 1 for 2 batches\n"


def _alerts(d, **params):
    st, body = d.get("/api/alerts", **params)
    assert st == 200, (st, body)
    return body["alerts"]


@test
def alerts_say_which_daemon_raised_them_and_health_names_it():
    d = Daemon("--no-default-rules", "--name", "gpu07")
    path = os.path.join(d.dir, "rules.conf")
    with open(path, "w") as f:
        f.write(RULE)
    d.args += ["--rules", path]
    with d:
        h = d.health()
        assert (h["name"], h["store"], h["ingest"]) == ("gpu07", "sqlite", True), h
        p = Pusher(d)
        p.series("r", [2.0] * 3)
        p.settle()
        wait_for(lambda: _alerts(d, state="firing"), what="a firing alert")
        a = _alerts(d)[0]
        assert (a["daemon"], a["rule"], a["run"]) == ("gpu07", "LossHigh", "r"), a
        assert list(a)[:3] == ["id", "daemon", "rule"], list(a)
        assert d.sql("SELECT daemon FROM alerts") == [("gpu07",)], d.sql("SELECT * FROM alerts")
        p.close()


@test
def serve_only_daemon_answers_for_what_another_stores():
    with Daemon("--name", "node1") as writer:
        p = Pusher(writer)
        p.series("from-node1", [0.5, 0.25, 0.125])
        p.settle()
        with Daemon("--zmq", "none", "--name", "lab", db=writer.db) as reader:
            assert reader.zmq == "none", reader.zmq
            h = reader.health()
            assert (h["name"], h["ingest"]) == ("lab", False), h
            st, runs = reader.get("/api/runs")
            assert st == 200 and [r["run"] for r in runs["runs"]] == ["from-node1"], (st, runs)
            st, s = reader.get("/api/series", run="from-node1", tag="proj", metric="loss")
            assert st == 200, (st, s)
            assert (s["step"], s["value"]) == ([0, 1, 2], [0.5, 0.25, 0.125]), s
            # what the writer stores later shows up too
            p.series("later", [1.0])
            p.settle()
            wait_for(lambda: len(reader.get("/api/runs")[1]["runs"]) == 2,
                     what="the second run through the serving daemon")
            assert "zmq=none" in reader.log() and "takes no batches" in reader.log(), reader.log()
            assert reader.stop() == 0, reader.log()
        p.close()


@test
def serve_only_refuses_curve_flags_and_bad_names():
    for args, want in [(["--zmq", "none", "--curve-key", "k", "--curve-clients", "c"],
                        "--zmq none"),
                       (["--zmq", "nowhere"], "bad value 'nowhere' for --zmq"),
                       (["--name", ""], "--name")]:
        r = subprocess.run([ERWATCHD] + args, capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and want in r.stderr, (args, r.returncode, r.stderr)


run_all()
