"""The run store: runs, metrics, models and deployments behind one `Store`.

`Store(path)` opens the project's store (SQLite in WAL mode under `.runyard/state/`, or
the team's PostgreSQL store the settings name), brings its schema up to date and
answers every call the CLI, the language server, the supervisors and the model code
make. Cheap to open; safe across processes. A state
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
* `postgres`, `postgres_schema`: `PostgresEngine` (psycopg 3) and its DDL, imported
  only when a PostgreSQL store is used.
* `identity`: who runs things (git identity) and where (host name).
* `copy`: `copy_store`, one store's history into another (`runyard store migrate`).

`Store` is the mix of the five table classes over one engine; `from runyard.core.store
import Store, Run, ...` is the way in, and the modules above are its parts. `models`,
`deployments` and `locks` are imported when first used (a call of theirs on a `Store`,
or one of their names from this package), so that a run starts without them.

Which engine: `Store(path)` asks the settings
(`runyard.core.config.settings.store_setting`): `RUNYARD_STORE_URL`, else `store:` in the
project's `.runyard/config.yml` (the project is the folder holding `.runyard/state/`
when `path` is `.runyard/state/runyard.db`), else SQLite at `path`. `Store(path,
url=...)` names the store outright (`LOCAL` for the SQLite file at `path` whatever the
settings say). `Store.location` is the store as it may be shown: the path, or the URL
without its password.

An engine is a module with a class that provides what `engine.Engine` declares
(`sqlite.SQLiteEngine`, `postgres.PostgresEngine`):

1. Opening and closing, read-only included (a read-only connection or role; refuse
   writes with the same "read-only" `RunyardError`), and the driver's errors turned
   into `RunyardError`s that name the store and the fix (`sqlite.storage_error`,
   `PostgresEngine.error`).
2. `tx()`: one write transaction that takes the write lock at its start (SQLite's
   `BEGIN IMMEDIATE`; an advisory lock in PostgreSQL), yielding a connection
   whose `execute`/`executemany` take `?` placeholders (translated to the driver's
   `%s`) and whose cursors have `rowcount`, `fetchone`, `fetchall` and iteration.
   `read(sql, args)`: one query outside a write transaction, all rows.
   `insert_rows`: many rows at once (PostgreSQL: COPY).
3. The schema version: `schema_version()` / `set_schema_version()` (SQLite's
   `PRAGMA user_version`; a one-row table elsewhere), and its own DDL list with the
   same version numbers, tables and columns as `schema.MIGRATIONS` (BLOB -> bytea,
   REAL -> double precision, `INTEGER PRIMARY KEY` -> an identity column), chosen by
   its `dialect`.
4. The SQL fragments the tables' statements differ in: `position` (a column ordering
   rows by insertion, SQLite's `rowid`: the status history and telemetry samples need
   one, so those tables get an identity column), `now_seconds` (the time now as an SQL
   expression), `unindexed` (a scan hint after a table name; empty where there is none),
   `like` (a pattern match that ignores ASCII case).
5. `pack`/`unpack`: the packed metric columns (little-endian int64 and float64; bytea
   holds the same bytes). NaN is NULL in the value columns of `latest_metrics` and the
   chunks' min and max, as in SQLite, whatever the engine could hold.

Everything else (the statements, the rules, the dataclasses) is shared. Connection
options a team store needs (a URL, credentials by reference only) belong to the
settings, never to this package.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runyard.core.store.metrics import CHUNK_POINTS, MetricTables
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

if TYPE_CHECKING:
    from runyard.core.store.deployments import Deployment, DeploymentTables
    from runyard.core.store.engine import Engine
    from runyard.core.store.locks import LockTables, RunLock
    from runyard.core.store.models import ModelRecord, ModelTables

    class _LaterTables(ModelTables, DeploymentTables, LockTables):
        pass

else:

    class _LaterTables:
        """The tables of models, deployments and run locks, loaded when one of their
        calls is first made (`_load_later_tables`): a run's supervisor and `submit`
        never import them before the run has started."""

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__") or not _load_later_tables():
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            return getattr(self, name)


# the noun modules loaded when first used: the names this package gives from each
_LATER = {
    "models": ("ModelTables", ("ModelRecord",)),
    "deployments": ("DeploymentTables", ("Deployment",)),
    "locks": ("LockTables", ("RunLock",)),
}


def _load_later_tables() -> bool:
    """Import the later noun modules and give `_LaterTables` their calls (as if it
    derived from their table classes); False when that was done already."""
    if "set_run_lock" in vars(_LaterTables):
        return False
    import importlib

    for module, (tables, _names) in _LATER.items():
        cls = getattr(importlib.import_module(f"runyard.core.store.{module}"), tables)
        for name, value in vars(cls).items():
            if not name.startswith("__"):
                setattr(_LaterTables, name, value)
    return True


def __getattr__(name: str) -> Any:
    """`Deployment`, `ModelRecord`, `RunLock`: from their module, imported now."""
    for module, (_tables, names) in _LATER.items():
        if name in names:
            import importlib

            value = getattr(importlib.import_module(f"runyard.core.store.{module}"), name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Listener(Protocol):
    def stop(self) -> None: ...


LOCAL = "sqlite"  # `Store(path, url=LOCAL)`: the SQLite file at `path`, whatever is set
STORE_URL_ENV = "RUNYARD_STORE_URL"

__all__ = [
    "CHUNK_POINTS",
    "FINAL_STATUSES",
    "LIVE_STATUSES",
    "LOCAL",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Deployment",
    "ModelRecord",
    "Run",
    "RunLock",
    "Store",
    "json_number",
    "run_env_without_store_password",
    "store_configured",
    "store_exists",
    "store_location",
    "store_writable",
    "url_without_password",
]


class Store(RunTables, MetricTables, _LaterTables):
    """One connection to the project's run store (see the package docstring).

    `read_only=True` opens the store for reading only (see `runyard.core.store.sqlite`):
    every write then fails with the "read-only" error; nothing is migrated. `url` names
    the store outright (a PostgreSQL URL, or `LOCAL`); None asks the settings.
    """

    def __init__(self, path: Path, read_only: bool = False, *, url: str | None = None) -> None:
        self.path = path
        self.read_only = read_only
        self.root = project_root(path)
        if url is None and store_configured(self.root):
            from runyard.core.config.settings import store_setting

            url = store_setting(self.root).url
        engine: Engine
        if url is None or url == LOCAL:
            engine = SQLiteEngine(path, read_only)
        else:
            from runyard.core.store.postgres import PostgresEngine

            engine = PostgresEngine(url, read_only, path)
        self._engine = engine
        try:
            migrate(engine)
        except BaseException:
            engine.close()
            raise

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._engine.dialect

    @property
    def location(self) -> str:
        """The store as it may be shown: its path, or its URL without the password."""
        return self._engine.name

    def listen(self, notify: Callable[[], None]) -> Listener | None:
        """Call `notify()` (on a thread of the store's) whenever a run changes, in any
        client of the store, until `.stop()`: a team store can say so (PostgreSQL's
        LISTEN); None for a store that cannot, which is then polled."""
        listen = getattr(self._engine, "listen", None)
        return listen(notify) if listen is not None else None

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self._engine.schema_version()


def store_configured(root: Path | None) -> bool:
    """Whether the settings may name a store other than the SQLite file (a quick look,
    so that opening the usual store does not load the settings' reader): then the store
    exists even where `.runyard/state/runyard.db` does not."""
    if os.environ.get("RUNYARD_STORE_URL", "").strip():
        return True
    if root is None:
        return False
    try:
        return b"store" in (root / ".runyard" / "config.yml").read_bytes()
    except OSError:
        return False


def url_without_password(url: str) -> str:
    """`url` with its password taken out (the user part's and a `password=` option), so
    that libpq looks for it where it otherwise would (PGPASSWORD, ~/.pgpass, a service
    file). Unlike `settings.redact_url` (for showing) it leaves no mark in its place."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return ""  # unreadable: nothing of it is passed on
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = parts.query
    if any(k == "password" for k, _ in pairs):
        query = urlencode([(k, v) for k, v in pairs if k != "password"], safe="/")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def run_env_without_store_password(env: dict[str, str]) -> dict[str, str]:
    """A copy of `env` as a run's process may get it: `RUNYARD_STORE_URL` without its password.

    A supervisor needs the password to reach the team store; the run's own code does
    not (its points go through the tracking file), and a script that prints or ships
    its environment must not carry it. `PGPASSWORD`, the user's own libpq variable, is
    left as the user set it."""
    url = env.get(STORE_URL_ENV)
    if url and ("@" in url or "password" in url):
        env = {**env, STORE_URL_ENV: url_without_password(url)}
    return env


def store_location(path: Path) -> str:
    """What `Store(path).location` says, without opening the store (nothing connects):
    the SQLite path, or the URL the settings name without its password. A settings
    file that cannot be read raises its error, as `Store(path)` would."""
    root = project_root(path)
    if store_configured(root):
        from runyard.core.config.settings import redact_url, store_setting

        url = store_setting(root).url
        if url is not None:
            return redact_url(url)
    return str(path)


def store_exists(path: Path) -> bool:
    """Whether `Store(path)` has a store to open without making one: the SQLite file at
    `path`, or a team store the settings name (which is there before this project's
    first run). Use it instead of `path.exists()`."""
    return path.exists() or store_configured(project_root(path))


def project_root(path: Path) -> Path | None:
    """The project whose store `path` is (`<root>/.runyard/state/runyard.db`), or None."""
    state = path.parent
    if state.name == "state" and state.parent.name == ".runyard":
        return state.parent.parent
    return None
