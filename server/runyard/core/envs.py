"""Run environments: a virtual environment per dependency spec, built once and reused.

The key is a hash of the spec (requirements.txt, or pyproject.toml's dependencies),
the interpreter that builds it and the options that change what gets installed.
Builds go to a temporary folder and are renamed into place when they succeed, so a
crash never leaves a half-built environment in the cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runyard.core.errors import RunyardError, UsageError

ENV_FORMAT = "1"  # bump when the layout of a built environment changes


@dataclass(frozen=True)
class DependencySpec:
    """What a run needs installed. `kind` is "requirements", "pyproject" or "none"."""

    kind: str
    path: str | None  # relative to the project
    requirements: tuple[str, ...]  # pyproject dependencies; empty for requirements files
    content: bytes


def find_spec(workdir: Path, declared: str | None) -> DependencySpec:
    """The dependency spec of a project tree: the job's `requirements` if it names one,
    else `requirements.txt`, else `pyproject.toml`'s `[project].dependencies`."""
    if declared:
        path = workdir / declared
        if not path.is_file():
            raise UsageError(
                f"The job's dependency file {declared!r} is not in the run's snapshot.",
                hint="commit or create the file, or fix `requirements:` in the job",
            )
        candidates = [declared]
    else:
        candidates = [c for c in ("requirements.txt", "pyproject.toml") if (workdir / c).is_file()]
    if not candidates:
        return DependencySpec("none", None, (), b"")
    rel = candidates[0]
    content = (workdir / rel).read_bytes()
    if rel.endswith(".toml"):
        try:
            data = tomllib.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{rel}: not valid TOML ({exc}).", hint="fix the file") from exc
        deps = data.get("project", {}).get("dependencies", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise UsageError(
                f"{rel}: field 'project.dependencies' must be a list of strings.",
                hint='for example: dependencies = ["numpy>=1.26"]',
            )
        return DependencySpec("pyproject", rel, tuple(deps), json.dumps(deps).encode())
    return DependencySpec("requirements", rel, (), content)


def base_python() -> str:
    """The interpreter environments are built from: the one running Runyard."""
    return getattr(sys, "_base_executable", None) or sys.executable


def env_hash(spec: DependencySpec, python: str, index_url: str | None, system_site: bool) -> str:
    h = hashlib.sha256()
    for part in (
        ENV_FORMAT,
        spec.kind,
        python,
        sys.version,
        index_url or "",
        "system" if system_site else "isolated",
    ):
        h.update(part.encode() + b"\0")
    h.update(spec.content)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Environment:
    hash: str | None  # None for a user-managed interpreter
    python: Path
    prefix: Path | None  # the venv folder, if Runyard built it
    reused: bool


Log = Callable[[str], None]


def _run_logged(cmd: list[str], log_fd: int, cwd: Path, env: dict[str, str]) -> int:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd, check=False
    )
    return proc.returncode


def ensure_env(
    envs_dir: Path,
    spec: DependencySpec,
    workdir: Path,
    *,
    index_url: str | None,
    system_site_packages: bool,
    log: Log,
    log_fd: int,
) -> Environment:
    """Return the cached environment for `spec`, building it first if needed.

    Build output (pip's progress) goes to `log_fd`; `log` gets Runyard's own lines.
    """
    python = base_python()
    digest = env_hash(spec, python, index_url, system_site_packages)
    prefix = envs_dir / digest
    env_python = prefix / "bin" / "python"
    if (prefix / ".runyard-env.json").is_file():
        return Environment(digest, env_python, prefix, reused=True)
    envs_dir.mkdir(parents=True, exist_ok=True)
    with (envs_dir / f"{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building the same one
        if (prefix / ".runyard-env.json").is_file():
            return Environment(digest, env_python, prefix, reused=True)
        what = spec.path or "no dependency file"
        log(f"building environment {digest} from {what} (first time; reused afterwards)")
        started = time.monotonic()
        tmp = envs_dir / f".build-{digest}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        build_env = dict(os.environ)
        build_env.pop("PYTHONPATH", None)
        build_env.pop("VIRTUAL_ENV", None)
        build_env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        if index_url:
            build_env["PIP_INDEX_URL"] = index_url
        try:
            cmd = [python, "-m", "venv", str(tmp)]
            if spec.kind == "none":
                cmd.insert(3, "--without-pip")
            if system_site_packages:
                cmd.insert(3, "--system-site-packages")
            if _run_logged(cmd, log_fd, workdir, build_env) != 0:
                raise RunyardError(
                    f"Creating a virtual environment with {python} failed.",
                    hint="install the venv module (Debian: apt-get install python3-venv)",
                )
            tmp_python = str(tmp / "bin" / "python")
            install: list[str] | None = None
            if spec.kind == "requirements" and spec.path:
                install = ["-r", str(workdir / spec.path)]
            elif spec.kind == "pyproject" and spec.requirements:
                install = list(spec.requirements)
            if install:
                log(f"installing packages from {spec.path}")
                code = _run_logged(
                    [tmp_python, "-m", "pip", "install", "--progress-bar", "off", *install],
                    log_fd,
                    workdir,
                    build_env,
                )
                if code != 0:
                    raise RunyardError(
                        f"Installing the packages of {spec.path} failed (pip exit code {code}).",
                        hint="see the build output above in the run's log; fix the dependency file",
                    )
            (tmp / ".runyard-env.json").write_text(
                json.dumps({"spec": spec.path, "kind": spec.kind, "python": python}) + "\n"
            )
            # venv scripts hard-code their folder; the interpreter itself does not, so
            # the environment works from its final place after the rename.
            os.replace(tmp, prefix)
            _fix_venv_paths(prefix, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log(f"environment {digest} ready in {time.monotonic() - started:.1f}s")
        return Environment(digest, env_python, prefix, reused=False)


def _fix_venv_paths(prefix: Path, old: Path) -> None:
    """Point a renamed venv's activation scripts and entry points at its new folder."""
    old_b, new_b = str(old).encode(), str(prefix).encode()
    for path in [prefix / "pyvenv.cfg", *(prefix / "bin").iterdir()]:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old_b in data:
            path.write_bytes(data.replace(old_b, new_b))


def user_interpreter(python: str) -> Environment:
    """A user-managed interpreter named by the target: used as is."""
    found = shutil.which(python)
    if not found:
        raise UsageError(
            f"The target's interpreter {python!r} was not found.",
            hint="fix `python:` in the target file, or remove it to let Runyard build an environment",
        )
    return Environment(None, Path(found), None, reused=True)
