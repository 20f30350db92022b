"""Metric points: packed chunks per run and key, their summaries, and the latest value
of each key.

Chunks
------
A run's points are appended as chunks (`metric_chunks`): up to `CHUNK_POINTS` points of
one key, as three packed columns (steps, wall times, values; the engine packs them, see
`Engine.pack`), with the chunk's min and max beside them. Reading and writing columns is
about 50x faster than one row a point. Steps that go up (or down) by the same stride,
as nearly every training loop logs them, are kept as the first and last step only (16
bytes instead of 8 a point; `pack_steps`, `unpack_steps`): a chunk of n > 2 points
whose steps column is 16 bytes long holds them so. That writes a third less per point. `latest_metrics` keeps, per run and key, the
newest point and the number of points, so listings never touch the chunks.

Cursors: a point's position is ``chunk id << 20 | index in its chunk``; passing it back
as `after` returns only newer points (the live feed and the charts follow a run so).

Summaries
---------
A chart of a 10-million-point series draws 2,000 of them, so reading every point to
draw it would be wasted. `metric_summaries` keeps, per run and key, a pyramid of block
summaries written in the same transaction as the points: level 0 summarizes each block
of `SUMMARY_BLOCK` (128) consecutive points of the series, level L each block of
128 * 4**L points, up to level `SUMMARY_LEVELS - 1` (2,097,152 points). A block is
counted in *arrival order* (the series' positions, as `metric_columns` returns them):
block b of level L holds positions [b * size, b * size + n). Its row holds the number
of points, the range of their steps, the position, step, wall time and value of its
minimum and of its maximum (ignoring NaN: an all-NaN block has no minimum, its value is
NULL and its position is the block's first), and its last point. Level-0 rows also say
where their points lie: the chunk holding the first point and its index there, and the
chunk holding the last point. Only the last block of each level grows; it is rewritten
as points arrive. Out-of-order steps and a step logged twice are kept as they arrive
(two points), as the chunks keep them: the summaries follow positions, never steps.

`metric_series` cuts a series for a chart from these rows (see `runyard.core.series`
for the rule: the first and last points and each bucket's minimum and maximum):

* the whole series: one read of the coarsest level that still gives every bucket at
  least two blocks, about 2,000 to 8,000 rows whatever the length, of their minimum
  and maximum values only (the last block's whole row first: every block below it is
  full, so the two reads agree), then where the minimum and maximum of the blocks each
  bucket picks lie (at most two blocks a bucket, by block number); a short series
  (under 256 points a bucket) is read point by point, as before;
* a step range (a chart zoomed in): from a level of at most ~256 blocks down, a block
  wholly inside the range is kept as it is, one wholly outside is skipped, one that
  straddles an edge is looked at one level finer, down to its points. With steps that
  grow, that reads the summaries inside the range plus a few blocks and at most two
  level-0 blocks of points at its edges.

Chunks are written with `Engine.insert_rows` (PostgreSQL: one COPY a write).

Metric values: SQLite turns NaN into NULL, so a NULL value *is* NaN (the column is never
NULL for any other reason); +inf and -inf are stored as the engine's infinities. Inside
the packed columns NaN is kept as it is.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat
from typing import Any, overload

from runyard.core.errors import RunyardError
from runyard.core.series import (
    SeriesCut,
    assemble,
    bucket_count,
    bucket_edges,
    cut_pieces,
    downsample_indexes,
    reduce_blocks,
)
from runyard.core.store.engine import Connection, Tables

CHUNK_POINTS = 1 << 16  # at most this many points in one chunk
CHUNK_COLUMNS = ("id", "run_id", "key", "n", "min_value", "max_value", "steps", "times", "vals")
CURSOR_SHIFT = 20  # cursor = chunk id << 20 | index of the point in its chunk

SUMMARY_BLOCK = 128  # points in a block of level 0
SUMMARY_FANOUT = 4  # blocks of level L in one block of level L + 1
SUMMARY_LEVELS = 8  # levels 0 .. 7: blocks of 128 .. 2,097,152 points
MIN_BLOCKS_PER_BUCKET = 2  # a whole-series cut reads a level giving each bucket this many
ZOOM_TOP_BLOCKS = 256  # a zoomed cut starts from the finest level with at most this many

NAN = math.nan
INF = math.inf

# One summary while it is computed: (n, step_lo, step_hi, min_pos, min_step, min_time,
# min_value, max_pos, max_step, max_time, max_value, last_step, last_time, last_value),
# NaN for the value of a minimum or maximum that does not exist (an all-NaN block).
Summary = tuple[int, int, int, int, int, float, float, int, int, float, float, int, float, float]

_SUMMARY_COLUMNS = (
    "n, step_lo, step_hi, min_pos, min_step, min_time, min_value, "
    "max_pos, max_step, max_time, max_value, last_step, last_time, last_value"
)
SUMMARY_ROW_COLUMNS = (
    "run_id", "key", "level", "block", *_SUMMARY_COLUMNS.split(", "),
    "chunk", "chunk_at", "chunk_last",
)  # fmt: skip
InsertRows = Callable[[Connection, str, Sequence[str], Iterable[Sequence[Any]]], None]
_INSERT_SUMMARY = (
    f"INSERT INTO metric_summaries (run_id, key, level, block, {_SUMMARY_COLUMNS}, "
    f"chunk, chunk_at, chunk_last) VALUES ({', '.join('?' * 21)})"
)
_UPSERT_SUMMARY = (
    f"{_INSERT_SUMMARY} ON CONFLICT (run_id, key, level, block) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in [*_SUMMARY_COLUMNS.split(", "), "chunk", "chunk_at", "chunk_last"]
    )
)


def summary_size(level: int) -> int:
    """Points in one block of summary level `level`."""
    return int(SUMMARY_BLOCK * SUMMARY_FANOUT**level)


def value_in(v: float) -> float | None:
    """A metric value as the `latest_metrics` column holds it (NaN is NULL)."""
    return None if math.isnan(v) else v


def value_out(v: float | None) -> float:
    return NAN if v is None else float(v)


# --------------------------------------------------------------------------- writing


def _min_max(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The smallest and largest values ignoring NaN (None, None when all are NaN)."""
    real = [v for v in values if v == v] if math.isnan(sum(values)) else values
    return (min(real), max(real)) if real else (None, None)


def insert_chunks(
    db: Connection,
    run_id: str,
    points: Sequence[tuple[str, int, float, float]],
    pack: Pack,
) -> None:
    """Append `points` (key, step, wall_time, value) as one chunk per key, in order.
    Chunks only: `add_metrics` also writes their summaries (the schema's version-2
    migration calls this before the summaries' table exists)."""
    rows = []
    for key, (steps, times, values) in _columns(points).items():
        for i in range(0, len(steps), CHUNK_POINTS):
            vals = values[i : i + CHUNK_POINTS]
            lo, hi = _min_max(vals)
            rows.append(
                (
                    run_id,
                    key,
                    len(vals),
                    lo,
                    hi,
                    pack_steps(pack, steps[i : i + CHUNK_POINTS]),
                    pack("d", times[i : i + CHUNK_POINTS]),
                    pack("d", vals),
                )
            )
    db.executemany(
        "INSERT INTO metric_chunks (run_id, key, n, min_value, max_value, steps, times, vals) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


Columns = tuple[list[int], list[float], list[float]]
Pack = Callable[[str, Iterable[float]], bytes]
Unpack = Callable[[str, bytes, int], list[Any]]


def pack_steps(pack: Pack, steps: list[int]) -> bytes:
    """A chunk's steps as stored: (first, last) when they are an arithmetic sequence of
    more than two steps, every step otherwise."""
    n = len(steps)
    if n > 2:
        first, last = steps[0], steps[-1]
        stride, rest = divmod(last - first, n - 1)
        if not rest and (
            steps == list(range(first, last + stride, stride))
            if stride
            else steps.count(first) == n
        ):
            return pack("q", (first, last))
    return pack("q", steps)


def unpack_steps(
    unpack: Unpack, blob: bytes, n: int, a: int = 0, b: int | None = None
) -> list[int]:
    """Steps [a, b) (to the end when b is None) of a chunk of `n` points whose steps
    `pack_steps` packed as `blob`."""
    stop = n if b is None else b
    if n > 2 and len(blob) == 16:
        first, last = unpack("q", blob, 0)
        stride = (last - first) // (n - 1)
        if not stride:
            return [first] * (stop - a)
        return list(range(first + a * stride, first + stop * stride, stride))
    return unpack("q", blob[: stop * 8], a) if stop < n else unpack("q", blob, a)


_KEY, _STEP, _WALL, _VALUE = (operator.itemgetter(i) for i in range(4))


Point = tuple[str, int, float, float]  # key, step, wall time (s), value


class PointColumns:
    """Metric points (key, step, wall_time, value) in arrival order, kept as four
    columns: what the ingester makes of packed tracking lines and hands to `add_metrics`
    with no tuple made per point. A slice is a `PointColumns`; an item, and iteration,
    give tuples (for the rare per-point reader). Read-only once handed on."""

    __slots__ = ("_groups", "keys", "steps", "values", "walls")

    def __init__(
        self,
        keys: list[str] | None = None,
        steps: list[int] | None = None,
        walls: list[float] | None = None,
        values: list[float] | None = None,
    ) -> None:
        self.keys = [] if keys is None else keys
        self.steps = [] if steps is None else steps
        self.walls = [] if walls is None else walls
        self.values = [] if values is None else values
        self._groups: dict[str, Columns] | None = None

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, i: int) -> Point: ...

    @overload
    def __getitem__(self, i: slice) -> PointColumns: ...

    def __getitem__(self, i: int | slice) -> Point | PointColumns:
        if isinstance(i, slice):
            return PointColumns(self.keys[i], self.steps[i], self.walls[i], self.values[i])
        return (self.keys[i], self.steps[i], self.walls[i], self.values[i])

    def __iter__(self) -> Iterator[Point]:
        return zip(self.keys, self.steps, self.walls, self.values, strict=True)

    def extend(self, points: Iterable[Point]) -> None:
        """Append points given one by one."""
        for key, step, wall, value in points:
            self.keys.append(key)
            self.steps.append(step)
            self.walls.append(wall)
            self.values.append(value)
        self._groups = None

    def extend_columns(
        self,
        keys: Iterable[str],
        steps: Iterable[int],
        walls: Iterable[float],
        values: Iterable[float],
    ) -> None:
        """Append points given as columns of one length."""
        self.keys.extend(keys)
        self.steps.extend(steps)
        self.walls.extend(walls)
        self.values.extend(values)
        self._groups = None

    def by_key(self) -> dict[str, Columns]:
        """The points as columns per key, in order (the lists themselves where every
        point has one key)."""
        if self._groups is None:
            self._groups = _columns_of(self.keys, self.steps, self.walls, self.values)
        return self._groups


def _columns_of(
    keys: list[str], steps: list[int], walls: list[float], values: list[float]
) -> dict[str, Columns]:
    if not keys:
        return {}
    first = keys[0]
    if keys.count(first) == len(keys):  # one key: the common case, no grouping
        return {first: (steps, walls, values)}
    distinct = dict.fromkeys(keys)
    if len(distinct) <= 8:  # a few keys: one C-speed pass per key and column
        out: dict[str, Columns] = {}
        for key in distinct:
            mine = list(map(operator.eq, repeat(key), keys))
            out[key] = (
                list(compress(steps, mine)),
                list(compress(walls, mine)),
                list(compress(values, mine)),
            )
        return out
    by_key: dict[str, Columns] = {}
    for key, step, wall, value in zip(keys, steps, walls, values, strict=True):
        columns = by_key.get(key)
        if columns is None:
            columns = by_key[key] = ([], [], [])
        columns[0].append(step)
        columns[1].append(wall)
        columns[2].append(value)
    return by_key


def _columns(points: Sequence[Point] | PointColumns) -> dict[str, Columns]:
    """Points (key, step, wall_time, value) as columns per key, in order."""
    if isinstance(points, PointColumns):
        return points.by_key()
    return _columns_of(
        list(map(_KEY, points)),
        list(map(_STEP, points)),
        list(map(_WALL, points)),
        list(map(_VALUE, points)),
    )


def _summarize(
    pos0: int,
    steps: Sequence[int],
    times: Sequence[float],
    values: Sequence[float],
    s: int,
    e: int,
    nan_free: bool,
    steps_sorted: bool,
) -> Summary:
    """The summary of points [s, e) of the columns (non-empty); `pos0` is the series
    position of the columns' first point. Ties go to the earliest point."""
    vals = values[s:e]
    if nan_free or not math.isnan(sum(vals)):
        lo = min(vals)
        hi = max(vals)
        i = s + vals.index(lo)
        j = s + vals.index(hi)
    else:
        real = [v for v in vals if v == v]
        if real:
            lo = min(real)
            hi = max(real)
            # list.index compares with ==, which NaN never satisfies.
            i = s + vals.index(lo)
            j = s + vals.index(hi)
        else:
            lo = hi = NAN
            i = j = s
    if steps_sorted:
        step_lo, step_hi = steps[s], steps[e - 1]
    else:
        st = steps[s:e]
        step_lo, step_hi = min(st), max(st)
    last = e - 1
    return (
        e - s,
        step_lo,
        step_hi,
        pos0 + i,
        steps[i],
        times[i],
        lo,
        pos0 + j,
        steps[j],
        times[j],
        hi,
        steps[last],
        times[last],
        values[last],
    )


def merge_summaries(a: Summary, b: Summary) -> Summary:
    """The summary of two adjacent ranges, `a` before `b` (ties go to `a`)."""
    amin, bmin = a[6], b[6]
    amax, bmax = a[10], b[10]
    low = b if (bmin < amin or (amin != amin and bmin == bmin)) else a
    high = b if (bmax > amax or (amax != amax and bmax == bmax)) else a
    return (
        a[0] + b[0],
        a[1] if a[1] <= b[1] else b[1],
        a[2] if a[2] >= b[2] else b[2],
        low[3],
        low[4],
        low[5],
        low[6],
        high[7],
        high[8],
        high[9],
        high[10],
        b[11],
        b[12],
        b[13],
    )


def _summary_from_row(row: Sequence[Any]) -> Summary:
    """A summary from its columns as stored (NULL values are NaN)."""
    return (
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        value_out(row[6]),
        row[7],
        row[8],
        row[9],
        value_out(row[10]),
        row[11],
        row[12],
        value_out(row[13]),
    )


def _summary_to_row(s: Summary) -> tuple[Any, ...]:
    """A summary's columns as stored (NaN values are NULL)."""
    if s[6] == s[6] and s[10] == s[10] and s[13] == s[13]:
        return s  # no NaN: the common case, nothing to convert
    return (*s[:6], value_in(s[6]), *s[7:10], value_in(s[10]), s[11], s[12], value_in(s[13]))


def series_length(read: Callable[[str, Sequence[Any]], list[Any]], run_id: str, key: str) -> int:
    """Points of the key summarized so far (0 when none)."""
    rows = read(
        "SELECT block, n FROM metric_summaries WHERE run_id = ? AND key = ? AND level = 0 "
        "ORDER BY block DESC LIMIT 1",
        (run_id, key),
    )
    return int(rows[0][0]) * SUMMARY_BLOCK + int(rows[0][1]) if rows else 0


# A run of whole blocks of one level, as 14 columns in `Summary` order.
Block = list[list[Any]]


def _blocks0(
    before: int,
    columns: Columns,
    a: int,
    b: int,
    nan_free: bool,
    steps_sorted: bool,
) -> Block:
    """Level-0 summaries of the whole blocks made of new points [a, b) of the columns
    (`b - a` a multiple of the block; `before` is the position of the columns' first
    point). Without NaN every step is a call of a builtin over all blocks at once."""
    steps, times, values = columns
    size = SUMMARY_BLOCK
    starts = range(a, b, size)
    if not nan_free:
        found = [
            _summarize(before, steps, times, values, i, i + size, False, steps_sorted)
            for i in starts
        ]
        return [list(c) for c in zip(*found, strict=True)] if found else [[] for _ in range(14)]
    vals = [values[i : i + size] for i in starts]
    lo = list(map(min, vals))
    hi = list(map(max, vals))
    at_lo = list(map(operator.add, starts, map(list.index, vals, lo)))
    at_hi = list(map(operator.add, starts, map(list.index, vals, hi)))
    if steps_sorted:
        step_lo, step_hi = steps[a:b:size], steps[a + size - 1 : b : size]
    else:
        runs = [steps[i : i + size] for i in starts]
        step_lo, step_hi = list(map(min, runs)), list(map(max, runs))
    step_at, time_at = steps.__getitem__, times.__getitem__
    return [
        [size] * len(vals),
        step_lo,
        step_hi,
        list(map(operator.add, repeat(before), at_lo)),
        list(map(step_at, at_lo)),
        list(map(time_at, at_lo)),
        lo,
        list(map(operator.add, repeat(before), at_hi)),
        list(map(step_at, at_hi)),
        list(map(time_at, at_hi)),
        hi,
        steps[a + size - 1 : b : size],
        times[a + size - 1 : b : size],
        values[a + size - 1 : b : size],
    ]


def _group(blocks: Block, first: int, count: int, nan_free: bool, size: int) -> Block:
    """Summaries of `count` blocks one level up, each of `SUMMARY_FANOUT` consecutive
    blocks of `blocks` from index `first` on (all whole: each holds `size` points)."""
    f = SUMMARY_FANOUT
    end = first + count * f
    if count <= 0:
        return [[] for _ in range(14)]
    if not nan_free:
        found = [_merged(blocks, i, i + f) for i in range(first, end, f)]
        return [list(c) for c in zip(*found, strict=True)] if found else [[] for _ in range(14)]
    starts = range(first, end, f)
    step_lo, step_hi = blocks[1], blocks[2]
    mins = [blocks[6][i : i + f] for i in starts]
    maxs = [blocks[10][i : i + f] for i in starts]
    lo = list(map(min, mins))
    hi = list(map(max, maxs))
    at_lo = list(map(operator.add, starts, map(list.index, mins, lo)))
    at_hi = list(map(operator.add, starts, map(list.index, maxs, hi)))
    return [
        [size] * count,
        list(map(min, [step_lo[i : i + f] for i in starts])),
        list(map(max, [step_hi[i : i + f] for i in starts])),
        list(map(blocks[3].__getitem__, at_lo)),
        list(map(blocks[4].__getitem__, at_lo)),
        list(map(blocks[5].__getitem__, at_lo)),
        lo,
        list(map(blocks[7].__getitem__, at_hi)),
        list(map(blocks[8].__getitem__, at_hi)),
        list(map(blocks[9].__getitem__, at_hi)),
        hi,
        blocks[11][first + f - 1 : end : f],
        blocks[12][first + f - 1 : end : f],
        blocks[13][first + f - 1 : end : f],
    ]


def _merged(blocks: Block, i: int, j: int) -> Summary:
    """The summary of blocks [i, j) of `blocks` (j > i), one after the other."""
    out = _one(blocks, i)
    for k in range(i + 1, j):
        out = merge_summaries(out, _one(blocks, k))
    return out


def _one(blocks: Block, k: int) -> Summary:
    return tuple(c[k] for c in blocks)


def _join(parts: Iterable[Summary | None]) -> Summary | None:
    out: Summary | None = None
    for part in parts:
        if part is not None:
            out = part if out is None else merge_summaries(out, part)
    return out


def _nulls(blocks: Block) -> Block:
    """The columns as stored: NaN values are NULL."""
    for c in (6, 10, 13):
        blocks[c] = [None if v != v else v for v in blocks[c]]
    return blocks


def write_summaries(
    db: Connection,
    run_id: str,
    key: str,
    columns: Columns,
    chunks: Sequence[tuple[int, int]],
    nan_free: bool | None = None,
    insert: InsertRows | None = None,
) -> None:
    """Summarize new points of one key (appended after the ones summarized already),
    stored in `chunks` ((chunk id, points), in order), at every level. New rows go in
    with `insert` (the engine's `insert_rows`) when given.

    Each level is built from the one below: its whole new blocks by groups of
    `SUMMARY_FANOUT` (a builtin over all of them at once), and at most two blocks that
    are not (the one the earlier points began, merged with its stored row, and the one
    the new points end in) from the few pieces below them."""
    steps, times, values = columns
    count = len(values)
    if not count:
        return

    def read(sql: str, args: Sequence[Any]) -> list[Any]:
        return db.execute(sql, args).fetchall()

    before = series_length(read, run_id, key)
    end = before + count
    # The last block of each level grows: read the ones the new points go on filling.
    growing = [
        (level, before // size)
        for level in range(SUMMARY_LEVELS)
        if before % (size := summary_size(level))
    ]
    existing: dict[int, tuple[Summary, Any, Any]] = {}
    if growing:
        # One primary-key lookup each (an OR of them would walk every row of the key).
        one = (
            f"SELECT level, {_SUMMARY_COLUMNS}, chunk, chunk_at FROM metric_summaries "
            "WHERE run_id = ? AND key = ? AND level = ? AND block = ?"
        )
        rows = read(
            " UNION ALL ".join([one] * len(growing)),
            [x for level, b in growing for x in (run_id, key, level, b)],
        )
        for row in rows:
            existing[row[0]] = (_summary_from_row(row[1:15]), row[15], row[16])

    if nan_free is None:
        nan_free = not math.isnan(sum(values))
    steps_sorted = count < 2 or steps == sorted(steps)
    starts = [0]  # where each chunk's points start among the new points
    for _chunk_id, n in chunks[:-1]:
        starts.append(starts[-1] + n)

    def chunk_of(offset: int) -> tuple[int, int]:
        """(chunk id, index in it) of the new point at `offset`."""
        i = bisect_right(starts, offset) - 1
        return chunks[i][0], offset - starts[i]

    # Each level splits the new points [before, end) into a head [before, p0), the rest
    # of a block begun earlier; whole blocks [p0, p1); and a tail [p1, end), a block
    # begun now and not full yet. Level 0 summarizes the points themselves.
    size = SUMMARY_BLOCK
    p0 = min(end, -(-before // size) * size)
    p1 = max(p0, end // size * size)
    head = tail = None
    if p0 > before:
        head = _summarize(before, steps, times, values, 0, p0 - before, nan_free, steps_sorted)
    if end > p1:
        tail = _summarize(before, steps, times, values, p1 - before, count, nan_free, steps_sorted)
    whole = _blocks0(before, columns, p0 - before, p1 - before, nan_free, steps_sorted)

    new_rows: list[tuple[Any, ...]] = []  # rows of new blocks
    grown: list[tuple[Any, ...]] = []  # rows of blocks that held points already
    for level in range(SUMMARY_LEVELS):
        if level:
            # One level up, from the pieces of the level below that each part covers.
            below, size = size, summary_size(level)
            q0 = min(end, -(-before // size) * size)
            q1 = max(q0, end // size * size)
            pieces = len(whole[0])
            in_head = (min(q0, p1) - p0) // below  # whole blocks below inside the head
            from_tail = (q1 - p0) // below  # ... and inside the tail, from here on
            new_head = new_tail = None
            if q0 > before:
                new_head = _join(
                    [
                        head,
                        _merged(whole, 0, in_head) if in_head > 0 else None,
                        tail if q0 == end else None,
                    ]
                )
            if end > q1:
                new_tail = _join(
                    [_merged(whole, from_tail, pieces) if from_tail < pieces else None, tail]
                )
            whole = _group(whole, (q0 - p0) // below, (q1 - q0) // size, nan_free, size)
            head, tail, p0, p1 = new_head, new_tail, q0, q1
        if head is not None:
            b = before // size
            old = existing.get(level)
            links: tuple[Any, ...] = (None, None, None)
            if level == 0:
                chunk, chunk_at = (old[1], old[2]) if old else chunk_of(b * size - before)
                links = (chunk, chunk_at, chunk_of(p0 - 1 - before)[0])
            if old is None:
                new_rows.append((run_id, key, level, b, *_summary_to_row(head), *links))
            else:
                full = merge_summaries(old[0], head)
                grown.append((run_id, key, level, b, *_summary_to_row(full), *links))
        if whole[0]:
            blocks = range(p0 // size, p1 // size)
            link_columns: list[Iterable[Any]] = [repeat(None)] * 3
            if level == 0:
                offsets = [b * size - before for b in blocks]
                if len(chunks) == 1:
                    only = chunks[0][0]
                    link_columns = [repeat(only), offsets, repeat(only)]
                else:
                    at = [chunk_of(o) for o in offsets]
                    link_columns = [
                        [c for c, _ in at],
                        [i for _, i in at],
                        [chunk_of(o + size - 1)[0] for o in offsets],
                    ]
            stored = whole if nan_free else _nulls([list(c) for c in whole])
            new_rows.extend(
                zip(repeat(run_id), repeat(key), repeat(level), blocks, *stored, *link_columns)
            )
        if tail is not None:
            links = (None, None, None)
            if level == 0:
                links = (*chunk_of(p1 - before), chunk_of(count - 1)[0])
            new_rows.append((run_id, key, level, p1 // size, *_summary_to_row(tail), *links))
    if grown:
        db.executemany(_UPSERT_SUMMARY, grown)
    if insert is not None:
        if new_rows:
            insert(db, "metric_summaries", SUMMARY_ROW_COLUMNS, new_rows)
    else:
        db.executemany(_INSERT_SUMMARY, new_rows)


def summarize_stored(db: Connection, unpack: Unpack) -> None:
    """Summaries of every chunk stored so far (the schema's version-5 migration), a key's
    chunks in order, about a million points at a time."""
    pairs = db.execute("SELECT DISTINCT run_id, key FROM metric_chunks").fetchall()
    for run_id, key in pairs:
        cursor = db.execute(
            "SELECT id, n, steps, times, vals FROM metric_chunks "
            "WHERE run_id = ? AND key = ? ORDER BY id",
            (run_id, key),
        )
        batch: Columns = ([], [], [])
        chunks: list[tuple[int, int]] = []
        for chunk_id, n, s, t, v in cursor.fetchall():
            batch[0].extend(unpack_steps(unpack, s, n))
            batch[1].extend(unpack("d", t, 0))
            batch[2].extend(unpack("d", v, 0))
            chunks.append((chunk_id, n))
            if len(batch[0]) >= 1 << 20:
                write_summaries(db, run_id, key, batch, chunks)
                batch, chunks = ([], [], []), []
        if chunks:
            write_summaries(db, run_id, key, batch, chunks)


# --------------------------------------------------------------------------- reading


def latest_values(tables: Tables, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each run's latest value of each key (NaN where the value is NaN)."""
    out: dict[str, dict[str, float]] = {}
    for i in range(0, len(run_ids), 500):
        chunk = list(run_ids[i : i + 500])
        rows = tables._read(
            "SELECT run_id, key, value FROM latest_metrics "
            f"WHERE run_id IN ({', '.join('?' * len(chunk))}) ORDER BY run_id, key",
            chunk,
        )
        for run_id, key, value in rows:
            out.setdefault(run_id, {})[key] = value_out(value)
    return out


class MetricTables(Tables):
    """`Store`'s metric calls."""

    def add_metrics(self, run_id: str, points: Sequence[Point] | PointColumns) -> None:
        """Append points (key, step, wall_time, value), one by one or as `PointColumns`:
        their chunks, their summaries and `latest_metrics`, in one transaction."""
        if not points:
            return
        series = _columns(points)
        pack = self._engine.pack
        with self._tx() as db:
            next_id = int(
                db.execute("SELECT COALESCE(MAX(id), 0) FROM metric_chunks").fetchone()[0]
            )
            rows = []
            chunks: dict[str, list[tuple[int, int]]] = {}
            clean: dict[str, bool] = {}  # per key: whether no value is NaN
            for key, (steps, times, values) in series.items():
                mine = chunks[key] = []
                clean[key] = nan_free = not math.isnan(sum(values))
                for i in range(0, len(values), CHUNK_POINTS):
                    vals = values[i : i + CHUNK_POINTS]
                    lo, hi = (min(vals), max(vals)) if nan_free else _min_max(vals)
                    next_id += 1
                    mine.append((next_id, len(vals)))
                    rows.append(
                        (
                            next_id,
                            run_id,
                            key,
                            len(vals),
                            lo,
                            hi,
                            pack_steps(pack, steps[i : i + CHUNK_POINTS]),
                            pack("d", times[i : i + CHUNK_POINTS]),
                            pack("d", vals),
                        )
                    )
            self._engine.insert_rows(db, "metric_chunks", CHUNK_COLUMNS, rows)
            for key, columns in series.items():
                write_summaries(
                    db, run_id, key, columns, chunks[key], clean[key], self._engine.insert_rows
                )
            db.executemany(
                "INSERT INTO latest_metrics (run_id, key, step, wall_time, value, count) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET "
                "step = excluded.step, wall_time = excluded.wall_time, value = excluded.value, "
                "count = latest_metrics.count + excluded.count",
                [
                    (run_id, k, s[-1], t[-1], value_in(v[-1]), len(v))
                    for k, (s, t, v) in series.items()
                ],
            )

    def latest_metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        return latest_values(self, run_ids)

    def metric_summary(self, run_id: str) -> list[dict[str, Any]]:
        """Per key: last value and step, min, max and the number of points."""
        rows = self._read(
            "SELECT l.key, l.value, l.step, l.count, "
            "(SELECT MIN(min_value) FROM metric_chunks m "
            " WHERE m.run_id = l.run_id AND m.key = l.key), "
            "(SELECT MAX(max_value) FROM metric_chunks m "
            " WHERE m.run_id = l.run_id AND m.key = l.key) "
            "FROM latest_metrics l WHERE l.run_id = ? ORDER BY l.key",
            (run_id,),
        )
        return [
            {
                "key": r[0],
                "last": value_out(r[1]),
                "step": r[2],
                "count": r[3],
                "min": value_out(r[4]),
                "max": value_out(r[5]),
            }
            for r in rows
        ]

    def _chunks(self, run_id: str, key: str | None, after: int, columns: str) -> list[Any]:
        """Chunks of the run (one key, or all) holding points after cursor `after`."""
        chunk_id = after >> CURSOR_SHIFT
        # Past a cursor, walk the table from that chunk on (only chunks at least as new,
        # of any run) instead of every index entry of the run.
        source = "metric_chunks" + (self._engine.unindexed if after > 0 else "")
        sql = f"SELECT id, {columns} FROM {source} WHERE id >= ? AND run_id = ?"
        args: list[Any] = [chunk_id, run_id]
        if key is not None:
            sql += " AND key = ?"
            args.append(key)
        return self._read(sql + " ORDER BY id", args)

    def metric_points(
        self, run_id: str, key: str | None = None, after: int = 0, limit: int | None = None
    ) -> list[tuple[int, str, int, float, float]]:
        """Points as (cursor, key, step, wall_time, value), oldest first. `cursor` is the
        position to pass as `after` to get only newer points."""
        unpack = self._engine.unpack
        out: list[tuple[int, str, int, float, float]] = []
        for chunk_id, chunk_key, n, steps, times, vals in self._chunks(
            run_id, key, after, "key, n, steps, times, vals"
        ):
            base = chunk_id << CURSOR_SHIFT
            first = (after - base + 1) if after >= base else 0
            steps_l = unpack_steps(unpack, steps, n, first)
            times_l = unpack("d", times, first)
            vals_l = unpack("d", vals, first)
            for i, point in enumerate(zip(steps_l, times_l, vals_l, strict=True), first):
                out.append((base | i, chunk_key, *point))
                if limit is not None and len(out) >= limit:
                    return out
        return out

    def metric_cursor(self, run_id: str) -> int:
        """The position of the run's newest metric point (0 when it has none)."""
        rows = self._read(
            "SELECT id, n FROM metric_chunks WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,)
        )
        if not rows:
            return 0
        return int(rows[0][0]) << CURSOR_SHIFT | (int(rows[0][1]) - 1)

    def metric_columns(
        self, run_id: str, key: str, after: int = 0
    ) -> tuple[int, list[int], list[float], list[float]]:
        """One key's points after position `after`, oldest first, as columns: (newest
        position, steps, wall times, values). NaN stays NaN."""
        unpack = self._engine.unpack
        steps: list[int] = []
        times: list[float] = []
        values: list[float] = []
        cursor = after
        for chunk_id, n, s, t, v in self._chunks(run_id, key, after, "n, steps, times, vals"):
            base = chunk_id << CURSOR_SHIFT
            first = (after - base + 1) if after >= base else 0
            if first >= n:
                continue
            steps.extend(unpack_steps(unpack, s, n, first))
            times.extend(unpack("d", t, first))
            values.extend(unpack("d", v, first))
            cursor = base | (n - 1)
        return cursor, steps, times, values

    def metric_count(self, run_id: str, key: str) -> int:
        """How many points the run has logged for `key` (0 when none)."""
        rows = self._read(
            "SELECT count FROM latest_metrics WHERE run_id = ? AND key = ?", (run_id, key)
        )
        return int(rows[0][0]) if rows else 0

    def metric_keys(self, run_id: str) -> list[str]:
        rows = self._read("SELECT key FROM latest_metrics WHERE run_id = ? ORDER BY key", (run_id,))
        return [r[0] for r in rows]

    def last_steps(self, run_id: str) -> dict[str, int]:
        rows = self._read("SELECT key, step FROM latest_metrics WHERE run_id = ?", (run_id,))
        return {r[0]: r[1] for r in rows}

    # ---- cuts for charts, from the summaries -------------------------------------------

    def metric_series(
        self,
        run_id: str,
        key: str,
        max_points: int,
        steps: tuple[int | None, int | None] | None = None,
    ) -> SeriesCut:
        """One key's series cut to at most ``max(4, max_points)`` points for a chart: the
        first and last points and each bucket's minimum and maximum (all of it when it
        is that short). `steps` (lo, hi), either end None for open, zooms into the
        points whose step lies in [lo, hi]. Reads the summaries, and points only where
        a block is short or straddles the range's edge (see the module docstring)."""
        reader = _SeriesReader(self, run_id, key)
        if steps is None:
            return reader.whole(max_points)
        lo = -INF if steps[0] is None else steps[0]
        hi = INF if steps[1] is None else steps[1]
        return reader.zoom(max_points, lo, hi)


_POINT_COLUMNS = "min_pos, min_step, min_time, min_value, max_pos, max_step, max_time, max_value"


class _SeriesReader:
    """The reads of one `metric_series` call, counted (`SeriesCut.rows_read`,
    `SeriesCut.points_read`)."""

    def __init__(self, tables: Tables, run_id: str, key: str) -> None:
        self.tables = tables
        self.run_id = run_id
        self.key = key
        self.rows_read = 0
        self.points_read = 0

    def read(self, sql: str, args: Sequence[Any]) -> list[Any]:
        rows = self.tables._read(sql, args)
        self.rows_read += len(rows)
        return rows

    def level_rows(
        self, level: int, columns: str, ranges: Sequence[tuple[int, int]] = ()
    ) -> list[Any]:
        """Rows of one level, in block order: all of them, or those of the inclusive
        block ranges given."""
        sql = f"SELECT block, {columns} FROM metric_summaries WHERE run_id = ? AND key = ? AND level = ?"
        if not ranges:
            return self.read(sql + " ORDER BY block", (self.run_id, self.key, level))
        # A range scan of the primary key each (an OR of them would walk the level).
        rows: list[Any] = []
        for i in range(0, len(ranges), 200):
            part = ranges[i : i + 200]
            rows += self.read(
                " UNION ALL ".join([sql + " AND block BETWEEN ? AND ?"] * len(part)),
                [x for a, b in part for x in (self.run_id, self.key, level, a, b)],
            )
        rows.sort(key=lambda r: r[0])
        return rows

    def _slices(self, start: int, stop: int) -> list[tuple[int, bytes, bytes, bytes, int, int]]:
        """The chunks holding positions [start, stop) of the series: (points in the chunk,
        steps, times, values as packed, first and last + 1 index of the points wanted)."""
        if stop <= start:
            return []
        first_block = start // SUMMARY_BLOCK
        last_block = (stop - 1) // SUMMARY_BLOCK
        rows = self.read(
            "SELECT block, chunk, chunk_at, chunk_last FROM metric_summaries "
            "WHERE run_id = ? AND key = ? AND level = 0 AND block IN (?, ?)",
            (self.run_id, self.key, first_block, last_block),
        )
        by_block = {r[0]: r for r in rows}
        _, lo_chunk, lo_at, _ = by_block[first_block]
        hi_chunk = by_block[last_block][3]
        chunks = self.tables._read(
            "SELECT n, steps, times, vals FROM metric_chunks "
            "WHERE run_id = ? AND key = ? AND id BETWEEN ? AND ? ORDER BY id",
            (self.run_id, self.key, lo_chunk, hi_chunk),
        )
        out = []
        pos = first_block * SUMMARY_BLOCK - lo_at  # position of the first chunk's first point
        for n, s, t, v in chunks:
            a = max(start - pos, 0)
            b = min(stop - pos, n)
            if a < b:
                out.append((n, s, t, v, a, b))
            pos += n
        return out

    def points(self, start: int, stop: int) -> Columns:
        """The points at positions [start, stop) of the series, as columns."""
        unpack = self.tables._engine.unpack
        steps: list[int] = []
        times: list[float] = []
        values: list[float] = []
        for n, s, t, v, a, b in self._slices(start, stop):
            # slice the packed columns first: only the points asked for are unpacked
            steps.extend(unpack_steps(unpack, s, n, a, b))
            times.extend(unpack("d", t[a * 8 : b * 8], 0))
            values.extend(unpack("d", v[a * 8 : b * 8], 0))
        self.points_read += len(values)
        return steps, times, values

    def values(
        self, start: int, stop: int
    ) -> tuple[list[float], Callable[[int], tuple[int, float]]]:
        """The values at positions [start, stop), and the step and time of the i-th of
        them (unpacked only for the points a cut keeps)."""
        unpack = self.tables._engine.unpack
        parts = self._slices(start, stop)
        values: list[float] = []
        firsts: list[int] = []
        for _n, _s, _t, v, a, b in parts:
            firsts.append(len(values))
            values.extend(unpack("d", v[a * 8 : b * 8], 0))
        self.points_read += len(values)

        def step_time(i: int) -> tuple[int, float]:
            j = bisect_right(firsts, i) - 1
            n, s, t, _v, a, _b = parts[j]
            k = a + i - firsts[j]
            step = unpack_steps(unpack, s, n, k, k + 1)[0]
            return step, unpack("d", t[k * 8 : k * 8 + 8], 0)[0]

        return values, step_time

    def cut(
        self,
        positions: list[int],
        points: dict[int, tuple[int, float, float]],
        total: int,
        edges: list[int],
    ) -> SeriesCut:
        got = [points[i] for i in positions]
        return SeriesCut(
            positions=positions,
            steps=[p[0] for p in got],
            times=[p[1] for p in got],
            values=[p[2] for p in got],
            total=total,
            edges=edges,
            rows_read=self.rows_read,
            points_read=self.points_read,
        )

    def every_point(
        self, positions: list[int], columns: Columns, max_points: int, total: int
    ) -> SeriesCut:
        """The cut of points read one by one (`positions[i]` is the series position of
        the i-th point of `columns`), bucketed over those points."""
        steps, times, values = columns
        kept = downsample_indexes(values, max_points)
        edges = []
        if len(kept) < len(values):
            edges = [positions[i] for i in bucket_edges(len(values), max_points)[:-1]]
            edges.append(positions[-1] + 1)
        return SeriesCut(
            positions=[positions[i] for i in kept],
            steps=[steps[i] for i in kept],
            times=[times[i] for i in kept],
            values=[values[i] for i in kept],
            total=total,
            edges=edges,
            rows_read=self.rows_read,
            points_read=self.points_read,
        )

    # ---- the whole series ---------------------------------------------------------------

    def whole(self, max_points: int) -> SeriesCut:
        n = series_length(self.read, self.run_id, self.key)
        k = bucket_count(max_points)
        level = _level_for(n, k)
        if n <= max(4, max_points) or level is None:
            values, step_time = self.values(0, n)
            kept = downsample_indexes(values, max_points)
            edges = bucket_edges(len(values), max_points) if len(kept) < len(values) else []
            found = {i: (*step_time(i), values[i]) for i in kept}
            return self.cut(kept, found, len(values), edges)
        size = summary_size(level)
        blocks = self.level_blocks(level)
        if blocks is None:  # the series is gone
            return self.cut([], {}, 0, [])
        bmin, bmax, last = blocks
        # (the blocks' rows are one snapshot: the series may have grown since its length
        # was read; everything below the last block read was full, and stays as read)
        n = (len(bmin) - 1) * size + last[1]
        full = n // size
        cuts = [(i * full) // k for i in range(k)]
        cuts.append(len(bmin))  # the last bucket also takes the growing block
        reduced = reduce_blocks(bmin, bmax, cuts)
        where = self.block_points(level, [b for lo, hi, _ in reduced for b in (lo, hi)], last)
        points: dict[int, tuple[int, float, float]] = {}
        picks: list[tuple[int, int]] = []
        for lo_block, hi_block, _real in reduced:
            i, step, time, value = where[lo_block][:4]
            points[i] = (step, time, value_out(value))
            j, step, time, value = where[hi_block][4:]
            points[j] = (step, time, value_out(value))
            picks.append((i, j))
        points[n - 1] = (last[-3], last[-2], value_out(last[-1]))
        if 0 not in points:
            steps, times, values = self.points(0, 1)
            points[0] = (steps[0], times[0], values[0])
        edges = [c * size for c in cuts[:-1]]
        edges.append(n)
        return self.cut(assemble(n, picks), points, n, edges)

    def level_blocks(self, level: int) -> tuple[list[float], list[float], tuple[Any, ...]] | None:
        """Every block of one level as its minimum and maximum (+inf and -inf for an
        all-NaN block, as `reduce_blocks` takes them), and the last block's whole row
        (block, n, the point columns, last step, time and value); None when the level
        has no block. Only the two values are read for all but the last block (a third
        of the row's cost): where the picked ones lie is read after, for them alone."""
        columns = f"n, {_POINT_COLUMNS}, last_step, last_time, last_value"
        rows = self.read(
            f"SELECT block, {columns} FROM metric_summaries "
            "WHERE run_id = ? AND key = ? AND level = ? ORDER BY block DESC LIMIT 1",
            (self.run_id, self.key, level),
        )
        if not rows:
            return None
        last = tuple(rows[0])
        below = self.read(
            "SELECT min_value, max_value FROM metric_summaries "
            "WHERE run_id = ? AND key = ? AND level = ? AND block < ? ORDER BY block",
            (self.run_id, self.key, level, last[0]),
        )
        if len(below) != last[0]:  # blocks missing: a damaged store
            raise RunyardError(
                f"The metric summaries of run {self.run_id}, key {self.key!r} miss blocks "
                f"of level {level} ({len(below)} of {last[0]}).",
                hint="move the store aside to start a new one (runs' files under "
                ".runyard/state/runs are kept)",
            )
        bmin = [INF if r[0] is None else r[0] for r in below]
        bmax = [-INF if r[1] is None else r[1] for r in below]
        bmin.append(INF if last[5] is None else last[5])
        bmax.append(-INF if last[9] is None else last[9])
        return bmin, bmax, last

    def block_points(
        self, level: int, blocks: list[int], last: tuple[Any, ...]
    ) -> dict[int, tuple[Any, ...]]:
        """The point columns (min_pos, min_step, min_time, min_value, max_pos, max_step,
        max_time, max_value) of the given blocks of one level; the last block's from its
        row `last`, as read with the others' values."""
        out: dict[int, tuple[Any, ...]] = {last[0]: last[2:10]}
        wanted = sorted(set(blocks) - {last[0]})
        sql = (
            f"SELECT block, {_POINT_COLUMNS} FROM metric_summaries "
            "WHERE run_id = ? AND key = ? AND level = ? AND block IN "
        )
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            rows = self.read(
                sql + f"({', '.join('?' * len(part))})", (self.run_id, self.key, level, *part)
            )
            out.update((r[0], tuple(r[1:])) for r in rows)
        return out

    # ---- a step range ---------------------------------------------------------------------

    def zoom(self, max_points: int, lo: float, hi: float) -> SeriesCut:
        n = series_length(self.read, self.run_id, self.key)
        if n == 0 or lo > hi:
            return self.cut([], {}, 0, [])
        level = 0
        while level < SUMMARY_LEVELS - 1 and -(-n // summary_size(level)) > ZOOM_TOP_BLOCKS:
            level += 1
        columns = f"n, step_lo, step_hi, {_POINT_COLUMNS}, last_step, last_time, last_value"
        # Pieces of the range in position order: (first position, points, summary
        # row) for a block wholly inside, (position, 1, point) for a point.
        nodes: list[tuple[int, int, int, Any]] = []  # (level, block, n, row)
        raw: list[tuple[int, int, float, float]] = []  # (position, step, time, value)
        rows = self.level_rows(level, columns)
        while rows:
            straddling: list[int] = []
            for row in rows:
                block, count, step_lo, step_hi = row[0], row[1], row[2], row[3]
                if step_hi < lo or step_lo > hi:
                    continue
                if lo <= step_lo and step_hi <= hi:
                    nodes.append((level, block, count, row))
                else:
                    straddling.append(block)
            if not straddling:
                break
            if level == 0:
                for first, last in _runs(straddling):
                    start = first * SUMMARY_BLOCK
                    steps, times, values = self.points(start, (last + 1) * SUMMARY_BLOCK)
                    for i, step in enumerate(steps):
                        if lo <= step <= hi:
                            raw.append((start + i, step, times[i], values[i]))
                break
            level -= 1
            f = SUMMARY_FANOUT
            rows = self.level_rows(
                level, columns, [(a * f, b * f + f - 1) for a, b in _runs(straddling)]
            )
        total = sum(node[2] for node in nodes) + len(raw)
        if total == 0:
            return self.cut([], {}, 0, [])
        k = bucket_count(max_points)
        target = _level_for(total, k)
        if total <= max(4, max_points) or target is None:
            # Few points in the range: every point of it.
            found = {p[0]: p for p in raw}
            for node_level, block, count, _row in nodes:
                start = block * summary_size(node_level)
                steps, times, values = self.points(start, start + count)
                for i in range(count):
                    found[start + i] = (start + i, steps[i], times[i], values[i])
            ordered = sorted(found.values())
            return self.every_point(
                [p[0] for p in ordered],
                ([p[1] for p in ordered], [p[2] for p in ordered], [p[3] for p in ordered]),
                max_points,
                total,
            )
        # Blocks coarser than the target level are read again at that level (wholly
        # inside too), so that every bucket takes two pieces or more.
        size = summary_size(target)
        pieces: list[tuple[int, int, Any]] = []  # (first position, points, row)
        coarse: list[tuple[int, int]] = []
        for node_level, block, count, row in nodes:
            if node_level > target:
                span = SUMMARY_FANOUT ** (node_level - target)
                coarse.append((block * span, block * span + span - 1))
            else:
                pieces.append((block * summary_size(node_level), count, row))
        if coarse:
            for row in self.level_rows(target, columns, _merge_ranges(coarse)):
                pieces.append((row[0] * size, row[1], row))
        points: dict[int, tuple[int, float, float]] = {}
        # A piece as the bucketing sees it: (first position, points, min position, min
        # value, max position, max value), NaN for a missing minimum or maximum.
        flat: list[tuple[int, int, int, float, int, float]] = []
        for start, count, row in pieces:
            min_value, max_value = value_out(row[7]), value_out(row[11])
            flat.append((start, count, row[4], min_value, row[8], max_value))
            points[row[4]] = (row[5], row[6], min_value)
            points[row[8]] = (row[9], row[10], max_value)
        for pos, step, time_, value in raw:
            flat.append((pos, 1, pos, value, pos, value))
            points[pos] = (step, time_, value)
        flat.sort()
        picks, edges = cut_pieces(flat, total, k)
        begin = flat[0][0]
        end = flat[-1][0] + flat[-1][1] - 1
        if begin not in points:
            steps, times, values = self.points(begin, begin + 1)
            points[begin] = (steps[0], times[0], values[0])
        if end not in points:
            row = next(p[2] for p in pieces if p[0] == flat[-1][0])
            points[end] = (row[-3], row[-2], value_out(row[-1]))
        positions = assemble(end + 1, picks, first=begin)
        return self.cut(positions, points, total, edges)


def _level_for(n: int, k: int) -> int | None:
    """The coarsest summary level whose blocks give each of `k` buckets of `n` points
    at least `MIN_BLOCKS_PER_BUCKET` blocks (None: even level 0 cannot)."""
    found = None
    for level in range(SUMMARY_LEVELS):
        if n // summary_size(level) >= MIN_BLOCKS_PER_BUCKET * k:
            found = level
    return found


def _runs(blocks: list[int]) -> list[tuple[int, int]]:
    """Sorted block numbers as inclusive ranges of consecutive ones."""
    out: list[tuple[int, int]] = []
    for b in blocks:
        if out and out[-1][1] + 1 == b:
            out[-1] = (out[-1][0], b)
        else:
            out.append((b, b))
    return out


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and out[-1][1] + 1 >= a:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
