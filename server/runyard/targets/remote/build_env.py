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

Exit status: 0 built, 3 another run built it meanwhile, 10 venv failed, 11 the install
failed (the output says why; the ssh target turns each into a message)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from typing import Any


def main() -> None:
    envs, digest, kind = sys.argv[1:4]
    header = json.loads(sys.stdin.buffer.readline().decode("utf-8") or "{}")
    requirements = sys.stdin.buffer.read()
    os.makedirs(envs, exist_ok=True)
    prefix = os.path.join(envs, digest)
    marker = os.path.join(prefix, ".runyard-env.json")
    lock = open(os.path.join(envs, digest + ".lock"), "w")  # noqa: SIM115 (held to the end)
    fcntl.flock(lock, fcntl.LOCK_EX)
    if os.path.isfile(marker):
        sys.exit(3)
    shutil.rmtree(prefix, ignore_errors=True)
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if header.get("index_url"):
        env["PIP_INDEX_URL"] = header["index_url"]
    installer = "pip"
    uv = header.get("uv")
    if uv:
        uv_env = dict(env, **(header.get("uv_env") or {}))
        uv_env.update({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"})
        installer = build_with_uv(uv, prefix, kind, requirements, header, uv_env)
    if installer == "pip":
        build_with_pip(prefix, kind, requirements, env)
    with open(marker + ".tmp", "w") as f:
        json.dump({"kind": kind, "python": sys.executable, "installer": installer}, f)
    os.replace(marker + ".tmp", marker)


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
