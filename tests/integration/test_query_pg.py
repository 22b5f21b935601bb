"""The query side on PostgreSQL answers what it answers on SQLite (issue 13).

The same rows in both: a real daemon on SQLite is fed a varied workload
(runs with several tags and launches, a resume, rewritten steps, alerts
that fire and resolve, spectra), then series the client cannot send are
added by SQL (a long series with gaps and NULLs, negative steps, steps up
to 2^63 - 1, infinities) and a second daemon start summarizes them. Every
table is then copied into a PostgreSQL 15 database made from
schema/schema_pg.sql (pgserver.py; the alerts get daemon = 'sqlite-node'
and daemon_id = id). build/tests/query_pair then calls every query.h
function on both with the same arguments (random windows and budgets,
every filter) and compares the answers byte for byte, and serves both
through http.c, whose answers are compared here request by request.
Through the write side too: an SQLite daemon and a PostgreSQL daemon fed
the same batches answer the same (ids and wall times aside: each database
numbers and stamps its own rows), and a --zmq none daemon on that database
answers byte for byte what the ingesting one does.
Faults: PostgreSQL stopped while the API serves answers 503 at once and
serves again once it is back (a restart between two requests fails none);
a database without erwatch's tables is "not ready"; a refused connection
never shows the URI's password.
"""

import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, ROOT, Daemon, run_all, test, unit_rows, wait_for  # noqa: E402
import pgserver  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import erwatch  # noqa: E402
import numpy as np  # noqa: E402

QUERY_PAIR = os.path.join(BUILD, "tests", "query_pair")
RULES = ("alert LossHigh scalar=loss\n"
         "    when value > 1 for 3 batches\n"
         "    resolve when value < 0.5 keep_firing_for 2 batches\n"
         "    severity=critical\n"
         "    summary=\"{run}/{tag}: loss {value} at step {step}\"\n")
TABLES = ["runs", "launches", "series", "points", "summaries", "batches", "spectra", "alerts",
          "runs_deleted"]

_state = {}


# ---------------------------------------------------------------- the data

def _log(d, run, steps, loss, tag="proj", z=None, **kw):
    mon = erwatch.Monitor(run=run, endpoint=d.zmq, http=d.http, sndhwm=1000, tag=tag, **kw)
    rng = np.random.default_rng(len(run) + len(tag))
    for s in steps:
        x = z if z is not None else unit_rows(rng, 16, 6)
        assert mon.log(s, x, loss=loss(s)), "batch %d dropped" % s
    assert mon.close()
    return mon


def _feed(d):
    """The client-side workload; returns the number of batches sent."""
    sent = 0
    loss = [0.1] * 5 + [2.0] * 12 + [0.2] * 10
    _log(d, "bad-run", range(len(loss)), lambda s: loss[s], tag="proj", launch="L-bad")
    _log(d, "bad-run", range(0, 40, 3), lambda s: 1.5, tag="enc", launch="L-bad")
    _log(d, "good-run", range(30), lambda s: 0.1, launch="L-good",
         config={"lr": 0.1, "name": "g\u00fcte"}, notes="a \"note\"")
    sent += len(loss) + len(range(0, 40, 3)) + 30
    # gaps and a rewritten step (the second write of step 50 wins)
    steps = list(range(0, 60)) + list(range(500, 560)) + list(range(10000, 10040)) + [50]
    _log(d, "alpha", steps, lambda s: math.sin(s / 7.0), launch="L-alpha")
    sent += len(steps)
    # a second launch under one name (alpha.2), then a resume of it
    _log(d, "alpha", range(10), lambda s: 3.0, launch="L-alpha-2")
    sent += 10
    d.wait_stored(sent, timeout=120)  # a resume asks the daemon what there is to resume
    _log(d, "alpha", range(5, 12), lambda s: 0.3, launch="L-alpha-3", resume=True)
    sent += 7
    # names that exercise the filters: case, LIKE's own characters, UTF-8
    for i, name in enumerate(("Mixed Case \u00fc", "a_b%c", "back\\slash")):
        _log(d, name, range(4), lambda s: 0.5, launch="L-name-%d" % i)
        sent += 4
    return sent


def _synthetic(path):
    """Series the client cannot send, written by SQL (summarized = 0, so the
    next daemon start builds their summaries)."""
    rnd = random.Random(13)
    c = sqlite3.connect(path)
    now = time.time()
    c.execute("INSERT INTO runs (name, first_seen, last_seen, last_step, dropped, world, base)"
              " VALUES ('synthetic', ?, ?, 9223372036854775807, 0, NULL, 'synthetic')",
              (now - 100, now - 50.25))
    rid = c.execute("SELECT id FROM runs WHERE name = 'synthetic'").fetchone()[0]

    def series(tag, metric, pts):
        cur = c.execute("INSERT INTO series (run_id, tag, metric, last_step, summarized)"
                        " VALUES (?, ?, ?, ?, 0)", (rid, tag, metric, pts[-1][0]))
        c.executemany("INSERT INTO points (series_id, step, value, wall_time) VALUES (?, ?, ?, ?)",
                      [(cur.lastrowid, s, v, 1.7e9 + s * 1e-3 if abs(s) < 1e12 else 1.8e9)
                       for s, v in pts])

    steps = sorted(rnd.sample(range(0, 400000), 60000) + list(range(500000, 520000)))
    series("t", "long", [(s, None if rnd.random() < 0.03 else rnd.gauss(0, 1) * (1 + s / 1e5))
                         for s in steps])
    series("t", "nulls", [(s, None if s % 7 else float(s)) for s in range(3000)])
    series("t", "negative", [(s, rnd.random()) for s in range(-5000, 0)])
    huge = ([-(1 << 62)] + list(range(-1000, -990)) + list(range(0, 2000))
            + list(range(1 << 40, (1 << 40) + 500)) + [1 << 62, (1 << 63) - 1])
    series("t", "huge", [(s, rnd.uniform(-1, 1)) for s in huge])
    series("u", "inf", [(s, [float("inf"), float("-inf"), None, 1.0, -2.5][s % 5])
                        for s in range(1200)])
    c.commit()
    c.close()


def _copy(pg, path):
    """Copies every table of the SQLite file into PostgreSQL (COPY, text
    format: \\N is NULL, reals in shortest round-trip form)."""
    def field(v):
        if v is None:
            return "\\N"
        if isinstance(v, bytes):
            return "\\\\x" + v.hex()
        if isinstance(v, float):
            if math.isnan(v):
                return "NaN"
            if math.isinf(v):
                return "Infinity" if v > 0 else "-Infinity"
            return repr(v)
        if isinstance(v, int):
            return str(v)
        return (v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))

    src = sqlite3.connect(path)
    counts = {}
    for t in TABLES:
        have = [r[1] for r in src.execute("PRAGMA table_info(%s)" % t)]
        pgcols = {r[0] for r in pg.psql("SELECT column_name FROM information_schema.columns"
                                        " WHERE table_name = '%s'" % t)}
        cols = [x for x in have if x in pgcols]
        rows = src.execute("SELECT %s FROM %s" % (", ".join(cols), t)).fetchall()
        out_cols = list(cols)
        if t == "alerts":  # which daemon raised it; its own number for it
            idx = cols.index("id")
            if "daemon" in cols:  # SQLite schema v4 (NULL: an episode from before it)
                d = cols.index("daemon")
                rows = [r[:d] + (r[d] if r[d] is not None else "",) + r[d + 1:] for r in rows]
            else:
                out_cols.append("daemon")
                rows = [tuple(r) + ("sqlite-node",) for r in rows]
            out_cols.append("daemon_id")
            rows = [tuple(r) + (r[idx],) for r in rows]
        fd, tmp = tempfile.mkstemp(prefix="ew-copy-", suffix=".tsv")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in rows:
                f.write("\t".join(field(v) for v in r) + "\n")
        os.chmod(tmp, 0o644)
        try:
            pg.psql("\\copy %s (%s) FROM '%s'" % (t, ", ".join(out_cols), tmp))
        finally:
            os.unlink(tmp)
        counts[t] = len(rows)
    src.close()
    for t, n in counts.items():
        got = int(pg.psql("SELECT count(*) FROM %s" % t)[0][0])
        assert got == n, (t, got, n)
    return counts


def _setup():
    if "sqlite" in _state:
        return _state
    assert "failed" not in _state, "the data set could not be built (first test)"
    _state["failed"] = True
    pg = pgserver.PgServer()
    _state["pg"] = pg
    tmp = tempfile.mkdtemp(prefix="ew-qpg-")
    _state["tmp"] = tmp
    path = os.path.join(tmp, "lab.db")
    d = Daemon("--no-default-rules", db=path)
    rules = os.path.join(tmp, "rules.conf")
    with open(rules, "w") as f:
        f.write(RULES)
    d.args += ["--rules", rules]
    with d:
        n = _feed(d)
        d.wait_stored(n, timeout=120)
        d.stop()
    _synthetic(path)
    with Daemon(db=path) as d2:  # builds the new series' summaries
        wait_for(lambda: d2.sql("SELECT count(*) FROM series WHERE summarized = 0")[0][0] == 0,
                 60, what="the summaries")
        d2.stop()
    with open(os.path.join(ROOT, "schema", "schema_pg.sql")) as f:
        pg.psql(f.read())
    counts = _copy(pg, path)
    print("# rows copied: %s" % counts)
    assert counts["alerts"] >= 2 and counts["spectra"] > 100 and counts["launches"] >= 5, counts
    _state["sqlite"] = path
    del _state["failed"]
    return _state


def _teardown():
    pg = _state.get("pg")
    if pg:
        pg.close()
    if _state.get("tmp"):
        import shutil
        shutil.rmtree(_state["tmp"], ignore_errors=True)


# ---------------------------------------------------------------- serving

class Serve:
    """build/tests/query_pair serve DB...: http.c over each database."""

    def __init__(self, *dbs):
        self.p = subprocess.Popen([QUERY_PAIR, "serve"] + list(dbs), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.urls = []
        for _ in dbs:
            line = self.p.stdout.readline().split()
            assert line and line[0] == "port", (line, self.p.stdout.read())
            self.urls.append("http://127.0.0.1:%s" % line[1])

    def get(self, i, path, timeout=10):
        try:
            with urllib.request.urlopen(self.urls[i] + path, timeout=timeout) as r:
                return r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("query_pair serve did not stop")

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def _q(path, **params):
    return path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")


# ---------------------------------------------------------------- tests

@test
def every_query_function_answers_the_same_on_both():
    s = _setup()
    for seed in (int(os.environ.get("EW_SEED", "1")),):
        r = subprocess.run([QUERY_PAIR, "compare", s["sqlite"], s["pg"].uri, str(seed)],
                           capture_output=True, text=True, timeout=600)
        print("\n".join("# " + x for x in r.stdout.splitlines()))
        print(r.stderr)
        assert r.returncode == 0, "query_pair compare seed %d: exit %d" % (seed, r.returncode)
        assert "not ok" not in r.stdout and r.stdout.count("\nok ") >= 10, r.stdout


@test
def http_answers_are_the_same_bytes():
    s = _setup()
    rnd = random.Random(5)
    with Serve(s["sqlite"], s["pg"].uri) as srv:
        st, _, body = srv.get(0, "/api/runs")
        assert st == 200, (st, body)
        runs = json.loads(body)["runs"]
        paths = [_q("/api/runs"), _q("/api/runs", format="csv"), _q("/api/runs", match="A"),
                 _q("/api/runs", limit=2, offset=1), _q("/api/runs", run=["alpha", "nope"]),
                 _q("/api/alerts"), _q("/api/alerts", run="bad-run", state="firing,resolved"),
                 _q("/api/alerts", tag="enc"), _q("/api/alerts", limit=1),
                 _q("/api/series", run="nope", tag="t", metric="m"),
                 _q("/api/series", run="alpha", tag="proj", metric="nope"),
                 _q("/api/series", run="alpha", tag="nope", metric="loss"),
                 _q("/api/spectrum", run="nope", tag="proj"),
                 _q("/api/run", run="nope"), _q("/api/run", launch="L-alpha-3", name="alpha"),
                 _q("/api/run", resume="alpha")]
        # bytes that are not UTF-8 (no stored name can hold them)
        paths += ["/api/series?run=%FF&tag=proj&metric=loss", "/api/runs?match=%C3",
                  "/api/runs?run=%FFa&run=alpha", "/api/alerts?run=bad%FF",
                  "/api/run?run=%FF", "/api/spectrum?run=alpha&tag=%FE",
                  "/api/series?run=alpha&tag=proj&metric=%FF"]
        for r in runs:
            paths.append(_q("/api/run", run=r["run"]))
            for t in r["tags"]:
                paths.append(_q("/api/spectrum", run=r["run"], tag=t["tag"]))
                paths.append(_q("/api/spectrum", run=r["run"], tag=t["tag"], points=3))
                for m in t["metrics"]:
                    base = dict(run=r["run"], tag=t["tag"], metric=m)
                    paths.append(_q("/api/series", **base))
                    paths.append(_q("/api/series", format="csv", time=1, **base))
                    for _ in range(3):
                        w = dict(base, points=rnd.choice([1, 7, 300, 2000]))
                        if rnd.random() < 0.7:
                            w["after"] = rnd.randint(-10, max(0, t["last_step"] or 0) % 600000)
                        paths.append(_q("/api/series", **w))
        differ = []
        for p in paths:
            a, b = srv.get(0, p), srv.get(1, p)
            if "/api/alerts" in p and b"\"daemon\":" not in a[2]:
                b = (b[0], b[1], b[2].replace(b',"daemon":"sqlite-node"', b""))
            if a != b:
                differ.append((p, a, b))
        for p, a, b in differ[:3]:
            print("# %s\n#   sqlite: %r\n#   pg:     %r" % (p, a[:2] + (a[2][:600],),
                                                          b[:2] + (b[2][:600],)))
        print("# %d requests compared, %d differ" % (len(paths), len(differ)))
        assert not differ and len(paths) > 100, len(differ)
        st, _, body = srv.get(1, _q("/api/alerts"))
        alerts = json.loads(body)["alerts"]
        assert alerts and all(list(a)[:2] == ["id", "daemon"] and a["daemon"]
                              for a in alerts), alerts[:2]


@test
def postgresql_stopped_answers_503_at_once_then_serves_again_without_failing_a_request():
    s = _setup()
    pg = s["pg"]
    with Serve(pg.uri) as srv:
        # several pooled connections, all of which the restart breaks
        import concurrent.futures as cf
        with cf.ThreadPoolExecutor(4) as ex:
            got = list(ex.map(lambda _: srv.get(0, "/api/runs")[0], range(16)))
        assert got == [200] * 16, got
        pg.stop()
        try:
            for p in ("/api/runs", _q("/api/series", run="alpha", tag="proj", metric="loss"),
                      _q("/api/alerts"), _q("/api/spectrum", run="alpha", tag="proj"),
                      _q("/api/run", run="alpha")):
                t0 = time.monotonic()
                st, _, body = srv.get(0, p)
                dt = time.monotonic() - t0
                print("# PostgreSQL down: %s -> %d in %.3fs: %s" % (p, st, dt, body[:160]))
                assert st == 503 and b"database unavailable" in body, (p, st, body)
                assert dt < 3, (p, dt)
            st, _, body = srv.get(0, "/metrics")  # a scrape still answers
            assert st == 200, (st, body[:200])
        finally:
            pg.start()
        with cf.ThreadPoolExecutor(4) as ex:
            got = list(ex.map(lambda _: srv.get(0, "/api/runs")[0], range(16)))
        assert got == [200] * 16, got
        st, _, body = srv.get(0, _q("/api/series", run="alpha", tag="proj", metric="loss"))
        assert st == 200 and json.loads(body)["step"], (st, body[:200])
        # a restart between two requests: the pooled connections it broke
        # are re-opened by the request that finds them, which succeeds
        pg.stop()
        pg.start()
        with cf.ThreadPoolExecutor(4) as ex:
            got = list(ex.map(lambda _: srv.get(0, "/api/runs")[0], range(16)))
        assert got == [200] * 16, got


@test
def a_database_without_tables_is_not_ready_and_passwords_stay_hidden():
    s = _setup()
    pg = s["pg"]
    pg.psql("CREATE DATABASE empty_one", db="postgres")
    empty = pg.uri.rsplit("/", 1)[0] + "/empty_one"
    secret = "postgresql://erwatch:s3cret-pw@127.0.0.1:%d/no_such_db" % pg.port
    with Serve(empty, secret) as srv:
        st, _, body = srv.get(0, "/api/runs")
        assert st == 503 and b"database not ready" in body, (st, body)
        st, _, body = srv.get(1, "/api/runs")
        assert st == 503 and b"database unavailable" in body and b"no_such_db" in body, (st, body)
        assert b"s3cret-pw" not in body and b"***" in body, body
        st, _, body = srv.get(0, "/api/health")
        assert st == 200, (st, body)
    # once the writer has made the tables, the same daemon serves
    with open(os.path.join(ROOT, "schema", "schema_pg.sql")) as f:
        pg.psql(f.read(), db="empty_one")
    with Serve(empty) as srv:
        st, _, body = srv.get(0, "/api/runs")
        assert st == 200 and json.loads(body)["runs"] == [], (st, body)


# Wall times differ between two daemons fed the same batches (each stamps
# what it receives), and so do ids (PostgreSQL's identity columns skip the
# numbers an INSERT ... ON CONFLICT drew); every other value must be the same.
TIME_KEYS = {"first_seen", "last_seen", "first_time", "fired_time", "last_time",
             "resolved_time", "epoch", "id"}


def _untimed(x):
    if isinstance(x, dict):
        return {k: ("<time>" if k in TIME_KEYS else _untimed(v)) for k, v in x.items()}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


def _api_paths(runs):
    paths = [_q("/api/alerts"), _q("/api/alerts", run="bad-run", state="resolved"),
             _q("/api/run", launch="L-alpha-3", name="alpha"), _q("/api/run", resume="alpha"),
             _q("/api/series", run="alpha", tag="proj", metric="nope")]
    for r in runs:
        paths.append(_q("/api/run", run=r["run"]))
        for t in r["tags"]:
            paths.append(_q("/api/spectrum", run=r["run"], tag=t["tag"]))
            paths.append(_q("/api/spectrum", run=r["run"], tag=t["tag"], points=4))
            for m in t["metrics"]:
                paths.append(_q("/api/series", run=r["run"], tag=t["tag"], metric=m))
                paths.append(_q("/api/series", run=r["run"], tag=t["tag"], metric=m, points=5,
                                after=2))
    return paths


@test
def daemons_fed_the_same_batches_serve_the_same_api_and_a_serve_only_one_serves_it_too():
    """Through the real write side: an SQLite daemon and a PostgreSQL daemon
    given the same batches answer the same (wall times aside), and a
    --zmq none daemon on that PostgreSQL database answers byte for byte
    what the ingesting one does."""
    with pgserver.PgServer() as pg:
        tmp = tempfile.mkdtemp(prefix="ew-qpg-e2e-")
        try:
            rules = os.path.join(tmp, "rules.conf")
            with open(rules, "w") as f:
                f.write(RULES)
            lite = Daemon("--no-default-rules", "--rules", rules, "--name", "node")
            post = Daemon("--no-default-rules", "--rules", rules, "--name", "node", db=pg.uri)
            with lite, post:
                for d in (lite, post):
                    n = _feed(d)
                    d.wait_stored(n, timeout=120)
                    wait_for(lambda: d.get("/api/alerts", state="resolved")[1]["count"] >= 1,
                             20, what="the resolved alert")
                st, body = post.get("/api/runs")
                assert st == 200, (st, body)
                runs = sorted(body["runs"], key=lambda r: r["run"])
                st, want = lite.get("/api/runs")
                want = _untimed(sorted(want["runs"], key=lambda r: r["run"]))
                for a, b in zip(want, _untimed(runs)):
                    assert a == b, "sqlite %r\npg     %r" % (a, b)
                assert len(want) == len(runs) == 7, (len(want), len(runs))
                paths = _api_paths(runs)
                differ = []
                for p in paths:
                    a, b = lite.get(p), post.get(p)
                    if a[0] != b[0] or _untimed(a[1]) != _untimed(b[1]):
                        differ.append((p, a, b))
                for p, a, b in differ[:3]:
                    print("# %s\n#   sqlite: %.600r\n#   pg:     %.600r" % (p, a, b))
                print("# %d requests to an SQLite and a PostgreSQL daemon, %d differ"
                      % (len(paths), len(differ)))
                assert not differ and len(paths) > 50, len(differ)
                with Daemon("--zmq", "none", "--name", "reader", db=pg.uri) as reader:
                    assert reader.zmq == "none", reader.zmq
                    same = 0
                    for p in paths + ["/api/runs?format=csv"]:
                        a, b = post.get(p), reader.get(p)
                        assert a == b, (p, a, b)
                        same += 1
                    print("# the --zmq none daemon: %d answers identical" % same)
        finally:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if not pgserver.available():
        print("ok postgresql_query_backend # SKIP PostgreSQL 15 is not installed "
              "(scripts/deps.sh installs postgresql-15)")
        sys.exit(0)
    try:
        run_all()
    finally:
        _teardown()
