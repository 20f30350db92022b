"""TensorBoard event files read into metric points: real event files written with
TensorBoard's own writers, read incrementally, without TensorFlow."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import IN_CI

if not IN_CI:  # in CI the dev extra installs it: missing is a failure there
    pytest.importorskip("tensorboard")

import numpy as np  # (tensorboard brings numpy)
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary import Writer
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from runyard.core.store import Store
from runyard.runner import tbimport
from runyard.runner.tbimport import TensorBoardImporter, event_files
from tests.helpers import make_run

Point = tuple[str, int, float, float]


def simple(tag: str, step: int, value: float, wall: float = 1000.0) -> Any:
    """An event with one `simple_value` (TF1, tensorboardX and PyTorch write these)."""
    event = event_pb2.Event(wall_time=wall + step, step=step)
    event.summary.value.add(tag=tag, simple_value=value)
    return event


def tensor(
    tag: str, step: int, data: Any, plugin: str | None = "scalars", wall: float = 2000.0
) -> Any:
    """An event with one tensor value; `plugin` None writes no metadata (as TF2 does
    after a series' first value)."""
    event = event_pb2.Event(wall_time=wall + step, step=step)
    value = event.summary.value.add(tag=tag, tensor=tensor_util.make_tensor_proto(data))
    if plugin is not None:
        value.metadata.plugin_data.plugin_name = plugin
    return event


def write_events(folder: Path, events: Sequence[Any]) -> Path:
    """A new event file in `folder` holding `events`; returns its path."""
    before = set(folder.glob("*tfevents*")) if folder.is_dir() else set()
    writer = EventFileWriter(str(folder))
    for event in events:
        writer.add_event(event)
    writer.close()
    (path,) = set(folder.glob("*tfevents*")) - before
    return path


def by_key(points: Sequence[Point]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for key, step, _wall, value in points:
        out.setdefault(key, []).append((step, value))
    return out


def test_incremental_reads_return_only_new_points_with_keys_from_folders(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    train = Writer(str(root / "train"))
    valid = Writer(str(root / "validation"))
    importer = TensorBoardImporter(root)
    assert importer.read() == []  # the files hold no scalars yet
    for step in range(3):
        train.add_scalar("epoch_loss", 1.0 / (step + 1), step)
        valid.add_scalar("epoch_accuracy", 0.5 + step / 10, step)
    train.flush()
    valid.flush()
    first = importer.read()
    got = by_key(first)
    assert list(got) == ["train/epoch_loss", "validation/epoch_accuracy"]
    assert [s for s, _v in got["train/epoch_loss"]] == [0, 1, 2]
    assert [v for _s, v in got["train/epoch_loss"]] == pytest.approx([1.0, 0.5, 1 / 3])
    assert [v for _s, v in got["validation/epoch_accuracy"]] == pytest.approx([0.5, 0.6, 0.7])
    assert all(abs(wall - time.time()) < 60 for _k, _s, wall, _v in first)
    assert importer.read() == []  # nothing new

    for step in range(3, 5):
        train.add_scalar("epoch_loss", 1.0 / (step + 1), step)
    train.flush()
    second = importer.read()
    assert [(k, s) for k, s, _w, _v in second] == [("train/epoch_loss", 3), ("train/epoch_loss", 4)]
    assert importer.imported == 8
    assert importer.keys == {"train/epoch_loss", "validation/epoch_accuracy"}
    train.close()
    valid.close()


def test_simple_values_and_tags_at_the_root_and_deeper(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    write_events(root, [simple("loss", 0, 2.0), simple("loss/train", 0, 1.5)])
    write_events(root / "a" / "b", [simple("x", 7, -1.0, wall=5.0)])
    points = TensorBoardImporter(root).read()
    assert points == [
        ("loss", 0, 1000.0, 2.0),
        ("loss/train", 0, 1000.0, 1.5),
        ("a/b/x", 7, 12.0, -1.0),
    ]


def test_tensor_scalars_of_the_scalars_plugin_and_nothing_else(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    histogram = np.array([[0.0, 1.0, 3.0], [1.0, 2.0, 5.0]])
    write_events(
        root,
        [
            tensor("epoch_loss", 0, np.float32(0.75)),
            tensor("epoch_loss", 1, np.float32(0.5), plugin=None),  # TF2: metadata once
            tensor("count", 0, np.int64(7)),
            tensor("precise", 0, np.float64(0.125)),
            tensor("weights", 0, histogram, plugin="histograms"),
            tensor("notes", 0, np.array(b"hello", dtype=object), plugin="text"),
            tensor("hist_scalar", 0, np.float32(1.0), plugin="histograms"),
            tensor("raw", 0, np.float32(3.0), plugin=None),  # no plugin: not a scalar
            tensor("pair", 0, np.array([1.0, 2.0], dtype=np.float32)),  # not one number
            tensor("flag", 0, np.array(True)),  # bool: not a number series
        ],
    )
    assert by_key(TensorBoardImporter(root).read()) == {
        "epoch_loss": [(0, 0.75), (1, 0.5)],
        "count": [(0, 7.0)],
        "precise": [(0, 0.125)],
    }


def test_data_class_scalar_without_a_plugin_name_counts(tmp_path: Path) -> None:
    event = tensor("lr", 3, np.float32(0.25), plugin=None)
    event.summary.value[0].metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    root = tmp_path / "logs"
    write_events(root, [event])
    assert TensorBoardImporter(root).read() == [("lr", 3, 2003.0, 0.25)]


def test_files_and_folders_that_appear_later_are_read(tmp_path: Path) -> None:
    root = tmp_path / "logs"  # not there yet
    importer = TensorBoardImporter(root)
    assert importer.read() == [] and importer.run_files() == []
    write_events(root / "train", [simple("loss", 0, 1.0)])
    assert by_key(importer.read()) == {"train/loss": [(0, 1.0)]}
    write_events(root / "train", [simple("loss", 1, 0.5)])
    write_events(root / "eval", [simple("acc", 0, 0.875)])
    assert by_key(importer.read()) == {"eval/acc": [(0, 0.875)], "train/loss": [(1, 0.5)]}
    assert len(importer.run_files()) == 3


def _record_ends(data: bytes) -> list[int]:
    """Where each TFRecord of an event file ends: length (8), its CRC (4), data, CRC (4)."""
    ends, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        pos += 8 + 4 + length + 4
        ends.append(pos)
    return ends


def test_a_record_cut_short_is_read_once_it_is_whole(tmp_path: Path) -> None:
    source = write_events(tmp_path / "src", [simple("acc", step, step / 4) for step in range(4)])
    data = source.read_bytes()
    ends = _record_ends(data)  # a file version record, then the four scalars
    assert len(ends) == 5
    root = tmp_path / "logs"
    root.mkdir()
    target = root / source.name
    importer = TensorBoardImporter(root)
    cut = ends[2] + 5  # two scalars whole, then 5 bytes of the third's header
    target.write_bytes(data[:cut])
    assert [s for _k, s, _w, _v in importer.read()] == [0, 1]
    with target.open("ab") as f:  # the third's data, less its last CRC bytes
        f.write(data[cut : ends[3] - 3])
    assert importer.read() == []
    with target.open("ab") as f:
        f.write(data[ends[3] - 3 :])
    assert [(s, v) for _k, s, _w, v in importer.read()] == [(2, 0.5), (3, 0.75)]
    assert importer.read() == []
    assert importer.bad_records == 0


def test_poll_adds_points_to_the_store(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    write_events(root / "train", [simple("loss", s, 1.0 / (s + 1)) for s in range(5)])
    store = Store(tmp_path / "runyard.db")
    store.create_run(make_run("r1"))
    importer = TensorBoardImporter(root)
    assert importer.poll(store, "r1") == 5
    assert importer.poll(store, "r1") == 0
    points = store.metric_points("r1", "train/loss")
    assert [p[2] for p in points] == [0, 1, 2, 3, 4]
    assert [p[4] for p in points] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert store.latest_metrics(["r1"])["r1"]["train/loss"] == pytest.approx(0.2)
    store.close()


def test_files_already_there_are_not_the_runs_and_keep_moves_or_copies(tmp_path: Path) -> None:
    root = tmp_path / "work" / "logs"
    old = write_events(root / "train", [simple("loss", 0, 99.0)])  # from the snapshot
    (root / "notes.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "notes.txt").write_text("kept too")
    importer = TensorBoardImporter(root, skip_existing=True)
    new = write_events(root / "train", [simple("loss", 0, 1.0)])
    assert importer.read() == [("train/loss", 0, 1000.0, 1.0)]
    assert importer.run_files() == [new]

    copy_dest = tmp_path / "copied"
    assert importer.keep(copy_dest, copy=True) == 1
    assert sorted(p.relative_to(copy_dest).as_posix() for p in event_files(copy_dest)) == [
        f"train/{new.name}"
    ]
    assert not (copy_dest / "notes.txt").exists() and root.is_dir()

    dest = tmp_path / "kept"
    assert importer.keep(dest) == 1
    assert not root.exists()
    assert [p.relative_to(dest).as_posix() for p in event_files(dest)] == [f"train/{new.name}"]
    assert (dest / "notes.txt").read_text() == "kept too"
    assert not (dest / "train" / old.name).exists()
    assert TensorBoardImporter(tmp_path / "nothing").keep(tmp_path / "none") == 0
    assert not (tmp_path / "none").exists()


def test_without_tensorboard_one_line_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> Any:
        raise ModuleNotFoundError("No module named 'tensorboard'", name="tensorboard")

    monkeypatch.setattr(tbimport, "_import_tensorboard", missing)
    root = tmp_path / "tb"
    lines: list[str] = []
    importer = TensorBoardImporter(root, log=lines.append, label="out/tb")
    assert importer.read() == [] and lines == []  # no event files: nothing to say
    write_events(root, [simple("loss", 0, 1.0)])
    assert importer.read() == []
    assert importer.read() == []
    assert len(lines) == 1
    assert "found in out/tb/" in lines[0] and "pip install tensorboard" in lines[0]
    assert importer.unavailable == "tensorboard is not installed"
    assert len(importer.run_files()) == 1  # still found, to be kept


def test_tensorflow_is_never_imported(tmp_path: Path) -> None:
    """Even where TensorFlow is installed: a stand-in `tensorflow` that fails on import
    comes first on the path of a fresh interpreter that reads event files."""
    root = tmp_path / "logs"
    writer = Writer(str(root / "train"))
    writer.add_scalar("epoch_loss", 0.5, 0)
    writer.close()
    write_events(root, [simple("loss", 0, 1.0)])
    fake = tmp_path / "fake"
    (fake / "tensorflow").mkdir(parents=True)
    (fake / "tensorflow" / "__init__.py").write_text("raise RuntimeError('tensorflow imported')\n")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from runyard.runner.tbimport import TensorBoardImporter\n"
        f"points = TensorBoardImporter(Path({str(root)!r})).read()\n"
        "assert 'tensorflow' not in sys.modules\n"
        "print(sorted(k for k, _s, _w, _v in points))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['loss', 'train/epoch_loss']"
    assert "tensorflow" not in sys.modules  # nor here, after the reads above
