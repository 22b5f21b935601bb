#!/usr/bin/python3
"""SimSiam on scikit-learn's digits, watched by erwatch: one healthy run and
two collapsing ones, side by side in the daemon.

    make demo                                   # starts erwatchd if needed
    PYTHONPATH=client/python python3 client/python/examples/simsiam_digits.py [--quick]

A small SimSiam (Chen & He, CVPR 2021): an MLP encoder, an MLP projector and
a bottleneck predictor, trained on the 1797 8x8 digits bundled with
scikit-learn (no download), on the CPU. Two augmented views of each image
(pixel shifts, masking, noise); the loss is the symmetric negative cosine
between one view's prediction and the other view's projection. Three runs:

  healthy      stop-gradient on the projection, BatchNorm at the projector
               output: the embeddings stay spread out.
  collapse     no stop-gradient, no BatchNorm at the projector output: every
               input maps to the same point (complete collapse).
  dimensional  no stop-gradient, BatchNorm at the projector output: the
               normalisation keeps the points apart, but they crowd into a
               few directions (dimensional collapse).

Every step logs the projector outputs of both views and the loss, so the
daemon computes the collapse metrics of each run as it trains. The loss alone
does not tell the runs apart well: the collapsing runs reach a lower loss.

The runs are deterministic for a given --threads (seeds, one sampler per run,
deterministic torch kernels): the same command stores the same values. Another
thread count sums in another order, and the collapsing runs amplify that into
slightly different curves with the same picture.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the erwatch package beside examples/

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
except ImportError as e:
    sys.exit("demo: %s; the demo needs PyTorch and scikit-learn: "
             "apt-get install python3-torch python3-sklearn" % e)

import erwatch  # noqa: E402

RUNS = {  # name: (stop-gradient, BatchNorm at the projector output)
    "healthy": (True, True),
    "collapse": (False, False),
    "dimensional": (False, True),
}
DIM = 64       # projector output: the embedding erwatch watches
HIDDEN = 256   # encoder and projector width
PRED = 32      # predictor bottleneck (d/2 as in the paper's 2048 -> 512)


# ---------------------------------------------------------------- model

def mlp_block(d_in, d_out):
    return [nn.Linear(d_in, d_out, bias=False), nn.BatchNorm1d(d_out), nn.ReLU(inplace=True)]


class SimSiam(nn.Module):
    def __init__(self, bn_out):
        super().__init__()
        self.encoder = nn.Sequential(*mlp_block(64, HIDDEN), *mlp_block(HIDDEN, HIDDEN))
        proj = mlp_block(HIDDEN, HIDDEN) + [nn.Linear(HIDDEN, DIM, bias=not bn_out)]
        if bn_out:
            proj.append(nn.BatchNorm1d(DIM, affine=False))
        self.projector = nn.Sequential(*proj)
        self.predictor = nn.Sequential(*mlp_block(DIM, PRED), nn.Linear(PRED, DIM))

    def forward(self, x1, x2):
        z1 = self.projector(self.encoder(x1))
        z2 = self.projector(self.encoder(x2))
        return z1, z2, self.predictor(z1), self.predictor(z2)


def simsiam_loss(p1, p2, z1, z2, stop_grad):
    if stop_grad:
        z1, z2 = z1.detach(), z2.detach()
    return -(F.cosine_similarity(p1, z2, dim=1).mean() +
             F.cosine_similarity(p2, z1, dim=1).mean()) / 2


# ---------------------------------------------------------------- data

def load_digits_tensor():
    x = load_digits().data.astype(np.float32) / 16.0  # 1797 x 64, in [0, 1]
    return torch.from_numpy(x).view(-1, 8, 8)


def augment(x, g):
    """x: B x 8 x 8 in [0, 1]. A random shift of up to one pixel (zero
    padding), a random contrast, 20% of the pixels masked, Gaussian noise."""
    b = x.shape[0]
    padded = F.pad(x, (1, 1, 1, 1))
    oy = torch.randint(0, 3, (b, 1, 1), generator=g)
    ox = torch.randint(0, 3, (b, 1, 1), generator=g)
    ar = torch.arange(8)
    rows = (oy + ar.view(1, 8, 1)).expand(b, 8, 8)
    cols = (ox + ar.view(1, 1, 8)).expand(b, 8, 8)
    out = padded[torch.arange(b).view(b, 1, 1), rows, cols]
    out = out * (0.7 + 0.6 * torch.rand(b, 1, 1, generator=g))
    out = out * (torch.rand(b, 8, 8, generator=g) >= 0.2)
    out = out + 0.1 * torch.randn(b, 8, 8, generator=g)
    return out.reshape(b, 64)


# ---------------------------------------------------------------- training

def train(name, args, data, endpoint):
    stop_grad, bn_out = RUNS[name]
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed + 1)
    model = SimSiam(bn_out)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    run = args.prefix + name
    mon = erwatch.Monitor(run=run, tag="projector", endpoint=endpoint, kappa=args.kappa)
    t0 = time.monotonic()
    for step in range(args.steps):
        idx = torch.randint(0, data.shape[0], (args.batch,), generator=g)
        x = data[idx]
        z1, z2, p1, p2 = model(augment(x, g), augment(x, g))
        loss = simsiam_loss(p1, p2, z1, z2, stop_grad)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        mon.log(step, z1, z2, loss=loss.item(), lr=args.lr)  # the two lines erwatch needs
        if args.verbose and (step % 50 == 0 or step == args.steps - 1):
            print("  %-12s step %4d  loss %+.4f" % (name, step, loss.item()), flush=True)
    took = time.monotonic() - t0
    flushed = mon.close(timeout=10)
    st = mon.stats()
    print("%-28s %d steps in %5.1f s; batches sent %d, dropped %d%s"
          % (run, args.steps, took, st["sent"], st["dropped"],
             "" if flushed else " (some may not have left before close)"), flush=True)
    return run, st["sent"]


# ---------------------------------------------------------------- daemon

def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def http_alive(http):
    try:
        return http_get(http + "/api/health")[0] == 200
    except OSError:
        return False


def zmq_alive(endpoint, timeout=0.5):
    import zmq
    ctx = zmq.Context()
    try:
        s = ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.IMMEDIATE, 1)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        ok = bool(s.poll(int(timeout * 1000), zmq.POLLOUT))
        s.close()
        return ok
    finally:
        ctx.term()


def start_daemon(binary, endpoint, http):
    """Starts erwatchd in its own session (it outlives the demo, so that
    the curves can be looked at); returns its pid."""
    hostport = urllib.parse.urlsplit(http).netloc
    fd, ready = tempfile.mkstemp(prefix="erwatchd-demo-", suffix=".ready")
    os.close(fd)
    os.unlink(ready)
    log_path = os.path.join(os.path.dirname(os.path.abspath(binary)), "erwatchd-demo.log")
    with open(log_path, "ab") as log:
        p = subprocess.Popen([binary, "--zmq", endpoint, "--http", hostport,
                              "--ready-file", ready],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 15
    while not os.path.exists(ready):
        if p.poll() is not None or time.monotonic() > deadline:
            with open(log_path, errors="replace") as f:
                sys.exit("demo: could not start %s (log %s):\n%s"
                         % (binary, log_path, f.read()[-2000:]))
        time.sleep(0.05)
    os.unlink(ready)
    print("started %s (pid %d, database ./erwatch.db, log %s)" % (binary, p.pid, log_path))
    return p.pid


# ---------------------------------------------------------------- summary

def collapsed_floor(d, kappa):
    """The lowest value of er_entropy (sphere): c(d, kappa) - kappa, with
    c(d, kappa) = -nu ln kappa + (d/2) ln 2pi + ln(I_nu(kappa) + 1e-7),
    nu = d/2 - 1. None when scipy is not there."""
    try:
        from scipy.special import ive
    except ImportError:
        return None
    nu = d / 2.0 - 1.0
    log_i = math.log(ive(nu, kappa)) + kappa  # ive = I * exp(-kappa)
    log_i = log_i + math.log1p(1e-7 * math.exp(-log_i))  # the reference's + 1e-7
    return -nu * math.log(kappa) + d / 2.0 * math.log(2 * math.pi) + log_i - kappa


def tail_mean(http, run, metric, steps):
    """Mean of (run, projector, metric) over the last 10% of steps 0..steps-1."""
    k = max(1, steps // 10)
    q = urllib.parse.urlencode({"run": run, "tag": "projector", "metric": metric,
                                "after": steps - k - 1, "before": steps})
    try:
        body = json.loads(http_get(http + "/api/series?" + q, timeout=10)[1])
    except OSError:  # 404: the daemon does not compute this metric
        return None
    vals = [v for v in body["value"] if v is not None]
    return sum(vals) / len(vals) if vals else None


def stored_batches(http):
    try:
        return json.loads(http_get(http + "/api/health", timeout=10)[1])["batches"]["stored"]
    except (OSError, ValueError, KeyError):
        return None


def wait_stored(http, target, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = stored_batches(http)
        if n is None or n >= target:
            return
        time.sleep(0.1)


def summary(http, runs, args):
    """One line per run: the mean over the last 10% of steps of each series
    the daemon has (std_l2 and rankme only when it computes them)."""
    floor = collapsed_floor(DIM, args.kappa)
    vals = {r: {m: tail_mean(http, r, m, args.steps)
                for m in ("er_entropy", "er_reconstruction", "std_l2", "rankme", "loss")}
            for r in runs}
    cols = [("er_entropy", "er_entropy", "%.3f", lambda v: v["er_entropy"])]
    if floor is not None:
        cols.append(("above floor", "er_entropy", "%.3f", lambda v: v["er_entropy"] - floor))
    cols += [("er_reconstr.", "er_reconstruction", "%.3f", lambda v: v["er_reconstruction"]),
             ("std_l2*sqrt(d)", "std_l2", "%.3f", lambda v: v["std_l2"] * math.sqrt(DIM)),
             ("rankme", "rankme", "%.2f", lambda v: v["rankme"]),
             ("loss", "loss", "%.4f", lambda v: v["loss"])]
    cols = [c for c in cols if any(vals[r][c[1]] is not None for r in runs)]
    print("\nmean of the last 10%% of steps (d = %d, kappa = %g%s):"
          % (DIM, args.kappa, "" if floor is None else
             "; er_entropy of a fully collapsed batch: %.3f" % floor))
    print("%-28s" % "run" + "".join("%15s" % c[0] for c in cols))
    for r in runs:
        print("%-28s" % r + "".join(
            "%15s" % ("-" if vals[r][key] is None else fmt % f(vals[r]))
            for _, key, fmt, f in cols))


# ---------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a short version of the three runs (the test suite's)")
    ap.add_argument("--steps", type=int, help="steps per run (default 400; --quick 150)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--kappa", type=float, default=10.0, help="vMF concentration for er_*")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 is fastest for this small model on a busy machine)")
    ap.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of %s"
                    % ", ".join(RUNS))
    ap.add_argument("--prefix", default="simsiam-digits-", help="run name prefix")
    ap.add_argument("--endpoint", default=os.environ.get("ERWATCH_ENDPOINT",
                                                         erwatch.DEFAULT_ENDPOINT))
    ap.add_argument("--http", default=os.environ.get("ERWATCH_HTTP", "http://127.0.0.1:8080"),
                    help="the daemon's HTTP address, to read the results back")
    ap.add_argument("--start-daemon", metavar="ERWATCHD",
                    help="start this erwatchd when no daemon answers (it keeps running)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.steps is None:
        args.steps = 150 if args.quick else 400
    names = [n for n in args.runs.split(",") if n]
    for n in names:
        if n not in RUNS:
            ap.error("unknown run %r (known: %s)" % (n, ", ".join(RUNS)))
    args.http = args.http.rstrip("/")

    started = None
    if not http_alive(args.http) and not zmq_alive(args.endpoint):
        if args.start_daemon:
            started = start_daemon(args.start_daemon, args.endpoint, args.http)
        else:
            print("demo: no erwatchd at %s; the batches will be dropped (and counted). "
                  "Start one with `make run`, or pass --start-daemon build/erwatchd."
                  % args.endpoint, file=sys.stderr)

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    data = load_digits_tensor()
    print("SimSiam on digits (%d images): %s, %d steps of batch %d, lr %g, %d thread(s); "
          "erwatchd at %s" % (data.shape[0], ", ".join(names), args.steps, args.batch, args.lr,
                              args.threads, args.endpoint), flush=True)
    before = stored_batches(args.http)
    runs, sent = [], 0
    for n in names:
        run, k = train(n, args, data, args.endpoint)
        runs.append(run)
        sent += k

    if http_alive(args.http):
        if before is not None:
            wait_stored(args.http, before + sent)
        summary(args.http, runs, args)
        try:
            has_ui = http_get(args.http + "/")[0] == 200
        except OSError:
            has_ui = False
        view = urllib.parse.urlencode([("run", r) for r in runs] + [("tag", "projector")])
        if has_ui:
            print("\nDashboard: %s/?%s" % (args.http, view))
        else:
            print("\nThis erwatchd serves no dashboard page; the JSON API has every series:")
            for r in runs:
                print("  %s/api/series?%s" % (args.http, urllib.parse.urlencode(
                    {"run": r, "tag": "projector", "metric": "er_entropy"})))
    if started:
        print("\nerwatchd (pid %d) keeps running so that you can look at the curves; "
              "stop it with: kill %d" % (started, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
