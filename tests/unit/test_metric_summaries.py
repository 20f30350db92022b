"""The store's metric summaries (`metric_summaries`) and the cuts read from them.

Every summary row is checked against the raw points it covers, whatever order the steps
arrive in and however the points are split between calls; a cut of the whole series
and of any step range keeps, for each bucket, the minimum and maximum of the raw points
in it (`check_cut`, the same brute-force check as the in-memory series); and a cut reads
the summaries and only the points at the edges of what it draws.
"""

from __future__ import annotations

import math
import random
import sqlite3
from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pytest

from runyard.core.series import SeriesCut, bucket_count
from runyard.core.store import MIGRATIONS, SCHEMA_VERSION, Store
from runyard.core.store.metrics import (
    SUMMARY_BLOCK,
    SUMMARY_LEVELS,
    ZOOM_TOP_BLOCKS,
    insert_chunks,
    summary_size,
    value_out,
)
from runyard.core.store.sqlite import pack
from tests.helpers import make_run
from tests.unit.test_series import KINDS, check_cut, random_values

NAN = math.nan

Columns = tuple[list[int], list[float], list[float]]


def make_store(path: Path, *run_ids: str) -> Store:
    store = Store(path)
    for run_id in run_ids:
        store.create_run(make_run(run_id, "e", status="running"))
    return store


def fill(
    store: Store, rng: random.Random, columns: Columns, key: str = "loss", other: bool = True
) -> None:
    """Store the points in pieces of random sizes, sometimes with another key's points
    interleaved in the same call."""
    steps, times, values = columns
    pos = 0
    sizes = [1, 2, SUMMARY_BLOCK - 1, SUMMARY_BLOCK, SUMMARY_BLOCK + 1, 4 * SUMMARY_BLOCK, 999]
    sizes += [5000, 70_000]
    while pos < len(values):
        end = min(len(values), pos + rng.choice(sizes))
        points = [(key, steps[i], times[i], values[i]) for i in range(pos, end)]
        if other and rng.random() < 0.3:
            points = [
                p
                for pair in zip(points, [("other", 0, 0.0, 1.0)] * len(points), strict=True)
                for p in pair
            ]
        store.add_metrics("r1", points)
        pos = end


def steps_of(rng: random.Random, n: int, order: str) -> list[int]:
    steps = list(range(n))
    if order == "shuffled":  # out of order
        rng.shuffle(steps)
    elif order == "twice":  # every step logged twice
        steps = [s // 2 for s in steps]
    elif order == "restarts":  # a run resumed from a checkpoint logs steps again
        steps = [s % max(1, n // 3) for s in steps]
    return steps


def summary_rows(store: Store, level: int, key: str = "loss") -> dict[int, tuple[object, ...]]:
    rows = store._read(
        "SELECT block, n, step_lo, step_hi, min_pos, min_step, min_time, min_value, max_pos, "
        "max_step, max_time, max_value, last_step, last_time, last_value "
        "FROM metric_summaries WHERE run_id = 'r1' AND key = ? AND level = ? ORDER BY block",
        (key, level),
    )
    return {
        r[0]: (*r[1:7], value_out(r[7]), *r[8:11], value_out(r[11]), r[12], r[13], value_out(r[14]))
        for r in rows
    }


def expected_rows(columns: Columns, level: int) -> dict[int, tuple[object, ...]]:
    """Each block's summary computed from its raw points."""
    steps, times, values = columns
    size = summary_size(level)
    out: dict[int, tuple[object, ...]] = {}
    for block in range(-(-len(values) // size)):
        a, e = block * size, min(len(values), (block + 1) * size)
        real = [i for i in range(a, e) if not math.isnan(values[i])]
        if real:
            lo = min(values[i] for i in real)
            hi = max(values[i] for i in real)
            i = next(i for i in real if values[i] == lo)  # ties: the earliest
            j = next(i for i in real if values[i] == hi)
        else:
            lo = hi = NAN
            i = j = a
        out[block] = (
            e - a,
            min(steps[a:e]),
            max(steps[a:e]),
            i,
            steps[i],
            times[i],
            lo,
            j,
            steps[j],
            times[j],
            hi,
            steps[e - 1],
            times[e - 1],
            values[e - 1],
        )
    return out


def same(a: Sequence[object], b: Sequence[object]) -> bool:
    return len(a) == len(b) and all(
        x == y
        or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a, b, strict=True)
    )


def assert_summaries_match(store: Store, columns: Columns) -> None:
    for level in range(SUMMARY_LEVELS):
        got, want = summary_rows(store, level), expected_rows(columns, level)
        assert sorted(got) == sorted(want), f"level {level}: blocks differ"
        for block, row in want.items():
            assert same(got[block], row), (level, block, got[block], row)


def assert_points_right(cut: SeriesCut, columns: Columns) -> None:
    """Each kept point is the stored point at its position."""
    steps, times, values = columns
    assert cut.positions == sorted(set(cut.positions))
    for i, pos in enumerate(cut.positions):
        assert cut.steps[i] == steps[pos]
        assert cut.times[i] == times[pos]
        assert same([cut.values[i]], [values[pos]])


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("order", ["growing", "shuffled", "twice", "restarts"])
@pytest.mark.parametrize("kind", ["plain", "ties", "nanruns", "inf"])
def test_summaries_match_the_raw_points_however_they_arrive(
    tmp_path: Path, order: str, kind: str
) -> None:
    rng = random.Random(f"{order}-{kind}")
    for n in (1, SUMMARY_BLOCK - 1, SUMMARY_BLOCK + 1, 3000, 40_000):
        with make_store(tmp_path / f"{n}.db", "r1") as store:
            columns = (
                steps_of(rng, n, order),
                [i / 4 for i in range(n)],
                random_values(rng, n, kind),
            )
            fill(store, rng, columns)
            assert_summaries_match(store, columns)
            assert store.metric_count("r1", "loss") == n
            # Chunks keep every point, in arrival order, duplicates and all.
            _, steps, _, values = store.metric_columns("r1", "loss")
            assert steps == columns[0] and same(values, columns[2])


def test_a_step_logged_twice_is_two_points_in_the_summaries(tmp_path: Path) -> None:
    with make_store(tmp_path / "s.db", "r1") as store:
        store.add_metrics("r1", [("loss", 5, 1.0, 3.0)])
        store.add_metrics("r1", [("loss", 5, 2.0, -1.0), ("loss", 4, 3.0, 7.0)])
        assert summary_rows(store, 0)[0] == (3, 4, 5, 1, 5, 2.0, -1.0, 2, 4, 3.0, 7.0, 4, 3.0, 7.0)
        cut = store.metric_series("r1", "loss", 100)
        assert cut.steps == [5, 5, 4] and cut.values == [3.0, -1.0, 7.0]
        zoom = store.metric_series("r1", "loss", 100, steps=(5, 5))
        assert zoom.positions == [0, 1] and zoom.total == 2


def test_a_version_4_store_gets_the_summaries_of_its_points(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:4]:
        if callable(step):
            step(db)
        else:
            db.executescript(step)
    db.execute("PRAGMA user_version = 4")
    db.execute(
        "INSERT INTO runs (id, experiment, status, target, target_type, command, created) "
        "VALUES ('r1', 'e', 'completed', 'local', 'local', '[]', 1.0)"
    )
    rng = random.Random("old")
    n = 20_000
    columns = (
        steps_of(rng, n, "shuffled"),
        [float(i) for i in range(n)],
        random_values(rng, n, "nan"),
    )
    pos = 0
    while pos < n:  # chunks of every size, as live ingestion leaves them
        end = min(n, pos + rng.choice([1, 7, 300, 5000]))
        points = [("loss", columns[0][i], columns[1][i], columns[2][i]) for i in range(pos, end)]
        insert_chunks(db, "r1", points, pack)
        pos = end
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert_summaries_match(store, columns)
        cut = store.metric_series("r1", "loss", 300)
        check_cut(columns[2], 300, cut.positions, cut.edges)
        store.add_metrics("r1", [("loss", 1, 1.0, 1e9)])  # and it goes on from there
        grown = (columns[0] + [1], columns[1] + [1.0], columns[2] + [1e9])
        assert_summaries_match(store, grown)


# --------------------------------------------------------------------------- whole series


@pytest.mark.parametrize("kind", KINDS)
def test_a_cut_keeps_each_buckets_min_and_max(tmp_path: Path, kind: str) -> None:
    rng = random.Random(f"cut-{kind}")
    used_summaries = 0
    for n in (0, 1, 5, 300, 2 * SUMMARY_BLOCK * 10 + 7, 60_000, 150_000):
        with make_store(tmp_path / f"{n}.db", "r1") as store:
            columns = (
                steps_of(rng, n, "shuffled"),
                [i / 8 for i in range(n)],
                random_values(rng, n, kind),
            )
            fill(store, rng, columns)
            for max_points in (4, 9, 50, 333, 2000):
                cut = store.metric_series("r1", "loss", max_points)
                assert cut.total == n
                check_cut(columns[2], max_points, cut.positions, cut.edges)
                assert_points_right(cut, columns)
                if cut.points_read <= 1 and cut.downsampled:
                    used_summaries += 1
    assert used_summaries > 0  # the summaries' path was taken


def test_a_long_series_is_cut_from_summaries_alone(tmp_path: Path) -> None:
    """A cut of a long series reads one level of summaries (a few thousand rows
    whatever its length) and a single point, the first."""
    rng = random.Random("long")
    n = 600_000
    values = [math.sin(i / 3000) + rng.gauss(0, 0.1) for i in range(n)]
    values[456_789] = 40.0
    values[123_456] = -40.0
    columns = (list(range(n)), [float(i) for i in range(n)], values)
    with make_store(tmp_path / "s.db", "r1") as store:
        for pos in range(0, n, 50_000):
            store.add_metrics(
                "r1", [("loss", i, float(i), values[i]) for i in range(pos, pos + 50_000)]
            )
        cut = store.metric_series("r1", "loss", 2000)
        check_cut(values, 2000, cut.positions, cut.edges)
        assert_points_right(cut, columns)
        assert 456_789 in cut.positions and 123_456 in cut.positions
        assert len(cut.positions) > 1900
        assert cut.points_read == 1
        k = bucket_count(2000)
        assert cut.rows_read <= 4 * 2 * k + 1  # the level's rows and the length's


# --------------------------------------------------------------------------- step ranges


def check_zoom(columns: Columns, max_points: int, lo: float, hi: float, cut: SeriesCut) -> None:
    """The zoomed cut against the raw points whose step lies in [lo, hi]."""
    steps, _times, values = columns
    inside = [i for i, s in enumerate(steps) if lo <= s <= hi]
    assert cut.total == len(inside)
    assert_points_right(cut, columns)
    assert set(cut.positions) <= set(inside)
    if len(inside) <= max(4, max_points):
        assert cut.positions == inside
        return
    assert len(cut.positions) <= max(4, max_points)
    assert cut.positions[0] == inside[0] and cut.positions[-1] == inside[-1]
    edges = cut.edges
    assert edges[0] == inside[0] and edges[-1] == inside[-1] + 1
    assert len(edges) - 1 <= bucket_count(max_points)
    buckets: list[list[int]] = [[] for _ in edges[:-1]]
    for i in inside:
        buckets[bisect_right(edges, i) - 1].append(i)
    kept_in: list[list[int]] = [[] for _ in edges[:-1]]
    for i in cut.positions:
        kept_in[bisect_right(edges, i) - 1].append(i)
    ends = (inside[0], inside[-1])
    for bucket, kept, (a, b) in zip(buckets, kept_in, pairwise(edges), strict=True):
        assert bucket, f"bucket [{a}, {b}) holds no point of the range"
        real = [values[i] for i in bucket if not math.isnan(values[i])]
        if not real:
            assert len([i for i in kept if i not in ends]) <= 1
            continue
        lo, hi = min(real), max(real)
        kept_values = [values[i] for i in kept]
        assert lo in kept_values, (a, b)  # the raw minimum of the bucket
        assert hi in kept_values, (a, b)
        assert all(i in ends for i in kept if values[i] not in (lo, hi))


@pytest.mark.parametrize("order", ["growing", "shuffled", "twice", "restarts"])
def test_any_step_range_keeps_each_buckets_raw_min_and_max(tmp_path: Path, order: str) -> None:
    rng = random.Random(f"zoom-{order}")
    n = 30_000
    for kind in ("plain", "ties", "nanruns"):
        with make_store(tmp_path / f"{kind}.db", "r1") as store:
            columns = (
                steps_of(rng, n, order),
                [i / 2 for i in range(n)],
                random_values(rng, n, kind),
            )
            fill(store, rng, columns)
            top = max(columns[0])
            for _ in range(25):
                a = rng.randint(-10, top + 10)
                b = rng.randint(a, top + 10) if rng.random() < 0.9 else a
                max_points = rng.choice([4, 10, 200, 2000])
                cut = store.metric_series("r1", "loss", max_points, steps=(a, b))
                check_zoom(columns, max_points, a, b, cut)
            for lo, hi in ((None, None), (None, top // 2), (top // 2, None), (top + 1, None)):
                cut = store.metric_series("r1", "loss", 500, steps=(lo, hi))
                check_zoom(
                    columns,
                    500,
                    -math.inf if lo is None else lo,
                    math.inf if hi is None else hi,
                    cut,
                )


def test_a_step_range_reads_only_that_range(tmp_path: Path) -> None:
    """Zoomed into a narrow range of a long series, a cut reads the summaries inside it
    plus a few around its edges, and points of at most the two level-0 blocks that
    straddle them."""
    n = 400_000
    rng = random.Random("narrow")
    values = [rng.random() for _ in range(n)]
    columns = (list(range(n)), [float(i) for i in range(n)], values)
    with make_store(tmp_path / "s.db", "r1") as store:
        for pos in range(0, n, 50_000):
            store.add_metrics(
                "r1", [("loss", i, float(i), values[i]) for i in range(pos, pos + 50_000)]
            )
        whole = store.metric_series("r1", "loss", 200)
        for a, b in ((123_457, 123_457 + 50_000), (5, 390_000)):
            cut = store.metric_series("r1", "loss", 200, steps=(a, b))
            check_zoom(columns, 200, a, b, cut)
            assert cut.points_read <= 2 * SUMMARY_BLOCK + 1
            # about what the whole series' cut reads, whatever the range: the level
            # it starts from, the blocks straddling the edges, the level it cuts from
            assert cut.rows_read <= whole.rows_read + ZOOM_TOP_BLOCKS + 16 * SUMMARY_LEVELS
        # a range too short to fill the buckets from summaries is read point by point:
        # those points, and the rest of the blocks at its edges
        for a, b in ((300_001, 300_999), (200_010, 200_020)):
            cut = store.metric_series("r1", "loss", 200, steps=(a, b))
            check_zoom(columns, 200, a, b, cut)
            assert cut.points_read <= (b - a + 1) + 2 * SUMMARY_BLOCK
        cut = store.metric_series("r1", "loss", 200, steps=(200_010, 200_020))
        assert cut.steps == list(range(200_010, 200_021))


def test_an_unknown_key_or_empty_range_cuts_to_nothing(tmp_path: Path) -> None:
    with make_store(tmp_path / "s.db", "r1") as store:
        assert store.metric_series("r1", "nothing", 100).positions == []
        store.add_metrics("r1", [("loss", i, float(i), float(i)) for i in range(10)])
        empty = store.metric_series("r1", "loss", 100, steps=(20, 30))
        assert empty.positions == [] and empty.total == 0
        assert store.metric_series("r1", "loss", 100, steps=(5, 1)).total == 0


def test_summaries_with_a_block_missing_are_named_as_damaged(tmp_path: Path) -> None:
    from runyard.core.errors import RunyardError

    with make_store(tmp_path / "s.db", "r1") as store:
        store.add_metrics("r1", [("loss", i, float(i), math.sin(i)) for i in range(300_000)])
        with store._tx() as db:  # a damaged store: one summary row of level 0 gone
            db.execute("DELETE FROM metric_summaries WHERE level = 0 AND block = 77")
        with pytest.raises(RunyardError, match="r1, key 'loss' miss blocks of level 0") as info:
            store.metric_series("r1", "loss", 2000)
        assert "move the store aside" in (info.value.hint or "")
