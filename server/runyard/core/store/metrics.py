"""Metric points: packed chunks per run and key, and the latest value of each key.

A run's points are appended as chunks (`metric_chunks`): up to `CHUNK_POINTS` points of
one key, as three packed columns (steps, wall times, values; the engine packs them, see
`Engine.pack`), with the chunk's min and max beside them. Reading and writing columns is
about 50x faster than one row a point. `latest_metrics` keeps, per run and key, the
newest point and the number of points, so listings never touch the chunks.

Cursors: a point's position is ``chunk id << 20 | index in its chunk``; passing it back
as `after` returns only newer points (the live feed and the charts follow a run so).

Metric values: SQLite turns NaN into NULL, so a NULL value *is* NaN (the column is never
NULL for any other reason); +inf and -inf are stored as the engine's infinities. Inside
the packed columns NaN is kept as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from runyard.core.store.engine import Connection, Tables

CHUNK_POINTS = 1 << 16  # at most this many points in one chunk
CURSOR_SHIFT = 20  # cursor = chunk id << 20 | index of the point in its chunk


def value_in(v: float) -> float | None:
    """A metric value as the `latest_metrics` column holds it (NaN is NULL)."""
    return None if math.isnan(v) else v


def value_out(v: float | None) -> float:
    return math.nan if v is None else float(v)


def insert_chunks(
    db: Connection,
    run_id: str,
    points: Sequence[tuple[str, int, float, float]],
    pack: Callable[[str, Iterable[float]], bytes],
) -> None:
    """Append `points` (key, step, wall_time, value) as one chunk per key, in order."""
    by_key: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for key, step, wall, value in points:
        columns = by_key.get(key)
        if columns is None:
            columns = by_key[key] = ([], [], [])
        columns[0].append(step)
        columns[1].append(wall)
        columns[2].append(value)
    rows = []
    for key, (steps, times, values) in by_key.items():
        for i in range(0, len(steps), CHUNK_POINTS):
            vals = values[i : i + CHUNK_POINTS]
            real = [v for v in vals if v == v] if math.isnan(sum(vals)) else vals
            rows.append(
                (
                    run_id,
                    key,
                    len(vals),
                    min(real) if real else None,
                    max(real) if real else None,
                    pack("q", steps[i : i + CHUNK_POINTS]),
                    pack("d", times[i : i + CHUNK_POINTS]),
                    pack("d", vals),
                )
            )
    db.executemany(
        "INSERT INTO metric_chunks (run_id, key, n, min_value, max_value, steps, times, vals) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


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

    def add_metrics(self, run_id: str, points: Sequence[tuple[str, int, float, float]]) -> None:
        """Append points (key, step, wall_time, value). Keeps `latest_metrics` current."""
        if not points:
            return
        latest: dict[str, tuple[int, float, float, int]] = {}
        for key, step, wall, value in points:
            prev = latest.get(key)
            latest[key] = (step, wall, value, (prev[3] if prev else 0) + 1)
        with self._tx() as db:
            insert_chunks(db, run_id, points, self._engine.pack)
            db.executemany(
                "INSERT INTO latest_metrics (run_id, key, step, wall_time, value, count) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET "
                "step = excluded.step, wall_time = excluded.wall_time, value = excluded.value, "
                "count = latest_metrics.count + excluded.count",
                [(run_id, k, s, w, value_in(v), n) for k, (s, w, v, n) in latest.items()],
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
        for chunk_id, chunk_key, steps, times, vals in self._chunks(
            run_id, key, after, "key, steps, times, vals"
        ):
            base = chunk_id << CURSOR_SHIFT
            first = (after - base + 1) if after >= base else 0
            steps_l = unpack("q", steps, first)
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
            steps.extend(unpack("q", s, first))
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
