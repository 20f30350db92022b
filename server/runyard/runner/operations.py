"""The operations both faces render: run details, compare, a rerun's check, restore,
diff, log chunks and target infos.

The CLI (`runyard.cli.runs`) and the language server (`runyard.lsp.features.runs`,
`.metrics`, `.targets`) only parse their input and render what these functions return:
frozen dataclasses, which the CLI turns into tables and `--json`, and the language
server into `protocol` types. So a rule lives here once, and the two faces cannot
disagree about it:

- *Differs.* A compare row differs when its values, as stored, are not all equal
  (`values_differ`): params as the strings they were logged as, metrics as numbers
  (NaN equals NaN), a missing value as None. The snapshot row differs only when the
  code differs: two snapshots with the same git tree hold the same code, whatever
  their commits (each run's snapshot is a commit of its own).
  The duration row differs only when the durations read differently
  (`core.formatting.fmt_duration`): a duration is a measurement, and no two runs take
  exactly as long.
- *Best run.* The run with the highest (or lowest) value of the chosen metric; runs
  without the metric, or with NaN, are not candidates; ties go to the larger run id.
- *Same after a rerun.* A rerun reproduces its original when both completed and each
  final metric is the same number (NaN equals NaN), or within a tolerance the caller
  gives (local against Docker, say); a metric only one of them logged differs. Timings
  (`TIMING_METRIC`: `fit_seconds`, `epoch_time`) are shown but never compared.
- *Log chunks.* A chunk ends on a whole line, or at least on a whole UTF-8 character,
  so a client can decode each chunk on its own (`whole_chunk`).

Functions take an open `Store` where they read runs: each face opens it its own way
(the CLI read-only on a read-only mount, the language server on its I/O pool). The
config module, git and the backends load on first use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.core.errors import RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.store import Run, RunLock, Store
from runyard.core.store.locks import HostFacts
from runyard.runner import runs

if TYPE_CHECKING:
    from runyard.core.config import ConfigError

# --------------------------------------------------------------------------- details


@dataclass(frozen=True)
class StatusChange:
    status: str
    time: float
    reason: str | None


@dataclass(frozen=True)
class MetricSummary:
    """A metric's last value and step, its range and number of points (in this order
    in the CLI's `--json`)."""

    key: str
    last: float | None
    step: int
    count: int
    min: float | None
    max: float | None


@dataclass(frozen=True)
class RunDetails:
    """A run with its status history, params, tags, metrics' last values and outputs."""

    run: Run
    history: tuple[StatusChange, ...]
    params: Mapping[str, str]
    tags: Mapping[str, str]
    artifacts: tuple[tuple[str, int], ...]  # (path in the outputs folder, size in bytes)
    metrics: tuple[MetricSummary, ...]
    outputs_dir: Path
    log_path: Path
    log_size: int
    lock: RunLock | None = None  # what its environment held (None: not recorded)


def run_details(project: Project, store: Store, run_id: str) -> RunDetails:
    """The details of the run `run_id` (a full id or a unique prefix)."""
    run = runs.get_run(project, store, run_id)
    log = runs.log_path(project, run.id)
    return RunDetails(
        run=run,
        history=tuple(StatusChange(s, t, r) for s, t, r in store.status_history(run.id)),
        params=store.params(run.id),
        tags=store.tags(run.id),
        artifacts=tuple((p, s) for p, s in store.artifacts(run.id)),
        metrics=tuple(
            MetricSummary(
                key=m["key"],
                last=m["last"],
                step=m["step"],
                count=m["count"],
                min=m["min"],
                max=m["max"],
            )
            for m in store.metric_summary(run.id)
        ),
        outputs_dir=runs.outputs_dir(project, run.id),
        log_path=log,
        log_size=log.stat().st_size if log.exists() else 0,
        lock=store.run_lock(run.id),
    )


# --------------------------------------------------------------------------- compare

Value = str | float | None


@dataclass(frozen=True)
class CompareRow:
    """One row across the compared runs: `values` in the order of the runs."""

    key: str
    values: tuple[Value, ...]
    differs: bool


@dataclass(frozen=True)
class Comparison:
    """Runs side by side. `fields` are the runs' own fields (status, experiment, target,
    duration, snapshot: the snapshot's values are commit ids, and it differs when the
    code does); `params` and `metrics` have a row per key any run has, sorted."""

    runs: tuple[Run, ...]
    run_params: tuple[Mapping[str, str], ...]
    fields: tuple[CompareRow, ...]
    params: tuple[CompareRow, ...]
    metrics: tuple[CompareRow, ...]
    best_run_id: str | None


def values_differ(values: Sequence[object]) -> bool:
    """The one rule for "differs": the values, as stored, are not all the same (NaN is
    the same as NaN, a missing value is None)."""
    return len({repr(v) for v in values}) > 1


def best_run(chosen: Sequence[Run], metric: str, maximize: bool) -> str | None:
    """The id of the run with the highest (`maximize`) or lowest value of `metric`;
    None when no run has a number for it. Ties go to the larger run id."""
    scored = [
        (r.metrics[metric], r.id)
        for r in chosen
        if metric in r.metrics and r.metrics[metric] == r.metrics[metric]  # not NaN
    ]
    if not scored:
        return None
    return (max(scored) if maximize else min(scored))[1]


def _snapshot_row(project: Project, chosen: Sequence[Run]) -> CompareRow:
    from runyard.core import snapshot

    commits = [r.snapshot_commit for r in chosen]
    trees: dict[str, str] = {}
    for commit in commits:
        if commit and commit not in trees:
            tree = snapshot.snapshot_tree(project, commit)
            trees[commit] = f"tree {tree}" if tree else f"commit {commit}"
    code = [trees[c] if c else None for c in commits]
    return CompareRow(key="snapshot", values=tuple(commits), differs=values_differ(code))


def _duration_row(durations: Sequence[float | None]) -> CompareRow:
    from runyard.core.formatting import fmt_duration

    shown = [fmt_duration(d) for d in durations]
    return CompareRow(key="duration", values=tuple(durations), differs=values_differ(shown))


def _row(key: str, values: Sequence[Value]) -> CompareRow:
    return CompareRow(key=key, values=tuple(values), differs=values_differ(values))


def compare(
    project: Project,
    store: Store,
    run_ids: Sequence[str],
    best_metric: str | None = None,
    maximize: bool = True,
    snapshots: bool = True,
) -> Comparison:
    """The runs `run_ids` side by side, and the best by `best_metric` when given.
    `snapshots=False` leaves out the snapshot row (it asks git for each run's tree)."""
    chosen = [runs.get_run(project, store, i) for i in run_ids]
    run_params = [store.params(r.id) for r in chosen]
    fields = [
        _row("status", [r.status for r in chosen]),
        _row("experiment", [r.experiment for r in chosen]),
        _row("target", [r.target for r in chosen]),
        _duration_row([r.duration for r in chosen]),
    ]
    if snapshots:
        fields.append(_snapshot_row(project, chosen))
    params = [
        _row(key, [ps.get(key) for ps in run_params])
        for key in sorted({k for ps in run_params for k in ps})
    ]
    metrics = [
        _row(key, [r.metrics.get(key) for r in chosen])
        for key in sorted({k for r in chosen for k in r.metrics})
    ]
    return Comparison(
        runs=tuple(chosen),
        run_params=tuple(run_params),
        fields=tuple(fields),
        params=tuple(params),
        metrics=tuple(metrics),
        best_run_id=best_run(chosen, best_metric, maximize) if best_metric else None,
    )


# --------------------------------------------------------------------------- rerun check


# Metrics that measure time (`fit_seconds`, `epoch_time`, `latency_ms`) differ from run
# to run by nature: a rerun's check shows them but does not compare them.
TIMING_METRIC = re.compile(r"(seconds|secs?|_ms|time|duration|elapsed)$", re.IGNORECASE)


@dataclass(frozen=True)
class MetricCheck:
    """One final metric of a run and of its rerun. `difference` is |rerun - original|
    (None when either is missing or not a number); `compared` is False for a timing or
    a metric the caller left out, which never makes the two differ."""

    key: str
    original: float | None
    rerun: float | None
    difference: float | None
    equal: bool
    compared: bool = True


@dataclass(frozen=True)
class RerunCheck:
    """A rerun's final metrics against its original's, each equal when the two are
    within `tolerance` (0: the same number, bit for bit; NaN equals NaN)."""

    original: Run
    rerun: Run
    tolerance: float
    metrics: tuple[MetricCheck, ...]

    @property
    def same(self) -> bool:
        """The rerun completed, like its original, and every compared metric is equal."""
        return self.rerun.status == self.original.status == "completed" and all(
            m.equal for m in self.metrics if m.compared
        )

    @property
    def largest_difference(self) -> float | None:
        found = [m.difference for m in self.metrics if m.compared and m.difference is not None]
        return max(found) if found else None


def _metric_check(key: str, a: float | None, b: float | None, tolerance: float) -> MetricCheck:
    if a is None or b is None:
        return MetricCheck(key, a, b, None, a is None and b is None)
    if math.isnan(a) or math.isnan(b):
        return MetricCheck(key, a, b, None, math.isnan(a) and math.isnan(b))
    if math.isinf(a) or math.isinf(b):
        return MetricCheck(key, a, b, None, a == b)
    difference = abs(b - a)
    return MetricCheck(key, a, b, difference, a == b or difference <= tolerance)


def check_rerun(
    original: Run, rerun: Run, tolerance: float = 0.0, ignore: Sequence[str] = ()
) -> RerunCheck:
    """Compare the final (latest) value of every metric either run logged; timings
    (`TIMING_METRIC`) and the keys in `ignore` are shown, not compared."""
    keys = sorted(set(original.metrics) | set(rerun.metrics))
    checks = []
    for key in keys:
        check = _metric_check(key, original.metrics.get(key), rerun.metrics.get(key), tolerance)
        if key in ignore or TIMING_METRIC.search(key):
            check = replace(check, compared=False)
        checks.append(check)
    return RerunCheck(original, rerun, tolerance, tuple(checks))


# --------------------------------------------------------------------------- restore, diff


@dataclass(frozen=True)
class Restored:
    run_id: str
    dest: Path
    written: tuple[str, ...]  # paths relative to `dest`


@dataclass(frozen=True)
class Diff:
    text: str  # empty when there is no difference


def _require_snapshot(run: Run) -> str:
    if not run.snapshot_commit:
        raise UsageError(f"Run {run.id} has no snapshot (it failed before one was taken).")
    return run.snapshot_commit


def restore(project: Project, run: Run, dest: Path | None, force: bool) -> Restored:
    """Write the code snapshot of `run` into `dest` (default: the project folder, which
    needs `force` to overwrite anything)."""
    from runyard.core import snapshot

    commit = _require_snapshot(run)
    target = dest if dest is not None else project.root
    written = snapshot.restore_snapshot(project, commit, target, force=force)
    return Restored(run_id=run.id, dest=target, written=tuple(written))


def diff(project: Project, run: Run, other: Run | None, stat: bool) -> Diff:
    """The code difference of `run` against `other`, or against the working tree."""
    from runyard.core import snapshot

    commit = _require_snapshot(run)
    other_commit = _require_snapshot(other) if other is not None else None
    return Diff(text=snapshot.diff_snapshots(project, commit, other_commit, stat=stat))


@dataclass(frozen=True)
class Change:
    """One thing that differs between two runs: `before` is run A's, `after` run B's;
    None where that run has none (a package added, a param removed)."""

    name: str
    before: str | float | None
    after: str | float | None


@dataclass(frozen=True)
class RunDiff:
    """Every cause two runs may differ by, in one place: code (files changed), the
    environment (interpreter, packages added, removed or changed, from the runs'
    locks), parameters, target, the host the run ran on, and final metrics. A section
    is None where it cannot be told (a run without a lock or host facts); empty where
    nothing differs. `code_diff` is the unified diff of the two snapshots."""

    a: Run
    b: Run
    code: tuple[Change, ...]
    environment: tuple[Change, ...] | None
    params: tuple[Change, ...]
    target: tuple[Change, ...]
    host: tuple[Change, ...] | None
    metrics: tuple[Change, ...]
    code_diff: str


_FILE_STATUS = {"A": "added", "D": "deleted", "M": "modified", "R": "renamed", "T": "type"}


def _changes(
    before: Mapping[str, str | float | None], after: Mapping[str, str | float | None]
) -> tuple[Change, ...]:
    """What differs between two mappings, by key in order (the one rule, `values_differ`)."""
    return tuple(
        Change(key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if values_differ([before.get(key), after.get(key)])
    )


def _host_changes(a: RunLock | None, b: RunLock | None) -> tuple[Change, ...] | None:
    """The host facts that differ (OS, release, distribution, machine, CPU model and
    count, GPUs: `HostFacts`), from the runs' locks; None when either run has none."""
    if a is None or b is None or a.host is None or b.host is None:
        return None

    def facts(host: HostFacts) -> dict[str, str | float | None]:
        shown: dict[str, str | float | None] = {
            key: None if getattr(host, key) is None else str(getattr(host, key))
            for key in HostFacts.FIELDS
            if key != "gpus"
        }
        shown["gpus"] = ", ".join(host.gpus) or "none"
        return shown

    return _changes(facts(a.host), facts(b.host))


def run_diff(project: Project, store: Store, a: Run, b: Run) -> RunDiff:
    """Runs `a` and `b`, compared on every cause (see `RunDiff`)."""
    from runyard.core import snapshot

    files = snapshot.changed_files(project, _require_snapshot(a), _require_snapshot(b))
    lock_a, lock_b = store.run_lock(a.id), store.run_lock(b.id)
    environment = None
    if lock_a is not None and lock_b is not None:
        environment = _changes({"python": lock_a.python}, {"python": lock_b.python})
        environment += _changes(lock_a.packages, lock_b.packages)
    return RunDiff(
        a=a,
        b=b,
        code=tuple(Change(path, None, _FILE_STATUS.get(st, st)) for st, path in files),
        environment=environment,
        params=_changes(store.params(a.id), store.params(b.id)),
        target=_changes(
            {"target": a.target, "type": a.target_type}, {"target": b.target, "type": b.target_type}
        ),
        host=_host_changes(lock_a, lock_b),
        metrics=_changes(a.metrics, b.metrics),
        code_diff=snapshot.diff_snapshots(project, _require_snapshot(a), _require_snapshot(b)),
    )


# --------------------------------------------------------------------------- log chunks


@dataclass(frozen=True)
class LogChunk:
    run_id: str
    data: bytes  # ends on a whole line, or at least a whole UTF-8 character
    offset: int
    next_offset: int
    complete: bool  # the run has ended and nothing is left after this chunk


def whole_chunk(data: bytes, more: bool) -> bytes:
    """`data` cut to end on a whole line, or at least on a whole UTF-8 character, when
    `more` follows it; as it is when it is the end of the log."""
    if not more:
        return data
    cut = data.rfind(b"\n")
    if cut >= 0:
        return data[: cut + 1]
    while data and (data[-1] & 0xC0) == 0x80:  # continuation bytes of a cut character
        data = data[:-1]
    if data and data[-1] >= 0xC0:  # the lead byte of that character
        data = data[:-1]
    return data


def log_chunk(project: Project, store: Store, run_id: str, offset: int, max_bytes: int) -> LogChunk:
    """Up to `max_bytes` (more than 0) of the run's log from byte `offset` on."""
    run = runs.get_run(project, store, run_id)
    try:
        with runs.log_path(project, run.id).open("rb") as f:
            f.seek(offset)
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        data = b""
    more = len(data) > max_bytes
    data = whole_chunk(data[:max_bytes], more)
    return LogChunk(
        run_id=run.id,
        data=data,
        offset=offset,
        next_offset=offset + len(data),
        complete=not run.live and not more,
    )


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class TargetView:
    """A compute target as listed: its settings are the file's, less type and
    description."""

    name: str
    type: str
    file: Path
    is_default: bool
    description: str | None
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class TargetList:
    targets: tuple[TargetView, ...]
    default: str | None
    problems: tuple[ConfigError, ...]  # target files that do not load


def default_target(project: Project, wanted: str | None = None) -> str | None:
    """The target a run goes to when none is named: `wanted` when that target exists,
    else the project's default; None when there is none."""
    from runyard.core import config

    if wanted and wanted in config.target_names(project):
        return wanted
    try:
        return config.default_target_name(project)
    except RunyardError:
        return None


def target_view(target: Any, default: str | None) -> TargetView:
    """`target` (a loaded `config` target) as listed, given the default target's name."""
    return TargetView(
        name=target.name,
        type=target.type,
        file=target.path,
        is_default=target.name == default,
        description=target.description,
        settings={k: v for k, v in target.raw.items() if k not in ("type", "description")},
    )


def target_list(project: Project, wanted_default: str | None = None) -> TargetList:
    """The project's targets, the default (see `default_target`), and the problems of
    the target files that do not load."""
    from runyard.core import config

    default = default_target(project, wanted_default)
    targets: list[TargetView] = []
    problems: list[ConfigError] = []
    for item in config.list_targets(project):
        if isinstance(item, config.ConfigError):
            problems.append(item)
        else:
            targets.append(target_view(item, default))
    return TargetList(targets=tuple(targets), default=default, problems=tuple(problems))
