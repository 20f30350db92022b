"""Builds a run environment: a virtual environment ``<envs>/<digest>`` under a lock per
digest, marked complete by a file written last; a failed build removes what it made.
Arguments: envs folder, digest, dependency kind (``none``: nothing to install).

Stdin: one line of JSON, then the requirements. The JSON says how to build:
``index_url`` (the target's, for pip as ``PIP_INDEX_URL``), and with ``uv`` (the uv
binary found by the probe) the environment variables and arguments that give
``uv pip install`` the sources this machine's pip would use (``uv_env``, ``uv_args``:
`runyard.core.pip_sources`, run here beforehand); when uv fails at something other
than the spec (``spec_errors``: uv's words for a spec that cannot be met), pip builds
it instead. Without ``uv``: ``python -m venv`` and pip. The marker names who built it.
Credentials in an index address travel on stdin, never on a command line.

Shared by their lock (as on the ssh target's local side, `runyard.core.envs`): each
environment built is also indexed by the digest of what it holds (``share.parts`` of
the header, this interpreter, who built it, every name==version it holds; a link
``<envs>/.by-lock/<digest>`` to it). With argv[4] ``share`` nothing is built: uv
resolves the requirements for this interpreter (``uv pip compile``, nothing
installed), and when a complete environment of that exact set is there, ``<digest>``
becomes a link to it (an alias): exit status 4, its name on the last line
(``shared <name>``); 5 when there is none (then the build runs). After a build, an
environment of the same set already there takes its place the same way (4 too).

Exit status: 0 built, 3 another run built it meanwhile, 4 shared with another (an
alias), 5 nothing to share, 10 venv failed, 11 the install failed (the output says why;
the ssh target turns each into a message)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any

BY_LOCK = ".by-lock"
MARKER = ".runyard-env.json"
# the installed distributions of an environment, listed by its own interpreter
LIST_INSTALLED = (
    "import json, importlib.metadata as m; print(json.dumps(sorted({(d.metadata['Name'] or '', "
    "d.version) for d in m.distributions() if d.metadata['Name']})))"
)


def main() -> None:
    envs, digest, kind = sys.argv[1:4]
    share_only = sys.argv[4:5] == ["share"]
    header = json.loads(sys.stdin.buffer.readline().decode("utf-8") or "{}")
    requirements = sys.stdin.buffer.read()
    os.makedirs(envs, exist_ok=True)
    prefix = os.path.join(envs, digest)
    marker = os.path.join(prefix, MARKER)
    lock = open(os.path.join(envs, digest + ".lock"), "w")  # noqa: SIM115 (held to the end)
    fcntl.flock(lock, fcntl.LOCK_EX)
    if os.path.isfile(marker):
        sys.exit(3)
    if os.path.islink(prefix):  # an alias of an environment that is gone
        os.unlink(prefix)
    shutil.rmtree(prefix, ignore_errors=True)
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if header.get("index_url"):
        env["PIP_INDEX_URL"] = header["index_url"]
    installer = "pip"
    uv = header.get("uv")
    uv_env = dict(env, **(header.get("uv_env") or {}))
    uv_env.update({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"})
    shared = header.get("share") or {}
    parts: list[str] | None = [str(p) for p in shared["parts"]] if "parts" in shared else None
    if share_only:
        pins = resolve(uv, kind, requirements, header, uv_env) if uv and parts else None
        if pins is not None and parts is not None:
            share(envs, digest, set_digest(parts, "uv", pins))
        sys.exit(5)
    if uv:
        installer = build_with_uv(uv, prefix, kind, requirements, header, uv_env)
    if installer == "pip":
        build_with_pip(prefix, kind, requirements, env)
    with open(marker + ".tmp", "w") as f:
        json.dump({"kind": kind, "python": sys.executable, "installer": installer}, f)
    os.replace(marker + ".tmp", marker)
    if parts is not None:
        installed = list_installed(prefix)
        if installed is not None:
            key = set_digest(parts, installer, installed)
            share(envs, digest, key, built=prefix)
            index(envs, key, digest)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def set_digest(parts: list[str], installer: str, packages: list[tuple[str, str]]) -> str:
    """The digest of what an environment holds (`runyard.core.envs.set_digest`'s way)."""
    h = hashlib.sha256()
    for part in [*parts, sys.executable, sys.version, installer]:
        h.update(part.encode() + b"\0")
    for name, version in sorted({(normalize(n), v) for n, v in packages}):
        h.update(f"{name}=={version}\n".encode())
    return h.hexdigest()[:24]


def resolve(
    uv: str, kind: str, requirements: bytes, header: Any, env: Any
) -> list[tuple[str, str]] | None:
    """What the requirements resolve to for this interpreter (``uv pip compile``); None
    when uv cannot say it as name==version pins."""
    if kind == "none":
        return []
    with tempfile.TemporaryDirectory(prefix="runyard-resolve-") as scratch:
        req = os.path.join(scratch, "requirements.in")
        with open(req, "wb") as f:
            f.write(requirements)
        cmd = [uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate",
               "--python", sys.executable, *(header.get("uv_args") or []), req]  # fmt: skip
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        return None
    pins = []
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$", line)
        if m is None:
            return None
        pins.append((normalize(m.group(1)), m.group(2)))
    return pins


def list_installed(prefix: str) -> list[tuple[str, str]] | None:
    python = os.path.join(prefix, "bin", "python")
    done = subprocess.run([python, "-I", "-c", LIST_INSTALLED], stdout=subprocess.PIPE)
    if done.returncode != 0:
        return None
    try:
        return [(str(n), str(v)) for n, v in json.loads(done.stdout.decode("utf-8"))]
    except ValueError:
        return None


def share(envs: str, digest: str, key: str, built: str | None = None) -> None:
    """When a complete environment holds the set `key` names, make `digest` an alias
    of it (dropping the environment just `built`) and exit 4."""
    with guard(envs):
        try:
            target = os.path.basename(os.readlink(os.path.join(envs, BY_LOCK, key)))
        except OSError:
            return
        if target == digest or not os.path.isfile(os.path.join(envs, target, MARKER)):
            return
        if built is not None:
            shutil.rmtree(built, ignore_errors=True)
        alias = os.path.join(envs, f".alias-{digest}-{os.getpid()}")
        if os.path.lexists(alias):
            os.unlink(alias)
        os.symlink(target, alias)
        os.replace(alias, os.path.join(envs, digest))
    print("shared " + target, flush=True)
    sys.exit(4)


def index(envs: str, key: str, digest: str) -> None:
    with guard(envs):
        folder = os.path.join(envs, BY_LOCK)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{key}.{os.getpid()}")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink("../" + digest, tmp)
        os.replace(tmp, os.path.join(folder, key))


class guard:
    """One writer of the index and the aliases at a time (`<envs>/.by-lock.lock`)."""

    def __init__(self, envs: str) -> None:
        self.path = os.path.join(envs, BY_LOCK + ".lock")

    def __enter__(self) -> None:
        self.file = open(self.path, "w")
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def __exit__(self, *exc: Any) -> None:
        self.file.close()


def write_requirements(prefix: str, requirements: bytes) -> str:
    req = os.path.join(prefix, "requirements.txt")
    with open(req, "wb") as f:
        f.write(requirements)
    return req


def fail(prefix: str, code: int) -> None:
    shutil.rmtree(prefix, ignore_errors=True)
    sys.exit(code)


def build_with_uv(
    uv: str,
    prefix: str,
    kind: str,
    requirements: bytes,
    header: dict[str, Any],
    env: dict[str, str],
) -> str:
    """ "uv" when uv built it; "pip" when pip should (uv failed at something other than
    the spec: `spec_errors` of the header are uv's words for a spec that cannot be met)."""
    make = [uv, "venv", "--quiet", "--no-config", "--python", sys.executable, prefix]
    sys.stdout.flush()
    if subprocess.call(make, env=env, stderr=subprocess.STDOUT) != 0:
        shutil.rmtree(prefix, ignore_errors=True)
        return "pip"
    if kind == "none":
        return "uv"
    req = write_requirements(prefix, requirements)
    python = os.path.join(prefix, "bin", "python")
    install = [uv, "pip", "install", "--python", python, *(header.get("uv_args") or [])]
    proc = subprocess.Popen(
        [*install, "-r", req], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    output = b""
    while True:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        output = (output + chunk)[-65536:]
    if proc.wait() == 0:
        return "uv"
    text = output.decode("utf-8", "replace")
    if any(marker in text for marker in header.get("spec_errors") or []):
        fail(prefix, 11)
    print("runyard: uv could not build the environment (above); pip builds it instead", flush=True)
    shutil.rmtree(prefix, ignore_errors=True)
    return "pip"


def build_with_pip(prefix: str, kind: str, requirements: bytes, env: dict[str, str]) -> None:
    without_pip = ["--without-pip"] if kind == "none" else []
    sys.stdout.flush()
    if (
        subprocess.call(
            [sys.executable, "-m", "venv", *without_pip, prefix], env=env, stderr=subprocess.STDOUT
        )
        != 0
    ):
        fail(prefix, 10)
    if kind != "none":
        req = write_requirements(prefix, requirements)
        python = os.path.join(prefix, "bin", "python")
        install = [python, "-m", "pip", "install", "--progress-bar", "off", "-r", req]
        if subprocess.call(install, env=env, stderr=subprocess.STDOUT) != 0:
            fail(prefix, 11)


if __name__ == "__main__":
    main()
