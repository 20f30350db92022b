"""Starting, resuming and canceling sweeps: what a face calls (the CLI today, the
language server next). Nothing here imports Optuna; the sweep supervisor does.

`start_sweep` checks the sweep file with everything it names (`config.load_sweep`),
resolves one run spec per target of `parallel` (as `runyard submit --job` would), takes
one snapshot of the project for every trial (`refs/runyard/runs/sweep-<id>`: the trials
run the same code, whatever is edited meanwhile, and starting a trial costs no
snapshot), writes the sweep's record and starts its supervisor, detached in a session
of its own, holding the sweep's lock (taken here first, then handed over, as
`runs.start_run` does for a run). A problem found before the supervisor starts leaves
nothing behind: no folder, no runs.

`resume_sweep` starts a new supervisor for a sweep whose supervisor is gone (killed,
the machine restarted) or that was canceled or failed; it takes the lock first, so two
resumes cannot both start one. `cancel_sweep` asks the supervisor to stop (the `cancel`
file); when no supervisor is running, it cancels the live trials' runs itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import time

from runyard.core.errors import RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.store import Store
from runyard.runner import runs
from runyard.runner.processes import spawn_detached
from runyard.runner.sweeps.state import (
    CANCEL,
    FINAL,
    LOCK,
    RECORD,
    STATE,
    append_log,
    get_sweep,
    read_json,
    state_error,
    sweep_dir,
    write_json,
)
from runyard.targets.spec import RunSpec

SNAPSHOT_PREFIX = "sweep-"


def _spawn(project: Project, sweep_id: str, lock_fd: int) -> int:
    return spawn_detached(
        "runyard.runner.sweeps.supervisor",
        [str(project.root), sweep_id, str(lock_fd)],
        sweep_dir(project, sweep_id) / "supervisor.log",
        (lock_fd,),
        project.root,
    )


def _lock(project: Project, sweep_id: str) -> int | None:
    """The sweep's lock, taken (a descriptor), or None when a supervisor holds it."""
    fd = os.open(sweep_dir(project, sweep_id) / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def start_sweep(project: Project, name: str, progress: runs.Progress = runs._quiet) -> str:
    """Check and start the sweep `.runyard/sweeps/<name>.yml`; returns its id. The
    sweep goes on without the caller."""
    import importlib.util

    from runyard.core import config, snapshot

    sweep = config.load_sweep(project, name)
    if importlib.util.find_spec("optuna") is None:  # the sweep's supervisor needs it
        raise RunyardError(
            "Sweeps need Optuna, which is not installed in Runyard's environment.",
            hint=f"install it: {sys.executable} -m pip install optuna (a dependency of "
            "Runyard's; bash scripts/setup.sh installs it)",
        )
    specs: dict[str, RunSpec] = {}
    parallel: dict[str, int] = {}
    for target, count in sweep.parallel:
        request = runs.SubmitRequest(
            script=sweep.script,
            args=list(sweep.args),
            target=target,
            job=sweep.job,
            cwd=project.root,
        )
        spec = runs.resolve_request(project, request)
        specs[spec.target] = spec
        parallel[spec.target] = parallel.get(spec.target, 0) + count
    warning = runs._untracked_secrets_warning(project)
    if warning:
        progress(warning)
    sweep_id = runs.new_run_id()
    folder = sweep_dir(project, sweep_id)
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise state_error(project, exc) from exc
    lock_fd = -1
    try:
        taken = _lock(project, sweep_id)
        assert taken is not None  # a new folder: nobody else has its lock
        lock_fd = taken
        progress("snapshot")
        snap = snapshot.take_snapshot(project, SNAPSHOT_PREFIX + sweep_id)
        experiment = next(iter(specs.values())).experiment
        record = {
            "id": sweep_id,
            "name": name,
            "file": project.relpath(sweep.path) if sweep.path else None,
            "created": time.time(),
            "config": sweep.raw,
            "settings": {
                "sampler": sweep.sampler,
                "metric": sweep.metric,
                "direction": sweep.direction,
                "max_trials": sweep.max_trials,
                "early_stopping": sweep.early_stopping.rule,
            },
            "parallel": parallel,
            "experiment": experiment,
            "specs": {target: spec.to_options() for target, spec in specs.items()},
            "snapshot_commit": snap.commit,
        }
        write_json(folder / RECORD, record)
        write_json(folder / STATE, {"status": "starting", "trials": [], "notes": []})
        spread = ", ".join(f"{n} on {t}" for t, n in parallel.items())
        append_log(
            project,
            sweep_id,
            f"sweep {sweep_id} ({name}) started: {sweep.max_trials} trials, "
            f"{sweep.sampler} sampler, {sweep.direction} {sweep.metric}, {spread} at a time, "
            f"early stopping {sweep.early_stopping.words()}, snapshot {snap.commit[:10]}",
        )
        progress("start")
        _spawn(project, sweep_id, lock_fd)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, OSError):
            raise state_error(project, exc) from exc
        raise
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)  # the supervisor holds the lock now
    return sweep_id


def resume_sweep(project: Project, store: Store, text: str) -> str:
    """Start a new supervisor for the sweep `text` names; returns its id."""
    view = get_sweep(project, store, text)
    if view.status == "completed":
        raise UsageError(
            f"Sweep {view.id} has completed: it has no trials left to run.",
            hint=f"start it again: runyard sweep start {view.name}",
        )
    lock_fd = _lock(project, view.id)
    if lock_fd is None:
        raise UsageError(
            f"Sweep {view.id} is running: its supervisor is alive.",
            hint=f"follow it with `runyard sweep show {view.id}`",
        )
    try:
        (sweep_dir(project, view.id) / CANCEL).unlink(missing_ok=True)
        append_log(project, view.id, f"resuming the sweep ({view.status} until now)")
        _spawn(project, view.id, lock_fd)
    except OSError as exc:
        raise state_error(project, exc) from exc
    finally:
        os.close(lock_fd)
    return view.id


def cancel_sweep(project: Project, store: Store, text: str) -> bool:
    """Ask the sweep `text` names to stop: its supervisor cancels the live trials and
    ends the sweep `canceled`. With no supervisor running, the live trials' runs are
    canceled here and the sweep is marked canceled. False when it had ended already."""
    view = get_sweep(project, store, text)
    if view.status in FINAL:
        return False
    folder = sweep_dir(project, view.id)
    try:
        (folder / CANCEL).touch()
    except OSError as exc:
        raise state_error(project, exc) from exc
    lock_fd = _lock(project, view.id)
    if lock_fd is None:
        return True  # the supervisor sees the file within a moment
    try:
        for trial in view.trials:
            if trial.run_id and trial.status in ("queued", "preparing", "running"):
                with contextlib.suppress(RunyardError):
                    runs.cancel(project, store, trial.run_id)
        state = read_json(folder / STATE) or {}
        state.update(status="canceled", reason="canceled by the user", ended=time.time())
        write_json(folder / STATE, state)
        append_log(project, view.id, "sweep canceled (no supervisor was running)")
    except OSError as exc:
        raise state_error(project, exc) from exc
    finally:
        os.close(lock_fd)
    return True


def wait_sweep(project: Project, store: Store, sweep_id: str, timeout: float | None = None) -> str:
    """Block until the sweep has ended (or `timeout` seconds pass); its status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = get_sweep(project, store, sweep_id).status
        if status in (*FINAL, "interrupted"):
            return status
        if deadline is not None and time.monotonic() > deadline:
            return status
        time.sleep(0.2)
