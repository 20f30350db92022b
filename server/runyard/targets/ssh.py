"""The `ssh` target: each run on another machine reached over SSH, with no Docker.

The remote machine needs only Python 3.8+ and a POSIX shell; everything Runyard does
there is a short Python program sent with the command, so neither `tar` nor SFTP is
needed. Those programs are the modules of `runyard.targets.remote` (standard library
only, Python 3.8 syntax), read as text with `importlib.resources`.

- Environment: a virtual environment under ``<workdir>/envs/<hash>``, built with the
  remote interpreter from the project's dependency spec, marked complete with a file
  written last, and reused by every run with the same spec and interpreter. Built
  with uv where the remote machine has it (the probe finds it: the interpreter's own
  `uv` package, PATH, ``~/.local/bin``, ``~/.cargo/bin``), from the sources the remote
  pip would use (`runyard.core.pip_sources`, run there), else with pip; a uv-built
  environment has "uv" in its hash. Its lock (`runyard.core.freeze`, run by the
  environment's interpreter there) comes in the same round trip that finds it cached,
  and is recorded with the run. Two specs that resolve to the same packages share one
  environment, as on this machine (`remote/build_env.py`): each is indexed there by
  the digest of what it holds (``envs/.by-lock/``); with uv, the spec is resolved there
  first (``uv pip compile``) and an environment of that set is shared through an alias
  (the spec's key a link to it), nothing built; after a build (pip), an environment of
  the same set already there takes its place the same way. `prune` (``prune_envs``)
  removes aliases first and keeps an environment a live run reaches through one.
- Execution: the snapshot (and Runyard's tracking client) go to
  ``<workdir>/runs/<run id>/`` as a tar stream over an SSH channel. That folder is
  private from its creation (umask 077: folders 0700, files 0600, modes in the stream
  masked to the owner's), since its ``spec.json`` holds the run's environment variables,
  secrets among them; the script itself runs with the login's usual umask. A small monitor,
  detached from the SSH connection, starts the script in a process group of its own,
  records its pid, its output in ``output.log``, its tracking records in
  ``tracking.jsonl``, and its exit code in ``exit`` when it ends. One SSH channel
  follows both files from byte offsets the run folder here keeps, so logs and metrics
  arrive live, and a new supervisor (after a crash, or a dropped connection) goes on
  exactly where the last one stopped.
- Cancel: SIGTERM to the script's process group, SIGKILL after the grace period.
- `outputs/` (and the TensorBoard folder) come back as a tar stream when the run ends,
  whatever the outcome, entry by entry like a Docker run's (`common.extract_outputs`):
  an absolute link, a link climbing out with `..`, a device or pipe is left behind and
  named in the run's log, the rest is kept, and nothing is written through a link of
  the working copy here.
- TensorBoard: unless the job names a folder other than `logs`, the event files the run
  wrote anywhere else in its working copy (`runs/exp1/`, `lightning_logs/version_0/`)
  come back too: `remote/tbfiles.py` lists them there (``os.scandir``, never through a
  link, the pruned folders of `common.EVENT_FILES_PRUNED` not entered), the ones
  `common.EventFilesBack` chooses (real files only, a link named in the log and left
  behind, not the snapshot's, at most `common.MAX_EVENT_FILES_MIB`) come back while
  the run runs (`common.LiveEventFiles`: every 5 s one `tbfiles` over a channel of the
  run's connection lists them and sends the bytes each followed file gained, opened
  folder by folder with ``O_NOFOLLOW``; appended here), and once more, until nothing
  more comes, when it ends. Not while it runs when the environment's lock names no
  writer of event files. The supervisor imports their scalars as they arrive, named
  as for a local run (`runner.tbimport`; `logs/` comes back at the end). Then the
  remote run folder is removed.
- What the backends share (the reconnect-or-lost loop and `LOST_AFTER`, the log
  cursor) is in `runyard.targets.common`; the typed target options in `SshOptions`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import posixpath
import shlex
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from runyard.core import envs
from runyard.core.errors import RunyardError
from runyard.targets import common, sshconn
from runyard.targets import remote as remote_programs
from runyard.targets.base import Check, RunContext, RunLost
from runyard.targets.spec import SshOptions

ENV_FORMAT = "1"  # bump when the layout of remote environments changes
MIN_PYTHON = (3, 8)
LOST_AFTER = common.LOST_AFTER  # the machine unreachable this long mid-run: the run is lost
READ_TIMEOUT = 20.0  # the follower sends a heartbeat every 5 s; silence this long: dropped
CURSOR_FILE = "remote-log.offset"

# ---------------------------------------------------------------- programs run remotely
# Each is a module of `runyard.targets.remote` (Python 3.8+, standard library only),
# sent as the argument of `python -c` (stdin stays free for data); the monitor is
# written into the run's folder instead.


def _py(python: str, program: str, *args: str) -> str:
    """The command line that runs the remote program `program` with `python`."""
    source = remote_programs.source(program)
    return " ".join(shlex.quote(a) for a in (python, "-c", source, *args))


# ---------------------------------------------------------------- one connection


class Remote:
    """A logged-in connection to the target's machine and what was learnt about it."""

    def __init__(self, options: SshOptions) -> None:
        self.options = options
        self.endpoint = sshconn.endpoint(options.raw, options.name)
        self.python = options.python
        self.client: Any = sshconn.connect(self.endpoint)
        self.info: dict[str, Any] | None = None

    @property
    def where(self) -> str:
        return self.endpoint.where

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    def open(self, command: str, timeout: float | None = None) -> Any:
        """A channel running `command` (stderr merged into stdout)."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionError("the SSH connection is closed")
        chan = transport.open_session(timeout=sshconn.CONNECT_TIMEOUT)
        chan.settimeout(timeout)
        chan.set_combine_stderr(True)
        chan.exec_command(command)
        return chan

    def run(self, command: str, data: bytes = b"", timeout: float = 60.0) -> tuple[int, bytes]:
        """Run `command` to its end: (exit status, output)."""
        chan = self.open(command, timeout)
        try:
            if data:
                chan.sendall(data)
            chan.shutdown_write()
            out = bytearray()
            while True:
                chunk = chan.recv(65536)
                if not chunk:
                    break
                out += chunk
            return int(chan.recv_exit_status()), bytes(out)
        finally:
            chan.close()

    def probe(self) -> dict[str, Any]:
        """The remote interpreter's version, venv support and the resolved workdir;
        RunyardError when the interpreter is missing or too old."""
        if self.info is not None:
            return self.info
        workdir = self.options.workdir
        code, out = self.run(_py(self.python, "probe", workdir), timeout=30)
        text = out.decode("utf-8", "replace").strip()
        if code == 127 or ("not found" in text and code != 0):
            raise RunyardError(
                f"{self.python} was not found on {self.endpoint.host}.",
                hint=f"install Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ there (Debian: apt-get "
                "install python3 python3-venv), or set `python:` in the target to its path",
            )
        try:
            info: dict[str, Any] = json.loads(text.splitlines()[-1])
        except (ValueError, IndexError):
            last = text.splitlines()[-1] if text else f"exit status {code}"
            raise RunyardError(
                f"{self.python} on {self.endpoint.host} could not run Runyard's probe: {last}",
                hint=f"Runyard needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ there; set "
                "`python:` in the target to a suitable interpreter",
            ) from None
        version = tuple(info["version"])
        if version < MIN_PYTHON:
            raise RunyardError(
                f"{self.python} on {self.endpoint.host} is Python "
                f"{'.'.join(map(str, version))}; Runyard needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+.",
                hint="install a newer Python there, or set `python:` in the target to one",
            )
        self.info = info
        return info

    @property
    def workdir(self) -> str:
        return str(self.probe()["workdir"])

    def run_dir(self, run_id: str) -> str:
        return posixpath.join(self.workdir, "runs", run_id)


@contextlib.contextmanager
def _ssh_errors(host: str, doing: str) -> Iterator[None]:
    """A dropped or stuck connection as one clear message."""
    try:
        yield
    except RunyardError:
        raise
    except (OSError, EOFError) as exc:
        raise RunyardError(
            f"Lost the connection to {host} {doing} ({type(exc).__name__}"
            + (f": {exc}" if str(exc) else "")
            + ").",
            hint="check the machine and the network (`runyard target test`), then submit again",
        ) from None
    except Exception as exc:
        if type(exc).__module__.startswith("paramiko"):
            raise RunyardError(
                f"SSH to {host} failed {doing}: {exc}.",
                hint="check the target with `runyard target test`, then submit again",
            ) from None
        raise


def _version(info: dict[str, Any]) -> str:
    return ".".join(str(v) for v in info["version"])


# ---------------------------------------------------------------- environments


def env_hash(
    spec: envs.DependencySpec,
    info: dict[str, Any],
    index_url: str | None,
    installer: str = "pip",
) -> str:
    """The remote environment's key; a uv-built one has "uv" in it (pip-built keys are
    what they always were: see `runyard.core.envs` on why the two are kept apart)."""
    h = hashlib.sha256()
    parts = [ENV_FORMAT, spec.kind, str(info["executable"]), _version(info), index_url or ""]
    if installer != "pip":
        parts.append(f"installer={installer}")
    for part in parts:
        h.update(part.encode() + b"\0")
    h.update(spec.content)
    return h.hexdigest()[:16]


def _requirements_text(spec: envs.DependencySpec) -> bytes:
    if spec.listed:
        return ("\n".join(spec.requirements) + "\n").encode()
    return spec.content


def remote_installer(remote: Remote) -> str | None:
    """The uv binary on the remote machine that builds its environments, or None for
    pip: its uv where the probe found one, unless RUNYARD_ENV_INSTALLER says pip (and
    an error where it says uv and there is none)."""
    choice = envs.installer_choice()
    uv = remote.probe().get("uv")
    if choice == "pip":
        return None
    if choice == "uv" and not uv:
        raise RunyardError(
            f"{envs.INSTALLER_VAR}=uv, but uv is not installed on {remote.endpoint.host}.",
            hint=f"install it there (pip install uv), or unset {envs.INSTALLER_VAR} to build "
            "with pip",
        )
    return str(uv) if uv else None


def _run_program(remote: Remote, command: str, timeout: float = 60) -> tuple[int, str]:
    code, out = remote.run(command, timeout=timeout)
    return code, out.decode("utf-8", "replace")


def _lock_command(python: str, marker: str) -> str:
    """What finds a built environment and lists what it holds, in one round trip: its
    marker (who built it) on the first line, then the lock (`runyard.core.freeze`)."""
    freeze = " ".join(shlex.quote(a) for a in envs.freeze_command(python, None))
    return f"cat {shlex.quote(marker)} && echo && {freeze}"


def ensure_env(remote: Remote, ctx: RunContext) -> tuple[str, str, envs.EnvLock | None]:
    """(env hash, the environment's python, its lock) on the remote, built first if
    needed. The lock is None (said in the run's log) when it cannot be read."""
    info = remote.probe()
    uv = remote_installer(remote)
    installer = "uv" if uv else "pip"
    if not uv and not info.get("venv"):
        raise RunyardError(
            f"{remote.python} on {remote.endpoint.host} cannot create virtual environments "
            "(the venv or ensurepip module is missing).",
            hint="install it there (Debian: apt-get install python3-venv), or uv (pip install uv)",
        )
    spec = envs.find_spec(ctx.workdir, ctx.spec.requirements)
    index_url = ctx.spec.index_url
    digest = env_hash(spec, info, index_url, installer)
    envs_dir = posixpath.join(remote.workdir, "envs")
    prefix = posixpath.join(envs_dir, digest)
    python = posixpath.join(prefix, "bin", "python")
    marker = posixpath.join(prefix, ".runyard-env.json")
    # one round trip: is it there, and what does it hold
    code, out = _run_program(remote, _lock_command(python, marker))
    if code == 0 or out.lstrip().startswith("{"):
        ctx.log(f"environment {digest} on {remote.endpoint.host} (cached)")
        return digest, python, _parse_lock(ctx, out if code == 0 else "")
    header: dict[str, Any] = {
        "index_url": index_url or None,
        "uv": uv,
        "spec_errors": list(envs.SPEC_ERRORS),
        "share": {"parts": [f"ssh-{ENV_FORMAT}"]},  # (shared by their lock: build_env)
    }
    if uv:
        header["uv_args"], header["uv_env"] = _remote_uv_options(remote, index_url)
        # uv resolves the spec there first: an environment of that set is shared, not built
        share = _py(remote.python, "build_env", envs_dir, digest, spec.kind, "share")
        code, tail = _build_program(remote, ctx, share, header, spec, show=False)
        if code in (3, 4):
            if code == 4:
                ctx.log(
                    f"environment {digest} on {remote.endpoint.host} resolves to the same "
                    f"packages as environment {_shared_with(tail)}: the two share it "
                    "(nothing built)"
                )
            else:
                ctx.log(f"environment {digest} on {remote.endpoint.host} (built meanwhile)")
            code, out = _run_program(remote, _lock_command(python, marker))
            return digest, python, _parse_lock(ctx, out if code == 0 else "")
    what = spec.path or "no dependency file"
    ctx.log(
        f"building environment {digest} on {remote.endpoint.host} from {what} with {installer} "
        "(first time; reused afterwards)"
    )
    started = time.monotonic()
    command = _py(remote.python, "build_env", envs_dir, digest, spec.kind)
    code, tail = _build_program(remote, ctx, command, header, spec)
    last = "\n".join([line for line in tail if line.strip()][-5:])
    if code == 4:
        ctx.log(
            f"environment {digest} on {remote.endpoint.host} holds the same packages as "
            f"environment {_shared_with(tail)}: the two share it"
        )
    elif code == 3:
        ctx.log(f"environment {digest} on {remote.endpoint.host} (built meanwhile by another run)")
    elif code == 10:
        raise RunyardError(
            f"Creating a virtual environment with {remote.python} on {remote.endpoint.host} "
            "failed" + (f":\n{last}" if last else "."),
            hint="install the venv module there (Debian: apt-get install python3-venv); the "
            "full output is in the run's log",
        )
    elif code == 11:
        fell_back = any("uv could not build the environment" in line for line in tail)
        used = "pip" if fell_back else installer
        error = envs.install_failure(spec, used, tail, code, where=remote.endpoint.host)
        raise RunyardError(
            error.message,
            hint=f"{error.hint}; or check the remote machine's access to the package index "
            "(`index_url:` in the target)",
        )
    elif code != 0:
        raise RunyardError(
            f"Building the environment on {remote.endpoint.host} failed (exit status {code})"
            + (f":\n{last}" if last else "."),
            hint="see the run's log",
        )
    else:
        ctx.log(f"environment {digest} ready in {time.monotonic() - started:.1f}s")
    code, out = _run_program(remote, _lock_command(python, marker))
    return digest, python, _parse_lock(ctx, out if code == 0 else "")


def _build_program(
    remote: Remote,
    ctx: RunContext,
    command: str,
    header: dict[str, Any],
    spec: envs.DependencySpec,
    show: bool = True,
) -> tuple[int, list[str]]:
    """Run `build_env` there (the header and requirements on its stdin); its exit
    status and last lines, its output written to the run's log as it comes (`show`)."""
    chan = remote.open(command, timeout=None)
    tail: list[str] = []
    try:
        chan.sendall(json.dumps(header).encode() + b"\n" + _requirements_text(spec))
        chan.shutdown_write()
        pending = b""
        while True:
            chunk = chan.recv(65536)
            if not chunk:
                break
            if show:
                with contextlib.suppress(OSError):
                    os.write(ctx.log_fd, chunk)
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            tail = (tail + [ln.decode("utf-8", "replace") for ln in lines])[-envs.TAIL_LINES :]
        if pending:
            tail = [*tail, pending.decode("utf-8", "replace")][-envs.TAIL_LINES :]
        return int(chan.recv_exit_status()), tail
    finally:
        chan.close()


def _shared_with(tail: list[str]) -> str:
    """The environment `build_env` made an alias of (its last line: ``shared <name>``)."""
    for line in reversed(tail):
        if line.startswith("shared "):
            return line.split(" ", 1)[1].strip()
    return "another"


def _remote_uv_options(remote: Remote, index_url: str | None) -> tuple[list[str], dict[str, str]]:
    """uv's arguments and variables for the sources the remote machine's pip would use
    (`runyard.core.pip_sources`, run there); the target's `index_url` wins over them."""
    source = envs.program_source("pip_sources")
    command = " ".join(shlex.quote(a) for a in (remote.python, "-c", source))
    code, out = _run_program(remote, command)
    try:
        if code != 0:
            raise ValueError(out.strip()[-300:])
        doc = json.loads(out.strip().splitlines()[-1])
        args = [str(a) for a in doc["args"]]
        env = {str(k): str(v) for k, v in doc["env"].items()}
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise RunyardError(
            f"Could not read pip's configuration on {remote.endpoint.host} ({exc}).",
            hint=f"set {envs.INSTALLER_VAR}=pip to build with pip there",
        ) from None
    if index_url:
        env["UV_INDEX_URL"] = index_url
    return args, env


def _parse_lock(ctx: RunContext, out: str) -> envs.EnvLock | None:
    """The lock `_lock_command` printed, with the installer its marker names."""
    try:
        lock = envs.EnvLock.from_json(out)
        marker = json.loads(out.strip().splitlines()[0])
        installer = str(marker.get("installer") or "pip")  # (older markers: pip built them)
        return dataclasses.replace(lock, installer=installer)  # (host facts kept)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        ctx.log(f"the environment's packages could not be listed for the run's lock ({exc})")
        return None


# ---------------------------------------------------------------- running


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class SshExecution(common.FollowedExecution):
    """A run on the remote machine: follows its output and tracking records, stops it."""

    pid: int | None = None  # a remote pid means nothing here

    def __init__(self, backend: SshBackend, ctx: RunContext, run_dir: str) -> None:
        self.backend = backend
        self.ctx = ctx
        self.run_dir = run_dir
        super().__init__()
        self.tracking = ctx.run_dir / "tracking.jsonl"
        # How much of the remote output.log is in the run's log here; tracking.jsonl
        # here is an exact copy of a prefix of the remote one, so its size says that.
        self.cursor_path = ctx.run_dir / CURSOR_FILE
        self.log_offset = common.read_cursor(self.cursor_path)
        self.lock = threading.Lock()
        self.follower = threading.Thread(target=self._follow, daemon=True)
        self.follower.start()

    @property
    def remote(self) -> Remote:
        assert self.backend.remote is not None
        return self.backend.remote

    def _tracking_offset(self) -> int:
        try:
            return self.tracking.stat().st_size
        except OSError:
            return 0

    def _follow(self) -> None:
        def step() -> bool:
            if self._follow_once():
                return True
            raise ConnectionError("the follower ended early")

        self.error = common.follow_until_lost(
            step,
            self._reconnect,
            self.ctx.log,
            lambda: self.remote.endpoint.host,
            detail=True,
            reconnected="reconnected to {where}; following the run again",
        )
        self.done.set()

    def _reconnect(self) -> bool:
        try:
            remote = Remote(self.remote.options)
            remote.info = self.remote.info
        except Exception:
            return False
        with self.lock:
            old, self.backend.remote = self.backend.remote, remote
        if old is not None:
            old.close()
        return True

    def _follow_once(self) -> bool:
        """Follow until the run ends (True) or the connection drops (an exception)."""
        remote = self.remote
        command = _py(
            remote.python,
            "follow",
            self.run_dir,
            str(self.log_offset),
            str(self._tracking_offset()),
        )
        chan = remote.open(command, timeout=READ_TIMEOUT)
        try:
            chan.shutdown_write()
            stream = chan.makefile("rb")
            while True:
                header = stream.readline()
                if not header:
                    return False
                kind, _, rest = header.decode("ascii", "replace").strip().partition(" ")
                if kind == "X":
                    self.code = int(rest)
                    return True
                size = int(rest or 0)
                data = stream.read(size) if size else b""
                if len(data) < size:
                    return False
                if kind == "L":
                    with contextlib.suppress(OSError):
                        os.write(self.ctx.log_fd, data)
                    self.log_offset += size
                    common.write_cursor(self.cursor_path, self.log_offset)
                elif kind == "T":
                    with self.tracking.open("ab") as f:
                        f.write(data)
                elif kind == "G":
                    raise RunLost(
                        f"its process on {remote.endpoint.host} is gone without an exit code "
                        "(the machine restarted, or its run folder was removed)"
                    )
        finally:
            chan.close()

    def _signal(self, name: str) -> None:
        pid_file = shlex.quote(posixpath.join(self.run_dir, "pid"))
        command = f'pid=$(cat {pid_file} 2>/dev/null) && kill -s {name} -- "-$pid"'
        for _attempt in range(2):
            try:
                self.remote.run(command, timeout=15)
                return
            except Exception as exc:
                self.ctx.log(f"could not send {name} on {self.remote.endpoint.host}: {exc}")
                self._reconnect()

    def terminate(self) -> None:
        self._signal("TERM")

    def kill(self) -> None:
        self._signal("KILL")


def _options(ctx: RunContext) -> SshOptions:
    return SshOptions.of(ctx.spec)


class SshBackend:
    def __init__(self) -> None:
        self.remote: Remote | None = None
        self.python: str | None = None
        self.execution: SshExecution | None = None
        self.lock: envs.EnvLock | None = None
        self.events: common.EventFilesBack | None = None  # event files coming back
        self.live: common.LiveEventFiles | None = None  # ... while the run runs

    def env_lock(self, ctx: RunContext) -> envs.EnvLock | None:
        return self.lock

    def prepare(self, ctx: RunContext) -> None:
        self.remote = Remote(_options(ctx))
        with _ssh_errors(self.remote.endpoint.host, "while preparing the run's environment"):
            self._prepare(ctx)

    def _prepare(self, ctx: RunContext) -> None:
        assert self.remote is not None
        info = self.remote.probe()
        ctx.log(
            f"connected to {self.remote.where} (Python {_version(info)} at {info['executable']})"
        )
        if not info.get("writable"):
            raise RunyardError(
                f"The target's workdir {info['workdir']} on {self.remote.endpoint.host} is not "
                f"writable ({info.get('workdir_error', 'permission denied')}).",
                hint="fix `workdir:` in the target file, or the folder's permissions there",
            )
        digest, self.python, self.lock = ensure_env(self.remote, ctx)
        ctx.set_env_hash(digest)

    def _spec(self, ctx: RunContext, run_dir: str) -> dict[str, Any]:
        assert self.python is not None
        prefix = posixpath.dirname(posixpath.dirname(self.python))
        env = ctx.spec.user_env()
        env.update(
            {
                "RUNYARD_RUN_ID": ctx.run_id,
                "RUNYARD_EXPERIMENT": ctx.env.get("RUNYARD_EXPERIMENT", ""),
                "RUNYARD_TRACKING_URI": PurePosixPath(run_dir, "tracking.jsonl").as_uri(),
                "RUNYARD_OUTPUTS": posixpath.join(run_dir, "work", ctx.outputs),
                "PYTHONPATH": posixpath.join(run_dir, "lib"),
                "PYTHONUNBUFFERED": "1",
                "VIRTUAL_ENV": prefix,
            }
        )
        command = ctx.spec.argv(self.python)
        return {"env": env, "command": command, "path_prefix": posixpath.join(prefix, "bin")}

    def start(self, ctx: RunContext) -> SshExecution:
        assert self.remote is not None
        with _ssh_errors(self.remote.endpoint.host, "while starting the run"):
            return self._start(ctx)

    def _start(self, ctx: RunContext) -> SshExecution:
        remote = self.remote
        assert remote is not None
        run_dir = remote.run_dir(ctx.run_id)
        spec = json.dumps(self._spec(ctx, run_dir), indent=1).encode()
        chan = remote.open(  # 0700 from the start: no moment where others can look in
            f"umask 077 && mkdir -p {shlex.quote(run_dir)} && chmod 700 {shlex.quote(run_dir)} "
            "&& " + _py(remote.python, "extract", run_dir),
            timeout=120,
        )
        try:
            with chan.makefile_stdin("wb") as stdin, tarfile.open(fileobj=stdin, mode="w|") as tar:
                tar.add(str(ctx.workdir), arcname="work", filter=_clean)
                if (ctx.run_dir / "lib").is_dir():
                    tar.add(str(ctx.run_dir / "lib"), arcname="lib", filter=_clean)
                _add_bytes(
                    tar, "monitor.py", remote_programs.source("monitor").encode(), mode=0o600
                )
                _add_bytes(tar, "spec.json", spec, mode=0o600)
            chan.shutdown_write()
            out = b""
            while chunk := chan.recv(65536):
                out += chunk
            code = chan.recv_exit_status()
        finally:
            chan.close()
        if code != 0:
            text = out.decode("utf-8", "replace").strip().splitlines()
            raise RunyardError(
                f"Copying the run's snapshot to {run_dir} on {remote.endpoint.host} failed"
                + (f": {text[-1]}" if text else f" (exit status {code})."),
                hint="check the free space and permissions of the target's workdir there",
            )
        launch = (  # (nothing may keep the channel's output open: it would wait for the run)
            f"cd {shlex.quote(run_dir)} || exit 1; u=$(umask); umask 077; nohup "
            f'{shlex.quote(remote.python)} monitor.py "$u" </dev/null >monitor.log 2>&1 &'
        )
        remote.run(launch, timeout=30)
        pid_file = shlex.quote(posixpath.join(run_dir, "pid"))
        exit_file = shlex.quote(posixpath.join(run_dir, "exit"))
        deadline = time.monotonic() + 10
        while True:
            code, out = remote.run(
                f"cat {pid_file} 2>/dev/null || cat {exit_file} 2>/dev/null", timeout=15
            )
            if code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if code != 0:
            _, log = remote.run(f"tail -n 5 {shlex.quote(run_dir)}/monitor.log", timeout=15)
            raise RunyardError(
                f"The run did not start on {remote.endpoint.host}: "
                + (log.decode("utf-8", "replace").strip() or "no pid after 10 s"),
                hint="see the run's log",
            )
        ctx.log(f"started in {run_dir} on {remote.where}")
        self.execution = SshExecution(self, ctx, run_dir)
        self._follow_event_files(ctx, run_dir)
        return self.execution

    def _follow_event_files(self, ctx: RunContext, run_dir: str) -> None:
        """Bring the run's event files back while it runs (`common.LiveEventFiles`),
        unless the job names its TensorBoard folder or the environment's lock names no
        writer of event files (then only the end looks)."""
        self.events = common.EventFilesBack(ctx)
        if not self.events.enabled:
            return
        if self.lock is not None and not common.may_write_event_files(
            name for name, _version in self.lock.packages
        ):
            return
        work = posixpath.join(run_dir, "work")
        assert self.remote is not None
        execution = self.execution
        assert execution is not None
        self.live = common.LiveEventFiles(
            self.events,
            lambda conf: self._look(work, conf),
            self.remote.endpoint.host,
            running=lambda: not execution.done.is_set(),
        ).start()

    @contextlib.contextmanager
    def _look(self, work: str, conf: dict[str, object]) -> Iterator[IO[bytes]]:
        """`remote/tbfiles.py` run there with `conf`: its output as a stream."""
        remote = self.remote
        assert remote is not None
        chan = remote.open(_py(remote.python, "tbfiles", work, json.dumps(conf)), timeout=120)
        try:
            chan.shutdown_write()
            yield chan.makefile("rb")
            code = chan.recv_exit_status()
            if code != 0:
                raise RunyardError(f"the event files' scanner ended with exit status {code}")
        finally:
            chan.close()

    def attach(self, ctx: RunContext) -> SshExecution | None:
        """Find the run's folder on the remote machine again and follow it from the
        offsets the run folder here recorded."""
        try:
            self.remote = Remote(_options(ctx))
        except RunyardError as exc:
            raise RunLost(f"its machine cannot be reached again: {exc.message}") from None
        with _ssh_errors(self.remote.endpoint.host, "while finding the run again"):
            run_dir = self.remote.run_dir(ctx.run_id)
            code, _ = self.remote.run(f"test -d {shlex.quote(run_dir)}", timeout=30)
        if code != 0:
            return None
        ctx.log(f"following the run in {run_dir} on {self.remote.where} again")
        self.execution = SshExecution(self, ctx, run_dir)
        self._follow_event_files(ctx, run_dir)
        return self.execution

    def finish(self, ctx: RunContext) -> Path | None:
        remote = self.remote
        if remote is None or self.execution is None:
            return None
        run_dir = self.execution.run_dir
        wanted = {posixpath.normpath(ctx.outputs): "outputs"}
        logs = common.tensorboard_folder(ctx.spec.tensorboard_dir, ctx.outputs)
        if logs is not None:  # for the supervisor to import (and keep) its scalars
            wanted[logs] = "the TensorBoard event files"
        work = posixpath.join(run_dir, "work")
        try:
            try:
                self._fetch(remote, ctx, work, wanted)
            except Exception as exc:
                ctx.log(f"could not copy the outputs back from {remote.endpoint.host}: {exc}")
                return None
            try:
                self._event_files_back(ctx, work)
            except Exception as exc:  # never the run's outcome, nor its outputs
                ctx.log(
                    f"could not copy the TensorBoard event files back from "
                    f"{remote.endpoint.host}: {exc}"
                )
        finally:
            with contextlib.suppress(Exception):
                remote.run(f"rm -rf {shlex.quote(run_dir)}", timeout=60)
            remote.close()
        dest = ctx.workdir / ctx.outputs
        return dest if dest.is_dir() and not dest.is_symlink() else None

    def _fetch(self, remote: Remote, ctx: RunContext, work: str, wanted: dict[str, str]) -> None:
        """The `wanted` folders of the remote working copy into this one, entry by entry,
        never through a link (`common.extract_outputs`)."""
        tops: dict[str, str] = {}
        for rel, what in wanted.items():
            if common.route_is_safe(ctx.workdir, rel, ctx.log, what):
                common.clear_destination(ctx.workdir / rel)
                tops[rel] = rel
        if not tops:
            return
        chan = remote.open(_py(remote.python, "pack", work, *tops), timeout=120)
        try:
            chan.shutdown_write()
            stream: IO[bytes] = chan.makefile("rb")
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                common.extract_outputs(tar, ctx.workdir, tops, ctx.log)
        finally:
            chan.close()

    def _event_files_back(self, ctx: RunContext, work: str) -> None:
        """The rest of the event files the run wrote anywhere else in its working copy,
        for the supervisor to import (`common.EventFilesBack`): the live copy's last
        looks, until nothing more comes (the bytes each file gained, and files not
        seen before), by `tbfiles` there (never through a link)."""
        live = self.live
        if live is None:
            back = self.events or common.EventFilesBack(ctx)
            if not back.enabled:
                return
            host = self.remote.endpoint.host if self.remote is not None else "the remote machine"
            live = common.LiveEventFiles(back, lambda conf: self._look(work, conf), host)
        live.finish(final=True)
        live.back.done()
        if self.live is not None and live.back.written:
            ctx.log(live.summary())

    def check(self, options: dict[str, Any]) -> list[Check]:
        return check_ssh(options)

    def ssh_host(self, options: dict[str, Any]) -> tuple[str, int]:
        ep = sshconn.endpoint(options)
        return ep.host, ep.port


def prune(options: dict[str, Any], keep: set[str], ended: list[str]) -> tuple[list[str], list[str]]:
    """Clear the target's machine: its cached environments except `keep` (those of live
    runs), any being built and any a process there runs from; and the folders the
    `ended` runs left there (a run marked lost while the machine was away), unless
    something of theirs still runs. The removed environments and run folders."""
    remote = Remote(SshOptions.from_target(options))
    try:
        with _ssh_errors(remote.endpoint.host, "while pruning"):
            envs_dir = posixpath.join(remote.workdir, "envs")
            removed = _remote_json(remote, "prune_envs", envs_dir, json.dumps(sorted(keep)))
            runs_dir = posixpath.join(remote.workdir, "runs")
            folders = _remote_json(remote, "prune_runs", runs_dir, json.dumps(sorted(ended)))
        return removed, folders
    finally:
        remote.close()


def _remote_json(remote: Remote, program: str, folder: str, arg: str) -> list[str]:
    """Run a pruning program over `folder` on the remote; the names it printed."""
    code, out = remote.run(_py(remote.python, program, folder, arg), timeout=300)
    text = out.decode("utf-8", "replace").strip()
    try:
        if code != 0:
            raise ValueError(text)
        return [str(name) for name in json.loads(text.splitlines()[-1])]
    except (ValueError, IndexError):
        last = text.splitlines()[-1] if text else f"exit status {code}"
        raise RunyardError(
            f"Could not prune {folder} on {remote.endpoint.host}: {last}",
            hint="check the workdir's permissions there",
        ) from None


def check_ssh(options: dict[str, Any]) -> list[Check]:
    """`runyard target test` for an ssh target."""
    try:
        remote = Remote(SshOptions.from_target(options))
    except RunyardError as exc:
        return [Check("connection", False, exc.message, exc.hint)]
    checks: list[Check] = []
    try:
        transport = remote.client.get_transport()
        server = transport.remote_version if transport is not None else "SSH"
        checks.append(Check("connection", True, f"{remote.where} ({server})"))
        try:
            info = remote.probe()
        except (RunyardError, OSError) as exc:
            message = getattr(exc, "message", str(exc))
            return [*checks, Check("python", False, message, getattr(exc, "hint", None))]
        checks.append(
            Check(
                "python", True, f"{remote.python}: Python {_version(info)} ({info['executable']})"
            )
        )
        checks.append(
            Check(
                "venv",
                bool(info.get("venv")),
                "can build virtual environments"
                if info.get("venv")
                else "the venv/ensurepip module is missing",
                None
                if info.get("venv")
                else "install it on the remote machine (Debian: apt-get install python3-venv)",
            )
        )
        checks.append(
            Check(
                "workdir",
                bool(info.get("writable")),
                str(info["workdir"])
                if info.get("writable")
                else f"{info['workdir']} is not writable ({info.get('workdir_error', 'permission denied')})",
                None if info.get("writable") else "fix `workdir:` in the target file",
            )
        )
    finally:
        remote.close()
    return checks


def trust_host_key(options: dict[str, Any], expected: str | None) -> tuple[str, str, bool]:
    ep = sshconn.endpoint(options)
    return sshconn.trust_host_key(ep.host, ep.port, expected)
