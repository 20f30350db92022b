"""The store's schema: its DDL, as a list of migrations, and the rule that applies them.

`MIGRATIONS[i]` moves the schema from version i to i + 1: a script of `;`-separated
statements, or a function given the connection inside the migration's transaction.
Never edit a released entry: append a new one. The engine records the version
(`Engine.schema_version`; SQLite's `PRAGMA user_version`).

`migrate` brings a store up to `SCHEMA_VERSION` in one write transaction, re-reading the
version inside it (two processes opening an old store at once migrate it once). A store
newer than this Runyard is refused ("upgrade runyard"); an older one opened read-only is
refused with the way to upgrade it, since nothing may be written there.

The DDL is SQLite's (types, `INTEGER PRIMARY KEY`, BLOB columns, the version-2
migration reading `metrics` in `rowid` order). PostgreSQL's list is
`runyard.core.store.postgres_schema.MIGRATIONS`, with the same version numbers and the
same tables and columns; `migrate` applies the list of the engine's `dialect`.
"""

from __future__ import annotations

from collections.abc import Callable

from runyard.core.errors import RunyardError
from runyard.core.store.engine import Connection, Engine
from runyard.core.store.metrics import CHUNK_POINTS, insert_chunks, summarize_stored, value_out
from runyard.core.store.postgres_schema import MIGRATIONS as PG_MIGRATIONS
from runyard.core.store.sqlite import pack, unpack

# Each entry moves the schema from version i to i + 1. Never edit a released entry:
# append a new one.
MIGRATIONS: list[str | Callable[[Connection], None]] = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        experiment TEXT NOT NULL,
        status TEXT NOT NULL,
        target TEXT NOT NULL,
        target_type TEXT NOT NULL,
        job TEXT,
        script TEXT,
        command TEXT NOT NULL,          -- JSON list of arguments, never run through a shell
        snapshot_ref TEXT,
        snapshot_commit TEXT,
        env_hash TEXT,
        created REAL NOT NULL,
        started REAL,
        ended REAL,
        exit_code INTEGER,
        reason TEXT,
        supervisor_pid INTEGER,
        pid INTEGER,
        options TEXT NOT NULL DEFAULT '{}'  -- JSON: what the backend needs to run it
    );
    CREATE INDEX runs_experiment ON runs(experiment, created);
    CREATE INDEX runs_status ON runs(status);
    CREATE TABLE status_history (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        time REAL NOT NULL,
        reason TEXT
    );
    CREATE INDEX status_history_run ON status_history(run_id);
    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        step INTEGER NOT NULL,
        wall_time REAL NOT NULL,
        value REAL                      -- NULL means NaN
    );
    CREATE INDEX metrics_run_key ON metrics(run_id, key, step);
    CREATE TABLE latest_metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        step INTEGER NOT NULL,
        wall_time REAL NOT NULL,
        value REAL,
        count INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE artifacts (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (run_id, path)
    );
    """,
]


def _pack_metrics(db: Connection) -> None:
    """Version 2: metric points move from one row each to packed chunks (columns of
    steps, wall times and values per run and key), which read and write about 50x faster."""
    db.execute(
        """
        CREATE TABLE metric_chunks (
            id INTEGER PRIMARY KEY,    -- chunks are appended in order: the cursor
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            n INTEGER NOT NULL,        -- points in the chunk
            min_value REAL,            -- ignoring NaN; NULL when every value is NaN
            max_value REAL,
            steps BLOB NOT NULL,       -- n little-endian int64 (or first, last: pack_steps)
            times BLOB NOT NULL,       -- n little-endian float64 (seconds since the epoch)
            vals BLOB NOT NULL         -- n little-endian float64, NaN kept
        )
        """
    )
    db.execute("CREATE INDEX metric_chunks_run_key ON metric_chunks(run_id, key, id)")
    rows = db.execute(
        "SELECT run_id, key, step, wall_time, value FROM metrics ORDER BY run_id, key, rowid"
    )
    group: list[tuple[str, int, float, float]] = []
    current: tuple[str, str] | None = None
    for run_id, key, step, wall, value in rows:
        if current != (run_id, key) or len(group) >= CHUNK_POINTS:
            if current is not None and group:
                insert_chunks(db, current[0], group, pack)
            current, group = (run_id, key), []
        group.append((key, step, wall, value_out(value)))
    if current is not None and group:
        insert_chunks(db, current[0], group, pack)
    db.execute("DROP TABLE metrics")


MIGRATIONS.append(_pack_metrics)

# 3: the model registry (versions with their lineage, aliases) and deployments with the
# telemetry samples read from each running service.
MIGRATIONS.append(
    """
    CREATE TABLE model_versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        kind TEXT NOT NULL,
        framework TEXT,
        run_id TEXT NOT NULL,
        source_path TEXT NOT NULL,
        snapshot_commit TEXT,
        target TEXT,
        env_hash TEXT,
        created REAL NOT NULL,
        tags TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (name, version)
    );
    CREATE TABLE model_aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (name, alias),
        FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
    );
    CREATE TABLE deployments (
        name TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        target TEXT NOT NULL,
        image TEXT,
        container_id TEXT,
        host TEXT,
        port INTEGER,
        status TEXT NOT NULL,
        created REAL NOT NULL,
        stopped REAL,
        options TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE deployment_stats (
        deployment TEXT NOT NULL,
        time REAL NOT NULL,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        p50_ms REAL,
        p95_ms REAL
    );
    CREATE INDEX deployment_stats_by_time ON deployment_stats (deployment, time);
    """
)
# 4: each run's lock, the exact resolved set of its environment (`locks`): the
# interpreter's version and who built it, and one row per installed distribution.
MIGRATIONS.append(
    """
    CREATE TABLE run_locks (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        python TEXT NOT NULL,           -- the interpreter's version, "3.11.2"
        installer TEXT,                 -- "uv" or "pip", NULL when Runyard did not build it
        recorded REAL NOT NULL
    );
    CREATE TABLE run_lock_packages (
        run_id TEXT NOT NULL REFERENCES run_locks(run_id) ON DELETE CASCADE,
        name TEXT NOT NULL,             -- normalized (PEP 503)
        version TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
    );
    CREATE INDEX run_lock_packages_by_name ON run_lock_packages (name, version);
    """
)


def _summarize_metrics(db: Connection) -> None:
    """Version 5: per-block summaries of every metric series (`metrics` module
    docstring), so that a chart of a long series reads them instead of its points; the
    points stored so far are summarized here."""
    db.execute(
        """
        CREATE TABLE metric_summaries (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            level INTEGER NOT NULL,    -- a block holds 128 * 4**level points
            block INTEGER NOT NULL,    -- positions [block * size, block * size + n), in arrival order
            n INTEGER NOT NULL,
            step_lo INTEGER NOT NULL,  -- the smallest and largest step in the block
            step_hi INTEGER NOT NULL,
            min_pos INTEGER NOT NULL,  -- the minimum ignoring NaN (all NaN: the first point,
            min_step INTEGER NOT NULL, -- with a NULL value)
            min_time REAL NOT NULL,
            min_value REAL,
            max_pos INTEGER NOT NULL,  -- the maximum, likewise
            max_step INTEGER NOT NULL,
            max_time REAL NOT NULL,
            max_value REAL,
            last_step INTEGER NOT NULL,
            last_time REAL NOT NULL,
            last_value REAL,
            chunk INTEGER,             -- level 0: the chunk holding the first point,
            chunk_at INTEGER,          -- its index there,
            chunk_last INTEGER,        -- and the chunk holding the last point
            PRIMARY KEY (run_id, key, level, block)
        ) WITHOUT ROWID
        """
    )
    summarize_stored(db, unpack)


MIGRATIONS.append(_summarize_metrics)
# 6: runs listed a page at a time stay as fast at 100,000 runs as at 1,000: by creation
# (newest first) through runs_created, by a metric through latest_metrics_by_value.
MIGRATIONS.append(
    """
    CREATE INDEX runs_created ON runs (created, id);
    CREATE INDEX latest_metrics_by_value ON latest_metrics (key, value, run_id);
    """
)
# 7: the host a run's environment was measured on, with its lock (`locks.HostFacts`): a
# JSON object (OS and release, machine, CPU model and count, GPU names), NULL for a lock
# recorded before host facts were.
MIGRATIONS.append("ALTER TABLE run_locks ADD COLUMN host TEXT")
# 8: who ran each run, and where: the git identity of the project it was submitted
# from (user.name, user.email) and the machine's host name (NULL for runs recorded
# before, or where no git identity is set).
MIGRATIONS.append(
    """
    ALTER TABLE runs ADD COLUMN user_name TEXT;
    ALTER TABLE runs ADD COLUMN user_email TEXT;
    ALTER TABLE runs ADD COLUMN machine TEXT;
    CREATE INDEX runs_user_name ON runs (user_name, created);
    CREATE INDEX runs_user_email ON runs (user_email, created);
    """
)
SCHEMA_VERSION = len(MIGRATIONS)
if len(PG_MIGRATIONS) != SCHEMA_VERSION:  # pragma: no cover - a mistake in the lists
    raise AssertionError("postgres_schema.MIGRATIONS must have one entry per version")


def _steps(engine: Engine) -> list[str | Callable[[Connection], None]]:
    return PG_MIGRATIONS if engine.dialect == "postgresql" else MIGRATIONS


def migrate(engine: Engine) -> None:
    """Bring the store up to `SCHEMA_VERSION` (see the module docstring)."""
    version = engine.schema_version()
    if version > SCHEMA_VERSION:
        raise RunyardError(
            f"The run store {engine.name} has schema version {version}, newer than this "
            f"Runyard understands ({SCHEMA_VERSION}).",
            hint="upgrade runyard",
        )
    if version == SCHEMA_VERSION:
        return
    if engine.read_only:
        raise RunyardError(
            f"The run store {engine.name} has schema version {version}, older than this "
            f"Runyard's ({SCHEMA_VERSION}), and it is opened read-only.",
            hint="run any runyard command once where .runyard/state is writable to upgrade it",
        )
    steps = _steps(engine)
    with engine.tx() as db:
        version = engine.schema_version(db)
        for i in range(version, SCHEMA_VERSION):
            step = steps[i]
            if callable(step):
                step(db)
                continue
            for statement in step.split(";"):
                if statement.strip():
                    db.execute(statement)
        engine.set_schema_version(db, SCHEMA_VERSION)
