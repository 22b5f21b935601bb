-- erwatch database schema, version 5.
--
-- The daemon (daemon/store_sqlite.c) runs this file, compiled in, inside one
-- transaction when it creates a new database, and again when it opens an
-- existing file: every statement is idempotent (IF NOT EXISTS), so that run
-- adds what an older build did not create (the `alerts`, `runs_deleted` and
-- `launches` tables, the indexes) and changes nothing else; columns added
-- since version 1 are added by store_sqlite.c before this runs (schema/README.md,
-- "Versioning"). schema/README.md documents
-- every table, column and view; that page is the stable interface for people
-- who query the database directly. Times are Unix seconds (REAL), steps are
-- the training steps clients send. Change this file only together with
-- EW_SCHEMA_VERSION (daemon/store.h) and schema/README.md.

-- "erwt": marks the file as an erwatch database (see `PRAGMA application_id`).
PRAGMA application_id = 1702000500;
PRAGMA user_version = 5;

-- One row per run. A launch (one execution of a training job) that gives a
-- name already taken by another launch gets its own run, NAME.2, NAME.3...
-- (schema/README.md, "Runs and launches").
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    first_seen  REAL,                        -- daemon receive time, first batch
    last_seen   REAL,                        -- daemon receive time, latest batch
    last_step   INTEGER,                     -- highest step stored
    dropped     INTEGER NOT NULL DEFAULT 0,  -- latest client-reported drop count
    world       INTEGER,                     -- latest `world` sent, NULL if never
    base        TEXT,                        -- the name the client gave
    launch      TEXT,                        -- latest launch writing it, NULL: none
    config      TEXT,                        -- JSON object (hyper-parameters), NULL: none
    notes       TEXT                         -- free text, NULL: none
);
-- Oldest first for retention, newest first for GET /api/runs.
CREATE INDEX IF NOT EXISTS runs_by_last_seen ON runs (last_seen);
CREATE INDEX IF NOT EXISTS runs_by_base ON runs (base);

-- One row per (launch, run name given): which run that launch's batches of
-- that name go to. Makes the naming stable across daemon restarts.
CREATE TABLE IF NOT EXISTS launches (
    launch      TEXT    NOT NULL,            -- the header's `launch`
    name        TEXT    NOT NULL,            -- the header's `run`
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    resumed     INTEGER NOT NULL CHECK (resumed IN (0, 1)),
    first_step  INTEGER NOT NULL,            -- step of its first stored batch
    first_seen  REAL    NOT NULL,            -- daemon receive time of that batch
    PRIMARY KEY (launch, name)
);
CREATE INDEX IF NOT EXISTS launches_by_run ON launches (run_id);

-- One row per (run, tag, metric): a time series.
CREATE TABLE IF NOT EXISTS series (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    tag         TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    last_step   INTEGER,                     -- highest step stored
    vmax        REAL,                        -- largest value ever stored (NULL: none)
    vmin        REAL,                        -- smallest value ever stored
    summarized  INTEGER NOT NULL DEFAULT 0,  -- 1: `summaries` holds all its points
    UNIQUE (run_id, tag, metric)
);
-- The series whose summaries erwatchd still has to build.
CREATE INDEX IF NOT EXISTS series_unsummarized ON series (id) WHERE summarized = 0;

-- One row per point. A point written again at the same step replaces the old
-- one. NULL value: the metric is undefined for that batch.
CREATE TABLE IF NOT EXISTS points (
    series_id   INTEGER NOT NULL REFERENCES series(id),
    step        INTEGER NOT NULL,
    value       REAL,
    wall_time   REAL    NOT NULL,            -- client time if sent, else receive time
    PRIMARY KEY (series_id, step)
) WITHOUT ROWID;

-- Per series, per bucket of 2^level steps (level 8, 12 or 16; bucket =
-- step >> level): what the points stored there sum up to, so that a wide
-- window is read from a few thousand rows. Kept by erwatchd in the same
-- transaction as the points; built by it for series with summarized = 0.
CREATE TABLE IF NOT EXISTS summaries (
    series_id   INTEGER NOT NULL REFERENCES series(id),
    level       INTEGER NOT NULL CHECK (level IN (8, 12, 16)),
    bucket      INTEGER NOT NULL,            -- step >> level
    n           INTEGER NOT NULL CHECK (n >= 1), -- points
    vmin        REAL,                        -- smallest value (NULL: all undefined)
    vmax        REAL,                        -- largest value
    last_step   INTEGER NOT NULL,            -- the bucket's last point
    last_value  REAL,
    last_time   REAL    NOT NULL,
    PRIMARY KEY (series_id, level, bucket)
) WITHOUT ROWID;

-- One row per stored batch (run, tag, step): its shape and settings, e.g. for
-- reference levels such as 1/sqrt(d). Replaced like points.
CREATE TABLE IF NOT EXISTS batches (
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

-- The singular-value spectrum of each batch's raw rows (view 1): sigma_k /
-- sum_j sigma_j, descending, the first k <= 512 of min(N, d) values, as a blob
-- of k little-endian float32s. It shows dimensional collapse: mass drains into
-- the first few values.
CREATE TABLE IF NOT EXISTS spectra (
    run_id  INTEGER NOT NULL REFERENCES runs (id),
    tag     TEXT    NOT NULL,
    step    INTEGER NOT NULL,
    k       INTEGER NOT NULL CHECK (k BETWEEN 1 AND 512),
    vals    BLOB    NOT NULL CHECK (length(vals) = 4 * k),
    PRIMARY KEY (run_id, tag, step)
) WITHOUT ROWID;

-- The documented way to read points: names instead of ids.
CREATE VIEW IF NOT EXISTS series_points (run, tag, metric, step, value, wall_time) AS
SELECT r.name, s.tag, s.metric, p.step, p.value, p.wall_time
FROM points AS p
JOIN series AS s ON s.id = p.series_id
JOIN runs   AS r ON r.id = s.run_id;

-- Batches with the run's name instead of its id.
CREATE VIEW IF NOT EXISTS batch_info (run, tag, step, n, d, views, support, kappa, rank,
                        world, client_time, recv_time, dropped) AS
SELECT r.name, b.tag, b.step, b.n, b.d, b.views, b.support, b.kappa, b.rank,
       b.world, b.client_time, b.recv_time, b.dropped
FROM batches AS b
JOIN runs AS r ON r.id = b.run_id;

-- Spectra with the run's name instead of its id.
CREATE VIEW IF NOT EXISTS spectrum_info (run, tag, step, k, vals) AS
SELECT r.name, s.tag, s.step, s.k, s.vals
FROM spectra AS s
JOIN runs AS r ON r.id = s.run_id;

-- One row per alert episode of a rule on a (run, tag): from the first point
-- where its condition held (pending) through firing to resolved. A pending
-- episode that ends without firing is deleted: it never was an alert.
-- Names, not ids, so the table reads on its own; it stays small.
CREATE TABLE IF NOT EXISTS alerts (
    id            INTEGER PRIMARY KEY,
    daemon        TEXT,                      -- the erwatchd that raised it (--name);
                                             -- NULL: raised before version 4
    rule          TEXT    NOT NULL,          -- the rule's name (alertname)
    run           TEXT    NOT NULL,
    tag           TEXT    NOT NULL,
    metric        TEXT    NOT NULL,          -- metric or scalar the rule watches
    severity      TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    value         REAL,                      -- latest value evaluated
    first_step    INTEGER NOT NULL,          -- the condition first held
    first_time    REAL    NOT NULL,
    fired_step    INTEGER,                   -- NULL while pending
    fired_time    REAL,
    last_step     INTEGER NOT NULL,          -- latest point evaluated
    last_time     REAL    NOT NULL,
    resolved_step INTEGER,                   -- NULL until resolved
    resolved_time REAL,
    summary       TEXT    NOT NULL,
    description   TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_run ON alerts (run, state);
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts (state);

-- Runs deleted (erwatch rm, retention) whose points, batches and spectra
-- the daemon is still removing, a few thousand rows per transaction. The
-- runs row is gone at once, so nothing of the run is visible any more; this
-- row keeps its id from being given to a new run until the last of its
-- rows is gone (and lets a restarted daemon finish the job).
CREATE TABLE IF NOT EXISTS runs_deleted (
    id           INTEGER PRIMARY KEY,        -- the deleted run's runs.id
    name         TEXT    NOT NULL,
    deleted_time REAL    NOT NULL            -- Unix s
);
