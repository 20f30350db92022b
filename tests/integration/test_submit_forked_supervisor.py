"""`runyard submit` forks its run's supervisor from itself (`runs.start_ahead(fork=True)`):
the fork keeps nothing of the submitter's but the run's lock and its "go" pipe, a
refused submission leaves nothing behind, and the run's snapshot ref is made once the
run has gone."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import git, runyard, show_run, until, wait_run

pytestmark = pytest.mark.integration


def _lock_free(run_dir: Path) -> bool:
    """Whether nobody holds the run's supervisor lock (its supervisor is gone)."""
    fd = os.open(run_dir / "supervisor.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_submit_refused_after_its_supervisor_was_forked_leaves_no_run_behind(
    project: Path,
) -> None:
    (project / "train.py").write_text("print('never runs')\n")
    runs_dir = project / ".runyard" / "state" / "runs"
    before = set(os.listdir(runs_dir)) if runs_dir.exists() else set()
    proc = runyard(project, "submit", "--target", "no-such-target", "train.py")
    assert proc.returncode != 0
    assert "no-such-target" in proc.stderr and "internal error" not in proc.stderr
    # the forked supervisor saw the submission end without "go" and removed the folder
    until(lambda: set(os.listdir(runs_dir)) == before, 60, "the refused run's folder removed")
    assert "[]" in runyard(project, "runs", "list", "--json", check=True).stdout


def test_the_forked_supervisor_holds_none_of_the_submitters_pipes(
    project: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "started"
    (project / "wait.py").write_text(
        f"import pathlib, time\npathlib.Path({str(flag)!r}).touch()\ntime.sleep(120)\n"
    )
    # The submitter's stdout and stderr are pipes: they reach their end when it exits,
    # while its run (and the run's supervisor) go on.
    proc = subprocess.Popen(
        [sys.executable, "-m", "runyard.cli", "submit", "--detach", "wait.py"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=120)  # (a supervisor holding a pipe: no end)
    assert proc.returncode == 0, err
    run_id = out.split()[0]
    until(flag.exists, 120, "the script started")
    run_dir = project / ".runyard" / "state" / "runs" / run_id
    assert not _lock_free(run_dir)  # its supervisor holds the lock, not the submitter
    assert runyard(project, "runs", "cancel", run_id).returncode == 0
    assert wait_run(project, run_id)["status"] == "canceled"
    until(lambda: _lock_free(run_dir), 60, "the supervisor gone")


def test_a_submitted_runs_snapshot_ref_points_at_its_recorded_commit(project: Path) -> None:
    (project / "train.py").write_text("print('hello')\n")
    proc = runyard(project, "submit", "train.py", check=True)
    run_id = proc.stdout.split()[0]
    run = show_run(project, run_id)
    assert run["status"] == "completed"
    ref = f"refs/runyard/runs/{run_id}"
    assert run["snapshot"]["ref"] == ref
    assert git(project, "rev-parse", ref).strip() == run["snapshot"]["commit"]
    files = git(project, "ls-tree", "-r", "--name-only", ref).split()
    assert "train.py" in files
