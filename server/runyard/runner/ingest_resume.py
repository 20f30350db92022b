"""Where a run's ingestion stands, kept so that a supervisor taking the run over counts
no metric point twice.

The ingester (`runyard.runner.ingest`) stores a batch's points, then saves the byte
offset it reached in `tracking.jsonl.offset`. A supervisor killed between the two (or
between two slices of a large batch, or after a store that failed part way through a
batch while the database was down) leaves points in the store past the saved offset;
the next supervisor would read them again from there. A checkpoint is therefore kept
beside the offset after each batch (`tracking.jsonl.checkpoint`, written by the
ingester right after the offset, and by the supervisor after each poll): that offset,
how many points the store holds per key, and each key's last step. On take-over:

- checkpoint offset == saved offset: the store may hold points read after it (stored,
  offset not yet saved). Those are a prefix, per key, of what the file holds from the
  offset (points are stored in file order), and their number is the store's count
  less the checkpoint's: the first that many points per key are not stored again, and
  auto-steps go on from the checkpoint's last steps.
- they differ: the offset was saved after the last checkpoint, so it covers every
  stored point; nothing is skipped.

No checkpoint and no offset is offset 0 with nothing counted: a first poll's stored
points are skipped. (An offset without a checkpoint, from an older Runyard, skips
nothing, as before.) Points are counted per key, so TensorBoard's scalars, stored
under their own keys, do not disturb it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from runyard.core.store import Store
from runyard.core.store.metrics import Point, PointColumns


def _offset_path(tracking: Path) -> Path:
    return tracking.with_name(tracking.name + ".offset")


def _checkpoint_path(tracking: Path) -> Path:
    return tracking.with_name(tracking.name + ".checkpoint")


class ResumableStore:
    """The store as the ingester sees it: counts the points it stores (for the
    checkpoint) and, after a take-over, leaves out the ones already stored."""

    def __init__(self, store: Store, run_id: str, tracking: Path) -> None:
        self._store = store
        self._run_id = run_id
        self._tracking = tracking
        self.counts: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self._skip: dict[str, int] = {}
        self._steps: dict[str, int] | None = None  # what last_steps answers, when skipping
        self._saved_offset: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @property
    def store(self) -> Store:
        """For the ingester, whose parameter is a Store."""
        return cast(Store, self)

    @property
    def skipping(self) -> int:
        return sum(self._skip.values())

    def resume(self) -> int:
        """Read where the last supervisor stood (before the ingester is made); returns
        how many stored points will not be stored again."""
        try:
            offset = int(_offset_path(self._tracking).read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0
        checkpoint = self._read_checkpoint()
        stored = {k: self._store.metric_count(self._run_id, k) for k in self._metric_keys()}
        if checkpoint is None or checkpoint[0] != offset:
            self.counts = stored  # the saved offset covers everything stored
            self.last = self._store.last_steps(self._run_id)
            return 0
        _, counts, steps = checkpoint
        self._skip = {k: n - counts.get(k, 0) for k, n in stored.items() if n > counts.get(k, 0)}
        self.counts, self.last = counts, dict(steps)
        if self._skip:
            now = self._store.last_steps(self._run_id)
            self._steps = {k: s for k, s in now.items() if k not in self._skip} | steps
        return self.skipping

    def _read_checkpoint(self) -> tuple[int, dict[str, int], dict[str, int]] | None:
        """(offset, counts, steps) as the last checkpoint saved them; None if it cannot
        be read. No checkpoint at all is offset 0 with nothing counted."""
        path = _checkpoint_path(self._tracking)
        if not path.exists():
            return 0, {}, {}
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            counts = {str(k): int(v) for k, v in dict(data["counts"]).items()}
            steps = {str(k): int(v) for k, v in dict(data["steps"]).items()}
            return int(data["offset"]), counts, steps
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def _metric_keys(self) -> list[str]:
        keys: list[str] = self._store.metric_keys(self._run_id)
        return keys

    def last_steps(self, run_id: str) -> dict[str, int]:
        if self._steps is not None:
            return dict(self._steps)
        return self._store.last_steps(run_id)

    def add_metrics(self, run_id: str, points: Sequence[Point] | PointColumns) -> None:
        if not self._skip:
            self._store.add_metrics(run_id, points)
        else:
            skip = dict(self._skip)
            kept: list[Point] = []
            for point in points:
                left = skip.get(point[0], 0)
                if left:
                    skip[point[0]] = left - 1
                else:
                    kept.append(point)
            if kept:
                self._store.add_metrics(run_id, kept)  # one transaction: all of it, or none
            self._skip = {k: n for k, n in skip.items() if n}
        # (the points left out are in the store too)
        if isinstance(points, PointColumns):
            for key, (steps, _times, _values) in points.by_key().items():
                self.counts[key] = self.counts.get(key, 0) + len(steps)
                self.last[key] = steps[-1]
            return
        for key, n in Counter(p[0] for p in points).items():
            self.counts[key] = self.counts.get(key, 0) + n
        self.last.update({p[0]: p[1] for p in points})

    def checkpoint(self, offset: int) -> None:
        """After a poll (its offset saved): where ingestion stands."""
        if offset == self._saved_offset:
            return
        path = _checkpoint_path(self._tracking)
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(
                json.dumps({"offset": offset, "counts": self.counts, "steps": self.last})
            )
            tmp.replace(path)
        except OSError:
            return  # a take-over then trusts the saved offset, as before
        self._saved_offset = offset
