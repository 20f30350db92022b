"""Builds a run environment: a virtual environment ``<envs>/<digest>`` from the
requirements read on stdin, under a lock per digest, marked complete by a file written
last. Arguments: envs folder, digest, dependency kind (``none``: no pip), index URL.

Exit status: 0 built, 3 another run built it meanwhile, 10 venv failed, 11 pip failed
(the output says why; the ssh target turns each into a message)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys


def main() -> None:
    envs, digest, kind, index_url = sys.argv[1:5]
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
    if index_url:
        env["PIP_INDEX_URL"] = index_url
    without_pip = ["--without-pip"] if kind == "none" else []
    cmd = [sys.executable, "-m", "venv", *without_pip, prefix]
    sys.stdout.flush()
    if subprocess.call(cmd, env=env, stderr=subprocess.STDOUT) != 0:
        shutil.rmtree(prefix, ignore_errors=True)
        sys.exit(10)
    if kind != "none":
        req = os.path.join(prefix, "requirements.txt")
        with open(req, "wb") as f:
            f.write(requirements)
        python = os.path.join(prefix, "bin", "python")
        pip = [python, "-m", "pip", "install", "--progress-bar", "off"]
        if subprocess.call([*pip, "-r", req], env=env, stderr=subprocess.STDOUT) != 0:
            shutil.rmtree(prefix, ignore_errors=True)
            sys.exit(11)
    with open(marker + ".tmp", "w") as f:
        json.dump({"kind": kind, "python": sys.executable}, f)
    os.replace(marker + ".tmp", marker)


if __name__ == "__main__":
    main()
