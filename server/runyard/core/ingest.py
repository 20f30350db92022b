"""Reads what a run's tracking client writes (`tracking.jsonl`) into the store.

The file is append-only, one JSON object per line; only whole lines are read, so a
reader may tail it while the run writes. The line kinds are described
in `runyard.tracking.wire`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runyard.core.store import Store
from runyard.tracking.wire import decode_points


class TrackingIngester:
    """Tails one run's tracking file into the store, from a byte offset."""

    def __init__(self, store: Store, run_id: str, path: Path, *, resume: bool = False) -> None:
        self.store = store
        self.run_id = run_id
        self.path = path
        self.offset_path = path.with_name(path.name + ".offset")
        self.offset = 0
        if resume:  # a new supervisor goes on where the last one stopped
            try:
                self.offset = int(self.offset_path.read_text().strip() or 0)
            except (OSError, ValueError):
                self.offset = 0
        self._next_step = {k: s + 1 for k, s in store.last_steps(run_id).items()}
        self.bad_lines = 0

    def poll(self) -> int:
        """Ingest every whole line written since the last call; returns points added."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n")
        if end < 0:
            return 0
        self.offset += end + 1
        points: list[tuple[str, int, float, float]] = []
        params: dict[str, str] = {}
        tags: dict[str, str] = {}
        artifacts: list[tuple[str, int]] = []
        for raw in data[: end + 1].splitlines():
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                self.bad_lines += 1
                continue
            if not isinstance(record, dict):
                self.bad_lines += 1
                continue
            self._collect(record, points, params, tags, artifacts)
        if params:
            self.store.set_params(self.run_id, params)
        if tags:
            self.store.set_tags(self.run_id, tags)
        if artifacts:
            self.store.set_artifacts(self.run_id, artifacts)
        # Large batches go in slices so readers see progress and transactions stay short.
        for i in range(0, len(points), 50_000):
            self.store.add_metrics(self.run_id, points[i : i + 50_000])
        self._save_offset()
        return len(points)

    def _save_offset(self) -> None:
        """Where ingestion stands, for a supervisor that takes the run over."""
        tmp = self.offset_path.with_name(self.offset_path.name + ".tmp")
        try:
            tmp.write_text(str(self.offset))
            tmp.replace(self.offset_path)
        except OSError:
            pass  # only a take-over needs it; it then re-reads a little

    def _collect(
        self,
        record: dict[str, Any],
        points: list[tuple[str, int, float, float]],
        params: dict[str, str],
        tags: dict[str, str],
        artifacts: list[tuple[str, int]],
    ) -> None:
        next_step = self._next_step
        try:
            decoded = decode_points(record)
        except (TypeError, ValueError, KeyError):
            self.bad_lines += 1
            decoded = []
        for key, value, step, wall_ns in decoded:
            if step is None:
                step = next_step.get(key, 0)
            points.append((key, step, wall_ns / 1e9, value))
            next_step[key] = step + 1
        for name, target in (("p", params), ("t", tags)):
            values = record.get(name)
            if isinstance(values, dict):
                target.update({str(k): str(v) for k, v in values.items()})
        for art in record.get("a", ()):
            if isinstance(art, dict) and "path" in art:
                artifacts.append((str(art["path"]), int(art.get("size", 0))))
