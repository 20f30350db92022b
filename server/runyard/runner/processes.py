"""What a run's and a sweep's supervisors share as processes: each is started detached
(its own session, so it outlives the editor and the terminal that started it) with its
output appended to a log file, and each holds an exclusive lock on a file for as long as
it lives, so "is it alive?" is one non-blocking lock attempt (`lock_held`), which the
kernel answers correctly even after a kill -9."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def lock_held(path: Path) -> bool:
    """True while some process holds the exclusive lock on `path` (False when the file
    does not exist or cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def spawn_detached(
    module: str, args: Sequence[str], log: Path, pass_fds: Sequence[int], cwd: Path
) -> int:
    """Start `python -m module args` in a session of its own, output appended to `log`,
    with the descriptors `pass_fds` inherited; its pid."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            cwd=cwd,
        )
    return proc.pid
