"""A sweep's files, and what both faces show of sweeps (read without Optuna).

Each sweep has a folder, `.runyard/state/sweeps/<sweep id>/`:

- `sweep.json`: the record, written once when the sweep starts: its name, the sweep
  file's data as it was then, the snapshot every trial runs, and the resolved run spec
  of each target (`RunSpec.to_options`) with the trials it may run at a time;
- `optuna.journal`: Optuna's journal file storage, the study's truth (every trial,
  parameter, intermediate value and result), each change one append (synced to disk
  in the background);
- `snapshot/`: the snapshot's tree, exported once while the sweep runs; each trial's
  working copy is a copy of it (removed when the sweep ends);
- `state.json`: what the sweep supervisor last made of it (status, the trials with
  their runs, notes), replaced whole (`os.replace`) at each change, so a reader never
  sees half of it; the faces read this, never the journal;
- `sweep.log`: one line per trial start and end, and the notes (`runyard sweep start`
  follows it); `supervisor.log`: the supervisor's own stderr;
- `supervisor.lock`: held (flock) by the sweep's supervisor for its whole life: a free
  lock on a sweep still `running` means its supervisor died (the sweep reads as
  `interrupted` until `resume`);
- `cancel`: written to ask the supervisor to stop the sweep.

`SweepView` and `TrialView` are what `sweep list` / `sweep show` (and an editor's
Sweeps view) render: the state file with each live trial's run status and latest
objective value read from the store, trials sorted best first (`sort_trials`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.store import Run, Store, json_number
from runyard.runner.processes import lock_held

# Tags every trial's run carries: the sweep's id, the trial's number, and whether the
# sweep stopped it early (then its run was canceled with a reason that says so).
SWEEP_TAG = "sweep"
TRIAL_TAG = "sweep.trial"
PRUNED_TAG = "sweep.pruned"

# A sweep's own statuses; `interrupted` is read, never written: a `running` sweep whose
# supervisor is gone.
LIVE = ("starting", "running")
FINAL = ("completed", "canceled", "failed")

RECORD = "sweep.json"
STATE = "state.json"
LOG = "sweep.log"
JOURNAL = "optuna.journal"
EXPORTED = "snapshot"
LOCK = "supervisor.lock"
CANCEL = "cancel"


def sweeps_dir(project: Project) -> Path:
    return project.state_dir / "sweeps"


def sweep_dir(project: Project, sweep_id: str) -> Path:
    return sweeps_dir(project) / sweep_id


def write_json(path: Path, data: Any) -> None:
    """Write `data` to `path` whole: through a temporary file and `os.replace`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def append_log(project: Project, sweep_id: str, line: str) -> None:
    """One line in the sweep's log, with the time; a full disk loses the line, never
    the sweep."""
    stamp = time.strftime("%H:%M:%S")
    with (
        contextlib.suppress(OSError),
        (sweep_dir(project, sweep_id) / LOG).open("a", encoding="utf-8") as f,
    ):
        f.write(f"{stamp} {line}\n")


def read_log(project: Project, sweep_id: str, offset: int = 0) -> tuple[bytes, int]:
    """The sweep log's bytes from `offset`, and the offset after them."""
    try:
        with (sweep_dir(project, sweep_id) / LOG).open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return b"", offset
    return data, offset + len(data)


def supervisor_alive(project: Project, sweep_id: str) -> bool:
    """True while a sweep supervisor (or the command starting one) holds the lock."""
    return lock_held(sweep_dir(project, sweep_id) / LOCK)


def state_error(project: Project, exc: OSError) -> RunyardError:
    where = project.relpath(sweeps_dir(project))
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return RunyardError(f"{where} is not writable ({exc.strerror}).", "make it writable")
    if exc.errno == errno.ENOSPC:
        return RunyardError(f"The disk holding {where} is full.")
    return RunyardError(f"Could not write under {where}: {exc}")


def sweep_ids(project: Project) -> list[str]:
    """Every sweep's id, newest first (ids begin with their start time)."""
    try:
        names = [p.name for p in sweeps_dir(project).iterdir() if (p / RECORD).is_file()]
    except OSError:
        return []
    return sorted(names, reverse=True)


def resolve_sweep_id(project: Project, text: str) -> str:
    """A full sweep id, a unique prefix of one, or a unique suffix (the random part)."""
    text = text.strip()
    if not text:
        raise UsageError("An empty sweep id was given.", hint="see `runyard sweep list`")
    ids = sweep_ids(project)
    if text in ids:
        return text
    found = [i for i in ids if i.startswith(text) or i.endswith(text)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError(f"No sweep matches {text!r}.", hint="see `runyard sweep list`")
    raise UsageError(
        f"{text!r} matches several sweeps ({', '.join(found[:5])}).", hint="give more of the id"
    )


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class TrialView:
    """One trial: its run, where it ran, its parameters, how it stands, its objective
    value (`value`, once completed) and the metric's latest value (`latest`, while it
    runs or when it was stopped). `status` is the run's status, or `pruned`."""

    number: int
    run_id: str | None
    target: str | None
    params: dict[str, Any]
    status: str
    value: float | None = None
    latest: float | None = None
    reason: str | None = None
    started: float | None = None
    ended: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.number,
            "run_id": self.run_id,
            "target": self.target,
            "params": self.params,
            "status": self.status,
            "value": None if self.value is None else json_number(self.value),
            "latest": None if self.latest is None else json_number(self.latest),
            "reason": self.reason,
            "started": self.started,
            "ended": self.ended,
        }


@dataclass(frozen=True)
class SweepView:
    """A sweep as both faces show it. `trials` are sorted best first (`sort_trials`);
    `best` is the first of them with a value. `notes` are what the supervisor found
    worth saying (an objective metric no run logs, a target that keeps failing)."""

    id: str
    name: str
    status: str
    reason: str | None
    sampler: str
    metric: str
    direction: str
    max_trials: int
    parallel: dict[str, int]
    early_stopping: str
    created: float
    ended: float | None
    snapshot_commit: str | None
    trials: list[TrialView] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> TrialView | None:
        first = self.trials[0] if self.trials else None
        return first if first is not None and first.value is not None else None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trial in self.trials:
            out[trial.status] = out.get(trial.status, 0) + 1
        return out

    def to_json(self, trials: bool = True) -> dict[str, Any]:
        best = self.best
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "sampler": self.sampler,
            "objective": {"metric": self.metric, "direction": self.direction},
            "max_trials": self.max_trials,
            "parallel": self.parallel,
            "early_stopping": self.early_stopping,
            "created": self.created,
            "ended": self.ended,
            "snapshot": self.snapshot_commit,
            "counts": self.counts(),
            "best": None if best is None else best.to_json(),
            "notes": self.notes,
        }
        if trials:
            data["trials"] = [t.to_json() for t in self.trials]
        return data


_STATUS_ORDER = {
    "completed": 0,
    "running": 1,
    "preparing": 2,
    "queued": 2,
    "starting": 2,
    "pruned": 3,
    "failed": 4,
    "canceled": 4,
    "lost": 4,
}


def sort_trials(trials: Iterable[TrialView], direction: str) -> list[TrialView]:
    """Best first: the trials with an objective value by that value (lowest first
    when minimizing), then the live ones, the stopped ones, the failed ones; by trial
    number within each."""
    sign = -1.0 if direction == "maximize" else 1.0

    def key(t: TrialView) -> tuple[int, float, int]:
        if t.value is not None and not math.isnan(t.value):
            return (0, sign * t.value, t.number)
        return (1 + _STATUS_ORDER.get(t.status, 5), 0.0, t.number)

    return sorted(trials, key=key)


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    return None


def _trial(raw: dict[str, Any], runs: dict[str, Run], metric: str) -> TrialView:
    run_id = raw.get("run_id")
    run = runs.get(run_id) if isinstance(run_id, str) else None
    status = str(raw.get("status") or "starting")
    latest = _float(raw.get("latest"))
    reason = raw.get("reason")
    if run is not None:
        latest = run.metrics.get(metric, latest)
        if status in LIVE or status in ("queued", "preparing"):
            # the supervisor has not told this trial's end yet (or is gone): the run's
            # own status, from the store
            status = run.status
            if not run.live and run.reason:
                reason = run.reason
    return TrialView(
        number=int(raw.get("number", -1)),
        run_id=run_id if isinstance(run_id, str) else None,
        target=raw.get("target"),
        params=dict(raw.get("params") or {}),
        status=status,
        value=_float(raw.get("value")),
        latest=latest,
        reason=reason if isinstance(reason, str) else None,
        started=_float(raw.get("started")),
        ended=_float(raw.get("ended")),
    )


def _views(project: Project, store: Store, ids: Sequence[str]) -> list[SweepView]:
    loaded: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    live_runs: list[str] = []
    for sweep_id in ids:
        folder = sweep_dir(project, sweep_id)
        record = read_json(folder / RECORD)
        if record is None:
            continue
        state = read_json(folder / STATE) or {}
        loaded.append((sweep_id, record, state))
        for trial in state.get("trials") or []:
            if (
                isinstance(trial, dict)
                and trial.get("status") in (*LIVE, "queued", "preparing")
                and isinstance(trial.get("run_id"), str)
            ):
                live_runs.append(trial["run_id"])
    runs = {r.id: r for r in store.list_runs(ids=live_runs)} if live_runs else {}
    out = []
    for sweep_id, record, state in loaded:
        settings = record.get("settings") or {}
        metric = str(settings.get("metric", ""))
        direction = str(settings.get("direction", "minimize"))
        status = str(state.get("status") or "starting")
        reason = state.get("reason")
        if status in LIVE and not supervisor_alive(project, sweep_id):
            status = "interrupted"
            reason = (
                "its supervisor ended before the sweep did; `runyard sweep resume "
                f"{sweep_id}` carries on without repeating finished trials"
            )
        trials = [_trial(t, runs, metric) for t in state.get("trials") or [] if isinstance(t, dict)]
        out.append(
            SweepView(
                id=sweep_id,
                name=str(record.get("name", "")),
                status=status,
                reason=reason if isinstance(reason, str) else None,
                sampler=str(settings.get("sampler", "")),
                metric=metric,
                direction=direction,
                max_trials=int(settings.get("max_trials", 0)),
                parallel={str(k): int(v) for k, v in (record.get("parallel") or {}).items()},
                early_stopping=str(settings.get("early_stopping", "none")),
                created=float(record.get("created", 0.0)),
                ended=_float(state.get("ended")),
                snapshot_commit=record.get("snapshot_commit"),
                trials=sort_trials(trials, direction),
                notes=[str(n) for n in state.get("notes") or []],
            )
        )
    return out


def get_sweep(project: Project, store: Store, text: str) -> SweepView:
    """The sweep `text` names (an id, or a unique part of one), trials best first."""
    sweep_id = resolve_sweep_id(project, text)
    views = _views(project, store, [sweep_id])
    if not views:
        raise NotFoundError(f"Sweep {sweep_id} has no readable record.")
    return views[0]


def list_sweeps(project: Project, store: Store, limit: int | None = None) -> list[SweepView]:
    """Every sweep, newest first, each with its trials (best first)."""
    ids = sweep_ids(project)
    return _views(project, store, ids[:limit] if limit else ids)
