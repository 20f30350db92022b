"""The tracking file's format, read side: one JSON object per line.

- ``{"mc": {"n", "keys", "k", "v", "s", "t"}}`` metric points packed by column
  (base64 of little-endian arrays: key index uint32, value float64, step int64
  with ``NO_STEP`` for "none given", wall time int64 nanoseconds);
- ``{"m": [[key, value, step_or_null, wall_time_ns], ...]}`` the same, as plain JSON
  (for writers that cannot pack);
- ``{"p": {...}}`` params, ``{"t": {...}}`` tags, ``{"a": [{"path", "size"}]}`` artifacts.

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
