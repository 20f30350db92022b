"""The per-run supervisor: a small detached process that owns one run's lifecycle.

It is started by whoever submits the run (the CLI or the language server), in a
session of its own, so the run goes on when that client exits or is interrupted.
It holds an exclusive lock on `<run dir>/supervisor.lock` for as long as it lives:
anyone who can take that lock while the run is still live knows the supervisor is
gone, and starts one that takes the run over (below), or marks the run `lost` when
it cannot be found again.

    python -m runyard.runner.supervisor PROJECT_ROOT RUN_ID LOCK_FD GO_FD
    python -m runyard.runner.supervisor PROJECT_ROOT RUN_ID LOCK_FD attach

It is started before the run's snapshot is taken, so its own start-up overlaps the
submitter's work; it begins the run when it reads "go" from GO_FD, and exits
quietly if the pipe closes without it (the submitter recorded why).

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
import os
import posixpath
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from runyard.core.store import Run, Store
from runyard.runner.ingest import TrackingIngester
from runyard.runner.ingest_resume import ResumableStore
from runyard.runner.tbimport import DEFAULT_DIR, KEPT_FOLDER, TensorBoardImporter
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
# Set by the packaged extension's bootstrap (bundled/runyard_server.py) to the folder of
# the server's own libraries, which it also puts first on PYTHONPATH.
BUNDLED_LIBS_VAR = "RUNYARD_BUNDLED_LIBS"


class Canceled(Exception):
    pass


def last_log_line(log_path: Path) -> str | None:
    """The last non-empty line of a log, for failure reasons."""
    try:
        with log_path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            tail = f.read()
    except OSError:
        return None
    for raw in reversed(tail.splitlines()):
        line = raw.decode("utf-8", "replace").strip()
        if line and not line.startswith("[runyard]"):
            return line if len(line) <= 240 else line[:237] + "..."
    return None


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
        self.tensorboard: TensorBoardImporter | None = None
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

    def run(self, go_fd: int) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        # Ready what does not depend on the snapshot while the submitter takes it.
        backend: Backend | None = None
        with contextlib.suppress(Exception):  # any problem shows again, and is recorded, below
            backend = load_backend(self.store.get_run(self.run_id).target_type)
        go = b""
        with contextlib.suppress(OSError):
            while len(go) < 2:
                chunk = os.read(go_fd, 2 - len(go))
                if not chunk:
                    break
                go += chunk
        os.close(go_fd)
        if go != b"go":
            self._cleanup()
            return  # the submission failed before the run could start
        try:
            run = self.store.get_run(self.run_id)
            if (self.run_dir / "cancel").exists() or not run.live:
                self.store.set_status(self.run_id, "canceled", "canceled before it started")
                return
            self._run(run, backend or load_backend(run.target_type))
        except Canceled:
            self.log("canceled while preparing")
            self.store.set_status(self.run_id, "canceled", "canceled by the user while preparing")
        except RunLost as exc:
            self.log(f"lost: {exc.message}")
            self.store.set_status(self.run_id, "lost", exc.message)
        except Exception as exc:
            detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            hint = getattr(exc, "hint", None)
            self.log(f"error: {detail}" + (f" ({hint})" if hint else ""))
            with contextlib.suppress(OSError):  # a full disk must not hide the status below
                sys.stderr.write(traceback.format_exc())
            self.store.set_status(self.run_id, "failed", detail)
        finally:
            self._cleanup()

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
        self._record_lock(backend, ctx)
        self.resumable = ResumableStore(self.store, run.id, tracking)
        ingester = TrackingIngester(self.resumable.store, run.id, tracking, log=self.log)
        self._follow(run, backend, ctx, execution, ingester)

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
                    self.run_id, lock.python, lock.packages, installer=lock.installer
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
            self._watch_tensorboard(ctx)
            self._follow(run, backend, ctx, execution, ingester)
        except RunLost as exc:
            self.log(f"lost: {exc.message}")
            self.store.set_status(self.run_id, "lost", exc.message)
        except Exception as exc:
            detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.log(f"error: {detail}")
            sys.stderr.write(traceback.format_exc())
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
    ) -> None:
        """Watch a started run to its end, ingesting, and record the outcome."""
        code = self._watch(execution, ingester, ctx.spec.cancel_grace_seconds)
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
            self.store.set_status(self.run_id, "canceled", "canceled by the user", exit_code=code)
        elif code == 0:
            self.store.set_status(self.run_id, "completed", None, exit_code=0)
        else:
            words = execution.exit_reason if isinstance(execution, WordsItsExit) else exit_reason
            why = words(code)
            last = last_log_line(self.log_path)
            self.store.set_status(
                self.run_id, "failed", f"{why}: {last}" if last else why, exit_code=code
            )

    def _watch(self, execution: Execution, ingester: TrackingIngester, grace: float) -> int:
        cancel_file = self.run_dir / "cancel"
        deadline: float | None = None
        while True:
            code = execution.wait(POLL_SECONDS)
            if code is not None:
                return code
            if not self.cancel_requested and cancel_file.exists():
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
                sys.stderr.write(traceback.format_exc())

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
        dest = self.run_dir / "outputs"
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

    def _watch_tensorboard(self, ctx: RunContext) -> None:
        """Start watching the run's TensorBoard folder (before the run starts, so the
        event files its snapshot brought along are known not to be the run's)."""
        folder = posixpath.normpath(ctx.spec.tensorboard_dir or DEFAULT_DIR)
        if folder.startswith(("/", "../")) or folder == "..":
            self.log(f"tensorboard_dir {folder} is outside the working copy: not watched")
            return
        try:
            self.tensorboard = TensorBoardImporter(
                ctx.workdir / folder, log=self.log, skip_existing=True, label=folder
            )
        except Exception as exc:  # never the run's outcome
            self.log(f"warning: TensorBoard event files in {folder}/ are not watched: {exc}")
            sys.stderr.write(traceback.format_exc())

    def _poll_tensorboard(self, final: bool = False) -> None:
        """Import new scalars, about once a second (or now, with `final`)."""
        tb = self.tensorboard
        now = time.monotonic()
        if tb is None or (not final and now < self._tensorboard_next):
            return
        self._tensorboard_next = now + TENSORBOARD_POLL_SECONDS
        try:
            tb.poll(self.store, self.run_id)
        except Exception as exc:  # never the run's outcome: stop importing, say why
            self.log(f"TensorBoard scalars could not be imported: {type(exc).__name__}: {exc}")
            sys.stderr.write(traceback.format_exc())
            tb.unavailable = f"{type(exc).__name__}: {exc}"  # (its files are still kept)

    def _finish_tensorboard(self, ctx: RunContext) -> None:
        """After the end (and the backend brought the files back): import the rest, then
        keep the run's event files in `<run dir>/tensorboard` for TensorBoard."""
        try:
            self._keep_tensorboard(ctx)
        except Exception as exc:  # never the run's outcome
            self.log(f"warning: the TensorBoard event files could not be kept: {exc}")
            sys.stderr.write(traceback.format_exc())

    def _keep_tensorboard(self, ctx: RunContext) -> None:
        self._poll_tensorboard(final=True)
        tb = self.tensorboard
        if tb is None:
            return
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


def main(argv: list[str]) -> int:
    _forget_bundled_libs()  # sys.path, set as this process started, keeps them
    project_root, run_id = Path(argv[0]), argv[1]
    lock_fd = int(argv[2])  # inherited, already locked by the submitter; held until we exit
    os.set_inheritable(lock_fd, False)
    try:
        if argv[3] == "attach":  # take over from a supervisor that died
            Supervisor(project_root, run_id).attach()
            return 0
        go_fd = int(argv[3])
        os.set_inheritable(go_fd, False)
        Supervisor(project_root, run_id).run(go_fd)
    except Exception:
        sys.stderr.write(traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
