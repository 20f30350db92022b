"""Reads what a run's tracking client writes (`tracking.jsonl`) into the store.

The file is append-only, one JSON object per line; only whole lines are read, so a
reader may tail it while the run writes. The line kinds are described
in `runyard.tracking.wire`.

Bad records never stop ingestion
--------------------------------
The supervisor polls this while the run runs, so an exception here would end the
supervisor's watch of a live run. A record that cannot be stored therefore costs
itself only: a line that is not JSON (or too deeply nested to parse, or not UTF-8,
or not an object), a packed group of points that does not decode, and within a
line each single point, param, tag or artifact that the store cannot hold (a step,
wall time or size outside int64, a name or value with a lone surrogate, which
UTF-8 cannot hold, an empty metric name...) is skipped, counted in `bad_lines`,
and named in a warning: ``tracking.jsonl line 12 (byte 3456): why``. Warnings go
to `log` (the supervisor passes its run log), at most `MAX_WARNINGS` of them; the
count goes on. Everything else in the same line and poll is stored.

Steps: a point without a step gets the key's last step + 1. After a step of
``INT64_MAX`` there is no next one: such points are stored at ``INT64_MAX`` (with
one warning per key), never past the range of the store's int64 steps.

As a last line of defence, a store call that still fails on the data (not on the
database) is retried in halves, so only the points that cannot be stored are left out.

The database down mid-run
-------------------------
A store call that fails on the database (a team store that is down, a locked or full
SQLite file) is raised to the caller, and nothing is lost: the offset (and the one
saved for a take-over, `tracking.jsonl.offset`) moves past a batch of lines only once
every store call of the batch has succeeded. The batch is kept, already read, and the
next `poll()` stores what of it is not yet stored (params, tags, artifacts, then the
points in file order; each call is one transaction, and a cursor per part says how
far it got, so a retry stores nothing twice and warns about no bad record twice)
before it reads on. The ingester logs the outage once (with the byte where it
waits) and, when the database is back, how many points waited.

The buffer is the run's own tracking file: the run goes on appending to it whatever
the store does, and the ingester holds in memory at most one batch of it
(`BATCH_BYTES`: the lines read in one go; longer single lines are read whole), so a
long outage costs disk, not the supervisor's memory. Nothing is lost while the run's
folder stays on its disk: once the database is back the file is read on from where
the last stored batch ended (by a supervisor that takes the run over, too). What is
lost beyond it: when that disk is full the run's tracking client can no longer
append, and it drops those points (naming them on the run's stderr); a run folder
removed before the database comes back takes its unstored points with it.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from operator import truediv
from pathlib import Path
from typing import Any

from runyard.core.store import Store
from runyard.core.store.metrics import Point, PointColumns
from runyard.runner.ingest_resume import ResumableStore
from runyard.tracking.wire import INT64_MAX, NO_STEP, decode_columns, decode_points

MAX_WARNINGS = 50
"""Bad records named in the log per ingester; the rest are only counted."""

BATCH_BYTES = 32 << 20
"""The most of the tracking file one batch reads (whole lines; a longer single line is
read whole): what the ingester holds in memory while the store is down."""

SLICE_POINTS = 50_000
"""Large batches go to the store in slices, so readers see progress and
transactions stay short."""

# What a store call raises for values it cannot hold (as opposed to a database error).
_DATA_ERRORS = (ValueError, TypeError, OverflowError, struct.error)

# Points as columns (keys, steps, wall times, values), as `PointColumns.extend_columns` takes them.
_Columns = tuple[Iterable[str], Iterable[int], Iterable[float], Iterable[float]]
_Items = list[Any] | PointColumns  # what one part of a batch holds: params, ..., points


def _stderr(line: str) -> None:
    sys.stderr.write(f"runyard: {line}\n")


class TrackingIngester:
    """Tails one run's tracking file into the store, from a byte offset.

    `bad_lines` counts the records skipped so far: whole lines, or single points,
    params, tags or artifacts of a line.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        path: Path,
        *,
        resume: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.path = path
        self.log = log or _stderr
        self.offset_path = path.with_name(path.name + ".offset")
        self.offset = 0
        if resume:  # a new supervisor goes on where the last one stopped
            try:
                self.offset = int(self.offset_path.read_text().strip() or 0)
            except (OSError, ValueError):
                self.offset = 0
        self._next_step = {k: s + 1 for k, s in store.last_steps(run_id).items()}
        self.bad_lines = 0
        self._warnings = 0
        self._lines: int | None = 0 if self.offset == 0 else None  # lines before `offset`
        self._poll_start = 0  # where the current poll's data starts in the file...
        self._poll_line: int | None = 0  # ...and its line number less one, once known
        self._texts: dict[str, bool] = {}  # name -> whether UTF-8 holds it (names repeat)
        self._capped: set[str] = set()  # keys whose auto-steps reached INT64_MAX
        self._pending: _Batch | None = None  # read, not yet wholly stored (store down)
        self._store_down = False  # the store failed and has not taken a batch since (said once)

    def poll(self) -> int:
        """Ingest every whole line written since the last call; returns points added.

        Never raises for what the file holds; only a failing store raises, and then
        the lines not yet stored are stored by the next call (nothing twice)."""
        added = 0
        while True:
            if self._pending is None:
                self._pending = self._read_batch()
                if self._pending is None:
                    return added
            added += self._store_batch(self._pending)
            self._pending = None

    def _read_batch(self) -> _Batch | None:
        """The next whole lines of the file (at most `BATCH_BYTES` of them, or one longer
        line), read; None when no whole line is there."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(BATCH_BYTES)
                end = data.rfind(b"\n")
                while end < 0 and len(data) >= BATCH_BYTES:  # one line longer than a batch
                    more = f.read(BATCH_BYTES)
                    if not more:
                        break
                    found = more.find(b"\n")
                    data += more if found < 0 else more[: found + 1]
                    end = data.rfind(b"\n")
        except FileNotFoundError:
            return None
        if end < 0:
            return None
        start = self.offset
        self._poll_start, self._poll_line = start, self._lines
        batch = _Batch(end=start + end + 1)
        at = 0
        for i, raw in enumerate(data[:end].split(b"\n")):
            where = (i, start + at)
            at += len(raw) + 1
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                if not isinstance(record, dict):
                    raise ValueError(f"a JSON {type(record).__name__}, not an object")
                self._collect(
                    record, where, batch.points, batch.params, batch.tags, batch.artifacts
                )
            except Exception as exc:  # e.g. RecursionError: nested too deep to parse
                self._skip(where, f"not a readable record ({type(exc).__name__}: {exc})")
        if self._poll_line is not None:
            batch.lines = self._poll_line + data.count(b"\n", 0, end + 1)
        return batch

    def _store_batch(self, batch: _Batch) -> int:
        """Store what of `batch` is not stored yet, then move the offset past it; returns
        its points. A failing store raises with the batch's cursors where they got to."""
        try:
            self._store(batch)
        except Exception as exc:
            if not self._store_down:
                self._store_down = True
                self.log(
                    f"the store could not take the tracking records ({type(exc).__name__}: "
                    f"{_first_line(exc)}); they wait in {self.path.name} from byte "
                    f"{self.offset} and are stored when it is back. Nothing is lost while "
                    "the run's folder stays on its disk; points the run logs after that disk "
                    "is full are dropped by the run"
                )
            raise
        self.offset = batch.end
        self._lines = batch.lines
        self._save_offset()
        if self._store_down:
            self._store_down = False
            self.log(
                f"the store is back: the tracking records that waited are stored (up to byte "
                f"{self.offset} of {self.path.name})"
            )
        return len(batch.points)

    def _save_offset(self) -> None:
        """Where ingestion stands, for a supervisor that takes the run over; with a
        `ResumableStore`, its checkpoint too, after every batch (a poll that reads
        several batches and fails in a later one leaves the earlier ones accounted for)."""
        tmp = self.offset_path.with_name(self.offset_path.name + ".tmp")
        try:
            tmp.write_text(str(self.offset))
            tmp.replace(self.offset_path)
        except OSError:
            return  # only a take-over needs it; it then re-reads a little
        if isinstance(self.store, ResumableStore):  # after the offset: see ingest_resume
            self.store.checkpoint(self.offset)

    # ---- reading one record -----------------------------------------------------------

    def _collect(
        self,
        record: dict[str, Any],
        where: tuple[int, int],
        points: PointColumns,
        params: dict[str, str],
        tags: dict[str, str],
        artifacts: list[tuple[str, int]],
    ) -> None:
        """Add what `record` holds that can be stored; skip (and name) the rest."""
        problems: list[str] = []
        line_points: list[Point] | _Columns | None = self._packed_points(record)
        if line_points is None:
            line_points = self._points(record, where, problems)
        line_params: dict[str, str] = {}
        line_tags: dict[str, str] = {}
        line_artifacts: list[tuple[str, int]] = []
        for kind, what, target in (("p", "param", line_params), ("t", "tag", line_tags)):
            values = record.get(kind)
            if values is None:
                continue
            if not isinstance(values, dict):
                problems.append(f"the {what}s are not an object: {_short(values)}")
                continue
            for name, value in values.items():
                text = str(value)
                if not name or not self._text(name):
                    problems.append(f"{what} {name!a}: {_why_text(name, 'name')}")
                elif not self._text(text):
                    problems.append(f"{what} {name!a}: {_why_text(text, 'value')}")
                else:
                    target[name] = text
        arts = record.get("a")
        if arts is not None:
            if not isinstance(arts, list):
                problems.append(f"the artifacts are not a list: {_short(arts)}")
            else:
                for art in arts:
                    found = self._artifact(art)
                    if isinstance(found, str):
                        problems.append(found)
                    else:
                        line_artifacts.append(found)
        if isinstance(line_points, list):
            points.extend(line_points)
        else:
            points.extend_columns(*line_points)
        params.update(line_params)
        tags.update(line_tags)
        artifacts.extend(line_artifacts)
        for problem in problems:
            self._skip(where, problem)

    def _points(
        self, record: dict[str, Any], where: tuple[int, int], problems: list[str]
    ) -> list[Point]:
        """The storable points of a line, one by one (steps given or counted on per
        key); what cannot be stored is named in `problems`."""
        points: list[Point] = []
        next_step = self._next_step
        for key, value, step, wall_ns in decode_points(record, problems):
            if not key or not self._text(key):
                problems.append(f"metric {key!a}: {_why_text(key, 'name')}")
                continue
            if step is None:
                step = next_step.get(key, 0)
                if step > INT64_MAX:
                    step = INT64_MAX
                    if key not in self._capped:
                        self._capped.add(key)
                        self._warn(
                            where,
                            f"metric {key!a}: no step is left after {INT64_MAX}; its points "
                            f"without a step are stored at {INT64_MAX}",
                        )
            points.append((key, step, wall_ns / 1e9, value))
            next_step[key] = step + 1
        return points

    def _packed_points(self, record: dict[str, Any]) -> _Columns | None:
        """The points of a line whose points are one packed group, every step given and
        every name storable (what `runyard.log_metric` writes), as columns (keys, steps,
        wall times, values), with no Python code run per point; None for any other line,
        which the per-point path reads (and whose problems it names)."""
        packed = record.get("mc")
        if packed is None or "m" in record:
            return None
        try:
            names, ks, vs, ss, ts = decode_columns(packed)
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
            return None
        n = len(ks)
        if not n or min(ss) == NO_STEP or max(ks) >= len(names):
            return None
        if not all(name and self._text(name) for name in names):
            return None
        walls = map(truediv, ts, repeat(1e9))  # as the per-point path: wall_ns / 1e9
        if len(names) == 1:
            self._next_step[names[0]] = ss[-1] + 1
            return repeat(names[0], n), ss, walls, vs
        left = set(range(len(names)))
        for i in range(n - 1, -1, -1):  # each key's last step, from the end
            k = ks[i]
            if k in left:
                left.discard(k)
                self._next_step[names[k]] = ss[i] + 1
                if not left:
                    break
        return map(names.__getitem__, ks), ss, walls, vs

    def _artifact(self, art: object) -> tuple[str, int] | str:
        """An ``{"path", "size"}`` item as (path, size), or why it cannot be stored."""
        if not isinstance(art, dict) or not isinstance(art.get("path"), str):
            return f"artifact {_short(art)}: not a {{path, size}} object"
        path: str = art["path"]
        size = art.get("size", 0)
        if not path or not self._text(path):
            return f"artifact {path!a}: {_why_text(path, 'path')}"
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= INT64_MAX:
            return f"artifact {path!a}: size {_short(size)} is not a whole number of bytes"
        return (path, size)

    def _text(self, text: str) -> bool:
        """Whether the store can hold `text`: whether UTF-8 can."""
        if text.isascii():
            return True
        known = self._texts.get(text)
        if known is None:
            try:
                text.encode("utf-8")
                known = True
            except UnicodeEncodeError:
                known = False
            if len(self._texts) < 100_000:
                self._texts[text] = known
        return known

    # ---- storing ----------------------------------------------------------------------

    def _store(self, batch: _Batch) -> None:
        """Store the parts of `batch` its cursors have not passed yet, in order."""
        parts: list[tuple[_Items, Callable[[Any], None], str]] = [
            (
                list(batch.params.items()),
                lambda items: self.store.set_params(self.run_id, dict(items)),
                "param",
            ),
            (
                list(batch.tags.items()),
                lambda items: self.store.set_tags(self.run_id, dict(items)),
                "tag",
            ),
            (
                batch.artifacts,
                lambda items: self.store.set_artifacts(self.run_id, items),
                "artifact",
            ),
        ]
        for i in range(0, len(batch.points), SLICE_POINTS):
            parts.append(
                (
                    batch.points[i : i + SLICE_POINTS],
                    lambda items: self.store.add_metrics(self.run_id, items),
                    "metric point",
                )
            )
        while batch.part < len(parts):
            items, put, what = parts[batch.part]
            if batch.done < len(items):
                self._in_halves(items, batch.done, put, what, batch)
            batch.part, batch.done = batch.part + 1, 0

    def _in_halves(
        self,
        items: _Items,
        done: int,
        put: Callable[[Any], None],
        what: str,
        batch: _Batch,
    ) -> None:
        """`put(items[done:])`; if the data makes it fail, the halves, down to the single
        bad items (skipped, with a warning). Each call is one transaction, and the halves
        go in order, so what is stored (or skipped) is always a prefix of `items`:
        `batch.done` says how long, and a retry after the database failed starts there."""
        todo = items[done:]
        try:
            put(todo)
        except _DATA_ERRORS as exc:
            if len(todo) == 1:
                self.bad_lines += 1
                self._say(
                    f"tracking record skipped: {self.path.name}: {what} {_short(todo[0])} "
                    f"could not be stored ({type(exc).__name__}: {exc})"
                )
                batch.done = done + 1
                return
            half = done + len(todo) // 2
            self._in_halves(items[:half], done, put, what, batch)
            self._in_halves(items, half, put, what, batch)
            return
        batch.done = done + len(todo)

    # ---- warnings -----------------------------------------------------------------------

    def _skip(self, where: tuple[int, int], why: str) -> None:
        self.bad_lines += 1
        self._warn(where, why, skipped=True)

    def _warn(self, where: tuple[int, int], why: str, *, skipped: bool = False) -> None:
        if self._warnings >= MAX_WARNINGS:
            return
        index, offset = where
        if self._poll_line is None:  # resumed mid-file: count the lines before, once
            self._poll_line = self._count_lines(self._poll_start)
        line = self._poll_line + index + 1
        what = "tracking record skipped" if skipped else "tracking record"
        self._say(f"{what}: {self.path.name} line {line} (byte {offset}): {why}")

    def _say(self, message: str) -> None:
        self._warnings += 1
        if self._warnings > MAX_WARNINGS:
            return
        if self._warnings == MAX_WARNINGS:
            message += " (further bad tracking records are not listed, only counted)"
        self.log(message)

    def _count_lines(self, start: int) -> int:
        """Lines before byte `start` of the file (read once, after a resume)."""
        count = 0
        try:
            with self.path.open("rb") as f:
                left = start
                while left > 0:
                    block = f.read(min(left, 1 << 20))
                    if not block:
                        break
                    count += block.count(b"\n")
                    left -= len(block)
        except OSError:
            return 0
        return count


@dataclass
class _Batch:
    """Lines read from the tracking file, with how far storing them got."""

    end: int  # the byte after its last line
    lines: int | None = None  # lines before `end`, when known
    points: PointColumns = field(default_factory=PointColumns)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[tuple[str, int]] = field(default_factory=list)
    part: int = 0  # the part being stored: params, tags, artifacts, slices of points
    done: int = 0  # its items stored (or skipped as bad) so far: a prefix


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


def _why_text(text: str, part: str) -> str:
    if not text:
        return f"its {part} is empty"
    return f"its {part} holds a lone surrogate, which UTF-8 (the store's encoding) cannot hold"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
