"""Removes the environments under `envs` (argv[1]) that are not in `keep` (argv[2], a
JSON list), are not being built (their lock is free) and that no process is running
from (checked in /proc where there is one: another project may share the workdir);
prints the removed names as JSON."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys


def in_use(prefix: str) -> bool:
    if not os.path.isdir("/proc"):
        return False
    needle = (prefix + "/").encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if needle in f.read():
                        return True
            except OSError:
                pass
    return False


def main() -> None:
    envs, keep = sys.argv[1], set(json.loads(sys.argv[2]))
    removed = []
    names = sorted(os.listdir(envs)) if os.path.isdir(envs) else []
    for name in names:
        prefix = os.path.join(envs, name)
        if name.startswith(".") or name in keep or not os.path.isdir(prefix):
            continue
        with open(prefix + ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            if in_use(prefix):
                continue
            shutil.rmtree(prefix, ignore_errors=True)
        os.unlink(prefix + ".lock")
        removed.append(name)
    print(json.dumps(removed))


if __name__ == "__main__":
    main()
