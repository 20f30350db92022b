"""The ingester reads a line of packed points (what `runyard.log_metric` writes) column
by column; every such line must give exactly what the same points give one by one (the
plain form), including the steps counted on for later points that give none."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from runyard.core.store import Store
from runyard.runner.ingest import TrackingIngester
from runyard.tracking.client import _columns
from tests.helpers import make_run

Point = tuple[str, float, int | None, int]


def _packed(points: list[Point]) -> bytes:
    flat: list[object] = [x for point in points for x in point]
    packed = _columns(flat)
    packed["keys"] = list(dict.fromkeys(p[0] for p in points))  # as given (the client cleans)
    return json.dumps({"mc": packed}).encode("ascii") + b"\n"


def _plain(points: list[Point]) -> bytes:
    return json.dumps({"m": [list(p) for p in points]}).encode("ascii") + b"\n"


def _ingest(tmp_path: Path, name: str, lines: list[bytes]) -> tuple[list[tuple[object, ...]], int]:
    folder = tmp_path / name
    folder.mkdir()
    store = Store(folder / "runyard.db")
    store.create_run(make_run("r1"))
    tracking = folder / "tracking.jsonl"
    tracking.write_bytes(b"".join(lines))
    ingester = TrackingIngester(store, "r1", tracking, log=lambda line: None)
    ingester.poll()
    points = [p[1:] for p in store.metric_points("r1")]
    return points, ingester.bad_lines


NS = 1_700_000_000_123_456_789
LINES: dict[str, list[list[Point]]] = {
    "one key": [[("loss", 1.0 / (i + 1), i, NS + i * 1001) for i in range(3000)]],
    "keys interleaved, then steps counted on": [
        [(("loss", "acc", "lr")[i % 3], i * 0.5, i // 3, NS + i) for i in range(999)],
        [("acc", 0.9, None, NS), ("loss", 0.1, None, NS), ("lr", 1e-3, None, NS)],
    ],
    "special values": [
        [("v", x, i, NS) for i, x in enumerate([math.inf, -math.inf, -0.0, 1e308, 5e-324])]
    ],
    "a step not given (read one by one)": [[("loss", 1.0, 5, NS), ("loss", 2.0, None, NS)]],
    "a name that cannot be stored (read one by one)": [
        [("ok", 1.0, 1, NS), ("bad\udc80", 2.0, 2, NS), ("ok", 3.0, 2, NS)]
    ],
}


@pytest.mark.parametrize("case", list(LINES))
def test_a_packed_line_stores_what_the_same_points_one_by_one_store(
    tmp_path: Path, case: str
) -> None:
    groups = LINES[case]
    packed, bad_packed = _ingest(tmp_path, "packed", [_packed(g) for g in groups])
    plain, bad_plain = _ingest(tmp_path, "plain", [_plain(g) for g in groups])
    expected = sum(len(g) for g in groups) - ("cannot be stored" in case)
    assert len(packed) == expected
    assert repr(packed) == repr(plain)  # repr: -0.0 and the infinities compared exactly
    assert bad_packed == bad_plain == ("cannot be stored" in case)


def test_a_packed_line_continues_the_steps_of_each_of_its_keys(tmp_path: Path) -> None:
    lines = LINES["keys interleaved, then steps counted on"]
    points, _ = _ingest(tmp_path, "p", [_packed(g) for g in lines])
    last = {key: step for key, step, _w, _v in points}  # (each key's chunks in order)
    assert last == {"acc": 333, "loss": 333, "lr": 333}


@pytest.mark.parametrize("n_keys", [1, 3, 12])
def test_point_columns_group_by_key_as_points_one_by_one_do(n_keys: int) -> None:
    from runyard.core.store.metrics import PointColumns, _columns

    points = [(f"k{(i * 7) % n_keys}", i, 1000.0 + i, i / 3) for i in range(500)]
    columns = PointColumns()
    columns.extend(points[:100])  # one by one, then as columns
    rest = points[100:]
    columns.extend_columns(*(list(c) for c in zip(*rest, strict=True)))
    assert list(columns) == points and columns[7] == points[7] and len(columns) == 500
    part = columns[123:456]
    assert isinstance(part, PointColumns) and list(part) == points[123:456]
    assert part.by_key() == _columns(points[123:456])
    assert list(part.by_key()) == list(dict.fromkeys(p[0] for p in points[123:456]))


def test_the_supervisors_checkpoint_counts_packed_lines_as_it_counts_plain_ones(
    tmp_path: Path,
) -> None:
    from runyard.runner.ingest_resume import ResumableStore

    groups = LINES["keys interleaved, then steps counted on"]
    seen = []
    for name, line in (("packed", _packed), ("plain", _plain)):
        folder = tmp_path / name
        folder.mkdir()
        store = Store(folder / "runyard.db")
        store.create_run(make_run("r1"))
        tracking = folder / "tracking.jsonl"
        tracking.write_bytes(b"".join(line(g) for g in groups))
        resumable = ResumableStore(store, "r1", tracking)
        TrackingIngester(resumable.store, "r1", tracking, log=lambda line: None).poll()
        seen.append((resumable.counts, resumable.last))
    assert (
        seen[0]
        == seen[1]
        == ({"loss": 334, "acc": 334, "lr": 334}, {"loss": 333, "acc": 333, "lr": 333})
    )
