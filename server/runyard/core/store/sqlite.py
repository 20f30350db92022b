"""The SQLite engine: every piece of the store that is SQLite's own lives here.

* Opening: one connection in autocommit mode (`isolation_level=None`; transactions are
  `BEGIN IMMEDIATE` ... `COMMIT`, see `tx`), a 30 s busy timeout, foreign keys on, WAL
  journal and `synchronous = NORMAL` for a store this process can write.
* Read-only (`SQLiteEngine(path, read_only=True)`, for a state folder this process
  cannot write: a read-only mount, another user's folder; see `store_writable`): the
  store is opened `mode=ro`. SQLite in WAL mode needs its -shm file writable even to
  read, so when plain `mode=ro` cannot open it the store is opened `immutable=1` (no
  locks, no -shm; safe because nothing can write a folder that is read-only, and a
  writer that ended checkpointed its WAL into the file). Every write then fails with
  the "read-only" error; nothing is migrated.
* The schema version is `PRAGMA user_version`.
* SQLite's SQL: `rowid` orders rows by insertion, `NOT INDEXED` makes the planner walk
  a table in rowid order (`metrics._chunks`), `strftime('%s', 'now')` is the time now.
* Metric chunks are BLOBs of packed little-endian columns (int64 steps, or the first
  and last of a stride as `metrics.pack_steps` keeps them; float64 times
  and values, NaN kept), whatever this machine's byte order.
* Driver errors become a `RunyardError` naming the store and what to do (read-only,
  disk full, locked, damaged), never a traceback.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runyard.core.errors import RunyardError
from runyard.core.store.engine import Connection

_BIG_ENDIAN = sys.byteorder == "big"


def pack(typecode: str, values: Iterable[float]) -> bytes:
    """Values as one little-endian column ("q": int64, "d": float64)."""
    column = array(typecode, values)
    if _BIG_ENDIAN:
        column.byteswap()
    return column.tobytes()


def unpack(typecode: str, blob: bytes, first: int = 0) -> list[Any]:
    """A packed column back as a list, from its item `first` on (8 bytes an item)."""
    column = array(typecode)
    column.frombytes(blob[first * 8 :] if first else blob)
    if _BIG_ENDIAN:
        column.byteswap()
    return column.tolist()


def storage_error(path: Path, exc: BaseException) -> RunyardError:
    """What went wrong with the store at `path`, said for the user."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text or getattr(exc, "errno", None) == errno.EROFS:
        return RunyardError(
            f"The run store {path} is read-only; nothing was changed.",
            hint="make .runyard/state writable (check its permissions and the file system)",
        )
    if "full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return RunyardError(
            f"The disk holding {path} is full; what was recorded before is kept.",
            hint="free some space (runyard keeps environments under .runyard/state/envs)",
        )
    if "locked" in text or "busy" in text:
        return RunyardError(
            f"The run store {path} stayed locked by another process.",
            hint="try again; if it persists, look for a stuck runyard process",
        )
    if "not a database" in text or "malformed" in text:
        return RunyardError(
            f"The run store {path} is damaged: {exc}.",
            hint="move it aside to start a new store; runs' files under .runyard/state/runs are kept",
        )
    return RunyardError(f"The run store {path} could not be used: {exc}")


def store_writable(path: Path) -> bool:
    """Whether this process can write the store at `path` (and the folder beside it,
    where SQLite keeps its -wal and -shm files). A read-only mount says no even to root."""
    folder = path.parent
    if not folder.exists():
        return os.access(next((p for p in folder.parents if p.exists()), Path("/")), os.W_OK)
    if not os.access(folder, os.W_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


class SQLiteEngine:
    """One connection to a SQLite store file (see the module docstring)."""

    dialect = "sqlite"
    position = "rowid"
    now_seconds = "strftime('%s', 'now')"
    unindexed = " NOT INDEXED"
    like = "LIKE"

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.name = str(path)
        self.read_only = read_only
        try:
            if read_only:
                self._db = self._open_read_only(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
                if mode != "wal":
                    self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
        except (sqlite3.Error, OSError) as exc:
            raise storage_error(path, exc) from exc

    @staticmethod
    def _open_read_only(path: Path) -> sqlite3.Connection:
        if not path.is_file():
            raise RunyardError(
                f"The run store {path} does not exist, and its folder is read-only.",
                hint="nothing was recorded there yet; submit a run from a writable copy",
            )
        uri = path.absolute().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", timeout=30, isolation_level=None, uri=True)
        except sqlite3.OperationalError:
            pass
        else:
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError:  # WAL without a -shm it may create: immutable
                db.close()
        return sqlite3.connect(f"{uri}?immutable=1", isolation_level=None, uri=True)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from exc

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from exc

    def schema_version(self, db: Connection | None = None) -> int:
        if db is None:
            return int(self.read("PRAGMA user_version")[0][0])
        return int(db.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, db: Connection, version: int) -> None:
        db.execute(f"PRAGMA user_version = {int(version)}")

    def insert_rows(
        self, db: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        marks = ", ".join("?" * len(columns))
        db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    # plain functions (no bound method in between: they run for every chunk read)
    pack = staticmethod(pack)
    unpack = staticmethod(unpack)
