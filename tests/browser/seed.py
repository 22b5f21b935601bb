"""Synthetic training runs for the dashboard's tests and screenshot.

Two runs push real embedding batches through the C client library (the
daemon computes every metric itself):
  - a healthy one: unit rows spread over the sphere, the spread slowly
    improving, loss falling;
  - a collapsing one: healthy at first, then from `collapse_at` on the rows
    are pulled onto one direction (complete collapse) while its loss keeps
    falling, which is exactly the failure the dashboard is for.

    seed.py ENDPOINT [--steps N] [--every K]   (for manual use)
"""

import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402

N, D = 128, 32
# Every push of this module is one launch, whichever process makes it, so
# that a later push_point() continues the same runs (README, "Runs,
# launches and resume").
LAUNCH = "browser-seed"
# What the dashboard's "Run details" card must show (test_dashboard.mjs).
CONFIGS = {"simclr-healthy": ('{"lr": 0.05, "batch_size": 128, "optimizer": {"name": "sgd", '
                              '"momentum": 0.9}}', "baseline run"),
           "byol-collapsing": ('{"lr": 0.3, "batch_size": 128, "optimizer": {"name": "sgd", '
                               '"momentum": 0.99}}', "lr too high:\nwatch the entropy")}


def healthy_batch(rng, step, steps):
    import numpy as np
    # anisotropy that fades as training goes on: rank and uniformity improve
    scale = np.linspace(1.0, 0.25 + 0.75 * min(1.0, step / max(1, steps)), D)
    x = rng.standard_normal((N, D)) * scale
    y = x + 0.35 * rng.standard_normal((N, D)) * scale
    return _unit(x), _unit(y)


def collapsing_batch(rng, step, steps, collapse_at):
    import numpy as np
    t = 0.0 if step < collapse_at else min(1.0, (step - collapse_at) / max(1, (steps - collapse_at) * 0.7))
    a = t ** 1.5
    direction = np.ones(D) / math.sqrt(D)
    x = rng.standard_normal((N, D)) * (1 - a) * 0.9 + a * 6.0 * direction
    y = x + 0.3 * (1 - a) * rng.standard_normal((N, D))
    return _unit(x), _unit(y)


def _unit(x):
    import numpy as np
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype("float32")


def push_runs(endpoint, steps=60, every=1, first=0, collapse_at=None, seed=7,
              healthy="simclr-healthy", collapsing="byol-collapsing", tag="projector"):
    """Pushes steps [first, first + steps) of both runs. Returns the count."""
    import numpy as np
    rng = np.random.default_rng(seed + first)
    collapse_at = steps // 3 if collapse_at is None else collapse_at
    c = harness.CClient(endpoint, launch=LAUNCH)
    try:
        c.wait_connected(5000)
        sent = 0
        for s in range(first, first + steps * every, every):
            x, y = healthy_batch(rng, s, steps * every)
            loss = 2.2 * math.exp(-s / (steps * every * 0.45)) + 0.35 + 0.02 * rng.standard_normal()
            if s == first and healthy in CONFIGS:
                assert c.set_meta(*CONFIGS[healthy]) == 0
            while c.push(healthy, tag, s, x, y, scalars={"loss": loss}) != 0:
                c.flush(100)
            x, y = collapsing_batch(rng, s, steps * every, collapse_at * every)
            loss = 2.1 * math.exp(-s / (steps * every * 0.3)) + 0.12 + 0.02 * rng.standard_normal()
            if s == first and collapsing in CONFIGS:
                assert c.set_meta(*CONFIGS[collapsing]) == 0
            while c.push(collapsing, tag, s, x, y, scalars={"loss": loss}) != 0:
                c.flush(100)
            sent += 2
        c.flush(10000)
        return sent
    finally:
        c.close()


def push_point(endpoint, run, tag, step, seed=1):
    """One more healthy batch of `run` at `step` (a live update)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    c = harness.CClient(endpoint, launch=LAUNCH)
    try:
        c.wait_connected(5000)
        x, y = healthy_batch(rng, step, step + 1)
        while c.push(run, tag, step, x, y, scalars={"loss": 0.3}) != 0:
            c.flush(100)
        c.flush(10000)
    finally:
        c.close()


def push_run(endpoint, run, tag, steps, d, seed=2):
    """A short healthy run of its own tag and width: steps 0..steps-1, d
    columns (another batch shape, hence other reference levels)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    c = harness.CClient(endpoint)
    try:
        c.wait_connected(5000)
        for s in range(steps):
            x = _unit(rng.standard_normal((N, d)))
            while c.push(run, tag, s, x, scalars={"loss": 1.0}) != 0:
                c.flush(100)
        c.flush(10000)
    finally:
        c.close()


def push_many(endpoint, runs, tag, step=0, seed=2):
    """One healthy batch for each of `runs` (many runs at once, for the list)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    c = harness.CClient(endpoint)
    try:
        c.wait_connected(5000)
        x, y = healthy_batch(rng, step, step + 1)
        for run in runs:
            while c.push(run, tag, step, x, y) != 0:
                c.flush(100)
        c.flush(10000)
    finally:
        c.close()


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--every", type=int, default=1)
    a = ap.parse_args()
    print(push_runs(a.endpoint, a.steps, a.every))
