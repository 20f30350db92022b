"""A run's TensorBoard folder that is, or holds, a link out of its working copy: real
local runs in a real git project, whose committed `logs` link (or links inside a real
`logs/`) point to a 'shared' folder outside the project that already holds event
files. Runyard never deletes, moves, reads or keeps anything through such a link; it
says so in the run's log, naming the link."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import IN_CI, git, runyard

pytestmark = pytest.mark.integration

if not IN_CI:  # in CI the dev extra installs it: missing is a failure there
    pytest.importorskip("tensorboard")
import tensorboard  # type: ignore[import-untyped]  # noqa: E402

# Writes one scalar into the folder it is given, with TensorBoard's own writer (the
# run uses this interpreter: the target's `python:`).
WRITE = """\
import sys
from tensorboard.summary import Writer

writer = Writer(sys.argv[1])
for step in range(3):
    writer.add_scalar("mine", float(step), step)
writer.close()
print("wrote", flush=True)
"""


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _shared(tmp_path: Path) -> tuple[Path, dict[Path, bytes]]:
    """A folder outside the project with an event file already in it (and one deeper),
    and their bytes."""
    shared = tmp_path / "shared"
    for folder in (shared, shared / "deeper"):
        writer = tensorboard.summary.Writer(str(folder))
        writer.add_scalar("someone_elses", 7.0, 0)
        writer.close()
    files = {p: p.read_bytes() for p in shared.rglob("*tfevents*")}
    assert len(files) == 2
    return shared, files


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "write_tb.py").write_text(WRITE)
    return root


def _submit(root: Path, *args: str) -> tuple[str, dict[str, Any], str]:
    """Commit, run `write_tb.py ARGS` with this interpreter; the run's id, `runs show`
    and log."""
    git(root, "add", "-A")
    git(root, "commit", "-qm", "project")
    runyard(root, "init", check=True)
    runyard(
        root, "target", "add", "here", "--type", "local", "--python", sys.executable, check=True
    )
    proc = runyard(root, "submit", "--target", "here", "write_tb.py", *args, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stdout.splitlines()[0].strip()
    show = _json(runyard(root, "runs", "show", run_id, "--json"))
    log = runyard(root, "runs", "logs", run_id).stdout
    return run_id, show, log


def _unchanged(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        assert path.is_file(), f"{path.name} was deleted from the shared folder"
        assert path.read_bytes() == data


def test_a_symlinked_log_folder_never_deletes_files_outside_the_project(tmp_path: Path) -> None:
    shared, before = _shared(tmp_path)
    root = _project(tmp_path)
    (root / "logs").symlink_to(shared, target_is_directory=True)  # committed as a link
    run_id, show, log = _submit(root, "logs")

    assert show["status"] == "completed", show
    _unchanged(before)  # the files that were there before the run are all there
    assert len(list(shared.rglob("*tfevents*"))) == 3  # and the one the run wrote
    assert "mine" not in show["metrics"] and "someone_elses" not in show["metrics"]
    assert "logs is a link out of the working copy" in log, log
    kept = root / ".runyard/state/runs" / run_id / "tensorboard"
    assert not kept.exists() or not any(kept.iterdir())


def test_links_inside_the_log_folder_are_neither_followed_nor_kept(tmp_path: Path) -> None:
    shared, before = _shared(tmp_path)
    root = _project(tmp_path)
    logs = root / "logs"
    logs.mkdir()
    (logs / "elsewhere").symlink_to(shared, target_is_directory=True)
    (logs / "events.out.tfevents.0.linked").symlink_to(next(iter(before)))
    run_id, show, log = _submit(root, "logs/mine")

    assert show["status"] == "completed", show
    _unchanged(before)
    assert len(list(shared.rglob("*tfevents*"))) == 2
    assert show["metrics"] == {"mine/mine": 2.0}  # the run's real file only
    for name in ("logs/elsewhere", "logs/events.out.tfevents.0.linked"):
        assert f"[runyard] {name} is a link (to {shared}" in log, log
    assert "not followed, not imported and not kept with the run" in log
    kept = root / ".runyard/state/runs" / run_id / "tensorboard"
    entries = [p.relative_to(kept) for p in kept.rglob("*")]
    assert [p.parent.as_posix() for p in entries if "tfevents" in p.name] == ["mine"]
    assert all(not os.path.islink(kept / p) for p in entries)  # the links were not kept
