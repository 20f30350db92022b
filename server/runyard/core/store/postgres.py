"""The PostgreSQL engine: a team's shared run store (psycopg 3).

Chosen by a URL (`runyard.core.config.settings.store_setting`: `RUNYARD_STORE_URL`, else
`store:` in `.runyard/config.yml`); everything that is PostgreSQL's own lives here, the
statements and rules are the store's shared ones (see the package docstring).

* Credentials: the URL is handed to libpq as it is, so the password comes from where
  libpq looks for it (`PGPASSWORD`, `~/.pgpass`, a service file named by
  ``?service=``). Runyard never holds it: the engine's `name`, every message and every
  log line carry the URL without its password (`settings.redact_url`), and a driver
  message that would repeat it has it blanked.
* Statements: the tables' `?` placeholders become psycopg's `%s` (a literal `%` becomes
  `%%`), translated once per statement text. A statement without arguments is sent
  as it is. Reads ask for binary results (bytea comes back as its bytes, not as hex
  text to decode: a chart's chunks read about twice as fast).
* Writes: one transaction per `tx()`, which first takes one advisory lock for the whole
  store (`pg_advisory_xact_lock`), so writers follow each other as they do in SQLite
  under `BEGIN IMMEDIATE`. That keeps two rules the tables rely on: the next metric
  chunk id is the largest one plus one, and insertion positions (identity columns)
  become visible in their own order, so a reader paging "after position N" (the live
  feed) never skips a row committed late. Reads run outside transactions
  (autocommit), each statement on its own snapshot.
* Positions: `seq`, an identity column on `runs`, `status_history` and
  `deployment_stats` (SQLite's `rowid`). Times are double precision seconds, metric
  chunks bytea holding the same packed little-endian columns as SQLite's BLOBs.
* Bulk writes: metric chunks go in with one binary `COPY` per write
  (`insert_rows`); `runyard store migrate` copies whole tables the same way.
* Schema version: the one-row table `schema_version`; the DDL is
  `runyard.core.store.postgres_schema.MIGRATIONS`, with SQLite's version numbers.
* Several projects in one database: each keeps its store in a PostgreSQL schema of its
  own, the first one of the connection's `search_path`. A project names it in its URL
  (``?options=-csearch_path%3Dmy_project``, which libpq sends as it is; the committed
  `store:` of `.runyard/config.yml` is the place, so every clone names the same one);
  without one it is PostgreSQL's default (`public`, or a schema named like the role
  where there is one), which is right for a database of its own. A schema named that
  is not there yet is created by the first client that may write (`_ensure_schema`);
  every statement names its tables without a schema, so each project sees only its
  own. Writers of one schema take its own advisory lock (`STORE_LOCK`, the schema's
  `hashtext`), so projects never wait for each other. The notification channel is the
  database's (`runyard_runs`): a feed woken by another project's run only reads its
  own store again and finds nothing new.
* Read-only (`read_only=True`, or a role that may only read): the session is
  `default_transaction_read_only`; a write fails with the "read-only" error, and a
  role without the right with one that names the role.
* Following changes: `listen(notify)` starts a `ChangeListener`, a thread LISTENing
  on the channel the schema's triggers notify when a run's state or latest metrics
  change, so the language server's live feed follows a teammate's runs without
  polling the database.
* Faults: a server that cannot be reached, a password refused, a database that does not
  exist, a connection lost in a transaction become `RunyardError`s naming the store and
  the fix. A transaction cut off is rolled back by the server: nothing half-written. A
  connection found broken is opened again at the next call.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors

from runyard.core.config.settings import redact_url
from runyard.core.errors import RunyardError
from runyard.core.store.sqlite import pack, unpack

if TYPE_CHECKING:
    from runyard.core.store.engine import Connection

log = logging.getLogger("runyard.store")

STORE_LOCK = 0x52756E79  # with the schema's hash: the lock every write transaction takes
CONNECT_TIMEOUT = 10  # seconds
NOTIFY_CHANNEL = "runyard_runs"  # what the triggers of schema version 8 notify on

_SQL: dict[str, str] = {}


def to_pg(sql: str) -> str:
    """A statement with `?` placeholders as psycopg takes it (`%s`, `%` as `%%`)."""
    text = _SQL.get(sql)
    if text is None:
        text = _SQL[sql] = sql.replace("%", "%%").replace("?", "%s")
    return text


class PgConnection:
    """A psycopg connection inside a transaction, taking `?` placeholders."""

    def __init__(self, db: psycopg.Connection[Any]) -> None:
        self.db = db

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        if not parameters:
            return self.db.execute(sql.encode())  # bytes: no placeholder is looked for
        return self.db.execute(to_pg(sql), parameters)

    def executemany(
        self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /
    ) -> psycopg.Cursor[Any]:
        cursor = self.db.cursor()
        cursor.executemany(to_pg(sql), list(seq_of_parameters))
        return cursor


class PostgresEngine:
    """One connection to a PostgreSQL store (see the module docstring)."""

    dialect = "postgresql"
    position = "seq"
    now_seconds = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS double precision)"
    unindexed = ""
    like = "ILIKE"  # SQLite's LIKE ignores ASCII case; PostgreSQL's does not

    def __init__(self, url: str, read_only: bool = False, path: Path | None = None) -> None:
        self.url = url
        self.name = redact_url(url)
        self.path = path if path is not None else Path(self.name)
        self.read_only = read_only
        self._secret = _password(url)
        self._types: dict[str, list[str]] = {}
        self._db = self._connect()

    # ---- connecting and errors -------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            db = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="runyard",
            )
            if self.read_only:
                db.execute("SET default_transaction_read_only = on")
            self._ensure_schema(db)
            return db
        except psycopg.Error as exc:
            raise self.error(exc) from None

    def _ensure_schema(self, db: psycopg.Connection[Any]) -> None:
        """Create the schema the connection's `search_path` names first, when it is not
        there (a project's first run in a database shared by several projects)."""
        if db.execute("SELECT current_schema()").fetchone() != (None,):
            return
        row = db.execute("SHOW search_path").fetchone()
        name = first_schema(str(row[0]) if row else "")
        if name is None:
            return  # nothing named: PostgreSQL's own error says so at the first table
        if self.read_only:
            raise RunyardError(
                f"The team store {self.name} has no schema {name!r} yet: nothing has been "
                "stored in it, and a read-only store creates nothing.",
                hint="submit a run from a copy that may write, or fix the schema the URL's "
                "options=-csearch_path=... names",
            )
        from psycopg import sql

        try:
            db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
        except (pg_errors.UniqueViolation, pg_errors.DuplicateSchema):
            pass  # another client created it meanwhile
        except pg_errors.InsufficientPrivilege as exc:
            raise RunyardError(
                f"The database role may not create the schema {name!r} of {self.name} "
                f"({self._text(exc)}); nothing was changed.",
                hint=f"ask the database's owner to run CREATE SCHEMA {name} AUTHORIZATION "
                "<this role>, or name a schema this role owns in the URL",
            ) from None

    def _live(self) -> psycopg.Connection[Any]:
        """The connection, opened again when the server dropped it."""
        if self._db.closed or self._db.broken:
            log.info("the connection to %s was lost; connecting again", self.name)
            self._db = self._connect()
        return self._db

    def _text(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, "***")
        return re.sub(r"^connection failed: ", "", text)

    def error(self, exc: BaseException) -> RunyardError:
        """What went wrong with the store, said for the user (never the password)."""
        text = self._text(exc)
        low = text.lower()
        where = f"the team store {self.name}"
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            return RunyardError(
                f"The run store {self.name} is opened read-only; nothing was changed.",
                hint="list and open runs here; submit from a copy of the project that may write",
            )
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            return RunyardError(
                f"The database role may only read {where}; nothing was changed ({text}).",
                hint="list and open runs, or ask the store's owner to grant this role "
                "INSERT, UPDATE and DELETE on its tables",
            )
        if "password authentication failed" in low or "no password supplied" in low:
            return RunyardError(
                f"Could not log in to {where}: {text}.",
                hint="give the password to libpq: PGPASSWORD, ~/.pgpass "
                "(host:port:database:user:password, mode 0600) or a service file; "
                "never in .runyard/config.yml",
            )
        if "does not exist" in low and "database" in low:
            return RunyardError(
                f"Could not open {where}: {text}.",
                hint="create the database (createdb NAME) or fix the URL's database name",
            )
        if isinstance(exc, psycopg.OperationalError):
            return RunyardError(
                f"Could not reach {where}: {text}. Nothing was changed by this command.",
                hint="check that the database server is up and that the URL in "
                "RUNYARD_STORE_URL or `store:` in .runyard/config.yml names its host and port",
            )
        return RunyardError(f"The run store {self.name} could not be used: {text}")

    def close(self) -> None:
        self._db.close()

    # ---- the engine's calls ------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[PgConnection]:
        try:
            db = self._live()
            with db.transaction():
                db.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (STORE_LOCK,)
                )
                yield PgConnection(db)
        except psycopg.Error as exc:
            raise self.error(exc) from None

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            db = self._live()
            if not args:
                return db.execute(sql.encode(), binary=True).fetchall()
            return db.execute(to_pg(sql), args, binary=True).fetchall()
        except psycopg.Error as exc:
            raise self.error(exc) from None

    def schema_version(self, db: Connection | None = None) -> int:
        def one(sql: str) -> Any:
            if db is not None:
                return db.execute(sql).fetchone()[0]
            return self.read(sql)[0][0]

        # pg_tables read with a fresh snapshot, not to_regclass: after waiting for the
        # write lock, the catalog cache may not know yet of a table another process
        # created meanwhile (two clients opening a new store at once)
        if not one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
            "WHERE schemaname = current_schema() AND tablename = 'schema_version')"
        ):
            return 0
        return int(one("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    def set_schema_version(self, db: Connection, version: int) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (int(version),))

    def insert_rows(
        self, db: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Rows into `table` with one binary COPY (the columns' types read once)."""
        assert isinstance(db, PgConnection)
        types = self._column_types(db, table, columns)
        cursor = db.db.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(types)
            for row in rows:
                cp.write_row(row)

    def _column_types(self, db: PgConnection, table: str, columns: Sequence[str]) -> list[str]:
        key = f"{table}({','.join(columns)})"
        types = self._types.get(key)
        if types is None:
            found = dict(
                db.execute(
                    "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
                    "WHERE a.attrelid = CAST(? AS regclass) AND a.attnum > 0",
                    (table,),
                ).fetchall()
            )
            types = self._types[key] = [found[c] for c in columns]
        return types

    def listen(self, notify: Callable[[], None]) -> ChangeListener:
        """Call `notify()` whenever a run changes in the store (`ChangeListener`)."""
        return ChangeListener(self.url, self.name, notify)

    # plain functions (no bound method in between: they run for every chunk read)
    pack = staticmethod(pack)
    unpack = staticmethod(unpack)


def first_schema(search_path: str) -> str | None:
    """The first schema `search_path` (as SHOW prints it) names, as PostgreSQL reads it
    (unquoted names in lower case, `""` in a quoted one as `"`); `$user` is skipped."""
    item: str
    for item in re.findall(r'\s*("(?:[^"]|"")*"|[^,]+)\s*(?:,|$)', search_path):
        item = item.strip()
        if not item or item == '"$user"' or item == "$user":
            continue
        if item.startswith('"'):
            return item[1:-1].replace('""', '"')
        return item.lower()
    return None


def _password(url: str) -> str | None:
    from urllib.parse import parse_qs, unquote, urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.password:
        return unquote(parts.password)
    found = parse_qs(parts.query).get("password")
    return found[0] if found else None


class ChangeListener:
    """LISTENs on the store's `runyard_runs` channel (the triggers of schema version 8
    notify it with a run's id whenever its state or latest metrics change) on a thread of
    its own, and calls `notify()` for each batch of notifications; `notify()` is called
    once more after every (re)connection, as changes may have been missed meanwhile. A
    lost connection is retried every `RETRY` seconds. `stop()` ends the thread within
    about a second."""

    RETRY = 2.0
    WAIT = 1.0  # seconds between looks at `stop()`

    def __init__(self, url: str, name: str, notify: Callable[[], None]) -> None:
        self.url = url
        self.name = name
        self.notify = notify
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="runyard-listen", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.url,
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT,
                    application_name="runyard-listen",
                ) as db:
                    db.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.notify()
                    while not self._stop.is_set():
                        if any(True for _ in db.notifies(timeout=self.WAIT, stop_after=1)):
                            self.notify()
            except psycopg.Error as exc:
                text = _first_line(exc)
                secret = _password(self.url)
                if secret:
                    text = text.replace(secret, "***")
                log.info("listening to %s: %s; trying again", self.name, text)
                self._stop.wait(self.RETRY)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
