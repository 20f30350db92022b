"""`runyard runs compare` through the shared operations layer: run ids in the header
as they are, and the snapshot row marked only when the code (the git tree) differs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import runyard

pytestmark = pytest.mark.integration


def _submit(project: Path, *args: str) -> str:
    proc = runyard(project, "submit", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()[0].strip()


def _compare(project: Path, *ids: str) -> list[str]:
    proc: subprocess.CompletedProcess[str] = runyard(project, "runs", "compare", *ids)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _row(lines: list[str], label: str) -> str:
    return next(ln for ln in lines if ln[1:].lstrip().startswith(label))


def test_compare_shows_run_ids_as_they_are_in_its_header(project: Path) -> None:
    (project / "train.py").write_text("print('hello')\n")
    a = _submit(project, "train.py")
    b = _submit(project, "train.py")
    header = _compare(project, a, b)[0]
    assert a in header.split() and b in header.split(), header


def test_the_snapshot_row_differs_only_when_the_code_differs(project: Path) -> None:
    (project / "train.py").write_text("print('hello')\n")
    a = _submit(project, "train.py")
    b = _submit(project, "train.py")  # the same code: another commit, the same tree
    same = _row(_compare(project, a, b), "snapshot")
    assert not same.startswith("*"), same
    (project / "train.py").write_text("print('hello again')\n")
    c = _submit(project, "train.py")
    changed = _row(_compare(project, a, c), "snapshot")
    assert changed.startswith("*"), changed
