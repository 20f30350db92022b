"""``runyard/metrics/series``: metric series of runs for the charts, downsampled to the
points a chart can show.

`SeriesCache` keeps each series' columns in memory, so a chart's repeated requests (and
a live run's growing series) read only the new points from the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.features.common import require_store
from runyard.lsp.server import RunyardServer, request

if TYPE_CHECKING:
    from runyard.core.store import Store


class SeriesCache:
    """Metric columns kept in memory so a chart's repeated requests (and a live run's
    growing series) read only new points from the store. Least recently used series
    are dropped past `max_points` points in all."""

    def __init__(self, max_points: int = 20_000_000) -> None:
        self.max_points = max_points
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, str, str], tuple[threading.Lock, list[Any]]] = (
            OrderedDict()
        )

    def series(
        self, project: Project, store: Store, run_id: str, key: str, max_points: int
    ) -> p.MetricSeries:
        from runyard.core.series import SeriesColumns

        cache_key = (str(project.root), run_id, key)
        with self.lock:
            entry = self.entries.get(cache_key)
            if entry is None:
                entry = self.entries[cache_key] = (threading.Lock(), [0, SeriesColumns()])
            self.entries.move_to_end(cache_key)
        entry_lock, state = entry
        with entry_lock:
            cursor, columns = state
            steps: list[int] = []
            if store.metric_count(run_id, key) != len(columns):  # else nothing new
                new_cursor, steps, times, values = store.metric_columns(run_id, key, after=cursor)
            if steps:
                columns.extend(steps, times, values)
                state[0] = new_cursor
            total = len(columns)
            indexes = columns.downsample(max_points)
            s, t, v = columns.take(indexes)
        self._trim()
        return p.MetricSeries(
            run_id=run_id,
            key=key,
            steps=s,
            times=t,
            values=list(v),  # NaN goes out as null
            total=total,
            downsampled=len(indexes) < total,
        )

    def _trim(self) -> None:
        with self.lock:
            total = sum(len(state[1]) for _lock, state in self.entries.values())
            while total > self.max_points and len(self.entries) > 1:
                _key, (_lock, state) = self.entries.popitem(last=False)
                total -= len(state[1])


def _series(
    project: Project, cache: SeriesCache, params: p.MetricSeriesParams
) -> p.MetricSeriesResult:
    from runyard.runner import runs

    if params.max_points < 4 or params.max_points > 1_000_000:
        raise UsageError("params.maxPoints: expected 4 to 1000000 points per series.")
    if not params.run_ids:
        raise UsageError("params.runIds: give at least one run.")
    out: list[p.MetricSeries] = []
    with require_store(project) as store:
        for given in params.run_ids:
            run = runs.get_run(project, store, given)
            keys = params.keys if params.keys is not None else store.metric_keys(run.id)
            for key in keys:
                series = cache.series(project, store, run.id, key, params.max_points)
                if series.total:
                    out.append(series)
    return p.MetricSeriesResult(series=out)


def register(server: RunyardServer) -> None:
    cache = SeriesCache()

    @request(server, p.METRICS_SERIES)
    async def metrics_series(
        ls: RunyardServer, params: p.MetricSeriesParams
    ) -> p.MetricSeriesResult:
        return await ls.blocking(_series, ls.project_for(params.project), cache, params)
