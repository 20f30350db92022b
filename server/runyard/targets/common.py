"""What the backends share: one copy of the pieces every target type needs.

- Process groups: a run's process leads a group of its own (`start_new_session`), so a
  cancel reaches its children too (`signal_group`).
- Reconnect or lost (`FollowedExecution`, `follow_until_lost`, `LOST_AFTER`): a backend whose run lives
  elsewhere (a container, a remote machine) follows it over a connection that may drop.
  It retries, reconnecting every 2 s, and the run is `lost` only when its machine or
  engine stayed unreachable for more than `LOST_AFTER` seconds. The first drop is said
  once in the run's log.
- Log cursors (`read_cursor`, `write_cursor`): how far a follower got (a container
  log's last timestamp, a remote log's byte offset) is kept in the run folder, written
  atomically, so whoever follows next (after a dropped connection, or a new supervisor)
  goes on exactly after it.
- Copy-back (`extract_outputs`): the outputs that come back from a run's machine as a
  tar stream are unpacked entry by entry. One that would land or point outside its
  folder (an absolute link, a link climbing out with `..`), or a device, pipe or other
  special file, is left behind and named in the run's log, and the rest is kept (one bad
  entry must not cost all the outputs of a run). Nothing is written through a link of
  the working copy.
- The environment of a run's process on this machine (`process_env`: local and Spark
  runs); the user's own variables (the target's, then the job's) and the command line
  are `RunSpec.user_env` and `RunSpec.argv` (`runyard.targets.spec`), for every backend.
- TensorBoard event files written anywhere in a remote run's working copy
  (`EventFilesBack`): the Docker, SSH and Ray targets bring back the job's
  `tensorboard_dir` (`tensorboard_folder`) and the outputs whole; unless the job names a
  folder other than `logs` (`tensorboard_anywhere`), each also lists the event files the
  run wrote elsewhere in its working copy, on the run's machine, without following a
  link (`EVENT_FILES_PRUNED` folders never entered), and `EventFilesBack` says which come
  back: real files only (a link named like an event file is named in the run's log and
  left behind), not those the snapshot brought along (already here: not the run's), at
  most `MAX_EVENT_FILES_MIB` together (the rest named in the log); each lands at its
  path in the working copy here, as a new file, through real folders only (a link on
  the way: left behind, said). The supervisor's `runner.tbimport.WorkingCopyImporter`
  finds them there, names their scalars by its rule and keeps the files, as for a
  local run. Docker and SSH bring them back while the run runs (`LiveEventFiles`:
  every `EVENT_FILES_POLL_SECONDS`, one look with the scanner of `remote/tbfiles.py`
  there, which also sends the bytes each followed file gained; they are appended
  here, each file's progress kept in the run folder, `EVENT_FILES_STATE`, for a
  supervisor taking over), so their scalars arrive live; the rest comes when the run
  ends. Ray sends what each file gained on the job's log while it runs (the same
  offsets and progress file, through `EventFilesBack`), and `logs/` comes back whole
  at the end on all of them.
- The lock of a run's environment (`LocksEnvironment`): a backend that can say what
  the environment it prepared holds (`runyard.core.envs.EnvLock`) answers `env_lock`;
  the supervisor asks once the run has started (a backend may read it meanwhile) and
  records it with the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import stat
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from runyard.core.envs import EnvLock
from runyard.targets.base import RunContext, RunLost

LOST_AFTER = 60.0  # seconds a machine or engine may stay unreachable mid-run before lost
RETRY_SECONDS = 2.0


@runtime_checkable
class LocksEnvironment(Protocol):
    """A backend that knows what the environment it prepared holds."""

    def env_lock(self, ctx: RunContext) -> EnvLock | None:
        """The run's lock, after `prepare` (and `start`): the interpreter's version and
        every installed distribution. None when it could not be read (said in the
        run's log): the run goes on without one."""


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """`sig` to the process group `proc` leads (to `proc` alone where the group may not
    be signalled); nothing when it is gone."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        proc.send_signal(sig)


def process_env(ctx: RunContext, prefix: Path | None) -> dict[str, str]:
    """The environment of a run's process on this machine: this process's, less what
    would lead Python elsewhere; the user's variables (the target's, then the job's);
    Runyard's own (`ctx.env`); the run's virtual environment `prefix` first on PATH. A
    password in RUNYARD_STORE_URL stays with the supervisor: the run's code never needs
    it (its points go through the tracking file)."""
    from runyard.core.store import run_env_without_store_password

    env = run_env_without_store_password(dict(os.environ))
    for name in ("PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(ctx.spec.user_env())
    env.update(ctx.env)
    if prefix is not None:
        env["VIRTUAL_ENV"] = str(prefix)
        env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def read_cursor(path: Path) -> int:
    """A follower's position kept in the run folder; 0 when none was kept."""
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def write_cursor(path: Path, value: int) -> None:
    """Keep a follower's position, atomically; a full disk only costs a re-read."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(str(value))
        tmp.replace(path)


class FollowedExecution:
    """An execution whose end a thread of its own watches (a container's wait, a remote
    follower): it sets `done` when the run ended (`code`) or was lost (`error`, raised
    to the supervisor by `wait`)."""

    pid: int | None = None  # (no process of this machine)

    def __init__(self) -> None:
        self.code: int | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def _before_outcome(self) -> None:
        """Called as the outcome is handed over (to let the last output arrive first)."""

    def poll(self) -> int | None:
        return self.wait(0)

    def wait(self, timeout: float) -> int | None:
        if not self.done.wait(timeout):
            return None
        if self.error is not None:
            raise self.error
        self._before_outcome()
        return self.code


def follow_until_lost(
    step: Callable[[], bool],
    reconnect: Callable[[], bool],
    log: Callable[[str], None],
    where: Callable[[], str],
    *,
    detail: bool = False,
    reconnected: str | None = None,
) -> RunLost | None:
    """Call `step` until it returns True (the run was followed to its end). An exception
    from it is a dropped connection: said once in the log ("lost the connection to
    <where>", with the exception's text too when `detail`), then `reconnect` is tried
    every `RETRY_SECONDS`. With `reconnected`, a reconnect that worked is logged with
    it and starts the clock again; without, the clock runs from the first drop. A
    `RunLost` from `step` ends the following at once. Returns the `RunLost` that ended
    it, or None."""
    unreachable_since: float | None = None
    while True:
        try:
            if step():
                return None
        except RunLost as exc:
            return exc
        except Exception as exc:
            now = time.monotonic()
            name = type(exc).__name__
            if unreachable_since is None:
                unreachable_since = now
                why = f"{name}: {exc}" if detail else name
                log(f"lost the connection to {where()} ({why}); retrying for {LOST_AFTER:.0f}s")
            if now - unreachable_since > LOST_AFTER:
                return RunLost(
                    f"{where()} was unreachable for more than {LOST_AFTER:.0f}s ({name})"
                )
            time.sleep(RETRY_SECONDS)
            if reconnect() and reconnected is not None:
                unreachable_since = None
                log(reconnected.format(where=where()))


def extract_outputs(
    tar: tarfile.TarFile,
    root: Path,
    tops: dict[str, str],
    log: Callable[[str], None],
) -> None:
    """Unpack a tar stream of a run's outputs into `root`, entry by entry.

    `tops` maps each top-level name the archive may hold to the folder it is, as the
    user knows it (for the log: `outputs`, `models/best`). An entry outside them, a
    link that leads out of its top (absolute, or climbing out with `..`), a device, a
    pipe, is left behind and named in the run's log; the rest is kept."""

    def top_of(name: str) -> str | None:
        return next((t for t in tops if name == t or name.startswith(t + "/")), None)

    def skip(name: str, why: str) -> None:
        name = name.rstrip("/")
        top = top_of(name)
        if top is None:  # (said from where the first folder lies)
            rel = next(iter(tops.values()))
            shown = posixpath.join(posixpath.dirname(rel), name)
        else:
            rel = tops[top]
            shown = rel + name[len(top) :]
        log(f"{shown} was not copied back: {why}; the rest of {rel}/ was")

    def inside(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        name = member.name.rstrip("/")
        top = top_of(name)
        if top is None:
            skip(name, f"its path leads out of {next(iter(tops.values()))}/")
            return None
        rel = tops[top]
        if member.issym() or member.islnk():
            link = member.linkname
            if member.issym():  # relative to its folder, from `top` down
                start = posixpath.relpath(posixpath.dirname(name) or top, top)
                target = posixpath.normpath(posixpath.join(start, link))
            else:  # a hard link names an entry of the archive
                target = posixpath.relpath(posixpath.normpath(link or "/"), top)
            if name == top or link.startswith("/") or target.split("/")[0] == "..":
                skip(name, f"it is a link to {link}, out of {rel}/")
                return None
        try:
            return tarfile.data_filter(member, path)
        except tarfile.SpecialFileError:
            skip(name, "it is a device, pipe or other special file")
        except tarfile.FilterError:
            skip(name, f"its path would lead out of {rel}/")
        return None

    for member in tar:
        try:
            tar.extract(member, root, filter=inside)
        except (OSError, tarfile.TarError, KeyError) as exc:
            skip(member.name, f"{type(exc).__name__}: {exc}")


def route_is_safe(workdir: Path, rel: str, log: Callable[[str], None], what: str) -> bool:
    """False (and said in the log) when a folder on the way to `rel` in the working copy
    is a link: what comes back would be written through it."""
    dest = workdir / rel
    for folder in reversed(dest.parents[: len(Path(rel).parts) - 1]):
        if folder.is_symlink():
            where = folder.relative_to(workdir).as_posix()
            log(f"could not copy {what} back: {where} is a link in the working copy")
            return False
    return True


def clear_destination(dest: Path) -> None:
    """Make room for a folder coming back: a link is removed (the link only, never what
    it points to), a folder with all it holds."""
    if dest.is_symlink():
        dest.unlink()
    else:
        shutil.rmtree(dest, ignore_errors=True)


def tensorboard_folder(tensorboard_dir: str, outputs: str) -> str | None:
    """The run's TensorBoard folder, to bring back beside the outputs for the supervisor
    to import (and keep) its scalars; None when the outputs hold it, or it is not inside
    the working copy."""
    outputs = posixpath.normpath(outputs)
    logs = posixpath.normpath(tensorboard_dir or "logs")
    inside = logs == outputs or logs.startswith(outputs + "/")
    if inside or logs == "." or logs.startswith(("/", "../")) or logs == "..":
        return None
    return logs


# ---- TensorBoard event files written anywhere in a remote run's working copy ----------

TENSORBOARD_DIR = "logs"  # the job's `tensorboard_dir` when it names none
EVENT_FILE_MARK = "tfevents"  # in the name of every event file (TensorBoard's own test)
# Folders of a working copy that hold no run's event files: never scanned.
EVENT_FILES_PRUNED = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".runyard",
        "__pycache__",
        "node_modules",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)
MAX_EVENT_FILES_MIB = 256  # event files from outside `logs/` brought back per run, at most
EVENT_FILES_POLL_SECONDS = 5.0  # while a remote run runs, what grew comes back this often
EVENT_FILES_COST_RATIO = 20.0  # ... or less often: a look takes at most 1/20th of the time
EVENT_FILES_CALL_BYTES = 32 << 20  # at most this much per look (the rest: the next one)
EVENT_FILES_STATE = "event-files.json"  # in the run folder: each followed file's bytes here


# Distributions one of which an environment needs to write event files: TensorBoard's
# own writer (which PyTorch's, Lightning's, Keras' and Flax's use), tensorboardX,
# TensorFlow's `tf.summary` (any of its builds), MXNet's mxboard.
EVENT_FILE_WRITERS = ("tensorboard", "tensorflow", "tf-nightly", "mxboard")


def may_write_event_files(packages: Iterable[str]) -> bool:
    """Whether an environment holding these distributions (normalized names) has a
    writer of event files (`EVENT_FILE_WRITERS`, `tensorboardx` among them)."""
    return any(name.startswith(EVENT_FILE_WRITERS) for name in packages)


def is_event_file(name: str) -> bool:
    """Whether a file name is a TensorBoard event file (TensorBoard's own test)."""
    return EVENT_FILE_MARK in name


def tensorboard_anywhere(tensorboard_dir: str | None) -> bool:
    """Whether event files written anywhere in the working copy are the run's: unless
    the job names a folder other than `logs` (then they are there, and only there)."""
    return posixpath.normpath(tensorboard_dir or TENSORBOARD_DIR) == TENSORBOARD_DIR


def event_file_folders(workdir: Path, rel: str, log: Callable[[str], None]) -> bool:
    """Each folder on the way to the event file `rel` made in `workdir` as a real folder;
    False, said in the run's log, where a link or a file is in the way (nothing is ever
    written through a link)."""
    folder = workdir
    for part in rel.split("/")[:-1]:
        folder = folder / part
        try:
            os.mkdir(folder)
        except FileExistsError:
            if folder.is_symlink() or not folder.is_dir():
                shown = folder.relative_to(workdir).as_posix()
                log(
                    f"the TensorBoard event file {rel} was not copied back: {shown} is "
                    "a link or a file in the working copy"
                )
                return False
    return True


class EventFilesBack:
    """Which event files a remote run wrote outside its TensorBoard folder and outputs
    come back into the working copy here, and their landing (module docstring).

    A backend lists what the run's machine has (`scan_conf` tells a scanner there what
    to leave out), asks `wanted` of each path, `admit` with its size and link target,
    writes the admitted ones with `write`, and calls `done` at the end."""

    def __init__(self, ctx: RunContext, limit_bytes: int = MAX_EVENT_FILES_MIB << 20) -> None:
        self.workdir = ctx.workdir
        self.log = ctx.log
        self.limit = limit_bytes
        self.enabled = tensorboard_anywhere(ctx.spec.tensorboard_dir)
        # brought back whole, or read where they are: never twice
        self.skip = sorted({posixpath.normpath(ctx.outputs), TENSORBOARD_DIR})
        self.total = 0  # bytes admitted so far
        self.sizes: dict[str, int] = {}  # admitted path -> its size as listed
        self.written: list[str] = []
        self.over: list[str] = []  # left behind: past the limit
        # Files coming back bit by bit while the run runs (`LiveEventFiles`): how many
        # bytes of each are here. Kept in the run folder, so a supervisor taking over
        # goes on appending to them instead of taking them for the snapshot's.
        self.state_path = ctx.run_dir / EVENT_FILES_STATE
        self.following: dict[str, int] = {}
        self.stopped: set[str] = set()  # followed once, no longer (said in the log)
        self._load_state()

    def scan_conf(self) -> dict[str, object]:
        """What a scanner on the run's machine leaves out (`remote/tbfiles.py`)."""
        return {"mark": EVENT_FILE_MARK, "pruned": sorted(EVENT_FILES_PRUNED), "skip": self.skip}

    def wanted(self, rel: str) -> bool:
        """Whether a path of the remote working copy may be one of the run's event files:
        named like one, in no pruned folder, outside the outputs and `logs/`, through
        real folders here, and not here already (the snapshot brought it along)."""
        rel = posixpath.normpath(rel)
        parts = rel.split("/")
        if not self.enabled or rel.startswith("/") or ".." in parts or rel == ".":
            return False
        if not is_event_file(parts[-1]) or any(p in EVENT_FILES_PRUNED for p in parts[:-1]):
            return False
        if any(rel == s or rel.startswith(s + "/") for s in self.skip):
            return False
        if not route_is_safe(self.workdir, rel, self.log, f"the TensorBoard event file {rel}"):
            return False
        return not os.path.lexists(self.workdir / rel)

    def admit(self, rel: str, size: int, link: str | None = None) -> bool:
        """Whether a wanted path comes back: a real file within the limit. A link is said
        in the run's log (never followed), a file past the limit is counted for `done`."""
        rel = posixpath.normpath(rel)
        if link is not None:
            self.log(
                f"{rel} is a link (to {link}): not followed, not imported and not kept with the run"
            )
            return False
        if self.total + size > self.limit:
            self.over.append(rel)
            return False
        self.total += size
        self.sizes[rel] = size
        return True

    def left_behind(self, rel: str) -> None:
        """A wanted file the run's machine kept back for the limit (said by `done`)."""
        self.over.append(posixpath.normpath(rel))

    def write(self, rel: str, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bool:
        """Write an admitted file's archive entry at `rel` (`write_from`)."""
        source = tar.extractfile(member) if member.isreg() else None
        return self.write_from(rel, source, member.size)

    def write_from(self, rel: str, source: IO[bytes] | None, size: int) -> bool:
        """Write an admitted file at `rel` in the working copy from `source` (None: not a
        regular file) of `size` bytes: no bigger than admitted, created new, each folder
        on the way created as a real folder (a link or file there: left behind, said)."""
        rel = posixpath.normpath(rel)
        admitted = self.sizes.get(rel)
        if admitted is None or source is None or size > admitted:
            why = (
                "it was not chosen"
                if admitted is None
                else "it is not a regular file"
                if source is None
                else "it grew past its size"
            )
            self.log(f"the TensorBoard event file {rel} was not copied back: {why}")
            return False
        if not event_file_folders(self.workdir, rel, self.log):
            return False
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.workdir / rel, flags, 0o644)
        except OSError as exc:
            self.log(f"the TensorBoard event file {rel} was not copied back: {exc}")
            return False
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        self.written.append(rel)
        return True

    # ---- followed while the run runs: only what grew comes back -------------------------

    def _load_state(self) -> None:
        try:
            saved = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return
        for rel, size in dict(saved).items() if isinstance(saved, dict) else ():
            try:
                info = os.lstat(self.workdir / rel)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size == size:
                self.following[rel] = int(size)
                self.total += int(size)
                self.written.append(rel)

    def _save_state(self) -> None:
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(self.following))
            tmp.replace(self.state_path)

    def follow_conf(self, listing: bool, budget: int) -> dict[str, object]:
        """What the scanner is asked for (`remote/tbfiles.py`): the listing (or not), the
        followed files' next bytes, at most `budget` of them."""
        follow = [[rel, size] for rel, size in sorted(self.following.items())]
        return {**self.scan_conf(), "list": listing, "follow": follow, "budget": budget}

    @property
    def room(self) -> int:
        """Bytes of event files that may still come back."""
        return max(self.limit - self.total, 0)

    def _stop(self, rel: str, why: str) -> None:
        self.following.pop(rel, None)
        self.stopped.add(rel)
        self._save_state()
        self.log(f"the TensorBoard event file {rel} is no longer copied back: {why}")

    def start_following(self, rel: str, size: int, link: str | None) -> bool:
        """Whether a listed path not yet followed starts coming back: `wanted`, a real
        file (a link is said in the log), within the limit as listed."""
        rel = posixpath.normpath(rel)
        if rel in self.following or rel in self.stopped:
            return False
        if not self.wanted(rel):
            self.stopped.add(rel)  # (asked once: a reason is said once)
            return False
        if link is not None:
            self.stopped.add(rel)
            return self.admit(rel, size, link)  # (said, and False)
        if self.total + size > self.limit:
            self.stopped.add(rel)
            self.over.append(rel)
            return False
        self.following[rel] = 0
        return True

    def check_listed(self, rel: str, size: int, link: str | None) -> None:
        """After a round: a followed file now a link, or holding more than the limit
        lets come back, is no longer followed (said)."""
        rel = posixpath.normpath(rel)
        have = self.following.get(rel)
        if have is None:
            return
        if link is not None:
            self._stop(rel, f"it became a link (to {link}); what came back before is kept")
        elif size - have > self.room:
            self.following.pop(rel, None)
            self.stopped.add(rel)
            self.over.append(rel)
            self._save_state()

    def append(self, rel: str, offset: int, source: IO[bytes], count: int) -> int:
        """The next `count` bytes of a followed file, from `source`: written at `offset`
        of the file here (created new, through real folders only, when `offset` is 0),
        only when that is where this file's copy ends. Returns the bytes written; what
        could not be written is read from `source` all the same (it is one stream)."""
        rel = posixpath.normpath(rel)
        have = self.following.get(rel)
        if have is not None and count < 0:  # (the scanner: shorter than `offset` there)
            self._stop(rel, f"it is shorter than the {have} bytes that came back (rewritten?)")
            return 0
        if have is None or offset != have or count > self.room:
            _discard(source, count)
            return 0
        path = self.workdir / rel
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        if offset == 0:
            if not event_file_folders(self.workdir, rel, self.log):
                _discard(source, count)
                self.following.pop(rel, None)
                self.stopped.add(rel)
                return 0
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow
        else:
            flags = os.O_WRONLY | os.O_APPEND | nofollow
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            _discard(source, count)
            self._stop(rel, str(exc))
            return 0
        written = 0
        with os.fdopen(fd, "wb") as out:
            if os.fstat(out.fileno()).st_size != offset or not stat.S_ISREG(
                os.fstat(out.fileno()).st_mode
            ):
                _discard(source, count)
                self._stop(rel, "its copy here was changed meanwhile")
                return 0
            while written < count:
                chunk = source.read(min(count - written, 1 << 20))
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
        self.following[rel] = offset + written
        self.total += written
        if offset == 0 and written and rel not in self.written:
            self.written.append(rel)
        self._save_state()
        return written

    def done(self) -> None:
        """Say what the limit left behind, once."""
        if not self.over:
            return
        count = len(self.over)
        first = ", ".join(self.over[:3]) + (", ..." if count > 3 else "")
        self.log(
            f"{count} TensorBoard event file{'s' * (count != 1)} not copied back ({first}): "
            f"at most {_amount(self.limit)} of event files "
            f"come back from outside {TENSORBOARD_DIR}/ and the outputs; write them into "
            f"{TENSORBOARD_DIR}/ (brought back whole) to have them imported"
        )


class LiveEventFiles:
    """Event files of a run on another machine brought back while it runs: every
    `EVENT_FILES_POLL_SECONDS` (or `EVENT_FILES_COST_RATIO` times what the last look
    took, when that is longer) one look (`look`: the scanner of `remote/tbfiles.py`
    run there, its output as a stream) lists the working copy there and sends the
    bytes the followed files gained since the last look; a file seen for the first time
    and chosen by `EventFilesBack`'s rules starts coming back in a second call of the
    same look. The bytes are appended to the file's copy here, where the supervisor's
    `runner.tbimport.WorkingCopyImporter` reads them as for a local run (its record
    reader stops before a record not yet whole). At most `EVENT_FILES_CALL_BYTES` per
    call; a look that fails is said once, and three in a row end the live copy (the
    files still come back when the run ends). `finish` stops the thread and, with
    `final`, looks again until nothing more comes (the ssh target; a Docker
    container has ended by then and is read by its engine instead)."""

    def __init__(
        self,
        back: EventFilesBack,
        look: Callable[[dict[str, object]], contextlib.AbstractContextManager[IO[bytes]]],
        where: str,
        running: Callable[[], bool] = lambda: True,
    ) -> None:
        self.back = back
        self.look = look
        self.where = where
        self.running = running  # False once the run ended: a failed look is then not said
        self.stop = threading.Event()
        self.mutex = threading.Lock()
        self.looks = 0
        self.seconds = 0.0  # spent looking, in all
        self.moved = 0  # bytes brought back
        self.failures = 0
        self.thread: threading.Thread | None = None

    def start(self) -> LiveEventFiles:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def _loop(self) -> None:
        wait = EVENT_FILES_POLL_SECONDS
        while not self.stop.wait(wait):
            try:
                started = time.monotonic()
                self.round()
                # never more than 1/EVENT_FILES_COST_RATIO of the time spent looking
                cost = time.monotonic() - started
                wait = max(EVENT_FILES_POLL_SECONDS, EVENT_FILES_COST_RATIO * cost)
            except Exception as exc:
                if self.stop.wait(1) or not self.running():
                    return  # (the run ended meanwhile: what is left comes with its end)
                self.failures += 1
                if self.failures == 1:
                    self.back.log(
                        f"could not look for TensorBoard event files on {self.where} while "
                        f"the run runs ({type(exc).__name__}: {exc}); trying again"
                    )
                if self.failures >= 3:
                    self.back.log(
                        "TensorBoard event files are not copied back while the run runs: "
                        "they come back when it ends"
                    )
                    return
            else:
                self.failures = 0

    def round(self) -> int:
        """One look; the bytes it brought back."""
        back = self.back
        with self.mutex:
            started = time.monotonic()
            listing, moved = self._call(back.follow_conf(True, self._budget()))
            new = [str(rel) for rel, size, link in listing if back.start_following(rel, size, link)]
            if new:
                conf = back.follow_conf(False, self._budget())
                conf["follow"] = [[rel, 0] for rel in new]
                moved += self._call(conf)[1]
            for rel, size, link in listing:
                back.check_listed(str(rel), int(size), link)
            self.looks += 1
            self.seconds += time.monotonic() - started
            self.moved += moved
            return moved

    def _budget(self) -> int:
        return min(self.back.room, EVENT_FILES_CALL_BYTES)

    def _call(self, conf: dict[str, object]) -> tuple[list[list[Any]], int]:
        moved = 0
        with self.look(conf) as stream:
            line = stream.readline()
            head = json.loads(line) if line.strip() else None
            if not isinstance(head, dict):
                raise ValueError(f"the scanner answered {line[:200]!r}")
            while True:
                line = stream.readline()
                if not line.strip():
                    break
                rel, offset, count = json.loads(line)
                moved += self.back.append(str(rel), int(offset), stream, int(count))
        return list(head.get("files") or []), moved

    def finish(self, final: bool) -> None:
        """Stop looking while the run runs; with `final`, look until nothing more comes."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=60)
        if final:
            for _ in range(MAX_EVENT_FILES_MIB * (1 << 20) // EVENT_FILES_CALL_BYTES + 2):
                if self.round() == 0:
                    break

    def summary(self) -> str:
        """One line for the run's log: what the looks cost."""
        return (
            f"TensorBoard event files: {self.looks} look{'s' * (self.looks != 1)} on "
            f"{self.where} ({self.seconds:.2f} s in all), {_amount(self.moved)} copied back"
        )


def _discard(source: IO[bytes], count: int) -> None:
    while count > 0:
        chunk = source.read(min(count, 1 << 20))
        if not chunk:
            return
        count -= len(chunk)


def _amount(size: int) -> str:
    return f"{size / (1 << 20):g} MiB" if size >= 1 << 20 else f"{size} bytes"
