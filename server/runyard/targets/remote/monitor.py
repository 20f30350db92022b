"""The monitor of one run: written into the run's folder and started detached (nohup,
a session of its own), so neither a dropped connection nor a canceled run's
process-group signal reaches it. It runs with umask 077 (its files are 0600, like the
rest of the run folder); the script gets the login's own umask back (argv[1]), so the
outputs it writes come back with their usual modes.

It starts the script (`spec.json`: command, env, PATH prefix) in a process group of its
own and records ``monitor.pid``, ``pid``, the output in ``output.log`` and the exit
code in ``exit`` when it ends."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from typing import Any


def put(run: str, name: str, value: object) -> None:
    path = os.path.join(run, name)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(str(value) + "\n")
    os.replace(path + ".tmp", path)


def main() -> None:
    run = os.path.dirname(os.path.abspath(__file__))
    os.umask(0o077)
    try:
        user_umask = int(sys.argv[1], 8)
    except (IndexError, ValueError):
        user_umask = 0o022
    with contextlib.suppress(OSError):
        os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with open(os.path.join(run, "spec.json")) as f:
        spec = json.load(f)
    env = dict(os.environ)
    for name in ("PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(spec["env"])
    if spec.get("path_prefix"):
        env["PATH"] = spec["path_prefix"] + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    put(run, "monitor.pid", os.getpid())
    out = open(os.path.join(run, "output.log"), "ab")  # noqa: SIM115 (the script's output)
    open(os.path.join(run, "tracking.jsonl"), "ab").close()  # 0600 before the script appends
    umask: dict[str, Any]
    if sys.version_info >= (3, 9):  # noqa: UP036 (the remote may have Python 3.8)
        umask = {"umask": user_umask}
    else:
        umask = {"preexec_fn": lambda: os.umask(user_umask)}
    try:
        proc = subprocess.Popen(
            spec["command"],
            cwd=os.path.join(run, "work"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **umask,
        )
    except OSError as exc:
        out.write(f"runyard: could not start {spec['command'][0]}: {exc}\n".encode())
        out.close()
        put(run, "exit", 127)
        sys.exit(0)
    put(run, "pid", proc.pid)
    put(run, "exit", proc.wait())


if __name__ == "__main__":
    main()
