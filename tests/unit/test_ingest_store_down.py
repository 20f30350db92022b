"""Ingesting while the store fails on the database (not on the data), into a real
SQLite store that is made to fail on chosen calls: the offset stays before the lines
not yet stored, the next poll stores what is left of them (nothing twice, no bad record
warned about twice, auto-steps unchanged), and a supervisor taking the run over
afterwards stores nothing twice either."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from runyard.core.store import Store
from runyard.runner import ingest
from runyard.runner.ingest import TrackingIngester
from runyard.runner.ingest_resume import ResumableStore
from tests.helpers import make_run


class FlakyStore:
    """A real store whose calls fail, as a database that is down does, while `down`
    counts down (each failing call one), or from the `fail_after`-th add_metrics on."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.down = False
        self.fail_after: int | None = None
        self.adds = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _check(self) -> None:
        if self.down:
            raise sqlite3.OperationalError("the database is down")

    def set_params(self, run_id: str, params: dict[str, str]) -> None:
        self._check()
        self._store.set_params(run_id, params)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._check()
        self._store.set_tags(run_id, tags)

    def add_metrics(self, run_id: str, points: Sequence[Any]) -> None:
        self._check()
        if self.fail_after is not None and self.adds >= self.fail_after:
            raise sqlite3.OperationalError("the database went away")
        self.adds += 1
        self._store.add_metrics(run_id, points)


def _line(record: object) -> str:
    return json.dumps(record) + "\n"


def _loss(value: float, step: int | None = None) -> str:
    return _line({"m": [["loss", value, step, 1_000_000_000]]})


def _steps(store: Store, run_id: str, key: str) -> list[int]:
    return [step for _c, _k, step, _w, _v in store.metric_points(run_id, key)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state" / "runyard.db")
    store.create_run(make_run("r1"))
    return store


def test_lines_read_while_the_store_is_down_are_stored_when_it_is_back(
    tmp_path: Path, store: Store
) -> None:
    tracking = tmp_path / "tracking.jsonl"
    flaky = FlakyStore(store)
    said: list[str] = []
    ingester = TrackingIngester(flaky, "r1", tracking, log=said.append)  # type: ignore[arg-type]
    tracking.write_text(_loss(1.0) + _line({"p": {"lr": "0.1"}}))
    assert ingester.poll() == 1
    flaky.down = True
    with tracking.open("a") as f:
        f.write(_loss(2.0) + "not json\n" + _line({"t": {"k": "v"}}))
    for _ in range(3):  # the supervisor polls on while it is down
        with pytest.raises(sqlite3.OperationalError):
            ingester.poll()
    first = tracking.stat().st_size - len(_loss(2.0) + "not json\n")
    assert ingester.offset == len(_loss(1.0) + _line({"p": {"lr": "0.1"}}))
    assert int(tracking.with_name("tracking.jsonl.offset").read_text()) == ingester.offset
    assert ingester.offset < first
    with tracking.open("a") as f:
        f.write(_loss(3.0))
    flaky.down = False
    assert ingester.poll() == 2
    assert ingester.offset == tracking.stat().st_size
    assert _steps(store, "r1", "loss") == [0, 1, 2]  # auto-steps as if nothing happened
    assert store.tags("r1").get("k") == "v"
    assert ingester.bad_lines == 1
    assert [m for m in said if "not json" in m or "line 4" in m] == [said[0]]  # warned once
    assert sum("could not take the tracking records" in m for m in said) == 1
    assert "from byte" in said[1] and "lost" in said[1]
    assert sum("the store is back" in m for m in said) == 1


def test_a_batch_stored_in_part_before_the_store_failed_stores_nothing_twice(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "SLICE_POINTS", 10)
    tracking = tmp_path / "tracking.jsonl"
    tracking.write_text("".join(_loss(float(i), i) for i in range(35)))
    flaky = FlakyStore(store)
    flaky.fail_after = 2  # two slices of ten stored, then the database goes away
    ingester = TrackingIngester(flaky, "r1", tracking, log=lambda _m: None)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.OperationalError):
        ingester.poll()
    assert store.metric_count("r1", "loss") == 20 and ingester.offset == 0
    flaky.fail_after = None
    assert ingester.poll() == 35
    assert _steps(store, "r1", "loss") == list(range(35))


def test_a_take_over_after_a_partly_stored_batch_stores_nothing_twice(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several batches in one poll, the store failing in the second: the first is
    checkpointed with its offset, so the next supervisor skips exactly what the second
    had stored."""
    monkeypatch.setattr(ingest, "SLICE_POINTS", 10)
    tracking = tmp_path / "tracking.jsonl"
    lines = [_loss(float(i), i) for i in range(40)]
    tracking.write_text("".join(lines))
    monkeypatch.setattr(ingest, "BATCH_BYTES", sum(len(x) for x in lines[:20]))
    flaky = FlakyStore(store)
    flaky.fail_after = 3  # batch one (two slices) and one slice of batch two
    resumable = ResumableStore(flaky, "r1", tracking)  # type: ignore[arg-type]
    ingester = TrackingIngester(resumable.store, "r1", tracking, log=lambda _m: None)
    with pytest.raises(sqlite3.OperationalError):
        ingester.poll()
    assert ingester.offset == sum(len(x) for x in lines[:20])
    assert store.metric_count("r1", "loss") == 30
    # the supervisor dies here; the next one takes the run over
    again = ResumableStore(store, "r1", tracking)
    assert again.resume() == 10
    TrackingIngester(again.store, "r1", tracking, resume=True, log=lambda _m: None).poll()
    assert _steps(store, "r1", "loss") == list(range(40))


def test_a_line_longer_than_a_batch_is_read_whole(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH_BYTES", 16)
    tracking = tmp_path / "tracking.jsonl"
    tracking.write_text(_line({"p": {"long": "x" * 100}}) + _loss(1.0) + '{"m": {"lo')
    ingester = TrackingIngester(store, "r1", tracking, log=lambda _m: None)
    assert ingester.poll() == 1
    assert store.params("r1") == {"long": "x" * 100}
    assert ingester.offset == tracking.stat().st_size - len('{"m": {"lo')
