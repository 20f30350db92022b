"""In-memory metric series with fast min/max-preserving downsampling.

A chart cannot show a million points, so the language server sends a cut of the
series: it is split into contiguous buckets and, from each bucket, the points
holding its minimum and maximum are kept (plus the very first and last points).
Spikes survive the cut, unlike with plain striding or averaging.

To keep this cheap on long series, :class:`SeriesColumns` maintains a *block
summary* while points arrive: for every full block of :data:`BLOCK` points it
stores the index and value of the block's minimum and maximum (ignoring NaN). For
a large series the buckets are aligned to block boundaries and reduced over those
summaries with C-speed builtins (``min``/``max`` over list slices and
``list.index``), so a downsample touches roughly ``len / BLOCK`` numbers instead
of every point. Only the trailing partial block, and small series, are scanned
directly.

The store keeps the same kind of summary on disk, in levels of coarser blocks
(`runyard.core.store.metrics`), so a cut of a long series reads a few thousand
summaries instead of its points; it shares :func:`reduce_blocks` and :func:`assemble`
with :class:`SeriesColumns`, and :func:`cut_pieces` buckets the uneven pieces of a
zoomed range. Its answer is a :class:`SeriesCut`.

NaN rules: NaN is never chosen as a minimum or maximum unless a bucket holds
nothing but NaN, in which case one index of it is kept so the gap stays visible.
``+inf`` and ``-inf`` are ordinary values (they are the largest and smallest).
Ties go to the earliest point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BLOCK",
    "SeriesColumns",
    "SeriesCut",
    "assemble",
    "bucket_count",
    "bucket_edges",
    "cut_pieces",
    "downsample_indexes",
    "reduce_blocks",
]

BLOCK = 64
"""Points per block of the incremental summary."""

_MIN_BLOCKS_PER_BUCKET = 2
"""Use block-aligned buckets only when each bucket spans at least this many blocks."""

_INF = math.inf

# (index of the minimum, index of the maximum, whether any non-NaN value exists).
# For an all-NaN range both indexes are the range's first index.
_Pick = tuple[int, int, bool]


def _scan(values: Sequence[float], start: int, stop: int) -> _Pick:
    """Min/max indexes of ``values[start:stop]`` (non-empty), ignoring NaN."""
    chunk = values[start:stop]
    # A sum is NaN if the chunk holds a NaN (or both infinities, or overflows both
    # ways): a cheap test that sends only those chunks down the filtered path.
    if not math.isnan(sum(chunk)):
        lo = min(chunk)
        hi = max(chunk)
        return start + chunk.index(lo), start + chunk.index(hi), True
    real = [v for v in chunk if v == v]
    if not real:
        return start, start, False
    lo = min(real)
    hi = max(real)
    # list.index compares with ==, which NaN never satisfies, so it finds a real value.
    return start + chunk.index(lo), start + chunk.index(hi), True


def _merge(values: Sequence[float], a: _Pick, b: _Pick) -> _Pick:
    """Combine the picks of two adjacent ranges (``a`` before ``b``)."""
    if not b[2]:
        return a
    if not a[2]:
        return b
    lo = a[0] if values[a[0]] <= values[b[0]] else b[0]
    hi = a[1] if values[a[1]] >= values[b[1]] else b[1]
    return lo, hi, True


def assemble(end: int, picks: Sequence[tuple[int, ...]], first: int = 0) -> list[int]:
    """Sorted, unique indexes: `first`, each bucket's two picks (the first two items of
    each, buckets in order), and ``end - 1``, the last point."""
    out = [first]
    append = out.append
    for pick in picks:
        lo, hi = pick[0], pick[1]
        a, b = (lo, hi) if lo <= hi else (hi, lo)
        # Buckets are contiguous and in order, so only the previous index can repeat.
        if a != out[-1]:
            append(a)
        if b != out[-1]:
            append(b)
    if out[-1] != end - 1:
        append(end - 1)
    return out


def reduce_blocks(
    bmin: list[float], bmax: list[float], cuts: Sequence[int]
) -> list[tuple[int, int, bool]]:
    """For each bucket of blocks ``[cuts[i], cuts[i + 1])``: the block holding its
    minimum, the block holding its maximum, and whether it holds any non-NaN value.

    `bmin` and `bmax` are the blocks' minimum and maximum with an all-NaN block written
    as ``+inf`` and ``-inf`` (min > max marks it); an all-NaN bucket answers its first
    block twice. Ties go to the earliest block.
    """
    out: list[tuple[int, int, bool]] = []
    append = out.append
    for i in range(len(cuts) - 1):
        p = cuts[i]
        q = cuts[i + 1]
        mins = bmin[p:q]
        maxs = bmax[p:q]
        lo = min(mins)
        hi = max(maxs)
        if lo <= hi and lo != _INF and hi != -_INF:
            # lo/hi are finite or the "right" infinity, so they cannot match the
            # +inf/-inf placeholders of all-NaN blocks.
            append((p + mins.index(lo), p + maxs.index(hi), True))
        elif lo > hi:
            append((p, p, False))  # every block is all-NaN
        else:
            append(_reduce_blocks_slow(bmin, bmax, p, q))
    return out


def _reduce_blocks_slow(bmin: list[float], bmax: list[float], p: int, q: int) -> _Pick:
    """Reduce blocks ``[p, q)`` one by one, skipping all-NaN blocks.

    Needed only when every real value is +inf (or -inf) and could be confused with the
    placeholders of all-NaN blocks.
    """
    lo_b = hi_b = p
    real = False
    for j in range(p, q):
        if bmin[j] <= bmax[j]:
            if not real:
                lo_b = hi_b = j
                real = True
                continue
            if bmin[j] < bmin[lo_b]:
                lo_b = j
            if bmax[j] > bmax[hi_b]:
                hi_b = j
    return lo_b, hi_b, real


Piece = tuple[int, int, int, float, int, float]
"""A run of consecutive points of a zoomed range: (first position, points, position of
the minimum, minimum, position of the maximum, maximum), NaN where there is none."""


def cut_pieces(
    pieces: Sequence[Piece], total: int, buckets: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """Bucket pieces (sorted by position, `total` points in all) into at most `buckets`
    buckets of about ``total / buckets`` points, a piece wholly in one bucket.

    Returns each bucket's (position of its minimum, position of its maximum), an
    all-NaN bucket's first position twice, and the bucket boundaries in positions:
    bucket i holds the pieces starting in ``[edges[i], edges[i + 1])``. With no piece
    over half a bucket, no bucket is empty.
    """
    picks: list[list[float]] = []  # [min pos, min, max pos, max]
    edges: list[int] = []
    done = 0
    current = -1
    for start, count, min_pos, lo, max_pos, hi in pieces:
        bucket = done * buckets // total
        done += count
        if bucket != current:
            current = bucket
            edges.append(start)
            picks.append([min_pos, lo, max_pos, hi])
            continue
        pick = picks[-1]
        if lo < pick[1] or (pick[1] != pick[1] and lo == lo):
            pick[0], pick[1] = min_pos, lo
        if hi > pick[3] or (pick[3] != pick[3] and hi == hi):
            pick[2], pick[3] = max_pos, hi
    if pieces:
        edges.append(pieces[-1][0] + pieces[-1][1])
    return [(int(p[0]), int(p[2])) for p in picks], edges


@dataclass
class SeriesCut:
    """A series cut for a chart: the kept points' positions in the series (arrival
    order) and their columns, how many points the series (or the zoomed range) holds,
    and the bucket boundaries in positions (empty when nothing was cut). `rows_read`
    and `points_read` count the summaries and the points the cut read."""

    positions: list[int]
    steps: list[int]
    times: list[float]
    values: list[float]
    total: int
    edges: list[int]
    rows_read: int = 0
    points_read: int = 0

    @property
    def downsampled(self) -> bool:
        return len(self.positions) < self.total


def bucket_count(max_points: int) -> int:
    """Number of buckets for a cut to ``max_points`` (clamped to at least 4).

    Each bucket gives at most two points, and the first and last points may add
    one each, so ``2 * buckets + 2 <= max(4, max_points)``.
    """
    return (max(4, max_points) - 2) // 2


def bucket_edges(n: int, max_points: int, block: int = 1) -> list[int]:
    """Bucket boundaries ``[0, ..., n]`` for a cut of ``n`` points; bucket ``i`` is
    ``[edges[i], edges[i + 1])``.

    With ``block > 1`` every inner boundary is a multiple of ``block`` (the last
    bucket also takes the trailing partial block). Requires ``n // block`` to be at
    least :func:`bucket_count` so that no bucket is empty.
    """
    k = bucket_count(max_points)
    units = n // block
    if units < k:
        raise ValueError(f"{n} points in blocks of {block} cannot fill {k} buckets")
    edges = [(i * units) // k * block for i in range(k)]
    edges.append(n)
    return edges


def downsample_indexes(values: Sequence[float], max_points: int) -> list[int]:
    """Min/max downsampling by a direct scan of every point.

    Returns the sorted indexes to keep: everything if ``len(values) <= max(4,
    max_points)``; otherwise the first and last points and, for each of
    :func:`bucket_count` evenly sized buckets, the indexes of its minimum and
    maximum. Used for small series and as the reference for the fast path.
    """
    n = len(values)
    if n <= max(4, max_points):
        return list(range(n))
    vals = values if isinstance(values, list) else list(values)
    edges = bucket_edges(n, max_points)
    picks = [_scan(vals, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    return assemble(n, picks)


class SeriesColumns:
    """One metric key of one run: parallel columns in arrival order.

    Append only through :meth:`extend`, which keeps the block summary in step;
    the columns themselves are plain lists and may be read freely.
    """

    steps: list[int]
    times: list[float]
    values: list[float]

    def __init__(self) -> None:
        self.steps = []
        self.times = []
        self.values = []
        # Block summary, one entry per full block of BLOCK points: the index and
        # value of its min and max (ignoring NaN). An all-NaN block stores min +inf
        # and max -inf (min > max marks it) and its first index.
        self._bmin_i: list[int] = []
        self._bmax_i: list[int] = []
        self._bmin_v: list[float] = []
        self._bmax_v: list[float] = []

    def __len__(self) -> int:
        return len(self.values)

    def extend(self, steps: Sequence[int], times: Sequence[float], values: Sequence[float]) -> None:
        """Append points (the three sequences must have the same length)."""
        count = len(values)
        if len(steps) != count or len(times) != count:
            raise ValueError(
                f"columns differ in length: {len(steps)} steps, {len(times)} times, {count} values"
            )
        converted = list(map(float, values))  # before touching anything: all or nothing
        self.steps.extend(steps)
        self.times.extend(times)
        self.values.extend(converted)
        self._summarize()

    def _summarize(self) -> None:
        """Summarize every full block not summarized yet."""
        vals = self.values
        done = len(self._bmin_v) * BLOCK
        end = len(vals) - len(vals) % BLOCK
        if done >= end:
            return
        min_i, max_i = self._bmin_i.append, self._bmax_i.append
        min_v, max_v = self._bmin_v.append, self._bmax_v.append
        isnan = math.isnan
        for start in range(done, end, BLOCK):
            chunk = vals[start : start + BLOCK]
            if not isnan(sum(chunk)):
                lo = min(chunk)
                hi = max(chunk)
                min_i(start + chunk.index(lo))
                max_i(start + chunk.index(hi))
                min_v(lo)
                max_v(hi)
                continue
            ilo, ihi, real = _scan(vals, start, start + BLOCK)
            min_i(ilo)
            max_i(ihi)
            if real:
                min_v(vals[ilo])
                max_v(vals[ihi])
            else:
                min_v(_INF)
                max_v(-_INF)

    def _use_blocks(self, max_points: int) -> bool:
        return len(self.values) // BLOCK >= _MIN_BLOCKS_PER_BUCKET * bucket_count(max_points)

    def bucket_edges(self, max_points: int) -> list[int]:
        """The bucket boundaries :meth:`downsample` uses for this series (when it cuts)."""
        block = BLOCK if self._use_blocks(max_points) else 1
        return bucket_edges(len(self.values), max_points, block)

    def downsample(self, max_points: int) -> list[int]:
        """Sorted indexes of the points to keep, at most ``max(4, max_points)`` of them.

        Everything when the series is that short; otherwise the first and last
        points and each bucket's minimum and maximum (see the module docstring).
        """
        n = len(self.values)
        if n <= max(4, max_points):
            return list(range(n))
        if not self._use_blocks(max_points):
            return downsample_indexes(self.values, max_points)

        vals = self.values
        bmin_i, bmax_i = self._bmin_i, self._bmax_i
        nblocks = n // BLOCK
        k = bucket_count(max_points)
        cuts = [(i * nblocks) // k for i in range(k)]
        cuts.append(nblocks)
        picks: list[_Pick] = [
            (bmin_i[lo], bmax_i[hi], real)
            for lo, hi, real in reduce_blocks(self._bmin_v, self._bmax_v, cuts)
        ]
        tail = nblocks * BLOCK
        if tail < n:
            picks[-1] = _merge(vals, picks[-1], _scan(vals, tail, n))
        return assemble(n, picks)

    def take(self, indexes: list[int]) -> tuple[list[int], list[float], list[float]]:
        """The ``(steps, times, values)`` of the points at ``indexes``."""
        steps, times, values = self.steps, self.times, self.values
        return (
            [steps[i] for i in indexes],
            [times[i] for i in indexes],
            [values[i] for i in indexes],
        )
