"""Facts written once, checked everywhere else: the protocol's limits and
the metric catalogue live in common/ew_protocol.h (the daemon and the C
client compile them in). The copies in other languages and in the docs are
checked here against what the C compiler makes of that header
(build/tests/dump_facts), so that a change in one place without the others
fails `make test`:

  client/python/erwatch/_protocol.py  limits, parameter bounds, METRICS,
                                      SUPPORTS
  web/src/chart.js                    METRIC_INFO's keys (the panels)
  schema/protocol.md                  the header table's limits and the
                                      names of metrics, dtypes, supports

No daemon is started.
"""

import json
import os
import re
import subprocess
import sys

import harness
from harness import test, run_all

sys.path.insert(0, os.path.join(harness.ROOT, "client", "python"))
from erwatch import _protocol  # noqa: E402


def facts():
    out = subprocess.run([os.path.join(harness.BUILD, "tests", "dump_facts")],
                         check=True, capture_output=True, timeout=30).stdout
    return json.loads(out)


F = facts()
LIM = F["limits"]
NAMES = [m["name"] for m in F["metrics"]]


def read(rel):
    with open(os.path.join(harness.ROOT, rel), encoding="utf-8") as f:
        return f.read()


@test
def header_is_sane():
    # The dump itself: a catalogue that lost its entries or limits that
    # came out as 0 would make every comparison below vacuous.
    assert len(NAMES) >= 7 and len(set(NAMES)) == len(NAMES), NAMES
    assert all(v > 0 for v in LIM.values()), LIM
    assert {m["views"] for m in F["metrics"]} <= {1, 2}, F["metrics"]


@test
def python_limits_match_header():
    pairs = [("VERSION", _protocol.VERSION), ("HEADER_MAX", _protocol.HEADER_MAX),
             ("NAME_MAX", _protocol.NAME_MAX), ("N_MAX", _protocol.N_MAX),
             ("D_MAX", _protocol.D_MAX), ("ELEMS_MAX", _protocol.ELEMS_MAX),
             ("SCALARS_MAX", _protocol.SCALARS_MAX), ("KAPPA_MAX", _protocol.KAPPA_MAX),
             ("WORLD_MAX", _protocol.WORLD_MAX),
             ("T_MAX", _protocol.PARAMS["t"][0]), ("ALPHA_MAX", _protocol.PARAMS["alpha"][0]),
             ("EPS_MAX", _protocol.PARAMS["eps"][0]),
             ("ITERS_MAX", _protocol.PARAMS["iters"][0])]
    bad = [(k, LIM[k], py) for k, py in pairs if LIM[k] != py]
    assert not bad, "header vs _protocol.py (name, C, Python): %r" % (bad,)
    assert set(_protocol.PARAMS) == {"t", "alpha", "eps", "iters"}, _protocol.PARAMS


@test
def python_catalogue_matches_header():
    assert list(_protocol.METRICS) == NAMES, \
        "_protocol.METRICS %r, header %r" % (_protocol.METRICS, NAMES)


@test
def python_supports_match_header():
    assert list(_protocol.SUPPORTS) == F["supports"], \
        "_protocol.SUPPORTS %r, header %r" % (_protocol.SUPPORTS, F["supports"])


@test
def dashboard_catalogue_matches_header():
    js = read("web/src/chart.js")
    m = re.search(r"^export const METRIC_INFO = \{\n(.*?)^\};", js, re.S | re.M)
    assert m, "METRIC_INFO not found in web/src/chart.js"
    keys = re.findall(r"^  (\w+): \{", m.group(1), re.M)
    assert sorted(keys) == sorted(NAMES) and len(keys) == len(set(keys)), \
        "chart.js METRIC_INFO %r, header %r" % (keys, NAMES)


@test
def dashboard_knows_the_pool_ranks_series():
    js = read("web/src/chart.js")
    m = re.search(r"^export const SERIES_INFO = \{\n(.*?)^\};", js, re.S | re.M)
    assert m, "SERIES_INFO not found in web/src/chart.js"
    keys = re.findall(r"^  (\w+): \{", m.group(1), re.M)
    want = F["series"]["pool_ranks"]
    assert keys == [want], "chart.js SERIES_INFO %r, header's EW_POOL_RANKS_SERIES %r" % (keys, want)


def protocol_row(md, key):
    m = re.search(r"^\| `%s` \|(.*)$" % re.escape(key), md, re.M)
    assert m, "no row for `%s` in schema/protocol.md" % key
    return m.group(1)


def meaning(md, key):
    """The last cell (meaning and limits) of the header table's row."""
    return [c.strip() for c in protocol_row(md, key).split("|")][-2]


def fmt(v):
    return "%d" % v if float(v).is_integer() else repr(v)


@test
def protocol_md_matches_header():
    md = read("schema/protocol.md")
    want = {
        "v": ["`%d`" % LIM["VERSION"]],
        "run": ["1 to %d bytes" % LIM["NAME_MAX"]],
        "shape": ["N <= %d" % LIM["N_MAX"], "d <= %d" % LIM["D_MAX"],
                  "(%s elements)" % format(LIM["ELEMS_MAX"], ",")],
        "kappa": ["kappa <= %s" % fmt(LIM["KAPPA_MAX"])],
        "world": ["1 to %d" % LIM["WORLD_MAX"]],
        "scalars": ["at most %d entries" % LIM["SCALARS_MAX"]],
        "t": ["t <= %s" % fmt(LIM["T_MAX"])],
        "alpha": ["alpha <= %s" % fmt(LIM["ALPHA_MAX"])],
        "eps": ["eps <= %s" % fmt(LIM["EPS_MAX"])],
        "iters": ["1 to %d" % LIM["ITERS_MAX"]],
    }
    bad = []
    for key, phrases in want.items():
        row = protocol_row(md, key)
        bad += [(key, p) for p in phrases if p not in row]
    assert not bad, "schema/protocol.md rows lack (key, text): %r" % (bad,)
    listed = re.findall(r"`(\w+)`", meaning(md, "metrics"))
    assert sorted(listed) == sorted(NAMES), \
        "protocol.md `metrics` row lists %r, header %r" % (listed, NAMES)
    dtypes = [d["name"] for d in F["dtypes"]]
    listed = re.findall(r"`(\w+)`", meaning(md, "dtype"))
    assert sorted(listed) == sorted(dtypes), \
        "protocol.md `dtype` row lists %r, header %r" % (listed, dtypes)
    listed = re.findall(r"`(\w+)`: ", meaning(md, "support"))
    assert sorted(listed) == sorted(F["supports"]), \
        "protocol.md `support` row lists %r, header %r" % (listed, F["supports"])


if __name__ == "__main__":
    run_all()
