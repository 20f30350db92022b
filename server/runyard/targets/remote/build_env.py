"""Builds a run environment: a virtual environment ``<envs>/<digest>`` under a lock per
digest, marked complete by a file written last; a failed build removes what it made.
Arguments: envs folder, digest, dependency kind (``none``: nothing to install).

Stdin: one line of JSON, then the requirements. The JSON says how to build:
``index_url`` (the target's, for pip as ``PIP_INDEX_URL``), and with ``uv`` (the uv
binary found by the probe) the environment variables and arguments that give
``uv pip install`` the sources this machine's pip would use (``uv_env``, ``uv_args``:
`runyard.core.pip_sources`, run here beforehand). Without ``uv``: ``python -m venv``
and pip. Credentials in an index address travel on stdin, never on a command line.

Exit status: 0 built, 3 another run built it meanwhile, 10 venv failed, 11 the install
failed (the output says why; the ssh target turns each into a message)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys


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
    uv = header.get("uv")
    python = os.path.join(prefix, "bin", "python")
    if uv:
        env.update(header.get("uv_env") or {})
        env.update({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"})
        make = [uv, "venv", "--quiet", "--no-config", "--python", sys.executable, prefix]
        install = [uv, "pip", "install", "--python", python, *(header.get("uv_args") or [])]
    else:
        without_pip = ["--without-pip"] if kind == "none" else []
        make = [sys.executable, "-m", "venv", *without_pip, prefix]
        install = [python, "-m", "pip", "install", "--progress-bar", "off"]
    sys.stdout.flush()
    if subprocess.call(make, env=env, stderr=subprocess.STDOUT) != 0:
        shutil.rmtree(prefix, ignore_errors=True)
        sys.exit(10)
    if kind != "none":
        req = os.path.join(prefix, "requirements.txt")
        with open(req, "wb") as f:
            f.write(requirements)
        if subprocess.call([*install, "-r", req], env=env, stderr=subprocess.STDOUT) != 0:
            shutil.rmtree(prefix, ignore_errors=True)
            sys.exit(11)
    with open(marker + ".tmp", "w") as f:
        json.dump({"kind": kind, "python": sys.executable, "installer": "uv" if uv else "pip"}, f)
    os.replace(marker + ".tmp", marker)


if __name__ == "__main__":
    main()
