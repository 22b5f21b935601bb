"""The dashboard's HTTP side on the real daemon: the files it serves (found
next to the binary, or given with --web), path traversal, reference levels
checked against what the daemon computes for collapsed and spread-out
batches, wall time, and the incremental polling the dashboard relies on.
"""

import http.client
import math
import os
import subprocess
import tempfile
import urllib.parse

import harness
from harness import test, run_all, Daemon


def raw_get(d, path):
    """GET with the path sent byte for byte (no client-side normalising)."""
    u = urllib.parse.urlsplit(d.http)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.putrequest("GET", path, skip_accept_encoding=True)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read()
    finally:
        c.close()


@test
def dashboard_served_from_build_output():
    with Daemon() as d:
        st, ct, body = raw_get(d, "/")
        assert st == 200 and ct == "text/html; charset=utf-8", (st, ct)
        assert b"<title>erwatch</title>" in body
        for path, want in [("/static/app.js", "text/javascript; charset=utf-8"),
                           ("/static/style.css", "text/css; charset=utf-8"),
                           ("/static/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
                           ("/static/vendor/uPlot.min.css", "text/css; charset=utf-8"),
                           ("/static/favicon.svg", "image/svg+xml")]:
            st, ct, body = raw_get(d, path)
            assert st == 200 and ct == want and len(body) > 10, (path, st, ct)
        # Every file the page references is there (no CDN, nothing missing).
        st, _, index = raw_get(d, "/")
        import re
        for ref in re.findall(rb'(?:src|href)="(/static/[^"]+)"', index):
            st, _, _ = raw_get(d, ref.decode())
            assert st == 200, ref


@test
def path_traversal_is_404():
    with Daemon() as d:
        for path in ["/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
                     "/static/..%2f..%2fetc%2fpasswd", "/static/../index.html",
                     "/static/.hidden", "/..", "/static//app.js"]:
            st, _, body = raw_get(d, path)
            assert st == 404 and b"root:" not in body, (path, st, body[:80])


@test
def web_flag_serves_given_directory():
    with tempfile.TemporaryDirectory(prefix="ew-web-") as web:
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write("<!doctype html><title>custom</title>")
        with Daemon("--web", web) as d:
            st, ct, body = raw_get(d, "/")
            assert st == 200 and b"custom" in body, (st, body)
            st, _, _ = raw_get(d, "/static/app.js")
            assert st == 404


@test
def web_flag_without_index_fails_at_start():
    with tempfile.TemporaryDirectory(prefix="ew-web-") as web, \
            tempfile.TemporaryDirectory(prefix="ew-db-") as tmp:
        p = subprocess.run([harness.ERWATCHD, "--db", os.path.join(tmp, "x.db"), "--zmq",
                            "tcp://127.0.0.1:*", "--http", "127.0.0.1:0", "--web", web],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert p.returncode != 0, p
        assert "--web %s: no index.html" % web in p.stderr, p.stderr
        assert "\n" == p.stderr[-1:] and p.stderr.count("\n") == 1, p.stderr


def _push(d, run, x, step, kappa=10.0):
    c = harness.CClient(d.zmq)
    try:
        c.wait_connected(5000)
        assert c.push(run, "p", step, x, kappa=kappa) == 0
        c.flush(5000)
    finally:
        c.close()


@test
def entropy_reference_levels_match_computed_extremes():
    import numpy as np
    n, d = 16, 32
    with Daemon() as dm:
        # every row the same unit vector: the collapsed level exactly
        one = np.zeros((n, d), dtype="float32")
        one[:, 3] = 1.0
        _push(dm, "collapsed", one, 0)
        # n orthogonal unit rows: as spread as a batch can be, the ceiling
        # minus (n - 1) exp(-kappa)
        eye = np.eye(n, d, dtype="float32")
        _push(dm, "spread", eye, 0)
        dm.wait_stored(2)
        st, js = dm.get("/api/series", run="collapsed", tag="p", metric="er_entropy")
        assert st == 200, js
        ref = js["ref"]
        assert (ref["n"], ref["d"], ref["kappa"], ref["support"]) == (n, d, 10, "sphere"), ref
        harness.assert_close(js["value"][0], ref["collapsed"], 2e-7 * 20, "collapsed batch")
        # ideal: a uniform spread on the sphere for this N, d, kappa, below
        # the estimator's ceiling (collapsed + ln N) and near it for kappa 10
        ceiling = ref["collapsed"] + math.log(n)
        assert ref["collapsed"] < ref["ideal"] < ceiling, ref
        assert ceiling - ref["ideal"] < 0.1, ref
        st, js = dm.get("/api/series", run="spread", tag="p", metric="er_entropy")
        want = ceiling - math.log1p((n - 1) * math.exp(-10.0))
        harness.assert_close(js["value"][0], want, 1e-5, "orthogonal batch")


@test
def wall_time_and_polling_after():
    import numpy as np
    rng = np.random.default_rng(3)
    with Daemon() as d:
        c = harness.CClient(d.zmq)
        try:
            c.wait_connected(5000)
            for s in range(5):
                assert c.push("live", "p", s, harness.unit_rows(rng, 8, 4), scalars={"loss": s}) == 0
            c.flush(5000)
        finally:
            c.close()
        d.wait_stored(5)
        st, js = d.get("/api/series", run="live", tag="p", metric="loss", time=1)
        assert st == 200 and js["step"] == [0, 1, 2, 3, 4], js
        rows = d.sql("SELECT wall_time FROM series_points WHERE run='live' AND metric='loss' ORDER BY step")
        assert js["time"] == [r[0] for r in rows], (js["time"], rows)
        # the dashboard's live update: only what came after the last step it holds
        st, js = d.get("/api/series", run="live", tag="p", metric="loss", after=3, points=800)
        assert js["step"] == [4] and js["value"] == [4.0], js
        st, js = d.get("/api/series", run="live", tag="p", metric="loss", after=4)
        assert st == 200 and js["step"] == [], js


if __name__ == "__main__":
    run_all()
