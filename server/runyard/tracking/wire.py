"""The tracking file's format, read side: one JSON object per line.

- ``{"mc": {"n", "keys", "k", "v", "s", "t"}}`` metric points packed by column
  (base64 of little-endian arrays: key index uint32, value float64, step int64
  with ``NO_STEP`` for "none given", wall time int64 nanoseconds);
- ``{"m": [[key, value, step_or_null, wall_time_ns], ...]}`` the same, as plain JSON
  (for writers that cannot pack);
- ``{"p": {...}}`` params, ``{"t": {...}}`` tags, ``{"a": [{"path", "size"}]}`` artifacts.
"""

from __future__ import annotations

import sys
from array import array
from base64 import b64decode
from typing import Any

NO_STEP = -(2**63)

Point = tuple[str, float, int | None, int]


def _column(code: str, text: str, n: int) -> array[Any]:
    col = array(code)
    col.frombytes(b64decode(text))
    if sys.byteorder == "big":  # pragma: no cover
        col.byteswap()
    if len(col) != n:
        raise ValueError(f"column has {len(col)} items, expected {n}")
    return col


def decode_points(record: dict[str, Any]) -> list[Point]:
    """The metric points of one line, in the order they were logged. Raises
    ValueError (or TypeError/KeyError) for a damaged line."""
    points: list[Point] = []
    packed = record.get("mc")
    if packed is not None:
        n = int(packed["n"])
        names = [str(k) for k in packed["keys"]]
        ks = _column("I", packed["k"], n)
        vs = _column("d", packed["v"], n)
        ss = _column("q", packed["s"], n)
        ts = _column("q", packed["t"], n)
        points.extend(
            (names[k], v, None if s == NO_STEP else s, t)
            for k, v, s, t in zip(ks, vs, ss, ts, strict=True)
        )
    for item in record.get("m", ()):
        key, value, step, wall = item
        points.append((str(key), float(value), None if step is None else int(step), int(wall)))
    return points
