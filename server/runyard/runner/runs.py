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

A notebook (`analysis.ipynb`) is submitted like a script: it is read and its
parameters (`-p NAME=VALUE`, its arguments) checked before anything is recorded
(`runyard.tracking.notebooks`), and its run's command is the notebook runner shipped
into the run (`runner/notebook_runner.py`, see `RunSpec.argv`). Its environment is the
project's dependency spec plus what running a notebook takes (`NOTEBOOK_PACKAGES`): a
file written beside the exported code (`NOTEBOOK_ENV_FILES`, never into the snapshot)
that the run's `requirements` names, as a rerun's lock is (`_notebook_environment`).
On a Spark target the runner is the application's driver program, and the kernel's
SparkSession is the application's (`targets/spark.py`).

On a store shared by a team: each run's snapshot is pushed to the team's git remote in
the background once the run goes (`snapshots_remote`, `core.snapshot`) and fetched back
where a restore or diff needs it (`ensure_snapshots`); only the user who ran a run (its
git email) cancels it unless `.runyard/config.yml` says `cancel: anyone`
(`check_may_cancel`; in a project's own SQLite store every run is the user's), and a
run of another machine is canceled through the store: a request (`CANCEL_TAG`) its
supervisor reads while it watches the run (`CancelRequests`).
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
from runyard.targets.spec import DEFAULT_OUTPUTS, DEFAULT_TENSORBOARD_DIR, NOTEBOOK_RUNNER, RunSpec

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
    if script is not None and is_notebook(script):
        check_notebook(project, script, args)
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


def is_notebook(script: str) -> bool:
    """Whether a run's script is a Jupyter notebook (run by the notebook runner)."""
    from runyard.tracking import notebooks

    return notebooks.is_notebook(script)


def check_notebook(project: Project, script: str, args: list[str]) -> list[str]:
    """Read the notebook `script` (relative to the project) and its parameters `args`
    as its run will; a UsageError naming the file and what is wrong, else the warnings
    for the user (a parameter its `parameters` cell does not set, or no such cell)."""
    from runyard.tracking import notebooks

    try:
        nb = notebooks.read_notebook(str(project.root / script), script)
    except notebooks.NotebookError as exc:
        raise UsageError(str(exc)) from None
    try:
        params = notebooks.parse_parameters(args, script)
    except notebooks.NotebookError as exc:
        raise UsageError(
            str(exc),
            hint="a notebook's arguments are its parameters: `-p NAME=VALUE` (the value typed: "
            "True/False, None, an int, a float, else text) or `-r NAME=VALUE` (text), "
            "e.g. runyard submit analysis.ipynb -p lr=0.1",
        ) from None
    return notebooks.injection_warnings(nb, params, script)


# What running a notebook takes, added to its run's environment (what the project's
# spec already lists is left as the project pins it).
NOTEBOOK_PACKAGES = ("nbclient", "nbformat", "ipykernel")
# The environment file of a notebook run, written beside its exported code: a
# requirements file when the project's spec is one (or there is none), else MLflow's
# python_env.yaml (which keeps the interpreter version a conda or python_env file asks for).
NOTEBOOK_REQUIREMENTS = ".runyard-notebook-requirements.txt"
NOTEBOOK_PYTHON_ENV = ".runyard-notebook/python_env.yaml"
NOTEBOOK_ENV_FILES = (NOTEBOOK_REQUIREMENTS, NOTEBOOK_PYTHON_ENV)
# A copy in the run folder (its working copy goes once the run ends), for a rerun that
# has no lock to build from.
NOTEBOOK_ENV_KEPT = "notebook-env"


def _project_spec_file(root: Path, declared: str | None) -> str | None:
    """The dependency file `envs.find_spec` will read in a tree like `root` (the job's,
    else the first it looks for), without reading it."""
    from runyard.core import envspecs

    if declared:
        return declared
    for name in ("requirements.txt", "pyproject.toml"):
        if (root / name).is_file():
            return name
    return envspecs.find(root)


def _lists_requirements(rel: str | None) -> bool:
    """Whether the spec file `rel` is read as listed requirements (not handed to pip)."""
    from runyard.core import envspecs

    return rel is not None and (envspecs.handles(rel) or rel.endswith(".toml"))


def _requirement_name(line: str) -> str:
    import re

    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def _notebook_environment(workdir: Path, declared: str | None, name: str) -> bytes:
    """The content of the notebook environment file `name`: the dependency spec of
    `workdir` (the job's `declared` file, else the one found) with `NOTEBOOK_PACKAGES`."""
    import json

    from runyard.core import envs

    spec = envs.find_spec(workdir, declared)
    if spec.listed:
        lines = list(spec.requirements)
    elif spec.path is not None:
        lines = spec.content.decode("utf-8", "replace").splitlines()
    else:
        lines = []
    have = {_requirement_name(line) for line in lines}
    added = [p for p in NOTEBOOK_PACKAGES if p not in have]
    if name == NOTEBOOK_REQUIREMENTS:
        if spec.listed and spec.python:
            lines.insert(0, f"# {spec.path} asks for python {spec.python}")
        return "".join(f"{line}\n" for line in [*lines, *added]).encode()
    if not spec.listed and spec.path is not None:  # (the snapshot differs from the folder)
        lines = [f"-r ../{spec.path}"]
    out = [f"# the dependencies of {spec.path or 'no file'}, and a Jupyter kernel"]
    if spec.python:
        out.append(f"python: {json.dumps(spec.python)}")
    out.append("dependencies:")
    out += [f"  - {json.dumps(line)}" for line in [*lines, *added]]
    return "".join(f"{line}\n" for line in out).encode()


def _write_tracking_shim(run_dir: Path) -> None:
    """Make `import runyard` work in the run even if its environment lacks Runyard: a
    copy of the standard-library-only tracking client, put first on PYTHONPATH. Beside
    it, the run's `sitecustomize` (`tracking/site_hook.py`: MLflow's logging recorded
    through `tracking/mlflow_endpoint.py`) and Azure ML Workbench's `azureml.logging`
    (`tracking/azureml`), so scripts written for either record into the run unchanged;
    and the notebook runner (`runner/notebook_runner.py`), a notebook run's program."""
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
    shutil.copy2(src / "runner" / "notebook_runner.py", lib / f"{NOTEBOOK_RUNNER}.py")


def _untracked_secrets_warning(project: Project, survey: Any = None) -> str | None:
    """A warning naming the files that look like secrets (.env, id_rsa, *.pem, *.key,
    credentials) the snapshot is about to take although git neither tracks nor ignores
    them; None when there are none. `survey` (a `snapshot.Survey`) is what the
    submission asked git already."""
    from runyard.core import snapshot
    from runyard.core.text import printable

    try:
        found = snapshot.untracked_secret_files(project, survey)
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


def submit(
    project: Project, req: SubmitRequest, progress: Progress = _quiet, fork: bool = False
) -> Run:
    """Snapshot the project, record a queued run and start its supervisor.

    Returns once the supervisor runs; the run goes on without the caller. Files that look
    like secrets and that git neither tracks nor ignores are named first, in a warning
    through `progress`.

    Git is asked once where the snapshot goes and for its settings (`snapshot.Survey`):
    the secrets check, the snapshot and the run's identity share the answers. The run's
    supervisor is started first (`start_ahead`), so that its start-up overlaps all of
    this; a request found wrong leaves no run behind. `fork`: the supervisor is a fork
    of this process (`start_ahead(fork=True)`): only for a caller that runs no other
    thread and holds no store, the CLI."""
    from runyard.core import snapshot

    ahead = start_ahead(project, fork=fork)
    try:
        try:
            survey: Any = snapshot.Survey(project)
        except (RunyardError, OSError):
            survey = None  # the snapshot itself reports what is wrong with the repository
        warning = _untracked_secrets_warning(project, survey)
        if warning:
            progress(warning)
        spec = resolve_request(project, req)
        if spec.script is not None and is_notebook(spec.script):
            for text in check_notebook(project, spec.script, spec.args):
                progress(f"{WARNING}{text}")
    except BaseException:
        ahead.abandon()
        raise
    return start_run(project, spec, progress, survey=survey, ahead=ahead)


@dataclass
class Ahead:
    """A run's folder, the lock on it and its supervisor, started before the run is
    recorded: the supervisor imports what it needs while the submitter checks the
    request, records the run (then writes "." on the pipe: the supervisor readies the
    run's backend) and takes the snapshot (then "go"). Closing the pipe without "go"
    ends the supervisor, which removes the folder of a run never recorded. The store is
    opened first (created, in a new project), so the two never race to create it.

    A spare (`start_ahead(spare=True)`: a sweep's, for a trial still to start) is taken
    up on another thread than the one that started it, which opens the store (a
    connection is of its thread); its supervisor writes the run's tracking shim
    (`_write_tracking_shim`) itself as it waits, so the run's start does not."""

    run_id: str
    run_dir: Path
    lock_fd: int
    go_write: int
    store: Store | None
    spare: bool = False
    shim_by_supervisor: bool = False  # a spare's or a forked supervisor writes it

    def abandon(self) -> None:
        """Let go: without "go" first, the supervisor ends (and cleans up)."""
        os.close(self.go_write)
        os.close(self.lock_fd)
        if self.store is not None:
            self.store.close()


def start_ahead(
    project: Project,
    spare: bool = False,
    forks: SupervisorForks | None = None,
    fork: bool = False,
) -> Ahead:
    """A new run's folder, locked, with its supervisor started and waiting (`Ahead`):
    `start_run` takes it up; `Ahead.abandon` lets it go (nothing is left behind). A
    sweep keeps some started for its next trials, so that a trial's start does not
    wait for its supervisor's interpreter, and has them forked by `forks`.

    `fork` (the CLI's submit): the supervisor is a fork of this very process
    (`_fork_supervisor_here`), which has most of what a supervisor imports already,
    instead of a new interpreter importing it all again while the submission, on the
    same few cores, is under way. Only for a process that runs no other thread and has
    no store open (a connection must not cross a fork): the store is opened after the
    fork, and the supervisor opens its own only once that is done (a new store is still
    created once, by this process). Where this process cannot fork, the supervisor is
    started as a new process."""
    run_id = new_run_id()
    run_dir = project.run_dir(run_id)
    try:
        run_dir.mkdir(parents=True)
    except OSError as exc:
        raise _state_error(project, exc) from exc
    lock_fd = go_read = go_write = ready = -1
    store: Store | None = None
    try:
        lock_fd = os.open(run_dir / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        go_read, go_write = os.pipe()
        if fork and not spare and forks is None and hasattr(os, "fork"):
            ready = _fork_supervisor_here(project, run_id, lock_fd, go_read)
            store = open_store(project)
            os.write(ready, b".")  # the store exists: the supervisor may open it
        else:
            store = None if spare else open_store(project)
            if forks is None or not forks.fork(run_id, lock_fd, go_read, spare):
                _spawn_supervisor(project, run_id, lock_fd, go_read, spare)
    except BaseException:
        for fd in (go_write, lock_fd, ready):
            if fd >= 0:
                os.close(fd)
        if store is not None:
            store.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if go_read >= 0:
            os.close(go_read)
    forked = ready >= 0
    if forked:
        os.close(ready)
    return Ahead(run_id, run_dir, lock_fd, go_write, store, spare, spare or forked)


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
    if (lock is None or lock.installer is None) and spec.requirements in NOTEBOOK_ENV_FILES:
        with contextlib.suppress(OSError):  # a notebook's environment, as its original had it
            kept = project.run_dir(original.id) / NOTEBOOK_ENV_KEPT / spec.requirements
            files[spec.requirements] = kept.read_bytes()
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
    survey: Any = None,
    ahead: Ahead | None = None,
    exported: Path | None = None,
) -> Run:
    """Record a queued run of `spec` (with `tags`) and start its supervisor: the code is
    a new snapshot of the project folder, or the snapshot `commit` of an earlier run;
    `files` are written into the run's working copy besides (relative path -> content).
    `survey` (a `snapshot.Survey` of this submission) spares git the questions it
    answered already, the run's identity among them; `ahead` is the run's folder and
    supervisor when the caller started them already (`start_ahead`: `submit`, a sweep's
    next trial). `exported` is a folder holding the tree of `commit` exported already
    (`export_working_copy`: a sweep's, once for all its trials): the run's working copy
    is a copy of it instead of a new export, and the run's own snapshot ref is made once
    the run has gone (`commit` is kept meanwhile by the exporter's: the sweep's)."""
    from dataclasses import replace

    from runyard.core import snapshot

    if ahead is None:
        ahead = start_ahead(project)
    run_id, run_dir, go_write = ahead.run_id, ahead.run_dir, ahead.go_write
    try:
        if exported is not None and commit is None:
            raise ValueError("an exported working copy is of an earlier snapshot `commit`")
        files = dict(files or {})
        # A notebook's environment file (see the module docstring), made from `declared`
        # once the code is exported; a rerun brings its original's (or its lock) instead.
        declared: str | None = None
        make_env_file = False
        if spec.script is not None and is_notebook(spec.script):
            if spec.requirements not in (RERUN_LOCK_FILE, *NOTEBOOK_ENV_FILES):
                declared = spec.requirements
                listed = _lists_requirements(_project_spec_file(project.root, declared))
                spec = replace(
                    spec, requirements=NOTEBOOK_PYTHON_ENV if listed else NOTEBOOK_REQUIREMENTS
                )
                make_env_file = True
            elif spec.requirements in NOTEBOOK_ENV_FILES and spec.requirements not in files:
                make_env_file = True  # a rerun whose original's file is gone: the spec found
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
        known = survey.user() if survey is not None else None
        if known is not None:  # what `create_run` would ask git again
            from runyard.core.store.identity import machine_name

            run.user_name, run.user_email = known
            run.machine = machine_name()
        if ahead.store is None:  # (a spare: its store is opened on this thread)
            ahead.store = open_store(project)
        store = ahead.store
        recorded = False
        try:
            store.create_run(run)
            recorded = True
            if tags:
                store.set_tags(run_id, tags)
            # Recorded: the supervisor (started ahead, readying itself while the
            # snapshot is taken) may load the run's backend now; it begins the run only
            # when told "go".
            with contextlib.suppress(OSError):  # (a dead supervisor: "go" says so below)
                os.write(go_write, b".")
            progress("snapshot")
            snap: Any = None
            ref_later = commit is None  # (made once the run has gone: `_make_ref`)
            if commit is None:  # (its tree written into the working copy as it is made)
                snap = snapshot.take_snapshot(
                    project, run_id, survey, ref=False, export_to=run_dir / "work"
                )
            elif exported is None:
                snap = snapshot.reuse_snapshot(project, run_id, commit)
            if snap is not None:
                store.update_run(run_id, snapshot_ref=snap.ref, snapshot_commit=snap.commit)
                run.snapshot_ref, run.snapshot_commit = snap.ref, snap.commit
            if exported is not None:
                copy_working_copy(exported, run_dir / "work")
            elif commit is not None:
                snapshot.export_snapshot(project, snap, run_dir / "work")
            if make_env_file:
                rel = str(spec.requirements)
                files[rel] = _notebook_environment(run_dir / "work", declared, rel)
                (run_dir / NOTEBOOK_ENV_KEPT / rel).parent.mkdir(parents=True, exist_ok=True)
                (run_dir / NOTEBOOK_ENV_KEPT / rel).write_bytes(files[rel])
            for rel, data in files.items():
                (run_dir / "work" / rel).parent.mkdir(parents=True, exist_ok=True)
                (run_dir / "work" / rel).write_bytes(data)
            if not ahead.shim_by_supervisor:
                _write_tracking_shim(run_dir)
            progress("start")
            os.write(go_write, b"go")
        except BaseException as exc:
            if recorded:
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
        if snap is None:  # (exported: its commit is kept by another ref, a sweep's)
            snap = _refer_to_snapshot(project, store, run, str(commit))
        elif ref_later:
            snap = _make_ref(project, store, run, snap)
        if snap is not None:
            _share_snapshot(project, snap, run_id)
    finally:
        ahead.abandon()  # without "go" first, the supervisor just exits
    return run


def _refer_to_snapshot(project: Project, store: Store, run: Run, commit: str) -> Any:
    """The run's own snapshot ref to `commit`, made once the run has gone (so that the
    git processes it takes do not hold up the start), and recorded; None, said in the
    run's log, when it could not be (the run goes on, its commit kept by the ref of
    whoever exported it)."""
    from runyard.core import snapshot

    try:
        snap = snapshot.reuse_snapshot(project, run.id, commit)
        store.update_run(run.id, snapshot_ref=snap.ref, snapshot_commit=snap.commit)
    except Exception as exc:
        detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError), log_path(project, run.id).open("a") as log:
            log.write(f"[runyard] the run's snapshot ref was not made: {detail}\n")
        return None
    run.snapshot_ref, run.snapshot_commit = snap.ref, snap.commit
    return snap


def _make_ref(project: Project, store: Store, run: Run, snap: Any) -> Any:
    """The run's snapshot ref (recorded with the run before it went), made once the run
    has gone, so that the git process it takes does not hold up the start; SIGINT is
    held back meanwhile (a Ctrl-C right after the start still leaves the ref behind).
    None when it could not be made: said in the run's log, and the run's record then
    names no ref (the commit is still recorded)."""
    from runyard.core import snapshot

    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        snapshot.make_ref(project, snap, run.id)
    except Exception as exc:
        detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError), log_path(project, run.id).open("a") as log:
            log.write(f"[runyard] the run's snapshot ref was not made: {detail}\n")
        with contextlib.suppress(Exception):
            store.update_run(run.id, snapshot_ref=None)
        run.snapshot_ref = None
        return None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return snap


def _share_snapshot(project: Project, snap: Any, run_id: str) -> None:
    """Once the run goes: its snapshot (and those still pending) pushed to the team's
    `snapshots_remote` by a detached `git push` (`snapshot.push_in_background`), when
    one is set. A bad setting, or a push that could not be started, is the run's log's
    to say, never the submit's: the run has started by then."""
    from runyard.core import snapshot
    from runyard.core.config.settings import team_settings

    try:
        remote = team_settings(project.root).snapshots_remote
        if remote:
            snapshot.push_in_background(project, snap, run_id, remote)
    except Exception as exc:  # the run has gone: whatever this is, it is the log's to say
        detail = str(exc) if isinstance(exc, RunyardError) else f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError), log_path(project, run_id).open("a") as log:
            log.write(f"[runyard] the snapshot was not pushed: {detail}\n")


def export_working_copy(project: Project, commit: str, dest: Path) -> None:
    """Export the project tree of snapshot `commit` into `dest` (which must not exist)
    for `start_run(exported=dest)`: whole or not at all (written beside it, then
    renamed), so a folder found at `dest` is a complete export."""
    from runyard.core import snapshot

    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        snapshot.export_snapshot(project, commit, tmp)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def copy_working_copy(exported: Path, dest: Path) -> None:
    """A run's working copy `dest` as a copy of the tree `export_working_copy` wrote:
    links stay links, files are new files (the mode kept, the time now), as an export
    writes them."""
    shutil.copytree(exported, dest, symlinks=True, copy_function=shutil.copy)


def push_snapshots(project: Project) -> tuple[str | None, list[str]]:
    """Push every snapshot still waiting (a background push that failed) to the team's
    remote now: (the remote, the runs pushed); (None, []) when none is set."""
    from runyard.core import snapshot
    from runyard.core.config.settings import team_settings

    remote = team_settings(project.root).snapshots_remote
    if not remote:
        return None, []
    return remote, snapshot.push_snapshots(project, remote, snapshot.pending_pushes(project))


def ensure_snapshots(project: Project, *runs_: Run | None) -> None:
    """Make the snapshots of `runs_` local before a restore or diff: one made on a
    teammate's machine is fetched from the team's `snapshots_remote`
    (`snapshot.fetch_snapshot`, whose error names the remote and the fix)."""
    from runyard.core import snapshot
    from runyard.core.config.settings import team_settings

    remote: str | None = None
    asked = False
    for run in runs_:
        if run is None or not run.snapshot_commit:
            continue  # (the restore or diff says there is no snapshot)
        if snapshot.has_commit(project, run.snapshot_commit):
            continue
        if not asked:
            remote, asked = team_settings(project.root).snapshots_remote, True
        snapshot.fetch_snapshot(project, run.id, run.snapshot_commit, remote)


def _spawn_supervisor(
    project: Project, run_id: str, lock_fd: int, go_fd: int, spare: bool = False
) -> int:
    return spawn_detached(
        "runyard.runner.supervisor",
        [str(project.root), run_id, str(lock_fd), str(go_fd), *(["spare"] * spare)],
        project.run_dir(run_id) / "supervisor.log",
        (lock_fd, go_fd),
        project.root,
    )


def _fork_supervisor_here(project: Project, run_id: str, lock_fd: int, go_fd: int) -> int:
    """Fork run `run_id`'s supervisor from this process (`start_ahead(fork=True)`): in a
    session of its own, its output appended to `<run dir>/supervisor.log`, in the
    project folder, holding only the run's lock and the read end of its "go" pipe of
    this process's descriptors (0 to 2 aside), as `_spawn_supervisor` starts one. It
    imports the rest of what it needs while this process goes on, then waits for a byte
    on the returned descriptor (this process has opened the store) before it opens the
    store itself; closed without it, it ends (whoever closed it cleans up)."""
    log = project.run_dir(run_id) / "supervisor.log"
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    ready_read, ready_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except BaseException:
        for fd in (out, ready_read, ready_write):
            os.close(fd)
        raise
    if pid:
        os.close(out)
        os.close(ready_read)
        return ready_write
    code = 1
    try:  # the supervisor (the child): never returns
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        keep = sorted((lock_fd, go_fd, ready_read))
        low = 3
        for fd in keep:  # every other descriptor: the submitter's pipes above all
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, _maxfd())
        os.chdir(project.root)
        from runyard.runner import supervisor  # (while the submitter goes on)

        if os.read(ready_read, 1) != b".":
            code = 0  # the submission ended before the store was open: nothing to do
        else:
            os.close(ready_read)
            # ("spare": it writes the run's tracking shim itself as it waits, as a
            # sweep's spare does, while the submitter takes the snapshot)
            args = [str(project.root), run_id, str(lock_fd), str(go_fd), "spare"]
            code = supervisor.main(args)
    except BaseException:
        with contextlib.suppress(BaseException):
            import traceback

            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _maxfd() -> int:
    try:
        return max(int(os.sysconf("SC_OPEN_MAX")), 256)
    except (ValueError, OSError):
        return 256


class SupervisorForks:
    """A fork server of run supervisors (`supervisor.serve_forks`), for a sweep's many
    runs: it imports what a supervisor needs once, and each run's supervisor is a fork
    of it (in a session of its own, as `_spawn_supervisor` starts one), not a new
    interpreter importing it all again. Safe to use from several threads. Once it is
    gone (or never started), `fork` says so and supervisors start as before. `close`
    lets it go; supervisors it forked go on."""

    def __init__(self, project: Project, log: Path) -> None:
        import socket
        import threading

        self.lock = threading.Lock()
        self.sock: Any = None
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            spawn_detached(
                "runyard.runner.supervisor",
                ["--forks", str(project.root), str(theirs.fileno())],
                log,
                (theirs.fileno(),),
                project.root,
            )
        except OSError:
            mine.close()
        else:
            self.sock = mine
            self.replies = mine.makefile("rb")
        finally:
            theirs.close()

    def fork(self, run_id: str, lock_fd: int, go_fd: int, spare: bool) -> bool:
        """Fork the supervisor of run `run_id` (holding `lock_fd`, waiting on `go_fd`);
        False when the server could not (it is gone: start one as before)."""
        import json
        import socket

        with self.lock:
            if self.sock is None:
                return False
            try:
                request = json.dumps([run_id, spare]).encode() + b"\n"
                socket.send_fds(self.sock, [request], [lock_fd, go_fd])
                pid = int(self.replies.readline() or b"0")
            except (OSError, ValueError):
                pid = 0
            if pid <= 0:
                self._close()
            return pid > 0

    def close(self) -> None:
        with self.lock:
            self._close()

    def _close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.replies.close()
                self.sock.close()
            self.sock = None


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


CANCEL_TAG = "runyard.cancel"
"""The tag a cancel from another machine writes on the run (who asked, and where); the
run's supervisor reads it (`CancelRequests`)."""
CANCEL_READ_SECONDS = 1.0  # how often a supervisor asks the store for a cancel request


def check_may_cancel(project: Project, run: Run, dialect: str = "postgresql") -> None:
    """Whether this user may cancel `run`, by `cancel:` in `.runyard/config.yml`:
    `owner` (the default) lets only the user who ran it cancel it (the same git email,
    compared without case), `anyone` lets anyone. The rule is for a team's store: in a
    project's own SQLite store (`dialect` "sqlite") every run is the user's, whatever
    git identity they have now. A run whose user is not known (run before runs recorded
    it) may be canceled by anyone. UsageError naming who ran it."""
    from runyard.core.config.settings import team_settings
    from runyard.core.store.identity import current_user

    if dialect == "sqlite" or not run.user_email:
        return
    if team_settings(project.root).cancel == "anyone":
        return
    me = current_user(project.root)
    if me.email and me.email.strip().lower() == run.user_email.strip().lower():
        return
    where = f" on {run.machine}" if run.machine else ""
    raise UsageError(
        f"Run {run.id} was started by {run.user_email}{where}; ask them, or set "
        "`cancel: anyone` in .runyard/config.yml.",
        hint=f"you are {me.email}" if me.email else "git knows no user.email for you here",
    )


def cancel(project: Project, store: Store, run_id: str) -> bool:
    """Ask a live run to stop: its supervisor sends SIGTERM, then SIGKILL after the
    target's grace period, and records `canceled`. A run whose supervisor died gets a
    new one that does this (see `reconcile`). False if the run already ended.

    Only who may cancel it does (`check_may_cancel`). A run of another machine (or
    another clone: its run folder is not in this project) gets a cancel request in the
    store (the `CANCEL_TAG` tag), which its supervisor reads within a second or so."""
    run = store.get_run(run_id)
    if not run.live:
        return False
    check_may_cancel(project, run, store.dialect)
    run_dir = project.run_dir(run_id)
    if not run_dir.is_dir():
        from runyard.core.store.identity import current_user

        me = current_user(project.root)
        who = me.email or me.name or "someone"
        store.set_tags(run_id, {CANCEL_TAG: f"{who} on {me.machine or 'another machine'}"})
        return True
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


class CancelRequests:
    """What a run's supervisor asks while the run runs: whether a cancel request from
    another machine is in the store (`CANCEL_TAG`), at most every `CANCEL_READ_SECONDS`;
    the request is said in the run's log. A store that does not answer is no request."""

    def __init__(self, store: Store, run_id: str, log: Callable[[str], None]) -> None:
        self.store, self.run_id, self.log = store, run_id, log
        self.next = time.monotonic() + CANCEL_READ_SECONDS

    def __call__(self) -> bool:
        now = time.monotonic()
        if now < self.next:
            return False
        self.next = now + CANCEL_READ_SECONDS
        try:
            who = self.store.tags(self.run_id).get(CANCEL_TAG)
        except Exception:  # (the store down: the ingestion says so; asked again later)
            return False
        if who:
            self.log(f"cancel requested by {who}")
        return bool(who)


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
    """Where run `run_id`'s kept outputs are: its run folder, or the team's shared
    artifact root (`core.artifacts`)."""
    from runyard.core.artifacts import artifact_root

    return artifact_root(project).run_outputs(run_id)


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
