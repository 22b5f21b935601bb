"""The wire protocol's rules on the client side (schema/protocol.md).

Everything the daemon would reject is checked here, before a batch is sent,
so that a mistake surfaces as a ValueError at the call that made it instead
of a counter in the daemon's /api/health. The limits and the metric catalogue
are copies of common/ew_protocol.h (which the daemon and the C client
compile in), so that the package stands on its own;
tests/integration/test_facts.py fails when a copy drifts from the header.
"""

import functools
import json
import math
import numbers
import os
import time

import msgpack

VERSION = 1
NAME_MAX = 128          # bytes of UTF-8 in run, tag and scalar names
N_MAX = 65536           # rows per view
D_MAX = 8192            # columns
ELEMS_MAX = 1 << 25     # N * d
SCALARS_MAX = 64
KAPPA_MAX = 100000.0
WORLD_MAX = 65536
STEP_MAX = (1 << 63) - 1
HEADER_MAX = 65536
LAUNCH_MAX = 128        # bytes of the launch identity
CONFIG_MAX = 32768      # bytes of the config as JSON text (UTF-8)
NOTES_MAX = 4096        # bytes of notes (UTF-8)
SUPPORTS = ("sphere", "discrete", "scores")
# The metric catalogue (header key `metrics`); the daemon rejects other names.
METRICS = ("er_entropy", "er_reconstruction", "align", "uniform", "w2", "rankme", "std_l2")
# Optional metric parameters: name -> (upper bound, must be an int).
PARAMS = {"t": (1000.0, False), "alpha": (16.0, False), "eps": (100.0, False),
          "iters": (100, True)}


def check_name(name, what):
    """Returns name if it follows the protocol's name rule, else raises."""
    if not isinstance(name, str):
        raise ValueError("erwatch: %s must be a str, got %s" % (what, type(name).__name__))
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raise ValueError("erwatch: %s %r is not valid UTF-8" % (what, name)) from None
    if not 1 <= len(raw) <= NAME_MAX:
        raise ValueError("erwatch: %s %r must be 1 to %d bytes of UTF-8 (is %d)"
                         % (what, name, NAME_MAX, len(raw)))
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise ValueError("erwatch: %s %r contains a control character" % (what, name))
    return name


def check_launch(launch, what="launch"):
    """A launch identity: 1 to 128 bytes of printable ASCII, no spaces."""
    if not isinstance(launch, str) or not 1 <= len(launch) <= LAUNCH_MAX \
            or any(not 0x21 <= ord(c) <= 0x7E for c in launch):
        raise ValueError("erwatch: %s must be 1 to %d printable ASCII characters without "
                         "spaces (e.g. a hex id), got %r" % (what, LAUNCH_MAX, launch))
    return launch


_process_launch = None


def default_launch():
    """The launch identity of a Monitor that is not given one: $ERWATCH_LAUNCH
    (set it before starting the ranks of a distributed job so they share
    it), else torchrun's $TORCHELASTIC_RUN_ID and restart count (unless the
    id is torchrun's default "none"), else a random 128-bit id drawn once
    per process, so that the Monitors of one process (several tags) share
    it and every new process is a new launch."""
    global _process_launch
    env = os.environ.get("ERWATCH_LAUNCH")
    if env:
        return check_launch(env, "$ERWATCH_LAUNCH")
    rid = os.environ.get("TORCHELASTIC_RUN_ID")
    if rid and rid != "none":
        restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        return check_launch("%s.%s" % (rid, restart)[:LAUNCH_MAX], "$TORCHELASTIC_RUN_ID")
    if _process_launch is None:
        _process_launch = os.urandom(16).hex()
    return _process_launch


def pack_config(config):
    """config (a dict of hyper-parameters) as the JSON text the header's
    `config` key carries, or None. Raises ValueError when it is not a dict,
    cannot be written as JSON (NaN, Inf, objects JSON has no form for), or
    is over CONFIG_MAX bytes."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise ValueError("erwatch: config must be a dict (a JSON object), got %s"
                         % type(config).__name__)
    try:
        text = json.dumps(config, allow_nan=False, ensure_ascii=False,
                          separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError("erwatch: config cannot be stored as JSON: %s" % e) from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > CONFIG_MAX:
        raise ValueError("erwatch: config is %d bytes as JSON, the limit is %d"
                         % (size, CONFIG_MAX))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("erwatch: config holds a string that is not valid UTF-8") from None
    return text


def check_notes(notes):
    """Free text up to NOTES_MAX bytes of UTF-8; newlines and tabs allowed."""
    if notes is None:
        return None
    if not isinstance(notes, str):
        raise ValueError("erwatch: notes must be a str, got %s" % type(notes).__name__)
    try:
        raw = notes.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("erwatch: notes is not valid UTF-8") from None
    if len(raw) > NOTES_MAX:
        raise ValueError("erwatch: notes is %d bytes, the limit is %d" % (len(raw), NOTES_MAX))
    if any((b < 0x20 and b not in (9, 10)) or b == 0x7F for b in raw):
        raise ValueError("erwatch: notes contains a control character (newlines and tabs "
                         "are fine)")
    return notes


@functools.lru_cache(maxsize=256)
def _check_scalar_name(name):
    """check_name for scalar names, remembered: the same few names come
    with every batch."""
    return check_name(name, "scalar name")


def check_kappa(kappa):
    if kappa is None:
        return None
    if isinstance(kappa, bool) or not isinstance(kappa, numbers.Real):
        raise ValueError("erwatch: kappa must be a number, got %r" % (kappa,))
    k = float(kappa)
    if not (math.isfinite(k) and 0.0 < k <= KAPPA_MAX):
        raise ValueError("erwatch: kappa must be finite, 0 < kappa <= %g (got %r)"
                         % (KAPPA_MAX, kappa))
    return k


def check_support(support):
    if support not in SUPPORTS:
        raise ValueError("erwatch: support must be one of %s, got %r"
                         % (", ".join(map(repr, SUPPORTS)), support))
    return support


def check_metrics(metrics):
    """None (the daemon computes every metric that applies) or a tuple of
    distinct catalogue names."""
    if metrics is None:
        return None
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("erwatch: metrics must name at least one metric (or be None for all)")
    for m in metrics:
        if m not in METRICS:
            raise ValueError("erwatch: unknown metric %r (known: %s)" % (m, ", ".join(METRICS)))
    if len(set(metrics)) != len(metrics):
        raise ValueError("erwatch: metrics lists a metric twice: %r" % (metrics,))
    return metrics


def check_param(name, value):
    """A metric parameter (t, alpha, eps, iters) or None (daemon default)."""
    if value is None:
        return None
    hi, integral = PARAMS[name]
    if integral:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
                or not 1 <= value <= hi:
            raise ValueError("erwatch: %s must be an int, 1 to %d (got %r)" % (name, hi, value))
        return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not (math.isfinite(value) and 0.0 < value <= hi):
        raise ValueError("erwatch: %s must be finite, 0 < %s <= %g (got %r)"
                         % (name, name, hi, value))
    return float(value)


def check_step(step):
    """Accepts Python, numpy and 0-d torch integers; returns an int."""
    if isinstance(step, bool):
        raise ValueError("erwatch: step must be an integer, got %r" % (step,))
    try:
        s = step.__index__()
    except (AttributeError, TypeError):
        raise ValueError("erwatch: step must be an integer, got %r" % (step,)) from None
    if not 0 <= s <= STEP_MAX:
        raise ValueError("erwatch: step must be 0 to 2^63-1, got %d" % s)
    return s


def check_rank_world(rank, world):
    if world is None:
        if rank is not None:
            raise ValueError("erwatch: rank given without world")
        return None, None
    rank = 0 if rank is None else rank
    if not (isinstance(world, numbers.Integral) and isinstance(rank, numbers.Integral)):
        raise ValueError("erwatch: rank and world must be integers")
    if not (1 <= world <= WORLD_MAX and 0 <= rank < world):
        raise ValueError("erwatch: need 0 <= rank < world <= %d (got rank %d, world %d)"
                         % (WORLD_MAX, rank, world))
    return int(rank), int(world)


def check_shape(n, d, what="z1"):
    if not (1 <= n <= N_MAX and 1 <= d <= D_MAX):
        raise ValueError("erwatch: %s is %d x %d; the protocol allows 1..%d rows and 1..%d "
                         "columns (max_rows= sends a random subset of rows)"
                         % (what, n, d, N_MAX, D_MAX))
    if n * d > ELEMS_MAX:
        raise ValueError("erwatch: %s is %d x %d = %d elements, over the limit of %d; "
                         "use max_rows=%d or fewer" % (what, n, d, n * d, ELEMS_MAX, ELEMS_MAX // d))


def split_scalars(scalars):
    """Validates scalar names and values. Returns (finite, nonfinite_names):
    a dict of the finite values as floats, and the names whose value was NaN
    or Inf (the protocol cannot carry those; the caller leaves them out)."""
    if len(scalars) > SCALARS_MAX:
        raise ValueError("erwatch: at most %d scalars per batch (got %d)"
                         % (SCALARS_MAX, len(scalars)))
    out, bad = {}, []
    for name, value in scalars.items():
        _check_scalar_name(name)  # kwargs keys: always hashable str
        try:
            v = float(value)  # floats, ints, numpy scalars, 0-d tensors
        except (TypeError, ValueError):
            raise ValueError("erwatch: scalar %s=%r is not a number" % (name, value)) from None
        if isinstance(value, bool):
            raise ValueError("erwatch: scalar %s=%r is a bool, not a number" % (name, value))
        if math.isfinite(v):
            out[name] = v
        else:
            bad.append(name)
    return out, bad


def pack_header(run, tag, step, dtype, n, d, views, support, kappa, rank, world,
                scalars, subsample, dropped, options=None, now=None, pool=False):
    """The msgpack header of one batch (bytes). Arguments are already
    validated; options holds the optional metric keys that are set
    (metrics, t, alpha, eps, iters). dtype None: a scalar-only batch
    (views 0, no dtype or shape). Key order follows protocol.md's table."""
    h = {"v": VERSION, "run": run, "tag": tag, "step": step}
    if dtype is not None:
        h["dtype"] = dtype
        h["shape"] = [n, d]
    h["views"] = views
    h["support"] = support
    if kappa is not None:
        h["kappa"] = kappa
    if options:
        h.update(options)
    if world is not None:
        h["rank"] = rank
        h["world"] = world
        if pool:
            h["pool"] = True
    h["time"] = time.time() if now is None else now
    if scalars:
        h["scalars"] = scalars
    if subsample is not None:
        h["subsample"] = subsample
    h["dropped"] = dropped
    return msgpack.packb(h, use_bin_type=True)
