"""The run store: runs, metrics, models and deployments behind one `Store`.

`Store(path)` opens the project's store (SQLite in WAL mode under `.runyard/state/`),
brings its schema up to date and answers every call the CLI, the language server, the
supervisors and the model code make. Cheap to open; safe across processes. A state
folder this process cannot write (a read-only mount, another user's project) is opened
read-only (`Store(path, read_only=True)`, see `store_writable`): listing and showing
runs work there, and any write fails with a "read-only" error, never a traceback.

The package, by noun:

* `schema`: the DDL as a list of migrations, and `migrate`.
* `runs`: `Run`, status transitions, params, tags, artifacts (`RunTables`).
* `metrics`: packed metric chunks, cursors, latest values (`MetricTables`).
* `models`: `ModelRecord`, model versions and aliases (`ModelTables`).
* `deployments`: `Deployment`, deployments and their telemetry samples
  (`DeploymentTables`).
* `locks`: `RunLock`, each run's lock, the exact resolved set of its environment
  (`LockTables`: `set_run_lock`, `run_lock`).
* `engine`: the seam, the `Engine` protocol the tables write against.
* `sqlite`: `SQLiteEngine`, the one place SQLite's own pieces live.

`Store` is the mix of the five table classes over one engine; `from runyard.core.store
import Store, Run, ...` is the way in, and the modules above are its parts.

A second engine (PostgreSQL is planned, chosen by a URL setting) is a module beside
`sqlite` with a class that provides what `engine.Engine` declares:

1. Opening and closing, read-only included (a read-only connection or role; refuse
   writes with the same "read-only" `RunyardError`), and the driver's errors turned
   into `RunyardError`s that name the store and the fix (`sqlite.storage_error`).
2. `tx()`: one write transaction that takes the write lock at its start (SQLite's
   `BEGIN IMMEDIATE`; `SERIALIZABLE` or a lock in PostgreSQL), yielding a connection
   whose `execute`/`executemany` take `?` placeholders (translate them to the driver's
   `%s`) and whose cursors have `rowcount`, `fetchone`, `fetchall` and iteration.
   `read(sql, args)`: one query outside a write transaction, all rows.
3. The schema version: `schema_version()` / `set_schema_version()` (SQLite's
   `PRAGMA user_version`; a one-row table elsewhere), and its own DDL list with the
   same version numbers, tables and columns as `schema.MIGRATIONS` (BLOB -> bytea,
   REAL -> double precision, `INTEGER PRIMARY KEY` -> an identity column).
4. The SQL fragments the tables' statements differ in: `position` (a column ordering
   rows by insertion, SQLite's `rowid`: the status history and telemetry samples need
   one, so those tables get an identity column), `now_seconds` (the time now as an SQL
   expression), `unindexed` (a scan hint after a table name; empty where there is none).
5. `pack`/`unpack`: the packed metric columns (little-endian int64 and float64; bytea
   holds the same bytes). NaN is NULL in the value columns of `latest_metrics` and the
   chunks' min and max, as in SQLite, whatever the engine could hold.

Everything else (the statements, the rules, the dataclasses) is shared. Connection
options a team store needs (a URL, credentials by reference only) belong to the
settings, never to this package.
"""

from __future__ import annotations

from pathlib import Path

from runyard.core.store.deployments import Deployment, DeploymentTables
from runyard.core.store.locks import LockTables, RunLock
from runyard.core.store.metrics import CHUNK_POINTS, MetricTables
from runyard.core.store.models import ModelRecord, ModelTables
from runyard.core.store.runs import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    STATUSES,
    Run,
    RunTables,
    json_number,
)
from runyard.core.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from runyard.core.store.sqlite import SQLiteEngine, store_writable

__all__ = [
    "CHUNK_POINTS",
    "FINAL_STATUSES",
    "LIVE_STATUSES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Deployment",
    "ModelRecord",
    "Run",
    "RunLock",
    "Store",
    "json_number",
    "store_writable",
]


class Store(RunTables, MetricTables, ModelTables, DeploymentTables, LockTables):
    """One connection to the project's run store (see the package docstring).

    `read_only=True` opens the store for reading only (see `runyard.core.store.sqlite`):
    every write then fails with the "read-only" error; nothing is migrated.
    """

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._engine = SQLiteEngine(path, read_only)
        migrate(self._engine)

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self._engine.schema_version()
