"""The store's schema in PostgreSQL: the same versions, tables and columns as
`runyard.core.store.schema.MIGRATIONS` (SQLite's), in PostgreSQL's types.

`MIGRATIONS[i]` moves a PostgreSQL store from version i to i + 1, applied by the same
`schema.migrate` (one transaction, under the store's write lock, the version re-read
inside it). Never edit a released entry: append one, and append SQLite's at the same
index (`schema` checks at import that both lists have the same length).

Types: TEXT stays TEXT, REAL becomes double precision, INTEGER bigint (steps, cursors
and pids are 64-bit), BLOB bytea (the same packed bytes). Where SQLite orders rows by
`rowid` (`Engine.position`), the table has an identity column `seq`: `runs`,
`status_history`, `deployment_stats`. `metric_chunks.id` is given by the writer (the
largest plus one, under the write lock), as in SQLite. The chunks' packed columns are
stored EXTERNAL: out of line and never compressed (packed floats do not compress, and
trying cost most of a write's time).

Versions 2 and 5 reshape stored data in SQLite (points into chunks, summaries of
stored chunks). A PostgreSQL store is always created by a Runyard that brings it to its
newest version in the same transaction, so at those versions its tables are empty and
the entries here are the DDL alone.

Version 8 adds, besides the columns both engines get (who ran a run: `user_name`,
`user_email`, `machine`), a trigger that notifies `runyard_runs` with the run's id
whenever a run's state or latest metrics change: the language servers of a team follow
each other's runs by LISTEN instead of polling (`runyard.lsp.live`).
"""

from __future__ import annotations

from collections.abc import Callable

from runyard.core.store.engine import Connection

MIGRATIONS: list[str | Callable[[Connection], None]] = [
    # 1
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        experiment TEXT NOT NULL,
        status TEXT NOT NULL,
        target TEXT NOT NULL,
        target_type TEXT NOT NULL,
        job TEXT,
        script TEXT,
        command TEXT NOT NULL,
        snapshot_ref TEXT,
        snapshot_commit TEXT,
        env_hash TEXT,
        created double precision NOT NULL,
        started double precision,
        ended double precision,
        exit_code bigint,
        reason TEXT,
        supervisor_pid bigint,
        pid bigint,
        options TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_experiment ON runs (experiment, created);
    CREATE INDEX runs_status ON runs (status);
    CREATE TABLE status_history (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        time double precision NOT NULL,
        reason TEXT
    );
    CREATE INDEX status_history_run ON status_history (run_id);
    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        step bigint NOT NULL,
        wall_time double precision NOT NULL,
        value double precision
    );
    CREATE TABLE latest_metrics (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        step bigint NOT NULL,
        wall_time double precision NOT NULL,
        value double precision,
        count bigint NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE artifacts (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size bigint NOT NULL,
        PRIMARY KEY (run_id, path)
    )
    """,
    # 2
    """
    CREATE TABLE metric_chunks (
        id bigint PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        n bigint NOT NULL,
        min_value double precision,
        max_value double precision,
        steps bytea NOT NULL,
        times bytea NOT NULL,
        vals bytea NOT NULL
    );
    CREATE INDEX metric_chunks_run_key ON metric_chunks (run_id, key, id);
    ALTER TABLE metric_chunks ALTER COLUMN steps SET STORAGE EXTERNAL;
    ALTER TABLE metric_chunks ALTER COLUMN times SET STORAGE EXTERNAL;
    ALTER TABLE metric_chunks ALTER COLUMN vals SET STORAGE EXTERNAL;
    DROP TABLE metrics
    """,
    # 3
    """
    CREATE TABLE model_versions (
        name TEXT NOT NULL,
        version bigint NOT NULL,
        digest TEXT NOT NULL,
        size bigint NOT NULL,
        kind TEXT NOT NULL,
        framework TEXT,
        run_id TEXT NOT NULL,
        source_path TEXT NOT NULL,
        snapshot_commit TEXT,
        target TEXT,
        env_hash TEXT,
        created double precision NOT NULL,
        tags TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (name, version)
    );
    CREATE TABLE model_aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version bigint NOT NULL,
        PRIMARY KEY (name, alias),
        FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
    );
    CREATE TABLE deployments (
        name TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        version bigint NOT NULL,
        target TEXT NOT NULL,
        image TEXT,
        container_id TEXT,
        host TEXT,
        port bigint,
        status TEXT NOT NULL,
        created double precision NOT NULL,
        stopped double precision,
        options TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE deployment_stats (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        deployment TEXT NOT NULL,
        time double precision NOT NULL,
        requests bigint NOT NULL,
        errors bigint NOT NULL,
        p50_ms double precision,
        p95_ms double precision
    );
    CREATE INDEX deployment_stats_by_time ON deployment_stats (deployment, time)
    """,
    # 4
    """
    CREATE TABLE run_locks (
        run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        python TEXT NOT NULL,
        installer TEXT,
        recorded double precision NOT NULL
    );
    CREATE TABLE run_lock_packages (
        run_id TEXT NOT NULL REFERENCES run_locks (run_id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
    );
    CREATE INDEX run_lock_packages_by_name ON run_lock_packages (name, version)
    """,
    # 5
    """
    CREATE TABLE metric_summaries (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        level bigint NOT NULL,
        block bigint NOT NULL,
        n bigint NOT NULL,
        step_lo bigint NOT NULL,
        step_hi bigint NOT NULL,
        min_pos bigint NOT NULL,
        min_step bigint NOT NULL,
        min_time double precision NOT NULL,
        min_value double precision,
        max_pos bigint NOT NULL,
        max_step bigint NOT NULL,
        max_time double precision NOT NULL,
        max_value double precision,
        last_step bigint NOT NULL,
        last_time double precision NOT NULL,
        last_value double precision,
        chunk bigint,
        chunk_at bigint,
        chunk_last bigint,
        PRIMARY KEY (run_id, key, level, block)
    )
    """,
    # 6
    """
    CREATE INDEX runs_created ON runs (created, id);
    CREATE INDEX latest_metrics_by_value ON latest_metrics (key, value, run_id)
    """,
    # 7
    "ALTER TABLE run_locks ADD COLUMN host TEXT",
]


def _who_ran(db: Connection) -> None:
    """Version 8: who ran each run (git identity) and on which machine; and the
    notification of run changes (the trigger's body holds `;`, so it is one statement)."""
    for statement in (
        "ALTER TABLE runs ADD COLUMN user_name TEXT",
        "ALTER TABLE runs ADD COLUMN user_email TEXT",
        "ALTER TABLE runs ADD COLUMN machine TEXT",
        "CREATE INDEX runs_user_name ON runs (user_name, created)",
        "CREATE INDEX runs_user_email ON runs (user_email, created)",
        """
        CREATE OR REPLACE FUNCTION runyard_notify_run() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('runyard_runs', NEW.run_id);
            RETURN NULL;
        END
        $$
        """,
        "CREATE TRIGGER status_history_notify AFTER INSERT ON status_history "
        "FOR EACH ROW EXECUTE FUNCTION runyard_notify_run()",
        "CREATE TRIGGER latest_metrics_notify AFTER INSERT OR UPDATE ON latest_metrics "
        "FOR EACH ROW EXECUTE FUNCTION runyard_notify_run()",
    ):
        db.execute(statement)


MIGRATIONS.append(_who_ran)
