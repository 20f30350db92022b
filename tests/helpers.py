"""Helpers for tests: real git and the real `runyard` command in subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def runyard(
    cwd: Path, *args: str, check: bool = False, timeout: float = 180, **kw: object
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "runyard.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        errors="replace",
        **kw,  # type: ignore[arg-type]
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"runyard {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc
