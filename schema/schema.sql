-- erwatch database schema, version 1.
--
-- The daemon (daemon/store.c) runs this file, compiled in, inside one
-- transaction when it creates a new database. schema/README.md documents
-- every table, column and view; that page is the stable interface for people
-- who query the database directly. Times are Unix seconds (REAL), steps are
-- the training steps clients send. Change this file only together with
-- EW_SCHEMA_VERSION (daemon/store.h) and schema/README.md.

-- "erwt": marks the file as an erwatch database (see `PRAGMA application_id`).
PRAGMA application_id = 1702000500;
PRAGMA user_version = 1;

-- One row per run name ever seen.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    first_seen  REAL,                        -- daemon receive time, first batch
    last_seen   REAL,                        -- daemon receive time, latest batch
    last_step   INTEGER,                     -- highest step stored
    dropped     INTEGER NOT NULL DEFAULT 0,  -- latest client-reported drop count
    world       INTEGER                      -- latest `world` sent, NULL if never
);

-- One row per (run, tag, metric): a time series.
CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    tag         TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    last_step   INTEGER,                     -- highest step stored
    UNIQUE (run_id, tag, metric)
);

-- One row per point. A point written again at the same step replaces the old
-- one. NULL value: the metric is undefined for that batch.
CREATE TABLE points (
    series_id   INTEGER NOT NULL REFERENCES series(id),
    step        INTEGER NOT NULL,
    value       REAL,
    wall_time   REAL    NOT NULL,            -- client time if sent, else receive time
    PRIMARY KEY (series_id, step)
) WITHOUT ROWID;

-- One row per stored batch (run, tag, step): its shape and settings, e.g. for
-- reference levels such as 1/sqrt(d). Replaced like points.
CREATE TABLE batches (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    tag         TEXT    NOT NULL,
    step        INTEGER NOT NULL,
    n           INTEGER NOT NULL CHECK (n >= 1),
    d           INTEGER NOT NULL CHECK (d >= 1),
    views       INTEGER NOT NULL CHECK (views >= 1),
    support     TEXT    NOT NULL CHECK (support IN ('sphere', 'discrete', 'scores')),
    kappa       REAL    NOT NULL,
    rank        INTEGER,                     -- NULL when not sent
    world       INTEGER,                     -- NULL when not sent
    client_time REAL,                        -- NULL when not sent
    recv_time   REAL    NOT NULL,
    dropped     INTEGER NOT NULL DEFAULT 0,  -- client's drop count at this batch
    PRIMARY KEY (run_id, tag, step)
) WITHOUT ROWID;

-- The documented way to read points: names instead of ids.
CREATE VIEW series_points (run, tag, metric, step, value, wall_time) AS
SELECT r.name, s.tag, s.metric, p.step, p.value, p.wall_time
FROM points AS p
JOIN series AS s ON s.id = p.series_id
JOIN runs   AS r ON r.id = s.run_id;

-- Batches with the run's name instead of its id.
CREATE VIEW batch_info (run, tag, step, n, d, views, support, kappa, rank,
                        world, client_time, recv_time, dropped) AS
SELECT r.name, b.tag, b.step, b.n, b.d, b.views, b.support, b.kappa, b.rank,
       b.world, b.client_time, b.recv_time, b.dropped
FROM batches AS b
JOIN runs AS r ON r.id = b.run_id;
