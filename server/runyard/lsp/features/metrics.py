"""``runyard/metrics/series``: metric series of runs for the charts, downsampled to the
points a chart can show.

Each series is cut by the store from its summaries (`Store.metric_series`): the first
request for a 10-million-point series reads a few thousand summary rows, not its
points, and a live run's growing series costs the same on every request, so nothing is
kept in memory here.

A request with a step range (`stepFrom`/`stepTo`: a chart zoomed into part of a series)
gets only the points in that range, cut from the summaries of that range alone, so a
zoom shows the range at full resolution once it is short enough, and each bucket's raw
minimum and maximum always.
"""

from __future__ import annotations

from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.features.common import require_store
from runyard.lsp.server import RunyardServer, request


def _series(project: Project, params: p.MetricSeriesParams) -> p.MetricSeriesResult:
    from runyard.runner import runs

    if params.max_points < 4 or params.max_points > 1_000_000:
        raise UsageError("params.maxPoints: expected 4 to 1000000 points per series.")
    if not params.run_ids:
        raise UsageError("params.runIds: give at least one run.")
    steps: tuple[int | None, int | None] | None = None
    if params.step_from is not None or params.step_to is not None:
        if (
            params.step_from is not None
            and params.step_to is not None
            and params.step_from > params.step_to
        ):
            raise UsageError(
                f"params.stepFrom {params.step_from} is after params.stepTo {params.step_to}: "
                "give the range's first step first."
            )
        steps = (params.step_from, params.step_to)
    out: list[p.MetricSeries] = []
    with require_store(project) as store:
        for given in params.run_ids:
            run = runs.get_run(project, store, given)
            keys = params.keys if params.keys is not None else store.metric_keys(run.id)
            for key in keys:
                cut = store.metric_series(run.id, key, params.max_points, steps=steps)
                if cut.total:
                    out.append(
                        p.MetricSeries(
                            run_id=run.id,
                            key=key,
                            steps=cut.steps,
                            times=cut.times,
                            values=list(cut.values),  # NaN goes out as null
                            total=cut.total,
                            downsampled=cut.downsampled,
                        )
                    )
    return p.MetricSeriesResult(series=out)


def register(server: RunyardServer) -> None:
    @request(server, p.METRICS_SERIES)
    async def metrics_series(
        ls: RunyardServer, params: p.MetricSeriesParams
    ) -> p.MetricSeriesResult:
        return await ls.blocking(_series, ls.project_for(params.project), params)
