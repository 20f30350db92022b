"""The sweep supervisor: a detached process that owns one sweep, like a run's
supervisor owns one run.

    python -m runyard.runner.sweeps.supervisor PROJECT_ROOT SWEEP_ID LOCK_FD

It holds `<sweep dir>/supervisor.lock` (the descriptor LOCK_FD, locked by whoever
started it) for its whole life. It opens the sweep's Optuna study (journal file
storage, `optuna.journal`) and loops:

- **starts trials** while fewer than `max_trials` were asked and a target has a free
  slot (`parallel`, per target; the target with the most free share first): the
  sampler's next parameters (`study.ask` with the space's distributions), a run of the
  target's resolved spec with the parameters appended as `--name value`, started by
  `runs.start_run` from the sweep's snapshot (in a small pool of threads, so starts go
  side by side; everything Optuna is told happens on the main thread), tagged
  `sweep`/`sweep.trial`, with the parameters as the run's params. The trial's run id and target go into the study
  (`user_attrs`) and the tags, so a trial is found again after a crash either way;
- **follows trials**: runs' status changes from the store (`Store.status_changes`, one
  query whatever the number of trials); with early stopping, the objective metric's
  new points (`Store.metric_columns` from a cursor) reported to the trial with their
  steps, and the pruner asked. A pruned trial's run gets the tag `sweep.pruned=true`
  and is canceled; once it has ended, its reason says "pruned by the sweep (median
  rule): ..." (run statuses are fixed, so pruned is the tag plus that reason);
- **tells Optuna** how each trial ended: the metric's last value for a completed run
  (one that logged no such metric fails, and the first one is a note in the sweep's
  log and `sweep show`, naming the metrics it did log), PRUNED, or FAIL with the run's
  reason. A target whose trials keep failing before they run (`FAILING_LIMIT` in a
  row: a target that went away, an unreachable host) gets no more trials, which is a
  note; the other targets go on. With no usable target left, the sweep fails.

Everything a reader needs is in `state.json` (see `state`), replaced at each change.

**Starting a trial, cheaply.** What every trial's start shares is made once: the
snapshot's tree is exported once (`EXPORTED`, removed when the sweep ends) and each
trial's working copy is a copy of it (`runs.start_run(exported=...)`); its run's
supervisor is a fork of one server that imported what a supervisor needs once
(`runs.SupervisorForks`, `supervisor.serve_forks`), and spares of them wait for the
next trials (`ready_spares`: as many as the slots, started while no trial starts; each
writes its run's tracking shim as it waits), so a trial's start does not wait for an
interpreter. Each trial is still a full run: its own supervisor, working copy, lock,
tracking, cancel. The journal is appended by this process alone and synced to disk in
the background (`_journal`), so that no ask or tell waits for the disk.

**Crashes.** Kill it (-9) and nothing is lost: the runs go on under their own
supervisors; the journal holds every trial. `resume` starts a new supervisor, which
tells the study about runs that ended meanwhile, follows the live ones again (the
points already reported are not reported twice), starts a run for a trial that was
asked but never got one, or whose run never began (the supervisor died while starting
it: that run is `lost`), with the same parameters, and carries on. While it runs, it
reconciles the project's runs every `CHECK_SECONDS` (a trial's run whose own
supervisor died is taken over or marked lost, as `runs.wait` does) and looks at its
live trials' runs directly, so no end goes unseen. A partly written last line
of the journal (the process died mid-write) is cut off first, and the journal's lock
file, which Optuna would wait 30 s on, is removed: this process's flock already keeps
any other writer out.

**Cancel.** The `cancel` file (or SIGTERM): every live trial's run is canceled, and
followed until it has ended (each trial FAIL, "canceled with the sweep"); then the
sweep is `canceled`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from runyard.core.config import SweepConfig, param_argument
from runyard.core.config.sweeps import sweep_config
from runyard.core.errors import RunyardError
from runyard.core.project import Project
from runyard.core.store import Run, Store
from runyard.runner import runs
from runyard.runner.sweeps.state import (
    CANCEL,
    EXPORTED,
    JOURNAL,
    PRUNED_TAG,
    RECORD,
    STATE,
    SWEEP_TAG,
    TRIAL_TAG,
    append_log,
    read_json,
    sweep_dir,
    write_json,
)
from runyard.targets.spec import RunSpec

if TYPE_CHECKING:
    import optuna
    from optuna.storages.journal import BaseJournalBackend

POLL_SECONDS = 0.02  # how often run statuses are looked at
METRICS_SECONDS = 0.2  # how often live trials' metric points are read (early stopping)
CHECK_SECONDS = 2.0  # how often live trials' runs are reconciled and looked at directly
FAILING_LIMIT = 3  # trials in a row failing before they run: the target gets no more
CANCEL_WAIT_SECONDS = 60.0  # beyond the longest grace period, canceled runs are left
SPARES = 8  # run supervisors started ahead for the next trials, at most


@dataclass
class Trial:
    """One trial as this supervisor follows it."""

    number: int
    trial_id: int
    params: dict[str, Any]
    target: str | None = None
    run_id: str | None = None
    status: str = "starting"  # starting, running, then completed/pruned/failed/canceled
    value: float | None = None
    latest: float | None = None
    reason: str | None = None
    started: float | None = None
    ended: float | None = None
    cursor: int = 0  # metric points read so far
    reported: set[int] = field(default_factory=set)  # steps reported to the study
    pruned: tuple[int, float] | None = None  # (step, value) when the pruner stopped it
    canceling: bool = False

    @property
    def live(self) -> bool:
        return self.status in ("starting", "running")

    def to_json(self) -> dict[str, Any]:
        def number(v: float | None) -> float | str | None:
            if v is None or math.isfinite(v):
                return v
            return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")

        return {
            "number": self.number,
            "run_id": self.run_id,
            "target": self.target,
            "params": self.params,
            "status": self.status,
            "value": number(self.value),
            "latest": number(self.latest),
            "reason": self.reason,
            "started": self.started,
            "ended": self.ended,
        }


def _params_text(params: dict[str, Any]) -> str:
    """Parameters for the log, floats to 6 digits (the run's params have them exact)."""
    return ", ".join(
        f"{k}={_fmt(v) if isinstance(v, float) else param_argument(v)}" for k, v in params.items()
    )


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def repair_journal(path: Path) -> None:
    """Cut a partly written last line off the journal (a writer killed mid-line), and
    remove the lock file a killed writer leaves (Optuna would wait 30 s on it)."""
    Path(f"{path}.lock").unlink(missing_ok=True)
    try:
        with path.open("rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        return


class _Syncer:
    """Syncs a file to disk on a thread of its own whenever it was written since the
    last sync (`written`), so that no writer waits for the disk; `close` syncs what is
    left and closes the descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.wanted = threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="journal-sync", daemon=True)
        self.thread.start()

    def written(self) -> None:
        self.wanted.set()

    def _run(self) -> None:
        while not self.closed:
            self.wanted.wait()
            self.wanted.clear()
            with contextlib.suppress(OSError):  # (a full disk: the write said so already)
                os.fsync(self.fd)

    def close(self) -> None:
        self.closed = True
        self.wanted.set()
        self.thread.join()
        os.close(self.fd)


def _journal(path: Path, syncer: _Syncer) -> BaseJournalBackend:
    """Optuna's journal file backend for this sweep's study, written by this process
    alone (its flock on `supervisor.lock` keeps any other writer out, so Optuna's lock
    file per append is not made): each append is one write to the file, through
    `syncer`'s descriptor (opened to append), so a kill -9 loses nothing written; the
    disk sync Optuna makes at every append (milliseconds each, which every ask and tell
    would wait for) is `syncer`'s, in the background."""
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    class Journal(JournalFileBackend):
        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            lines = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
            data = memoryview(lines.encode("utf-8"))
            while data:
                data = data[os.write(syncer.fd, data) :]
            syncer.written()

    return Journal(str(path), lock_obj=JournalFileOpenLock(str(path)))


def _grid_sampler(grid: dict[str, list[Any]], seed: int | None) -> optuna.samplers.BaseSampler:
    """Optuna's GridSampler, except at the grid's end: there it calls `study.stop()`,
    which only works inside `study.optimize` (this is ask-and-tell). The sweep ends by
    itself once it has asked `max_trials`, the grid's size at most."""
    import optuna

    class Grid(optuna.samplers.GridSampler):
        def after_trial(
            self,
            study: optuna.Study,
            trial: optuna.trial.FrozenTrial,
            state: optuna.trial.TrialState,
            values: Sequence[float] | None,
        ) -> None:
            pass

    return Grid(grid, seed=seed)


class _ToSweepLog(logging.Handler):
    """Optuna's warnings, as lines of the sweep's log."""

    def __init__(self, say: Any) -> None:
        super().__init__(logging.WARNING)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        self.say(f"optuna: {record.getMessage()}")


class SweepSupervisor:
    def __init__(self, project: Project, sweep_id: str) -> None:
        self.project = project
        self.sweep_id = sweep_id
        self.folder = sweep_dir(project, sweep_id)
        record = read_json(self.folder / RECORD)
        if record is None:
            raise RunyardError(f"Sweep {sweep_id} has no readable {RECORD}.")
        self.record = record
        self.sweep: SweepConfig = sweep_config(str(record["name"]), None, record["config"])
        self.specs = {
            str(target): RunSpec.from_options(options, str(record.get("experiment", "")))
            for target, options in record["specs"].items()
        }
        self.parallel: dict[str, int] = {str(k): int(v) for k, v in record["parallel"].items()}
        self.max_trials = int(record["settings"]["max_trials"])
        self.commit = str(record["snapshot_commit"])
        self.store = Store(project.store_path)
        previous = read_json(self.folder / STATE) or {}
        self.notes: list[str] = [str(n) for n in previous.get("notes") or []]
        self.status = "running"
        self.reason: str | None = None
        self.trials: dict[int, Trial] = {}
        self.failing: dict[str, int] = dict.fromkeys(self.parallel, 0)
        self.failing_reason: dict[str, str] = {}
        self.disabled: set[str] = set()
        self.cancel_requested = False
        self.missing_metric_noted = any("objective metric" in n for n in self.notes)
        self.dirty = True
        self.changes = 0  # the store's status-change position followed from
        self._metrics_next = 0.0
        # runs.start_run takes tens of milliseconds (the working copy, the supervisor):
        # trials start side by side, so one start does not hold up the others or the
        # noticing of ends
        self.starters = ThreadPoolExecutor(max(1, min(8, sum(self.parallel.values()))))
        self.starting: dict[Future[Run], Trial] = {}
        # run supervisors started ahead (`runs.start_ahead`), each the next trial's
        self.spares: list[runs.Ahead] = []
        self.readying: set[Future[runs.Ahead]] = set()
        self.exported: Path | None = None  # the snapshot's tree, exported once
        self.forks: runs.SupervisorForks | None = None  # where run supervisors come from
        self.journal: _Syncer | None = None  # the journal's descriptor, synced
        self._check_next = time.monotonic() + CHECK_SECONDS
        self.study: optuna.Study | None = None

    # ---- output ----------------------------------------------------------------------

    def say(self, line: str) -> None:
        append_log(self.project, self.sweep_id, line)

    def note(self, line: str) -> None:
        self.notes.append(line)
        self.say(f"note: {line}")
        self.dirty = True

    def save(self, ended: float | None = None) -> None:
        if not self.dirty and ended is None:
            return
        self.dirty = False
        trials = sorted(self.trials.values(), key=lambda t: t.number)
        with contextlib.suppress(OSError):  # a full disk: the journal still has it all
            write_json(
                self.folder / STATE,
                {
                    "status": self.status,
                    "reason": self.reason,
                    "supervisor_pid": os.getpid(),
                    "updated": time.time(),
                    "ended": ended,
                    "trials": [t.to_json() for t in trials],
                    "notes": self.notes,
                },
            )

    # ---- Optuna ------------------------------------------------------------------------

    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, Any] = {}
        for p in self.sweep.space:
            if p.kind in ("choice", "grid"):
                out[p.name] = CategoricalDistribution(list(p.values))
            elif p.kind == "int":
                out[p.name] = IntDistribution(int(p.low), int(p.high), step=p.step)
            else:
                out[p.name] = FloatDistribution(p.low, p.high, log=p.kind == "loguniform")
        return out

    def _sampler(self) -> optuna.samplers.BaseSampler:
        import optuna

        seed = self.sweep.seed
        if self.sweep.sampler == "grid":
            grid = {p.name: p.listed() or [] for p in self.sweep.space}
            return _grid_sampler(grid, seed)
        if self.sweep.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        # several trials at once: the running ones count as if they had done as badly as
        # the worst so far, so TPE does not propose the same point to each of them
        return optuna.samplers.TPESampler(seed=seed, constant_liar=sum(self.parallel.values()) > 1)

    def _pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        stop = self.sweep.early_stopping
        if stop.rule == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=stop.startup_trials, n_warmup_steps=stop.warmup_steps
            )
        if stop.rule == "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=stop.min_steps,
                max_resource=stop.max_steps if stop.max_steps is not None else "auto",
                reduction_factor=stop.reduction_factor,
            )
        return optuna.pruners.NopPruner()

    def open_study(self) -> optuna.Study:
        import optuna
        from optuna.storages import JournalStorage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        optuna.logging.disable_default_handler()
        logging.getLogger("optuna").addHandler(_ToSweepLog(self.say))
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        path = self.folder / JOURNAL
        repair_journal(path)
        storage = JournalStorage(_journal(path, self.open_journal(path)))
        return optuna.create_study(
            study_name=self.sweep_id,
            storage=storage,
            sampler=self._sampler(),
            pruner=self._pruner(),
            direction=self.sweep.direction,
            load_if_exists=True,
        )

    def open_journal(self, path: Path) -> _Syncer:
        path.touch()
        self.journal = _Syncer(os.open(path, os.O_WRONLY | os.O_APPEND))
        return self.journal

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self.changes = self.store.last_status_change()
        self.study = self.open_study()
        self.exported = self.export()
        self.forks = runs.SupervisorForks(self.project, self.folder / "supervisor.log")
        self.recover()
        self.save()
        while True:
            if self.cancel_requested or (self.folder / CANCEL).exists():
                self.cancel()
                return
            busy = self.follow()
            if time.monotonic() >= self._check_next:
                self._check_next = time.monotonic() + CHECK_SECONDS
                busy = self.check_live() or busy
            if self.sweep.early_stopping.rule != "none" and time.monotonic() >= self._metrics_next:
                self._metrics_next = time.monotonic() + METRICS_SECONDS
                self.read_metrics()
            busy = self.collect_starts() or busy
            busy = self.start_trials() or busy
            if not any(t.live for t in self.trials.values()) and not self.can_start():
                self.finish()
                return
            self.ready_spares()
            self.save()
            if not busy:
                self.pause()

    def pause(self) -> None:
        """Until the next look at the runs (`POLL_SECONDS`), or a trial's start has
        returned (so that it is taken up at once)."""
        if self.starting:
            wait(list(self.starting), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        else:
            time.sleep(POLL_SECONDS)

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.cancel_requested = True

    def handle(self, trial: Trial) -> optuna.trial.Trial:
        """The study's trial object for `trial` (to report, prune, set attributes)."""
        import optuna

        assert self.study is not None
        return optuna.trial.Trial(self.study, trial.trial_id)

    def asked(self) -> int:
        assert self.study is not None
        return len(self.study.get_trials(deepcopy=False))

    def usable_targets(self) -> list[str]:
        return [t for t in self.parallel if t not in self.disabled]

    def can_start(self) -> bool:
        return self.asked() < self.max_trials and bool(self.usable_targets())

    def free_target(self) -> str | None:
        """The usable target with the largest share of its slots free, or None."""
        live: dict[str, int] = dict.fromkeys(self.parallel, 0)
        for t in self.trials.values():
            if t.live and t.target in live:
                live[t.target] += 1
        best: str | None = None
        best_share = 0.0
        for target in self.usable_targets():
            free = self.parallel[target] - live[target]
            share = free / self.parallel[target]
            if free > 0 and share > best_share:
                best, best_share = target, share
        return best

    def start_trials(self) -> bool:
        assert self.study is not None
        started = False
        while self.asked() < self.max_trials and not self.cancel_requested:
            target = self.free_target()
            if target is None:
                break
            asked = self.study.ask(self._distributions())
            # (the storage's id of the trial: Optuna has no public name for it, and a
            # trial of an earlier supervisor is reached by it, see `handle`)
            trial = Trial(asked.number, asked._trial_id, dict(asked.params))
            self.trials[trial.number] = trial
            self.start_run(trial, target)
            started = True
        return started

    def start_run(self, trial: Trial, target: str) -> None:
        """Start `trial`'s run on `target`, in the pool of starters (`started` takes
        it from there)."""
        spec = self.specs[target]
        spec = replace(spec, args=[*spec.args, *self.sweep.arguments(trial.params)])
        tags = {SWEEP_TAG: self.sweep_id, TRIAL_TAG: str(trial.number)}
        trial.target = target
        trial.started = time.time()
        trial.status = "starting"
        self.dirty = True
        ahead = self.spares.pop(0) if self.spares else None  # (the oldest: the readiest)
        self.starting[self.starters.submit(self._start, spec, tags, ahead)] = trial

    def _start(self, spec: RunSpec, tags: dict[str, str], ahead: runs.Ahead | None) -> Run:
        """(On a starter thread) a trial's run: `runs.start_run` with a spare supervisor,
        else one forked now, from the snapshot exported once."""
        if ahead is None:
            ahead = runs.start_ahead(self.project, forks=self.forks)
        return runs.start_run(
            self.project, spec, commit=self.commit, tags=tags, ahead=ahead, exported=self.exported
        )

    # ---- what every trial's start shares: the exported snapshot, spare supervisors -----

    def export(self) -> Path | None:
        """The snapshot's tree, exported once (`EXPORTED`): each trial's working copy is
        a copy of it. One a previous supervisor left is whole (`runs.export_working_copy`
        renames it into place). None when it cannot be exported: then each trial's start
        exports (and says what is wrong)."""
        dest = self.folder / EXPORTED
        if dest.is_dir():
            return dest
        try:
            runs.export_working_copy(self.project, self.commit, dest)
        except (RunyardError, OSError) as exc:
            detail = getattr(exc, "message", None) or str(exc)
            self.say(f"the snapshot was not exported once for all trials ({detail})")
            return None
        return dest

    def ready_spares(self) -> None:
        """Keep run supervisors started ahead (`runs.start_ahead`) for the trials still
        to start, as many as the slots (`SPARES` at most), so that a trial's start does
        not wait for its supervisor's interpreter. They are started while no trial is
        starting (those come first); those no trial will take are let go."""
        for future in [f for f in self.readying if f.done()]:
            self.readying.discard(future)
            with contextlib.suppress(Exception):  # (none: the trial starts its own)
                self.spares.append(future.result())
        wanted = 0
        if not self.cancel_requested and self.usable_targets():
            wanted = min(SPARES, sum(self.parallel.values()), self.max_trials - self.asked())
        while len(self.spares) > max(0, wanted):
            self.spares.pop().abandon()
        if self.starting:
            return
        for _ in range(wanted - len(self.spares) - len(self.readying)):
            self.readying.add(
                self.starters.submit(runs.start_ahead, self.project, True, self.forks)
            )

    def drop_spares(self) -> None:
        """Let every spare supervisor go (each ends, and removes its run's folder)."""
        for future in self.readying:
            with contextlib.suppress(Exception):
                self.spares.append(future.result())
        self.readying.clear()
        while self.spares:
            self.spares.pop().abandon()

    def done_with_files(self) -> None:
        """The sweep has ended: the exported tree goes, the journal is synced, the
        fork server of supervisors ends."""
        self.drop_spares()
        if self.forks is not None:
            self.forks.close()
        shutil.rmtree(self.folder / EXPORTED, ignore_errors=True)
        if self.journal is not None:
            self.journal.close()

    def collect_starts(self, wait: bool = False) -> bool:
        """Take up the runs whose start has returned (all of them, with `wait`). True
        when any did."""
        done = list(self.starting) if wait else [f for f in self.starting if f.done()]
        for future in done:
            trial = self.starting.pop(future)
            try:
                run = future.result()
            except Exception as exc:
                detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                self.trial_failed(trial, f"its run could not start: {detail}", ran=False)
                continue
            self.started(trial, run)
        return bool(done)

    def started(self, trial: Trial, run: Run) -> None:
        """`trial`'s run has started: recorded in the study and the run, and followed
        (a run that already ended is taken as ended)."""
        assert self.study is not None
        target = trial.target or ""
        self.dirty = True
        trial.run_id = run.id
        trial.status = "running"
        handle = self.handle(trial)
        handle.set_user_attr("run_id", run.id)
        handle.set_user_attr("target", target)
        with contextlib.suppress(RunyardError):  # the tags find the trial all the same
            self.store.set_params(run.id, {k: param_argument(v) for k, v in trial.params.items()})
        self.say(
            f"trial {trial.number} started: run {run.id} on {target} ({_params_text(trial.params)})"
        )
        now = self.store.get_run(run.id)  # its end may have come before it was followed
        if not now.live:
            self.ended(trial, now)

    # ---- following ---------------------------------------------------------------------

    def follow(self) -> bool:
        """Handle the runs that ended since the last look. True when any did."""
        by_run = {t.run_id: t for t in self.trials.values() if t.live and t.run_id}
        ended = False
        while True:
            changes = self.store.status_changes(self.changes)
            if not changes:
                break
            self.changes = changes[-1][0]
            for _pos, run_id, status in changes:
                trial = by_run.get(run_id)
                if trial is not None and status in ("completed", "failed", "canceled", "lost"):
                    self.ended(trial, self.store.get_run(run_id))
                    by_run.pop(run_id, None)
                    ended = True
            if len(changes) < 1000:
                break
        return ended

    def check_live(self) -> bool:
        """Reconcile the project's runs (a run whose supervisor died is taken over or
        marked lost, as `runs.wait` does), then end the trials whose runs have ended
        without this process seeing the change. True when any trial ended."""
        with contextlib.suppress(RunyardError):
            runs.reconcile(self.project, self.store)
        by_run = {t.run_id: t for t in self.trials.values() if t.status == "running" and t.run_id}
        ended = False
        for run in self.store.list_runs(ids=list(by_run)) if by_run else []:
            if not run.live:
                self.ended(by_run[run.id], run)
                ended = True
        return ended

    def read_metrics(self) -> None:
        """Report the live trials' new objective points to the study; prune."""
        for trial in list(self.trials.values()):
            if trial.status == "running" and trial.run_id is not None and not trial.pruned:
                self.read_points(trial)

    def read_points(self, trial: Trial, prune: bool = True) -> None:
        """Report `trial`'s new objective points to the study; with `prune`, ask the
        pruner at each (and prune)."""
        assert self.study is not None and trial.run_id is not None
        cursor, steps, _times, values = self.store.metric_columns(
            trial.run_id, self.sweep.metric, after=trial.cursor
        )
        trial.cursor = cursor
        if not steps:
            return
        self.dirty = True
        handle = self.handle(trial)
        for step, value in zip(steps, values, strict=True):
            trial.latest = value
            if step in trial.reported or not math.isfinite(value) or step < 0:
                continue
            trial.reported.add(step)
            handle.report(value, step)
            # the pruner looks at the trial's latest step: asked at each one, in
            # order, it decides as if it had seen the points live, however late
            # they were read
            if prune and handle.should_prune():
                self.prune(trial, step, value)
                break

    def prune(self, trial: Trial, step: int, value: float) -> None:
        assert trial.run_id is not None
        trial.pruned = (step, value)
        self.store.set_tags(trial.run_id, {PRUNED_TAG: "true"})
        self._cancel_pruned(trial.run_id, step, value)
        self.say(
            f"trial {trial.number} pruned at step {step}: {self.sweep.metric}={_fmt(value)} "
            f"({self.sweep.early_stopping.words()}); canceling run {trial.run_id}"
        )

    def _pruned_reason(self, step: int, value: float) -> str:
        return (
            f"pruned by the sweep ({self.sweep.early_stopping.words()}): {self.sweep.metric} "
            f"was {_fmt(value)} at step {step}"
        )

    def _cancel_pruned(self, run_id: str, step: int, value: float) -> None:
        """Cancel a pruned trial's run saying why: the reason goes in its cancel file
        (whole, before `runs.cancel` creates it), where its supervisor reads the
        reason of the `canceled` it records."""
        cancel = self.project.run_dir(run_id) / "cancel"
        with contextlib.suppress(OSError):  # (no reason said: still canceled)
            tmp = cancel.with_name("cancel.tmp")
            tmp.write_text(self._pruned_reason(step, value) + "\n", encoding="utf-8")
            tmp.replace(cancel)
        runs.cancel(self.project, self.store, run_id)

    def ended(self, trial: Trial, run: Run) -> None:
        """Tell the study how `trial` ended, from its run."""
        import optuna

        assert self.study is not None
        trial.ended = run.ended or time.time()
        self.dirty = True
        metric = self.sweep.metric
        if self.sweep.early_stopping.rule != "none" and trial.pruned is None:
            # the points not read while it ran (a short trial's, all of them): the
            # pruner judges the next trials against this one's steps too
            with contextlib.suppress(RunyardError):
                self.read_points(trial, prune=False)
        trial.latest = run.metrics.get(metric, trial.latest)
        if trial.pruned is not None:
            step, value = trial.pruned
            why = self._pruned_reason(step, value)
            if run.status == "canceled":
                self.store.update_run(run.id, reason=why)
            trial.status, trial.reason = "pruned", why
            self.study.tell(trial.number, state=optuna.trial.TrialState.PRUNED)
            self.failing[trial.target or ""] = 0
            self.say(f"trial {trial.number} pruned: run {run.id} {run.status}")
            return
        if trial.canceling or (run.status == "canceled" and self.cancel_requested):
            trial.status = "canceled"
            self._fail(trial, "canceled with the sweep")
            self.say(f"trial {trial.number} canceled: run {run.id}")
            return
        if run.status != "completed":
            ran = run.started is not None
            why = f"run {run.id} {run.status}" + (f": {run.reason}" if run.reason else "")
            self.trial_failed(trial, why, ran=ran)
            return
        self.failing[trial.target or ""] = 0
        final = run.metrics.get(metric)
        if final is None:
            self.objective_missing(trial, run)
            return
        if math.isnan(final):
            self.trial_failed(trial, f"run {run.id} ended with {metric} NaN", ran=True)
            return
        trial.status, trial.value = "completed", final
        self.study.tell(trial.number, final)
        self.say(f"trial {trial.number} completed: {metric}={_fmt(final)} (run {run.id})")

    def _fail(self, trial: Trial, why: str) -> None:
        import optuna

        assert self.study is not None
        trial.reason = why
        trial.ended = trial.ended or time.time()
        self.dirty = True
        self.handle(trial).set_user_attr("reason", why)
        self.study.tell(trial.number, state=optuna.trial.TrialState.FAIL)

    def trial_failed(self, trial: Trial, why: str, ran: bool) -> None:
        """The trial failed: told to the study, said in the log. A trial that failed
        before its run ran counts against its target (`FAILING_LIMIT`)."""
        trial.status = "failed"
        self._fail(trial, why)
        self.say(f"trial {trial.number} failed: {why}")
        target = trial.target or ""
        if ran:
            self.failing[target] = 0
            return
        self.failing[target] = self.failing.get(target, 0) + 1
        self.failing_reason[target] = why.rstrip(".")
        if self.failing[target] >= FAILING_LIMIT and target not in self.disabled:
            self.disabled.add(target)
            others = self.usable_targets()
            goes_on = f"the sweep goes on on {', '.join(others)}" if others else "no target is left"
            self.note(
                f"target {target}: {FAILING_LIMIT} trials in a row failed before they ran "
                f"(the last: {why.rstrip('.')}); it gets no more trials, {goes_on}"
            )

    def objective_missing(self, trial: Trial, run: Run) -> None:
        from runyard.core.config.schema import suggest

        metric = self.sweep.metric
        logged = self.store.metric_keys(run.id)
        self.trial_failed(trial, f"run {run.id} completed without logging {metric}", ran=True)
        if self.missing_metric_noted:
            return
        self.missing_metric_noted = True
        close = suggest(metric, logged)
        which = f"it logged {', '.join(logged)}" if logged else "it logged no metric at all"
        fix = f"; did you mean '{close}'?" if close else ""
        where = self.record.get("file") or "the sweep file"
        self.note(
            f"the objective metric '{metric}' was not logged by trial {trial.number}'s run "
            f"{run.id} ({which}){fix} Check objective.metric in {where}: trials that do "
            "not log it fail"
        )

    # ---- recovery, the end, cancel -----------------------------------------------------

    def _find_run(self, number: int) -> str | None:
        """The run of trial `number` by its tags (its id was not in the study yet when
        the last supervisor died)."""
        created = float(self.record.get("created", 0.0))
        experiments = {spec.experiment for spec in self.specs.values()}
        for experiment in experiments:
            for run in self.store.list_runs(experiment=experiment):
                if run.created < created - 1:
                    break
                tags = self.store.tags(run.id)
                if tags.get(SWEEP_TAG) == self.sweep_id and tags.get(TRIAL_TAG) == str(number):
                    return run.id
        return None

    def recover(self) -> None:
        """Take up the trials a previous supervisor left: see the module docstring."""
        import optuna

        assert self.study is not None
        state = optuna.trial.TrialState
        names = {
            state.COMPLETE: "completed",
            state.PRUNED: "pruned",
            state.FAIL: "failed",
        }
        previous = {
            int(t["number"]): t
            for t in (read_json(self.folder / STATE) or {}).get("trials") or []
            if isinstance(t, dict) and isinstance(t.get("number"), int)
        }
        resumed = False
        for frozen in self.study.get_trials(deepcopy=False):
            attrs = frozen.user_attrs
            trial = Trial(
                number=frozen.number,
                trial_id=frozen._trial_id,
                params=dict(frozen.params),
                target=attrs.get("target"),
                run_id=attrs.get("run_id"),
                value=frozen.value if frozen.state == state.COMPLETE else None,
                reason=attrs.get("reason"),
                started=frozen.datetime_start.timestamp() if frozen.datetime_start else None,
                ended=frozen.datetime_complete.timestamp() if frozen.datetime_complete else None,
            )
            trial.reported = set(frozen.intermediate_values)
            if frozen.intermediate_values:
                trial.latest = frozen.intermediate_values[max(frozen.intermediate_values)]
            self.trials[trial.number] = trial
            if frozen.state != state.RUNNING:
                trial.status = names.get(frozen.state, "failed")
                if previous.get(trial.number, {}).get("status") == "canceled":
                    trial.status = "canceled"
                continue
            resumed = True
            if trial.run_id is None:
                trial.run_id = self._find_run(trial.number)
                if trial.run_id is not None:
                    self.handle(trial).set_user_attr("run_id", trial.run_id)
            if trial.target is None or trial.target not in self.specs:
                trial.target = next(iter(self.specs))
            if trial.run_id is None:
                self.say(
                    f"trial {trial.number} had no run yet: starting it "
                    f"({_params_text(trial.params)})"
                )
                self.start_run(trial, trial.target)
                continue
            run = self.store.get_run(trial.run_id)
            if run.status == "queued" and not runs.supervisor_alive(self.project, run.id):
                runs.reconcile(self.project, self.store)  # it will never start: lost
                run = self.store.get_run(run.id)
            if run.status == "lost" and run.supervisor_pid is None:
                self.say(
                    f"trial {trial.number}: its run {run.id} never started (the sweep's "
                    "supervisor stopped while starting it); starting the trial again"
                )
                self.start_run(trial, trial.target)
                continue
            trial.status = "running"
            if previous.get(trial.number, {}).get("status") == "pruned" or (
                self.store.tags(run.id).get(PRUNED_TAG) == "true"
            ):
                last = max(trial.reported) if trial.reported else 0
                latest = trial.latest if trial.latest is not None else math.nan
                trial.pruned = (last, latest)
                if run.live:
                    self._cancel_pruned(run.id, last, latest)
            if run.live:
                self.say(f"trial {trial.number}: following run {run.id} again")
            else:
                self.ended(trial, run)
        if resumed or self.trials:
            done = sum(1 for t in self.trials.values() if not t.live)
            live = sum(1 for t in self.trials.values() if t.live)
            self.say(
                f"supervisor {os.getpid()} took the sweep up: {done} trial{'s' * (done != 1)} "
                f"done, {live} followed, {max(0, self.max_trials - self.asked())} to start"
            )

    def finish(self) -> None:
        self.drop_spares()
        self.starters.shutdown()
        trials = list(self.trials.values())
        completed = [t for t in trials if t.status == "completed" and t.value is not None]
        counts: dict[str, int] = {}
        for t in trials:
            counts[t.status] = counts.get(t.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        if completed:
            sign = -1.0 if self.sweep.direction == "maximize" else 1.0
            best = min(completed, key=lambda t: (sign * (t.value or 0.0), t.number))
            self.status = "completed"
            self.reason = None
            self.say(
                f"sweep completed: {len(trials)} trials ({summary}); best: trial {best.number}, "
                f"{self.sweep.metric}={_fmt(best.value or 0.0)} (run {best.run_id}; "
                f"{_params_text(best.params)})"
            )
        else:
            self.status = "failed"
            if not self.usable_targets():
                last = "; ".join(f"{t}: {r}" for t, r in self.failing_reason.items())
                self.reason = f"every target failed its trials before they ran ({last})"
            else:
                self.reason = "no trial completed" if trials else "no trial was started"
            self.say(f"sweep failed: {self.reason} ({len(trials)} trials: {summary or 'none'})")
        self.dirty = True
        self.save(ended=time.time())
        self.done_with_files()

    def cancel(self) -> None:
        """Cancel every live trial's run, follow them to their end, then end canceled."""
        self.cancel_requested = True
        self.collect_starts(wait=True)
        self.drop_spares()
        self.starters.shutdown()
        live = [t for t in self.trials.values() if t.live]
        self.say(f"canceling the sweep: {len(live)} live trial{'s' * (len(live) != 1)}")
        for trial in live:
            trial.canceling = True
            if trial.run_id is None:
                trial.status = "canceled"
                self._fail(trial, "canceled with the sweep before its run started")
            else:
                with contextlib.suppress(RunyardError):
                    runs.cancel(self.project, self.store, trial.run_id)
        self.status, self.reason = "running", "canceling"
        self.dirty = True
        self.save()
        deadline = (
            time.monotonic()
            + CANCEL_WAIT_SECONDS
            + max((s.cancel_grace_seconds for s in self.specs.values()), default=10.0)
        )
        while any(t.live for t in self.trials.values()) and time.monotonic() < deadline:
            if not self.follow():
                time.sleep(POLL_SECONDS * 5)
            self.save()
        left = [t for t in self.trials.values() if t.live]
        for trial in left:  # its run did not end in time: the run's own status tells the rest
            trial.status = "canceled"
            self._fail(trial, f"canceled with the sweep (run {trial.run_id} still ending)")
        self.status, self.reason = "canceled", "canceled by the user"
        self.say("sweep canceled")
        self.dirty = True
        self.save(ended=time.time())
        self.done_with_files()


def main(argv: list[str]) -> int:
    root, sweep_id, lock_fd = Path(argv[0]), argv[1], int(argv[2])
    project = Project(root)
    supervisor: SweepSupervisor | None = None
    try:
        supervisor = SweepSupervisor(project, sweep_id)
        supervisor.run()
        return 0
    except Exception as exc:
        detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        sys.stderr.write(traceback.format_exc())
        append_log(project, sweep_id, f"sweep failed: {detail} (see supervisor.log)")
        if supervisor is not None:
            supervisor.status, supervisor.reason = "failed", detail
            supervisor.dirty = True
            supervisor.save(ended=time.time())
        return 1
    finally:
        with contextlib.suppress(OSError):
            os.close(lock_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
