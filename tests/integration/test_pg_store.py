"""erwatchd's PostgreSQL store (issue 13, the write side) against a real
PostgreSQL 15 (pgserver.py: initdb in a temporary folder, loopback port):
the same batches sent to an SQLite daemon and a PostgreSQL daemon give the
same rows, value for value (runs, launches with NAME.2 and a resume's rewind,
series and their ranges, points with a step sent twice, batches, spectra,
config and notes, alerts); `erwatch rm` and `erwatch mv` and
--retention-days work on PostgreSQL; two daemons write one database at once,
also new launches of one run name at the same moment; PostgreSQL stopped
mid-run loses no accepted batch and /api/health says so while it is down; a
database of a newer schema, not ours, a wrong user or a missing database
stop erwatchd at start with a clear message and never log the password.

The HTTP read side of PostgreSQL is another module: these tests read the
database with psql (and SQLite files with sqlite3), and the daemon only
through /api/health, which does not need it."""

import contextlib
import ctypes
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ERWATCHD, CClient, Daemon, ErwatchBatch, ErwatchScalar, run_all,  # noqa
                     run_cli, test, unit_rows, wait_for)
import pgserver  # noqa: E402
from pgserver import PgServer  # noqa: E402

RULES = ("alert LossHigh scalar=loss\n"
         "    when value > 1 for 2 batches\n"
         "    resolve when value < 0.5\n"
         "    severity=critical\n"
         "    summary=\"{run}/{tag}: loss {value} at step {step}\"\n")


def rules_file(d):
    path = os.path.join(d.dir, "rules.conf")
    with open(path, "w") as f:
        f.write(RULES)
    d.args += ["--no-default-rules", "--rules", path]
    return d


def push(c, run, tag, step, x, t, scalars, world=0, rank=0):
    """CClient.push with the client time and the world given (so that the
    rows of two daemons can be compared: receive times differ)."""
    x = np.ascontiguousarray(x)
    b = ErwatchBatch(run=run.encode(), tag=tag.encode(), step=step, dtype=0, n=x.shape[0],
                     d=x.shape[1], x=x.ctypes.data, support=0, kappa=0.0, time=t,
                     world=world, rank=rank)
    arr = (ErwatchScalar * len(scalars))(*[ErwatchScalar(k.encode(), v)
                                           for k, v in scalars.items()])
    b.scalars = ctypes.cast(arr, ctypes.c_void_p)
    b.nscalars = len(scalars)
    rc = c.lib.erwatch_push(c.c, ctypes.byref(b))
    assert rc == 0, "push %s/%s step %d: %d" % (run, tag, step, rc)


def resume_client(endpoint, launch):
    c = CClient(endpoint, launch="")
    assert c.lib.erwatch_set_launch(c.c, launch.encode(), 1) == 0
    return c


def scenario(d, rng_seed=5):
    """The batches of the equivalence test; returns how many were sent.
    Waits for each launch's batches before the next, so that the naming
    and the resume see what came before (as in test_launches)."""
    rng = np.random.default_rng(rng_seed)
    sent = 0
    a = CClient(d.zmq, launch="launch-a")
    a.set_meta('{"lr": 0.001, "layers": [1, 2]}', "first try")
    for s in range(12):
        loss = 2.0 if 3 <= s < 7 else 0.1  # LossHigh fires at 4, resolves at 7
        push(a, "eq", "proj", s, unit_rows(rng, 16, 6), 1000.0 + s, {"loss": loss, "lr": 1e-3},
             world=2)
        sent += 1
    # the same step twice in a row: the later one wins
    push(a, "eq", "proj", 11, unit_rows(rng, 16, 6), 2000.0, {"loss": 0.25, "lr": 1e-3})
    # one row: metrics that need two are undefined (NULL)
    push(a, "eq", "head", 0, unit_rows(rng, 1, 4), 1500.0, {"acc": 0.5})
    sent += 2
    a.flush()
    a.close()
    d.wait_stored(sent)
    b = CClient(d.zmq, launch="launch-b")
    for s in range(6):
        push(b, "eq", "proj", s, unit_rows(rng, 16, 6), 3000.0 + s, {"loss": 0.3 + 0.1 * s})
        sent += 1
    b.flush()
    b.close()
    d.wait_stored(sent)
    c = resume_client(d.zmq, "launch-c")  # continues eq.2 from step 3
    for s in range(3, 5):
        push(c, "eq", "proj", s, unit_rows(rng, 16, 6), 4000.0 + s, {"loss": 0.2})
        sent += 1
    c.flush()
    c.close()
    p = CClient(d.zmq, launch="")
    for s in range(5):
        push(p, "plain", "t", s * 10, unit_rows(rng, 4, 3), 5000.0 + s, {"loss": -1.5 * s})
        sent += 1
    p.flush()
    p.close()
    d.wait_stored(sent)
    return sent


# (name, SQLite query, PostgreSQL query): receive times differ between two
# daemons and are left out; everything else is compared exactly.
TABLES = [
    ("runs", "SELECT name, base, launch, last_step, dropped, world, config, notes FROM runs"
     " ORDER BY name", None),
    ("launches", "SELECT l.launch, l.name, r.name, l.resumed, l.first_step FROM launches AS l"
     " JOIN runs AS r ON r.id = l.run_id ORDER BY 1, 2", None),
    ("series", "SELECT r.name, s.tag, s.metric, s.last_step, s.vmax, s.vmin FROM series AS s"
     " JOIN runs AS r ON r.id = s.run_id ORDER BY 1, 2, 3", None),
    ("points", "SELECT run, tag, metric, step, value, wall_time FROM series_points"
     " ORDER BY 1, 2, 3, 4", None),
    ("batches", "SELECT run, tag, step, n, d, views, support, kappa, rank, world, client_time,"
     " dropped FROM batch_info ORDER BY 1, 2, 3", None),
    ("spectra", "SELECT run, tag, step, k, lower(hex(vals)) FROM spectrum_info ORDER BY 1, 2, 3",
     "SELECT run, tag, step, k, encode(vals, 'hex') FROM spectrum_info ORDER BY 1, 2, 3"),
    ("alerts", "SELECT id, rule, run, tag, metric, severity, state, value, first_step,"
     " fired_step, last_step, resolved_step, summary, description FROM alerts ORDER BY id",
     "SELECT daemon_id, rule, run, tag, metric, severity, state, value, first_step,"
     " fired_step, last_step, resolved_step, summary, description FROM alerts"
     " ORDER BY daemon_id"),
]


def _schema_version():
    """The version schema/schema_pg.sql writes (its first line says it)."""
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "schema",
                           "schema_pg.sql")) as f:
        first = f.readline()
    return int(first.rsplit("version", 1)[1].strip(" .\n"))


SCHEMA_VERSION = _schema_version()


def pg_rows_plain(pg, sql):
    """Rows as lists of JSON values: float8 comes back in its shortest exact
    form, so floats compare bit for bit with SQLite's (columns of one name
    are all kept: the objects are read as lists of values)."""
    cell = pg.psql("SELECT coalesce(json_agg(to_json(t)), '[]') FROM (%s) AS t" % sql)[0][0]
    return json.loads(cell, object_pairs_hook=lambda pairs: [v for _, v in pairs])


def sqlite_rows(path, sql):
    with contextlib.closing(sqlite3.connect("file:%s?mode=ro" % path, uri=True)) as c:
        return [list(r) for r in c.execute(sql).fetchall()]


def pg_one(pg, sql):
    return pg.psql(sql)[0][0]


@contextlib.contextmanager
def pg_daemon(pg, *extra):
    with Daemon(*extra, db=pg.uri) as d:
        yield d


@test
def same_batches_give_the_same_rows_in_sqlite_and_postgresql():
    with PgServer() as pg:
        with rules_file(Daemon()) as lite:
            n = scenario(lite)
            wait_for(lambda: sqlite_rows(lite.db, "SELECT count(*) FROM alerts WHERE"
                                         " state = 'resolved'") == [[1]], what="sqlite alerts")
            lite.stop()
            with rules_file(Daemon(db=pg.uri)) as d:
                assert scenario(d) == n
                wait_for(lambda: pg_one(pg, "SELECT count(*) FROM alerts WHERE"
                                        " state = 'resolved'") == "1", what="pg alerts")
                h = d.health()
                assert h["status"] == "ok" and h["store_errors"] == 0, h
                for name, q_lite, q_pg in TABLES:
                    want = sqlite_rows(lite.db, q_lite)
                    got = pg_rows_plain(pg, q_pg or q_lite)
                    assert got == want, "%s differ:\n sqlite %r\n pg     %r" % (name, want, got)
                    assert want, "no %s rows: the test compares nothing" % name
                # what the scenario is about, said plainly
                runs = pg_rows_plain(pg, "SELECT name, base, launch FROM runs ORDER BY name")
                assert runs == [["eq", "eq", "launch-a"], ["eq.2", "eq", "launch-c"],
                                ["plain", "plain", None]], runs
                steps = pg_rows_plain(pg, "SELECT step, value FROM series_points WHERE run ="
                                      " 'eq.2' AND metric = 'loss' ORDER BY step")
                assert steps == [[0, 0.3], [1, 0.3 + 0.1], [2, 0.3 + 0.2], [3, 0.2], [4, 0.2]], steps
                last = pg_rows_plain(pg, "SELECT value, wall_time FROM series_points WHERE"
                                     " run = 'eq' AND metric = 'loss' AND step = 11")
                assert last == [[0.25, 2000.0]], last
                nan = pg_rows_plain(pg, "SELECT count(*) FROM series_points WHERE tag = 'head'"
                                    " AND value IS NULL")
                assert nan[0][0] > 0, nan
                meta = pg_rows_plain(pg, "SELECT config, notes FROM runs WHERE name = 'eq'")
                assert meta == [['{"lr": 0.001, "layers": [1, 2]}', "first try"]], meta
                alert = pg_rows_plain(pg, "SELECT daemon, state, first_step, fired_step,"
                                      " resolved_step FROM alerts")
                name = h["name"]  # --name, by default HOST:PORT of --zmq
                assert name and alert == [[name, "resolved", 3, 4, 7]], (name, alert)


@test
def rm_mv_and_retention_days_on_postgresql():
    with PgServer() as pg:
        with rules_file(Daemon("--retention-days", "1", db=pg.uri)) as d:
            rng = np.random.default_rng(3)
            c = CClient(d.zmq, launch="")
            for run in ("doomed", "moving", "old", "kept"):
                for s in range(6):
                    push(c, run, "proj", s, unit_rows(rng, 8, 4), 0, {"loss": 5.0})
            c.flush()
            d.wait_stored(24)
            wait_for(lambda: pg_one(pg, "SELECT count(*) FROM alerts WHERE state = 'firing'")
                     == "4", what="four firing alerts")
            r = run_cli("rm", "--http", d.http, "doomed")
            assert r.stdout.strip() == "deleted run 'doomed'", r.stdout
            r = run_cli("mv", "--http", d.http, "moving", "moved")
            assert r.stdout.strip() == "renamed run 'moving' to 'moved'", r.stdout
            r = run_cli("mv", "--http", d.http, "moved", "kept", check=False)
            assert r.returncode != 0 and "already exists" in r.stderr, (r.returncode, r.stderr)
            r = run_cli("rm", "--http", d.http, "ghost", check=False)
            assert r.returncode != 0 and "no run named 'ghost'" in r.stderr, r.stderr
            names = pg_rows_plain(pg, "SELECT name FROM runs ORDER BY name")
            assert names == [["kept"], ["moved"], ["old"]], names
            al = pg_rows_plain(pg, "SELECT run FROM alerts ORDER BY run")
            assert al == [["kept"], ["moved"], ["old"]], al
            wait_for(lambda: pg_one(pg, "SELECT count(*) FROM runs_deleted") == "0",
                     what="the purge of 'doomed'")
            left = pg_one(pg, "SELECT count(*) FROM points WHERE series_id NOT IN"
                          " (SELECT id FROM series)")
            assert left == "0", left
            assert pg_one(pg, "SELECT count(*) FROM batches WHERE run_id NOT IN"
                          " (SELECT id FROM runs)") == "0"
            # the renamed run goes on: new batches of 'moved' join it
            push(c, "moved", "proj", 6, unit_rows(rng, 8, 4), 0, {"loss": 5.0})
            c.flush()
            d.wait_stored(25)
            got = pg_rows_plain(pg, "SELECT count(*), max(step) FROM series_points WHERE"
                                " run = 'moved' AND metric = 'loss'")
            assert got == [[7, 6]], got
            # retention by days: 'old' last sent five days ago (by its row)
            pg.psql("UPDATE runs SET last_seen = last_seen - 5 * 86400 WHERE name = 'old'")
            wait_for(lambda: pg_one(pg, "SELECT count(*) FROM runs WHERE name = 'old'") == "0",
                     what="retention to delete 'old'")
            wait_for(lambda: pg_one(pg, "SELECT count(*) FROM runs_deleted") == "0",
                     what="the purge of 'old'")
            names = pg_rows_plain(pg, "SELECT name FROM runs ORDER BY name")
            assert names == [["kept"], ["moved"]], names
            assert "retention: deleted run 'old'" in d.log(), d.log()
            c.close()


# ---------------------------------------------------------------- summaries

SUMMARY_COLS = "m.level, m.bucket, m.n, m.vmin, m.vmax, m.last_step, m.last_value, m.last_time"
SUMMARY_ROWS = ("SELECT r.name, s.tag, s.metric, " + SUMMARY_COLS + " FROM summaries AS m"
                " JOIN series AS s ON s.id = m.series_id JOIN runs AS r ON r.id = s.run_id"
                " ORDER BY 1, 2, 3, 4, 5")
# What the summaries of PostgreSQL's points must be, rebuilt in SQL at the
# levels the table holds: per cell, the count, min and max of the defined
# values and the last point.
SUMMARY_ORACLE = (
    "SELECT r.name, s.tag, s.metric, l.level, p.step >> l.level, count(*)::bigint,"
    " min(p.value), max(p.value), max(p.step),"
    " (array_agg(p.value ORDER BY p.step DESC))[1],"
    " (array_agg(p.wall_time ORDER BY p.step DESC))[1]"
    " FROM points AS p JOIN series AS s ON s.id = p.series_id AND s.summarized = 1"
    " JOIN runs AS r ON r.id = s.run_id"
    " CROSS JOIN (SELECT DISTINCT level FROM summaries) AS l"
    " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5")


def long_scenario(d):
    """A run long enough for every summary level, with undefined values,
    steps written again, gaps filled later, then a resume that rewinds it
    from step 20000. Returns the batches sent."""
    rng = np.random.default_rng(11)
    x = unit_rows(rng, 4, 3)
    one = unit_rows(rng, 1, 3)  # one row: the metrics that need two are undefined
    sent = 0
    a = CClient(d.zmq, launch="long-a")

    def loss(k, shift=0.0):
        return float(np.sin(k * 0.37) + shift)

    for k in range(900):  # steps 0 .. 33263, cells at 8, 12 and 16
        push(a, "long", "proj", 37 * k, one if k % 50 == 7 else x, 1000.0 + k, {"loss": loss(k)})
        sent += 1
    a.flush()
    d.wait_stored(sent)
    for k in range(100, 131):  # written again: min and max change inside cells
        push(a, "long", "proj", 37 * k, x, 5000.0 + k, {"loss": loss(k, 3.0 if k % 2 else -3.0)})
        sent += 1
    for k in range(200, 221):  # gaps filled below the highest step
        push(a, "long", "proj", 37 * k + 5, x, 6000.0 + k, {"loss": loss(k + 1)})
        sent += 1
    a.flush()
    a.close()
    d.wait_stored(sent)
    b = resume_client(d.zmq, "long-b")  # rewinds 'long' from step 20000
    for j in range(150):
        push(b, "long", "proj", 20000 + 53 * j, x, 7000.0 + j, {"loss": 0.5 - 0.01 * j})
        sent += 1
    b.flush()
    b.close()
    d.wait_stored(sent)
    return sent


@test
def summaries_follow_the_points_on_postgresql():
    with PgServer() as pg:
        with Daemon() as lite:
            n = long_scenario(lite)
            want = sqlite_rows(lite.db, SUMMARY_ROWS)
            lite.stop()
        with Daemon(db=pg.uri) as d:
            assert long_scenario(d) == n
            got = pg_rows_plain(pg, SUMMARY_ROWS)
            assert got == want, ("summaries differ: %d rows on PostgreSQL, %d on SQLite; first"
                                 " difference: %r" % (len(got), len(want), next(
                                     ((g, w) for g, w in zip(got, want) if g != w), None)))
            oracle = pg_rows_plain(pg, SUMMARY_ORACLE)
            assert got == oracle, ("summaries are not a rebuild of the points: %d rows, %d"
                                   " rebuilt; first difference: %r" % (len(got), len(oracle), next(
                                       ((g, w) for g, w in zip(got, oracle) if g != w), None)))
            levels = pg_rows_plain(pg, "SELECT level, count(*) FROM summaries GROUP BY 1"
                                   " ORDER BY 1")
            assert [lv for lv, _ in levels] == [8, 12, 16] and len(got) > 100, (levels, len(got))
            top = pg_rows_plain(pg, "SELECT max(step), count(*) FROM series_points"
                                " WHERE run = 'long' AND metric = 'loss'")
            assert top == [[20000 + 53 * 149, 541 + 21 + 150]], top  # the rewind happened
            undefined = pg_one(pg, "SELECT count(*) FROM summaries WHERE level = 8 AND"
                               " vmin IS NULL")
            assert pg_one(pg, "SELECT count(*) FROM series WHERE summarized = 0") == "0"
            print("# %d summaries rows equal on both stores and to a rebuild; %s cells of"
                  " undefined values only" % (len(got), undefined))
            # erwatch rm: the purge takes the summaries with the points
            r = run_cli("rm", "--http", d.http, "long")
            assert r.returncode == 0, r.stderr
            wait_for(lambda: pg_one(pg, "SELECT count(*) FROM runs_deleted") == "0",
                     what="the purge of 'long'")
            left = pg_one(pg, "SELECT count(*) FROM summaries")
            assert left == "0", left


@test
def a_version_4_database_is_upgraded_and_its_series_summarized_in_the_background():
    with PgServer() as pg:
        with pg_daemon(pg):
            pass
        # What schema version 4 left: no summaries table, a series with
        # summarized = 0 (343k points with gaps and NULLs).
        pg.psql("DROP TABLE summaries; UPDATE erwatch_meta SET value = '4'"
                " WHERE key = 'schema_version'")
        pg.psql("INSERT INTO runs (name, base, first_seen, last_seen, last_step)"
                " VALUES ('old', 'old', 1000, 2000, 399999)")
        pg.psql("INSERT INTO series (run_id, tag, metric, last_step, summarized)"
                " SELECT id, 'proj', 'loss', 399999, 0 FROM runs WHERE name = 'old'")
        pg.psql("INSERT INTO points (series_id, step, value, wall_time)"
                " SELECT (SELECT id FROM series WHERE metric = 'loss'), s,"
                " CASE WHEN s % 97 = 0 THEN NULL ELSE sin(s * 0.01) END, 1000 + s * 1e-3"
                " FROM generate_series(0, 399999) AS s WHERE s % 7 <> 3")
        with pg_daemon(pg) as d:
            assert pg_one(pg, "SELECT value FROM erwatch_meta WHERE key = 'schema_version'") \
                == str(SCHEMA_VERSION)
            # batches keep coming to that series while it is built
            rng = np.random.default_rng(2)
            c = CClient(d.zmq, launch="")
            for k in range(40):
                push(c, "old", "proj", 400000 + 1000 * k, unit_rows(rng, 4, 3), 3000.0 + k,
                     {"loss": -float(k)})
            c.flush()
            d.wait_stored(40)
            wait_for(lambda: pg_one(pg, "SELECT count(*) FROM series WHERE summarized = 0")
                     == "0", 60, what="the build of the summaries")
            wait_for(lambda: "summaries built for" in d.log(), 10, what="the log line")
            got = pg_rows_plain(pg, SUMMARY_ROWS)
            oracle = pg_rows_plain(pg, SUMMARY_ORACLE)
            assert got == oracle, ("built summaries are not a rebuild of the points: %d rows, %d"
                                   " rebuilt; first difference: %r" % (len(got), len(oracle), next(
                                       ((g, w) for g, w in zip(got, oracle) if g != w), None)))
            n = pg_one(pg, "SELECT count(*) FROM points")
            line = [x for x in d.log().splitlines() if "summaries built for" in x][0]
            print("# %s points, %d summaries rows; %s" % (n, len(got), line.split("] ", 1)[-1]))
            assert int(n) > 343000 and len(got) > 1300, (n, len(got))
            c.close()


def pusher(endpoint, runs, steps, launch, errors, t0=0.0):
    try:
        rng = np.random.default_rng(abs(hash(launch)) % 1000)
        c = CClient(endpoint, launch=launch)
        x = unit_rows(rng, 8, 4)
        for s in range(steps):
            for run in runs:
                push(c, run, "proj", s, x, t0, {"loss": float(s)})
        c.flush(10000)
        c.close()
    except Exception as e:  # reported by the test
        errors.append(repr(e))


@test
def two_daemons_write_one_database_at_once():
    with PgServer() as pg:
        with pg_daemon(pg) as d1, pg_daemon(pg) as d2:
            errors = []
            threads = [
                threading.Thread(target=pusher, args=(d1.zmq, ["a1", "a2"], 150, "la", errors)),
                threading.Thread(target=pusher, args=(d2.zmq, ["b1", "b2"], 150, "lb", errors)),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert not errors, errors
            d1.wait_stored(300, timeout=60)
            d2.wait_stored(300, timeout=60)
            got = pg_rows_plain(pg, "SELECT run, count(*), max(step) FROM batch_info GROUP BY"
                                " run ORDER BY run")
            assert got == [["a1", 150, 149], ["a2", 150, 149], ["b1", 150, 149],
                           ["b2", 150, 149]], got
            # new launches of one name, one on each daemon, at the same moment,
            # several times: never an error, never two launches in one run
            for round_ in range(4):
                name = "same%d" % round_
                errors = []
                threads = [threading.Thread(target=pusher,
                                            args=(d.zmq, [name], 20, "%s-%d" % (name, i), errors))
                           for i, d in enumerate((d1, d2))]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
                assert not errors, errors
            d1.wait_stored(380, timeout=60)
            d2.wait_stored(380, timeout=60)
            runs = pg_rows_plain(pg, "SELECT r.name, r.base, count(DISTINCT l.launch),"
                                 " (SELECT count(*) FROM batches AS b WHERE b.run_id = r.id)"
                                 " FROM runs AS r JOIN launches AS l ON l.run_id = r.id"
                                 " WHERE r.base LIKE 'same%' GROUP BY r.id ORDER BY 1")
            want = []
            for round_ in range(4):
                want += [["same%d" % round_, "same%d" % round_, 1, 20],
                         ["same%d.2" % round_, "same%d" % round_, 1, 20]]
            assert runs == want, runs
            for d in (d1, d2):
                h = d.health()
                assert h["store_errors"] == 0 or "deadlock" in d.log(), (h, d.log())
                assert h["batches"]["stored"] == h["batches"]["accepted"], h["batches"]


@test
def postgresql_restart_mid_run_loses_no_accepted_batch():
    with PgServer() as pg:
        with pg_daemon(pg) as d:
            rng = np.random.default_rng(9)
            x = unit_rows(rng, 8, 4)
            c = CClient(d.zmq, launch="restart")
            for s in range(50):
                push(c, "r", "proj", s, x, 0, {"loss": float(s)})
            c.flush()
            d.wait_stored(50)
            pg.stop()
            for s in range(50, 150):
                push(c, "r", "proj", s, x, 0, {"loss": float(s)})
            c.flush()
            down = wait_for(lambda: d.health()["status"] == "degraded" and d.health(), 30,
                            what="/api/health to say the store fails")
            assert "PostgreSQL" in down["reason"] or "postgresql" in down["reason"], down
            assert down["batches"]["stored"] < 150, down["batches"]
            time.sleep(1.0)  # a few retries against a server that is down
            pg.start()
            for s in range(150, 200):
                push(c, "r", "proj", s, x, 0, {"loss": float(s)})
            c.flush()
            d.wait_stored(200, timeout=60)
            h = wait_for(lambda: d.health()["status"] == "ok" and d.health(), 20,
                         what="/api/health ok again")
            assert h["batches"]["accepted"] == 200 and h["batches"]["stored"] == 200, h
            assert h["store_errors"] > 0, h
            got = pg_rows_plain(pg, "SELECT count(*), min(step), max(step) FROM batches")
            assert got == [[200, 0, 199]], got
            pts = pg_rows_plain(pg, "SELECT count(*) FROM series_points WHERE metric = 'loss'")
            assert pts == [[200]], pts
            assert "writer: database writable again" in d.log(), d.log()
            c.close()


def start_fails(db, *extra):
    p = subprocess.run([ERWATCHD, "--db", db, "--zmq", "tcp://127.0.0.1:*", "--http",
                        "127.0.0.1:0"] + list(extra), capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


@test
def refused_databases_stop_erwatchd_with_a_clear_message():
    with PgServer() as pg:
        base = "postgresql://erwatch@127.0.0.1:%d" % pg.port
        # a wrong user, with a password that must never be printed
        rc, out = start_fails("postgresql://nobody:s3cr3t-pw@127.0.0.1:%d/erwatch" % pg.port)
        assert rc != 0 and "cannot connect to PostgreSQL" in out, (rc, out)
        assert 'role "nobody" does not exist' in out and "s3cr3t-pw" not in out, out
        assert "postgresql://nobody:***@127.0.0.1" in out, out
        rc, out = start_fails(base + "/nosuchdb?password=s3cr3t-pw")
        assert rc != 0 and 'database "nosuchdb" does not exist' in out, (rc, out)
        assert "s3cr3t-pw" not in out, out
        # nothing listens there: refused at once
        rc, out = start_fails("postgresql://erwatch@127.0.0.1:1/erwatch")
        assert rc != 0 and "cannot connect to PostgreSQL" in out, (rc, out)
        # tables that are not ours
        pg.psql("CREATE DATABASE other")
        pg.psql("CREATE TABLE runs (x int)", db="other")
        rc, out = start_fails(base + "/other")
        assert rc != 0 and "is not an erwatch database" in out, (rc, out)
        assert pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                       db="other") == [["1"]], "the foreign database was changed"
        # --retention-size measures a file, which a server has not
        rc, out = start_fails(pg.uri, "--retention-size", "10M")
        assert rc != 0 and "--retention-size needs a database file" in out, (rc, out)
        # a newer schema: made by an erwatchd of tomorrow
        with pg_daemon(pg):
            pass
        pg.psql("UPDATE erwatch_meta SET value = '99' WHERE key = 'schema_version'")
        rc, out = start_fails(pg.uri)
        assert rc != 0, (rc, out)
        assert ("has erwatch schema version 99; this erwatchd knows up to %d: upgrade erwatchd"
                % SCHEMA_VERSION) in out, out
        assert pg.psql("SELECT value FROM erwatch_meta WHERE key = 'schema_version'") == \
            [["99"]]


@test
def several_daemons_starting_together_create_the_schema_once():
    with PgServer() as pg:
        ds = [Daemon(db=pg.uri) for _ in range(4)]
        try:
            for d in ds:  # started without waiting, then each waited for
                d._log = open(d.log_path, "wb")
                d.proc = subprocess.Popen(d.args, stdout=d._log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
            for d in ds:
                wait_for(lambda: os.path.exists(d.ready) or d.proc.poll() is not None, 30,
                         what="erwatchd to be ready")
                assert d.proc.poll() is None, d.log()
            got = pg.psql("SELECT value FROM erwatch_meta WHERE key = 'schema_version'")
            assert got == [[str(SCHEMA_VERSION)]], (got, SCHEMA_VERSION)
        finally:
            for d in ds:
                d.cleanup()


if __name__ == "__main__":
    if not pgserver.available():
        print("# SKIP: PostgreSQL 15 server binaries not installed (scripts/deps.sh)")
        print("# 0 passed, 0 failed")
        sys.exit(0)
    run_all()
