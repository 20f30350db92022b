"""TensorBoard event files written anywhere in a run's working copy, not only in its
`tensorboard_dir`: real local runs whose scripts write with real writers (PyTorch's
`torch.utils.tensorboard.SummaryWriter` in an environment Runyard builds, TensorBoard's
own `tensorboard.summary.Writer` with this interpreter) into `runs/exp1/` and
`lightning_logs/version_0/`. Their scalars arrive live with their steps and wall times,
named by the rule of `runner.tbimport`; a corrupt event file is a warning naming it
and the run goes on; links are never followed out of the working copy; the files are
kept with the run. The importer itself is also driven directly for the naming rule."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import IN_CI, git, runyard, until

pytestmark = pytest.mark.integration

if not IN_CI:  # in CI the dev extra installs it: missing is a failure there
    pytest.importorskip("tensorboard")
import tensorboard  # type: ignore[import-untyped]  # noqa: E402

from runyard.runner.tbimport import TensorBoardImporter, WorkingCopyImporter  # noqa: E402

# Writes STEPS steps into runs/exp1 and lightning_logs/version_0 with TensorBoard's own
# writer, a pause after each, and a corrupt event file in runs/broken.
WRITE_TWO = """\
import os, sys, time
from tensorboard.summary import Writer

steps, pause = int(sys.argv[1]), float(sys.argv[2])
exp = Writer("runs/exp1")
lit = Writer("lightning_logs/version_0")
os.makedirs("runs/broken", exist_ok=True)
with open("runs/broken/events.out.tfevents.0.broken", "wb") as f:
    f.write(bytes(range(7, 71)))  # not a record: its header fails the checksum
for step in range(steps):
    exp.add_scalar("loss", 1.0 / (step + 1), step)
    lit.add_scalar("train_loss", step * 0.5, step)
    exp.flush()
    lit.flush()
    print("step", step, flush=True)
    time.sleep(pause)
exp.close()
lit.close()
print("done", flush=True)
"""

# PyTorch's writer with its default folder, runs/<date>_<host>: one run folder.
WRITE_TORCH = """\
from torch.utils.tensorboard import SummaryWriter

writer = SummaryWriter()
for step in range(4):
    writer.add_scalar("loss", 2.0 - step * 0.5, step)
    writer.add_scalar("accuracy", step / 4, step)
writer.close()
print("logdir", writer.log_dir, flush=True)
"""


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _project(root: Path, script: str, requirements: str | None = None) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text(script)
    if requirements:
        (root / "requirements.txt").write_text(requirements)
    return root


def _commit(root: Path) -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.name=T", "-c", "user.email=t@localhost", "commit", "-qm", "p")
    runyard(root, "init", check=True)


def _points(project: Path, run_id: str) -> dict[str, list[tuple[int, float, float]]]:
    out: dict[str, list[tuple[int, float, float]]] = {}
    for p in _json(runyard(project, "runs", "metrics", run_id, "--json")):
        out.setdefault(p["key"], []).append((p["step"], p["value"], p["time"]))
    return out


def test_event_files_anywhere_arrive_live_named_by_their_run_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    writer = tensorboard.summary.Writer(str(shared))
    writer.add_scalar("someone_elses", 7.0, 0)
    writer.close()
    before = {p: p.read_bytes() for p in shared.rglob("*tfevents*")}
    root = _project(tmp_path / "proj", WRITE_TWO)
    old = tensorboard.summary.Writer(str(root / "notes" / "old"))  # committed: not the run's
    old.add_scalar("stale", 1.0, 0)
    old.close()
    (root / "runs").mkdir()
    (root / "runs" / "elsewhere").symlink_to(shared, target_is_directory=True)
    _commit(root)
    runyard(
        root, "target", "add", "here", "--type", "local", "--python", sys.executable, check=True
    )

    started = time.time()
    proc = runyard(root, "submit", "-d", "--target", "here", "train.py", "16", "0.5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stdout.strip().split()[0]

    def live() -> bool:
        show = _json(runyard(root, "runs", "show", run_id, "--json"))
        assert show["status"] in ("queued", "preparing", "running"), show
        return show["status"] == "running" and "runs/exp1/loss" in show["metrics"]

    until(live, 120, "a scalar of runs/exp1 while the run is running")
    runyard(root, "runs", "wait", run_id, timeout=300)
    ended = time.time()
    show = _json(runyard(root, "runs", "show", run_id, "--json"))
    assert show["status"] == "completed", show
    points = _points(root, run_id)
    # several run folders: each one's tags carry it; nothing from notes/ or the link
    assert set(points) == {"runs/exp1/loss", "lightning_logs/version_0/train_loss"}
    loss = points["runs/exp1/loss"]
    assert [s for s, _v, _t in loss] == list(range(16))
    assert [v for _s, v, _t in loss] == pytest.approx([1 / (s + 1) for s in range(16)])
    assert [(s, v) for s, v, _t in points["lightning_logs/version_0/train_loss"]] == [
        (s, s * 0.5) for s in range(16)
    ]
    walls = [t for _s, _v, t in loss]
    assert walls == sorted(walls) and started - 1 <= walls[0] and walls[-1] <= ended + 1
    assert walls[-1] - walls[0] >= 15 * 0.5 - 1  # the writer's wall times, not import times

    log = runyard(root, "runs", "logs", run_id).stdout
    assert "done" in log
    assert (
        "[runyard] warning: the TensorBoard event file "
        "runs/broken/events.out.tfevents.0.broken is corrupt" in log
    ), log
    assert "the run goes on" in log
    assert "TensorBoard: 32 scalar points (2 series) imported from 3 event files" in log, log
    for path, data in before.items():  # the shared folder behind the link: untouched
        assert path.read_bytes() == data
    assert len(list(shared.rglob("*tfevents*"))) == 1
    kept = root / ".runyard/state/runs" / run_id / "tensorboard"
    folders = sorted(p.parent.relative_to(kept).as_posix() for p in kept.rglob("*tfevents*"))
    assert folders == ["lightning_logs/version_0", "runs/broken", "runs/exp1"]
    assert not any(p.is_symlink() for p in kept.rglob("*"))


def test_pytorch_summary_writer_default_folder_keeps_bare_tags(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj", WRITE_TORCH, "torch\ntensorboard\n")
    _commit(root)
    proc = runyard(root, "submit", "train.py", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    run_id = proc.stdout.splitlines()[0].strip()
    points = _points(root, run_id)
    # one run folder (runs/<date>_<host>): its scalars keep their bare tags
    assert {k: [(s, v) for s, v, _t in p] for k, p in points.items()} == {
        "loss": [(0, 2.0), (1, 1.5), (2, 1.0), (3, 0.5)],
        "accuracy": [(0, 0.0), (1, 0.25), (2, 0.5), (3, 0.75)],
    }
    kept = root / ".runyard/state/runs" / run_id / "tensorboard"
    folders = {p.parent.relative_to(kept).parts[0] for p in kept.rglob("*tfevents*")}
    assert folders == {"runs"}


def _write(folder: Path, tag: str, steps: int = 2) -> None:
    writer = tensorboard.summary.Writer(str(folder))
    for step in range(steps):
        writer.add_scalar(tag, float(step), step)
    writer.close()


def test_the_first_scan_fixes_the_names_and_a_later_folder_is_prefixed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    _write(work / "old", "stale")
    watched = TensorBoardImporter(work / "logs", skip_existing=True, label="logs")
    lines: list[str] = []
    anywhere = WorkingCopyImporter(
        work, exclude=work / "logs", watched=watched, log=lines.append, skip_existing=True
    )
    _write(work / "lightning_logs" / "version_0", "loss")
    _write(work / ".git" / "x", "hidden")  # a pruned folder is never scanned
    _write(work / "logs" / "train", "watched")  # the watched folder's own
    assert watched.read() and watched.keys == {"train/watched"}
    assert {k for k, *_ in anywhere.read(final=True)} == {"lightning_logs/version_0/loss"}
    _write(work / "runs" / "exp1", "loss")
    assert anywhere.read() == []  # (not scanned again yet)
    anywhere.rescan()
    assert {k for k, *_ in anywhere.read()} == {"runs/exp1/loss"}
    assert anywhere.folders() == ["lightning_logs/version_0", "runs/exp1"]
    assert lines == []


def test_one_folder_alone_keeps_bare_tags_and_an_incomplete_record_is_said(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    lines: list[str] = []
    anywhere = WorkingCopyImporter(work, log=lines.append)
    _write(work / "runs" / "exp1", "loss", steps=3)
    event = next((work / "runs" / "exp1").glob("*tfevents*"))
    with event.open("ab") as f:
        f.write(b"\x10\x00\x00")  # the start of a record that never ends
    assert [(k, s, v) for k, s, _w, v in anywhere.read()] == [
        ("loss", 0, 0.0),
        ("loss", 1, 1.0),
        ("loss", 2, 2.0),
    ]
    assert lines == []  # (still being written, as far as anyone knows)
    assert anywhere.read(final=True) == []
    assert lines == [
        f"warning: the TensorBoard event file runs/exp1/{event.name} ends in an incomplete "
        "record (its writer did not finish it): the scalars before it were imported"
    ]
