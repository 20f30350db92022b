"""The tracking file's format, read side: one JSON object per line.

- ``{"mc": {"n", "keys", "k", "v", "s", "t"}}`` metric points packed by column
  (base64 of little-endian arrays: key index uint32, value float64, step int64
  with ``NO_STEP`` for "none given", wall time int64 nanoseconds);
- ``{"m": [[key, value, step_or_null, wall_time_ns], ...]}`` the same, as plain JSON
  (for writers that cannot pack);
- ``{"p": {...}}`` params, ``{"t": {...}}`` tags, ``{"a": [{"path", "size"}]}`` artifacts.

A step is an int64. ``NO_STEP`` (the lowest int64) means "none given" in the
packed form only, so the client refuses it as a real step (see
``client.STEP_MIN``); in the plain form ``null`` says it and every int64 is a step.

Readers must expect damage (a killed writer, another tool appending, an older
client): `decode_points` with a ``problems`` list leaves out what it cannot read
(one packed group, or one plain point) and says why, and keeps the rest.

Where the run cannot write a file the supervisor reads (a container, a remote host),
the same lines travel framed on the run's stderr (``RUNYARD_TRACKING_URI=stream://stderr``):
each frame is ``\x1erunyard:<pid>:<+ or .><part of a line>\n``, at most FRAME_BYTES
long, so one write puts it whole on the pipe and user output never cuts through it;
``.`` ends a line, ``+`` says more of it follows. `FrameReader` splits such a stream
back into log text and tracking lines.
"""

from __future__ import annotations

import sys
from array import array
from base64 import b64decode
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (`tuple[...]` and `X | None` exist at run time only from Python 3.10)
    Point = tuple[str, float, int | None, int]

NO_STEP = -(2**63)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _column(code: str, text: str, n: int) -> array[Any]:
    col = array(code)
    col.frombytes(b64decode(text))
    if sys.byteorder == "big":  # pragma: no cover
        col.byteswap()
    if len(col) != n:
        raise ValueError(f"column has {len(col)} items, expected {n}")
    return col


def decode_columns(
    packed: Any,
) -> tuple[list[str], array[int], array[float], array[int], array[int]]:
    """A packed group (``record["mc"]``) as (names, key indexes, values, steps, wall times
    in ns), each column an array of the same length. Raises ValueError (or TypeError,
    KeyError, OverflowError, AttributeError) for a damaged group; key indexes are not
    checked against the names."""
    n = int(packed["n"])
    names = [str(k) for k in packed["keys"]]
    return (
        names,
        _column("I", packed["k"], n),
        _column("d", packed["v"], n),
        _column("q", packed["s"], n),
        _column("q", packed["t"], n),
    )


def decode_points(record: dict[str, Any], problems: list[str] | None = None) -> list[Point]:
    """The metric points of one line, in the order they were logged.

    Without ``problems``, raises ValueError (or TypeError/KeyError/IndexError) for
    a damaged line. With it, nothing is raised for damage: a packed group that
    cannot be read, or a point that is not a storable point (a step or wall time
    outside int64, a value that is not a number...), is left out, one line about
    it is appended to ``problems``, and every other point is returned.
    """
    points: list[Point] = []
    packed = record.get("mc")
    if packed is not None:
        try:
            names, ks, vs, ss, ts = decode_columns(packed)
            n = len(ks)
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError) as exc:
            if problems is None:
                raise
            problems.append(f"packed metric points unreadable ({type(exc).__name__}: {exc})")
        else:
            if problems is not None and n and max(ks) >= len(names):
                for i, (k, v, s, t) in enumerate(zip(ks, vs, ss, ts, strict=True)):
                    if k < len(names):
                        points.append((names[k], v, None if s == NO_STEP else s, t))
                    else:
                        problems.append(
                            f"packed metric point {i + 1} of {n}: key index {k} "
                            f"is not one of the {len(names)} names"
                        )
            else:
                points.extend(
                    (names[k], v, None if s == NO_STEP else s, t)
                    for k, v, s, t in zip(ks, vs, ss, ts, strict=True)
                )
    plain = record.get("m")
    if plain is None:
        pass
    elif problems is None:
        for item in plain:
            key, value, step, wall = item
            points.append((str(key), float(value), None if step is None else int(step), int(wall)))
    elif not isinstance(plain, list):
        problems.append(f"plain metric points are not a list: {_short(plain)}")
    else:
        for i, item in enumerate(plain):
            point = _plain_point(item)
            if isinstance(point, str):
                problems.append(f"plain metric point {i + 1} of {len(plain)}: {point}")
            else:
                points.append(point)
    return points


def _plain_point(item: object) -> Point | str:
    """One ``[key, value, step_or_null, wall_time_ns]`` item as a point, or why not."""
    if not isinstance(item, list) or len(item) != 4:
        return f"not a [key, value, step, wall time] list: {_short(item)}"
    key, value, step, wall = item
    if not isinstance(key, str):
        return f"the name is not a string: {_short(key)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"metric {key!a}: the value is not a number: {_short(value)}"
    if step is not None:
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if isinstance(step, bool) or not isinstance(step, int):
            return f"metric {key!a}: the step is not a whole number: {_short(step)}"
        if not INT64_MIN <= step <= INT64_MAX:
            return f"metric {key!a}: step {step} is outside int64 ({INT64_MIN} to {INT64_MAX})"
    if isinstance(wall, float) and wall.is_integer():
        wall = int(wall)
    if isinstance(wall, bool) or not isinstance(wall, int) or not INT64_MIN <= wall <= INT64_MAX:
        return f"metric {key!a}: the wall time is not int64 nanoseconds: {_short(wall)}"
    try:
        number = float(value)
    except OverflowError:  # an int too big for a float
        return f"metric {key!a}: the value is too large for a float: {_short(value)}"
    return (key, number, step, wall)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


FRAME_MARK = b"\x1erunyard:"
FRAME_BYTES = 4000  # PIPE_BUF is at least 4096 on Linux and macOS


def frames(data: bytes, pid: int) -> list[bytes]:
    """`data` (whole record lines) as frames, each one write."""
    head = FRAME_MARK + str(pid).encode("ascii") + b":"
    room = FRAME_BYTES - len(head) - 2
    out: list[bytes] = []
    for line in data.splitlines():
        for start in range(0, len(line), room):
            part = line[start : start + room]
            flag = b"." if start + room >= len(line) else b"+"
            out.append(head + flag + part + b"\n")
    return out


class FrameReader:
    """Splits a run's output stream into log bytes and tracking lines."""

    def __init__(self) -> None:
        self._pending = b""  # an unfinished line of the stream
        self._parts: dict[bytes, list[bytes]] = {}  # pid -> pieces of a record line

    def feed(self, data: bytes, final: bool = False) -> tuple[bytes, list[bytes]]:
        """(log bytes, complete tracking lines) from the next chunk of the stream."""
        data = self._pending + data
        cut = data.rfind(b"\n") + 1
        if final:
            cut = len(data)
        self._pending = data[cut:]
        log: list[bytes] = []
        records: list[bytes] = []
        for line in data[:cut].splitlines(keepends=True):
            at = line.find(FRAME_MARK)
            if at < 0:
                log.append(line)
                continue
            if at:
                log.append(line[:at])  # a partial user line before the frame
            body = line[at + len(FRAME_MARK) :].rstrip(b"\n")
            pid, _, rest = body.partition(b":")
            if not rest:
                continue
            parts = self._parts.setdefault(pid, [])
            parts.append(rest[1:])
            if rest[:1] == b".":
                records.append(b"".join(parts) + b"\n")
                del self._parts[pid]
        return b"".join(log), records
