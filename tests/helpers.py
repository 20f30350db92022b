"""Helpers for tests: real git and the real `runyard` command in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

# Under CI a missing real part (engine, sshd, Spark, VS Code) fails the tests.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


def until(check: Callable[[], Any], timeout: float = 120, what: str = "condition") -> Any:
    """Poll `check` until it returns something true (and return that), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout}s")


def missing(what: str, fix: str) -> NoReturn:
    """A real part a test needs is not there: a failure under CI (no integration tier
    may skip itself there), a skip that says how to get it elsewhere."""
    message = f"{what} is not available ({fix})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
