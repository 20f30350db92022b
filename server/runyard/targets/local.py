"""The `local` target: the run is a subprocess on this machine, in a cached virtual
environment built from the project's dependency spec, or in an interpreter the user
names in the target file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from runyard.core import envs
from runyard.targets.base import Check, RunContext


class LocalExecution:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid: int | None = proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            self.proc.send_signal(sig)

    def terminate(self) -> None:
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)


def prepare_env(ctx: RunContext) -> envs.Environment:
    """The run's Python on this machine: the target's own interpreter (`python:`), else
    a virtual environment built from the project's dependency spec and cached by its
    hash. Records the environment's hash on the run."""
    opts = ctx.options
    if opts.get("python"):
        env = envs.user_interpreter(str(opts["python"]))
        ctx.log(f"using the target's interpreter {env.python}")
    else:
        spec = envs.find_spec(ctx.workdir, opts.get("requirements"))
        env = envs.ensure_env(
            ctx.envs_dir,
            spec,
            ctx.workdir,
            index_url=opts.get("index_url"),
            system_site_packages=bool(opts.get("system_site_packages")),
            log=ctx.log,
            log_fd=ctx.log_fd,
        )
        if env.reused:
            ctx.log(f"environment {env.hash} (cached)")
    ctx.set_env_hash(env.hash)
    return env


class LocalBackend:
    def __init__(self) -> None:
        self.python: Path | None = None
        self.prefix: Path | None = None

    def prepare(self, ctx: RunContext) -> None:
        env = prepare_env(ctx)
        self.python = env.python
        self.prefix = env.prefix

    def command(self, ctx: RunContext) -> list[str]:
        assert self.python is not None
        opts = ctx.options
        if opts.get("module"):
            return [str(self.python), "-m", str(opts["module"]), *opts.get("args", [])]
        return [str(self.python), str(opts["script"]), *opts.get("args", [])]

    def start(self, ctx: RunContext) -> LocalExecution:
        env = dict(os.environ)
        for name in ("PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
            env.pop(name, None)
        env.update({str(k): str(v) for k, v in ctx.options.get("target_env", {}).items()})
        env.update({str(k): str(v) for k, v in ctx.options.get("env", {}).items()})
        env.update(ctx.env)
        if self.prefix is not None:
            env["VIRTUAL_ENV"] = str(self.prefix)
            env["PATH"] = f"{self.prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        proc = subprocess.Popen(
            self.command(ctx),
            cwd=ctx.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=ctx.log_fd,
            stderr=ctx.log_fd,
            start_new_session=True,  # its own process group, so cancel reaches children too
        )
        return LocalExecution(proc)

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
