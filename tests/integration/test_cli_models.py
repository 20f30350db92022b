"""`runyard model ...` end to end: real local runs, the real `runyard` command."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import runyard, submit_run, until

pytestmark = pytest.mark.integration

TRAIN = """\
import os, sys
version = sys.argv[1] if len(sys.argv) > 1 else "1"
os.makedirs("outputs/saved/variables", exist_ok=True)
with open("outputs/model.keras", "w") as f:
    f.write("weights " + version)
with open("outputs/saved/saved_model.pb", "w") as f:
    f.write("graph")
with open("outputs/saved/variables/variables.index", "w") as f:
    f.write("index " + version)
os.symlink(os.path.abspath("train.py"), "outputs/escape.py")
print("trained", version)
"""

SLOW = """\
import time
time.sleep(120)
"""


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(_ok(proc))


def test_register_list_show_alias_download_lineage(project: Path, tmp_path: Path) -> None:
    (project / "train.py").write_text(TRAIN)
    first = submit_run(project, "train.py", "1", detach=False)
    second = submit_run(project, "train.py", "2", detach=False)
    run = _json(runyard(project, "runs", "show", first, "--json"))
    assert run["status"] == "completed"

    proc = runyard(
        project,
        "model",
        "register",
        first,
        "model.keras",
        "--name",
        "digits",
        "--tag",
        "dataset=mnist",
        "--alias",
        "production",
    )
    assert _ok(proc).strip() == "digits:1"
    assert "registered digits:1" in proc.stderr
    v2 = _json(
        runyard(project, "model", "register", second, "model.keras", "--name", "digits", "--json")
    )
    assert v2["version"] == 2 and v2["framework"] == "keras" and v2["kind"] == "file"
    assert v2["digest"] == "sha256:" + hashlib.sha256(b"weights 2").hexdigest()
    folder = _json(runyard(project, "model", "register", first, "saved", "--name", "tf", "--json"))
    assert folder["kind"] == "folder" and folder["framework"] == "tensorflow"
    assert folder["size"] == len("graph") + len("index 1")

    listing = _json(runyard(project, "model", "list", "--json"))
    assert [m["ref"] for m in listing] == ["digits:1", "digits:2", "tf:1"]
    table = _ok(runyard(project, "model", "list"))
    assert "digits" in table and "production→1" in table
    versions = _ok(runyard(project, "model", "list", "digits"))
    assert "digits:2" in versions and first in versions

    shown = _json(runyard(project, "model", "show", "digits@production", "--json"))
    assert shown["version"] == 1 and shown["tags"] == {"dataset": "mnist"}
    assert shown["run_id"] == first and shown["snapshot_commit"] == run["snapshot"]["commit"]
    assert shown["env_hash"] == run["env_hash"] and shown["target"] == "local"
    human = _ok(runyard(project, "model", "show", "digits"))
    assert "model digits:2" in human and "framework:  keras" in human

    runyard(project, "model", "alias", "digits:2", "production", check=True)
    assert _json(runyard(project, "model", "show", "digits@production", "--json"))["version"] == 2

    # deleting the runs' folders keeps the models downloadable
    shutil.rmtree(project / ".runyard" / "state" / "runs" / first)
    dest = tmp_path / "dl"
    dest.mkdir()
    written = _ok(runyard(project, "model", "download", "digits:1", str(dest))).strip()
    assert Path(written) == dest / "model.keras"
    assert (dest / "model.keras").read_text() == "weights 1"
    written = _ok(runyard(project, "model", "download", "tf", str(dest / "tf"))).strip()
    assert (dest / "tf" / "variables" / "variables.index").read_text() == "index 1"
    again = runyard(project, "model", "download", "digits:1", str(dest))
    assert again.returncode == 2 and "already exists" in again.stderr

    lineage = _json(runyard(project, "model", "lineage", "digits:1", "--json"))
    assert lineage["run"]["id"] == first and lineage["run"]["status"] == "completed"
    assert lineage["snapshot"] == run["snapshot"]["commit"]
    assert lineage["target"] == "local" and lineage["env_hash"] == run["env_hash"]
    assert lineage["deployments"] == []
    chain = _ok(runyard(project, "model", "lineage", "digits:1"))
    assert "model digits:1" in chain and f"run {first}" in chain
    assert f"snapshot commit {run['snapshot']['commit']}" in chain
    assert "target local" in chain

    runyard(project, "model", "alias", "digits", "production", "--remove", check=True)
    gone = runyard(project, "model", "show", "digits@production")
    assert gone.returncode == 2 and "no alias 'production'" in gone.stderr


def test_bad_paths_refs_and_running_runs_are_clear_errors(project: Path) -> None:
    (project / "train.py").write_text(TRAIN)
    run_id = submit_run(project, "train.py", detach=False)
    # the run's link out of its outputs is dropped when the outputs are kept;
    # one planted in the kept folder afterwards is still refused by the registry
    kept = project / ".runyard/state/runs" / run_id / "outputs"
    assert not (kept / "escape.py").is_symlink()
    (kept / "escape.py").symlink_to(project / "train.py")
    cases = [
        (["../run.log"], "'..'"),
        (["/etc/passwd"], "absolute path"),
        (["escape.py"], "outside the run's outputs"),
        (["nothing.bin"], "no output 'nothing.bin'"),
    ]
    for args, message in cases:
        proc = runyard(project, "model", "register", run_id, *args, "--name", "m")
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr
    proc = runyard(project, "model", "register", run_id, "model.keras", "--name", "bad name")
    assert proc.returncode == 2 and "not a valid model name" in proc.stderr
    proc = runyard(project, "model", "show", "nothing")
    assert proc.returncode == 2 and "No model named 'nothing'" in proc.stderr
    proc = runyard(project, "model", "list")
    assert proc.returncode == 0 and "no models registered" in proc.stderr

    (project / "slow.py").write_text(SLOW)
    slow = _ok(runyard(project, "submit", "--detach", "slow.py")).splitlines()[0].strip()
    try:
        until(
            lambda: _json(runyard(project, "runs", "show", slow, "--json"))["status"] == "running",
            what="the slow run running",
        )
        proc = runyard(project, "model", "register", slow, "x", "--name", "m")
        assert proc.returncode == 2 and "still running" in proc.stderr
    finally:
        runyard(project, "runs", "cancel", slow)
