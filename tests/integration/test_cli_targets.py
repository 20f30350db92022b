"""`runyard init`, `target` and `jobs` commands against real project folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import runyard

pytestmark = pytest.mark.integration


def test_init_is_idempotent_and_never_overwrites(tmp_path: Path) -> None:
    root = tmp_path / "new"
    first = runyard(tmp_path, "init", str(root), check=True)
    assert "created .runyard/targets/local.yml" in first.stderr
    assert (root / ".runyard/.gitignore").read_text() == "state/\n"
    (root / ".runyard/targets/local.yml").write_text("type: local\ndescription: mine\n")
    again = runyard(root, "init", check=True)
    assert "already" in again.stderr
    assert "mine" in (root / ".runyard/targets/local.yml").read_text()


def test_target_add_show_list_default_test_remove(project: Path) -> None:
    runyard(
        project,
        "target",
        "add",
        "sys",
        "--type",
        "local",
        "--python",
        sys.executable,
        "--env",
        "A=1",
        "--description",
        "the system interpreter",
        check=True,
    )
    refused = runyard(project, "target", "add", "sys", "--type", "local")
    assert refused.returncode == 2 and "--force" in refused.stderr
    bad_type = runyard(project, "target", "add", "k8s", "--type", "kubernetes")
    assert bad_type.returncode == 2 and "local" in bad_type.stderr
    assert not (project / ".runyard/targets/k8s.yml").exists()

    shown = json.loads(runyard(project, "target", "show", "sys", "--json", check=True).stdout)
    assert shown["python"] == sys.executable and shown["env"] == {"A": "1"}

    listed = json.loads(runyard(project, "target", "list", "--json", check=True).stdout)
    assert {t["name"]: t["default"] for t in listed} == {"local": True, "sys": False}
    runyard(project, "target", "default", "sys", check=True)
    assert runyard(project, "target", "default", check=True).stdout.strip() == "sys"
    listed = json.loads(runyard(project, "target", "list", "--json", check=True).stdout)
    assert {t["name"]: t["default"] for t in listed} == {"local": False, "sys": True}

    (project / "env.py").write_text("import os\nprint('A is', os.environ['A'])\n")
    ran = runyard(project, "submit", "env.py", check=True)  # the default target now
    assert "A is 1" in ran.stdout

    tested = json.loads(runyard(project, "target", "test", "local", "--json").stdout)
    assert tested["ok"] is True
    assert {c["name"] for c in tested["checks"]} >= {"interpreter", "venv", "git"}

    runyard(
        project, "target", "add", "gone", "--type", "local", "--python", "/nope/python3", check=True
    )
    broken = runyard(project, "target", "test", "gone")
    assert broken.returncode == 1 and "not found" in broken.stdout and "fix:" in broken.stdout

    runyard(project, "target", "remove", "sys", check=True)
    assert not (project / ".runyard/targets/sys.yml").exists()
    assert runyard(project, "target", "default", check=True).stdout.strip() == "local"
    missing = runyard(project, "target", "remove", "sys")
    assert missing.returncode == 2 and "sys" in missing.stderr


def test_jobs_list(project: Path) -> None:
    (project / "train.py").write_text("print(1)\n")
    (project / ".runyard/jobs/nightly.yml").write_text(
        "script: train.py\nargs: ['--fast']\ndescription: every night\n"
    )
    (project / ".runyard/jobs/broken.yml").write_text("script: train.py\nargz: []\n")
    proc = runyard(project, "jobs", "list", "--json")
    assert proc.returncode == 1  # a bad file is reported, the good ones still listed
    data = json.loads(proc.stdout)
    good = [j for j in data if "name" in j]
    assert good == [
        {
            "name": "nightly",
            "script": "train.py",
            "module": None,
            "args": ["--fast"],
            "target": None,
            "experiment": None,
            "description": "every night",
        }
    ]
    errors = [j for j in data if "error" in j]
    assert (
        len(errors) == 1 and "argz" in errors[0]["error"] and "broken.yml:2:1" in errors[0]["error"]
    )
    human = runyard(project, "jobs", "list")
    assert "nightly" in human.stdout and "broken.yml" in human.stderr
