"""The per-run supervisor: a small detached process that owns one run's lifecycle.

It is started by whoever submits the run (the CLI or the language server), in a
session of its own, so the run goes on when that client exits or is interrupted.
It holds an exclusive lock on `<run dir>/supervisor.lock` for as long as it lives:
anyone who can take that lock while the run is still live knows the supervisor is
gone, and starts one that takes the run over (below), or marks the run `lost` when
it cannot be found again.

    python -m runyard.runner.supervisor PROJECT_ROOT RUN_ID LOCK_FD GO_FD [spare]
    python -m runyard.runner.supervisor PROJECT_ROOT RUN_ID LOCK_FD attach

It is started before the run is even recorded (`runs.start_ahead`), so its own
start-up overlaps the submitter's work: checking the request, recording the run (then
"." on GO_FD: it loads the run's backend) and taking the snapshot. It begins the run
when it reads "go" from GO_FD, and exits quietly if the pipe closes without it (the
submitter recorded why; a run never recorded has its folder removed). A `spare` (a
sweep's, started before its trial is known: `runs.start_ahead`) writes the run's
tracking shim (`runs._write_tracking_shim`) as it waits, which the submitter does
otherwise; so does a supervisor forked from the CLI's submit.

A supervisor that dies (kill -9, the OOM killer) does not lose the run: the next client
that reconciles starts one with `attach`, which asks the backend for the run again (a
container by label, a remote process, a local process group by its recorded pid and
start time), ingests the tracking file on from the offset the last one saved (storing
no point twice: `runyard.runner.ingest_resume`), follows the run to its end (or cancels
it, if asked), keeps its outputs and records the outcome.

Once the run has started, the backend's lock of the environment it prepared (its
interpreter's version and every installed distribution: `targets.common.LocksEnvironment`)
is recorded with the run (`Store.set_run_lock`); one that cannot be read is a line in
the run's log, never the run's outcome.

A cancel is asked for by `<run dir>/cancel` (`runs.cancel` creates it, then signals
the supervisor). The file may hold why, one line written by whoever asked before
`runs.cancel` (the sweep supervisor: "pruned by the sweep (median rule): ..."): the
status history's reason for `canceled` is that line, else "canceled by the user"
(`_cancel_reason`).

Nothing that reads what the run wrote (tracking records, TensorBoard event files)
decides its outcome: an exception there is a warning in the run's log (once per
distinct error), and the supervisor goes on following the run.

The outputs folder the backend leaves in the working copy moves to `<run dir>/outputs`
and its files become the run's artifacts, never through a link (`_keep_outputs`): an
outputs folder that is a link (a committed `outputs` -> a shared folder) is not kept,
and a link in it that leads out of it is left behind; each is named in the run's log,
and what such a link points to is never listed, moved or touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from runyard.core.errors import NotFoundError
from runyard.core.store import Run, Store
from runyard.runner.ingest import TrackingIngester
from runyard.runner.ingest_resume import ResumableStore
from runyard.runner.tbimport import (
    DEFAULT_DIR,
    KEPT_FOLDER,
    TensorBoardImporter,
    WorkingCopyImporter,
)
from runyard.targets.base import (
    EXIT_UNKNOWN,
    Backend,
    Execution,
    Reattachable,
    RunContext,
    RunLost,
    load_backend,
)
from runyard.targets.common import LocksEnvironment
from runyard.targets.exits import WordsItsExit, exit_reason
from runyard.targets.spec import RunSpec

POLL_SECONDS = 0.1
TENSORBOARD_POLL_SECONDS = 1.0  # event files are read this often while a run runs
# in the run folder: where the TensorBoard importers stand, for a supervisor taking over
TENSORBOARD_STATE = "tensorboard-import.json"
# Set by the packaged extension's bootstrap (bundled/runyard_server.py) to the folder of
# the server's own libraries, which it also puts first on PYTHONPATH.
BUNDLED_LIBS_VAR = "RUNYARD_BUNDLED_LIBS"


class Canceled(Exception):
    pass


# A JVM's own INFO/DEBUG/TRACE lines (log4j's default layout, as Spark writes them:
# `26/12/07 04:47:06 INFO SparkContext: ...`): a Spark driver's shutdown says a dozen
# of them after the script's traceback, and none is why the run failed.
_JVM_CHATTER = re.compile(rb"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (INFO|DEBUG|TRACE) ")


def last_log_line(log_path: Path) -> str | None:
    """The last non-empty line of a log, for failure reasons: not Runyard's own, and
    not a JVM's INFO chatter (unless there is nothing else)."""
    try:
        with log_path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65536))
            tail = f.read()
    except OSError:
        return None
    chatter: str | None = None
    for raw in reversed(tail.splitlines()):
        line = raw.decode("utf-8", "replace").strip()
        if not line or line.startswith("[runyard]"):
            continue
        line = line if len(line) <= 240 else line[:237] + "..."
        if _JVM_CHATTER.match(raw.strip()):
            chatter = chatter or line
            continue
        return line
    return chatter


class Supervisor:
    def __init__(self, project_root: Path, run_id: str) -> None:
        self.project_root = project_root
        self.run_id = run_id
        self.state_dir = project_root / ".runyard" / "state"
        self.run_dir = self.state_dir / "runs" / run_id
        self.store = Store(self.state_dir / "runyard.db")
        self.cancel_requested = False
        self.phase = "starting"
        self.log_path = self.run_dir / "run.log"
        self.log_fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.tensorboard: TensorBoardImporter | None = None  # the job's tensorboard_dir
        self.tensorboard_anywhere: WorkingCopyImporter | None = None  # the rest of it
        self._tensorboard_next = 0.0
        self._ingest_error: str | None = None  # the last one logged, to say each once
        self.resumable: ResumableStore | None = None  # counts what ingestion stored

    def log(self, line: str) -> None:
        with contextlib.suppress(OSError):  # a full disk must not hide the run's outcome
            os.write(self.log_fd, f"[runyard] {line}\n".encode())

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.cancel_requested = True
        if self.phase == "preparing":
            raise Canceled()

    def run(self, go_fd: int, spare: bool = False) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        shim_error: Exception | None = None
        if spare:
            from runyard.runner.runs import _write_tracking_shim

            try:
                _write_tracking_shim(self.run_dir)
            except Exception as exc:  # (the run fails, saying so, once it is recorded)
                shim_error = exc
        # Ready what does not depend on the snapshot while the submitter takes it: the
        # run's backend, once the run is recorded (now, or when "." says so).
        backend = self._backend_ahead()
        go = b""
        with contextlib.suppress(OSError):
            while len(go) < 2:
                chunk = os.read(go_fd, 1)
                if not chunk:
                    break
                if chunk == b".":
                    backend = backend or self._backend_ahead()
                else:
                    go += chunk
        os.close(go_fd)
        if go != b"go":
            recorded = True
            with contextlib.suppress(Exception):
                try:
                    self.store.get_run(self.run_id)
                except NotFoundError:
                    recorded = False
            self._cleanup()
            if not recorded:  # the request was refused before the run was recorded
                shutil.rmtree(self.run_dir, ignore_errors=True)
            return  # the submission failed before the run could start
        try:
            run = self.store.get_run(self.run_id)
            if (self.run_dir / "cancel").exists() or not run.live:
                why = self._cancel_reason("canceled before it started")
                self.store.set_status(self.run_id, "canceled", why)
                return
            if shim_error is not None:
                raise shim_error
            self._run(run, backend or load_backend(run.target_type))
        except Canceled:
            self.log("canceled while preparing")
            why = self._cancel_reason("canceled by the user", " while preparing")
            self.store.set_status(self.run_id, "canceled", why)
        except RunLost as exc:
            self.log(f"lost: {exc.message}")
            self.store.set_status(self.run_id, "lost", exc.message)
        except Exception as exc:
            detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            hint = getattr(exc, "hint", None)
            self.log(f"error: {detail}" + (f" ({hint})" if hint else ""))
            with contextlib.suppress(OSError):  # a full disk must not hide the status below
                _write_traceback()
            self.store.set_status(self.run_id, "failed", detail)
        finally:
            self._cleanup()

    def _backend_ahead(self) -> Backend | None:
        """The recorded run's backend, loaded before "go"; None when the run is not
        recorded yet, or on any problem (which shows again, and is recorded, after "go")."""
        with contextlib.suppress(Exception):
            backend = load_backend(self.store.get_run(self.run_id).target_type)
            ahead = getattr(backend, "ahead", None)  # what it may ready before the snapshot
            if callable(ahead):
                with contextlib.suppress(Exception):
                    ahead()
            return backend
        return None

    def _context(self, run: Run) -> RunContext:
        """What the backend gets: the run's spec (typed, as `ctx.spec`, read from the
        stored options of any version), its folders and the ways to report back."""
        return RunContext(
            run_id=run.id,
            project_root=self.project_root,
            run_dir=self.run_dir,
            workdir=self.run_dir / "work",
            outputs=RunSpec.from_options(run.options).outputs,
            options=run.options,
            env={},
            log=self.log,
            log_fd=self.log_fd,
            envs_dir=self.state_dir / "envs",
            set_env_hash=lambda h: self.store.update_run(self.run_id, env_hash=h),
            set_tags=lambda tags: self.store.set_tags(self.run_id, tags),
        )

    def _run(self, run: Run, backend: Backend) -> None:
        ctx = self._context(run)
        workdir, outputs = ctx.workdir, ctx.outputs
        self.phase = "preparing"
        self.store.set_status(self.run_id, "preparing", None, supervisor_pid=os.getpid())
        backend.prepare(ctx)
        (workdir / outputs).mkdir(parents=True, exist_ok=True)
        tracking = self.run_dir / "tracking.jsonl"
        ctx.env.update(
            {
                "RUNYARD_RUN_ID": run.id,
                "RUNYARD_TRACKING_URI": tracking.resolve().as_uri(),
                "RUNYARD_OUTPUTS": str((workdir / outputs).resolve()),
                "RUNYARD_EXPERIMENT": run.experiment,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(self.run_dir / "lib"), os.environ.get("PYTHONPATH")) if p
                ),
            }
        )
        if self.cancel_requested:
            raise Canceled()
        self._watch_tensorboard(ctx)
        execution: Execution = backend.start(ctx)
        self.phase = "running"
        self.store.set_status(self.run_id, "running", None, pid=execution.pid)
        self.resumable = ResumableStore(self.store, run.id, tracking)
        ingester = TrackingIngester(self.resumable.store, run.id, tracking, log=self.log)

        # A backend that reads the lock on this machine (`lock_later`) reads it once the
        # run has had its first poll to start (`_watch`), not while its interpreter starts.
        def record() -> None:
            self._record_lock(backend, ctx)

        if not getattr(backend, "lock_later", False):
            record()
        later = record if getattr(backend, "lock_later", False) else None
        self._follow(run, backend, ctx, execution, ingester, later)

    def _record_lock(self, backend: Backend, ctx: RunContext) -> None:
        """Record the run's lock, the exact resolved set of the environment the backend
        prepared (`common.LocksEnvironment`), once the run has started: the backend
        reads it while the run starts. Never the run's outcome: a lock that cannot be
        read or stored is a line in the run's log."""
        if not isinstance(backend, LocksEnvironment):
            return
        try:
            lock = backend.env_lock(ctx)
            if lock is not None:
                self.store.set_run_lock(
                    self.run_id,
                    lock.python,
                    lock.packages,
                    installer=lock.installer,
                    host=lock.host,
                )
        except Exception as exc:
            detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.log(
                f"warning: the run's lock (its environment's packages) was not recorded: {detail}"
            )

    def attach(self) -> None:
        """Take over a running run whose supervisor died (backends that can)."""
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            run = self.store.get_run(self.run_id)
            if not run.live:
                return
            backend = load_backend(run.target_type)
            ctx = self._context(run)
            # (nothing goes to the log before the backend has read where it stands)
            execution = backend.attach(ctx) if isinstance(backend, Reattachable) else None
            self.log(f"re-attached: a new supervisor (pid {os.getpid()}) took the run over")
            if execution is None:
                self.store.set_status(
                    self.run_id, "lost", "its supervisor died and the run could not be found again"
                )
                return
            self.phase = "running"
            self.store.update_run(self.run_id, supervisor_pid=os.getpid())
            tracking = self.run_dir / "tracking.jsonl"
            self.resumable = ResumableStore(self.store, run.id, tracking)
            if skipped := self.resumable.resume():
                self.log(
                    f"{skipped} metric points were stored after the last saved offset: "
                    "they are not stored twice"
                )
            ingester = TrackingIngester(
                self.resumable.store, run.id, tracking, resume=True, log=self.log
            )
            self._watch_tensorboard(ctx, taken_over=True)
            self._follow(run, backend, ctx, execution, ingester)
        except RunLost as exc:
            self.log(f"lost: {exc.message}")
            self.store.set_status(self.run_id, "lost", exc.message)
        except Exception as exc:
            detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.log(f"error: {detail}")
            _write_traceback()
            self.store.set_status(self.run_id, "failed", detail)
        finally:
            self._cleanup()

    def _follow(
        self,
        run: Run,
        backend: Backend,
        ctx: RunContext,
        execution: Execution,
        ingester: TrackingIngester,
        started: Callable[[], None] | None = None,
    ) -> None:
        """Watch a started run to its end, ingesting, and record the outcome; `started`
        is called once the run has had its first poll to start (or once it ended)."""
        code = self._watch(execution, ingester, ctx.spec.cancel_grace_seconds, started)
        self._ingest(ingester)
        if ingester.bad_lines:
            self.log(f"{ingester.bad_lines} tracking records could not be read and were skipped")
        out = backend.finish(ctx)
        self._finish_tensorboard(ctx)
        self._keep_outputs(out)
        if code == EXIT_UNKNOWN:
            why = (
                "it ended while no supervisor was its parent, and its exit status was not "
                "recorded (the process that records it was killed too)"
            )
            status = "canceled" if self.cancel_requested else "failed"
            self.store.set_status(self.run_id, status, f"exit code unknown: {why}")
        elif self.cancel_requested:
            why = self._cancel_reason("canceled by the user")
            self.store.set_status(self.run_id, "canceled", why, exit_code=code)
        elif code == 0:
            self.store.set_status(self.run_id, "completed", None, exit_code=0)
        else:
            words = execution.exit_reason if isinstance(execution, WordsItsExit) else exit_reason
            why = words(code)
            last = last_log_line(self.log_path)
            self.store.set_status(
                self.run_id, "failed", f"{why}: {last}" if last else why, exit_code=code
            )

    def _cancel_reason(self, default: str, when: str = "") -> str:
        """Why the run was canceled: the line in `<run dir>/cancel` that whoever asked
        wrote there (a pruned sweep trial's), else `default`; `when` follows the default
        only (" while preparing")."""
        try:
            text = (self.run_dir / "cancel").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        line = text.strip().splitlines()[0].strip() if text.strip() else ""
        return line[:1000] if line else default + when

    def _watch(
        self,
        execution: Execution,
        ingester: TrackingIngester,
        grace: float,
        started: Callable[[], None] | None = None,
    ) -> int:
        from runyard.runner.runs import CancelRequests  # (from another machine, by the store)

        cancel_file = self.run_dir / "cancel"
        asked = CancelRequests(self.store, self.run_id, self.log)
        deadline: float | None = None
        while True:
            code = execution.wait(POLL_SECONDS)
            if started is not None:
                started()
                started = None
            if code is not None:
                return code
            if not self.cancel_requested and (cancel_file.exists() or asked()):
                self.cancel_requested = True
            if self.cancel_requested:
                if deadline is None:
                    self.log(f"canceling: SIGTERM sent, SIGKILL in {grace:g}s if still running")
                    execution.terminate()
                    deadline = time.monotonic() + grace
                elif time.monotonic() > deadline:
                    self.log("grace period over: SIGKILL sent")
                    execution.kill()
                    deadline = float("inf")
            self._ingest(ingester)
            self._poll_tensorboard()

    def _ingest(self, ingester: TrackingIngester) -> None:
        """Read what the run logged since the last call. Never the run's outcome: an
        error is a warning in the run's log, and reading goes on at the next poll."""
        try:
            ingester.poll()
            if self.resumable is not None:
                self.resumable.checkpoint(ingester.offset)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if error != self._ingest_error:
                self._ingest_error = error
                self.log(
                    f"warning: the run's tracking records could not be read into the store "
                    f"({error}); the run goes on, and they are read again at the next poll"
                )
                _write_traceback()

    def _keep_outputs(self, out: Path | None) -> None:
        """Move the outputs folder the backend left in the working copy to
        `<run dir>/outputs` and record its files as the run's artifacts.

        Never through a link: when the folder, or a folder above it in the working
        copy, is a link (a committed `outputs` -> a shared folder), nothing is kept;
        a link in the outputs that leads out of them (absolute, climbing out with
        `..`, to a folder elsewhere) is left behind. Each is named in the run's log,
        and what it points to is never touched (as a Docker run's copy-back)."""
        if out is None:
            return
        workdir = self.run_dir / "work"
        try:
            rel = out.relative_to(workdir)
        except ValueError:
            rel = Path(out.name)
        shown = rel.as_posix()
        for depth in range(1, len(rel.parts) + 1):
            folder = workdir.joinpath(*rel.parts[:depth])
            if folder.is_symlink():
                where = folder.relative_to(workdir).as_posix()
                self.log(
                    f"the outputs were not kept: {where} is a link to {os.readlink(folder)} "
                    f"(Runyard never follows a link out of the run's working copy); "
                    f"make {where} a folder to keep them"
                )
                return
        from runyard.core.artifacts import outputs_for_writing  # (the team's folder, if set)
        from runyard.core.project import Project

        dest = outputs_for_writing(Project(self.project_root), self.run_id, self.log)
        if dest.is_symlink():
            dest.unlink()  # (the link only, never what it points to)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(out), str(dest))
        left = self._drop_links_out(dest, shown)
        files: list[tuple[str, int]] = []
        for root, _dirs, names in os.walk(dest):
            for name in names:
                path = Path(root) / name
                if str(path) in left:
                    continue
                try:
                    files.append((path.relative_to(dest).as_posix(), path.lstat().st_size))
                except OSError:
                    continue
        self.store.set_artifacts(self.run_id, files, replace=True)

    def _drop_links_out(self, dest: Path, shown: str) -> set[str]:
        """Remove (the links only) each link in the kept outputs that resolves out of
        them, and name it in the run's log; links between their own files stay. The
        paths of those that could not be removed (never listed as artifacts)."""
        top = os.path.realpath(dest)
        left: set[str] = set()
        for root, dirs, names in os.walk(dest):
            for name in [*dirs, *names]:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    continue
                target = os.path.realpath(path)
                if target == top or target.startswith(top + os.sep):
                    continue
                entry = posixpath.join(shown, Path(path).relative_to(dest).as_posix())
                try:
                    link = os.readlink(path)
                    if not os.access(root, os.W_OK):  # a folder the run made read-only
                        os.chmod(root, os.stat(root).st_mode | 0o700)
                    os.unlink(path)
                except OSError as exc:
                    self.log(f"{entry} leads out of {shown}/ and is not an artifact: {exc}")
                    left.add(path)
                    continue
                if name in dirs:
                    dirs.remove(name)
                self.log(
                    f"{entry} was not kept: it is a link to {link}, out of {shown}/; "
                    f"the rest of {shown}/ was"
                )
        return left

    # ---- TensorBoard event files: scalars become metrics, the files stay with the run ----

    def _watch_tensorboard(self, ctx: RunContext, *, taken_over: bool = False) -> None:
        """Start watching the run's TensorBoard folder and, unless the job names one other
        than `logs`, the rest of its working copy (`tbimport.WorkingCopyImporter`), before
        the run starts, so the event files its snapshot brought along are known not to be
        the run's. Where they stand is saved in `TENSORBOARD_STATE` (`_save_tensorboard`);
        `taken_over`: a dead supervisor's run, whose importers go on from what it saved
        (without it, as at the start: the files there now are skipped)."""
        saved = self._saved_tensorboard() if taken_over else {}
        self._watch_importers(ctx, saved)
        self._save_tensorboard()

    def _saved_tensorboard(self) -> dict[str, Any]:
        try:
            data = json.loads((self.run_dir / TENSORBOARD_STATE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_tensorboard(self) -> None:
        """Write down where the importers stand (atomically); never the run's outcome."""
        state = {
            name: tb.state()
            for name, tb in (("watched", self.tensorboard), ("anywhere", self.tensorboard_anywhere))
            if tb is not None
        }
        if not state:
            return
        path = self.run_dir / TENSORBOARD_STATE
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(state))
            tmp.replace(path)
        except (OSError, ValueError) as exc:
            self.log(f"warning: where TensorBoard importing stands could not be saved: {exc}")

    def _watch_importers(self, ctx: RunContext, saved: dict[str, Any]) -> None:
        folder = posixpath.normpath(ctx.spec.tensorboard_dir or DEFAULT_DIR)
        if folder.startswith(("/", "../")) or folder == "..":
            self.log(f"tensorboard_dir {folder} is outside the working copy: not watched")
        else:
            try:
                self.tensorboard = TensorBoardImporter(
                    ctx.workdir / folder,
                    log=self.log,
                    skip_existing=True,
                    label=folder,
                    resume=saved.get("watched"),
                )
            except Exception as exc:  # never the run's outcome
                self.log(f"warning: TensorBoard event files in {folder}/ are not watched: {exc}")
                _write_traceback()
        if folder != DEFAULT_DIR:
            return  # (a job that names its folder says where the files are: only there)
        try:
            self.tensorboard_anywhere = WorkingCopyImporter(
                ctx.workdir,
                exclude=ctx.workdir / folder if self.tensorboard is not None else None,
                watched=self.tensorboard,
                log=self.log,
                skip_existing=True,
                resume=saved.get("anywhere"),
            )
        except Exception as exc:  # never the run's outcome
            self.log(f"warning: TensorBoard event files outside {folder}/ are not watched: {exc}")
            _write_traceback()

    def _poll_tensorboard(self, final: bool = False) -> None:
        """Import new scalars, about once a second (or now, with `final`)."""
        now = time.monotonic()
        if not final and now < self._tensorboard_next:
            return
        self._tensorboard_next = now + TENSORBOARD_POLL_SECONDS
        stored = 0
        for tb in (self.tensorboard, self.tensorboard_anywhere):
            if tb is None or tb.unavailable is not None:
                continue
            try:
                stored += tb.poll(self.store, self.run_id, final=final)
            except Exception as exc:  # never the run's outcome: stop importing, say why
                self.log(f"TensorBoard scalars could not be imported: {type(exc).__name__}: {exc}")
                _write_traceback()
                tb.unavailable = f"{type(exc).__name__}: {exc}"  # (its files are still kept)
        if stored:
            self._save_tensorboard()

    def _finish_tensorboard(self, ctx: RunContext) -> None:
        """After the end (and the backend brought the files back): import the rest, then
        keep the run's event files in `<run dir>/tensorboard` for TensorBoard."""
        try:
            self._keep_tensorboard(ctx)
        except Exception as exc:  # never the run's outcome
            self.log(f"warning: the TensorBoard event files could not be kept: {exc}")
            _write_traceback()

    def _keep_tensorboard(self, ctx: RunContext) -> None:
        self._poll_tensorboard(final=True)
        tb = self.tensorboard
        if tb is not None:
            self._keep_watched(ctx, tb)
        anywhere = self.tensorboard_anywhere
        if anywhere is None:
            return
        try:
            kept = anywhere.keep(self.run_dir / KEPT_FOLDER)
        except OSError as exc:
            self.log(f"could not keep the TensorBoard event files: {exc}")
            return
        if kept:
            files = f"{kept} event file{'s' if kept != 1 else ''}"
            folders = ", ".join(f"{f}/" for f in anywhere.folders())
            what = f"{anywhere.imported} scalar points ({len(anywhere.keys)} series) imported from {files}"
            self.log(
                f"TensorBoard: {what if anywhere.imported else files} in {folders}, "
                "kept with the run"
            )

    def _keep_watched(self, ctx: RunContext, tb: TensorBoardImporter) -> None:
        rel = posixpath.normpath(tb.root.relative_to(ctx.workdir).as_posix())
        outputs = posixpath.normpath(ctx.outputs)
        # A folder in the outputs (or holding them) stays where it is: copy the files.
        overlaps = "." in (rel, outputs) or rel == outputs or rel.startswith(outputs + "/")
        overlaps = overlaps or outputs.startswith(rel + "/")
        try:
            kept = tb.keep(self.run_dir / KEPT_FOLDER, copy=overlaps)
        except OSError as exc:
            self.log(f"could not keep the TensorBoard event files: {exc}")
            return
        if kept:
            files = f"{kept} event file{'s' if kept != 1 else ''}"
            what = f"{tb.imported} scalar points ({len(tb.keys)} series) imported from {files}"
            self.log(f"TensorBoard: {what if tb.imported else files} in {rel}/, kept with the run")

    def _cleanup(self) -> None:
        if not os.environ.get("RUNYARD_KEEP_WORKDIR"):
            shutil.rmtree(self.run_dir / "work", ignore_errors=True)
        os.close(self.log_fd)
        self.store.close()


def _forget_bundled_libs() -> None:
    """Keep the server's bundled libraries from the run (and everything else started
    from here): its own packages must not come after the server's pygls, attrs..."""
    bundled = os.environ.pop(BUNDLED_LIBS_VAR, None)
    if not bundled:
        return
    kept = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != bundled]
    if kept:
        os.environ["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        os.environ.pop("PYTHONPATH", None)


def _write_traceback() -> None:
    """The exception being handled, with where it happened, to the supervisor's log
    (stderr); `traceback` is imported only then, not on a run's way to its start."""
    import traceback

    sys.stderr.write(traceback.format_exc())


# ---- a fork server of supervisors: a sweep's, so that each trial's does not start an
# interpreter and import all of this again ------------------------------------------

FORKS = "--forks"  # python -m runyard.runner.supervisor --forks PROJECT_ROOT SOCKET_FD
PRELOADED = (  # what a (local) run's supervisor imports on its way, besides this module
    "runyard.targets.local",
    "runyard.core.envspecs",
    "runyard.core.freeze",
    "runyard.core.artifacts",
    "runyard.core.config.settings",
    "runyard.runner.runs",
    "uv",
)


def serve_forks(project_root: Path, sock_fd: int) -> int:
    """Serve `runs.SupervisorForks`: import what a run's supervisor needs once, then for
    each request on the socket (a line `[run id, spare]` with the run's lock and "go"
    descriptors) fork a supervisor, which starts as `main` would have in a process of
    its own: a session of its own, its output appended to `<run dir>/supervisor.log`,
    in the project folder; answer its pid. Ends when the socket closes (the sweep's
    supervisor is gone: its supervisors go on). Single-threaded, holding no store, so
    each fork starts from a clean state; ended supervisors are reaped as requests come."""
    import importlib
    import socket

    for name in PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    sock = socket.socket(fileno=sock_fd)
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 65536, 2)
        except OSError:
            return 0
        if not msg:
            return 0
        try:
            run_id, spare = json.loads(msg)
            lock_fd, go_fd = fds
            pid = _fork_supervisor(sock, project_root, str(run_id), lock_fd, go_fd, bool(spare))
        except Exception:
            _write_traceback()
            pid = 0
        finally:
            for fd in fds:
                os.close(fd)
        with contextlib.suppress(OSError):
            sock.sendall(f"{pid}\n".encode())
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass


def _fork_supervisor(
    sock: Any, project_root: Path, run_id: str, lock_fd: int, go_fd: int, spare: bool
) -> int:
    log = project_root / ".runyard" / "state" / "runs" / run_id / "supervisor.log"
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except BaseException:
        os.close(out)
        raise
    if pid:
        os.close(out)
        return pid
    code = 1
    try:  # the supervisor (the child): never returns
        sock.close()
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        os.chdir(project_root)
        args = [str(project_root), run_id, str(lock_fd), str(go_fd), *(["spare"] * spare)]
        code = main(args)
    except BaseException:
        with contextlib.suppress(BaseException):
            _write_traceback()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def main(argv: list[str]) -> int:
    _forget_bundled_libs()  # sys.path, set as this process started, keeps them
    if argv[0] == FORKS:
        return serve_forks(Path(argv[1]), int(argv[2]))
    project_root, run_id = Path(argv[0]), argv[1]
    lock_fd = int(argv[2])  # inherited, already locked by the submitter; held until we exit
    os.set_inheritable(lock_fd, False)
    try:
        if argv[3] == "attach":  # take over from a supervisor that died
            Supervisor(project_root, run_id).attach()
            return 0
        go_fd = int(argv[3])
        os.set_inheritable(go_fd, False)
        Supervisor(project_root, run_id).run(go_fd, spare=argv[4:] == ["spare"])
    except Exception:
        _write_traceback()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
