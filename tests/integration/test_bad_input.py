"""Malformed input from the network: each kind is rejected under its own
reason, counted, logged once per run and reason; the daemon keeps serving
and every valid batch sent between the bad ones is stored."""

import os
import sys

import msgpack
import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, run_all, test, wait_for  # noqa: E402

GOOD = {"v": 1, "run": "bad-input", "tag": "t", "step": 0, "dtype": "f32", "shape": [4, 3]}
X = np.ones((4, 3), np.float32).tobytes()


def hdr(**kw):
    h = dict(GOOD)
    for k, v in kw.items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return msgpack.packb(h)


NAN = np.ones((4, 3), np.float32)
NAN[2, 1] = np.nan

# (reason, frames) pairs; every reason of schema/protocol.md appears.
BAD = [
    ("frames", [hdr()]),
    ("frames", [hdr(), X, X]),
    ("msgpack", [b"\xc1garbage", X]),
    ("msgpack", [msgpack.packb([1, 2, 3]), X]),
    ("msgpack", [hdr() + b"\x00", X]),
    ("missing_key", [hdr(shape=None), X]),
    ("missing_key", [hdr(run=None), X]),
    ("bad_type", [hdr(step="7"), X]),
    ("version", [hdr(v=2), X]),
    ("bad_name", [hdr(run=""), X]),
    ("bad_name", [hdr(tag="a\nb"), X]),
    ("bad_name", [hdr(run="x" * 129), X]),
    ("dtype", [hdr(dtype="i8"), X]),
    ("shape", [hdr(shape=[0, 3]), b""]),
    ("shape", [hdr(shape=[4]), X]),
    ("shape", [hdr(shape=[65536, 8192]), X]),
    ("bad_value", [hdr(support="torus"), X]),
    ("bad_value", [hdr(kappa=-1.0), X]),
    ("bad_value", [hdr(views=3), X]),
    ("frame_size", [hdr(), X[:-1]]),
    ("frame_size", [hdr(views=2), X, X + b"\0"]),
    ("nonfinite", [hdr(), NAN.tobytes()]),
]


@test
def every_bad_message_is_counted_and_good_ones_stored():
    with Daemon() as d:
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.PUSH)
        s.connect(d.zmq)
        try:
            step = 0
            for reason, frames in BAD:
                s.send_multipart(frames)
                s.send_multipart([hdr(step=step), X])  # a good one right after
                step += 1
        finally:
            s.close(linger=5000)
        expect = {}
        for reason, _ in BAD:
            expect[reason] = expect.get(reason, 0) + 1
        d.wait_stored(len(BAD))

        def counted():
            h = d.health()
            return h if h["batches"]["rejected"] == len(BAD) else None
        h = wait_for(counted, what="all rejections counted")
        for reason, n in expect.items():
            assert h["rejected"][reason] == n, (reason, h["rejected"])
        assert h["batches"]["accepted"] == len(BAD), h["batches"]
        rows = d.sql("SELECT count(*) FROM series_points WHERE run='bad-input' "
                     "AND metric='er_entropy'")
        assert rows == [(len(BAD),)], rows
        log = d.log()
        # once per (run, reason): frame_size came twice for one run, logged once
        assert log.count("rejected batch (frame_size)") == 1, log
        assert "rejected batch (nonfinite)" in log and "step=0" in log, log


@test
def random_garbage_does_not_kill_the_daemon():
    rng = np.random.default_rng(7)
    with Daemon() as d:
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.PUSH)
        s.connect(d.zmq)
        try:
            for i in range(300):
                nframes = int(rng.integers(1, 5))
                frames = [rng.bytes(int(rng.integers(0, 200))) for _ in range(nframes)]
                if i % 3 == 0:  # a valid-looking header with garbage after it
                    frames[0] = hdr(step=i)[: int(rng.integers(1, 40))]
                s.send_multipart(frames)
            s.send_multipart([hdr(step=999), X])
        finally:
            s.close(linger=5000)
        d.wait_stored(1)
        h = d.health()
        assert h["batches"]["rejected"] == 300, h["batches"]
        assert d.proc.poll() is None
        assert d.stop() == 0


if __name__ == "__main__":
    run_all()
