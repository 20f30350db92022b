"""The rules of the shared operations layer (`runyard.runner.operations`) that both the
CLI and the language server render: what differs, the best run, where a log chunk ends."""

from __future__ import annotations

import math
from pathlib import Path

from runyard.core.project import Project
from runyard.core.store import Run, Store
from runyard.runner.operations import best_run, compare, values_differ, whole_chunk
from tests.helpers import make_run


def _run(run_id: str, **metrics: float) -> Run:
    run = make_run(run_id)
    run.metrics = dict(metrics)
    return run


def test_values_differ_compares_values_as_stored() -> None:
    assert not values_differ(["0.1", "0.1"])
    assert values_differ(["0.1", "0.10"])  # params are the strings they were logged as
    assert values_differ([0.1, 0.1000001])  # metrics are numbers, not their printed form
    assert not values_differ([math.nan, math.nan])
    assert values_differ([1.0, None])  # a missing value differs from any value
    assert not values_differ([None, None])
    assert not values_differ(["only one"])


def test_the_best_run_is_the_highest_or_lowest_and_skips_missing_and_nan() -> None:
    chosen = [_run("a", acc=0.5), _run("b", acc=0.9), _run("c", acc=math.nan), _run("d")]
    assert best_run(chosen, "acc", maximize=True) == "b"
    assert best_run(chosen, "acc", maximize=False) == "a"
    assert best_run(chosen, "loss", maximize=True) is None
    assert best_run([_run("a", acc=1.0), _run("b", acc=1.0)], "acc", maximize=True) == "b"


def test_a_log_chunk_ends_on_a_whole_line_when_more_follows() -> None:
    assert whole_chunk(b"one\ntwo\nthr", more=True) == b"one\ntwo\n"
    assert whole_chunk(b"one\ntwo\nthr", more=False) == b"one\ntwo\nthr"


def test_a_log_chunk_without_a_line_end_ends_on_a_whole_utf8_character() -> None:
    text = "naïve ✓ 𝄞".encode()
    for cut in range(1, len(text)):
        chunk = whole_chunk(text[:cut], more=True)
        assert text.startswith(chunk)
        chunk.decode("utf-8")  # decodes on its own: no character cut in half
        assert len(text[:cut]) - len(chunk) < 4
    assert whole_chunk("✓".encode()[:2], more=True) == b""


def _timed(store: Store, run_id: str, seconds: float) -> None:
    run = make_run(run_id)
    run.started, run.ended, run.status = 1000.0, 1000.0 + seconds, "completed"
    store.create_run(run)


def test_the_duration_row_differs_only_when_the_durations_read_differently(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "state" / "runyard.db")
    _timed(store, "r1", 0.11)
    _timed(store, "r2", 0.14)  # both read 0.1s: no two runs take exactly as long
    _timed(store, "r3", 2.5)
    project = Project(tmp_path)
    same = compare(project, store, ["r1", "r2"], snapshots=False)
    assert [f.differs for f in same.fields if f.key == "duration"] == [False]
    other = compare(project, store, ["r1", "r3"], snapshots=False)
    assert [f.differs for f in other.fields if f.key == "duration"] == [True]
