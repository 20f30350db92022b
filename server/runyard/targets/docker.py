"""The `docker` target: each run in a container on a Docker engine, on this machine or
on another one (``ssh://`` or ``tcp://``).

- Environment: an image built from the target's `base_image` plus the project's
  dependency spec, tagged ``runyard-env:<hash>`` and labelled (with the project that
  built it), built once per hash and reused; or the target's `image`, used as is. The
  build uses uv when this machine has it and the engine's machine can run its binary
  (Linux, same architecture: `host_uv`): the binary goes into the build context, is
  used in the first stage only, and pip builds there instead if it cannot run (a base
  image of another C library) or fails at something other than the spec (as on this
  machine: `runyard.core.envs`); else pip. The installer offered is part of the hash;
  the image's lock says which one built it. Two specs that resolve to the same
  packages share one image (`_Sharing`): a built image is also tagged
  ``runyard-env:set-<digest of its lock>``, and before a build this machine's uv
  resolves the spec for the base image's interpreter; an image of that set gets the
  new spec's tag too and nothing is built. `prune_images` reads every tag.
- Lock: a built image holds its environment's lock (``/opt/runyard/lock.json``,
  written by its interpreter as it is built); for a target's own `image`, its
  `python` lists its packages in a short container. Either is kept on this machine by
  image id (``.runyard/state/envs/.image-locks``), so a run of a known image reads no
  engine for it, and is recorded with the run (`env_lock`). Host facts are the run's
  own: its container measures them as it starts (`runyard.core.freeze` ``--host``,
  sent with the run as ``/opt/runyard/host-facts.py``, written to ``HOST_FILE`` before
  the script is exec'd, about 30 ms), so they name the image's OS and the CPUs and GPUs
  the container was given; `env_lock` reads them from the container and puts them in
  place of the facts of the image's build.
- Wheels only this machine has: a pin (``name==version``) of the spec whose wheel is in
  one of this machine's pip ``find-links`` folders (a local wheel cache: PyTorch's
  CPU-only ``torch==2.13.0+cpu``, which no package index the image reaches has) goes
  into the build context and the first stage finds it there (``PIP_FIND_LINKS``, which
  pip reads and `runyard.core.pip_sources` gives uv), so a run's lock (a rerun's spec)
  installs in the image as it did here (`local_wheels`).
- A package index's credentials (`index_url: https://user:token@host/simple`) are a
  build-time-only file: the build has two stages, the first builds the venv with a
  pip.conf from the build context, the second starts again from the base image and
  copies the venv only; the first stage's images are removed after the build (the
  classic builder keeps them as cache). So the image's layers, history, config and
  labels, and every run's environment, never hold them; the env hash does (hashed).
  The engine's classic builder is what the docker SDK drives: it has no BuildKit
  secrets, and build args show in `docker history`. Fields written into a Dockerfile
  line (`base_image`, `python`, `index_url`) must be one line (`single_line`).
- Execution: the run's snapshot (and Runyard's tracking client) go into the created
  container as a tar stream, never as a bind mount, so a remote engine works the same.
  The container's output streams back live; tracking records travel framed on its
  stderr (`runyard.tracking.wire`) and are split off into the run's tracking file,
  which the supervisor ingests as for a local run. `outputs/` comes back as a tar
  stream when the run ends, whatever the outcome, entry by entry: one that would land
  or point outside it (an absolute link, a link climbing out with `..`, a device) is
  left behind and named in the run's log, the rest is kept.
- TensorBoard: the job's `tensorboard_dir` (`logs/`) comes back the same way, and,
  unless the job names another folder, the event files the run wrote anywhere else in
  its working copy (`runs/exp1/`, `lightning_logs/version_0/`): the ended container's
  changes (the engine's list of its filesystem's changed paths, real paths only) name
  them, each chosen one is fetched alone, with `common.EventFilesBack`'s rules (real
  files only, a link named and left behind, not the snapshot's, at most
  `common.MAX_EVENT_FILES_MIB`; not listed at all when the image's lock names no
  writer of event files). While the run runs they come back too, every 5 s
  (`common.LiveEventFiles`): ``exec`` runs `remote/tbfiles.py` (put in the container
  as `EVENTS_PROGRAM`) with the container's interpreter, which lists /work (never
  through a link) and sends only the bytes each followed file gained (measured: about
  0.2 s per look); the engine's list of changes, which walks the whole image, is read
  once, at the end, for what the last look missed. The supervisor imports their
  scalars as they arrive, named as for a local run (`runner.tbimport`). Then the
  container is removed.
- A script a signal ended exits with 128 + its number: the run reads "killed by
  SIGKILL (exit code 137)" (`runyard.targets.exits`).
- Containers carry the labels ``dev.runyard.project`` and ``dev.runyard.run``, run
  unprivileged, without the Docker socket, and as the ``runyard`` user in images
  Runyard builds; with no new privileges, no capabilities (the target's `cap_add` adds
  some back), and pids and memory limits (`container_limits`, deployments too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import platform
import posixpath
import re
import shlex
import socket
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from runyard.core import envs
from runyard.core.errors import RunyardError, UsageError
from runyard.core.store.locks import HostFacts
from runyard.targets import common, sshconn
from runyard.targets import remote as remote_programs
from runyard.targets.base import Check, RunContext, RunLost
from runyard.targets.exits import shell_exit_reason
from runyard.targets.spec import DockerOptions

IMAGE_REPO = "runyard-env"
LABEL_ENV = "dev.runyard.env"
LABEL_PROJECT = "dev.runyard.project"
LABEL_RUN = "dev.runyard.run"
IMAGE_FORMAT = "3"  # bump when the layout of built images changes (3: uv, lock.json)
RUN_USER = "runyard"
RUN_UID = 10001
CONNECT_TIMEOUT = sshconn.CONNECT_TIMEOUT  # every error the user can hit shows within 10 s
LOST_AFTER = common.LOST_AFTER  # an engine unreachable this long mid-run: the run is lost
CA_PATH = "/opt/runyard/ca.crt"
_GO_SYMLINK = 1 << 27  # the link bit of a path's mode as the engine states it (Go's)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- connecting


def describe(address: str | None) -> str:
    return address or "this machine's Docker engine"


def _reachable(address: str | None) -> None:
    """Fail fast (within CONNECT_TIMEOUT) with a clear message when nothing listens."""
    if not address:
        address = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    url = urlparse(address)
    if url.scheme == "unix":
        path = url.path
        if not os.path.exists(path):
            raise RunyardError(
                f"No Docker engine at {address}: the socket {path} does not exist.",
                hint="start the engine (`sudo systemctl start docker`, or `dockerd &`); "
                "install it first if needed (Debian: apt-get install docker.io)",
            )
        if not os.access(path, os.R_OK | os.W_OK):
            raise RunyardError(
                f"Permission denied on the Docker socket {path}.",
                hint="add yourself to the docker group (`sudo usermod -aG docker $USER`) "
                "and log in again, or set `address:` to an engine you may use",
            )
        return
    if url.scheme in ("tcp", "ssh", "http", "https"):
        port = url.port or {"ssh": 22, "tcp": 2375, "http": 2375, "https": 2376}[url.scheme]
        try:
            with socket.create_connection((url.hostname or "", port), timeout=CONNECT_TIMEOUT):
                pass
        except OSError as exc:
            raise RunyardError(
                f"Cannot reach {url.hostname}:{port} for the Docker engine at {address} "
                f"({exc.strerror or exc}).",
                hint="check that the machine is up and the address and port are right",
            ) from None


def _paramiko() -> Any:
    """paramiko, which the docker SDK and host-key trust need for ``ssh://`` engines."""
    return sshconn.paramiko_module("Docker over ssh://")


def connect(options: dict[str, Any]) -> Any:
    """A docker SDK client for the target's engine, checked with a ping."""
    address = options.get("address")
    if urlparse(address or "").scheme == "ssh":
        _paramiko()
    _reachable(address)
    import docker

    try:
        if address:
            client = docker.DockerClient(
                base_url=address, timeout=int(CONNECT_TIMEOUT) + 52, use_ssh_client=False
            )
        else:
            client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception as exc:
        raise _connect_error(address, exc) from None


def _connect_error(address: str | None, exc: BaseException) -> RunyardError:
    text = f"{type(exc).__name__}: {exc}"
    where = describe(address)
    url = urlparse(address or "")
    host = f"{url.hostname}:{url.port or 22}" if url.scheme == "ssh" else where
    if "known_hosts" in text or "not found in known" in text:
        return sshconn.unknown_host_key_error(url.hostname or "", url.port or 22)
    if "authentication" in text.lower():
        return RunyardError(
            f"SSH refused the login at {host}.",
            hint="load your key into ssh-agent (`ssh-add`), or name it with IdentityFile in "
            "~/.ssh/config for that host; check the user name in `address:`",
        )
    if "Permission denied" in text:
        return RunyardError(
            f"Permission denied talking to the Docker engine at {where}.",
            hint="add yourself to the docker group (`sudo usermod -aG docker $USER`) and "
            "log in again",
        )
    if "Connection refused" in text or "FileNotFoundError" in text:
        return RunyardError(
            f"No Docker engine answers at {where}.",
            hint="start the engine (`sudo systemctl start docker`, or `dockerd &`)",
        )
    return RunyardError(f"Could not talk to the Docker engine at {where}: {text}")


# --------------------------------------------------------------------------- images


def ca_bytes(options: dict[str, Any]) -> bytes | None:
    path = options.get("ca_bundle")
    if not path:
        return None
    try:
        return Path(str(path)).expanduser().read_bytes()
    except OSError as exc:
        raise UsageError(
            f"The target's ca_bundle {path} cannot be read ({exc.strerror}).",
            hint="fix `ca_bundle:` in the target file",
        ) from None


def image_hash(
    spec: envs.DependencySpec,
    base_id: str,
    options: dict[str, Any],
    ca: bytes | None,
    installer: str = "pip",
    wheels: Iterable[str] = (),
) -> str:
    """The environment image's key: the base image, the spec, the interpreter, the
    index, the CA bundle and the installer offered (uv or pip: their images can differ,
    as their environments do on this machine, `runyard.core.envs`), and the names of
    the local wheels sent with the build (none: the key as before)."""
    h = hashlib.sha256()
    for name in sorted(wheels):
        h.update(f"wheel={name}".encode() + b"\0")
    for part in (
        IMAGE_FORMAT,
        base_id,
        spec.kind,
        str(options.get("python") or "python3"),
        str(options.get("index_url") or ""),
        installer,
    ):
        h.update(part.encode() + b"\0")
    h.update(spec.content + b"\0")
    h.update(ca or b"")
    return h.hexdigest()[:16]


BUILD_STAGE = "runyard-build"  # the first stage of an environment image's build
LABEL_BUILD_STAGE = "dev.runyard.build-stage"  # on that stage's images; removed after
BUILD_ARG = "RUNYARD_BUILD"  # a fresh value per build, so that stage is never reused
PIP_CONFIG = "/tmp/runyard-pip.conf"  # in the first stage only: the package index
UV_BINARY = "/tmp/runyard-uv"  # in the first stage only: this machine's uv
BUILD_SCRIPT = "/tmp/runyard-build-env.sh"  # in the first stage only: the build with uv
UV_FALLBACK = "runyard: uv could not build the environment (above); pip builds it instead"
PIP_SOURCES = "/tmp/runyard-pip-sources.py"  # in the first stage only: pip's sources for uv
LOCK_PATH = "/opt/runyard/lock.json"  # in the image: the environment's lock
FREEZE_PATH = "/opt/runyard/freeze.py"  # in the image: what wrote LOCK_PATH
INSTALLER_FILE = "/opt/runyard/venv/.runyard-installer"  # "uv" or "pip": who built the venv
VENV = "/opt/runyard/venv"
WHEELS = "/tmp/runyard-wheels"  # in the first stage only: pinned wheels of this machine's
HOST_PROGRAM = "/opt/runyard/host-facts.py"  # in a run's container: `runyard.core.freeze`
HOST_FILE = "/tmp/runyard-host.json"  # in a run's container: its host facts, as it starts
EVENTS_PROGRAM = "/opt/runyard/tbfiles.py"  # in a run's container: `remote/tbfiles.py`


def single_line(value: str, field: str) -> str:
    """`value` when it has no line break (it goes into a Dockerfile or pip.conf line, where
    one would start a new instruction); else a UsageError naming the target's field."""
    if "\n" in value or "\r" in value:
        raise UsageError(
            f"The target's `{field}` has a line break in it ({value.splitlines()[0]!r}...).",
            hint=f"write `{field}:` on one line in the target file",
        )
    return value


def pip_config(options: dict[str, Any]) -> bytes | None:
    """The pip.conf that names the target's package index (credentials and all), for the
    build's first stage only; None without an `index_url`."""
    index_url = options.get("index_url")
    if not index_url:
        return None
    return f"[global]\nindex-url = {single_line(str(index_url), 'index_url')}\n".encode()


def local_wheels(spec: envs.DependencySpec) -> dict[str, Path]:
    """File name -> path of each wheel in this machine's pip find-links folders that is
    exactly a version `spec` pins (``name==version``), for the build context; the first
    folder that has one wins."""
    from runyard.core import pip_sources

    pins: set[tuple[str, str]] = set()
    for line in requirements_text(spec).decode("utf-8", "replace").splitlines():
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#,]+)\s*(?:[;#].*)?$", line)
        if m:
            pins.add((envs.normalize(m.group(1)), m.group(2)))
    if not pins:
        return {}
    found: dict[str, Path] = {}
    for link in pip_sources.read_settings().get("find-links", "").split():
        folder = Path(urlparse(link).path if link.startswith("file:") else link)
        if ("://" in link and not link.startswith("file:")) or not folder.is_dir():
            continue  # a web page of links: the build reaches it itself, or not
        for wheel in sorted(folder.glob("*.whl")):
            name, _, rest = wheel.name.partition("-")
            version = rest.split("-", 1)[0]
            if (envs.normalize(name), version) in pins:
                found.setdefault(wheel.name, wheel)
    return found


def env_dockerfile(
    base: str,
    python: str,
    spec: envs.DependencySpec,
    options: dict[str, Any],
    ca: bool,
    uv: bool = False,
    wheels: bool = False,
) -> str:
    """A two-stage Dockerfile. The first stage builds the venv, with the package index's
    pip.conf (its credentials) from the build context; the second, the image, starts again
    from `base` and takes only the venv: no layer, history line or config of the image
    holds the index. The first stage's images carry LABEL_BUILD_STAGE with the build's
    own BUILD_ARG value, so `build_image` finds and removes them afterwards.

    With `uv` (`uv_context`: this machine's uv binary and `uv_build_script` in the
    build context), the first stage builds with it when it runs there, from the
    sources pip would use in that image (`runyard.core.pip_sources` reads the image's
    pip configuration and the index's pip.conf, in the build only), compiling bytecode
    as pip does; pip when uv cannot run there (a base image of another C library) or
    fails at something other than the spec. The image's `LOCK_PATH` holds the environment's lock
    (`runyard.core.freeze`), written by the image's own interpreter."""
    base = single_line(base, "base_image")
    python = single_line(python, "python")
    index = pip_config(options) is not None
    env = ["PIP_DISABLE_PIP_VERSION_CHECK=1", "PYTHONUNBUFFERED=1", "PIP_NO_CACHE_DIR=1"]
    trust: list[str] = []
    if ca:
        trust.append(f"COPY ca.crt {CA_PATH}")
        env += [f"PIP_CERT={CA_PATH}", f"REQUESTS_CA_BUNDLE={CA_PATH}", f"SSL_CERT_FILE={CA_PATH}"]
    build_env = env + (
        ["UV_NO_CACHE=1", "UV_PYTHON_DOWNLOADS=never", "UV_NO_PROGRESS=1", "UV_COMPILE_BYTECODE=1"]
        if uv
        else []
    )
    first_only = [f"COPY wheels {WHEELS}"] if wheels else []  # never in the image itself
    if wheels:
        build_env.append(f"PIP_FIND_LINKS={WHEELS}")
    lines = [
        f"FROM {base} AS {BUILD_STAGE}",
        f"ARG {BUILD_ARG}",
        f"LABEL {LABEL_BUILD_STAGE}=${{{BUILD_ARG}}}",
        *trust,
        *first_only,
        "ENV " + " ".join(build_env),
    ]
    installs = spec.kind != "none"
    if installs:
        lines.append("COPY requirements.txt /opt/runyard/requirements.txt")
        if index:
            lines.append(f"COPY pip.conf {PIP_CONFIG}")
    if uv:
        lines += [
            f"COPY uv {UV_BINARY}",
            f"COPY build-env.sh {BUILD_SCRIPT}",
            *([f"COPY pip_sources.py {PIP_SOURCES}"] if installs else []),
            f"RUN sh {BUILD_SCRIPT}",
        ]
    else:
        lines.append(f"RUN {_pip_build(python, installs, index)}")
    lines += [f"FROM {base}", *trust, "ENV " + " ".join(env)]
    lines.append(f"COPY --from={BUILD_STAGE} {VENV} {VENV}")
    if installs:
        lines.append("COPY requirements.txt /opt/runyard/requirements.txt")
    lines.append(f"COPY freeze.py {FREEZE_PATH}")
    lines.append(
        f'RUN {VENV}/bin/python -I {FREEZE_PATH} --installer "$(cat {INSTALLER_FILE})" '
        f"> {LOCK_PATH}"
    )
    lines.append(
        f"RUN (id -u {RUN_USER} >/dev/null 2>&1 || useradd -m -u {RUN_UID} {RUN_USER} "
        f"|| adduser -D -u {RUN_UID} {RUN_USER} || true) && mkdir -p /work && "
        f"(chown {RUN_USER} /work 2>/dev/null || true)"
    )
    lines.append(f"ENV PATH={VENV}/bin:$PATH VIRTUAL_ENV={VENV}")
    lines.append("WORKDIR /work")
    return "\n".join(lines) + "\n"


def _pip_build(python: str, installs: bool, index: bool) -> str:
    """The shell command that builds the venv with pip (and records that pip did)."""
    conf = f"PIP_CONFIG_FILE={PIP_CONFIG} " if index else ""
    command = f"{python} -m venv {VENV}"
    if installs:
        command += (
            f" && {conf}{VENV}/bin/python -m pip install --progress-bar off "
            "-r /opt/runyard/requirements.txt"
        )
    return command + f" && echo pip > {INSTALLER_FILE}"


def uv_build_script(python: str, spec: envs.DependencySpec, options: dict[str, Any]) -> bytes:
    """The first stage's build with uv (`UV_BINARY`), as a shell script of the build
    context: the venv with uv, the packages from the sources the image's pip would use
    (`runyard.core.pip_sources --sh`, with the index's pip.conf); pip instead when uv
    cannot run there, or fails at something other than the spec (`envs.spec_error`).
    Holds no credentials (they stay in pip.conf)."""
    python = single_line(python, "python")
    installs = spec.kind != "none"
    conf = f"PIP_CONFIG_FILE={PIP_CONFIG} " if pip_config(options) is not None else ""
    spec_errors = " ".join(f"-e {shlex.quote(marker)}" for marker in envs.SPEC_ERRORS)
    lines = [
        f"if {UV_BINARY} --version >/dev/null 2>&1 && "
        f"{UV_BINARY} venv --quiet --no-config --python {python} {VENV}; then",
    ]
    if installs:
        lines += [
            f"  sources=$({conf}{python} {PIP_SOURCES} --sh) || exit 1",
            '  eval "$sources"',
            f'  if {UV_BINARY} pip install "$@" --python {VENV}/bin/python '
            "-r /opt/runyard/requirements.txt >/tmp/runyard-uv.log 2>&1; then",
            f"    cat /tmp/runyard-uv.log; echo uv > {INSTALLER_FILE}; exit 0",
            "  fi",
            "  cat /tmp/runyard-uv.log",
            f"  if grep -q {spec_errors} /tmp/runyard-uv.log; then exit 1; fi",
            f'  echo "{UV_FALLBACK}"',
        ]
    else:
        lines.append(f"  echo uv > {INSTALLER_FILE}; exit 0")
    lines += ["fi", f"rm -rf {VENV}", _pip_build(python, installs, pip_config(options) is not None)]
    return ("\n".join(lines) + "\n").encode()


def env_context(
    spec: envs.DependencySpec, options: dict[str, Any], ca: bytes | None
) -> dict[str, bytes]:
    """The build context's files besides the Dockerfile (and what a build with uv adds,
    `uv_context`): requirements.txt, the CA bundle, the first stage's pip.conf and the
    program that writes the image's lock."""
    files: dict[str, bytes] = {}
    if spec.kind != "none":
        files["requirements.txt"] = requirements_text(spec)
        conf = pip_config(options)
        if conf is not None:
            files["pip.conf"] = conf
    if ca is not None:
        files["ca.crt"] = ca
    files["freeze.py"] = envs.program_source("freeze").encode()
    return files


def uv_context(
    uv: Path, python: str, spec: envs.DependencySpec, options: dict[str, Any]
) -> dict[str, bytes | Path]:
    """What a build with uv adds to the context: the binary, the build script and the
    program that reads pip's sources."""
    files: dict[str, bytes | Path] = {
        "uv": uv,
        "build-env.sh": uv_build_script(python, spec, options),
    }
    if spec.kind != "none":
        files["pip_sources.py"] = envs.program_source("pip_sources").encode()
    return files


def _tar_context(files: Mapping[str, bytes | Path], out: IO[bytes]) -> None:
    """The build context: each file's bytes, or the file at a path (executable ones kept
    so: the uv binary)."""
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if isinstance(data, Path):
                info.size = data.stat().st_size
                info.mode = 0o755 if os.access(data, os.X_OK) else 0o644
                with data.open("rb") as f:
                    tar.addfile(info, f)
            else:
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    out.seek(0)


def requirements_text(spec: envs.DependencySpec) -> bytes:
    if spec.listed:
        return ("\n".join(spec.requirements) + "\n").encode()
    return spec.content


def _write_fd(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, data)


def build_image(
    client: Any,
    files: Mapping[str, bytes | Path],
    tag: str,
    labels: dict[str, str],
    write: Callable[[bytes], None],
    what: str,
    hint: str,
    failure: Callable[[list[str]], RunyardError | None] | None = None,
) -> None:
    """Build `tag` from a context of `files` (with its Dockerfile), streaming the build
    output to `write`; a failed build raises with the error and the output's last lines.
    The images of an `env_dockerfile` first stage are removed afterwards, whatever the
    outcome (they may hold the package index's credentials)."""
    import uuid

    tail: list[str] = []
    error: str | None = None
    dockerfile = files["Dockerfile"]
    recipe = dockerfile.read_bytes() if isinstance(dockerfile, Path) else dockerfile
    build = uuid.uuid4().hex if f"ARG {BUILD_ARG}".encode() in recipe else None
    context = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    try:
        _tar_context(files, context)
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            labels=labels,
            buildargs={BUILD_ARG: build} if build else None,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for item in stream:
            text = item.get("stream") or item.get("status") or ""
            if text:
                write(text.encode("utf-8", "replace"))
                tail = (tail + _ANSI.sub("", text).splitlines())[-envs.TAIL_LINES :]
            if "error" in item:
                error = str(item["error"]).strip()
    finally:
        context.close()
        if build:
            remove_build_stage(client, build)
    if error is not None:
        named = failure(tail) if failure is not None else None
        if named is not None:
            raise named
        last = [line for line in tail if line.strip()][-5:]
        raise RunyardError(
            f"Building {what} failed: {error}" + ("\n" + "\n".join(last) if last else ""),
            hint=hint,
        )


def _install_failure(
    spec: envs.DependencySpec, installer: str, tail: list[str]
) -> RunyardError | None:
    """A failed environment image build as `envs.install_failure` words it (the file,
    the packages, their lines), when the build output names the packages; else None."""
    used = "pip" if any(UV_FALLBACK in line for line in tail) else installer
    error = envs.install_failure(spec, used, tail, 1, where="the image")
    return error if "could not be installed" in error.message else None


def remove_build_stage(client: Any, build: str) -> None:
    """Remove the images of one build's first stage (the youngest first: an image with
    children cannot go)."""
    import docker

    left = client.images.list(all=True, filters={"label": f"{LABEL_BUILD_STAGE}={build}"})
    for _ in range(len(left) + 1):
        if not left:
            return
        parents = {str(image.attrs.get("Parent") or "") for image in left}
        for image in [i for i in left if i.id not in parents]:
            with contextlib.suppress(docker.errors.NotFound):
                client.images.remove(image.id, force=True)
        left = client.images.list(all=True, filters={"label": f"{LABEL_BUILD_STAGE}={build}"})


def base_image_id(client: Any, options: dict[str, Any]) -> str:
    """The id of the target's `base_image` on its engine; a clear error when missing."""
    import docker

    base = str(options.get("base_image") or "")
    if not base:
        raise UsageError(
            f"The docker target at {describe(options.get('address'))} has no `base_image`.",
            hint="set `base_image:` in the target file (runyard target add --base-image)",
        )
    try:
        return str(client.images.get(base).id)
    except docker.errors.ImageNotFound:
        raise UsageError(
            f"The base image {base} is not on {describe(options.get('address'))}.",
            hint=f"pull it there (docker pull {base}), or build one without a registry "
            "(scripts/docker-setup.sh makes runyard/python-base:bookworm)",
        ) from None


# platform.machine() here -> the engine's Arch, for the machines uv ships a binary for
_ENGINE_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def host_uv(client: Any) -> Path | None:
    """This machine's uv binary (`envs.find_uv`) when the engine's machine can run it
    (Linux, the same processor architecture); None: images are built with pip."""
    found = envs.find_uv()
    if found is None or not sys.platform.startswith("linux"):
        return None
    try:
        info = client.version()
    except Exception:
        return None
    arch = _ENGINE_ARCH.get(platform.machine().lower())
    if str(info.get("Os", "")).lower() != "linux" or arch is None or info.get("Arch") != arch:
        return None
    path = Path(found).resolve()
    return path if path.is_file() else None


def image_lock(
    client: Any, image: str, python: str | None, cache: Path, labels: dict[str, str]
) -> envs.EnvLock:
    """The lock of `image`'s environment: its `LOCK_PATH` when Runyard built it
    (`python` None), else what `python` lists in a container of it. Kept in `cache` by
    the image's id (an image never changes), so a run of a known image costs nothing."""
    import docker

    image_id = str(client.images.get(image).id)
    key = hashlib.sha256(f"{image_id}\0{python or ''}".encode()).hexdigest()[:24]
    kept = cache / f"{key}.json"
    with contextlib.suppress(OSError, ValueError):
        return envs.EnvLock.from_json(kept.read_text())
    if python is None:
        container = client.containers.create(image_id, command=["true"], labels=labels)
        try:
            text = _archive_text(container, LOCK_PATH) or ""
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)
    else:
        try:
            out = client.containers.run(
                image_id,
                command=envs.freeze_command(python, None),
                entrypoint=[],
                labels=labels,
                remove=True,
                stdout=True,
                stderr=False,
                network_disabled=True,
                **container_limits(client, {}),
            )
        except docker.errors.ContainerError as exc:
            raise RunyardError(
                f"{python} in {image} could not list its packages ({exc})."
            ) from None
        text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
    try:
        lock = envs.EnvLock.from_json(text)
    except (ValueError, TypeError) as exc:
        raise RunyardError(f"{image} holds no readable lock ({exc}).") from None
    with contextlib.suppress(OSError):
        cache.mkdir(parents=True, exist_ok=True)
        tmp = kept.with_name(f".{kept.name}.{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(kept)
    return lock


def ensure_image(client: Any, ctx: RunContext, options: DockerOptions) -> tuple[str, str, bool]:
    """(image, env hash, built by Runyard) for the run; builds the image if needed."""
    import docker

    if options.image:
        image = options.image
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            raise UsageError(
                f"The image {image} is not on {describe(options.address)}.",
                hint=f"pull or build it there (docker pull {image}), or fix `image:`",
            ) from None
        return image, "", False
    base = str(options.base_image)
    base_id = base_image_id(client, options.raw)
    spec = envs.find_spec(ctx.workdir, ctx.spec.requirements)
    ca = ca_bytes(options.raw)
    uv = host_uv(client)
    installer = "uv" if uv is not None else "pip"
    wheels = local_wheels(spec) if spec.kind != "none" else {}
    digest = image_hash(spec, base_id, options.raw, ca, installer, wheels)
    tag = f"{IMAGE_REPO}:{digest}"
    sharing = _Sharing(client, ctx, base_id, options, ca)
    try:
        client.images.get(tag)
        ctx.log(f"environment image {tag} (cached)")
        sharing.remember_python(tag)
        return tag, digest, True
    except docker.errors.ImageNotFound:
        pass
    if uv is not None and not wheels and sharing.ahead(str(uv), spec, digest):
        return tag, digest, True
    what = spec.path or "no dependency file"
    ctx.log(
        f"building environment image {tag} from {base} and {what} with {installer} "
        "(first time; reused afterwards)"
    )
    started = time.monotonic()
    if wheels:
        ctx.log(
            f"{len(wheels)} pinned wheel{'s' * (len(wheels) != 1)} of this machine's "
            f"find-links folders go{'es' * (len(wheels) == 1)} into the build: "
            + ", ".join(sorted(wheels))
        )
    dockerfile = env_dockerfile(
        base, options.python, spec, options.raw, ca is not None, uv=bool(uv), wheels=bool(wheels)
    )
    files: dict[str, bytes | Path] = {
        "Dockerfile": dockerfile.encode(),
        **env_context(spec, options.raw, ca),
        **{f"wheels/{name}": path for name, path in wheels.items()},
    }
    if uv is not None:
        files.update(uv_context(uv, options.python, spec, options.raw))
    labels = {
        LABEL_ENV: digest,
        LABEL_PROJECT: str(ctx.project_root),
        "dev.runyard.base": base,
        "dev.runyard.spec": spec.path or "",
    }
    build_image(
        client,
        files,
        tag,
        labels,
        lambda data: _write_fd(ctx.log_fd, data),
        what="the environment image",
        hint="see the build output in the run's log; fix the dependency file or the "
        "target's base image",
        failure=lambda tail: _install_failure(spec, installer, tail),
    )
    ctx.log(f"environment image {tag} ready in {time.monotonic() - started:.1f}s")
    sharing.built(tag, digest)
    return tag, digest, True


SET_TAG = "set-"  # IMAGE_REPO:set-<digest of what an image holds>, beside its spec's tag
_UV_PLATFORM = {"amd64": "x86_64-unknown-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}


class _Sharing:
    """Environment images shared by their lock: two specs that resolve to the same
    packages on the same base image (and interpreter, and CA bundle) share one image.

    Each image Runyard builds is tagged twice: by its spec (`image_hash`) and by the
    digest of what its lock holds (``runyard-env:set-<digest>``, `envs.set_digest`
    over the base image, the interpreter named and its version, the CA bundle, every
    name==version). Before building, this machine's uv resolves the spec for the base
    image's interpreter (``uv pip compile --python-version X.Y.Z --python-platform
    <the engine's Linux>``, nothing installed; the version is the one the lock of an
    image from that base said, built or cached, kept beside the image locks): when an image of that exact set is there,
    the spec's tag is added to it and nothing is built. After a build the new image's
    lock is read: when another image holds the same set, the spec's tag moves to it
    and the new image goes. A pip-built image (pip and setuptools in its venv) and a
    spec uv cannot pin ahead simply share nothing ahead."""

    def __init__(
        self, client: Any, ctx: RunContext, base_id: str, options: DockerOptions, ca: bytes | None
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.base_id = base_id
        self.options = options
        self.ca = ca
        self.cache = ctx.envs_dir / ".image-locks"
        name = f"{base_id}\0{options.python}".encode()
        self.python_file = self.cache / f"python-{hashlib.sha256(name).hexdigest()[:24]}.txt"

    def _key(self, python_version: str, packages: Iterable[tuple[str, str]]) -> str:
        ca = hashlib.sha256(self.ca or b"").hexdigest()
        parts = ("docker", IMAGE_FORMAT, self.base_id, self.options.python, python_version, ca)
        return envs.set_digest(parts, packages)

    def ahead(self, uv: str, spec: envs.DependencySpec, digest: str) -> bool:
        """Whether an image of the set `spec` resolves to is there (then tagged as the
        spec's too: nothing to build)."""
        import docker

        try:
            version = self.python_file.read_text().strip()
        except OSError:
            return False  # (no build from this base yet: its interpreter is not known)
        platform_name = _UV_PLATFORM.get(_ENGINE_ARCH.get(platform.machine().lower(), ""))
        if not version or platform_name is None:
            return False
        build_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        interpreter = ["--python-version", version, "--python-platform", platform_name]
        pins = envs.resolve_pins(
            uv, spec, self.ctx.workdir, interpreter, self.options.raw.get("index_url"), build_env
        )
        if pins is None:
            return False
        try:
            image = self.client.images.get(f"{IMAGE_REPO}:{SET_TAG}{self._key(version, pins)}")
        except docker.errors.ImageNotFound:
            return False
        image.tag(IMAGE_REPO, digest)
        self.ctx.log(
            f"environment image {IMAGE_REPO}:{digest} resolves to the same packages as "
            f"{_image_name(image)}: the two share it (nothing built)"
        )
        return True

    def remember_python(self, tag: str) -> None:
        """Keep the base image's interpreter version from a cached image's lock (read
        by the run's `prepare` next anyway, and kept by image id), for `ahead`, when it
        is not known yet in this project."""
        if self.python_file.is_file():
            return
        with contextlib.suppress(Exception):
            labels = {LABEL_PROJECT: str(self.ctx.project_root)}
            lock = image_lock(self.client, tag, None, self.cache, labels)
            self.cache.mkdir(parents=True, exist_ok=True)
            self.python_file.write_text(lock.python + "\n")

    def built(self, tag: str, digest: str) -> None:
        """Index a new image by its lock; drop it for an image of the same set."""
        import docker

        try:
            labels = {LABEL_PROJECT: str(self.ctx.project_root)}
            lock = image_lock(self.client, tag, None, self.cache, labels)
        except Exception as exc:  # never the run's: the image is just not shared
            self.ctx.log(f"the new environment image is not shared with others ({exc})")
            return
        with contextlib.suppress(OSError):
            self.cache.mkdir(parents=True, exist_ok=True)
            self.python_file.write_text(lock.python + "\n")
        set_tag = f"{SET_TAG}{self._key(lock.python, lock.packages)}"
        new = self.client.images.get(tag)
        try:
            other = self.client.images.get(f"{IMAGE_REPO}:{set_tag}")
        except docker.errors.ImageNotFound:
            other = None
        if other is None or other.id == new.id:
            new.tag(IMAGE_REPO, set_tag)
            return
        other.tag(IMAGE_REPO, digest)  # the spec's tag moves to the image of the same set
        with contextlib.suppress(docker.errors.APIError):
            self.client.images.remove(new.id, force=True)
        self.ctx.log(
            f"environment image {tag} holds the same packages as {_image_name(other)}: "
            "the two share it"
        )


# --------------------------------------------------------------------------- running

DEFAULT_PIDS_LIMIT = 4096  # processes and threads; data loaders and BLAS pools fit
MEMORY_SHARE = 0.9  # default memory limit: this share of the engine machine's memory


def container_limits(client: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Least privilege for a run's or a deployment's container (`containers.create`
    arguments): no new privileges (setuid binaries gain nothing), every capability
    dropped but those the target's `cap_add` names, and pids and memory limits (the
    target's `pids_limit` and `memory`, else DEFAULT_PIDS_LIMIT and MEMORY_SHARE of the
    engine machine's memory, so one runaway container cannot take the machine down)."""
    caps = [str(c).upper().removeprefix("CAP_") for c in options.get("cap_add") or []]
    memory: int | str | None = options.get("memory")
    if not memory:
        total = 0
        with contextlib.suppress(Exception):  # an engine that does not say: no limit
            total = int(client.info().get("MemTotal") or 0)
        memory = int(total * MEMORY_SHARE) or None
    return {
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": ["ALL"],
        "cap_add": caps or None,
        "pids_limit": int(options.get("pids_limit") or DEFAULT_PIDS_LIMIT),
        "mem_limit": memory,
    }


def _tar_tree(root: Path, prefix: str, uid: int, out: tarfile.TarFile) -> None:
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        rel_dir = Path(folder).relative_to(root)
        for name in [*dirs, *sorted(names)]:
            path = Path(folder) / name
            info = out.gettarinfo(str(path), arcname=f"{prefix}/{(rel_dir / name).as_posix()}")
            info.uid = info.gid = uid
            info.uname = info.gname = ""
            if info.isfile():
                with path.open("rb") as f:
                    out.addfile(info, f)
            else:
                out.addfile(info)


def _archive_text(container: Any, path: str) -> str | None:
    """The text of the file `path` in `container` (None when the archive holds no regular
    file there); the engine's errors (no such path) are the caller's."""
    stream, _stat = container.get_archive(path)
    with tempfile.TemporaryFile() as data:
        for chunk in stream:
            data.write(chunk)
        data.seek(0)
        with tarfile.open(fileobj=data) as tar:
            member = tar.extractfile(tar.getmembers()[0])
            return member.read().decode("utf-8", "replace") if member else None


def _container_text(container: Any, path: str) -> str | None:
    """The text of the file `path` in `container`; None when it is not there (yet)."""
    try:
        return _archive_text(container, path)
    except Exception:
        return None


def _payload(ctx: RunContext, uid: int, ca: bytes | None) -> IO[bytes]:
    """The snapshot under work/, Runyard's tracking client under opt/runyard/lib/, as a
    tar in a temporary file (a project may be large), to stream into the container."""
    buf = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("work")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.uid = info.gid = uid
        tar.addfile(info)
        _tar_tree(ctx.workdir, "work", uid, tar)
        _tar_tree(ctx.run_dir / "lib", "opt/runyard/lib", 0, tar)
        program = envs.program_source("freeze").encode()
        info = tarfile.TarInfo(HOST_PROGRAM.lstrip("/"))
        info.size = len(program)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(program))
        scanner = remote_programs.source("tbfiles").encode()
        info = tarfile.TarInfo(EVENTS_PROGRAM.lstrip("/"))
        info.size = len(scanner)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(scanner))
        if ca is not None:
            info = tarfile.TarInfo(CA_PATH.lstrip("/"))
            info.size = len(ca)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(ca))
    buf.seek(0)
    return buf


_STAMP = re.compile(rb"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def _parse_stamp(stamp: bytes) -> int | None:
    """An engine log timestamp (RFC 3339, UTC, up to nanoseconds) as ns since the epoch."""
    import calendar

    m = _STAMP.match(stamp)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    fraction = (m.group(7) or b"").ljust(9, b"0")
    return seconds * 1_000_000_000 + int(fraction)


@contextlib.contextmanager
def engine_errors(options: dict[str, Any], doing: str) -> Iterator[None]:
    """A dropped connection or an engine error as one clear message."""
    try:
        yield
    except RunyardError:
        raise
    except Exception as exc:
        import docker
        import requests

        where = describe(options.get("address"))
        if isinstance(exc, docker.errors.APIError):  # (a requests error too: first)
            hint = None
            if "device driver" in str(exc.explanation) and options.get("gpus") is not None:
                hint = (
                    "the engine's machine needs the NVIDIA driver and container toolkit for "
                    "`gpus:`; remove `gpus:` from the target to run without GPUs"
                )
            raise RunyardError(
                f"The Docker engine at {where} refused a request {doing}: {exc.explanation}",
                hint=hint,
            ) from None
        if isinstance(exc, requests.exceptions.RequestException | ConnectionError | OSError):
            raise RunyardError(
                f"Lost the connection to the Docker engine at {where} {doing} "
                f"({type(exc).__name__}).",
                hint="check the engine and the network (`runyard target test`), then submit again",
            ) from None
        raise


class DockerExecution(common.FollowedExecution):
    """A started container: waits, streams its output, stops it."""

    def __init__(
        self, client: Any, container: Any, ctx: RunContext, options: DockerOptions
    ) -> None:
        from runyard.tracking.wire import FrameReader

        self.client = client
        self.container = container
        self.ctx = ctx
        self.options = options
        super().__init__()
        self.reader = FrameReader()
        self.tracking = ctx.run_dir / "tracking.jsonl"
        # Every log line comes with the engine's timestamp; the last one handled is kept
        # in the run folder, so whoever follows the container next (after a dropped
        # connection, or a new supervisor) goes on exactly after it.
        self.cursor_path = ctx.run_dir / "container.cursor"
        self.cursor = common.read_cursor(self.cursor_path)
        self.pending = b""
        self.streamer = threading.Thread(target=self._stream, daemon=True)
        self.waiter = threading.Thread(target=self._wait, daemon=True)
        self.streamer.start()
        self.waiter.start()

    def _stream(self) -> None:
        while True:
            container = self.container
            since = self.cursor / 1e9 if self.cursor else None
            with contextlib.suppress(Exception):  # a dropped connection ends it too
                for chunk in container.logs(
                    stream=True, follow=True, stdout=True, stderr=True, since=since,
                    timestamps=True,
                ):  # fmt: skip
                    self._lines(chunk)
            if self.done.wait(3) and self.container is container:
                break  # the container ended: that was all of its output
            # the engine went away: wait for the waiter to reconnect, then go on
            while self.container is container and not self.done.wait(1):
                pass
            if self.container is container:
                break
            self.pending = b""
            self.ctx.log("reconnected to the Docker engine; following the run again")
        if self.pending:  # a last line without a newline: still timestamped
            self._lines(b"\n")
        self._feed(b"", final=True)

    def _lines(self, chunk: bytes) -> None:
        """Strip each line's timestamp, skip lines already handled, feed the rest."""
        data = self.pending + chunk
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        out: list[bytes] = []
        for line in data[:cut].splitlines(keepends=True):
            stamp, _, text = line.partition(b" ")
            when = _parse_stamp(stamp)
            if when is None:  # not a timestamp: keep the line as it is
                out.append(line)
                continue
            if when <= self.cursor:
                continue
            self.cursor = when
            out.append(text)
        if out:
            self._feed(b"".join(out))
            common.write_cursor(self.cursor_path, self.cursor)

    def _feed(self, chunk: bytes, final: bool = False) -> None:
        log, records = self.reader.feed(chunk, final=final)
        if log:
            with contextlib.suppress(OSError):
                os.write(self.ctx.log_fd, log)
        if records:
            with self.tracking.open("ab") as f:
                f.write(b"".join(records))

    def _wait(self) -> None:
        import docker

        def step() -> bool:
            try:
                result = self.container.wait()
                self.code = int(result.get("StatusCode", 1))
                if self.code != 0:
                    time.sleep(0.5)  # a removal stops the container first, then deletes it
                self.container.reload()  # NotFound: it was removed, not ended
            except docker.errors.NotFound:
                self.code = None
                raise RunLost(
                    "its container was removed from the Docker engine while it ran"
                ) from None
            return True

        self.error = common.follow_until_lost(
            step, self._reconnect, self.ctx.log, lambda: "the Docker engine"
        )
        self.done.set()

    def _reconnect(self) -> bool:
        """A fresh client (the SDK does not recover a dropped SSH transport)."""
        import docker

        try:
            client = connect(self.options.raw)
            container = client.containers.get(self.container.id)
        except docker.errors.NotFound:
            container, client = self.container, self.client  # reported by the next wait
        except Exception:
            return False
        self.client, self.container = client, container
        return True

    def _before_outcome(self) -> None:
        self.streamer.join(timeout=10)  # the last lines before the outcome

    def terminate(self) -> None:
        with contextlib.suppress(Exception):
            self.container.kill(signal="SIGTERM")

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.container.kill()

    def exit_reason(self, code: int) -> str:
        """The script is the container's init (`_command` execs it), and the engine
        reports 128 + N when signal N ended it: "killed by SIGKILL (exit code 137)"."""
        return shell_exit_reason(code)


class _ChunkStream(io.RawIOBase):
    """The chunks of a stream of bytes (an ``exec``'s output) as a file to read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.rest:
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.rest = chunk
        count = min(len(buffer), len(self.rest))
        buffer[:count] = self.rest[:count]
        self.rest = self.rest[count:]
        return count


class DockerBackend:
    def __init__(self) -> None:
        self.client: Any = None
        self.image: str | None = None
        self.built = False
        self.container: Any = None
        self.execution: DockerExecution | None = None
        self.lock: envs.EnvLock | None = None
        self.events: common.EventFilesBack | None = None  # event files coming back
        self.live: common.LiveEventFiles | None = None  # ... while the run runs

    def _options(self, ctx: RunContext) -> DockerOptions:
        return DockerOptions.of(ctx.spec)

    def prepare(self, ctx: RunContext) -> None:
        options = self._options(ctx)
        self.client = connect(options.raw)
        with engine_errors(options.raw, "while building the run's environment image"):
            self.image, digest, self.built = ensure_image(self.client, ctx, options)
        ctx.set_env_hash(digest or None)
        self.lock = self._read_lock(ctx, options)

    def _read_lock(self, ctx: RunContext, options: DockerOptions) -> envs.EnvLock | None:
        """The image's lock (`image_lock`); None, said in the run's log, when it cannot
        be read (an image of the target's without that interpreter)."""
        assert self.image is not None
        labels = {LABEL_PROJECT: str(ctx.project_root)}
        python = None if self.built else options.python
        try:
            with engine_errors(options.raw, "while reading the environment's packages"):
                return image_lock(
                    self.client, self.image, python, ctx.envs_dir / ".image-locks", labels
                )
        except RunyardError as exc:
            ctx.log(
                f"the environment's packages could not be listed for the run's lock: {exc.message}"
            )
            return None

    def env_lock(self, ctx: RunContext) -> envs.EnvLock | None:
        """The image's lock with the host facts the run's container measured as it
        started (None: it could not say, a line in the run's log)."""
        if self.lock is None:
            return None
        return dataclasses.replace(self.lock, host=self._host_facts(ctx))

    def _host_facts(self, ctx: RunContext, wait: float = 20.0) -> HostFacts | None:
        """`HOST_FILE` of the run's container, once written (the container is kept
        until the run ends, so a script that ended at once still has it)."""
        container = self.execution.container if self.execution else self.container
        deadline = time.monotonic() + wait
        ended = False
        while container is not None:
            text = _container_text(container, HOST_FILE)
            if text is not None:
                with contextlib.suppress(ValueError):
                    facts = HostFacts.from_json(json.loads(text))
                    if facts is not None:
                        return facts
                break
            if ended or time.monotonic() > deadline:
                break
            with contextlib.suppress(Exception):
                container.reload()
                ended = container.status not in ("created", "running")  # one more look
            time.sleep(0.05)
        ctx.log("the run's host facts (OS, CPU, GPUs) could not be read from its container")
        return None

    def _environment(self, ctx: RunContext, ca: bool) -> dict[str, str]:
        env = ctx.spec.user_env()
        env.update(
            {
                "RUNYARD_RUN_ID": ctx.env.get("RUNYARD_RUN_ID", ctx.run_id),
                "RUNYARD_EXPERIMENT": ctx.env.get("RUNYARD_EXPERIMENT", ""),
                "RUNYARD_TRACKING_URI": "stream://stderr",
                "RUNYARD_OUTPUTS": f"/work/{ctx.outputs}",
                "PYTHONPATH": "/opt/runyard/lib",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if ca:
            env.update(
                {"PIP_CERT": CA_PATH, "REQUESTS_CA_BUNDLE": CA_PATH, "SSL_CERT_FILE": CA_PATH}
            )
        return env

    def _command(self, ctx: RunContext, options: DockerOptions) -> list[str]:
        python = "python" if self.built else options.python
        command = ctx.spec.argv(python)
        # The host facts first (module docstring), written whole or not at all; then one
        # stream for stdout and stderr inside the container: Docker keeps the two apart
        # and loses their order (a traceback would land before the lines it ends).
        facts = (
            f"{shlex.quote(python)} -I {HOST_PROGRAM} --host > {HOST_FILE}.tmp 2>/dev/null "
            f"&& mv {HOST_FILE}.tmp {HOST_FILE}; "
        )
        return ["/bin/sh", "-c", facts + 'exec "$@" 2>&1', "runyard-run", *command]

    def start(self, ctx: RunContext) -> DockerExecution:
        with engine_errors(self._options(ctx).raw, "while starting the run's container"):
            return self._start(ctx)

    def _start(self, ctx: RunContext) -> DockerExecution:
        from docker.types import DeviceRequest

        options = self._options(ctx)
        ca = ca_bytes(options.raw)
        user = options.user or (RUN_USER if self.built else None)
        uid = RUN_UID if user == RUN_USER else 0
        devices = []
        gpus = options.gpus
        if gpus is not None:
            count = -1 if gpus == "all" else int(gpus)
            devices.append(DeviceRequest(count=count, capabilities=[["gpu"]]))
        volumes = options.volumes
        container = self.client.containers.create(
            self.image,
            command=self._command(ctx, options),
            working_dir="/work",
            environment=self._environment(ctx, ca is not None),
            labels={LABEL_PROJECT: str(ctx.project_root), LABEL_RUN: ctx.run_id},
            name=f"runyard-{ctx.run_id}",
            user=user,
            shm_size=options.shm_size,
            device_requests=devices or None,
            volumes=volumes or None,
            privileged=False,
            **container_limits(self.client, options.raw),
            stdin_open=False,
            tty=False,
            detach=True,
        )
        try:
            with _payload(ctx, uid, ca) as payload:
                container.put_archive("/", payload)
            container.start()
        except BaseException:
            # it never ran and holds nothing of the run's (its log is empty): it goes
            with contextlib.suppress(Exception):
                container.remove(force=True)
            raise
        self.container = container
        ctx.log(f"container {container.short_id} started from {self.image}")
        self.execution = DockerExecution(self.client, container, ctx, options)
        self._follow_event_files(ctx, options)
        return self.execution

    def _follow_event_files(self, ctx: RunContext, options: DockerOptions) -> None:
        """Bring the run's event files back while it runs (`common.LiveEventFiles`): each
        look is `remote/tbfiles.py` (in the container as `EVENTS_PROGRAM`) run with
        ``exec`` by the container's interpreter, which lists /work without following a
        link and sends what the followed files gained; not the engine's list of the
        container's changes, which walks the whole image. Not at all when the job names
        its TensorBoard folder or the image's lock names no writer of event files."""
        self.events = common.EventFilesBack(ctx)
        if not self.events.enabled or not self._may_write_event_files():
            return
        python = "python" if self.built else options.python
        execution = self.execution
        assert execution is not None
        self.live = common.LiveEventFiles(
            self.events,
            lambda conf: self._look(python, conf),
            "the run's container",
            running=lambda: not execution.done.is_set(),
        ).start()

    def _may_write_event_files(self) -> bool:
        """False when the image's lock lists no writer of event files (none: True)."""
        return self.lock is None or common.may_write_event_files(
            name for name, _version in self.lock.packages
        )

    @contextlib.contextmanager
    def _look(self, python: str, conf: dict[str, object]) -> Iterator[IO[bytes]]:
        """The scanner run in the container with ``exec``: its stdout as a stream."""
        execution = self.execution
        assert execution is not None
        api = execution.client.api
        command = [python, "-I", EVENTS_PROGRAM, "/work", json.dumps(conf)]
        made = api.exec_create(execution.container.id, command, stdout=True, stderr=False)
        chunks = api.exec_start(made["Id"], stream=True)
        stream = io.BufferedReader(_ChunkStream(chunks), 1 << 16)
        try:
            yield stream
            for _rest in chunks:  # (to its end, for the exit status)
                pass
            code = api.exec_inspect(made["Id"]).get("ExitCode")
            if code not in (0, None):
                raise RunyardError(f"the event files' scanner ended with exit status {code}")
        finally:
            with contextlib.suppress(Exception):
                chunks.close()

    def attach(self, ctx: RunContext) -> DockerExecution | None:
        """Find the run's container again (by its label) and follow it from the last
        output the run's log has."""
        options = self._options(ctx)
        self.client = connect(options.raw)
        found = self.client.containers.list(
            all=True, filters={"label": f"{LABEL_RUN}={ctx.run_id}"}
        )
        if not found:
            return None
        self.container = found[0]
        ctx.log(f"following container {self.container.short_id} again")
        self.execution = DockerExecution(self.client, self.container, ctx, options)
        self._follow_event_files(ctx, options)
        return self.execution

    def finish(self, ctx: RunContext) -> Path | None:
        if self.execution is not None:
            self.container = self.execution.container  # a reconnect replaces it
        if self.container is None:
            return None
        import posixpath

        import docker

        container = self.container

        def copy_back(rel: str, what: str) -> Path | None:
            """`/work/<rel>` of the container into the working copy; None if missing.
            Entry by entry, never through a link (`common.extract_outputs`)."""
            rel = posixpath.normpath(rel)
            dest = ctx.workdir / rel
            if not common.route_is_safe(ctx.workdir, rel, ctx.log, what):
                return None
            try:
                stream, _stat = container.get_archive(f"/work/{rel}")
                with tempfile.TemporaryFile() as data:
                    for chunk in stream:
                        data.write(chunk)
                    data.seek(0)
                    common.clear_destination(dest)
                    with tarfile.open(fileobj=data) as tar:
                        # the archive's entries are `<last part of rel>/...`
                        tops = {posixpath.basename(rel): rel}
                        common.extract_outputs(tar, dest.parent, tops, ctx.log)
                return dest if dest.is_dir() and not dest.is_symlink() else None
            except Exception as exc:
                if not isinstance(exc, docker.errors.NotFound):
                    ctx.log(f"could not copy {what} back: {exc}")
                return None

        found = copy_back(ctx.outputs, "outputs")
        # The TensorBoard folder too (unless the outputs held it), for the supervisor to
        # import the scalars in its event files and keep them.
        logs = common.tensorboard_folder(ctx.spec.tensorboard_dir, ctx.outputs)
        if logs is not None:
            copy_back(logs, "the TensorBoard event files")
        try:
            self._event_files_back(ctx, container)
        except Exception as exc:  # never the run's outcome, nor its outputs
            ctx.log(f"could not copy the TensorBoard event files back: {exc}")
        with contextlib.suppress(Exception):
            container.remove(force=True)
        return found

    def _event_files_back(self, ctx: RunContext, container: Any) -> None:
        """The rest of the event files the run wrote anywhere else in its working copy,
        for the supervisor to import (`common.EventFilesBack`): what the followed ones
        gained since the live copy's last look (`_follow_event_files`), and the files it
        never saw. The ended container (no ``exec`` any more) is listed by the engine's
        changes to its filesystem (only real paths: what a link leads to is listed
        where it really lies, so never under /work through a link), and each file
        chosen is fetched alone, only its bytes past what came back already kept; a
        link named like an event file comes back as a link, and is named and left
        behind. That listing costs the engine a walk of the image too (about 0.5 s for
        a 300 MB image, 2 s for 1.4 GB on a busy machine), so it is skipped when the
        image's lock lists no writer of event files (`common.may_write_event_files`: no
        TensorBoard, tensorboardX, TensorFlow or mxboard); without a lock (a run taken
        over, a lock that could not be read) the container is always listed."""
        live = self.live
        if live is not None:
            live.finish(final=False)
        back = self.events or common.EventFilesBack(ctx)
        if not back.enabled or not self._may_write_event_files():
            return  # (nothing in the run's environment writes them: the listing is skipped)
        changes = container.diff() or []
        paths = sorted(
            c["Path"][len("/work/") :]
            for c in changes
            if c.get("Kind") in (0, 1) and str(c.get("Path", "")).startswith("/work/")
        )
        for rel in paths:
            rel = posixpath.normpath(rel)
            have = back.following.get(rel)
            if have is None and (rel in back.stopped or not back.wanted(rel)):
                continue
            stream, stat = container.get_archive(f"/work/{rel}")
            link = stat.get("linkTarget") if int(stat.get("mode", 0)) & _GO_SYMLINK else None
            size = int(stat.get("size", 0))
            if have is not None:
                back.check_listed(rel, size, link or None)
                chosen = rel in back.following and size > have
            else:
                chosen = back.start_following(rel, size, link or None)
            if not chosen:
                with contextlib.suppress(Exception):
                    stream.close()
                continue
            offset = have or 0
            with tempfile.TemporaryFile() as data:
                for chunk in stream:
                    data.write(chunk)
                data.seek(0)
                with tarfile.open(fileobj=data) as tar:
                    member = tar.next()
                    source = tar.extractfile(member) if member is not None else None
                    if member is None or source is None or member.size < offset:
                        ctx.log(f"the TensorBoard event file {rel} was not copied back whole")
                        continue
                    source.seek(offset)
                    back.append(rel, offset, source, member.size - offset)
        back.done()
        if live is not None and back.written:
            ctx.log(live.summary())

    def check(self, options: dict[str, Any]) -> list[Check]:
        return check_docker(options)

    def ssh_host(self, options: dict[str, Any]) -> tuple[str, int]:
        _paramiko()
        return _ssh_endpoint(options.get("address"))


def check_docker(options: dict[str, Any]) -> list[Check]:
    """`runyard target test` for a docker target."""
    address = options.get("address")
    try:
        client = connect(options)
    except RunyardError as exc:
        return [Check("engine", False, exc.message, exc.hint)]
    checks: list[Check] = []
    version = client.version()
    checks.append(
        Check(
            "engine",
            True,
            f"{describe(address)}: Docker {version.get('Version')} (API {version.get('ApiVersion')}, "
            f"{version.get('Os')}/{version.get('Arch')})",
        )
    )
    import docker

    image = options.get("image") or options.get("base_image")
    what = "image" if options.get("image") else "base image"
    try:
        found = client.images.get(image)
        checks.append(Check(what, True, f"{image} ({found.short_id})"))
    except docker.errors.ImageNotFound:
        checks.append(
            Check(
                what,
                False,
                f"{image} is not on the engine",
                f"pull it there (docker pull {image})",
            )
        )
    if options.get("ca_bundle"):
        path = Path(str(options["ca_bundle"])).expanduser()
        checks.append(
            Check(
                "ca_bundle",
                path.is_file(),
                str(path) if path.is_file() else f"{path} not found",
                None if path.is_file() else "fix `ca_bundle:` in the target file",
            )
        )
    with contextlib.suppress(Exception):
        client.close()
    return checks


@dataclass
class Pruned:
    """What `prune_images` did on one engine: image names (tags, else short ids)."""

    removed: list[str] = field(default_factory=list)
    in_use: list[str] = field(default_factory=list)  # by a run's container, kept
    others: list[str] = field(default_factory=list)  # other projects' or unlabelled, kept
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image, why)


def _image_name(image: Any) -> str:
    return str((image.tags or [image.short_id])[0])


def prune_images(
    options: dict[str, Any],
    project_root: str,
    ours: set[str],
    busy: set[str],
    confirm_others: Callable[[list[str]], bool] | None = None,
) -> Pruned:
    """Remove this project's environment images on the target's engine: those it built
    (labelled with its root) and those its runs used (env hashes in `ours`: an image is
    shared by every project with the same base and dependencies). Never those a run's
    container uses (a live run of any project: its container is there) nor those of
    `busy` env hashes (this project's live runs, a container or not yet).

    Images only other projects built and used, and those without a project label (built
    by an older Runyard), go too only when `confirm_others` (given their names) says so.
    An image shared by several specs (`_Sharing`) is theirs all: each of its
    ``runyard-env:<hash>`` tags counts as its env hash, for `busy` and `ours`."""
    import docker

    client = connect(options)
    used: set[str] = set()
    for container in client.containers.list(
        all=True, sparse=True, filters={"label": LABEL_RUN}
    ):  # fmt: skip
        used.add(str(container.attrs.get("ImageID") or container.attrs.get("Image") or ""))
    done = Pruned()
    mine: list[Any] = []
    others: list[Any] = []
    for image in client.images.list(filters={"label": LABEL_ENV}):
        labels = image.labels or {}
        # every spec that shares the image (its tags: `_Sharing`), the one that built it
        hashes = {str(labels.get(LABEL_ENV))} | {
            t.split(":", 1)[1] for t in image.tags or [] if t.startswith(IMAGE_REPO + ":")
        }
        if image.id in used or hashes & busy:
            done.in_use.append(_image_name(image))
        elif labels.get(LABEL_PROJECT) == project_root or hashes & ours:
            mine.append(image)
        else:
            others.append(image)
    if others and confirm_others is not None and confirm_others([_image_name(i) for i in others]):
        mine += others
    else:
        done.others = [_image_name(i) for i in others]
    for image in mine:
        try:
            client.images.remove(image.id, force=True)
            done.removed.extend(image.tags or [image.short_id])
        except docker.errors.NotFound:
            continue  # removed meanwhile
        except docker.errors.APIError as exc:  # an image built on top of it, say
            done.failed.append((_image_name(image), str(exc.explanation or exc)))
    with contextlib.suppress(Exception):
        client.close()
    return done


# --------------------------------------------------------------------------- host keys


def _ssh_endpoint(address: str | None) -> tuple[str, int]:
    url = urlparse(address or "")
    if url.scheme != "ssh" or not url.hostname:
        raise UsageError(
            f"Only targets with an ssh:// address have a host key to trust (this one: "
            f"{describe(address)}).",
            hint="set `address: ssh://user@host` in the target file",
        )
    return url.hostname, url.port or 22


def fetch_host_key(address: str | None) -> tuple[str, Any]:
    """(known_hosts name, key) that the SSH server at `address` presents."""
    _paramiko()
    return sshconn.fetch_host_key(*_ssh_endpoint(address))


def trust_host_key(address: str | None, expected: str | None) -> tuple[str, str, bool]:
    """Record the host key of the engine's machine in ~/.ssh/known_hosts when its
    fingerprint is `expected` (see `sshconn.trust_host_key`)."""
    _paramiko()
    return sshconn.trust_host_key(*_ssh_endpoint(address), expected)
