"""Helpers of the alerting suites (test_alerts*.py): a webhook receiver on
loopback and a pusher of scalar-carrying batches. Not a suite itself."""

import http.server
import json
import socket
import threading
import time

import numpy as np

from harness import CClient, free_port  # noqa: F401 (free_port: for the suites)


class Receiver:
    """A webhook receiver on 127.0.0.1: records every POST (JSON body).
    delay: seconds to wait before answering; hang: never answer."""

    def __init__(self, port=0, delay=0.0, hang=False):
        self.posts = []
        self.lock = threading.Lock()
        self.delay = delay
        self.hang = hang
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if outer.hang:
                    outer.release.wait(60)
                    return
                if outer.delay:
                    time.sleep(outer.delay)
                with outer.lock:
                    outer.posts.append((self.path, json.loads(body), time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):  # a hung receiver hangs GETs too (client timeouts)
                if outer.hang:
                    outer.release.wait(60)
                    return
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self):
        with self.lock:
            return [b for _, b, _ in self.posts]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


X = np.ascontiguousarray(np.eye(4, 2, dtype=np.float32) + 0.1)


class Pusher:
    """Pushes tiny batches carrying scalars through the C library."""

    def __init__(self, d):
        self.c = CClient(d.zmq, hwm=10000)
        assert self.c.wait_connected(5000) == 0
        self.d = d
        self.sent = 0

    def push(self, run, step, tag="proj", **scalars):
        for _ in range(200):
            if self.c.push(run, tag, step, X, scalars=scalars) == 0:
                self.sent += 1
                return
            time.sleep(0.005)
        raise AssertionError("push kept failing")

    def series(self, run, values, start=0, tag="proj", name="loss"):
        for i, v in enumerate(values):
            self.push(run, start + i, tag=tag, **{name: v})

    def settle(self):
        """Waits until everything pushed is stored (and so evaluated)."""
        assert self.c.flush(5000) == 0
        self.d.wait_stored(self.sent, timeout=60)

    def close(self):
        self.c.close()
