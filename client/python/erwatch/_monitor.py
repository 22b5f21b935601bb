"""Monitor: pushes embedding batches from a training loop to erwatchd.

The promise, as in the C client (client/erwatch.c): log() never blocks the
training loop and never raises because of the daemon. When the daemon is
slow, absent or restarting, the batch is dropped and counted, one warning is
issued per Monitor, and the running drop count rides in the `dropped` key of
every later header, so the daemon's /api/health shows it. Bad input is a
programming error and raises ValueError at the call.

Design decisions:
  - The PUSH socket has IMMEDIATE=1 (nothing is queued for a daemon that is
    not connected) and every send is NOBLOCK. The buffer is bounded in
    bytes (max_buffer_mb): each frame is handed to ZeroMQ as a tracked
    zero-copy Frame (of our own copy when copy=True), and the bytes of the
    frames ZeroMQ has not finished with are the buffer's fill. A batch that
    would overfill it is dropped before anything is sent. The batch is also
    dropped when its first frame (the header) is refused; once the first
    frame of a message is in, ZeroMQ takes the rest, so a batch is never
    half-sent.
  - Each Monitor owns its ZeroMQ context. flush() and close() are the only
    calls that wait: they close the socket with a linger of the timeout and
    terminate the context, which returns once every queued batch is written
    to the kernel or the linger expired.
  - One lock guards the socket and the counters, so a Monitor may be shared
    between threads.
"""

import collections
import os
import threading
import time
import warnings
import weakref

import numpy as np
import zmq

from . import _alerts, _convert, _keys, _protocol

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5557"
# The byte budget of a Monitor's buffer, as in the C client
# (ERWATCH_DEFAULT_MAX_BUFFER): enough for hundreds of typical batches while
# the daemon catches up, small beside a training process.
DEFAULT_MAX_BUFFER_MB = 64
_EXIT_LINGER_MS = 1000  # an unclosed Monitor gets this long to flush at exit


class DropWarning(RuntimeWarning):
    """Issued once per Monitor, at its first dropped batch."""


class _Link:
    """The ZeroMQ context and PUSH socket, kept apart from the Monitor so
    that a weakref finalizer can close them without holding the Monitor."""

    def __init__(self, endpoint, sndhwm, curve=None):
        self.endpoint = endpoint
        self.sndhwm = sndhwm
        self.curve = curve  # (server public, client public, client secret) or None
        self.ctx = None
        self.sock = None

    def open(self):
        self.ctx = zmq.Context(io_threads=1)
        try:
            s = self.ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.IMMEDIATE, 1)
            s.setsockopt(zmq.SNDHWM, self.sndhwm or 0)  # 0: bytes alone bound it
            s.setsockopt(zmq.LINGER, 0)
            if self.curve:
                s.curve_serverkey, s.curve_publickey, s.curve_secretkey = self.curve
            s.connect(self.endpoint)
        except zmq.ZMQError as e:
            self.ctx.destroy(linger=0)
            self.ctx = None
            raise ValueError("erwatch: cannot connect to endpoint %r: %s"
                             % (self.endpoint, e)) from None
        self.sock = s

    def close(self, linger_ms):
        """Closes the socket with linger_ms and terminates the context.
        Returns True when nothing queued was discarded."""
        if self.ctx is None:
            return True
        t0 = time.monotonic()
        try:
            self.sock.close(linger=linger_ms)
            self.ctx.term()
        finally:
            self.sock = self.ctx = None
        # term() returns early only when the queue emptied; taking the whole
        # linger means something may have been discarded (the honest side).
        return linger_ms <= 0 or (time.monotonic() - t0) * 1000.0 < linger_ms - 1

    def wait_writable(self, timeout_ms):
        """With IMMEDIATE=1 a PUSH socket is writable only once a daemon is
        connected and has room."""
        deadline = time.monotonic() + max(0, timeout_ms) / 1000.0
        while True:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            try:
                if self.sock.poll(left, zmq.POLLOUT):
                    return True
            except zmq.ZMQError:
                return False
            if left == 0:
                return False


def _resolve_endpoint(endpoint):
    if endpoint is None:
        endpoint = os.environ.get("ERWATCH_ENDPOINT") or DEFAULT_ENDPOINT
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError("erwatch: endpoint must be a non-empty string such as %r"
                         % DEFAULT_ENDPOINT)
    return endpoint


def _positive_int(v, what, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError("erwatch: %s must be a positive int, got %r" % (what, v))
    return v


class Monitor:
    """Sends embedding batches of one (run, tag) to erwatchd.

    mon = erwatch.Monitor(run="simsiam-lr0.05", tag="projector")
    mon.log(step, z1, z2, loss=loss.item())

    run, tag:  names of the run and of the watched embedding (1..128 bytes).
    endpoint:  daemon address; default $ERWATCH_ENDPOINT, else
               tcp://127.0.0.1:5557.
    every:     log one step in `every`: the steps with step % every == 0.
    max_rows:  send at most this many rows, a random subset (the same rows of
               both views); the header's "subsample" key carries the original N.
    support:   "sphere" (embeddings; the daemon l2-normalises rows),
               "discrete" (rows are probability vectors) or "scores"
               (prototype scores, turned into assignments by Sinkhorn-Knopp).
    kappa:     vMF concentration for the sphere ER metrics (None: daemon's, 10).
    metrics:   names of the metrics to compute (None: every one that applies);
               see schema/protocol.md for the catalogue.
    t, alpha, eps, iters: uniformity temperature, alignment exponent,
               Sinkhorn regularisation and iterations (None: daemon defaults).
    rank, world: sent in the header; default from torch.distributed when it
               is initialised.
    all_ranks: in a distributed job only rank 0 sends unless this is True
               (ranks sending the same run/tag/step overwrite each other's
               points; give each rank its own tag if you want them all).
    pool:      in a distributed job (world >= 2), every rank sends its local
               batch as a part of the step's global batch, and the daemon
               computes the metrics on all ranks' rows together, as one
               batch of world x local rows (README, "Distributed training").
               Each rank's max_rows caps what it sends. Ignored without a
               distributed job.
    max_buffer_mb: the buffer for a slow daemon, in MiB of batches (header
               and tensor bytes) ZeroMQ holds and has not yet written to the
               kernel (default 64). A batch that would overfill it is
               dropped; a batch larger than the whole budget is sent only
               when the buffer is empty.
    sndhwm:    also cap the buffer at this many batches (default None: the
               byte budget alone).
    connect_timeout: seconds the constructor waits for the daemon so that the
               first steps are not dropped while TCP connects (0: do not wait).
               It returns as soon as the daemon is there; log() never waits.
    seed:      seed of the row sampler used by max_rows.
    copy:      True (default): a CPU array of the caller's is copied once
               into ZeroMQ, so it may be changed as soon as log() returns.
               False: it is handed over without a copy (faster for large
               batches); do not modify it in place afterwards (a fresh
               tensor each step, as a forward pass makes, is fine). Arrays
               the client creates anyway (GPU -> host, max_rows rows, a
               non-contiguous input made contiguous) are never copied twice.
    server_pub, client_key: CURVE key files (`erwatch keygen`): the daemon's
               NAME.pub and this client's NAME.key; default $ERWATCH_SERVER_PUB
               and $ERWATCH_CLIENT_KEY. Both or neither; a bad or missing file
               raises ValueError here (never a plaintext connection).
    http:      the daemon's HTTP API, for alerts(); default $ERWATCH_HTTP,
               else http://127.0.0.1:8080.
    on_alert:  fn(alert) called from a background thread once for each alert
               that fires for this run (a dict, as alerts() returns), polled
               every alert_poll_s seconds; log() never waits for it. E.g.
               on_alert=lambda a: stop.set() to end training on collapse.
    launch:    this launch's identity (README, "Runs, launches and resume"):
               default $ERWATCH_LAUNCH, else torchrun's run id and restart
               count, else a random id drawn once per process. A launch
               whose run name another launch already has gets its own run,
               NAME.2, NAME.3...; run_name tells which.
    resume:    continue the latest run of this name instead (after a restart
               from a checkpoint): its points at steps >= this launch's first
               step are removed, so the curve is one history. Raises
               ValueError when the daemon answers that no such run exists.
    config:    the run's hyper-parameters, a dict stored as a JSON object
               (at most 32 KiB as JSON; ValueError otherwise); shown on the
               dashboard and queryable in SQL (schema/README.md).
    notes:     free text about the run (at most 4 KiB), stored likewise.

    Not picklable; one lock makes it safe to share between threads.
    """

    def __init__(self, run, tag="projector", endpoint=None, every=1, max_rows=None,
                 support="sphere", kappa=None, metrics=None, t=None, alpha=None, eps=None,
                 iters=None, rank=None, world=None, all_ranks=False, pool=False, sndhwm=None,
                 max_buffer_mb=DEFAULT_MAX_BUFFER_MB,
                 connect_timeout=1.0, seed=None, copy=True, http=None, on_alert=None,
                 alert_poll_s=5.0, launch=None, resume=False, config=None, notes=None,
                 server_pub=None, client_key=None):
        self.run = _protocol.check_name(run, "run")
        self.tag = _protocol.check_name(tag, "tag")
        self.endpoint = _resolve_endpoint(endpoint)
        self.http = _alerts.resolve_http(http)
        _alerts.check_watch(on_alert, alert_poll_s)
        self.every = _positive_int(every, "every")
        self.max_rows = _positive_int(max_rows, "max_rows", allow_none=True)
        self.support = _protocol.check_support(support)
        self.kappa = _protocol.check_kappa(kappa)
        self.metrics = _protocol.check_metrics(metrics)
        self._options = {}  # optional header keys, sent when set
        if self.metrics is not None:
            self._options["metrics"] = list(self.metrics)
        for name, value in (("t", t), ("alpha", alpha), ("eps", eps), ("iters", iters)):
            value = _protocol.check_param(name, value)
            if value is not None:
                self._options[name] = value
        self.launch = (_protocol.default_launch() if launch is None
                       else _protocol.check_launch(launch))
        if not isinstance(resume, bool):
            raise ValueError("erwatch: resume must be True or False, got %r" % (resume,))
        self.resume = resume
        self._options["launch"] = self.launch
        if resume:
            self._options["resume"] = True
        # config and notes ride in the headers until one batch is handed over
        self._meta = {}
        config_text = _protocol.pack_config(config)
        if config_text is not None:
            self._meta["config"] = config_text
        notes = _protocol.check_notes(notes)
        if notes is not None:
            self._meta["notes"] = notes
        if resume:
            self._check_resumable(connect_timeout)
        self._rank, self._world = _protocol.check_rank_world(rank, world)
        self._explicit_world = self._world is not None
        self.all_ranks = bool(all_ranks)
        self.pool = bool(pool)
        self.copy = bool(copy)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._sent = self._dropped = self._bytes = self._skipped = 0
        self._since_flush = 0  # batches handed to ZeroMQ since the last flush
        self._warned_drop = False
        self._warned_scalars = False
        self._closed = False
        if isinstance(max_buffer_mb, bool) or not isinstance(max_buffer_mb, (int, float)) \
                or not 0 < max_buffer_mb < 1 << 20:
            raise ValueError("erwatch: max_buffer_mb must be a positive number of MiB, got %r"
                             % (max_buffer_mb,))
        self._max_buffer = int(max_buffer_mb * (1 << 20))
        self._pending = collections.deque()  # (tracker, bytes) ZeroMQ still holds
        self._held = 0                       # their bytes
        self._link = _Link(self.endpoint, _positive_int(sndhwm, "sndhwm", allow_none=True),
                           _keys.resolve(server_pub, client_key))
        self._link.open()
        self._finalizer = weakref.finalize(self, self._link.close, _EXIT_LINGER_MS)
        if connect_timeout and connect_timeout > 0:
            self._link.wait_writable(int(connect_timeout * 1000))
        # The reply channel (_alerts.py): the run the daemon stores this
        # launch under, and what fires for it.
        self._names = _alerts.RunName(self.http, self.launch, self.run)
        weakref.finalize(self, self._names.stop, 0)
        self._asker = _alerts.Asker(self.http, self.run, self._names)
        self._watcher = None
        if on_alert is not None:
            self._watcher = _alerts.Watcher(self.http, None, on_alert, alert_poll_s,
                                            self._names)
            weakref.finalize(self, self._watcher.stop, 0)

    def _check_resumable(self, connect_timeout):
        """resume=True: asks the daemon (GET /api/run?resume=NAME, bounded by
        connect_timeout, at most 2 s) whether there is a run to continue.
        No such run: ValueError. Daemon not reachable: a warning, and the
        daemon decides when the batches arrive (rejected.resume_unknown)."""
        timeout = min(max(connect_timeout or 0, 0.1), 2.0)
        try:
            body = _alerts.fetch_run(self.http, {"resume": self.run}, timeout)
        except (OSError, ValueError) as e:
            warnings.warn("erwatch: resume=True, but %s cannot be asked whether run %r exists "
                          "(%s); if it does not, the daemon refuses this launch's batches "
                          "(rejected.resume_unknown in /api/health)" % (self.http, self.run, e),
                          RuntimeWarning, stacklevel=3)
            return
        if body is None:
            raise ValueError("erwatch: resume=True, but the daemon at %s has no run named %r "
                             "to continue; start without resume=True to make a new run"
                             % (self.http, self.run))

    # ------------------------------------------------------------ logging
    def log(self, step, z1=None, z2=None, **scalars):
        """Sends one batch: z1 (N x d) and optionally its second view z2
        (same shape), as numpy arrays or torch tensors on any device, in
        float32, float64, float16 or bfloat16; scalars (loss=..., lr=...)
        are stored beside the metrics. Without z1, the scalars alone are
        sent (mon.log(step, loss=...); protocol `views` 0).

        Returns True when the batch was handed to ZeroMQ, False when it was
        skipped (`every`, not rank 0) or dropped (daemon slow or absent:
        counted in stats()["dropped"], one DropWarning per Monitor). Raises
        ValueError for bad input (not 2-D, views of different shapes, not a
        float dtype, bad names, too large without max_rows: on every call;
        NaN or Inf: on the calls that send) and RuntimeError after close(). A scalar whose value is NaN or Inf is left out of the batch
        with one RuntimeWarning (the protocol cannot carry it; a transient
        inf loss under mixed precision must not stop training).
        """
        if self._closed:
            raise RuntimeError("erwatch: log() on a closed Monitor (run %r)" % self.run)
        step = _protocol.check_step(step)
        if z1 is None:
            return self._log_scalars(step, z2, scalars)
        z1 = _convert.as_array_like(z1, "z1")
        n, d = _convert.shape2(z1, "z1")
        if z2 is not None:
            z2 = _convert.as_array_like(z2, "z2")
            if _convert.shape2(z2, "z2") != (n, d):
                raise ValueError("erwatch: the views differ in shape: z1 is %d x %d, z2 is %s"
                                 % (n, d, "x".join(map(str, tuple(z2.shape)))))
        _convert.check_dtype(z1, "z1")
        if z2 is not None:
            _convert.check_dtype(z2, "z2")
        sub = self.max_rows is not None and n > self.max_rows
        _protocol.check_shape(self.max_rows if sub else n, d,
                              "z1 after max_rows" if sub else "z1")
        values, nonfinite = _protocol.split_scalars(scalars)
        # Every check above is cheap and runs on every call, so an input is
        # refused whatever `every` says; NaN/Inf need a pass over the data
        # and are looked for only in batches that are sent.
        rank, world = self._rank_world()
        pooled = self.pool and world is not None and world >= 2
        if step % self.every != 0 or (world is not None and rank != 0 and not self.all_ranks
                                      and not pooled):
            with self._lock:
                self._skipped += 1
            return False

        idx, subsample = None, None
        if sub:
            with self._lock:  # the Generator is not thread-safe
                idx = np.sort(self._rng.choice(n, self.max_rows, replace=False))
            subsample, n = n, self.max_rows

        x, dtype, x_ours = _convert.prepare(z1, idx, "z1")
        frames = [(x, x_ours)]
        if z2 is not None:
            y, dtype2, y_ours = _convert.prepare(z2, idx, "z2")
            if dtype2 != dtype:  # e.g. one view under autocast: send both widened
                target = "f64" if "f64" in (dtype, dtype2) else "f32"
                x, y = _convert.widen(x, dtype, target), _convert.widen(y, dtype2, target)
                frames, dtype, y_ours = [(x, True)], target, True
            frames.append((y, y_ours))
        if nonfinite:
            self._warn_scalars(step, nonfinite)
        return self._send(step, dtype, n, d, frames, values, subsample, rank, world, pooled)

    def _log_scalars(self, step, z2, scalars):
        """log() without embeddings: a header-only batch of scalars."""
        if z2 is not None:
            raise ValueError("erwatch: z2 given without z1")
        if not scalars:
            raise ValueError("erwatch: log() needs embeddings (z1) or at least one scalar "
                             "(e.g. mon.log(step, loss=0.7))")
        values, nonfinite = _protocol.split_scalars(scalars)
        rank, world = self._rank_world()
        if step % self.every != 0 or (world is not None and rank != 0 and not self.all_ranks):
            with self._lock:
                self._skipped += 1
            return False
        if nonfinite:
            self._warn_scalars(step, nonfinite)
        if not values:
            return False  # every scalar was NaN or Inf: nothing left to send
        return self._send(step, None, 0, 0, [], values, None, rank, world)

    def _reap_locked(self):
        """Takes the frames ZeroMQ has finished with off the buffer's fill.
        Frames leave in the order they were sent."""
        p = self._pending
        while p and p[0][0].done:
            self._held -= p.popleft()[1]

    def _send(self, step, dtype, n, d, frames, scalars, subsample, rank, world, pooled=False):
        with self._lock:
            if self._closed:
                raise RuntimeError("erwatch: log() on a closed Monitor (run %r)" % self.run)
            options = dict(self._options, **self._meta) if self._meta else self._options
            hdr = _protocol.pack_header(self.run, self.tag, step, dtype, n, d, len(frames),
                                        self.support, self.kappa, rank, world, scalars,
                                        subsample, self._dropped, options,
                                        pool=pooled)
            if self._link.sock is None:  # a re-open failed earlier
                try:
                    self._link.open()
                except ValueError as e:
                    return self._drop_locked(e)
            sock = self._link.sock
            need = len(hdr) + sum(a.nbytes for a, _ in frames)
            self._reap_locked()
            if self._held and self._held + need > self._max_buffer:
                return self._drop_locked(zmq.Again())  # the byte budget is full
            # Tracked zero-copy frames: a tracker is done once ZeroMQ has
            # written (or discarded) the frame. A copy of the caller's array
            # when copy=True, so it may change as soon as log() returns; made
            # only once the header is in (no copy for a batch that drops).
            try:
                if frames:
                    sock.send(hdr, zmq.NOBLOCK | zmq.SNDMORE, copy=True)
                else:  # scalar-only: the header is the whole message
                    last = zmq.Frame(hdr, track=True, copy=False)
                    sock.send(last, zmq.NOBLOCK)
            except zmq.ZMQError as e:  # Again: no daemon, or its queue is full
                return self._drop_locked(e)
            try:
                for i, (a, ours) in enumerate(frames):
                    more = zmq.SNDMORE if i + 1 < len(frames) else 0
                    last = zmq.Frame(a.copy() if self.copy and not ours else a, track=True,
                                     copy=False)
                    sock.send(last, zmq.NOBLOCK | more)
            except zmq.ZMQError as e:
                # Only resource exhaustion gets here. A half-sent message
                # cannot be withdrawn: drop the socket, and the part with it.
                self._link.close(0)
                self._pending.clear()
                self._held = 0
                try:
                    self._link.open()
                except ValueError:
                    pass  # retried at the next log()
                return self._drop_locked(e)
            self._sent += 1
            self._since_flush += 1
            if self._meta:
                self._meta = {}  # handed over: later headers go without it
            if self._sent == 1:
                self._names.start()
            self._bytes += need
            # The header's bytes ride with the message's last frame.
            self._pending.append((last.tracker, need))
            self._held += need
            return True

    def _drop_locked(self, err):
        self._dropped += 1
        if not self._warned_drop:
            self._warned_drop = True
            why = "not reachable or too slow" if isinstance(err, zmq.Again) else str(err)
            warnings.warn("erwatch: dropping batches of run %r (daemon at %s %s). Training is "
                          "not affected; drops are counted in Monitor.stats() and reported "
                          "to the daemon. This warning is shown once."
                          % (self.run, self.endpoint, why), DropWarning, stacklevel=4)
        return False

    def _warn_scalars(self, step, names):
        if not self._warned_scalars:
            self._warned_scalars = True
            warnings.warn("erwatch: scalar(s) %s of run %r are NaN or Inf at step %d and are "
                          "left out (the protocol carries finite values only). This warning "
                          "is shown once." % (", ".join(sorted(names)), self.run, step),
                          RuntimeWarning, stacklevel=3)

    def _rank_world(self):
        """Explicit rank/world, else torch.distributed's once initialised."""
        if self._explicit_world or self._world is not None:
            return self._rank, self._world
        torch = _convert.torch_module()
        dist = getattr(torch, "distributed", None) if torch is not None else None
        if dist is not None and dist.is_available() and dist.is_initialized():
            self._rank, self._world = dist.get_rank(), dist.get_world_size()
        return self._rank, self._world

    # ------------------------------------------------------------ state
    def stats(self):
        """{"sent", "dropped", "bytes", "skipped", "buffered"}: batches
        handed to ZeroMQ, batches dropped (daemon slow/absent, or the byte
        budget full), bytes handed to ZeroMQ, calls skipped by `every` (or
        by not being rank 0), and bytes ZeroMQ holds now, not yet written out
        (at most max_buffer_mb)."""
        with self._lock:
            self._reap_locked()
            return {"sent": self._sent, "dropped": self._dropped, "bytes": self._bytes,
                    "skipped": self._skipped, "buffered": self._held}

    def wait_connected(self, timeout=1.0):
        """Waits up to timeout seconds until a batch would be accepted now
        (daemon connected, buffer not full). Returns True or False."""
        with self._lock:
            if self._closed:
                return False
            return self._link.wait_writable(int(timeout * 1000))

    def flush(self, timeout=5.0):
        """Waits up to timeout seconds for the batches ZeroMQ holds to leave
        this process. Returns True when they all did. The socket is rebuilt,
        and reconnects within what is left of the timeout."""
        with self._lock:
            if self._closed:
                return True
            if self._since_flush == 0 and self._link.sock is not None:
                return True  # nothing was handed to ZeroMQ since the last flush
            ms = max(0, int(timeout * 1000))
            if ms == 0:
                return False  # leave the queue alone rather than discard it
            t0 = time.monotonic()
            ok = self._link.close(ms)
            self._since_flush = 0
            self._pending.clear()  # the old socket's frames are gone, sent or not
            self._held = 0
            self._link.open()
            if ok:
                left = ms - (time.monotonic() - t0) * 1000
                self._link.wait_writable(int(max(0, left)))
            return ok

    @property
    def run_name(self):
        """The name the daemon stores this launch's batches under: the run
        name given, or NAME.2, NAME.3... when another launch has it (README,
        "Runs, launches and resume"). None until the daemon has confirmed it:
        a background thread asks (GET /api/run?launch=...) after the first
        batch is handed over; reading this never waits."""
        return self._names.value

    def wait_run_name(self, timeout=5.0):
        """Asks the daemon, for up to timeout seconds, until run_name is
        known; returns it (None on timeout, or before any batch was sent).
        For scripts, and after close(); not for the training loop."""
        return self._names.wait(timeout)

    def alerts(self, state="firing", tag=None, timeout=2.0):
        """The alerts of this run the daemon reports (schema/protocol.md,
        "Reply channel"): a list of dicts (rule, tag, metric, severity, value,
        fired_step, summary, ...), most recent first; [] when none. state:
        "firing", "pending", "resolved", "active", or several comma-separated;
        tag: only that tag (default: every tag of the run). Waits at most
        timeout seconds: call it every few hundred steps, or use on_alert.
        Returns None when the daemon's HTTP API cannot be asked (one
        AlertWarning per Monitor); never raises because of the daemon."""
        return self._asker.ask(state, tag, timeout)

    def close(self, timeout=5.0):
        """Flushes (up to timeout seconds) and releases the socket. Returns
        True when every batch handed to ZeroMQ left this process. Idempotent."""
        if self._watcher is not None:  # outside the lock: on_alert may log()
            self._watcher.stop()
        self._names.stop()
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            self._finalizer.detach()
            ok = self._link.close(max(0, int(timeout * 1000)))
            self._pending.clear()  # written out or discarded with the socket
            self._held = 0
            return ok and (self._since_flush == 0 or timeout > 0)

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        s = self.stats()
        return ("Monitor(run=%r, tag=%r, endpoint=%r, sent=%d, dropped=%d%s)"
                % (self.run, self.tag, self.endpoint, s["sent"], s["dropped"],
                   ", closed" if self._closed else ""))

    def __reduce__(self):
        raise TypeError("erwatch.Monitor cannot be pickled; create one per process")
