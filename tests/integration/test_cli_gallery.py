"""`runyard gallery` and `runyard new` as a user runs them: the real catalog, real git,
and the created project's first run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import runyard

pytestmark = pytest.mark.integration


def test_gallery_list_and_show(tmp_path: Path) -> None:
    listed = json.loads(runyard(tmp_path, "gallery", "list", "--json", check=True).stdout)
    ids = [e["id"] for e in listed]
    assert "sklearn-digits" in ids
    human = runyard(tmp_path, "gallery", "list", check=True)
    assert "sklearn-digits" in human.stdout and "scikit-learn" in human.stdout
    shown = runyard(tmp_path, "gallery", "show", "sklearn-digits", check=True).stdout
    assert "runyard new sklearn-digits" in shown
    missing = runyard(tmp_path, "gallery", "show", "sklearn-digit")
    assert missing.returncode == 2 and "did you mean 'sklearn-digits'?" in missing.stderr


def test_new_creates_a_committed_project_whose_sample_runs(tmp_path: Path) -> None:
    made = runyard(tmp_path, "new", "sklearn-digits", "--name", "digits-svm", check=True)
    dest = tmp_path / "digits-svm"
    assert "next: cd " in made.stderr and str(dest) in made.stderr
    assert (dest / ".runyard/targets/local.yml").is_file()
    assert (dest / "README.md").read_text().startswith("# digits-svm")
    log = subprocess.run(
        ["git", "-C", str(dest), "log", "--oneline"], capture_output=True, text=True, check=True
    ).stdout
    assert len(log.strip().splitlines()) == 1
    again = runyard(tmp_path, "new", "sklearn-digits", str(dest))
    assert again.returncode == 2 and "nothing was written" in again.stderr
    run = runyard(dest, "submit", "train.py", "--C", "2.0", timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    shown = json.loads(runyard(dest, "runs", "list", "--json", check=True).stdout)[0]
    assert shown["status"] == "completed"
    assert shown["metrics"]["accuracy"] > 0.9
