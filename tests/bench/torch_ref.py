#!/usr/bin/python3
"""torch_ref.py DIR: the PyTorch reference for bench_metrics.

Writes the benchmark inputs (two views per shape, raw float32 rows, fixed
seed) into DIR and times the same metrics written the way the upstream
Python code writes them (matmul + logsumexp for ER, pdist for uniformity,
float32 throughout, one thread), so bench_metrics can put our times next
to these. Output: DIR/torch.tsv, one line per shape and metric:
    shape  metric  median_ms  runs  value
plus "matmul", one x @ x.T, so the two measurement windows (this script's
and bench_metrics') can be compared on a shared machine.
Formulas: tests/vectors/README.md. The sphere metrics get l2-normalised
rows (F.normalize), RankMe and std_l2 the raw rows, as in metrics.h.
"""
import math
import os
import statistics
import sys
import time

# One thread for real: Debian's torch does its matmuls in the system
# OpenBLAS (pthread build), which torch.set_num_threads() does not pin; it
# reads these variables when it loads, so they must be set before numpy and
# torch are imported (measured: 2048x1024 x x^T 64 ms unpinned, 130 ms
# pinned, on 2 cores).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from scipy.special import ive  # noqa: E402

SHAPES = [(256, 128), (1024, 256), (4096, 256), (2048, 1024)]
KAPPA, T, ALPHA, W2_EPS, RANKME_EPS = 10.0, 2.0, 2.0, 1e-8, 1e-7


def vmf_log_norm(d, kappa):
    """c(d, kappa) with the reference's +1e-7 floor (README)."""
    nu = d / 2 - 1
    iv = ive(nu, kappa)
    ln_i = math.log(iv) + kappa if iv > 0 else -math.inf
    floor = math.log(1e-7)
    hi, lo = max(ln_i, floor), min(ln_i, floor)
    return -nu * math.log(kappa) + d / 2 * math.log(2 * math.pi) + hi + math.log1p(math.exp(lo - hi))


def er_entropy(z, c):
    n = z.shape[0]
    s = torch.logsumexp(KAPPA * (z @ z.T), dim=1)
    ell = c + math.log(n) - s
    return (torch.softmax(-ell, dim=0) * ell).sum()


def er_reconstruction(a, b, c):
    return c - KAPPA * (a * b).sum(dim=1).mean()


def uniform(z):
    return torch.pdist(z, p=2).pow(2).mul(-T).exp().mean().log()


def align(a, b):
    return (a - b).norm(p=2, dim=1).pow(ALPHA).mean()


def w2(z):
    n, d = z.shape
    mu = z.mean(dim=0)
    zc = z - mu
    cov = zc.T @ zc / n
    lam = torch.linalg.eigvalsh(cov).clamp(min=0)
    sq = mu.dot(mu) + 1 + cov.trace() - 2 / math.sqrt(d) * (lam + W2_EPS).sqrt().sum()
    return sq.clamp(min=0).sqrt()


def rankme(z):
    s = torch.linalg.svdvals(z)
    p = s / s.sum() + RANKME_EPS
    return torch.exp(-(p * p.log()).sum())


def std_l2(z):
    return F.normalize(z, dim=1).std(dim=0).mean()


def metric_fns(x, y, c):
    """name -> callable, each doing its own normalisation like one-metric sets."""
    nx = lambda: F.normalize(x, dim=1)
    ny = lambda: F.normalize(y, dim=1)

    def default_set():
        xs, ys = nx(), ny()
        return (er_entropy(xs, c), er_reconstruction(xs, ys, c), align(xs, ys), uniform(xs),
                w2(xs), rankme(x), std_l2(x))[0]

    return {
        "matmul": lambda: x @ x.T,  # torch's own floor: the Gram product
        "er_entropy": lambda: er_entropy(nx(), c),
        "er_reconstruction": lambda: er_reconstruction(nx(), ny(), c),
        "align": lambda: align(nx(), ny()),
        "uniform": lambda: uniform(nx()),
        "w2": lambda: w2(nx()),
        "rankme": lambda: rankme(x),
        "std_l2": lambda: std_l2(x),
        "default_set": default_set,
    }


def median_ms(fns):
    """name -> median ms, timed in rounds (every job once per round), so a
    slow phase of a shared machine hits all jobs alike. A warm-up round,
    then at least 3 rounds, more (up to 15) while under 3 s in all."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    start = time.perf_counter()
    rounds = 0
    while rounds < 3 or (rounds < 15 and time.perf_counter() - start < 3.0):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    return {name: (1e3 * statistics.median(t), len(t)) for name, t in times.items()}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_ref.py DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    rng = np.random.default_rng(20240601)
    lines = []
    with torch.no_grad():
        for n, d in SHAPES:
            x = rng.standard_normal((n, d), dtype=np.float32) * np.float32(3.0)
            y = x + rng.standard_normal((n, d), dtype=np.float32)
            x.tofile(os.path.join(out, f"x_{n}x{d}.f32"))
            y.tofile(os.path.join(out, f"y_{n}x{d}.f32"))
            c = vmf_log_norm(d, KAPPA)
            fns = metric_fns(torch.from_numpy(x), torch.from_numpy(y), c)
            medians = median_ms(fns)
            for name, fn in fns.items():
                ms, runs = medians[name]
                val = float(fn()) if name not in ("default_set", "matmul") else float("nan")
                lines.append(f"{n}x{d}\t{name}\t{ms:.4f}\t{runs}\t{val:.9g}")
                print(lines[-1], flush=True)
    with open(os.path.join(out, "torch.tsv"), "w") as f:
        f.write("# shape\tmetric\tmedian_ms\truns\tvalue (torch %s, 1 thread)\n" % torch.__version__)
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
