"""The dashboard in a real browser: tests/browser/*.mjs under node.

Runs the node unit tests of the dashboard's pure modules, then starts the
real daemon on ephemeral loopback ports (it finds the dashboard's files in
build/web next to its binary), pushes a healthy and a collapsing run through
the C client library, and runs tests/browser/test_dashboard.mjs, which
drives Debian's chromium headless through playwright-core. Every line the
node suites print is passed through, so each browser check is one TAP line
here. Bounded in time; the node process group (and the browser it started)
is killed if it overruns, and the daemon is stopped. The dashboard suite
then runs again on a daemon whose database is a throw-away PostgreSQL 15
(pgserver.py; EW_BROWSER_PG=0 skips it), its lines named "postgresql: ...".
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import harness

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "browser"))
import seed  # noqa: E402

NODE_TIMEOUT = 240
STEPS = 60


def node_env(extra):
    env = dict(os.environ)
    # Under `make asan` the sanitizer runtime is preloaded for Python (for
    # liberwatch.so); node and chromium must not inherit it.
    # chromium must not get a sanitizer runtime; the Python children the
    # node test spawns (they load liberwatch.so) need it back: EW_PY_PRELOAD.
    env["EW_PY_PRELOAD"] = env.pop("LD_PRELOAD", "")
    env.update(extra)
    return env


def run_node(script, extra_env, timeout=NODE_TIMEOUT, label=""):
    """Runs a node suite, relays its lines (each test's name after label);
    returns its exit code."""
    p = subprocess.Popen(["node", script], cwd=harness.ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                         env=node_env(extra_env), start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(script, timeout)
            if sel.select(timeout=min(left, 1.0)):
                line = p.stdout.readline()
                if not line:
                    break
                if label and line.startswith(("ok ", "not ok ")):
                    verdict, _, name = line.partition("ok ")
                    line = "%sok %s%s" % (verdict, label, name)
                sys.stdout.write(line)
                sys.stdout.flush()
        return p.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        print("not ok %s (timed out after %ds)" % (os.path.basename(script), timeout), flush=True)
        return 124
    finally:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # node and the chromium it started
            except ProcessLookupError:
                pass
            p.wait()


def prerequisites():
    missing = []
    if not shutil.which("node"):
        missing.append("node (Debian package nodejs)")
    chromium = os.environ.get("EW_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        missing.append(chromium + " (Debian package chromium)")
    if not os.path.isdir(os.path.join(harness.ROOT, "web", "node_modules", "playwright-core")):
        missing.append("web/node_modules/playwright-core (make runs npm ci in web/)")
    if not os.path.isfile(os.path.join(harness.BUILD, "web", "index.html")):
        missing.append(os.path.join(harness.BUILD, "web") + " (make builds it)")
    return missing


def main():
    missing = prerequisites()
    if missing:
        print("not ok browser_prerequisites: missing " + "; ".join(missing) + " (run make deps)")
        return 1
    print("ok browser_prerequisites")
    rc = run_node("tests/browser/unit.mjs", {}, timeout=60)
    rc |= dashboard(None, os.path.join(harness.ROOT, "tests", "screenshots"))
    # The same dashboard test on a PostgreSQL database (issue 13): the API
    # it reads must answer as it does from SQLite.
    if os.environ.get("EW_BROWSER_PG", "1") != "0":
        import pgserver
        if not pgserver.available():
            print("ok dashboard_on_postgresql # SKIP PostgreSQL is not installed")
        else:
            with pgserver.PgServer() as pg:
                shots = os.path.join(harness.BUILD, "screenshots-pg")
                print("# the dashboard on PostgreSQL (%s)" % pg.uri, flush=True)
                rc |= dashboard(pg.uri, shots, label="postgresql: ")
    return 1 if rc else 0


def dashboard(db, shots, label=""):
    """The daemon (on db: None for a fresh SQLite file) with the seeded runs,
    and test_dashboard.mjs against it. Returns non-zero on a failure."""
    rc = 0
    # a short pool timeout: the pooled-run test's partial step completes soon
    with harness.Daemon("--pool-timeout-ms", "1000", db=db) as d:
        t0 = time.monotonic()
        sent = seed.push_runs(d.zmq, steps=STEPS)
        d.wait_stored(sent, timeout=60)
        print("# pushed %d batches in %.1fs" % (sent, time.monotonic() - t0), flush=True)
        st, _ = d.get("/")
        assert st == 200, "GET / -> %s: the daemon did not find build/web" % st
        rc |= run_node("tests/browser/test_dashboard.mjs", {
            "EW_URL": d.http, "EW_ZMQ": d.zmq, "EW_STEPS": str(STEPS),
            "EW_SHOTS": shots,
            "EW_PYTHON": sys.executable, "EW_ERWATCH": harness.ERWATCH,
        }, label=label)
        if d.stop() != 0:
            print("not ok daemon_exit_code (%s)" % d.returncode)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
