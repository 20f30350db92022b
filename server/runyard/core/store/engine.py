"""The engine seam: what the store's tables ask of a database engine.

The noun modules (`runs`, `metrics`, `models`, `deployments`) write their SQL against
`Engine` and never import a database driver. `runyard.core.store.sqlite.SQLiteEngine`
is the embedded one, `runyard.core.store.postgres.PostgresEngine` the team store's;
`Store` picks one from the settings (see the package docstring for the list of what an
engine must provide).

`Tables` is the base every noun module's mix-in class derives from: it holds the engine
and gives them `_tx` (one write transaction) and `_read` (one query, all rows), both
turning the driver's errors into a `RunyardError` that names the store and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the tables use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the tables use, inside a transaction. Statements
    take `?` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


class Engine(Protocol):
    """One open store. See the package docstring for what each piece means."""

    path: Path
    read_only: bool
    dialect: str  # "sqlite" or "postgresql": which list of migrations applies
    name: str  # the store as messages name it (a path, a URL without its password)
    # SQL fragments the tables' statements differ in between engines:
    position: str  # a column that orders rows by insertion ("rowid" in SQLite)
    now_seconds: str  # an SQL expression: the time now in seconds since the epoch
    unindexed: str  # appended to a table name: scan in primary-key order, no index
    like: str  # the pattern match that ignores ASCII case (SQLite's LIKE does)

    def tx(self) -> AbstractContextManager[Connection]: ...

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...

    def schema_version(self, db: Connection | None = None) -> int:
        """The schema version recorded in the store (read inside `db`'s transaction)."""
        ...

    def set_schema_version(self, db: Connection, version: int) -> None: ...

    def insert_rows(
        self, db: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Many rows into `table` at once (PostgreSQL: one COPY)."""
        ...

    def pack(self, typecode: str, values: Iterable[float]) -> bytes:
        """A metric chunk's column as stored ("q": int64 steps, "d": float64)."""
        ...

    def unpack(self, typecode: str, blob: bytes, first: int = 0) -> list[Any]:
        """A stored column back as a list, from its item `first` on."""
        ...

    def close(self) -> None: ...


class Tables:
    """The engine and its two calls, shared by the noun modules' mix-ins of `Store`.
    `root` is the project the store belongs to (None for a store outside one)."""

    path: Path
    root: Path | None
    read_only: bool
    _engine: Engine

    def _tx(self) -> AbstractContextManager[Connection]:
        return self._engine.tx()

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._engine.read(sql, args)


class Where:
    """A WHERE clause made of conditions joined by AND, with its arguments in order.
    A condition whose value is None is left out, so a listing's optional filters read
    as one line each; `str()` is the clause with a leading space ("" when empty)."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def add(self, condition: str, *args: Any) -> Where:
        self.conditions.append(condition)
        self.args.extend(args)
        return self

    def equal(self, column: str, value: Any) -> Where:
        """`column = value`, unless `value` is None."""
        return self if value is None else self.add(f"{column} = ?", value)

    def within(self, column: str, values: Iterable[Any] | None) -> Where:
        """`column IN (values)`, unless `values` is None (no values: no row matches)."""
        if values is None:
            return self
        items = list(values)
        if not items:
            return self.add("1 = 0")  # `IN ()` is SQLite's alone
        return self.add(f"{column} IN ({', '.join('?' * len(items))})", *items)

    def __str__(self) -> str:
        return (" WHERE " + " AND ".join(self.conditions)) if self.conditions else ""
