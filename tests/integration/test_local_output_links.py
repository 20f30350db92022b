"""A local run's outputs that are, or hold, links out of them: real runs on the local
target (real git, the real supervisor). The supervisor keeps the outputs without ever
following or moving through such a link: the offending entries are left behind, the
rest is kept, and the run's log names each one, as for a Docker run
(test_docker_output_links.py). The folder a link leads to is never touched."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import git, runyard

pytestmark = pytest.mark.integration

# Real files, a folder, links inside the outputs (kept), and links that lead out of
# outputs/: absolute, climbing out with `..`, a folder link (left behind).
WRITE = """\
import os, sys
shared = sys.argv[1]
os.makedirs("outputs/sub", exist_ok=True)
open("outputs/a.txt", "w").write("a\\n")
open("outputs/sub/b.txt", "w").write("b\\n")
open("secret.txt", "w").write("not an output\\n")
os.symlink(os.path.join(shared, "theirs.txt"), "outputs/bad")
os.symlink("../../secret.txt", "outputs/sub/climbs")
os.symlink("../secret.txt", "outputs/beside")
os.symlink(shared, "outputs/folder")
os.symlink("sub/b.txt", "outputs/near")
os.symlink("sub", "outputs/subdir")
print("wrote outputs", flush=True)
"""


def _submit(project: Path, *args: str) -> tuple[dict[str, Any], str]:
    proc = runyard(project, "submit", *args, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stdout.splitlines()[0].strip()
    show = json.loads(runyard(project, "runs", "show", run_id, "--json", check=True).stdout)
    log = runyard(project, "runs", "logs", run_id, check=True).stdout
    return show, log


def _shared(tmp_path: Path) -> Path:
    shared = tmp_path / "shared"
    (shared / "deep").mkdir(parents=True)
    (shared / "theirs.txt").write_text("someone else's\n")
    (shared / "deep" / "more.txt").write_text("more\n")
    return shared


def _untouched(shared: Path) -> None:
    assert (shared / "theirs.txt").read_text() == "someone else's\n"
    assert (shared / "deep" / "more.txt").read_text() == "more\n"


def test_a_committed_outputs_link_to_a_shared_folder_lists_none_of_its_files(
    project: Path, tmp_path: Path
) -> None:
    shared = _shared(tmp_path)
    (project / "outputs").symlink_to(shared, target_is_directory=True)
    (project / "train.py").write_text("print('trained', flush=True)\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "outputs go to the shared folder")

    show, log = _submit(project, "train.py")

    assert show["status"] == "completed", show
    assert show["artifacts"] == [], show["artifacts"]
    kept = Path(show["outputs_dir"])
    assert not kept.is_symlink() and not (kept / "theirs.txt").exists()
    _untouched(shared)
    assert "[runyard] the outputs were not kept: outputs is a link" in log, log
    assert "out of the run's working copy" in log, log


def test_links_out_of_a_local_runs_outputs_are_skipped_and_the_rest_kept(
    project: Path, tmp_path: Path
) -> None:
    shared = _shared(tmp_path)
    (project / "write.py").write_text(WRITE)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "write")

    show, log = _submit(project, "write.py", str(shared))

    assert show["status"] == "completed", show
    outputs = Path(show["outputs_dir"])
    assert (outputs / "a.txt").read_text() == "a\n"
    assert (outputs / "sub" / "b.txt").read_text() == "b\n"
    assert os.readlink(outputs / "near") == "sub/b.txt"  # links inside the outputs stay
    assert os.readlink(outputs / "subdir") == "sub"
    for name in ("bad", "sub/climbs", "beside", "folder"):
        assert not os.path.lexists(outputs / name), name
    _untouched(shared)
    assert f"[runyard] outputs/bad was not kept: it is a link to {shared}/theirs.txt" in log
    assert "[runyard] outputs/sub/climbs was not kept: it is a link to ../../secret.txt" in log
    assert "[runyard] outputs/beside was not kept: it is a link to ../secret.txt" in log
    assert f"[runyard] outputs/folder was not kept: it is a link to {shared}," in log, log
    paths = sorted(a["path"] for a in show["artifacts"])
    assert paths == ["a.txt", "near", "sub/b.txt"], paths
