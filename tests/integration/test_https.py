"""HTTPS and basic auth through --web-config, the Prometheus exporters'
format (README.md, "Running on a cluster"): a certificate from `openssl
req`, a bcrypt hash from python3-bcrypt, written by the test. Wrong or no
password 401, right one 200, plain HTTP refused, the write endpoints under
the same auth, alert links in https, a non-loopback --http allowed only
with TLS and users, and bad files refused at start."""

import base64
import http.client
import json
import os
import ssl
import subprocess
import sys
import time

import bcrypt

sys.path.insert(0, os.path.dirname(__file__))
from harness import ERWATCHD, Daemon, run_all, test, wait_for  # noqa: E402


def make_files(d, users=True, tls=True, extra=""):
    """Writes cert.pem, key.pem and web.yml into d.dir; returns web.yml."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", os.path.join(d.dir, "key.pem"),
                    "-out", os.path.join(d.dir, "cert.pem"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    text = ""
    if tls:
        text += "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
    if users:
        h = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=5)).decode()
        text += "basic_auth_users:\n  alice: %s\n" % h
    path = os.path.join(d.dir, "web.yml")
    with open(path, "w") as f:
        f.write(text + extra)
    return path


def https(d, path, user=None, password=None, method="GET"):
    ctx = ssl.create_default_context(cafile=os.path.join(d.dir, "cert.pem"))
    port = int(d.http.rsplit(":", 1)[1])
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        hdr = {}
        if user is not None:
            hdr["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % (user, password)).encode()).decode()
        c.request(method, path, headers=hdr)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    finally:
        c.close()


def tls_daemon(*extra, **kw):
    d = Daemon(*extra)
    d.args += ["--web-config", make_files(d, **kw)]
    return d


@test
def passwords_checked_over_https():
    with tls_daemon() as d:
        assert d.http.startswith("https://127.0.0.1:"), d.http
        st, hdr, body = https(d, "/api/health")
        assert st == 401 and "Basic" in hdr.get("WWW-Authenticate", ""), (st, hdr, body)
        st, _, _ = https(d, "/api/health", "alice", "wrong")
        assert st == 401, st
        st, _, _ = https(d, "/api/health", "mallory", "s3cret")
        assert st == 401, st
        for _ in range(3):  # the second and third come from the cache of checked pairs
            st, hdr, body = https(d, "/api/health", "alice", "s3cret")
            assert st == 200 and json.loads(body)["status"] == "ok", (st, body)
        st, _, body = https(d, "/", "alice", "s3cret")
        assert st == 200 and "<html" in body.lower(), st
        # the write endpoints are under the same auth
        st, _, _ = https(d, "/api/runs/delete?run=x", method="POST")
        assert st == 401, st


@test
def plain_http_to_the_tls_port_is_refused():
    with tls_daemon() as d:
        port = int(d.http.rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", "/api/health")
            r = c.getresponse()
            got = r.status
        except (http.client.HTTPException, ConnectionError, OSError) as e:
            got = type(e).__name__
        finally:
            c.close()
        assert got != 200, got


@test
def thousands_of_query_parameters_end_at_once_over_tls():
    """Past what libmicrohttpd can parse, the daemon cannot answer through
    TLS (README.md, "HTTP limits"): it closes the connection at once instead
    of leaving the client to the idle timeout; the daemon serves on."""
    with tls_daemon() as d:
        q = "&".join("p%d=%d" % (i, i) for i in range(5000))
        t0 = time.monotonic()
        try:
            got = https(d, "/api/health?" + q, "alice", "s3cret")[0]
        except (http.client.HTTPException, ConnectionError, ssl.SSLError, OSError) as e:
            got = type(e).__name__
        took = time.monotonic() - t0
        assert got != 200 and took < 3, (got, took)  # the idle timeout is 10 s
        assert https(d, "/api/health", "alice", "s3cret")[0] == 200


@test
def alert_links_use_https():
    from alerts_receiver import Pusher, Receiver
    with Receiver() as rx:
        d = tls_daemon("--no-default-rules", "--webhook", rx.url)
        rules = os.path.join(d.dir, "rules.conf")
        with open(rules, "w") as f:
            f.write("alert LossHigh scalar=loss\n    when value > 1 for 1 batches\n")
        d.args += ["--rules", rules]
        with d:
            Pusher(d).series("tls-run", [2.0] * 2)
            wait_for(lambda: rx.bodies(), 15, what="the webhook")
            url = rx.bodies()[0]["alerts"][0]["generatorURL"]
            assert url.startswith("https://"), url


@test
def non_loopback_http_needs_tls_and_users():
    d = Daemon("--http", "0.0.0.0:0")
    try:
        for kw, ok in ((dict(tls=True, users=False), False), (dict(tls=False, users=True), False),
                       (dict(tls=True, users=True), True)):
            args = list(d.args) + ["--web-config", make_files(d, **kw)]
            if not ok:
                p = subprocess.run(args, capture_output=True, text=True, timeout=30)
                assert p.returncode == 2 and "--web-config" in p.stderr, (kw, p.stderr)
        d.args = args
        d.start()  # binds the wildcard (ephemeral port); the test talks to 127.0.0.1
        st, _, _ = https(d, "/api/health", "alice", "s3cret")
        assert st == 200, st
        d.stop()
    finally:
        d.cleanup()


@test
def dashboard_through_https_in_a_browser():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "browser"))
    import seed
    import test_browser as tb
    missing = tb.prerequisites()
    if missing:
        print("ok dashboard_through_https_in_a_browser # SKIP missing " + "; ".join(missing))
        return
    with tls_daemon() as d:
        sent = seed.push_runs(d.zmq, steps=10)
        wait_for(lambda: json.loads(https(d, "/api/health", "alice", "s3cret")[2])
                 ["batches"]["stored"] >= sent, 60, what="the seeded batches")
        rc = tb.run_node("tests/browser/test_tls.mjs", {"EW_URL": d.http, "EW_USER": "alice",
                                                         "EW_PASS": "s3cret"}, timeout=120)
        assert rc == 0, rc


@test
def bad_web_configs_refused_at_start():
    d = Daemon()
    try:
        cases = [
            ("client_auth_type: RequireAndVerifyClientCert\n", "not supported"),
            ("basic_auth_users:\n  bob: plaintext\n", "not a bcrypt hash"),
            ("tls_server_config:\n  cert_file: nope.pem\n  key_file: key.pem\n", "nope.pem"),
            ("tls_server_config: [\n", "web.yml line"),
        ]
        for text, want in cases:
            path = make_files(d, users=False, tls=False, extra=text)
            p = subprocess.run(d.args + ["--web-config", path], capture_output=True,
                               text=True, timeout=30)
            assert p.returncode == 2 and want in p.stderr, (text, p.stderr)
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_all()
