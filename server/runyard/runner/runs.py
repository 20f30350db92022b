"""Submitting, finding, canceling and reconciling runs. Shared by the CLI and the
language server; knows nothing of either.

Every live run has a supervisor holding `<run dir>/supervisor.lock`. Whoever finds the
lock free while the run is still `running` (`reconcile`, which the CLI and the language
server call as they look at runs) starts a new supervisor that takes the run over, for
every target type that can find its run again: a container by label, a process on an
SSH host, a local process group by the pid and start time it recorded. A canceled run
is taken over too, so that the cancel reaches its processes. Only runs that cannot be
found again are marked `lost`, and so are runs whose supervisors keep ending without an
outcome: a run is taken over at most `MAX_TAKE_OVERS` times (counted in
`<run dir>/takeovers`; when that count cannot be written, on a full disk, none is
started), so a fault every supervisor meets ends in a clear status, never in a loop of
supervisors.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.store import Run, Store
from runyard.runner.processes import lock_held, spawn_detached
from runyard.targets.spec import DEFAULT_OUTPUTS, DEFAULT_TENSORBOARD_DIR, RunSpec

Progress = Callable[[str], None]
"""Told how a submission goes: the stages `"snapshot"` and `"start"`, and warnings for
the user, which start with `WARNING` (the CLI prints them, the language server shows
them in the submission's progress)."""

WARNING = "warning: "


class SubmitCanceled(RunyardError):
    """Raised by a `Progress` callback to stop a submission before the run starts; the
    run is recorded as canceled."""

    def __init__(self) -> None:
        super().__init__("The submission was canceled before the run started.")


def _quiet(_msg: str) -> None:
    pass


def new_run_id() -> str:
    return time.strftime("%y%m%d-%H%M%S") + "-" + os.urandom(3).hex()


def open_store(project: Project) -> Store:
    return Store(project.store_path)


@dataclass
class SubmitRequest:
    """What the user asked to run. Paths are relative to `cwd`."""

    script: str | None = None
    args: list[str] = field(default_factory=list)
    target: str | None = None
    job: str | None = None
    experiment: str | None = None
    module: str | None = None
    cwd: Path | None = None


def _script_in_project(project: Project, script: str, cwd: Path) -> str:
    root = project.root.resolve()
    path = (cwd / script).resolve()
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise UsageError(
            f"The script {script} is outside the project {root}.",
            hint="runs execute a snapshot of the project folder; move the script into it",
        ) from None
    if rel.parts and rel.parts[0] == ".runyard":
        raise UsageError(f"The script {script} is inside .runyard/, which is not snapshotted.")
    if not path.exists():
        raise NotFoundError(f"The script {script} does not exist.", hint="check the path")
    if not path.is_file():
        raise UsageError(f"{script} is not a file.", hint="give the path of a Python script")
    return rel.as_posix()


def resolve_request(project: Project, req: SubmitRequest) -> RunSpec:
    """Turn a request into the run's spec, validating the job and target files."""
    from runyard.core import config

    cwd = req.cwd or Path.cwd()
    job = config.load_job(project, req.job) if req.job else None
    script: str | None = None
    module: str | None = None
    args = list(job.args) if job else []
    if job:  # the job names the script or module; a script given too is its first argument
        if job.script:
            script = _script_in_project(project, job.script, project.root)
        module = job.module
        args += [req.script] if req.script else []
        args += req.args
    elif req.module:
        module = req.module
        args += req.args
    elif req.script:
        script = _script_in_project(project, req.script, cwd)
        args += req.args
    else:
        raise UsageError("Nothing to run: give a script or --job.", hint="runyard submit train.py")
    for arg in args:
        if "\0" in arg:
            raise UsageError("An argument contains a NUL byte, which no program can receive.")
    target_name = req.target or (job.target if job else None) or config.default_target_name(project)
    target = config.load_target(project, target_name)
    experiment = req.experiment or (job.experiment if job else None)
    if not experiment:
        experiment = Path(script).stem if script else (module or "default").split(".")[-1]
    spec = RunSpec(
        script=script,
        module=module,
        args=args,
        env=dict(job.env) if job else {},
        requirements=job.requirements if job else None,
        outputs=job.outputs if job else DEFAULT_OUTPUTS,
        tensorboard_dir=job.tensorboard_dir if job else DEFAULT_TENSORBOARD_DIR,
        job=job.name if job else None,
        experiment=experiment,
    )
    return on_target(spec, target)


def on_target(spec: RunSpec, target: Any) -> RunSpec:
    """`spec` with every field that comes from the target taken from `target` (a loaded
    `config` target): how a request is resolved, and how a rerun moves to another target."""
    from dataclasses import replace

    return replace(
        spec,
        target=target.name,
        target_type=target.type,
        python=target.python,
        target_env=dict(target.env),
        system_site_packages=target.system_site_packages,
        index_url=target.index_url,
        cancel_grace_seconds=target.cancel_grace_seconds,
        target_options=dict(target.raw),
    )


def _write_tracking_shim(run_dir: Path) -> None:
    """Make `import runyard` work in the run even if its environment lacks Runyard: a
    copy of the standard-library-only tracking client, put first on PYTHONPATH. Beside
    it, the run's `sitecustomize` (`tracking/site_hook.py`: MLflow's logging recorded
    through `tracking/mlflow_endpoint.py`) and Azure ML Workbench's `azureml.logging`
    (`tracking/azureml`), so scripts written for either record into the run unchanged."""
    import runyard

    src = Path(runyard.__file__).parent
    lib = run_dir / "lib"
    dest = lib / "runyard"
    (dest).mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "__init__.py", dest / "__init__.py")
    shutil.copytree(
        src / "tracking",
        dest / "tracking",
        ignore=shutil.ignore_patterns("__pycache__", "azureml", "site_hook.py"),
    )
    shutil.copy2(src / "tracking" / "site_hook.py", lib / "sitecustomize.py")
    shutil.copytree(
        src / "tracking" / "azureml", lib / "azureml", ignore=shutil.ignore_patterns("__pycache__")
    )


def _untracked_secrets_warning(project: Project) -> str | None:
    """A warning naming the files that look like secrets (.env, id_rsa, *.pem, *.key,
    credentials) the snapshot is about to take although git neither tracks nor ignores
    them; None when there are none."""
    from runyard.core import snapshot
    from runyard.core.text import printable

    try:
        found = snapshot.untracked_secret_files(project)
    except (RunyardError, OSError):
        return None  # the snapshot itself reports what is wrong with the repository
    if not found:
        return None
    shown = ", ".join(printable(p) for p in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    one = len(found) == 1
    return (
        f"{WARNING}{shown}{more} {'looks like a secret' if one else 'look like secrets'}, "
        f"and git neither tracks nor ignores {'it' if one else 'them'}: "
        f"{'it goes' if one else 'they go'} into this run's snapshot (kept in the project's "
        "git objects) and to the target.\n"
        f"  to leave {'it' if one else 'them'} out, add {'it' if one else 'them'} to "
        f"{snapshot.RUNYARDIGNORE} (gitignore syntax), e.g. `{printable(found[0])}`"
    )


def submit(project: Project, req: SubmitRequest, progress: Progress = _quiet) -> Run:
    """Snapshot the project, record a queued run and start its supervisor.

    Returns once the supervisor runs; the run goes on without the caller. Files that look
    like secrets and that git neither tracks nor ignores are named first, in a warning
    through `progress`."""
    warning = _untracked_secrets_warning(project)
    if warning:
        progress(warning)
    return start_run(project, resolve_request(project, req), progress)


# A rerun's environment is built from its original's lock: the pins, written as a
# requirements file beside the exported code (never into the snapshot).
RERUN_LOCK_FILE = ".runyard-rerun-lock.txt"


def rerun(
    project: Project,
    store: Store,
    run_id: str,
    target: str | None = None,
    progress: Progress = _quiet,
) -> Run:
    """Run run `run_id` again: the code of its snapshot (not the working folder), its
    command line, job settings and environment variables, and, where Runyard built its
    environment, exactly the packages its lock recorded. On its own target unless
    `target` names another. The new run is tagged `rerun_of`."""
    from dataclasses import replace

    from runyard.core import config

    original = get_run(project, store, run_id)
    if not original.snapshot_commit:
        raise UsageError(
            f"Run {original.id} has no snapshot (it failed before one was taken), so there "
            "is no code to run again.",
            hint="submit the script again instead",
        )
    spec = RunSpec.from_options(original.options, original.experiment)
    if target is not None and target != spec.target:
        spec = on_target(spec, config.load_target(project, target))
    files: dict[str, bytes] = {}
    lock = store.run_lock(original.id)
    if lock is not None and lock.installer is not None:
        files[RERUN_LOCK_FILE] = "".join(f"{pin}\n" for pin in lock.requirements()).encode()
        spec = replace(spec, requirements=RERUN_LOCK_FILE)
        progress(
            f"environment: the {len(lock.packages)} package{'s' * (len(lock.packages) != 1)} "
            f"of run {original.id}'s lock "
            f"(python {lock.python})"
        )
    return start_run(
        project,
        spec,
        progress,
        commit=original.snapshot_commit,
        files=files,
        tags={"rerun_of": original.id},
    )


def start_run(
    project: Project,
    spec: RunSpec,
    progress: Progress = _quiet,
    commit: str | None = None,
    files: dict[str, bytes] | None = None,
    tags: dict[str, str] | None = None,
) -> Run:
    """Record a queued run of `spec` (with `tags`) and start its supervisor: the code is
    a new snapshot of the project folder, or the snapshot `commit` of an earlier run;
    `files` are written into the run's working copy besides (relative path -> content)."""
    from runyard.core import snapshot

    run_id = new_run_id()
    run_dir = project.run_dir(run_id)
    try:
        run_dir.mkdir(parents=True)
    except OSError as exc:
        raise _state_error(project, exc) from exc
    lock_fd = os.open(run_dir / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        run = Run(
            id=run_id,
            experiment=spec.experiment,
            status="queued",
            target=spec.target,
            target_type=spec.target_type,
            job=spec.job,
            script=spec.script or spec.module,
            command=spec.argv("python"),
            options=spec.to_options(),
        )
        store = open_store(project)
        go_read, go_write = os.pipe()
        try:
            store.create_run(run)
            if tags:
                store.set_tags(run_id, tags)
            try:
                # The supervisor starts now and readies itself while the snapshot is
                # taken; it begins the run only when told to through the pipe.
                _spawn_supervisor(project, run_id, lock_fd, go_read)
                os.close(go_read)
                go_read = -1
                progress("snapshot")
                if commit is None:
                    snap = snapshot.take_snapshot(project, run_id)
                else:
                    snap = snapshot.reuse_snapshot(project, run_id, commit)
                store.update_run(run_id, snapshot_ref=snap.ref, snapshot_commit=snap.commit)
                run.snapshot_ref, run.snapshot_commit = snap.ref, snap.commit
                snapshot.export_snapshot(project, snap, run_dir / "work")
                for rel, data in (files or {}).items():
                    (run_dir / "work" / rel).write_bytes(data)
                _write_tracking_shim(run_dir)
                progress("start")
                os.write(go_write, b"go")
            except BaseException as exc:
                reason = (
                    str(exc) if isinstance(exc, RunyardError) else f"{type(exc).__name__}: {exc}"
                )
                if isinstance(exc, KeyboardInterrupt):
                    reason = "submission interrupted before the run started"
                if isinstance(exc, SubmitCanceled):
                    store.set_status(run_id, "canceled", "canceled before it started")
                else:
                    store.set_status(run_id, "failed", reason)
                raise
        finally:
            os.close(go_write)  # without "go" first, the supervisor just exits
            if go_read >= 0:
                os.close(go_read)
            store.close()
    finally:
        os.close(lock_fd)
    return run


def _spawn_supervisor(project: Project, run_id: str, lock_fd: int, go_fd: int) -> int:
    return spawn_detached(
        "runyard.runner.supervisor",
        [str(project.root), run_id, str(lock_fd), str(go_fd)],
        project.run_dir(run_id) / "supervisor.log",
        (lock_fd, go_fd),
        project.root,
    )


def _state_error(project: Project, exc: OSError) -> RunyardError:
    where = project.relpath(project.state_dir)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return RunyardError(
            f"{where} is not writable ({exc.strerror}); no run was started.",
            hint="make the folder writable",
        )
    if exc.errno == errno.ENOSPC:
        return RunyardError(f"The disk holding {where} is full; no run was started.")
    return RunyardError(f"Could not write under {where}: {exc}")


def supervisor_alive(project: Project, run_id: str) -> bool:
    """True while a supervisor (or a submitter) holds the run's lock."""
    return lock_held(project.run_dir(run_id) / "supervisor.lock")


MAX_TAKE_OVERS = 3


def _count_take_over(run_dir: Path) -> bool:
    """Count one more take-over of the run; False when it may not be taken over again
    (it was `MAX_TAKE_OVERS` times already, or the count cannot be written)."""
    counter = run_dir / "takeovers"
    try:
        done = int(counter.read_text() or "0")
    except FileNotFoundError:
        done = 0
    except (OSError, ValueError):
        return False
    if done >= MAX_TAKE_OVERS:
        return False
    try:
        counter.write_text(str(done + 1))
    except OSError:
        return False
    return True


def _take_over(project: Project, run: Run) -> bool:
    """Start a new supervisor for a running run whose supervisor died, when its backend
    can find the run again (a container, a process group). True when one was started.
    A cancel asked for meanwhile is carried out by the new supervisor."""
    from runyard.targets.base import REATTACHABLE

    if run.status != "running" or run.target_type not in REATTACHABLE:
        return False
    try:
        lock_fd = os.open(project.run_dir(run.id) / "supervisor.lock", os.O_RDWR)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True  # someone just took it over
        run_dir = project.run_dir(run.id)
        if not _count_take_over(run_dir):
            return False
        with (run_dir / "supervisor.log").open("ab") as out:
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "runyard.runner.supervisor",
                    str(project.root),
                    run.id,
                    str(lock_fd),
                    "attach",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                pass_fds=(lock_fd,),
                start_new_session=True,
                cwd=project.root,
            )
        return True
    finally:
        os.close(lock_fd)  # the new supervisor holds the lock now


def reconcile(project: Project, store: Store) -> list[str]:
    """Mark live runs whose supervisor is gone as `lost` (or, for runs that live on in a
    container or a process group, start a supervisor that takes them over). Returns the
    lost runs' ids."""
    lost: list[str] = []
    for run in store.live_runs():
        if supervisor_alive(project, run.id):
            continue
        if _take_over(project, run):
            continue
        if run.supervisor_pid is None:
            reason = "the submission was interrupted before the run started"
        else:
            reason = f"its supervisor (pid {run.supervisor_pid}) ended without recording an outcome"
            if (project.run_dir(run.id) / "takeovers").exists():
                reason += " (after its take-overs; see supervisor.log in its run folder)"
            if run.pid:
                reason += f"; the script's process group {run.pid} may still be running"
        if store.set_status(run.id, "lost", reason):
            lost.append(run.id)
    return lost


def cancel(project: Project, store: Store, run_id: str) -> bool:
    """Ask a live run to stop: its supervisor sends SIGTERM, then SIGKILL after the
    target's grace period, and records `canceled`. A run whose supervisor died gets a
    new one that does this (see `reconcile`). False if the run already ended."""
    run = store.get_run(run_id)
    if not run.live:
        return False
    run_dir = project.run_dir(run_id)
    try:
        (run_dir / "cancel").touch()
    except OSError as exc:
        raise _state_error(project, exc) from exc
    if supervisor_alive(project, run_id):
        if run.supervisor_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.supervisor_pid, signal.SIGTERM)
    else:
        reconcile(project, store)
    return True


def wait(
    project: Project, store: Store, run_id: str, poll: float = 0.2, timeout: float | None = None
) -> Run:
    """Block until the run reaches a final state (or `timeout` seconds pass)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    checks = 0
    while True:
        run = store.get_run(run_id)
        if not run.live:
            return run
        checks += 1
        if checks % 5 == 0:
            reconcile(project, store)
        if deadline is not None and time.monotonic() > deadline:
            return run
        time.sleep(poll)


def exit_code_of(run: Run) -> int:
    """The exit status a command reports for a finished run."""
    if run.status == "completed":
        return 0
    if run.status == "canceled":
        return 130
    if run.exit_code is not None and run.exit_code > 0:
        return run.exit_code
    if run.exit_code is not None and run.exit_code < 0:
        return 128 - run.exit_code
    return 1


def log_path(project: Project, run_id: str) -> Path:
    return project.run_dir(run_id) / "run.log"


def outputs_dir(project: Project, run_id: str) -> Path:
    return project.run_dir(run_id) / "outputs"


def read_log(project: Project, run_id: str, offset: int = 0) -> tuple[bytes, int]:
    """The log's bytes from `offset`, and the offset after them."""
    try:
        with log_path(project, run_id).open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return b"", offset
    return data, offset + len(data)


def get_run(project: Project, store: Store, text: str) -> Run:
    return store.get_run(store.resolve_run_id(text))
