"""Tests for runyard.core.series: min/max downsampling, block summary, incremental extend."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from itertools import pairwise

import pytest

from runyard.core.series import (
    BLOCK,
    SeriesColumns,
    bucket_count,
    bucket_edges,
    downsample_indexes,
)

NAN = math.nan
INF = math.inf

# Sizes around block boundaries, small and large enough for block-aligned buckets.
SIZES = [
    0,
    1,
    2,
    3,
    4,
    5,
    7,
    BLOCK - 1,
    BLOCK,
    BLOCK + 1,
    2 * BLOCK - 1,
    2 * BLOCK,
    3 * BLOCK + 17,
    8 * BLOCK - 1,
    8 * BLOCK,
    8 * BLOCK + 1,
    20 * BLOCK + 63,
    50 * BLOCK,
    50 * BLOCK + 5,
    137 * BLOCK + 31,
]
MAX_POINTS = [-1, 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 16, 33, 64, 101, 400]


def series_of(values: Sequence[float]) -> SeriesColumns:
    s = SeriesColumns()
    s.extend(list(range(len(values))), [float(i) / 10 for i in range(len(values))], values)
    return s


def random_values(rng: random.Random, n: int, kind: str) -> list[float]:
    if kind == "plain":
        return [rng.gauss(0.0, 1.0) for _ in range(n)]
    if kind == "ties":
        return [float(rng.randint(-2, 2)) for _ in range(n)]
    if kind == "nan":
        return [NAN if rng.random() < 0.2 else rng.gauss(0.0, 1.0) for _ in range(n)]
    if kind == "nanruns":
        # Long NaN stretches (whole blocks and whole buckets), some values, infinities.
        out: list[float] = []
        while len(out) < n:
            run = rng.choice([1, 3, BLOCK, 3 * BLOCK + 5, 10 * BLOCK])
            fill = rng.choice([NAN, NAN, INF, -INF, None])
            if fill is None:
                out.extend(rng.uniform(-5, 5) for _ in range(run))
            else:
                out.extend([fill] * run)
        return out[:n]
    if kind == "inf":
        return [
            rng.choice([INF, -INF, NAN, rng.uniform(-1, 1), rng.uniform(-1, 1)]) for _ in range(n)
        ]
    if kind == "posinf":
        # Only +inf and NaN: every real value ties with the all-NaN block placeholder.
        return [rng.choice([INF, NAN, NAN]) for _ in range(n)]
    raise AssertionError(kind)


KINDS = ["plain", "ties", "nan", "nanruns", "inf", "posinf"]


def check_cut(values: Sequence[float], max_points: int, kept: list[int], edges: list[int]) -> None:
    """Brute-force check of a cut against its bucket boundaries."""
    n = len(values)
    limit = max(4, max_points)
    if n <= limit:
        assert kept == list(range(n))
        return
    assert len(kept) <= limit
    assert kept == sorted(set(kept))
    assert kept[0] == 0
    assert kept[-1] == n - 1
    assert edges[0] == 0
    assert edges[-1] == n
    assert len(edges) - 1 == bucket_count(max_points)
    assert all(a < b for a, b in pairwise(edges))

    kept_set = set(kept)
    for a, b in pairwise(edges):
        inside = [i for i in kept if a <= i < b]
        assert inside, f"bucket [{a}, {b}) lost entirely"
        chosen = [i for i in inside if i not in (0, n - 1)]
        real = [values[i] for i in range(a, b) if not math.isnan(values[i])]
        if not real:
            assert len(chosen) <= 1
            continue
        lo, hi = min(real), max(real)
        assert len(chosen) <= 2
        for i in chosen:
            assert values[i] in (lo, hi), (a, b, i, values[i], lo, hi)
        kept_values = [values[i] for i in inside]
        assert lo in kept_values
        assert hi in kept_values
        # An endpoint that is not a bucket extreme is the only extra point.
        extras = [i for i in inside if values[i] not in (lo, hi)]
        assert all(i in (0, n - 1) for i in extras)
    assert len(kept_set) == len(kept)

    # The global extremes survive.
    real_all = [v for v in values if not math.isnan(v)]
    if real_all:
        kept_values_all = {values[i] for i in kept}
        assert min(real_all) in kept_values_all
        assert max(real_all) in kept_values_all


@pytest.mark.parametrize("kind", KINDS)
def test_reference_scan_random(kind: str) -> None:
    rng = random.Random(f"ref-{kind}")
    for n in SIZES:
        values = random_values(rng, n, kind)
        for max_points in MAX_POINTS:
            kept = downsample_indexes(values, max_points)
            edges = bucket_edges(n, max_points) if n > max(4, max_points) else []
            check_cut(values, max_points, kept, edges)


@pytest.mark.parametrize("kind", KINDS)
def test_series_downsample_random(kind: str) -> None:
    rng = random.Random(f"series-{kind}")
    used_blocks = 0
    for n in SIZES:
        values = random_values(rng, n, kind)
        s = series_of(values)
        assert len(s) == n
        for max_points in MAX_POINTS:
            kept = s.downsample(max_points)
            edges = s.bucket_edges(max_points) if n > max(4, max_points) else []
            check_cut(values, max_points, kept, edges)
            if edges and edges[1] % BLOCK == 0 and len(edges) > 2:
                used_blocks += 1
    assert used_blocks > 0  # the block-aligned path was exercised


def test_block_aligned_edges() -> None:
    s = series_of([float(i % 7) for i in range(40 * BLOCK + 9)])
    edges = s.bucket_edges(10)
    assert len(edges) == bucket_count(10) + 1
    assert all(e % BLOCK == 0 for e in edges[:-1])
    assert edges[-1] == len(s)
    # Too few blocks per bucket: even buckets over points.
    edges = s.bucket_edges(200)
    assert edges == bucket_edges(len(s), 200)


@pytest.mark.parametrize("kind", KINDS)
def test_extend_in_pieces_matches_one_extend(kind: str) -> None:
    rng = random.Random(f"pieces-{kind}")
    n = 47 * BLOCK + 13
    values = random_values(rng, n, kind)
    whole = series_of(values)
    pieces = SeriesColumns()
    pos = 0
    while pos < n:
        size = rng.choice([1, 1, 2, 5, BLOCK - 1, BLOCK, BLOCK + 1, 200])
        chunk = values[pos : pos + size]
        pieces.extend(list(range(pos, pos + len(chunk))), [0.5] * len(chunk), chunk)
        pos += len(chunk)
        if rng.random() < 0.1:
            for max_points in (4, 9, 20):
                check_cut(
                    values[:pos],
                    max_points,
                    pieces.downsample(max_points),
                    pieces.bucket_edges(max_points) if pos > max(4, max_points) else [],
                )
    assert len(pieces) == n
    assert pieces.steps == whole.steps
    for max_points in MAX_POINTS:
        assert pieces.downsample(max_points) == whole.downsample(max_points)


def test_short_series_returns_everything() -> None:
    for n in range(0, 12):
        s = series_of([float(i) for i in range(n)])
        assert s.downsample(max(n, 4)) == list(range(n))
        assert s.downsample(1000) == list(range(n))
    assert downsample_indexes([1.0, 2.0, 3.0], 2) == [0, 1, 2]  # clamped to 4


def test_all_nan_buckets_keep_one_point() -> None:
    n = 30 * BLOCK
    values = [float(i) for i in range(n)]
    values[5 * BLOCK : 20 * BLOCK] = [NAN] * (15 * BLOCK)
    s = series_of(values)
    for max_points in (10, 20, 40):  # at least one bucket lies inside the NaN stretch
        kept = s.downsample(max_points)
        check_cut(values, max_points, kept, s.bucket_edges(max_points))
        assert any(math.isnan(values[i]) for i in kept)
        # Reference scan agrees on the shape.
        ref = downsample_indexes(values, max_points)
        check_cut(values, max_points, ref, bucket_edges(n, max_points))
        assert any(math.isnan(values[i]) for i in ref)


def test_nan_never_chosen_when_bucket_has_values() -> None:
    values = [NAN, 3.0, NAN, -1.0, NAN, 7.0, NAN, 2.0, NAN, NAN]
    kept = downsample_indexes(values, 4)
    # One bucket: min -1.0 (3), max 7.0 (5), plus first and last.
    assert kept == [0, 3, 5, 9]


def test_infinities_count_as_extremes() -> None:
    n = 40 * BLOCK
    values = [math.sin(i / 10) for i in range(n)]
    values[123] = INF
    values[2000] = -INF
    values[2001] = NAN
    s = series_of(values)
    kept = s.downsample(6)
    assert 123 in kept
    assert 2000 in kept
    check_cut(values, 6, kept, s.bucket_edges(6))
    # Both infinities in one chunk make sum() NaN without any NaN present.
    both = [0.0, INF, 1.0, -INF, 2.0, 3.0]
    assert downsample_indexes(both, 4) == [0, 1, 3, 5]


def test_only_infinity_and_nan() -> None:
    n = 30 * BLOCK + 3
    values = [NAN] * n
    values[17 * BLOCK + 5] = INF
    values[17 * BLOCK + 9] = INF
    s = series_of(values)
    kept = s.downsample(4)
    check_cut(values, 4, kept, s.bucket_edges(4))
    assert values[kept[1]] == INF


def test_take_and_length_checks() -> None:
    s = SeriesColumns()
    s.extend([10, 20, 30], [1.0, 2.0, 3.0], [0.5, NAN, 1])
    steps, times, values = s.take([0, 2])
    assert steps == [10, 30]
    assert times == [1.0, 3.0]
    assert values == [0.5, 1.0]
    assert isinstance(values[1], float)
    with pytest.raises(ValueError):
        s.extend([1, 2], [1.0], [1.0, 2.0])
    assert len(s) == 3


def test_million_points() -> None:
    rng = random.Random("million")
    n = 1_000_000
    values = [math.sin(i / 5000) + rng.gauss(0.0, 0.1) for i in range(n)]
    values[777_777] = 50.0
    values[123_456] = -50.0
    values[400_000:420_000] = [NAN] * 20_000
    for i in rng.sample(range(n), 500):
        values[i] = NAN
    s = SeriesColumns()
    step = 100_003
    for pos in range(0, n, step):
        chunk = values[pos : pos + step]
        s.extend(range(pos, pos + len(chunk)), [0.0] * len(chunk), chunk)
    assert len(s) == n
    kept = s.downsample(2000)
    edges = s.bucket_edges(2000)
    assert all(e % BLOCK == 0 for e in edges[:-1])
    check_cut(values, 2000, kept, edges)
    assert 777_777 in kept
    assert 123_456 in kept
    assert len(kept) > 1900
