"""Removes the environments under `envs` (argv[1]) that are not in `keep` (argv[2], a
JSON list), are not being built (their lock is free) and that no process is running
from (checked in /proc where there is one: another project may share the workdir);
prints the removed names as JSON.

Aliases (a spec that resolves to the same packages as another's environment, a link to
it: `build_env`) go first, unless kept or in use; an environment a kept or busy alias
leads to stays. Aliases left leading nowhere, and stale entries of the lock index
(``.by-lock/``), are removed too; the index itself once no environment is left."""

from __future__ import annotations

import contextlib
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
    needed = set()  # environments a kept or busy alias leads to
    for name in names:
        prefix = os.path.join(envs, name)
        if name.startswith(".") or not os.path.islink(prefix):
            continue
        target = os.path.basename(os.readlink(prefix))
        if name in keep or in_use(prefix):
            needed.add(target)
            continue
        os.unlink(prefix)
        with contextlib.suppress(OSError):
            os.unlink(prefix + ".lock")
        removed.append(name)
    for name in names:
        prefix = os.path.join(envs, name)
        if name in needed or os.path.islink(prefix):
            continue
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
    for name in names:  # aliases of an environment that went
        prefix = os.path.join(envs, name)
        if os.path.islink(prefix) and not os.path.exists(prefix):
            os.unlink(prefix)
            removed.append(name)
    index = os.path.join(envs, ".by-lock")
    for name in os.listdir(index) if os.path.isdir(index) else []:
        link = os.path.join(index, name)
        if os.path.islink(link) and not os.path.exists(link):
            os.unlink(link)
    # nothing left to share (no environment, none being built): the index goes too
    index_files = {".by-lock", ".by-lock.lock"}
    if os.path.isdir(envs) and set(os.listdir(envs)) <= index_files:
        with contextlib.suppress(OSError):
            os.rmdir(index)
        with contextlib.suppress(OSError):
            os.unlink(index + ".lock")
    print(json.dumps(removed))


if __name__ == "__main__":
    main()
