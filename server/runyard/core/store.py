"""The run store: SQLite in WAL mode under `.runyard/state/`, with a versioned schema.

Metric values: SQLite turns NaN into NULL, so a NULL value *is* NaN (the column is
never NULL for any other reason); +inf and -inf are stored as SQLite's infinities.

A state folder this process cannot write (a read-only mount, another user's project) is
opened read-only (`Store(path, read_only=True)`, see `store_writable`): listing and
showing runs work there, and any write fails with a "read-only" error, never a traceback.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sqlite3
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runyard.core.errors import NotFoundError, RunyardError, UsageError

LIVE_STATUSES = ("queued", "preparing", "running")
FINAL_STATUSES = ("completed", "failed", "canceled", "lost")
STATUSES = LIVE_STATUSES + FINAL_STATUSES

# Each entry moves the schema from version i to i + 1. Never edit a released entry:
# append a new one.
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
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


def _pack_metrics(db: sqlite3.Connection) -> None:
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
            steps BLOB NOT NULL,       -- n little-endian int64
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
                _insert_chunks(db, current[0], group)
            current, group = (run_id, key), []
        group.append((key, step, wall, _value_out(value)))
    if current is not None and group:
        _insert_chunks(db, current[0], group)
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
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass
class Run:
    id: str
    experiment: str
    status: str
    target: str
    target_type: str
    job: str | None
    script: str | None
    command: list[str]
    snapshot_ref: str | None
    snapshot_commit: str | None
    env_hash: str | None
    created: float
    started: float | None
    ended: float | None
    exit_code: int | None
    reason: str | None
    supervisor_pid: int | None
    pid: int | None
    options: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment": self.experiment,
            "status": self.status,
            "target": self.target,
            "target_type": self.target_type,
            "job": self.job,
            "script": self.script,
            "command": self.command,
            "snapshot": {"ref": self.snapshot_ref, "commit": self.snapshot_commit},
            "env_hash": self.env_hash,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "duration": self.duration,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "metrics": {k: json_number(v) for k, v in self.metrics.items()},
        }


def json_number(value: float) -> float | str:
    """JSON has no NaN/inf: those become the strings "NaN", "Infinity", "-Infinity"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _value_in(v: float) -> float | None:
    return None if math.isnan(v) else v


def _value_out(v: float | None) -> float:
    return math.nan if v is None else float(v)


@dataclass
class ModelRecord:
    """A row of `model_versions`, with the aliases that point at it."""

    name: str
    version: int
    digest: str
    size: int
    kind: str  # "file" | "folder"
    framework: str | None
    run_id: str
    source_path: str
    snapshot_commit: str | None
    target: str | None
    env_hash: str | None
    created: float
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


_MODEL_COLUMNS = (
    "name, version, digest, size, kind, framework, run_id, source_path, snapshot_commit, "
    "target, env_hash, created, tags"
)


def _model_from_row(row: Sequence[Any], aliases: tuple[str, ...]) -> ModelRecord:
    return ModelRecord(
        name=row[0],
        version=row[1],
        digest=row[2],
        size=row[3],
        kind=row[4],
        framework=row[5],
        run_id=row[6],
        source_path=row[7],
        snapshot_commit=row[8],
        target=row[9],
        env_hash=row[10],
        created=row[11],
        tags=json.loads(row[12] or "{}"),
        aliases=aliases,
    )


_RUN_COLUMNS = (
    "id, experiment, status, target, target_type, job, script, command, snapshot_ref, "
    "snapshot_commit, env_hash, created, started, ended, exit_code, reason, supervisor_pid, "
    "pid, options"
)


CHUNK_POINTS = 1 << 16  # at most this many points in one chunk
_CURSOR_SHIFT = 20  # cursor = chunk id << 20 | index of the point in its chunk
_BIG_ENDIAN = sys.byteorder == "big"


def _pack(typecode: str, values: Iterable[float]) -> bytes:
    column = array(typecode, values)
    if _BIG_ENDIAN:
        column.byteswap()
    return column.tobytes()


def _unpack(typecode: str, blob: bytes) -> list[Any]:
    column = array(typecode)
    column.frombytes(blob)
    if _BIG_ENDIAN:
        column.byteswap()
    return column.tolist()


def _insert_chunks(
    db: sqlite3.Connection, run_id: str, points: Sequence[tuple[str, int, float, float]]
) -> None:
    """Append `points` (key, step, wall_time, value) as one chunk per key, in order."""
    by_key: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for key, step, wall, value in points:
        columns = by_key.get(key)
        if columns is None:
            columns = by_key[key] = ([], [], [])
        columns[0].append(step)
        columns[1].append(wall)
        columns[2].append(value)
    rows = []
    for key, (steps, times, values) in by_key.items():
        for i in range(0, len(steps), CHUNK_POINTS):
            vals = values[i : i + CHUNK_POINTS]
            real = [v for v in vals if v == v] if math.isnan(sum(vals)) else vals
            rows.append(
                (
                    run_id,
                    key,
                    len(vals),
                    min(real) if real else None,
                    max(real) if real else None,
                    _pack("q", steps[i : i + CHUNK_POINTS]),
                    _pack("d", times[i : i + CHUNK_POINTS]),
                    _pack("d", vals),
                )
            )
    db.executemany(
        "INSERT INTO metric_chunks (run_id, key, n, min_value, max_value, steps, times, vals) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _run_from_row(row: Sequence[Any]) -> Run:
    return Run(
        id=row[0],
        experiment=row[1],
        status=row[2],
        target=row[3],
        target_type=row[4],
        job=row[5],
        script=row[6],
        command=json.loads(row[7]),
        snapshot_ref=row[8],
        snapshot_commit=row[9],
        env_hash=row[10],
        created=row[11],
        started=row[12],
        ended=row[13],
        exit_code=row[14],
        reason=row[15],
        supervisor_pid=row[16],
        pid=row[17],
        options=json.loads(row[18] or "{}"),
    )


def _storage_error(path: Path, exc: BaseException) -> RunyardError:
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


class Store:
    """One connection to the project's run store. Cheap to open; safe across processes.

    `read_only=True` opens the store for reading only (`mode=ro`), for a state folder
    this process cannot write (a read-only mount, another user's folder): SQLite in WAL
    mode needs its -shm file writable even to read, so when plain `mode=ro` cannot open
    it the store is opened `immutable=1` (no locks, no -shm; safe because nothing can
    write a folder that is read-only, and a writer that ended checkpointed its WAL into
    the file). Every write then fails with the "read-only" error; nothing is migrated.
    """

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
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
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise _storage_error(path, exc) from exc

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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _storage_error(self.path, exc) from exc

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _storage_error(self.path, exc) from exc

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RunyardError(
                f"The run store {self.path} has schema version {version}, newer than this "
                f"Runyard understands ({SCHEMA_VERSION}).",
                hint="upgrade runyard",
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise RunyardError(
                f"The run store {self.path} has schema version {version}, older than this "
                f"Runyard's ({SCHEMA_VERSION}), and it is opened read-only.",
                hint="run any runyard command once where .runyard/state is writable to upgrade it",
            )
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, SCHEMA_VERSION):
                step = MIGRATIONS[i]
                if callable(step):
                    step(db)
                    continue
                for statement in step.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # ---- runs -------------------------------------------------------------------------

    def create_run(self, run: Run) -> None:
        with self._tx() as db:
            db.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 19)})",
                (
                    run.id,
                    run.experiment,
                    run.status,
                    run.target,
                    run.target_type,
                    run.job,
                    run.script,
                    json.dumps(run.command),
                    run.snapshot_ref,
                    run.snapshot_commit,
                    run.env_hash,
                    run.created,
                    run.started,
                    run.ended,
                    run.exit_code,
                    run.reason,
                    run.supervisor_pid,
                    run.pid,
                    json.dumps(run.options),
                ),
            )
            db.execute(
                "INSERT INTO status_history (run_id, status, time, reason) VALUES (?, ?, ?, ?)",
                (run.id, run.status, run.created, run.reason),
            )

    _UPDATABLE = frozenset(
        {
            "snapshot_ref",
            "snapshot_commit",
            "env_hash",
            "exit_code",
            "supervisor_pid",
            "pid",
            "started",
            "ended",
            "reason",
        }
    )

    def update_run(self, run_id: str, **fields: Any) -> None:
        bad = set(fields) - self._UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*fields.values(), run_id))

    def set_status(
        self,
        run_id: str,
        status: str,
        reason: str | None = None,
        *,
        only_if_live: bool = True,
        **fields: Any,
    ) -> bool:
        """Move a run to `status`, recording the transition. Final states are final:
        with `only_if_live` a run already completed/failed/canceled/lost is left alone
        and False is returned."""
        if status not in STATUSES:
            raise ValueError(status)
        bad = set(fields) - self._UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        now = time.time()
        if status == "running":
            fields.setdefault("started", now)
        if status in FINAL_STATUSES:
            fields.setdefault("ended", now)
        fields["reason"] = reason
        sets = ", ".join(f"{k} = ?" for k in fields)
        cond = " AND status IN ('queued', 'preparing', 'running')" if only_if_live else ""
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE runs SET status = ?, {sets} WHERE id = ?{cond}",
                (status, *fields.values(), run_id),
            )
            if cur.rowcount == 0:
                return False
            db.execute(
                "INSERT INTO status_history (run_id, status, time, reason) VALUES (?, ?, ?, ?)",
                (run_id, status, now, reason),
            )
        return True

    def get_run(self, run_id: str) -> Run:
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFoundError(
                f"No run {run_id!r} in this project.", hint="see `runyard runs list`"
            )
        run = _run_from_row(rows[0])
        run.metrics = self.latest_metrics([run.id]).get(run.id, {})
        return run

    def resolve_run_id(self, text: str) -> str:
        """A full run id, a unique prefix of one, or a unique suffix (the random part)."""
        text = text.strip()
        if not text:
            raise UsageError("An empty run id was given.")
        exact = self._read("SELECT id FROM runs WHERE id = ?", (text,))
        if exact:
            return str(exact[0][0])
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read(
            "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\' "
            "ORDER BY created DESC LIMIT 6",
            (escaped + "%", "%" + escaped),
        )
        if len(rows) == 1:
            return str(rows[0][0])
        if not rows:
            raise NotFoundError(f"No run matches {text!r}.", hint="see `runyard runs list`")
        ids = ", ".join(r[0] for r in rows[:5])
        raise UsageError(f"{text!r} matches several runs ({ids}).", hint="give more of the id")

    def list_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        ids: Iterable[str] | None = None,
    ) -> list[Run]:
        where: list[str] = []
        args: list[Any] = []
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if ids is not None:
            id_list = list(ids)
            where.append(f"id IN ({', '.join('?' * len(id_list))})")
            args.extend(id_list)
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        runs = [_run_from_row(r) for r in self._read(sql, args)]
        latest = self.latest_metrics([r.id for r in runs])
        for run in runs:
            run.metrics = latest.get(run.id, {})
        return runs

    _SORTS = {  # noqa: RUF012
        "created": "r.created",
        "started": "r.started",
        "ended": "r.ended",
        "duration": "(COALESCE(r.ended, strftime('%s', 'now')) - r.started)",
        "status": "r.status",
        "experiment": "r.experiment",
        "target": "r.target",
        "id": "r.id",
    }

    @classmethod
    def check_sort(cls, sort: str) -> None:
        """UsageError unless `query_runs` can sort by `sort`."""
        if sort in cls._SORTS or (sort.startswith("metric:") and len(sort) > len("metric:")):
            return
        known = ", ".join([*cls._SORTS, "metric:<key>"])
        raise UsageError(f"Cannot sort runs by {sort!r}.", hint=f"sort by one of: {known}")

    def query_runs(
        self,
        *,
        experiment: str | None = None,
        statuses: Sequence[str] | None = None,
        target: str | None = None,
        search: str | None = None,
        sort: str = "created",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Run], int]:
        """A page of runs and how many match in all. `sort` is a column name (see
        `_SORTS`) or ``metric:<key>`` (runs without that metric come last)."""
        where: list[str] = []
        args: list[Any] = []
        if experiment is not None:
            where.append("r.experiment = ?")
            args.append(experiment)
        if statuses:
            where.append(f"r.status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if target is not None:
            where.append("r.target = ?")
            args.append(target)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{escaped}%"
            where.append(
                "(r.id LIKE ? ESCAPE '\\' OR r.script LIKE ? ESCAPE '\\' "
                "OR r.experiment LIKE ? ESCAPE '\\' OR r.target LIKE ? ESCAPE '\\')"
            )
            args.extend([like] * 4)
        self.check_sort(sort)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        total = int(self._read(f"SELECT COUNT(*) FROM runs r{cond}", args)[0][0])
        join = ""
        join_args: list[Any] = []
        direction = "DESC" if descending else "ASC"
        if sort.startswith("metric:"):
            join = " LEFT JOIN latest_metrics m ON m.run_id = r.id AND m.key = ?"
            join_args.append(sort[len("metric:") :])
            order = f"m.value IS NULL, m.value {direction}"
        else:
            column = self._SORTS[sort]
            order = f"{column} IS NULL, {column} {direction}"
        columns = ", ".join(f"r.{c.strip()}" for c in _RUN_COLUMNS.split(","))
        rows = self._read(
            f"SELECT {columns} FROM runs r{join}{cond} "
            f"ORDER BY {order}, r.created {direction}, r.id {direction} LIMIT ? OFFSET ?",
            [*join_args, *args, max(0, limit), max(0, offset)],
        )
        runs = [_run_from_row(r) for r in rows]
        latest = self.latest_metrics([r.id for r in runs])
        for run in runs:
            run.metrics = latest.get(run.id, {})
        return runs, total

    def status_changes(self, after: int, limit: int = 1000) -> list[tuple[int, str, str]]:
        """Transitions recorded after position `after`: (position, run id, status)."""
        rows = self._read(
            "SELECT rowid, run_id, status FROM status_history WHERE rowid > ? "
            "ORDER BY rowid LIMIT ?",
            (after, limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def last_status_change(self) -> int:
        """The position of the newest transition, for `status_changes(after=...)`."""
        return int(self._read("SELECT COALESCE(MAX(rowid), 0) FROM status_history")[0][0])

    def live_runs(self) -> list[Run]:
        rows = self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN ('queued', 'preparing', 'running')"
        )
        return [_run_from_row(r) for r in rows]

    def experiments(self) -> list[tuple[str, int]]:
        rows = self._read(
            "SELECT experiment, COUNT(*) FROM runs GROUP BY experiment ORDER BY MAX(created) DESC"
        )
        return [(r[0], r[1]) for r in rows]

    def status_history(self, run_id: str) -> list[tuple[str, float, str | None]]:
        rows = self._read(
            "SELECT status, time, reason FROM status_history WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    # ---- params, tags, artifacts ------------------------------------------------------

    def set_params(self, run_id: str, params: dict[str, str]) -> None:
        self._set_kv("params", run_id, params)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._set_kv("tags", run_id, tags)

    def _set_kv(self, table: str, run_id: str, values: dict[str, str]) -> None:
        if not values:
            return
        with self._tx() as db:
            db.executemany(
                f"INSERT INTO {table} (run_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                [(run_id, str(k), str(v)) for k, v in values.items()],
            )

    def params(self, run_id: str) -> dict[str, str]:
        rows = self._read("SELECT key, value FROM params WHERE run_id = ? ORDER BY key", (run_id,))
        return {r[0]: r[1] for r in rows}

    def tags(self, run_id: str) -> dict[str, str]:
        rows = self._read("SELECT key, value FROM tags WHERE run_id = ? ORDER BY key", (run_id,))
        return {r[0]: r[1] for r in rows}

    def set_artifacts(
        self, run_id: str, artifacts: Iterable[tuple[str, int]], replace: bool = False
    ) -> None:
        """Record output files (path, size). With `replace`, they become the whole list
        (what the outputs folder holds when the run ends)."""
        with self._tx() as db:
            if replace:
                db.execute("DELETE FROM artifacts WHERE run_id = ?", (run_id,))
            db.executemany(
                "INSERT INTO artifacts (run_id, path, size) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size",
                [(run_id, p, s) for p, s in artifacts],
            )

    def artifacts(self, run_id: str) -> list[tuple[str, int]]:
        rows = self._read(
            "SELECT path, size FROM artifacts WHERE run_id = ? ORDER BY path", (run_id,)
        )
        return [(r[0], r[1]) for r in rows]

    # ---- models -----------------------------------------------------------------------

    def add_model_version(self, record: ModelRecord) -> int:
        """Record a new version of `record.name` (its `version` is ignored: the next number
        is taken inside the transaction) and point its aliases at it, moving them from
        other versions. Returns the version number."""
        with self._tx() as db:
            version = int(
                db.execute(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?",
                    (record.name,),
                ).fetchone()[0]
            )
            db.execute(
                f"INSERT INTO model_versions ({_MODEL_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.name,
                    version,
                    record.digest,
                    record.size,
                    record.kind,
                    record.framework,
                    record.run_id,
                    record.source_path,
                    record.snapshot_commit,
                    record.target,
                    record.env_hash,
                    record.created,
                    json.dumps(record.tags, sort_keys=True),
                ),
            )
            db.executemany(
                "INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?) "
                "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                [(record.name, alias, version) for alias in record.aliases],
            )
        return version

    def model_versions(
        self, name: str | None = None, version: int | None = None
    ) -> list[ModelRecord]:
        """Versions of every model (or of `name`, or the one `version` of it), by name
        and then version."""
        where: list[str] = []
        args: list[Any] = []
        if name is not None:
            where.append("name = ?")
            args.append(name)
        if version is not None:
            where.append("version = ?")
            args.append(version)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        rows = self._read(
            f"SELECT {_MODEL_COLUMNS} FROM model_versions{cond} ORDER BY name, version", args
        )
        aliases: dict[tuple[str, int], list[str]] = {}
        alias_cond = " WHERE name = ?" if name is not None else ""
        for a_name, alias, a_version in self._read(
            f"SELECT name, alias, version FROM model_aliases{alias_cond} ORDER BY alias",
            [name] if name is not None else [],
        ):
            aliases.setdefault((a_name, a_version), []).append(alias)
        return [_model_from_row(r, tuple(aliases.get((r[0], r[1]), ()))) for r in rows]

    def model_names(self) -> list[str]:
        rows = self._read("SELECT DISTINCT name FROM model_versions ORDER BY name")
        return [r[0] for r in rows]

    def model_aliases(self, name: str) -> dict[str, int]:
        rows = self._read(
            "SELECT alias, version FROM model_aliases WHERE name = ? ORDER BY alias", (name,)
        )
        return {r[0]: r[1] for r in rows}

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        """Point `alias` of model `name` at `version`, moving it if it pointed elsewhere."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?) "
                "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                (name, alias, version),
            )

    def remove_model_alias(self, name: str, alias: str) -> bool:
        """False when model `name` had no such alias."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM model_aliases WHERE name = ? AND alias = ?", (name, alias)
            )
            return cur.rowcount > 0

    def model_deployments(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Deployments of model `name` (of one version, or all), newest first."""
        sql = (
            "SELECT name, model, version, target, status, host, port, created, stopped "
            "FROM deployments WHERE model = ?"
        )
        args: list[Any] = [name]
        if version is not None:
            sql += " AND version = ?"
            args.append(version)
        rows = self._read(sql + " ORDER BY created DESC", args)
        keys = (
            "name",
            "model",
            "version",
            "target",
            "status",
            "host",
            "port",
            "created",
            "stopped",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # ---- metrics ----------------------------------------------------------------------

    def add_metrics(self, run_id: str, points: Sequence[tuple[str, int, float, float]]) -> None:
        """Append points (key, step, wall_time, value). Keeps `latest_metrics` current."""
        if not points:
            return
        latest: dict[str, tuple[int, float, float, int]] = {}
        for key, step, wall, value in points:
            prev = latest.get(key)
            latest[key] = (step, wall, value, (prev[3] if prev else 0) + 1)
        with self._tx() as db:
            _insert_chunks(db, run_id, points)
            db.executemany(
                "INSERT INTO latest_metrics (run_id, key, step, wall_time, value, count) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET "
                "step = excluded.step, wall_time = excluded.wall_time, value = excluded.value, "
                "count = latest_metrics.count + excluded.count",
                [(run_id, k, s, w, _value_in(v), n) for k, (s, w, v, n) in latest.items()],
            )

    def latest_metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for i in range(0, len(run_ids), 500):
            chunk = list(run_ids[i : i + 500])
            rows = self._read(
                "SELECT run_id, key, value FROM latest_metrics "
                f"WHERE run_id IN ({', '.join('?' * len(chunk))}) ORDER BY run_id, key",
                chunk,
            )
            for run_id, key, value in rows:
                out.setdefault(run_id, {})[key] = _value_out(value)
        return out

    def metric_summary(self, run_id: str) -> list[dict[str, Any]]:
        """Per key: last value and step, min, max and the number of points."""
        rows = self._read(
            "SELECT l.key, l.value, l.step, l.count, "
            "(SELECT MIN(min_value) FROM metric_chunks m "
            " WHERE m.run_id = l.run_id AND m.key = l.key), "
            "(SELECT MAX(max_value) FROM metric_chunks m "
            " WHERE m.run_id = l.run_id AND m.key = l.key) "
            "FROM latest_metrics l WHERE l.run_id = ? ORDER BY l.key",
            (run_id,),
        )
        return [
            {
                "key": r[0],
                "last": _value_out(r[1]),
                "step": r[2],
                "count": r[3],
                "min": _value_out(r[4]),
                "max": _value_out(r[5]),
            }
            for r in rows
        ]

    def _chunks(self, run_id: str, key: str | None, after: int, columns: str) -> list[Any]:
        """Chunks of the run (one key, or all) holding points after cursor `after`."""
        chunk_id = after >> _CURSOR_SHIFT
        # Past a cursor, walk the table from that chunk on (only chunks at least as new,
        # of any run) instead of every index entry of the run.
        source = "metric_chunks NOT INDEXED" if after > 0 else "metric_chunks"
        sql = f"SELECT id, {columns} FROM {source} WHERE id >= ? AND run_id = ?"
        args: list[Any] = [chunk_id, run_id]
        if key is not None:
            sql += " AND key = ?"
            args.append(key)
        return self._read(sql + " ORDER BY id", args)

    def metric_points(
        self, run_id: str, key: str | None = None, after: int = 0, limit: int | None = None
    ) -> list[tuple[int, str, int, float, float]]:
        """Points as (cursor, key, step, wall_time, value), oldest first. `cursor` is the
        position to pass as `after` to get only newer points."""
        out: list[tuple[int, str, int, float, float]] = []
        for chunk_id, chunk_key, steps, times, vals in self._chunks(
            run_id, key, after, "key, steps, times, vals"
        ):
            base = chunk_id << _CURSOR_SHIFT
            first = (after - base + 1) if after >= base else 0
            steps_l = _unpack("q", steps[first * 8 :])
            times_l = _unpack("d", times[first * 8 :])
            vals_l = _unpack("d", vals[first * 8 :])
            for i, point in enumerate(zip(steps_l, times_l, vals_l, strict=True), first):
                out.append((base | i, chunk_key, *point))
                if limit is not None and len(out) >= limit:
                    return out
        return out

    def metric_cursor(self, run_id: str) -> int:
        """The position of the run's newest metric point (0 when it has none)."""
        rows = self._read(
            "SELECT id, n FROM metric_chunks WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,)
        )
        if not rows:
            return 0
        return int(rows[0][0]) << _CURSOR_SHIFT | (int(rows[0][1]) - 1)

    def metric_columns(
        self, run_id: str, key: str, after: int = 0
    ) -> tuple[int, list[int], list[float], list[float]]:
        """One key's points after position `after`, oldest first, as columns: (newest
        position, steps, wall times, values). NaN stays NaN."""
        steps: list[int] = []
        times: list[float] = []
        values: list[float] = []
        cursor = after
        for chunk_id, n, s, t, v in self._chunks(run_id, key, after, "n, steps, times, vals"):
            base = chunk_id << _CURSOR_SHIFT
            first = (after - base + 1) if after >= base else 0
            if first >= n:
                continue
            steps.extend(_unpack("q", s[first * 8 :]))
            times.extend(_unpack("d", t[first * 8 :]))
            values.extend(_unpack("d", v[first * 8 :]))
            cursor = base | (n - 1)
        return cursor, steps, times, values

    def metric_count(self, run_id: str, key: str) -> int:
        """How many points the run has logged for `key` (0 when none)."""
        rows = self._read(
            "SELECT count FROM latest_metrics WHERE run_id = ? AND key = ?", (run_id, key)
        )
        return int(rows[0][0]) if rows else 0

    def metric_keys(self, run_id: str) -> list[str]:
        rows = self._read("SELECT key FROM latest_metrics WHERE run_id = ? ORDER BY key", (run_id,))
        return [r[0] for r in rows]

    def last_steps(self, run_id: str) -> dict[str, int]:
        rows = self._read("SELECT key, step FROM latest_metrics WHERE run_id = ?", (run_id,))
        return {r[0]: r[1] for r in rows}

    # ---- deployments ------------------------------------------------------------------

    _DEPLOYMENT_KEYS = (
        "name",
        "model",
        "version",
        "target",
        "image",
        "container_id",
        "host",
        "port",
        "status",
        "created",
        "stopped",
        "options",
    )

    def _deployment(self, row: Sequence[Any]) -> dict[str, Any]:
        out = dict(zip(self._DEPLOYMENT_KEYS, row, strict=True))
        out["options"] = json.loads(out["options"] or "{}")
        return out

    def put_deployment(self, deployment: dict[str, Any]) -> None:
        """Record a deployment (keys as in `get_deployment`), replacing one of that name."""
        row = {k: deployment.get(k) for k in self._DEPLOYMENT_KEYS}
        row["options"] = json.dumps(row["options"] or {})
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO deployments ({', '.join(self._DEPLOYMENT_KEYS)}) "
                f"VALUES ({', '.join('?' * len(self._DEPLOYMENT_KEYS))})",
                [row[k] for k in self._DEPLOYMENT_KEYS],
            )

    def get_deployment(self, name: str) -> dict[str, Any] | None:
        rows = self._read(
            f"SELECT {', '.join(self._DEPLOYMENT_KEYS)} FROM deployments WHERE name = ?", (name,)
        )
        return self._deployment(rows[0]) if rows else None

    def list_deployments(self) -> list[dict[str, Any]]:
        """Every deployment, newest first."""
        rows = self._read(
            f"SELECT {', '.join(self._DEPLOYMENT_KEYS)} FROM deployments ORDER BY created DESC"
        )
        return [self._deployment(r) for r in rows]

    def update_deployment(self, name: str, **fields: Any) -> None:
        bad = set(fields) - set(self._DEPLOYMENT_KEYS[1:])
        if bad:
            raise ValueError(f"not deployment fields: {sorted(bad)}")
        if "options" in fields:
            fields["options"] = json.dumps(fields["options"] or {})
        with self._tx() as db:
            db.execute(
                f"UPDATE deployments SET {', '.join(f'{k} = ?' for k in fields)} WHERE name = ?",
                [*fields.values(), name],
            )

    def add_deployment_stats(
        self,
        name: str,
        when: float,
        requests: int,
        errors: int,
        p50_ms: float | None,
        p95_ms: float | None,
    ) -> None:
        """A telemetry sample read from the deployment's service (counts since it started).
        A sample equal to the newest one only moves that one's time: an idle deployment
        sampled on every listing does not grow the table."""
        with self._tx() as db:
            last = db.execute(
                "SELECT rowid, requests, errors, p50_ms, p95_ms FROM deployment_stats "
                "WHERE deployment = ? ORDER BY time DESC LIMIT 1",
                (name,),
            ).fetchone()
            if last is not None and tuple(last)[1:] == (requests, errors, p50_ms, p95_ms):
                db.execute("UPDATE deployment_stats SET time = ? WHERE rowid = ?", (when, last[0]))
                return
            db.execute(
                "INSERT INTO deployment_stats (deployment, time, requests, errors, p50_ms, p95_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, when, requests, errors, p50_ms, p95_ms),
            )

    def deployment_stats(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The deployment's telemetry samples, newest first."""
        sql = (
            "SELECT time, requests, errors, p50_ms, p95_ms FROM deployment_stats "
            "WHERE deployment = ? ORDER BY time DESC"
        )
        args: list[Any] = [name]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        keys = ("time", "requests", "errors", "p50_ms", "p95_ms")
        return [dict(zip(keys, r, strict=True)) for r in self._read(sql, args)]
