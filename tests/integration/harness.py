"""Shared helpers for erwatch integration tests.

Each test file is a suite run by tests/run.sh with /usr/bin/python3. It
starts the real daemon (build/erwatchd) on ephemeral loopback ports with a
temporary database, drives it the way users do (CLI, C library through
ctypes, raw ZeroMQ for malformed input) and prints TAP-like lines:
"ok NAME" / "not ok NAME". Every process and file it makes is cleaned up,
also when a test fails.
"""

import contextlib
import ctypes
import faulthandler
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("EW_BUILD", "build"))
ERWATCHD = os.path.join(BUILD, "erwatchd")
ERWATCH = os.path.join(BUILD, "erwatch")
VECTORS = os.environ.get("EW_VECTORS", os.path.join(ROOT, "tests", "vectors"))
# make asan/tsan set EW_SAN: our code then runs several times slower, so a
# bound that only guards against blocking or hanging stretches by SLOW.
SANITIZER = os.environ.get("EW_SAN", "")
SLOW = 10 if SANITIZER else 1
# One test that makes no progress for this long is reported with every
# thread's stack and ends the suite, well before tests/run.sh's timeout
# (which would kill it with nothing said about where it hung).
TEST_LIMIT_S = float(os.environ.get("EW_TEST_LIMIT_S", "240"))

_results = {"passed": 0, "failed": 0}
_tests = []


def test(fn):
    """Registers a test function; run_all() runs them in order."""
    _tests.append(fn)
    return fn


def _hung(name):
    print("# %s still running after %.0fs; every thread's stack:" % (name, TEST_LIMIT_S),
          flush=True)
    faulthandler.dump_traceback(file=sys.stdout, all_threads=True)
    print("not ok %s (hung: no result after %.0fs)" % (name, TEST_LIMIT_S), flush=True)
    os._exit(1)


def run_all():
    for fn in _tests:
        only = os.environ.get("TEST_ONLY")
        if only and only not in fn.__name__:
            continue
        t0 = time.monotonic()
        watchdog = threading.Timer(TEST_LIMIT_S, _hung, (fn.__name__,))
        watchdog.daemon = True
        watchdog.start()
        try:
            fn()
        except Exception:  # a failed assert or an error: report, go on
            traceback.print_exc(file=sys.stdout)
            print("not ok %s" % fn.__name__, flush=True)
            _results["failed"] += 1
        else:
            print("ok %s  (%.1fs)" % (fn.__name__, time.monotonic() - t0), flush=True)
            _results["passed"] += 1
        finally:
            watchdog.cancel()
    print("# %d passed, %d failed" % (_results["passed"], _results["failed"]))
    sys.exit(1 if _results["failed"] else 0)


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Polls pred() until it is truthy; raises after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _die_with_parent():
    """In the child before exec: SIGKILL it if the test process dies, so a
    test killed mid-way (a sanitizer abort, a timeout) leaves no daemon."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


class Daemon:
    """A running erwatchd on ephemeral loopback ports with a temp database."""

    def __init__(self, *extra, workers=2, db=None, http_host="127.0.0.1", env=None):
        self.dir = tempfile.mkdtemp(prefix="ew-it-")
        self.db = db or os.path.join(self.dir, "test.db")
        self.ready = os.path.join(self.dir, "ready")
        self.log_path = os.path.join(self.dir, "erwatchd.log")
        host = "[%s]" % http_host if ":" in http_host else http_host
        self.args = [ERWATCHD, "--db", self.db, "--zmq", "tcp://127.0.0.1:*",
                     "--http", "%s:0" % host, "--workers", str(workers),
                     "--commit-ms", "20", "--ready-file", self.ready] + list(extra)
        self.proc = None
        self.returncode = None
        self.env = dict(os.environ, **env) if env else None  # None: this process's

    def start(self, timeout=15):
        # a restart must wait for its own ready file, not read the last one's ports
        if os.path.exists(self.ready):
            os.unlink(self.ready)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                     env=self.env)
        wait_for(lambda: os.path.exists(self.ready) or self.proc.poll() is not None,
                 timeout=timeout, what="erwatchd to be ready")
        if self.proc.poll() is not None:
            raise AssertionError("erwatchd exited at start:\n" + self.log())
        with open(self.ready) as f:
            self.zmq, self.http = f.read().split()
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.returncode = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("erwatchd did not stop within %ss" % timeout)
        elif self.proc:
            self.returncode = self.proc.returncode
        return self.returncode

    def cleanup(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            if getattr(self, "_log", None):
                self._log.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            sys.stdout.write(self.log() if os.path.exists(self.log_path) else "")
            self.cleanup()
            raise

    def __exit__(self, et, ev, tb):
        if et is not None:
            print("--- erwatchd log:\n" + self.log())
        self.cleanup()
        return False

    # ------------------------------------------------------------ HTTP
    def get(self, path, **params):
        """GET path; returns (status, parsed JSON or text)."""
        q = urllib.parse.urlencode(params)
        url = self.http + path + ("?" + q if q else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body, status, ctype = r.read(), r.status, r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            body, status, ctype = e.read(), e.code, e.headers.get("Content-Type", "")
        text = body.decode("utf-8")
        return status, (json.loads(text) if "json" in ctype else text)

    def health(self):
        st, h = self.get("/api/health")
        # 503 with "degraded" while the store fails (a body to read all the same)
        assert st == 200 or (st == 503 and h.get("status") == "degraded"), (st, h)
        return h

    def wait_stored(self, n, timeout=20):
        """Waits until the daemon has committed n batches in total."""
        return wait_for(lambda: self.health()["batches"]["stored"] >= n, timeout,
                        what="%d stored batches" % n)

    def sql(self, query, *args):
        with contextlib.closing(sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)) as c:
            return c.execute(query, args).fetchall()


def free_port():
    """A loopback port nothing listens on (connections to it are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Service:
    """Another project's server the tests talk to (Alertmanager,
    Prometheus): started on a free 127.0.0.1 port in a temporary directory,
    its output kept in a log that failures print, ready once GET
    /-/ready answers 200, stopped (and its directory removed) by close().
    argv(dir, port) gives the command line; config files go in dir."""

    def __init__(self, name, argv):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="ew-%s-" % name)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.dir, name + ".log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv(self.dir, self.port), stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        try:
            wait_for(self._ready, 30, interval=0.1, what="%s to be ready" % name)
        except BaseException:
            print(self.log())
            self.close()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited:\n%s" % (self.name, self.log()))
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def get_json(self, path):
        with urllib.request.urlopen(self.url + path, timeout=5) as r:
            return json.loads(r.read())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_cli(*args, check=True, timeout=60):
    p = subprocess.run([ERWATCH] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("erwatch %s: exit %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
    return p


def save_npy(path, arr):
    import numpy as np
    np.save(path, np.ascontiguousarray(arr))
    return path


def unit_rows(rng, n, d, dtype="float32"):
    """Random rows scaled to unit length (in double, then cast)."""
    import numpy as np
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype)


def assert_close(got, exp, tol, what=""):
    import math
    if exp is None or (isinstance(exp, float) and math.isnan(exp)):
        assert got is None or (isinstance(got, float) and math.isnan(got)), (what, got, exp)
        return
    err = abs(got - exp) / max(1.0, abs(exp))
    assert err <= tol, "%s: got %.17g expected %.17g (mixed err %.3g > %.3g)" % (
        what, got, exp, err, tol)


# ------------------------------------------------------------ C library
class ErwatchBatch(ctypes.Structure):
    _fields_ = [
        ("run", ctypes.c_char_p), ("tag", ctypes.c_char_p), ("step", ctypes.c_uint64),
        ("dtype", ctypes.c_int), ("n", ctypes.c_uint32), ("d", ctypes.c_uint32),
        ("x", ctypes.c_void_p), ("y", ctypes.c_void_p), ("support", ctypes.c_int),
        ("kappa", ctypes.c_double), ("rank", ctypes.c_int32), ("world", ctypes.c_int32),
        ("time", ctypes.c_double), ("scalars", ctypes.c_void_p), ("nscalars", ctypes.c_size_t),
        ("pool", ctypes.c_int),
    ]


class ErwatchScalar(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_double)]


class ErwatchStats(ctypes.Structure):
    _fields_ = [("sent", ctypes.c_uint64), ("dropped", ctypes.c_uint64),
                ("bytes", ctypes.c_uint64), ("invalid", ctypes.c_uint64),
                ("buffered", ctypes.c_uint64)]


DTYPES = {"float32": 0, "float64": 1, "float16": 2}


def process_launch():
    """The launch of every CClient of this test process unless told
    otherwise: the Python Monitor's default one (one per process), so that a
    test's successive clients, C and Python, write one run (README, "Runs,
    launches and resume")."""
    sys.path.insert(0, os.path.join(ROOT, "client", "python"))
    from erwatch import _protocol
    return _protocol.default_launch()


class CClient:
    """The C client library (build/liberwatch.so) driven through ctypes.
    launch: the launch identity (default process_launch(); "" for none)."""

    def __init__(self, endpoint, hwm=0, launch=None):
        self.lib = ctypes.CDLL(os.path.join(BUILD, "liberwatch.so"))
        self.lib.erwatch_new.restype = ctypes.c_void_p
        self.lib.erwatch_new.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.lib.erwatch_push.argtypes = [ctypes.c_void_p, ctypes.POINTER(ErwatchBatch)]
        self.lib.erwatch_wait_connected.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.lib.erwatch_flush.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.lib.erwatch_stats.argtypes = [ctypes.c_void_p, ctypes.POINTER(ErwatchStats)]
        self.lib.erwatch_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        self.lib.erwatch_set_launch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.c = ctypes.c_void_p(self.lib.erwatch_new(endpoint.encode(), hwm))
        assert self.c.value, "erwatch_new failed"
        launch = process_launch() if launch is None else launch
        assert self.lib.erwatch_set_launch(self.c, launch.encode(), 0) == 0, launch
        self.lib.erwatch_set_meta.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]

    def set_meta(self, config_json=None, notes=None):
        """erwatch_set_meta: config (JSON text) and notes for the next push."""
        return self.lib.erwatch_set_meta(self.c, config_json and config_json.encode(),
                                         notes and notes.encode())

    def wait_connected(self, ms=5000):
        return self.lib.erwatch_wait_connected(self.c, ms)

    def push(self, run, tag, step, x, y=None, support=0, kappa=0.0, scalars=None):
        import numpy as np
        x = np.ascontiguousarray(x)
        b = ErwatchBatch(run=run.encode(), tag=tag.encode(), step=step,
                         dtype=DTYPES[str(x.dtype)], n=x.shape[0], d=x.shape[1],
                         x=x.ctypes.data, support=support, kappa=kappa)
        keep = [x]
        if y is not None:
            y = np.ascontiguousarray(y, dtype=x.dtype)
            keep.append(y)
            b.y = y.ctypes.data
        if scalars:
            arr = (ErwatchScalar * len(scalars))(
                *[ErwatchScalar(k.encode(), v) for k, v in scalars.items()])
            keep.append(arr)
            b.scalars = ctypes.cast(arr, ctypes.c_void_p)
            b.nscalars = len(scalars)
        return self.lib.erwatch_push(self.c, ctypes.byref(b))

    def flush(self, ms=5000):
        return self.lib.erwatch_flush(self.c, ms)

    def stats(self):
        s = ErwatchStats()
        self.lib.erwatch_stats(self.c, ctypes.byref(s))
        return s

    def close(self):
        self.lib.erwatch_destroy(ctypes.byref(self.c))
