"""``runyard/runs/...``: submit, list, details, cancel, logs, restore, diff and compare.

A list may carry each listed run's params (``includeParams``: a runs table's columns)
and keep only one sweep's trial runs (``sweep``, read from `runyard.runner.sweeps`).

Every handler resolves the project, then does its work on the I/O pool (git, the store
and subprocesses never run on the event loop) and returns a `protocol` type. Details,
compare, restore, diff and log chunks come from `runyard.runner.operations` (where the
rules live: what differs, the best run, where a log chunk ends); this module only checks
the request's params and turns the operations' dataclasses into `protocol` types.

Submitting reports work-done progress (`runyard.lsp.progress`): the submission runs on
the pool and reports its stages; the request then waits while the run's environment is
prepared, and answers with the run once it is running (or done). Canceling the
progress, or the request, cancels the run: a submission still under way stops at its
next stage and the run it started is canceled. A warning the submission gives (files that
look like secrets about to go into the snapshot) is shown with `window/showMessage`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.convert import from_fields
from runyard.lsp.features.common import open_store, require_store
from runyard.lsp.features.targets import default_target
from runyard.lsp.live import run_info
from runyard.lsp.progress import WorkProgress, progress_token
from runyard.lsp.server import RunyardServer, request, uri_to_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from runyard.core.store import Run, RunLock, Store


def _list_runs(project: Project, params: p.RunsListParams) -> p.RunsListResult:
    if params.limit < 0 or params.limit > 10_000:
        raise UsageError("params.limit: expected 0 to 10000 runs per page.")
    if params.offset < 0:
        raise UsageError("params.offset: expected 0 or more.")
    from runyard.core.store import Store, store_exists

    Store.check_sort(params.sort)
    if not store_exists(project.store_path):
        return p.RunsListResult(runs=[], total=0, offset=params.offset, experiments=[])
    with open_store(project) as store:
        if params.sweep is not None:
            found, total = _sweep_runs(project, store, params)
        else:
            found, total = store.query_runs(
                experiment=params.experiment,
                statuses=params.statuses,
                target=params.target,
                search=params.search,
                sort=params.sort,
                descending=params.descending,
                limit=params.limit,
                offset=params.offset,
            )
        experiments = [p.ExperimentInfo(name=n, runs=c) for n, c in store.experiments()]
        params_by_run = {r.id: store.params(r.id) for r in found} if params.include_params else None
    return p.RunsListResult(
        runs=[run_info(r) for r in found],
        total=total,
        offset=params.offset,
        experiments=experiments,
        params=params_by_run,
    )


def _sweep_runs(project: Project, store: Store, params: p.RunsListParams) -> tuple[list[Run], int]:
    """The trial runs of the sweep `params.sweep` names, newest first, a page of them
    (the other filters and `sort` apply to a whole project's runs, not to a sweep's)."""
    from runyard.runner.sweeps import get_sweep

    ids = [t.run_id for t in get_sweep(project, store, params.sweep or "").trials if t.run_id]
    found = store.list_runs(ids=ids) if ids else []
    return found[params.offset : params.offset + params.limit], len(found)


def _run_details(project: Project, run_id: str) -> p.RunDetails:
    from runyard.runner import operations

    with require_store(project) as store:
        d = operations.run_details(project, store, run_id)
    return p.RunDetails(
        run=run_info(d.run),
        history=[p.StatusChange(status=h.status, time=h.time, reason=h.reason) for h in d.history],
        params=dict(d.params),
        tags=dict(d.tags),
        artifacts=[p.ArtifactInfo(path=a, size=s) for a, s in d.artifacts],
        metrics=[from_fields(p.MetricSummary, m) for m in d.metrics],
        outputs_dir=str(d.outputs_dir),
        log_size=d.log_size,
        lock=_lock_info(d.lock) if d.lock else None,
    )


def _lock_info(lock: RunLock) -> p.RunLockInfo:
    host = lock.host
    return from_fields(
        p.RunLockInfo,
        lock,
        packages=lock.requirements(),
        host=from_fields(p.HostInfo, host, summary=host.summary()) if host else None,
    )


def _cancel(project: Project, run_id: str) -> p.CancelResult:
    from runyard.runner import runs

    with require_store(project) as store:
        full = store.resolve_run_id(run_id)
        canceled = runs.cancel(project, store, full)
        return p.CancelResult(run_id=full, canceled=canceled, status=store.get_run(full).status)


def _logs(project: Project, params: p.RunLogsParams) -> p.RunLogsResult:
    from runyard.runner import operations

    if params.offset < 0 or params.max_bytes <= 0:
        raise UsageError("params.offset must be 0 or more and params.maxBytes more than 0.")
    with require_store(project) as store:
        chunk = operations.log_chunk(project, store, params.run_id, params.offset, params.max_bytes)
    return p.RunLogsResult(
        run_id=chunk.run_id,
        text=chunk.data.decode("utf-8", errors="replace"),
        offset=chunk.offset,
        next_offset=chunk.next_offset,
        complete=chunk.complete,
    )


def _restore(project: Project, params: p.RunRestoreParams) -> p.RunRestoreResult:
    from runyard.runner import operations, runs

    with require_store(project) as store:
        run = runs.get_run(project, store, params.run_id)
    runs.ensure_snapshots(project, run)  # (a teammate's run: fetched from the team's remote)
    dest = uri_to_path(params.dest).resolve() if params.dest else None
    done = operations.restore(project, run, dest, force=params.force)
    return p.RunRestoreResult(run_id=done.run_id, dest=str(done.dest), written=list(done.written))


def _diff(project: Project, params: p.RunDiffParams) -> p.RunDiffResult:
    from runyard.runner import operations, runs

    with require_store(project) as store:
        run = runs.get_run(project, store, params.run_id)
        other = runs.get_run(project, store, params.other_run_id) if params.other_run_id else None
        runs.ensure_snapshots(project, run, other)
        if params.causes and other is not None:
            d = operations.run_diff(project, store, run, other)
        else:
            return p.RunDiffResult(diff=operations.diff(project, run, other, params.stat).text)

    def changes(items: tuple[operations.Change, ...] | None) -> list[p.Change] | None:
        return None if items is None else [from_fields(p.Change, c) for c in items]

    causes = p.RunDiffCauses(
        code=changes(d.code) or [],
        environment=changes(d.environment),
        params=changes(d.params) or [],
        target=changes(d.target) or [],
        host=changes(d.host),
        metrics=changes(d.metrics) or [],
    )
    diff = operations.diff(project, run, other, stat=True).text if params.stat else d.code_diff
    return p.RunDiffResult(diff=diff, causes=causes)


def _compare(project: Project, params: p.RunsCompareParams) -> p.RunsCompareResult:
    from runyard.runner import operations

    if not params.run_ids:
        raise UsageError("params.runIds: give at least one run to compare.")
    with require_store(project) as store:
        found = operations.compare(
            project,
            store,
            params.run_ids,
            best_metric=params.best_metric,
            maximize=params.maximize,
        )

    def rows(items: tuple[operations.CompareRow, ...]) -> list[p.CompareRow]:
        return [p.CompareRow(key=r.key, values=list(r.values), differs=r.differs) for r in items]

    return p.RunsCompareResult(
        runs=[run_info(r) for r in found.runs],
        fields=rows(found.fields),
        params=rows(found.params),
        metrics=rows(found.metrics),
        best_run_id=found.best_run_id,
    )


_STAGE_PERCENT = {"snapshot": 10, "start": 40}


async def _submit(server: RunyardServer, params: p.RunSubmitParams) -> p.RunInfo:
    from runyard.runner import runs

    project = server.project_for(params.project)
    if params.script is not None and params.script.startswith("file:"):
        script: str | None = str(uri_to_path(params.script))
    else:
        script = params.script
    target = params.target
    if target is None and params.job is None:
        target = await server.blocking(default_target, server, project)
    req = runs.SubmitRequest(
        script=script,
        args=list(params.args),
        target=target,
        job=params.job,
        experiment=params.experiment,
        module=params.module,
        cwd=project.root,
    )
    return await _start(
        server,
        project,
        params.work_done_token,
        lambda on_stage: runs.submit(project, req, on_stage),
    )


async def _rerun(server: RunyardServer, params: p.RunRerunParams) -> p.RunInfo:
    from runyard.runner import runs

    project = server.project_for(params.project)

    def start(on_stage: Callable[[str], None]) -> Run:
        with require_store(project) as store:
            return runs.rerun(project, store, params.run_id, params.target, on_stage)

    return await _start(server, project, params.work_done_token, start)


async def _start(
    server: RunyardServer,
    project: Project,
    token: str | int | None,
    start: Callable[[Callable[[str], None]], Run],
) -> p.RunInfo:
    """Start a run with `start` (a submission or a rerun, given the stage callback) on
    the I/O pool, reporting its stages as work-done progress on `token`, and answer once
    the run has started. Canceling the request stops the submission at its next stage
    (and cancels a run that got started meanwhile)."""
    from runyard.runner import runs

    progress = WorkProgress(server, await progress_token(server, token))
    progress.begin()

    def on_stage(stage: str) -> None:
        if progress.canceled.is_set():
            raise runs.SubmitCanceled()
        if stage.startswith(runs.WARNING):  # a progress message would be replaced at once
            from lsprotocol import types

            warning = types.ShowMessageParams(
                type=types.MessageType.Warning, message=stage[len(runs.WARNING) :]
            )
            progress.loop.call_soon_threadsafe(server.window_show_message, warning)
            return
        progress.report_threadsafe(stage, _STAGE_PERCENT.get(stage, 50))

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(server.blocking_pool, start, on_stage)
    feed = server.feeds.get(project.root)
    try:
        try:
            run = await asyncio.shield(future)
        except asyncio.CancelledError:
            progress.canceled.set()
            with contextlib.suppress(Exception):
                started = await future  # the submission stops at its next stage
                await server.blocking(_cancel, project, started.id)
            raise
        if feed is not None:
            feed.poke()
        progress.report("environment", 50)
        run_now = await _wait_started(server, project, run.id, progress)
    except BaseException as exc:
        progress.end("canceled" if isinstance(exc, asyncio.CancelledError) else "failed")
        raise
    progress.end(run_now.status)
    return run_now


def _reconcile(project: Project) -> None:
    from runyard.runner import runs

    with open_store(project) as store:
        runs.reconcile(project, store)


async def _wait_started(
    server: RunyardServer, project: Project, run_id: str, progress: WorkProgress
) -> p.RunInfo:
    """Wait while the run's environment is prepared; cancel it if the user cancels."""

    def current() -> Any:
        with open_store(project) as store:
            return store.get_run(run_id)

    checks = 0
    while True:
        run = await server.blocking(current)
        if run.status not in ("queued", "preparing"):
            return run_info(run)
        if progress.canceled.is_set():
            await server.blocking(_cancel, project, run_id)
            progress.canceled.clear()
        checks += 1
        if checks % 20 == 0:
            await server.blocking(_reconcile, project)
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            await server.blocking(_cancel, project, run_id)
            raise


def register(server: RunyardServer) -> None:
    @request(server, p.RUNS_SUBMIT)
    async def runs_submit(ls: RunyardServer, params: p.RunSubmitParams) -> p.RunInfo:
        return await _submit(ls, params)

    @request(server, p.RUNS_RERUN)
    async def runs_rerun(ls: RunyardServer, params: p.RunRerunParams) -> p.RunInfo:
        return await _rerun(ls, params)

    @request(server, p.RUNS_LIST)
    async def runs_list(ls: RunyardServer, params: p.RunsListParams) -> p.RunsListResult:
        return await ls.blocking(_list_runs, ls.project_for(params.project), params)

    @request(server, p.RUNS_GET)
    async def runs_get(ls: RunyardServer, params: p.RunParams) -> p.RunDetails:
        return await ls.blocking(_run_details, ls.project_for(params.project), params.run_id)

    @request(server, p.RUNS_CANCEL)
    async def runs_cancel(ls: RunyardServer, params: p.RunParams) -> p.CancelResult:
        result = await ls.blocking(_cancel, ls.project_for(params.project), params.run_id)
        return result

    @request(server, p.RUNS_LOGS)
    async def runs_logs(ls: RunyardServer, params: p.RunLogsParams) -> p.RunLogsResult:
        return await ls.blocking(_logs, ls.project_for(params.project), params)

    @request(server, p.RUNS_RESTORE)
    async def runs_restore(ls: RunyardServer, params: p.RunRestoreParams) -> p.RunRestoreResult:
        return await ls.blocking(_restore, ls.project_for(params.project), params)

    @request(server, p.RUNS_DIFF)
    async def runs_diff(ls: RunyardServer, params: p.RunDiffParams) -> p.RunDiffResult:
        return await ls.blocking(_diff, ls.project_for(params.project), params)

    @request(server, p.RUNS_COMPARE)
    async def runs_compare(ls: RunyardServer, params: p.RunsCompareParams) -> p.RunsCompareResult:
        return await ls.blocking(_compare, ls.project_for(params.project), params)
