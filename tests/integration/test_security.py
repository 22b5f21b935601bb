"""Opening erwatchd to a cluster (README.md, "Running on a cluster"):
unsafe binds refused at start, --insecure warned about, what one peer can
cost in memory, and the smaller hardening findings of review."""

import os
import subprocess
import sys

import msgpack
import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import ERWATCHD, Daemon, run_all, test, wait_for  # noqa: E402


def start_fails(*args):
    """Runs erwatchd with args; it must exit at start. Returns (rc, stderr)."""
    p = subprocess.run([ERWATCHD, "--db", "/nonexistent/never-opened.db"] + list(args),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr


@test
def non_loopback_zmq_refused():
    rc, err = start_fails("--zmq", "tcp://0.0.0.0:5557")
    assert rc == 2, (rc, err)
    assert "--zmq tcp://0.0.0.0:5557" in err and "--insecure" in err, err


@test
def non_loopback_http_refused():
    for addr in ("0.0.0.0:8080", "[::]:8080"):
        rc, err = start_fails("--http", addr)
        assert rc == 2, (addr, rc, err)
        assert "--http" in err and "--insecure" in err, err


@test
def insecure_runs_and_warns():
    # Binds the wildcard for the length of the test (ephemeral port); the
    # test itself talks to 127.0.0.1 only.
    with Daemon("--zmq", "tcp://0.0.0.0:*", "--insecure") as d:
        assert d.health()["status"] == "ok"
        log = d.log()
        assert "warn" in log and "--insecure: --zmq tcp://0.0.0.0:*" in log, log
        port = d.zmq.rsplit(":", 1)[1]
        s = zmq.Context.instance().socket(zmq.PUSH)
        s.connect("tcp://127.0.0.1:" + port)
        hdr = {"v": 1, "run": "insecure", "tag": "t", "step": 0, "dtype": "f32",
               "shape": [4, 3]}
        s.send_multipart([msgpack.packb(hdr), np.ones((4, 3), np.float32).tobytes()])
        s.close(linger=5000)
        d.wait_stored(1)


if __name__ == "__main__":
    run_all()
