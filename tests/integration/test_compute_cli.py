"""`erwatch compute` over every case of tests/vectors/cases.txt, in both
precisions: the double reference path at the acceptance thresholds of the
vectors' README, the float path (the daemon's kernels) within 10x its
float32 tolerance table. Expected values are read from the file, never
typed in here."""

import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import ERWATCH, VECTORS, run_all, test  # noqa: E402


def cases():
    out = []
    with open(os.path.join(VECTORS, "cases.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            out.append(dict(tok.split("=", 1) for tok in line.split()))
    assert len(out) > 300, "too few cases read from %s" % VECTORS
    return out


def args(c, precision):
    a = [ERWATCH, "compute", c["metric"], os.path.join(VECTORS, c["x"])]
    if c["y"] != "na":
        a.append(os.path.join(VECTORS, c["y"]))
    a += ["--shape", "%s,%s" % (c["N"], c["d"]), "--precision", precision]
    for key in ("kappa", "support", "reduction", "t", "alpha", "eps", "iters"):
        if c[key] != "na":
            a += ["--" + key, c[key]]
    return a


def double_tol(c):
    tol = 1e-7 if c["metric"] == "w2_loss" else 1e-9
    if c["metric"].startswith("er_") and c["support"] == "sphere":
        tol += 1e-12 * float(c["kappa"])
    return tol


def float_tol(c, exp):
    """10x the float32 table of tests/vectors/README.md."""
    m = c["metric"]
    if m.startswith("er_"):
        if c["support"] == "sphere":
            return 10 * 2e-7 * (abs(exp) + float(c["kappa"]))
        return 10 * 2e-7
    if m in ("align", "uniform", "std_l2"):
        return 10 * 2e-7
    if m == "sinkhorn":
        return 10 * 1e-7
    if m == "rankme":
        return 10 * 2.4e-6 * max(1.0, abs(exp))  # relative
    if m == "w2":
        deficient = (int(c["N"]) <= int(c["d"]) or "collapsed" in c["note"]
                     or "low_rank" in c["note"] or "rank" in c["name"])
        return 10 * 3.5e-4 if deficient else 10 * 6e-7
    if m == "w2_loss":
        return 10 * 1e-4
    raise AssertionError("no tolerance for " + m)


def check(precision, tolf):
    bad = []
    for c in cases():
        p = subprocess.run(args(c, precision), capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            bad.append("%s: exit %d: %s" % (c["name"], p.returncode, p.stderr.strip()))
            continue
        got, exp = float(p.stdout), float(c["expected_f64"])
        if math.isnan(exp):
            if not math.isnan(got) or not p.stderr.strip():
                bad.append("%s: expected nan with a reason, got %r" % (c["name"], p.stdout))
            continue
        err = abs(got - exp) / max(1.0, abs(exp))
        if not err <= tolf(c, exp):
            bad.append("%s: got %.17g expected %.17g (mixed %.3g > %.3g)"
                       % (c["name"], got, exp, err, tolf(c, exp)))
    assert not bad, "\n".join(bad[:20]) + "\n(%d failing)" % len(bad)


@test
def double_precision_matches_every_case():
    check("double", lambda c, exp: double_tol(c))


@test
def float_precision_matches_every_case():
    check("float", float_tol)


if __name__ == "__main__":
    run_all()
