"""Runs: their rows, status transitions, params, tags and artifacts.

A run's lifecycle is `queued -> preparing -> running -> completed | failed | canceled`,
plus `lost` when the backend no longer knows it. Every transition is a row of
`status_history`, recorded in the transaction that changes the run; final states are
final (`set_status(only_if_live=True)` leaves a finished run alone). The history's
insertion order (`Engine.position`) is what `status_changes` pages by: the live feed
asks for the transitions after the last one it saw.

`command` and `options` are stored as JSON; a run read back carries its latest metric
values (`Run.metrics`, from `latest_metrics`).

Who ran it (schema version 8): `create_run` records the git identity of the project the
run was submitted from and this machine's host name (`identity.current_user`) unless the
run already names them; listings filter by user (`user=`: an email or a name).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runyard.core.errors import NotFoundError, UsageError
from runyard.core.store.engine import Tables, Where
from runyard.core.store.identity import current_user
from runyard.core.store.metrics import latest_values

LIVE_STATUSES = ("queued", "preparing", "running")

# `RunTables.experiments` per store path, for this process: (insertion position and id
# of the last run counted, experiment -> (runs, newest creation time)).
_EXPERIMENTS: dict[str, tuple[int, str, dict[str, tuple[int, float]]]] = {}
_EXPERIMENTS_LOCK = threading.Lock()
FINAL_STATUSES = ("completed", "failed", "canceled", "lost")
STATUSES = LIVE_STATUSES + FINAL_STATUSES


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
    # A new run has no snapshot, environment, process or end yet: these default to
    # "not yet" so that whoever makes a run names only what it knows.
    snapshot_ref: str | None = None
    snapshot_commit: str | None = None
    env_hash: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    supervisor_pid: int | None = None
    pid: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    # who ran it (git user.name and user.email) and on which machine; None: not known
    user_name: str | None = None
    user_email: str | None = None
    machine: str | None = None

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
            "user": {"name": self.user_name, "email": self.user_email},
            "machine": self.machine,
        }


def json_number(value: float) -> float | str:
    """JSON has no NaN/inf: those become the strings "NaN", "Infinity", "-Infinity"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


RUN_COLUMNS = (
    "id, experiment, status, target, target_type, job, script, command, snapshot_ref, "
    "snapshot_commit, env_hash, created, started, ended, exit_code, reason, supervisor_pid, "
    "pid, options"
)
WHO_COLUMNS = "user_name, user_email, machine"  # schema version 8
RUN_ROW = f"{RUN_COLUMNS}, {WHO_COLUMNS}"  # what `run_from_row` reads


def run_from_row(row: Sequence[Any]) -> Run:
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
        **_who(row[19:22]),
    )


def _who(values: Sequence[Any]) -> dict[str, Any]:
    """Who ran it, from a row read with `RUN_ROW` (none of it from one of `RUN_COLUMNS`)."""
    if not values:
        return {}
    return {"user_name": values[0], "user_email": values[1], "machine": values[2]}


class RunTables(Tables):
    """`Store`'s run calls."""

    def create_run(self, run: Run) -> None:
        """Record a new run (and its first state). Who ran it is filled in from the
        project's git identity and this machine when the run names none of them."""
        if run.user_name is None and run.user_email is None and run.machine is None:
            who = current_user(self.root)
            run.user_name, run.user_email, run.machine = who.name, who.email, who.machine
        with self._tx() as db:
            db.execute(
                f"INSERT INTO runs ({RUN_ROW}) VALUES ({', '.join('?' * 22)})",
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
                    run.user_name,
                    run.user_email,
                    run.machine,
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
        rows = self._read(f"SELECT {RUN_ROW} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFoundError(
                f"No run {run_id!r} in this project.", hint="see `runyard runs list`"
            )
        run = run_from_row(rows[0])
        run.metrics = latest_values(self, [run.id]).get(run.id, {})
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
        like = self._engine.like
        rows = self._read(
            f"SELECT id FROM runs WHERE id {like} ? ESCAPE '\\' OR id {like} ? ESCAPE '\\' "
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
        user: str | None = None,
    ) -> list[Run]:
        """Runs newest first; `user` keeps the runs of that git email or name."""
        where = Where().equal("experiment", experiment).equal("status", status)
        where.within("id", ids)
        if user is not None:
            where.add("(user_email = ? OR user_name = ?)", user, user)
        args = where.args
        sql = f"SELECT {RUN_ROW} FROM runs{where} ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        runs = [run_from_row(r) for r in self._read(sql, args)]
        latest = latest_values(self, [r.id for r in runs])
        for run in runs:
            run.metrics = latest.get(run.id, {})
        return runs

    _SORTS = {  # noqa: RUF012
        "created": "r.created",
        "started": "r.started",
        "ended": "r.ended",
        "duration": "(COALESCE(r.ended, {now}) - r.started)",
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
        user: str | None = None,
    ) -> tuple[list[Run], int]:
        """A page of runs and how many match in all. `sort` is a column name (see
        `_SORTS`) or ``metric:<key>`` (runs without that metric come last); `user` keeps
        the runs of that git email or name."""
        where = Where().equal("r.experiment", experiment)
        where.within("r.status", statuses or None).equal("r.target", target)
        if user is not None:
            where.add("(r.user_email = ? OR r.user_name = ?)", user, user)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            like = self._engine.like
            columns = ("id", "script", "experiment", "target")
            matches = " OR ".join(f"r.{c} {like} ? ESCAPE '\\'" for c in columns)
            where.add(f"({matches})", *[pattern] * 4)
        self.check_sort(sort)
        cond, args = str(where), where.args
        total = int(self._read(f"SELECT COUNT(*) FROM runs r{cond}", args)[0][0])
        limit, offset = max(0, limit), max(0, offset)
        direction = "DESC" if descending else "ASC"
        last = f"r.created {direction}, r.id {direction}"  # ties: newest first, then by id
        if sort.startswith("metric:"):
            ids = self._page_by_metric(
                sort[len("metric:") :], where, last, direction, limit, offset
            )
        else:
            column = self._SORTS[sort].format(now=self._engine.now_seconds)
            if sort in self._NEVER_NULL:
                order = f"{column} {direction}"
            else:
                order = f"{column} IS NULL, {column} {direction}"
            order += {"created": f", r.id {direction}", "id": ""}.get(sort, f", {last}")
            ids = self._ids(f"SELECT r.id FROM runs r{cond} ORDER BY {order}", args, limit, offset)
        runs = self._runs_by_id(ids)
        latest = latest_values(self, ids)
        for run in runs:
            run.metrics = latest.get(run.id, {})
        return runs, total

    # Columns the schema holds NOT NULL: their order needs no "IS NULL" term, so that an
    # index can give it (runs_created for "created").
    _NEVER_NULL = frozenset({"created", "status", "experiment", "target", "id"})

    _WALK_BY_VALUE = 5000  # pages ending past this many runs are sorted in one query

    def _ids(self, sql: str, args: Sequence[Any], limit: int, offset: int) -> list[str]:
        if limit == 0:
            return []
        return [r[0] for r in self._read(f"{sql} LIMIT ? OFFSET ?", [*args, limit, offset])]

    def _page_by_metric(
        self, key: str, where: Where, last: str, direction: str, limit: int, offset: int
    ) -> list[str]:
        """The ids of a page of runs by their latest `key`: the runs with a value, in its
        order (through latest_metrics_by_value: the page, not every run), then the runs
        without one (no such metric, or NaN) newest first. Same order as one query
        ordering by ``value IS NULL, value`` would give."""
        filters = "".join(f" AND {c}" for c in where.conditions)
        if offset + limit > self._WALK_BY_VALUE:
            # Deep in the list, walking the index up to the page costs more than one
            # sort of every matching run.
            return self._ids(
                "SELECT r.id FROM runs r LEFT JOIN latest_metrics m "
                f"ON m.run_id = r.id AND m.key = ?{where} "
                f"ORDER BY m.value IS NULL, m.value {direction}, {last}",
                [key, *where.args],
                limit,
                offset,
            )
        valued = (
            "FROM latest_metrics m JOIN runs r ON r.id = m.run_id "
            f"WHERE m.key = ? AND m.value IS NOT NULL{filters}"
        )
        args = [key, *where.args]
        ids = self._ids(
            f"SELECT r.id {valued} ORDER BY m.value {direction}, {last}", args, limit, offset
        )
        if len(ids) == limit:
            return ids
        # Past the runs with a value: how many there are (known unless this page
        # starts after the last of them).
        with_value = offset + len(ids)
        if not ids:
            with_value = int(self._read(f"SELECT COUNT(*) {valued}", args)[0][0])
        rest = (
            "SELECT r.id FROM runs r WHERE NOT EXISTS (SELECT 1 FROM latest_metrics m "
            f"WHERE m.run_id = r.id AND m.key = ? AND m.value IS NOT NULL){filters} "
            f"ORDER BY {last}"
        )
        return ids + self._ids(rest, args, limit - len(ids), max(0, offset - with_value))

    def _runs_by_id(self, ids: Sequence[str]) -> list[Run]:
        """The runs of `ids`, in that order."""
        found: dict[str, Run] = {}
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            rows = self._read(
                f"SELECT {RUN_ROW} FROM runs WHERE id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            found.update((r[0], run_from_row(r)) for r in rows)
        return [found[i] for i in ids if i in found]

    def status_changes(self, after: int, limit: int = 1000) -> list[tuple[int, str, str]]:
        """Transitions recorded after position `after`: (position, run id, status)."""
        pos = self._engine.position
        rows = self._read(
            f"SELECT {pos}, run_id, status FROM status_history WHERE {pos} > ? "
            f"ORDER BY {pos} LIMIT ?",
            (after, limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def last_status_change(self) -> int:
        """The position of the newest transition, for `status_changes(after=...)`."""
        pos = self._engine.position
        return int(self._read(f"SELECT COALESCE(MAX({pos}), 0) FROM status_history")[0][0])

    def live_runs(self, everywhere: bool = False) -> list[Run]:
        """The live runs this project looks after: in a store shared by a team, only the
        runs whose run folder is in this project (the ones started here, whose
        supervisors run here), so that checking for dead supervisors (`runs.reconcile`)
        never takes a teammate's run for a lost one; `everywhere` gives every live run
        (the live feed follows them all). A store of one project's own, or one opened
        outside a project, gives them all."""
        rows = self._read(
            f"SELECT {RUN_ROW} FROM runs WHERE status IN ('queued', 'preparing', 'running')"
        )
        runs = [run_from_row(r) for r in rows]
        if everywhere or self._engine.dialect == "sqlite" or self.root is None:
            return runs
        folder = self.root / ".runyard" / "state" / "runs"
        return [r for r in runs if (folder / r.id).is_dir()]

    def experiments(self) -> list[tuple[str, int]]:
        """Each experiment and its number of runs, the one with the newest run first.

        Counted once per store and process, then only the runs added since (by insertion
        position): runs are only ever added, and a run's experiment and creation time never
        change. A store whose last counted run is no longer where it was (another file at
        the same path) is counted again."""
        pos = self._engine.position
        top = self._read(f"SELECT {pos}, id FROM runs ORDER BY {pos} DESC LIMIT 1")
        if not top:
            return []
        last, last_id = int(top[0][0]), str(top[0][1])
        with _EXPERIMENTS_LOCK:
            known = _EXPERIMENTS.get(self._engine.name)
        after, counts = 0, {}
        if known is not None and known[0] <= last:
            at = self._read(f"SELECT id FROM runs WHERE {pos} = ?", (known[0],))
            if at and at[0][0] == known[1]:
                after, counts = known[0], dict(known[2])
        if after < last:
            rows = self._read(
                "SELECT experiment, COUNT(*), MAX(created) FROM runs "
                f"WHERE {pos} > ? GROUP BY experiment",
                (after,),
            )
            for name, count, newest in rows:
                had, had_newest = counts.get(name, (0, newest))
                counts[name] = (had + int(count), max(had_newest, newest))
            with _EXPERIMENTS_LOCK:
                _EXPERIMENTS[self._engine.name] = (last, last_id, counts)
        ordered = sorted(counts.items(), key=lambda item: item[1][1], reverse=True)
        return [(name, count) for name, (count, _newest) in ordered]

    def status_history(self, run_id: str) -> list[tuple[str, float, str | None]]:
        rows = self._read(
            "SELECT status, time, reason FROM status_history WHERE run_id = ? "
            f"ORDER BY {self._engine.position}",
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
