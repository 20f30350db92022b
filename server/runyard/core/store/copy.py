"""One store's history copied into another: `runyard store migrate --to URL`.

`copy_store(source, target)` copies every run that has ended (with its status history,
params, tags, artifacts, metric chunks, summaries and latest values, and its lock), the
model registry (versions and aliases) and the deployments (with their telemetry
samples) from `source` (usually the project's SQLite store) into `target` (usually
the team's PostgreSQL store). Both are opened by this Runyard, so both hold the same
schema version.

Rules:

* Nothing is copied twice. A run whose id the target holds already is left as it is
  there (run ids carry the second they were made and random bits, so two runs never
  share one by chance); model versions by (name, version), aliases by (name, alias)
  and deployments by name likewise. Running the copy again changes nothing.
* A run still live (queued, preparing, running) is not copied: its supervisor goes on
  writing to the source. It is listed (`CopyResult.live`); copy again once it ended.
* Runs go in batches of `BATCH` runs, one transaction each, with `Engine.insert_rows`
  (COPY in PostgreSQL): a copy cut off leaves whole runs only, and the next copy goes
  on from there. `progress(done, total)` is called after each batch.
* Metric chunks get new ids in the target (the next free ones, in the source's order),
  and the summaries' links to chunks follow them: positions within a series (what
  cursors into a series and summaries use) do not change.
* Afterwards the counts are checked: per table, the rows of the runs copied now, in
  source and target (points counted by the chunks' sizes). A difference is an error
  naming the table; a run that the target held already and whose counts differ there
  (it went on after an earlier copy, or is another's) is listed in `CopyResult.differ`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runyard.core.errors import RunyardError
from runyard.core.store.metrics import CHUNK_COLUMNS
from runyard.core.store.runs import LIVE_STATUSES, RUN_ROW

if TYPE_CHECKING:
    from runyard.core.store import Store

BATCH = 200  # runs per transaction

# The tables of a run, in the order they are written (a row's references first), with
# their columns (never the engine's own position column).
RUN_TABLES: dict[str, tuple[str, ...]] = {
    "runs": tuple(RUN_ROW.split(", ")),
    "status_history": ("run_id", "status", "time", "reason"),
    "params": ("run_id", "key", "value"),
    "tags": ("run_id", "key", "value"),
    "artifacts": ("run_id", "path", "size"),
    "latest_metrics": ("run_id", "key", "step", "wall_time", "value", "count"),
    "metric_chunks": CHUNK_COLUMNS,
    "metric_summaries": (
        "run_id", "key", "level", "block", "n", "step_lo", "step_hi", "min_pos", "min_step",
        "min_time", "min_value", "max_pos", "max_step", "max_time", "max_value", "last_step",
        "last_time", "last_value", "chunk", "chunk_at", "chunk_last",
    ),
    "run_locks": ("run_id", "python", "installer", "recorded", "host"),
    "run_lock_packages": ("run_id", "name", "version"),
}  # fmt: skip
MODEL_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # columns, key
    "model_versions": (
        (
            "name", "version", "digest", "size", "kind", "framework", "run_id", "source_path",
            "snapshot_commit", "target", "env_hash", "created", "tags",
        ),
        ("name", "version"),
    ),
    "model_aliases": (("name", "alias", "version"), ("name", "alias")),
    "deployments": (
        (
            "name", "model", "version", "target", "image", "container_id", "host", "port",
            "status", "created", "stopped", "options",
        ),
        ("name",),
    ),
}  # fmt: skip
STATS_COLUMNS = ("deployment", "time", "requests", "errors", "p50_ms", "p95_ms")
_ID = "id"  # the runs table's key column; every other run table's is run_id


@dataclass
class CopyResult:
    """What a copy did: runs copied now, already there, left out as live; metric points
    copied; models, aliases and deployments copied; per table the rows of the runs
    copied now (source, target); runs already there whose counts differ."""

    source: str
    target: str
    runs_copied: int = 0
    runs_present: int = 0
    live: list[str] = field(default_factory=list)
    points: int = 0
    models: int = 0
    aliases: int = 0
    deployments: int = 0
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    differ: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "runs": {
                "copied": self.runs_copied,
                "already_there": self.runs_present,
                "live_not_copied": self.live,
            },
            "points": self.points,
            "models": self.models,
            "aliases": self.aliases,
            "deployments": self.deployments,
            "counts": {t: {"source": s, "target": d} for t, (s, d) in self.counts.items()},
            "differ": self.differ,
        }


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _rows(store: Store, table: str, columns: Sequence[str], run_ids: Sequence[str]) -> list[Any]:
    key = _ID if table == "runs" else "run_id"
    order = f" ORDER BY {key}"
    if table == "status_history":
        order += f", {store._engine.position}"
    elif table == "metric_chunks":
        order = " ORDER BY id"
    return store._read(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {key} IN ({_marks(len(run_ids))}){order}",
        list(run_ids),
    )


def _counts(store: Store, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per table, per run: its rows (metric_chunks: its points)."""
    out: dict[str, dict[str, int]] = {}
    for table in RUN_TABLES:
        key = _ID if table == "runs" else "run_id"
        what = "SUM(n)" if table == "metric_chunks" else "COUNT(*)"
        mine = out[table] = {}
        for i in range(0, len(run_ids), 500):
            chunk = list(run_ids[i : i + 500])
            for run_id, count in store._read(
                f"SELECT {key}, {what} FROM {table} WHERE {key} IN ({_marks(len(chunk))}) "
                f"GROUP BY {key}",
                chunk,
            ):
                mine[run_id] = int(count)
    return out


def copy_store(
    source: Store,
    target: Store,
    progress: Callable[[int, int], None] | None = None,
) -> CopyResult:
    """Copy `source`'s history into `target` (see the module docstring)."""
    if source.location == target.location:
        raise RunyardError(
            f"The store {source.location} cannot be copied into itself.",
            hint="name the team store with --to",
        )
    result = CopyResult(source.location, target.location)
    listed = source._read("SELECT id, status FROM runs ORDER BY created, id")
    result.live = [r[0] for r in listed if r[1] in LIVE_STATUSES]
    ended = [r[0] for r in listed if r[1] not in LIVE_STATUSES]
    present: set[str] = set()
    for i in range(0, len(ended), 500):
        chunk = ended[i : i + 500]
        present.update(
            r[0]
            for r in target._read(f"SELECT id FROM runs WHERE id IN ({_marks(len(chunk))})", chunk)
        )
    todo = [r for r in ended if r not in present]
    result.runs_present = len(ended) - len(todo)
    for i in range(0, len(todo), BATCH):
        _copy_runs(source, target, todo[i : i + BATCH], result)
        if progress is not None:
            progress(min(i + BATCH, len(todo)), len(todo))
    _copy_registry(source, target, result)
    if target.dialect == "postgresql" and todo:
        with target._tx() as db:  # the planner's statistics, for the rows just loaded
            db.execute("ANALYZE")
    _verify(source, target, todo, sorted(present), result)
    return result


def _copy_runs(source: Store, target: Store, run_ids: Sequence[str], result: CopyResult) -> None:
    rows = {t: _rows(source, t, cols, run_ids) for t, cols in RUN_TABLES.items()}
    engine = target._engine
    with target._tx() as db:
        # the transaction holds the write lock: these ids stay free until it ends
        next_id = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM metric_chunks").fetchone()[0])
        new_ids: dict[int, int] = {}
        chunks = []
        for row in rows["metric_chunks"]:
            next_id += 1
            new_ids[int(row[0])] = next_id
            chunks.append((next_id, *row[1:]))
            result.points += int(row[3])
        rows["metric_chunks"] = chunks
        rows["metric_summaries"] = [_relinked(row, new_ids) for row in rows["metric_summaries"]]
        for table, columns in RUN_TABLES.items():
            if rows[table]:
                engine.insert_rows(db, table, columns, rows[table])
    result.runs_copied += len(run_ids)


_LINKS = tuple(RUN_TABLES["metric_summaries"].index(c) for c in ("chunk", "chunk_last"))


def _relinked(row: Sequence[Any], new_ids: dict[int, int]) -> tuple[Any, ...]:
    """A summary row with its links to chunks (`chunk`, `chunk_last`) to the new ids."""
    out = list(row)
    for at in _LINKS:
        if out[at] is not None:
            out[at] = new_ids[int(out[at])]
    return tuple(out)


def _copy_registry(source: Store, target: Store, result: CopyResult) -> None:
    """Model versions, aliases and deployments the target lacks (by their keys), and the
    telemetry samples of the deployments copied now."""
    copied: dict[str, list[Any]] = {}
    for table, (columns, key) in MODEL_TABLES.items():
        have = {tuple(r) for r in target._read(f"SELECT {', '.join(key)} FROM {table}")}
        at = [columns.index(k) for k in key]
        copied[table] = [
            r
            for r in source._read(f"SELECT {', '.join(columns)} FROM {table}")
            if tuple(r[i] for i in at) not in have
        ]
    names = [r[0] for r in copied["deployments"]]
    stats: list[Any] = []
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        stats += source._read(
            f"SELECT {', '.join(STATS_COLUMNS)} FROM deployment_stats "
            f"WHERE deployment IN ({_marks(len(chunk))}) ORDER BY {source._engine.position}",
            chunk,
        )
    with target._tx() as db:
        for table, (columns, _key) in MODEL_TABLES.items():
            if copied[table]:
                target._engine.insert_rows(db, table, columns, copied[table])
        if stats:
            target._engine.insert_rows(db, "deployment_stats", STATS_COLUMNS, stats)
    result.models = len(copied["model_versions"])
    result.aliases = len(copied["model_aliases"])
    result.deployments = len(copied["deployments"])


def _verify(
    source: Store,
    target: Store,
    copied: Sequence[str],
    present: Sequence[str],
    result: CopyResult,
) -> None:
    ids = [*copied, *present]
    mine, theirs = _counts(source, ids), _counts(target, ids)
    wrong = []
    for table in RUN_TABLES:
        s = sum(mine[table].get(r, 0) for r in copied)
        d = sum(theirs[table].get(r, 0) for r in copied)
        result.counts[table] = (s, d)
        if s != d:
            wrong.append(f"{table} ({s} in the source, {d} in the target)")
    result.differ = [
        r for r in present if any(mine[t].get(r, 0) != theirs[t].get(r, 0) for t in RUN_TABLES)
    ]
    if wrong:
        raise RunyardError(
            f"The copy into {target.location} does not hold what {source.location} holds: "
            + ", ".join(wrong)
            + ".",
            hint="run the copy again; runs already there are kept as they are",
        )
