"""The HTTP side of opening erwatchd to a network (README.md, "Running on a
cluster"): what every API answer carries, what one client address can hold,
requests no endpoint takes, the Host header (DNS rebinding), CSV cells that
would be spreadsheet formulas, and dashboard files reached through a
symlink."""

import http.client
import os
import shutil
import socket
import sys
import time

import msgpack
import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, Daemon, run_all, test, wait_for  # noqa: E402


def request(d, path, host=None, source=None, timeout=10):
    """GET path; returns (status, headers, body). host: the Host header;
    source: the local address to connect from."""
    port = int(d.http.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        c.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            c.putheader("Host", host)
        c.endheaders()
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    finally:
        c.close()


@test
def every_api_answer_says_nosniff():
    with Daemon() as d:
        for path in ("/api/health", "/api/runs", "/api/series?run=x", "/api/nope",
                     "/metrics", "/"):
            st, hdr, _ = request(d, path)
            assert hdr.get("X-Content-Type-Options") == "nosniff", (path, st, hdr)


@test
def many_query_parameters_answered_at_once():
    with Daemon() as d:
        for n in (65, 500, 1500, 3000, 20000):  # past ~1500: answered before MHD parses them
            q = "&".join("p%d=%d" % (i, i) for i in range(n))
            t0 = time.monotonic()
            st, _, body = request(d, "/api/health?" + q)
            took = time.monotonic() - t0
            # (20000 do not fit in the connection's buffer: MHD's own 414)
            assert st == 414 and ("query parameters" in body or "too big" in body), (n, st, body)
            assert took < 3, (n, took)
        st, _, _ = request(d, "/api/health?" + "&".join("p%d=1" % i for i in range(64)))
        assert st == 200, st


@test
def host_header_checked():
    with Daemon("--external-url", "http://erwatch.example:8080/") as d:
        port = d.http.rsplit(":", 1)[1]
        for host in ("127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port,
                     "erwatch.example:8080", "ERWATCH.example", "10.1.2.3",
                     socket.gethostname() + ":" + port):
            st, _, body = request(d, "/api/health", host=host)
            assert st == 200, (host, st, body)
        for host in ("evil.example", "evil.example:" + port, "127.0.0.1.evil.example"):
            st, _, body = request(d, "/api/health", host=host)
            assert st == 421 and "DNS rebinding" in body, (host, st, body)


@test
def slow_connections_from_one_address_leave_others_served():
    """300 half-sent requests from 127.0.0.1 (the review's probe that took
    /api/health down): a client from 127.0.0.2 is still answered."""
    with Daemon() as d:
        port = int(d.http.rsplit(":", 1)[1])
        slow = []
        try:
            for _ in range(300):
                s = socket.socket()
                s.settimeout(5)
                try:
                    s.connect(("127.0.0.1", port))
                    s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                except OSError:
                    pass
                slow.append(s)
            t0 = time.monotonic()
            st, _, body = request(d, "/api/health", source="127.0.0.2", timeout=5)
            took = time.monotonic() - t0
            assert st == 200 and '"status":"ok"' in body, (st, body)
            print("# /api/health from 127.0.0.2 answered in %.3f s beside 300 slow "
                  "connections from 127.0.0.1" % took)
            assert took < 2, took
        finally:
            for s in slow:
                s.close()


@test
def csv_text_cells_are_never_formulas():
    with Daemon() as d:
        s = zmq.Context.instance().socket(zmq.PUSH)
        s.connect(d.zmq)
        run = '=HYPERLINK("http://evil.example","x")'
        h = {"v": 1, "run": run, "tag": "@tag", "step": 0, "dtype": "f32", "shape": [4, 3]}
        s.send_multipart([msgpack.packb(h), np.ones((4, 3), np.float32).tobytes()])
        s.close(linger=5000)
        d.wait_stored(1)
        st, _, body = request(d, "/api/runs?format=csv")
        assert st == 200, (st, body)
        row = body.splitlines()[1]
        assert row.startswith('"\'=HYPERLINK(""http://evil.example"",""x"")"'), row
        assert ",'@tag" in row or "'@tag" in row, row


@test
def largest_step_is_reachable():
    """Step 2^63-1, the largest the protocol takes, comes back from a query
    like any other (the window's default end used to exclude it)."""
    import json
    top = (1 << 63) - 1
    with Daemon() as d:
        s = zmq.Context.instance().socket(zmq.PUSH)
        s.connect(d.zmq)
        for step in (5, top):
            h = {"v": 1, "run": "big", "tag": "t", "step": step, "dtype": "f32",
                 "shape": [4, 3], "metrics": ["std_l2"]}
            s.send_multipart([msgpack.packb(h), np.ones((4, 3), np.float32).tobytes()])
        s.close(linger=5000)
        d.wait_stored(2)
        for query, want in (("", [5, top]), ("&after=5", [top]), ("&before=1000", [5]), ("&before=%d" % top, [5, top])):
            for _ in range(2):  # the second read may come from the cache
                st, _, body = request(d, "/api/series?run=big&tag=t&metric=std_l2" + query)
                assert st == 200, (st, body)
                assert json.loads(body)["step"] == want, (query, body)
        st, _, body = request(d, "/api/series?run=big&tag=t&metric=std_l2&format=csv")
        assert body.splitlines()[-1].startswith(str(top) + ","), body


@test
def dashboard_files_behind_symlinks_are_not_served():
    src = os.path.join(BUILD, "web")
    if not os.path.exists(os.path.join(src, "index.html")):
        print("ok dashboard_files_behind_symlinks_are_not_served # SKIP no build/web")
        return
    d = Daemon()
    try:
        web = os.path.join(d.dir, "web")
        shutil.copytree(src, web)
        secret = os.path.join(d.dir, "secret")
        os.mkdir(secret)
        with open(os.path.join(secret, "app.js"), "w") as f:
            f.write("outside the web folder\n")
        os.symlink(os.path.join(secret, "app.js"), os.path.join(web, "static", "leak.js"))
        os.symlink(secret, os.path.join(web, "static", "dir"))
        d.args += ["--web", web]
        with d:
            st, _, _ = request(d, "/static/app.js")
            assert st == 200, st
            for path in ("/static/leak.js", "/static/dir/app.js"):
                st, _, body = request(d, path)
                assert st == 404 and "outside" not in body, (path, st, body)
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_all()
