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
- The lock of a run's environment (`LocksEnvironment`): a backend that can say what
  the environment it prepared holds (`runyard.core.envs.EnvLock`) answers `env_lock`;
  the supervisor asks once the run has started (a backend may read it meanwhile) and
  records it with the run.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

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
    Runyard's own (`ctx.env`); the run's virtual environment `prefix` first on PATH."""
    env = dict(os.environ)
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
