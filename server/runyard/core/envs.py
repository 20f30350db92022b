"""Run environments: a virtual environment per dependency spec, built once and reused,
and the lock of what one holds.

The key is a hash of the spec (requirements.txt, or pyproject.toml's dependencies),
the interpreter that builds it, the options that change what gets installed, and the
installer. Builds go to a temporary folder and are renamed into place when they
succeed, so a crash or a failed install never leaves a half-built environment in the
cache.

Installer: uv where it is available (`find_uv`: the `uv` package Runyard depends on
carries its binary; else a `uv` on PATH), pip where it is not (the editor's bundled
server, a machine without it), or where ``RUNYARD_ENV_INSTALLER=pip`` says so
(``uv`` there makes a missing uv an error instead). With uv, ``uv venv`` makes the
environment and ``uv pip install`` fills it, from the same sources pip would use
(`runyard.core.pip_sources` reads pip's configuration and tells uv). With pip,
``python -m venv`` and ``pip install``, as before.

Cache key and installer: the key names the installer Runyard builds with, uv or pip
(a pip key is the key environments always had, so those built before are still used).
The two are never taken for one another, because their contents can differ: a
pip-built environment holds pip (and setuptools on Python 3.11) and compiled bytecode,
a uv-built one neither, and the two resolvers may pick different versions when several
fit. When uv fails at something other than the spec (a TLS check stricter than pip's,
an index feature it lacks, an sdist it cannot build: `spec_error` tells), pip builds
that environment instead, under the same key, and says so in the run's log; what it
holds, and who built it, is its lock (and its marker file). A spec that cannot be met
fails at once, with uv's words.

Shared by their lock: two specs that resolve to the same packages share one
environment. Each built environment is also indexed by the digest of what it holds
(`lock_digest`: the interpreter, the installer, isolation, and every name==version;
``.by-lock/<digest>``, a link to it). Before a build, uv resolves the spec without
installing anything (``uv pip compile --offline``: from what uv's cache knows of the
index, a few hundredths of a second; the build goes ahead when it cannot say): when an
environment of that exact set is there, the spec's key becomes a link to it (an alias)
and nothing is built. After any build (pip too, or a spec uv cannot pin ahead), the new
environment's own lock is read: when another environment holds the same set, the new
one is dropped for an alias. A run records its spec's key as its env hash as before;
`prune_local` removes aliases and environments no live run uses, keeping an environment
a live run reaches through an alias.

Lock (`EnvLock`, `read_lock`): once an environment is ready, its interpreter runs
`runyard.core.freeze` and reports its version and every installed distribution
(normalized name and version), and the facts of the host it runs on (OS, CPU, GPUs:
`HostFacts`); the run records it (`Store.set_run_lock`).

A failed install names the dependency file and the packages that could not be
installed, with their lines (`install_failure`, shared with the Docker and ssh
targets, which read the same installers' words).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from runyard.core.errors import RunyardError, UsageError

if TYPE_CHECKING:
    from runyard.core.store.locks import HostFacts

ENV_FORMAT = "1"  # bump when the layout of a built environment changes


@dataclass(frozen=True)
class DependencySpec:
    """What a run needs installed. `kind` is "requirements" (a requirements file, used
    as it is), "pyproject" (its dependencies), "conda", "python_env" or "uv.lock" (files
    read as PyPI requirements by `runyard.core.envspecs`), or "none". `requirements` holds
    the requirement lines of every kind but "requirements" (see `listed`); `python` is
    the interpreter version the file asks for, and `notes` what reading it left out."""

    kind: str
    path: str | None  # relative to the project
    requirements: tuple[str, ...]  # the listed requirements; empty for requirements files
    content: bytes
    python: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def listed(self) -> bool:
        """The requirements are the `requirements` lines (not a file to hand pip)."""
        return self.kind not in ("requirements", "none")


def find_spec(workdir: Path, declared: str | None) -> DependencySpec:
    """The dependency spec of a project tree: the job's `requirements` if it names one,
    else `requirements.txt`, else `uv.lock` beside a `pyproject.toml`, else
    `pyproject.toml`'s `[project].dependencies`, else MLflow's `python_env.yaml` or a
    conda env file (`runyard.core.envspecs`: conda itself is never used)."""
    from runyard.core import envspecs

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
        if candidates == ["pyproject.toml"] and (workdir / envspecs.UV_LOCK).is_file():
            candidates = [envspecs.UV_LOCK]
        if not candidates:
            other = envspecs.find(workdir)
            candidates = [other] if other else []
    if not candidates:
        return DependencySpec("none", None, (), b"")
    rel = candidates[0]
    if envspecs.handles(rel):
        read = envspecs.read(workdir, rel)
        lines = read.lines()
        content = json.dumps({"python": read.python, "requirements": lines}).encode()
        return DependencySpec(read.kind, rel, lines, content, read.python, read.notes)
    content = (workdir / rel).read_bytes()
    if rel.endswith(".toml"):
        import tomllib  # (here: not on a run's way when no pyproject.toml is read)

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


def _version_of(python: str) -> str:
    """X.Y of an interpreter ("" when it cannot be asked)."""
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def wanted_python(spec: DependencySpec, log: Log) -> str:
    """The interpreter an environment of `spec` is built from: `base_python()`, unless the
    spec's file asks for another Python version (conda's `python=3.10`, MLflow's
    `python:`) and this machine has it as `python3.10` on PATH; when it does not, a log
    line names the interpreter used instead."""
    base = base_python()
    if not spec.python:
        return base
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    wanted = ".".join(spec.python.split(".")[:2])
    if wanted == here:
        return base
    found = shutil.which(f"python{wanted}")
    if found and _version_of(found) == wanted:
        return found
    log(
        f"{spec.path} asks for Python {spec.python}, which is not on this machine "
        f"(no python{wanted} on PATH): the environment uses Python {here} ({base})"
    )
    return base


def env_hash(
    spec: DependencySpec,
    python: str,
    index_url: str | None,
    system_site: bool,
    installer: str = "pip",
) -> str:
    h = hashlib.sha256()
    parts = [
        ENV_FORMAT,
        spec.kind,
        python,
        sys.version,
        index_url or "",
        "system" if system_site else "isolated",
    ]
    if installer != "pip":  # (pip-built environments keep the keys they always had)
        parts.append(f"installer={installer}")
    for part in parts:
        h.update(part.encode() + b"\0")
    h.update(spec.content)
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------- the installer

INSTALLER_VAR = "RUNYARD_ENV_INSTALLER"  # "pip": always pip; "uv": uv or an error


def installer_choice() -> str:
    """The installer asked for in `INSTALLER_VAR`: "auto" (unset), "uv" or "pip"; a
    UsageError for anything else."""
    choice = os.environ.get(INSTALLER_VAR, "").strip().lower() or "auto"
    if choice not in ("auto", "uv", "pip"):
        raise UsageError(
            f"{INSTALLER_VAR}={os.environ[INSTALLER_VAR]!r} is not an installer Runyard knows.",
            hint=f"set {INSTALLER_VAR} to uv or pip, or unset it (uv where available)",
        )
    return choice


def find_uv() -> str | None:
    """The uv binary environments are built with, or None where pip builds them: the
    one the `uv` package carries (a dependency of Runyard's), else one on PATH."""
    choice = installer_choice()
    if choice == "pip":
        return None
    found: str | None = None
    try:
        import uv

        found = str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
    if found is None and choice == "uv":
        raise UsageError(
            f"{INSTALLER_VAR}=uv, but uv is not installed here.",
            hint="install it (pip install uv), or unset the variable to build with pip",
        )
    return found


def uv_environment(base: dict[str, str], index_url: str | None) -> tuple[list[str], dict[str, str]]:
    """(`uv pip install` arguments, its environment): `base` plus the sources pip would
    use (`pip_sources`), never a managed interpreter download, no progress bars."""
    from runyard.core import pip_sources

    args, extra = pip_sources.uv_install_options(index_url, base)
    env = {**base, **extra, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    return args, env


# ---------------------------------------------------------------------- environments


@dataclass(frozen=True)
class Environment:
    hash: str | None  # None for a user-managed interpreter
    python: Path
    prefix: Path | None  # the venv folder, if Runyard built it
    reused: bool
    installer: str | None = None  # "uv" or "pip" when Runyard built it


Log = Callable[[str], None]
TAIL_LINES = 40  # of an installer's output, kept for the error message


def _run_logged(
    cmd: list[str], log_fd: int, cwd: Path, env: dict[str, str]
) -> tuple[int, list[str]]:
    """Run `cmd`, its output into the run's log as it comes; (exit code, last lines)."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    pending = b""
    with proc.stdout:
        fd = proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            with contextlib.suppress(OSError):
                os.write(log_fd, chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            tail = (tail + [ln.decode("utf-8", "replace") for ln in lines])[-TAIL_LINES:]
    if pending:
        tail = [*tail, pending.decode("utf-8", "replace")][-TAIL_LINES:]
    return proc.wait(), tail


def ensure_env(
    envs_dir: Path,
    spec: DependencySpec,
    workdir: Path,
    *,
    index_url: str | None,
    system_site_packages: bool,
    log: Log,
    log_fd: int,
    installer: str | None = None,
) -> Environment:
    """Return the cached environment for `spec`, building it first if needed.

    Build output (the installer's progress) goes to `log_fd`; `log` gets Runyard's own
    lines. `installer` ("uv" or "pip") overrides the choice `find_uv` makes.
    """
    for note in spec.notes:
        log(note)
    python = wanted_python(spec, log)
    uv = find_uv() if installer in (None, "uv") else None
    if installer == "uv" and uv is None:
        raise UsageError("uv is not installed here.", hint="install it (pip install uv)")
    used = "uv" if uv else "pip"
    digest = env_hash(spec, python, index_url, system_site_packages, used)
    prefix = envs_dir / digest
    env_python = prefix / "bin" / "python"
    if (prefix / MARKER).is_file():
        return _cached(digest, prefix, used)
    envs_dir.mkdir(parents=True, exist_ok=True)
    with (envs_dir / f"{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building the same one
        if (prefix / MARKER).is_file():
            return _cached(digest, prefix, used)
        if prefix.is_symlink():  # an alias of an environment that is gone or incomplete
            log(f"environment {digest} shared an environment that is gone: it is made again")
            prefix.unlink()
        build_env = dict(os.environ)
        build_env.pop("PYTHONPATH", None)
        build_env.pop("VIRTUAL_ENV", None)
        build_env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        if index_url:
            build_env["PIP_INDEX_URL"] = index_url
        if uv and not system_site_packages:
            pins = _resolve_with_uv(uv, spec, workdir, python, index_url, build_env)
            if pins is not None:
                key = lock_digest(python, "uv", system_site_packages, pins)
                shared = _share(envs_dir, digest, key, None, log)
                if shared is not None:
                    return shared
        what = spec.path or "no dependency file"
        log(
            f"building environment {digest} from {what} with {used} (first time; reused afterwards)"
        )
        started = time.monotonic()
        tmp = envs_dir / f".build-{digest}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            if uv:
                used = _build_with_uv(
                    uv,
                    tmp,
                    spec,
                    workdir,
                    python,
                    index_url,
                    system_site_packages,
                    build_env,
                    log,
                    log_fd,
                )
            else:
                _build_with_pip(
                    tmp, spec, workdir, python, system_site_packages, build_env, log, log_fd
                )
            (tmp / MARKER).write_text(
                json.dumps(
                    {"spec": spec.path, "kind": spec.kind, "python": python, "installer": used}
                )
                + "\n"
            )
            built_key = _built_lock_digest(tmp, python, used, system_site_packages, log)
            shared = _share(envs_dir, digest, built_key, tmp, log) if built_key else None
            if shared is not None:
                return shared
            # venv scripts hard-code their folder; the interpreter itself does not, so
            # the environment works from its final place after the rename.
            os.replace(tmp, prefix)
            _fix_venv_paths(prefix, tmp)
            if built_key:
                _index_by_lock(envs_dir, built_key, digest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log(f"environment {digest} ready in {time.monotonic() - started:.1f}s")
        return Environment(digest, env_python, prefix, reused=False, installer=used)


# ---------------------------------------------------------------------- shared by lock

BY_LOCK = ".by-lock"  # in the envs folder: lock digest -> a link to the environment


def lock_digest(
    python: str, installer: str, system_site: bool, packages: Iterable[tuple[str, str]]
) -> str:
    """The digest of what an environment holds: the interpreter it was built from, who
    built it, its isolation, and every installed distribution (normalized name ==
    version), in name order. Two specs with the same digest can share one environment."""
    system = "system" if system_site else "isolated"
    return set_digest((ENV_FORMAT, python, sys.version, installer, system), packages)


def set_digest(parts: Iterable[str], packages: Iterable[tuple[str, str]]) -> str:
    """The digest of a set of distributions (normalized name == version, in name order)
    where `parts` (what holds them: an interpreter, a base image, who installs) say
    they live; `lock_digest` for this machine's environments, the docker and ssh
    targets' for theirs."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() + b"\0")
    for name, version in sorted({(normalize(n), v) for n, v in packages}):
        h.update(f"{name}=={version}\n".encode())
    return h.hexdigest()[:24]


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)\s*$")


def _resolve_with_uv(
    uv: str,
    spec: DependencySpec,
    workdir: Path,
    python: str,
    index_url: str | None,
    build_env: dict[str, str],
) -> list[tuple[str, str]] | None:
    """The exact set `spec` resolves to for `python` (``uv pip compile``, nothing
    installed), from what uv's cache knows of the index (no request: a few hundredths
    of a second instead of half a second); None when the cache cannot say (then the
    environment is built, and shared after its build when another holds its set) or
    uv cannot say it as plain name==version pins (a URL or path requirement, an error:
    the build then says what is wrong). An environment of the same set was built
    through this same cache, so what it knows finds that environment."""
    return resolve_pins(uv, spec, workdir, ["--python", python], index_url, build_env, online=False)


def resolve_pins(
    uv: str,
    spec: DependencySpec,
    workdir: Path,
    interpreter: list[str],
    index_url: str | None,
    build_env: dict[str, str],
    *,
    online: bool = True,
) -> list[tuple[str, str]] | None:
    """The exact set `spec` resolves to (``uv pip compile`` with `interpreter`'s
    arguments: ``--python PATH`` for this machine's, ``--python-version X.Y.Z
    --python-platform P`` for another machine's or an image's; nothing installed); None
    when uv cannot say it as plain name==version pins (a URL or path requirement, an
    error: the build then says what is wrong). From uv's cache first (``--offline``),
    then, when the cache cannot answer and `online`, from the index."""
    import tempfile

    if spec.kind == "none":
        return []
    args, env = uv_environment(build_env, index_url)
    with tempfile.TemporaryDirectory(prefix="runyard-resolve-") as scratch:
        if spec.kind == "requirements" and spec.path:
            source = workdir / spec.path
        elif spec.listed:
            source = Path(scratch) / "requirements.in"
            source.write_text("".join(f"{r}\n" for r in spec.requirements))
        else:
            return None
        cmd = [uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate", *interpreter,
               *args, str(source)]  # fmt: skip
        for mode in (["--offline"], []) if online else (["--offline"],):
            try:
                done = subprocess.run(
                    [*cmd[:3], *mode, *cmd[3:]], cwd=workdir, env=env, capture_output=True,
                    text=True, timeout=120, check=False,
                )  # fmt: skip
            except (OSError, subprocess.SubprocessError):
                return None
            if done.returncode == 0:
                break
    if done.returncode != 0:
        return None
    pins: list[tuple[str, str]] = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _PIN.match(line)
        if m is None:
            return None
        pins.append((normalize(m.group(1)), m.group(2)))
    return pins


def _built_lock_digest(
    prefix: Path, python: str, installer: str, system_site: bool, log: Log
) -> str | None:
    """The lock digest of a freshly built environment (its own lock); None, and the
    environment is kept unshared, when it cannot be read."""
    try:
        lock = read_lock(prefix / "bin" / "python", installer)
    except RunyardError as exc:
        log(f"the new environment is not shared with others ({exc.message})")
        return None
    return lock_digest(python, installer, system_site, lock.packages)


def _share(
    envs_dir: Path, digest: str, key: str, built: Path | None, log: Log
) -> Environment | None:
    """When an environment already holds the set `key` names, make the spec's `digest`
    an alias of it (and drop the environment just `built`, if any); None when there is
    none, or it is not complete."""
    index = envs_dir / BY_LOCK / key
    with _by_lock_guard(envs_dir):
        try:
            target = os.path.basename(os.readlink(index))  # "../<environment>"
        except OSError:
            return None
        real = envs_dir / target
        if target == digest or not (real / MARKER).is_file():
            return None
        alias = envs_dir / f".alias-{digest}-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            alias.unlink()
        os.symlink(target, alias)
        os.replace(alias, envs_dir / digest)  # in place at once: never half there
    if built is not None:
        shutil.rmtree(built, ignore_errors=True)
    log(
        f"environment {digest} resolves to the same packages as environment {target}: "
        "the two share it"
    )
    return _cached(digest, envs_dir / digest, "")


def _index_by_lock(envs_dir: Path, key: str, digest: str) -> None:
    """Record that environment `digest` holds the set `key` names (a link, replaced
    at once)."""
    folder = envs_dir / BY_LOCK
    with _by_lock_guard(envs_dir):
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(f"../{digest}", tmp)
        os.replace(tmp, folder / key)


@contextlib.contextmanager
def _by_lock_guard(envs_dir: Path) -> Iterator[None]:
    """One writer of the lock index (and of aliases) at a time, across processes."""
    with (envs_dir / f"{BY_LOCK}.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        yield


def prune_local(envs_dir: Path, busy: set[str]) -> list[str]:
    """Remove this machine's cached environments no live run uses (`busy`: the env
    hashes of live runs), aliases first; an environment a live run reaches through an
    alias is kept. Returns the names removed (aliases and environments), in order."""
    if not envs_dir.is_dir():
        return []
    removed: list[str] = []
    with _by_lock_guard(envs_dir):
        entries = [
            p
            for p in sorted(envs_dir.iterdir())
            if not p.name.startswith(".") and (p.is_symlink() or p.is_dir())
        ]
        real_of = {p.name: os.readlink(p) if p.is_symlink() else p.name for p in entries}
        needed = {real_of[name] for name in busy if name in real_of}
        for path in entries:
            if path.name in busy:
                continue
            if path.is_symlink():
                path.unlink()
                removed.append(path.name)
            elif path.name not in needed:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        for path in entries:  # aliases of an environment that went
            if path.is_symlink() and not path.exists():
                with contextlib.suppress(OSError):
                    path.unlink()
        folder = envs_dir / BY_LOCK
        if folder.is_dir():
            for link in folder.iterdir():
                if not link.exists():
                    with contextlib.suppress(OSError):
                        link.unlink()
    return removed


MARKER = ".runyard-env.json"  # written last into a complete environment


def _cached(digest: str, prefix: Path, offered: str) -> Environment:
    """A complete environment of the cache, with the installer that built it; an alias
    (a spec sharing another's environment) as the environment it names."""
    if prefix.is_symlink():
        prefix = prefix.parent / os.readlink(prefix)
    try:
        installer = str(json.loads((prefix / MARKER).read_text()).get("installer") or "pip")
    except (OSError, ValueError, AttributeError):
        installer = offered
    return Environment(digest, prefix / "bin" / "python", prefix, reused=True, installer=installer)


def _install_args(spec: DependencySpec, workdir: Path) -> list[str] | None:
    if spec.kind == "requirements" and spec.path:
        return ["-r", str(workdir / spec.path)]
    if spec.listed and spec.requirements:
        return list(spec.requirements)
    return None


def _build_with_pip(
    tmp: Path,
    spec: DependencySpec,
    workdir: Path,
    python: str,
    system_site: bool,
    build_env: dict[str, str],
    log: Log,
    log_fd: int,
) -> None:
    cmd = [python, "-m", "venv", str(tmp)]
    if spec.kind == "none":
        cmd.insert(3, "--without-pip")
    if system_site:
        cmd.insert(3, "--system-site-packages")
    if _run_logged(cmd, log_fd, workdir, build_env)[0] != 0:
        raise RunyardError(
            f"Creating a virtual environment with {python} failed.",
            hint="install the venv module (Debian: apt-get install python3-venv)",
        )
    install = _install_args(spec, workdir)
    if install:
        log(f"installing packages from {spec.path} with pip")
        pip = [str(tmp / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off"]
        code, tail = _run_logged([*pip, *install], log_fd, workdir, build_env)
        if code != 0:
            raise install_failure(spec, "pip", tail, code)


def _build_with_uv(
    uv: str,
    tmp: Path,
    spec: DependencySpec,
    workdir: Path,
    python: str,
    index_url: str | None,
    system_site: bool,
    build_env: dict[str, str],
    log: Log,
    log_fd: int,
) -> str:
    """Build with uv; pip when uv fails at something other than the spec. Returns the
    installer that built it."""
    args, env = uv_environment(build_env, index_url)
    cmd = [uv, "venv", "--quiet", "--no-config", "--python", python, str(tmp)]
    if system_site:
        cmd.insert(2, "--system-site-packages")
    code, tail = _run_logged(cmd, log_fd, workdir, env)
    install = _install_args(spec, workdir)
    if code == 0 and install:
        log(f"installing packages from {spec.path} with uv")
        cmd = [uv, "pip", "install", "--python", str(tmp / "bin" / "python"), *args, *install]
        code, tail = _run_logged(cmd, log_fd, workdir, env)
        if code != 0 and spec_error(tail):
            raise install_failure(spec, "uv", tail, code)
    if code == 0:
        return "uv"
    log("uv could not build the environment (above); pip builds it instead")
    shutil.rmtree(tmp, ignore_errors=True)
    _build_with_pip(tmp, spec, workdir, python, system_site, build_env, log, log_fd)
    return "pip"


# What uv says when the spec itself cannot be met (pip would say the same): no retry
# with pip then. Anything else uv fails at (fetching over a TLS check stricter than
# pip's, an index feature it lacks, building an sdist) pip tries.
SPEC_ERRORS = ("No solution found when resolving", "Couldn't parse requirement", "File not found")


def spec_error(output: list[str]) -> bool:
    """Whether uv's `output` says the spec cannot be met (not that uv could not do it)."""
    return any(marker in line for line in output for marker in SPEC_ERRORS)


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


# ---------------------------------------------------------------------- failures

_NAME = r"([A-Za-z0-9][A-Za-z0-9._-]*)"
# What pip and uv say about a package they could not install, its name in group 1.
_FAILED = [
    re.compile(p)
    for p in (
        rf"No matching distribution found for {_NAME}",
        rf"Could not find a version that satisfies the requirement {_NAME}",
        rf"Because {_NAME} was not found in the package registry",
        rf"there is no version of {_NAME}",
        rf"Because only {_NAME}[<>=!~ ]",
        rf"Failed to (?:build|download|fetch|prepare distributions|install)[^`]*`{_NAME}",
        rf"Failed building wheel for {_NAME}",
        rf"Failed to build installable wheels for some pyproject.toml based projects \({_NAME}",
        rf"ResolutionImpossible.*?{_NAME}",
        rf"Cannot install {_NAME}",
    )
]


def normalize(name: str) -> str:
    """A distribution name as the package index compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def spec_requirements(spec: DependencySpec) -> list[tuple[str, str, int | None]]:
    """(normalized name, the requirement as written, its line in the file or None) for
    each requirement the spec names itself."""
    found: list[tuple[str, str, int | None]] = []
    if spec.listed:
        lines: list[tuple[str, int | None]] = [(r, None) for r in spec.requirements]
    else:
        text = spec.content.decode("utf-8", "replace")
        lines = [(ln, i) for i, ln in enumerate(text.splitlines(), start=1)]
    for raw, line in lines:
        req = raw.split(" #", 1)[0].strip()
        m = re.match(_NAME, req)
        if req and not req.startswith(("-", "#")) and m:
            found.append((normalize(m.group(1)), req, line))
    return found


def install_failure(
    spec: DependencySpec, installer: str, output: list[str], code: int, where: str = ""
) -> RunyardError:
    """The error for a failed install of `spec`'s packages: the dependency file, the
    packages the installer's `output` (its last lines) names as failed, with the
    requirement and line that asked for each, and the installer's reason."""
    text = "\n".join(output)
    failed: list[str] = []
    for pattern in _FAILED:
        for m in pattern.finditer(text):
            name = normalize(m.group(1).rstrip("."))
            if name not in failed:
                failed.append(name)
    asked = {name: (req, line) for name, req, line in reversed(spec_requirements(spec))}
    what = spec.path or "the dependency spec"
    named: list[str] = []
    for name in failed:
        if name in asked:
            req, line = asked[name]
            named.append(f"{req} (line {line})" if line else req)
        else:
            named.append(f"{name} (needed by a package {what} names)")
    reasons = [
        ln.strip()
        for ln in output
        if re.match(r"\s*(ERROR|error|cause|×|╰─▶|hint)\b", ln.strip()) or "ERROR:" in ln
    ]
    reason = next((r for r in reversed(reasons) if r), None) or next(
        (ln.strip() for ln in reversed(output) if ln.strip()), f"exit code {code}"
    )
    reason = re.sub(r"^(ERROR:|error:|cause:|×|╰─▶)\s*", "", reason)
    if len(reason) > 400:
        reason = reason[:397] + "..."
    on = f" on {where}" if where else ""
    if named:
        message = (
            f"Installing the packages of {what}{on} failed: {', '.join(named)} could not be "
            f"installed ({installer}: {reason})"
        )
        fix = f"fix or remove {'it' if len(named) == 1 else 'them'} in {what}"
    else:
        message = (
            f"Installing the packages of {what}{on} failed ({installer} exit code {code}: {reason})"
        )
        fix = f"fix {what}"
    return RunyardError(
        message,
        hint=f"{fix} (a name or version that exists on the package index for this Python); "
        f"{installer}'s full output is in the run's log",
    )


# ---------------------------------------------------------------------- locks


@dataclass(frozen=True)
class EnvLock:
    """What an environment holds: the interpreter's version and every installed
    distribution (normalized name, version), sorted by name; and who built it."""

    python: str
    packages: tuple[tuple[str, str], ...]
    installer: str | None = None
    host: HostFacts | None = None  # where it was measured; None: not said

    @classmethod
    def from_json(cls, text: str) -> EnvLock:
        """From `runyard.core.freeze`'s output (its last line); ValueError if it is not."""
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        if not lines:
            raise ValueError("no output")
        doc = json.loads(lines[-1])
        if not isinstance(doc, dict) or not isinstance(doc.get("python"), str):
            raise ValueError("not a lock")
        packages = tuple(sorted((normalize(str(n)), str(v)) for n, v in doc.get("packages", [])))
        installer = doc.get("installer")
        from runyard.core.store.locks import HostFacts

        return cls(
            doc["python"],
            packages,
            str(installer) if installer else None,
            HostFacts.from_json(doc.get("host")),
        )

    def requirements(self) -> list[str]:
        """`name==version` lines, as a requirements file pins them."""
        return [f"{name}=={version}" for name, version in self.packages]


def program_source(name: str) -> str:
    """The text of a core module that also runs as a program elsewhere (`freeze`,
    `pip_sources`: standard library only, Python 3.8), to send with `python -c`."""
    if name not in ("freeze", "pip_sources"):
        raise ValueError(f"no program {name!r}")
    from importlib import resources

    return resources.files("runyard.core").joinpath(f"{name}.py").read_text(encoding="utf-8")


def freeze_command(python: str | Path, installer: str | None, paths: bool = False) -> list[str]:
    """The command that prints an interpreter's lock (`runyard.core.freeze`); with
    `paths`, where it looked and their times too (for `LOCK_CACHE`)."""
    extra = ["--installer", installer] if installer else []
    return [str(python), "-I", "-c", program_source("freeze"), *extra, *(["--paths"] * paths)]


# In an environment Runyard built: its lock as a run last read it (freeze's document
# with its `paths`, without the host facts, which are the machine's, not the
# environment's), so that the next runs need not start its interpreter to list it.
LOCK_CACHE = ".runyard-lock.json"
LOCK_CACHE_FORMAT = 2


def cached_lock(prefix: Path, installer: str | None) -> EnvLock | None:
    """The lock kept in environment `prefix` (`LOCK_CACHE`), when it still tells what
    the environment holds: written for the same installer, and every folder its
    interpreter looked in, and the interpreter, with the stamp it had then
    (`freeze.stamp`: installing or removing a distribution changes its folder's). None
    otherwise (no such file, or
    one unreadable, stale or of another format): the lock is then read again."""
    from runyard.core.freeze import stamp

    try:
        doc = json.loads((prefix / LOCK_CACHE).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != LOCK_CACHE_FORMAT:
            return None
        stamps = doc["paths"]
        if doc.get("installer") != installer or not isinstance(stamps, dict) or not stamps:
            return None
        if any(stamp(path) != then for path, then in stamps.items()):
            return None
        return EnvLock.from_json(json.dumps({**doc, "host": None}))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _keep_lock(prefix: Path, text: str) -> None:
    """Keep freeze's document `text` (with its `paths`) as `prefix`'s `LOCK_CACHE`,
    whole or not at all; a failure to write only means it is read again next time."""
    try:
        doc = json.loads([ln for ln in text.strip().splitlines() if ln.strip()][-1])
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            return
        doc.pop("host", None)
        doc["format"] = LOCK_CACHE_FORMAT
        tmp = prefix / f".{LOCK_CACHE}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, prefix / LOCK_CACHE)
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(OSError, UnboundLocalError):
            tmp.unlink()


class LockReader:
    """An environment's lock being read in the background on this machine (the run
    starts meanwhile); `result` waits for it.

    With `cache` (the folder of an environment Runyard built): the lock kept there
    (`cached_lock`) when it still holds, and no interpreter is started (the host facts,
    the machine's, are read afresh, on a thread: `freeze.host`); else it is read and
    kept there for the next runs."""

    def __init__(
        self, python: str | Path, installer: str | None, cache: Path | None = None
    ) -> None:
        self.python = str(python)
        self.cache = cache
        self.proc: subprocess.Popen[bytes] | None = None
        self.cached = cached_lock(cache, installer) if cache is not None else None
        if self.cached is not None:
            self.host: HostFacts | None = None
            self.host_reader = threading.Thread(target=self._read_host, daemon=True)
            self.host_reader.start()
            return
        self.proc = subprocess.Popen(
            freeze_command(python, installer, paths=cache is not None),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )

    def _read_host(self) -> None:
        from runyard.core import freeze
        from runyard.core.store.locks import HostFacts

        with contextlib.suppress(Exception):  # (no facts: None, never a guess)
            self.host = HostFacts.from_json(freeze.host())

    def result(self, timeout: float = 60) -> EnvLock:
        """The lock; RunyardError when the interpreter could not say."""
        if self.cached is not None:
            self.host_reader.join(timeout)
            return replace(self.cached, host=self.host)
        assert self.proc is not None
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise RunyardError(
                f"{self.python} did not list its packages within {timeout:.0f}s."
            ) from None
        try:
            if self.proc.returncode != 0:
                raise ValueError(err.decode("utf-8", "replace").strip().splitlines()[-1:])
            text = out.decode("utf-8", "replace")
            lock = EnvLock.from_json(text)
        except (ValueError, TypeError) as exc:
            raise RunyardError(f"{self.python} could not list its packages ({exc}).") from None
        if self.cache is not None:
            _keep_lock(self.cache, text)
        return lock


def read_lock(python: str | Path, installer: str | None) -> EnvLock:
    """The lock of the environment whose interpreter is `python`."""
    return LockReader(python, installer).result()
