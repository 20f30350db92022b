"""The `local` target: the run is a subprocess on this machine, in a cached virtual
environment built from the project's dependency spec (uv where it is available, else
pip: `runyard.core.envs`), or in an interpreter the user names in the target file.
The environment's lock (its interpreter's version and installed distributions) is
recorded with the run (`env_lock`). In an environment Runyard built it is the lock
kept there (`envs.LOCK_CACHE`) while that still tells what the environment holds, so
no interpreter is started for it; else it is read in the background while the run
starts, by a process started after the run's and at the lowest CPU priority, so that
the two do not race for the CPU (the script's interpreter starts first), and kept
there for the next runs.

The script does not run as the supervisor's direct child but under a tiny wrapper
that leads the run's process group, waits for the script and writes its exit status
to `<run dir>/exit_code` (negative: the signal that killed it). The wrapper is a fork
of the supervisor (`spawn_wrapper`) that runs no more Python than a few system calls
and starts nothing of its own: no second interpreter starts before the script's, no
import of the run's or the server's happens in it, and it holds none of the
supervisor's descriptors (the supervisor's lock above all: a wrapper holding it would
keep a dead supervisor looking alive). The script itself is `posix_spawn`ed with the
run's environment (the bundled libraries never on its path), SIGTERM, SIGPIPE and
SIGXFSZ back at their default actions. The wrapper's pid and start time go to
`<run dir>/process.json` as it starts. With these a local run outlives its supervisor
like a container does: a new supervisor (`attach`) checks that the pid is still that
process (the start time in /proc, so a recycled pid is never signalled), polls it
until it ends (it is not its child), reads the exit status the wrapper recorded, and
signals the whole process group to cancel it. When the wrapper itself was killed,
nothing tells how the script ended: the run is recorded failed with the exit code
unknown (`EXIT_UNKNOWN`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from runyard.core import envs
from runyard.core.errors import RunyardError
from runyard.targets.base import EXIT_UNKNOWN, Check, RunContext
from runyard.targets.common import process_env
from runyard.targets.spec import LocalOptions

PROCESS_FILE = "process.json"  # in the run folder: the wrapper's pid and start time
EXIT_FILE = "exit_code"  # in the run folder: the script's exit status, from the wrapper
ADOPTED_POLL_SECONDS = 0.1

SPAWN_FAILED = 127  # the wrapper's exit status when the command could not be started


def spawn_wrapper(
    command: list[str], cwd: Path, env: dict[str, str], log_fd: int, exit_file: Path
) -> int:
    """Start the run's wrapper: a fork of this process, the leader of a new session and
    process group, that `posix_spawn`s `command` (stdin from /dev/null, stdout and
    stderr to `log_fd`), waits for it, records how it ended in `exit_file` (atomically)
    and exits with it (128 + n for signal n). Returns the wrapper's pid once the wrapper
    leads its group (a pipe says so), so that a cancel right after reaches the group.

    Everything the child needs is made before the fork; after it, the child makes only
    system calls (no import, no lock another thread may hold), then `os._exit`s."""
    args = [os.fsencode(a) for a in command]
    env_list = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    target, tmp = os.fsencode(exit_file), os.fsencode(f"{exit_file}.tmp")
    cwd_b, devnull = os.fsencode(cwd), os.fsencode(os.devnull)
    sigdef = (signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ)
    ignore, term = signal.SIG_IGN, {signal.SIGTERM}
    # SIGTERM held back over the fork: the child ignores it before it may arrive
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, term)
    ready, led = os.pipe()  # a byte once the wrapper leads its group: then it may be signalled
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(ready)
        os.close(led)
        raise
    if pid:
        os.close(led)
        try:
            os.read(ready, 1)  # (nothing: it ended before, and its status says how)
        finally:
            os.close(ready)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return pid
    code = SPAWN_FAILED
    try:  # the wrapper (the child): never returns
        gc.disable()  # no finalizer of the supervisor's objects runs here (a flush twice)
        # SIGTERM reaches the command through the group: the wrapper ignores it (the
        # command gets the default action back: an ignored signal stays ignored
        # across exec); SIGINT and SIGHUP as the supervisor left them
        signal.signal(signal.SIGTERM, ignore)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.setsid()
        os.close(ready)
        os.write(led, b".")
        os.close(led)
        fd = os.open(devnull, os.O_RDONLY)
        os.dup2(fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, MAXFD)
        try:
            os.chdir(cwd_b)
            child = os.posix_spawnp(args[0], args, env_list, setsigdef=sigdef)
        except OSError as exc:
            os.write(
                2,
                b"runyard: could not start %s: %s\n"
                % (args[0], os.fsencode(str(exc.strerror or exc))),
            )
        else:
            while True:
                try:
                    status = os.waitpid(child, 0)[1]
                    break
                except InterruptedError:
                    continue
            code = os.waitstatus_to_exitcode(status)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, str(code).encode())
        os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        pass
    finally:
        os._exit(code if code >= 0 else 128 - code)


def _maxfd() -> int:
    try:
        return max(int(os.sysconf("SC_OPEN_MAX")), 256)
    except (ValueError, OSError):
        return 256


MAXFD = _maxfd()


class Wrapper:
    """The run's wrapper as this supervisor sees its child: waited for without blocking."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = EXIT_UNKNOWN
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while (code := self.poll()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return code

    def signal_group(self, sig: int) -> None:
        """`sig` to the wrapper's process group (to the wrapper alone where the group
        may not be signalled); nothing when it is gone."""
        if self.returncode is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


def process_start(pid: int) -> str | None:
    """When process `pid` started, as an opaque token (None: no such live process, or
    a zombie). Compared with a recorded one, it tells a recycled pid from the same
    process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if Path("/proc/self/stat").exists():
            return None  # Linux: gone
        return _ps_start(pid)
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22 of proc_pid_stat(5): start time in clock ticks after boot


def _ps_start(pid: int) -> str | None:
    """`process_start` where there is no /proc (macOS, the BSDs)."""
    try:
        proc = subprocess.run(
            ["ps", "-o", "stat=,lstart=", "-p", str(pid)],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    state, _, start = proc.stdout.strip().partition(" ")
    if proc.returncode != 0 or not start or state.startswith("Z"):
        return None
    return " ".join(start.split())


def read_exit_code(run_dir: Path) -> int | None:
    """The script's exit status as its wrapper recorded it, if it did."""
    try:
        return int((run_dir / EXIT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


class LocalExecution:
    """The run's wrapper, a child of this supervisor."""

    def __init__(self, proc: Wrapper, run_dir: Path) -> None:
        self.proc = proc
        self.run_dir = run_dir
        self.pid: int | None = proc.pid

    def _code(self, wrapper_code: int | None) -> int | None:
        if wrapper_code is None:
            return None
        recorded = read_exit_code(self.run_dir)
        return wrapper_code if recorded is None else recorded  # none: the wrapper was killed

    def poll(self) -> int | None:
        return self._code(self.proc.poll())

    def wait(self, timeout: float) -> int | None:
        return self._code(self.proc.wait(timeout))

    def terminate(self) -> None:
        self.proc.signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self.proc.signal_group(signal.SIGKILL)


class AdoptedExecution:
    """A run's wrapper found again by a new supervisor. It is not this process's child,
    so it is polled; it is signalled only while its pid is still that process."""

    def __init__(self, pid: int, start: str, run_dir: Path) -> None:
        self.pid: int | None = pid
        self.start = start
        self.run_dir = run_dir

    def _alive(self) -> bool:
        return self.pid is not None and process_start(self.pid) == self.start

    def poll(self) -> int | None:
        code = read_exit_code(self.run_dir)
        if code is not None:
            return code
        if self._alive():
            return None
        code = read_exit_code(self.run_dir)  # written just before the wrapper ended?
        return EXIT_UNKNOWN if code is None else code

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.poll()
            left = deadline - time.monotonic()
            if code is not None or left <= 0:
                return code
            time.sleep(min(ADOPTED_POLL_SECONDS, left))

    def _signal_group(self, sig: int) -> None:
        if self.pid is not None and self._alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    def terminate(self) -> None:
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)


def prepare_env(ctx: RunContext) -> envs.Environment:
    """The run's Python on this machine: the target's own interpreter (`python:`), else
    a virtual environment built from the project's dependency spec (with uv where it is
    available, else pip: `runyard.core.envs`) and cached by its hash. Records the
    environment's hash on the run."""
    opts = LocalOptions.of(ctx.spec)
    if opts.python:
        env = envs.user_interpreter(opts.python)
        ctx.log(f"using the target's interpreter {env.python}")
    else:
        spec = envs.find_spec(ctx.workdir, ctx.spec.requirements)
        env = envs.ensure_env(
            ctx.envs_dir,
            spec,
            ctx.workdir,
            index_url=opts.index_url,
            system_site_packages=opts.system_site_packages,
            log=ctx.log,
            log_fd=ctx.log_fd,
        )
        if env.reused:
            ctx.log(f"environment {env.hash} (cached)")
    ctx.set_env_hash(env.hash)
    return env


def read_env_lock(ctx: RunContext, reader: envs.LockReader | None) -> envs.EnvLock | None:
    """The lock `reader` read in the background; None (said in the run's log) when the
    interpreter could not say."""
    if reader is None:
        return None
    try:
        return reader.result()
    except RunyardError as exc:
        ctx.log(f"the environment's packages could not be listed for the run's lock: {exc.message}")
        return None


class LocalBackend:
    # The supervisor asks for the lock once the run has had its first poll to start
    # (`_read_lock`), not as it starts.
    lock_later = True

    def __init__(self) -> None:
        self.python: Path | None = None
        self.prefix: Path | None = None
        self.lock_reader: envs.LockReader | None = None
        self.installer: str | None = None

    def prepare(self, ctx: RunContext) -> None:
        env = prepare_env(ctx)
        self.python = env.python
        self.prefix = env.prefix
        self.installer = env.installer

    def ahead(self) -> None:
        """Ready, while the submitter takes the snapshot, what `prepare` needs whatever
        the snapshot holds: the modules that read dependency files, and the installer
        choice (importing uv's locator), so the run's start does not wait for them."""
        from runyard.core import envspecs  # noqa: F401

        envs.find_uv()

    def env_lock(self, ctx: RunContext) -> envs.EnvLock | None:
        if self.lock_reader is None:
            self._read_lock(ctx)
        return read_env_lock(ctx, self.lock_reader)

    def command(self, ctx: RunContext) -> list[str]:
        assert self.python is not None
        return ctx.spec.argv(str(self.python))

    def start(self, ctx: RunContext) -> LocalExecution:
        env = process_env(ctx, self.prefix)
        exit_file = ctx.run_dir / EXIT_FILE
        exit_file.unlink(missing_ok=True)
        # its own process group, so cancel reaches children too
        proc = Wrapper(spawn_wrapper(self.command(ctx), ctx.workdir, env, ctx.log_fd, exit_file))
        self._record_process(ctx, proc.pid)
        return LocalExecution(proc, ctx.run_dir)

    def _read_lock(self, ctx: RunContext) -> None:
        """Start reading the environment's lock (`env_lock` collects it): asked once the
        run has started (the supervisor asks after the run's first poll, or at its end),
        the reader's process at the lowest priority, so that neither checking the kept
        lock nor listing the packages slows the script's interpreter as it starts."""
        if self.python is None:
            return
        try:
            self.lock_reader = envs.LockReader(self.python, self.installer, cache=self.prefix)
        except OSError as exc:  # the run has started: a line in its log, not its outcome
            ctx.log(f"the environment's packages could not be listed for the run's lock: {exc}")
        else:
            if self.lock_reader.proc is not None:
                with contextlib.suppress(OSError):  # (gone already: no matter)
                    os.setpriority(os.PRIO_PROCESS, self.lock_reader.proc.pid, 19)

    def _record_process(self, ctx: RunContext, pid: int) -> None:
        """Write down who the run's process is, for a supervisor that takes it over."""
        start = process_start(pid)
        path = ctx.run_dir / PROCESS_FILE
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"pid": pid, "start": start}))
            tmp.replace(path)
        except OSError as exc:
            ctx.log(f"could not record the run's process ({exc}): it cannot be taken over")

    def attach(self, ctx: RunContext) -> AdoptedExecution | None:
        """The run's process, found again from what `start` recorded; None when that
        cannot be known (nothing recorded, or no start time to check the pid against)."""
        try:
            info = json.loads((ctx.run_dir / PROCESS_FILE).read_text())
            pid, start = int(info["pid"]), info.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(start, str) or not start:
            if read_exit_code(ctx.run_dir) is None:
                return None  # no way to tell its pid from a recycled one
            start = ""  # it ended at once (how is recorded): never signalled
        execution = AdoptedExecution(pid, start, ctx.run_dir)
        ended = read_exit_code(ctx.run_dir) is not None or not execution._alive()
        ctx.log(f"the run's process group {pid} {'has ended' if ended else 'is still running'}")
        return execution

    def finish(self, ctx: RunContext) -> Path | None:
        out = ctx.workdir / ctx.outputs
        return out if out.is_dir() else None

    def check(self, options: dict[str, Any]) -> list[Check]:
        return check_local(options)


def check_local(options: dict[str, Any]) -> list[Check]:
    """`runyard target test` for a local target."""
    checks: list[Check] = []
    python = options.get("python")
    if python:
        found = shutil.which(str(python))
        if not found:
            return [
                Check(
                    "interpreter",
                    False,
                    f"{python} not found",
                    "fix `python:` in the target file, or remove it to let Runyard build environments",
                )
            ]
        checks.append(_python_version_check(found))
    else:
        base = envs.base_python()
        checks.append(_python_version_check(base))
        proc = subprocess.run(
            [base, "-c", "import venv, ensurepip"], capture_output=True, check=False, timeout=30
        )
        checks.append(
            Check(
                "venv",
                proc.returncode == 0,
                "can build virtual environments"
                if proc.returncode == 0
                else "venv/ensurepip missing",
                None
                if proc.returncode == 0
                else "install python3-venv (Debian: apt-get install python3-venv)",
            )
        )
    git = shutil.which("git")
    checks.append(
        Check(
            "git",
            git is not None,
            git or "not found (needed for run snapshots)",
            None if git else "install git (Debian: apt-get install git)",
        )
    )
    return checks


def _python_version_check(python: str) -> Check:
    try:
        proc = subprocess.run(
            [python, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError as exc:
        return Check("interpreter", False, f"{python}: {exc}", "fix the interpreter path")
    if proc.returncode != 0:
        return Check("interpreter", False, f"{python} does not start", "fix the interpreter path")
    return Check("interpreter", True, f"{python} (Python {proc.stdout.strip()})")
