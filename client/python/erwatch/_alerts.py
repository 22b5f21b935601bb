"""The reply channel: which alerts fire for a run (schema/protocol.md,
"Reply channel"), so that a training job can checkpoint or stop itself.

The daemon's HTTP API answers GET /api/alerts?run=R&state=firing; Monitor
asks it in two ways:
  - Monitor.alerts(): one bounded request, from the caller's thread;
  - Monitor(on_alert=fn, alert_poll_s=5): a daemon thread polls and calls
    fn(alert) once per firing episode, so log() never waits for HTTP.

Design decisions:
  - Standard library only (urllib): nothing to install beside pyzmq/numpy.
  - A daemon that cannot be asked is not an error of the training loop:
    alerts() returns None (falsy, unlike [] for "nothing fires") and warns
    once per Monitor; the poller warns once and keeps polling.
  - Environment proxies are bypassed for loopback addresses (a proxy is for
    the outside world; http_proxy set for pip would otherwise catch
    127.0.0.1).
  - The poller holds no reference to the Monitor, so a Monitor that is
    dropped without close() is still collected; its thread is a daemon
    thread and stops with close() or at exit.
"""

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings

DEFAULT_HTTP = "http://127.0.0.1:8080"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class AlertWarning(RuntimeWarning):
    """Issued once per Monitor when the daemon's HTTP API cannot be asked
    for alerts, or when an on_alert callback raises."""


def resolve_http(http):
    """The daemon's HTTP base URL: http, else $ERWATCH_HTTP, else the default."""
    if http is None:
        http = os.environ.get("ERWATCH_HTTP") or DEFAULT_HTTP
    if not isinstance(http, str) or not http.startswith(("http://", "https://")):
        raise ValueError("erwatch: http must be an http:// URL such as %r, got %r"
                         % (DEFAULT_HTTP, http))
    return http.rstrip("/")


def _opener(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in _LOOPBACK:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def fetch(http, run, state="firing", tag=None, timeout=2.0):
    """The alert episodes of run (most recent first) as a list of dicts with
    the `alerts` table's columns (rule, run, tag, metric, severity, state,
    value, first_step, fired_step, last_step, resolved_step, *_time,
    summary, description, id). Raises OSError (daemon unreachable, timeout)
    or ValueError (not an erwatchd answer)."""
    q = {"run": run, "state": state}
    if tag is not None:
        q["tag"] = tag
    url = "%s/api/alerts?%s" % (http, urllib.parse.urlencode(q))
    try:
        with _opener(url).open(url, timeout=timeout) as r:
            body = json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        raise ValueError("erwatch: %s answered HTTP %d" % (url, e.code)) from None
    except json.JSONDecodeError:
        raise ValueError("erwatch: %s did not answer JSON" % url) from None
    if not isinstance(body, dict) or not isinstance(body.get("alerts"), list):
        raise ValueError("erwatch: %s is not erwatchd's alerts API" % url)
    return body["alerts"]


def fetch_run(http, params, timeout=2.0):
    """GET /api/run?params (schema/protocol.md, "Launches"): the run as a
    dict (run, base, launch, config, notes, launches, ...), or None when the
    daemon has no such run (404). Raises OSError or ValueError like fetch()."""
    url = "%s/api/run?%s" % (http, urllib.parse.urlencode(params))
    try:
        with _opener(url).open(url, timeout=timeout) as r:
            body = json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise ValueError("erwatch: %s answered HTTP %d" % (url, e.code)) from None
    except json.JSONDecodeError:
        raise ValueError("erwatch: %s did not answer JSON" % url) from None
    if not isinstance(body, dict) or not isinstance(body.get("run"), str):
        raise ValueError("erwatch: %s is not erwatchd's run API" % url)
    return body


class RunName:
    """The name the daemon stores a launch's batches of one run name under
    (NAME, or NAME.2 ... when another launch has NAME). Learned over HTTP
    (GET /api/run?launch=ID&name=NAME) on a daemon thread started after the
    first batch is handed over, polling with backoff (0.2 s doubling to 5 s)
    until the daemon knows it; never from the training loop."""

    def __init__(self, http, launch, name):
        self.http, self.launch, self.name = http, launch, name
        self.value = None
        self._known = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def start(self):
        with self._lock:
            if self._thread is not None or self._known.is_set() or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="erwatch-run-name %s" % self.name)
            self._thread.start()

    def _loop(self):
        delay = 0.2
        while not self._stop.is_set():
            try:
                if self.ask(2.0) is not None:
                    return
            except (OSError, ValueError):
                pass
            if self._stop.wait(delay):
                return
            delay = min(2 * delay, 5.0)

    def ask(self, timeout):
        """One request: the name, or None when the daemon does not know the
        launch yet. Raises OSError/ValueError when the daemon cannot be asked."""
        if self._known.is_set():
            return self.value
        body = fetch_run(self.http, {"launch": self.launch, "name": self.name}, timeout)
        if body is None:
            return None
        with self._lock:
            if not self._known.is_set():
                self.value = body["run"]
                self._known.set()
        return self.value

    def wait(self, timeout):
        """Asks from the caller's thread until known or timeout seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._known.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if self.ask(min(left, 2.0)) is not None:
                    break
            except (OSError, ValueError):
                pass
            self._known.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.value

    def stop(self, timeout=5.0):
        self._stop.set()
        t = self._thread
        if t is not None and threading.current_thread() is not t:
            t.join(timeout)


class Asker:
    """Monitor.alerts(): fetch() that warns once instead of raising. With a
    RunName, the alerts are those of the run the launch's batches went to;
    [] while the daemon has stored none of them."""

    def __init__(self, http, run, names=None):
        self.http = http
        self.run = run
        self.names = names
        self._warned = False
        self._lock = threading.Lock()

    def ask(self, state="firing", tag=None, timeout=2.0):
        try:
            run = self.run
            if self.names is not None:
                run = self.names.ask(timeout)
                if run is None:
                    return []
            return fetch(self.http, run, state, tag, timeout)
        except (OSError, ValueError) as e:
            with self._lock:
                warn, self._warned = not self._warned, True
            if warn:
                warnings.warn("erwatch: cannot ask %s for the alerts of run %r (%s); "
                              "alerts() returns None meanwhile. This warning is shown once."
                              % (self.http, self.run, e), AlertWarning, stacklevel=3)
            return None


def check_watch(on_alert, poll_s):
    """Checks Monitor's on_alert and alert_poll_s before anything starts."""
    if on_alert is not None and not callable(on_alert):
        raise ValueError("erwatch: on_alert must be callable, got %r" % (on_alert,))
    if isinstance(poll_s, bool) or not isinstance(poll_s, (int, float)) or not poll_s > 0:
        raise ValueError("erwatch: alert_poll_s must be a positive number of seconds, "
                         "got %r" % (poll_s,))


class Watcher:
    """Polls the firing alerts of run every poll_s seconds on a daemon thread
    and calls on_alert(alert) once for each firing episode (by its id)."""

    def __init__(self, http, run, on_alert, poll_s, names=None):
        check_watch(on_alert, poll_s)
        self.names = names  # a RunName: run is learned from it (run None)
        if on_alert is None:
            raise ValueError("erwatch: on_alert is required")
        self.http, self.run, self.on_alert, self.poll_s = http, run, on_alert, float(poll_s)
        self._seen = set()
        self._warned_fetch = self._warned_cb = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="erwatch-alerts %s" % (run,),
                                        daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            self.poll()
            if self._stop.wait(self.poll_s):
                return

    def poll(self):
        try:
            if self.run is None and self.names is not None:
                # the run this launch's batches go to, once the daemon has one
                self.run = self.names.ask(min(self.poll_s, 5.0))
            if self.run is None:
                return
            firing = fetch(self.http, self.run, "firing", None, min(self.poll_s, 5.0))
        except (OSError, ValueError) as e:
            if not self._warned_fetch:
                self._warned_fetch = True
                warnings.warn("erwatch: cannot poll %s for the alerts of run %r (%s); still "
                              "trying every %gs. This warning is shown once."
                              % (self.http, self.run or self.names.name, e, self.poll_s),
                              AlertWarning)
            return
        for a in reversed(firing):  # oldest first
            key = a.get("id")
            if key in self._seen or self._stop.is_set():
                continue
            self._seen.add(key)
            try:
                self.on_alert(a)
            except Exception as e:  # a bug in the callback must not kill polling
                if not self._warned_cb:
                    self._warned_cb = True
                    warnings.warn("erwatch: on_alert raised %r (for alert %s of run %r); "
                                  "this warning is shown once" % (e, a.get("rule"), self.run),
                                  AlertWarning)

    def stop(self, timeout=5.0):
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
