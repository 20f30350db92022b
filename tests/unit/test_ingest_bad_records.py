"""Ingesting a tracking file that holds bad records, into a real store: each bad
record (a line, or one point, param, tag or artifact of a line) is skipped with a
warning that names its line, and everything else is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runyard.core.store import Store
from runyard.runner.ingest import MAX_WARNINGS, TrackingIngester
from runyard.tracking.client import _columns
from tests.helpers import make_run

INT64_MAX = 2**63 - 1


def _packed(*points: tuple[str, float, int | None, int]) -> bytes:
    flat: list[object] = [x for point in points for x in point]
    return json.dumps({"mc": _columns(flat)}).encode("ascii") + b"\n"


def _plain(record: object) -> bytes:
    return json.dumps(record).encode("ascii") + b"\n"  # lone surrogates stay \\udXXX escapes


def _series(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(step, value) for _c, _k, step, _w, value in store.metric_points(run_id, key)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state" / "runyard.db")
    store.create_run(make_run("r1"))
    return store


def test_a_bad_record_is_skipped_with_a_warning_naming_its_line_and_costs_nothing_else(
    tmp_path: Path, store: Store
) -> None:
    a_index_5 = _columns(["loss", 7.0, 10, 1000, "loss", 8.0, 11, 1000])
    a_index_5["k"] = "AAAAAAUAAAA="  # uint32 [0, 5]: the second point names no key
    lines = [
        _packed(("loss", 0.5, 0, 1000), ("loss", 0.25, 1, 1000)),  # 1
        b"not json at all\n",  # 2
        b"[1, 2]\n",  # 3
        _plain({"a": 5}),  # 4
        _plain(
            {
                "a": [
                    {"path": "model.bin", "size": 10},
                    {"path": "x", "size": "big"},
                    {"path": "y", "size": 1e300},
                    "str",
                    {"path": "z\ud800", "size": 1},
                ]
            }
        ),  # 5
        _plain(
            {"p": {"lr": "0.1", "k\ud800": "1", "v": "\udc00", "e": ""}, "t": {"stage": "dev"}}
        ),  # 6
        _plain(
            {
                "m": [
                    ["ok", 1.0, 2**64, 1000],
                    ["ok", 2.0, 3, 1000],
                    ["bad\ud800", 1.0, 1, 1000],
                    ["ok", 3.0, 4, 1e400],
                    ["", 1.0, 5, 1000],
                    ["ok", "x", 6, 1000],
                    5,
                    ["ok", 4.0, 7],
                ]
            }
        ),  # 7
        _plain(
            {
                "m": [
                    ["near", 1.0, INT64_MAX, 1000],
                    ["near", 2.0, None, 1000],  # an auto-step after the last int64
                    ["near", 3.0, None, 1000],
                ]
            }
        ),  # 8
        b"[" * 100_000 + b"\n",  # 9: nested too deep for the parser
        json.dumps({"mc": a_index_5}).encode("ascii") + b"\n",  # 10
        _plain({"mc": {"n": 3, "keys": ["loss"], "k": "!!", "v": "", "s": "", "t": ""}}),  # 11
        b'{"p": {"x": "\xff"}}\n',  # 12: not UTF-8
        _plain({"m": [["neg", 1.0, -(2**63), 1000]]}),  # 13: a real step, not "no step"
        _packed(("loss", 0.125, 3, 1000)),  # 14
    ]
    path = tmp_path / "tracking.jsonl"
    path.write_bytes(b"".join(lines))
    warnings: list[str] = []
    ingester = TrackingIngester(store, "r1", path, log=warnings.append)

    added = ingester.poll()  # never raises

    print(f"added {added}; bad {ingester.bad_lines}; warnings:", *warnings, sep="\n")
    assert _series(store, "r1", "loss") == [(0, 0.5), (1, 0.25), (10, 7.0), (3, 0.125)]
    assert _series(store, "r1", "ok") == [(3, 2.0)]
    assert _series(store, "r1", "near") == [(INT64_MAX, 1.0), (INT64_MAX, 2.0), (INT64_MAX, 3.0)]
    assert _series(store, "r1", "neg") == [(-(2**63), 1.0)]
    assert added == 9
    assert store.params("r1") == {"lr": "0.1", "e": ""}
    assert store.tags("r1") == {"stage": "dev"}
    assert store.artifacts("r1") == [("model.bin", 10)]

    text = "\n".join(warnings)
    for line in (2, 3, 4, 5, 6, 7, 9, 10, 11, 12):
        assert f"tracking.jsonl line {line} " in text, (line, text)
    for why in ("'bad\\ud800'", "'k\\ud800'", "'z\\ud800'", "size", str(2**64), "'near'"):
        assert why in text, (why, text)
    assert not any(f"tracking.jsonl line {line} " in text for line in (1, 13, 14))
    assert ingester.bad_lines >= 10
    assert all("Traceback" not in w for w in warnings)

    # The next poll goes on after the bad lines.
    with path.open("ab") as f:
        f.write(_packed(("loss", 0.0625, None, 2000)))
    assert ingester.poll() == 1
    assert _series(store, "r1", "loss")[-1] == (4, 0.0625)


def test_without_a_log_the_warnings_go_to_stderr(
    tmp_path: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tracking.jsonl"
    path.write_bytes(b"{oops\n" + _packed(("loss", 1.0, 0, 1000)))
    ingester = TrackingIngester(store, "r1", path)
    assert ingester.poll() == 1
    err = capsys.readouterr().err
    assert "tracking.jsonl line 1 " in err and "skipped" in err, err


def test_warnings_stop_after_a_limit_but_every_bad_record_is_counted(
    tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "tracking.jsonl"
    path.write_bytes(b"{oops\n" * 500 + _packed(("loss", 1.0, 0, 1000)))
    warnings: list[str] = []
    ingester = TrackingIngester(store, "r1", path, log=warnings.append)
    assert ingester.poll() == 1
    assert ingester.bad_lines == 500
    assert len(warnings) == MAX_WARNINGS
    assert "not listed" in warnings[-1]


def test_a_resumed_ingester_names_the_right_line(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "tracking.jsonl"
    path.write_bytes(_packed(("loss", 1.0, 0, 1000)) * 3)
    first = TrackingIngester(store, "r1", path, log=lambda _m: None)
    assert first.poll() == 3
    with path.open("ab") as f:
        f.write(b"{oops\n")
    warnings: list[str] = []
    resumed = TrackingIngester(store, "r1", path, resume=True, log=warnings.append)
    assert resumed.poll() == 0
    assert len(warnings) == 1 and "tracking.jsonl line 4 " in warnings[0], warnings
