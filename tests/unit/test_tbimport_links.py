"""The TensorBoard importer and links: a watched folder that is (or becomes) a link out
of the working copy is never read, moved or emptied; links below it are not followed
and not kept. Real folders, real links, TensorBoard's own writer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import IN_CI

if not IN_CI:  # in CI the dev extra installs it: missing is a failure there
    pytest.importorskip("tensorboard")

from tensorboard.summary import Writer  # type: ignore[import-untyped]

from runyard.runner.tbimport import TensorBoardImporter, event_files


def _write(folder: Path, tag: str) -> Path:
    before = set(folder.glob("*tfevents*")) if folder.is_dir() else set()
    writer = Writer(str(folder))
    writer.add_scalar(tag, 1.0, 0)
    writer.close()
    (new,) = set(folder.glob("*tfevents*")) - before
    return new


def test_a_log_folder_that_becomes_a_link_during_the_run_is_neither_read_nor_moved(
    tmp_path: Path,
) -> None:
    work, shared = tmp_path / "work", tmp_path / "shared"
    theirs = _write(shared, "theirs")
    data = theirs.read_bytes()
    _write(work / "logs", "old")  # the snapshot's: skipped
    lines: list[str] = []
    importer = TensorBoardImporter(work / "logs", log=lines.append, skip_existing=True)
    # the run swaps its folder for a link to the shared one, and writes there
    os.rename(work / "logs", work / "gone")
    (work / "logs").symlink_to(shared, target_is_directory=True)
    _write(shared, "mine")

    assert importer.read() == []
    assert importer.keep(tmp_path / "kept") == 0
    assert theirs.read_bytes() == data and len(event_files(shared)) == 2
    assert (work / "logs").is_symlink() and not (tmp_path / "kept").exists()
    assert len(lines) == 1 and lines[0].startswith(
        f"logs is a link out of the working copy (to {shared}): TensorBoard event files"
    ), lines


def test_a_nested_folder_under_a_linked_folder_is_refused_too(tmp_path: Path) -> None:
    work, shared = tmp_path / "work", tmp_path / "shared"
    _write(shared / "tb", "theirs")
    work.mkdir()
    (work / "runs").symlink_to(shared, target_is_directory=True)
    lines: list[str] = []
    importer = TensorBoardImporter(work / "runs" / "tb", log=lines.append, label="runs/tb")
    assert importer.run_files() == [] and importer.read() == []
    assert lines and lines[0].startswith("runs is a link out of the working copy"), lines
    assert importer.within == work


def test_keeping_deletes_only_real_skipped_files_and_drops_links(tmp_path: Path) -> None:
    work, shared = tmp_path / "work", tmp_path / "shared"
    theirs = _write(shared, "theirs")
    logs = work / "logs"
    old = _write(logs / "train", "old")  # the snapshot's
    (logs / "elsewhere").symlink_to(shared, target_is_directory=True)
    (logs / "events.out.tfevents.1.link").symlink_to(theirs)
    importer = TensorBoardImporter(logs, skip_existing=True)
    new = _write(logs / "train", "new")

    assert importer.run_files() == [new]
    assert importer.keep(tmp_path / "kept") == 1
    kept = tmp_path / "kept"
    assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*")) == [
        "train",
        f"train/{new.name}",
    ]
    assert not (kept / "train" / old.name).exists()
    assert theirs.is_file() and len(event_files(shared)) == 1
