"""The custom ``runyard/...`` requests: targets, jobs, runs, metrics, the project.

Every handler resolves the project, then does its work on the I/O pool (git, the store
and subprocesses never run on the event loop) and returns a `protocol` type.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from runyard import __version__
from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.convert import unstructure
from runyard.lsp.live import run_info
from runyard.lsp.server import RunyardServer, request, uri_to_path

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from runyard.core.store import Store
    from runyard.models.registry import ModelVersion

log = logging.getLogger(__name__)


def _store(project: Project) -> Store:
    from runyard.core.store import Store

    return Store(project.store_path)


def _problem(err: Any) -> p.ConfigProblem:
    return p.ConfigProblem(file=str(err.file), message=str(err), line=err.line, column=err.column)


def default_target(
    server: RunyardServer, project: Project, settings: p.Settings | None = None
) -> str | None:
    """The target a run goes to when none is named: the client's setting when that
    target exists, else the project's default; None when there is none."""
    from runyard.core import config

    wanted = (settings or server.settings).default_target
    if wanted and wanted in config.target_names(project):
        return wanted
    try:
        return config.default_target_name(project)
    except RunyardError:
        return None


# --------------------------------------------------------------------------- targets


def _targets(server: RunyardServer, project: Project) -> p.TargetsListResult:
    from runyard.core import config

    default = default_target(server, project)
    targets: list[p.TargetInfo] = []
    problems: list[p.ConfigProblem] = []
    for item in config.list_targets(project):
        if isinstance(item, config.ConfigError):
            problems.append(_problem(item))
            continue
        targets.append(_target_info(item, default))
    return p.TargetsListResult(targets=targets, default=default, problems=problems)


def _target_info(t: Any, default: str | None) -> p.TargetInfo:
    settings = {k: v for k, v in t.raw.items() if k not in ("type", "description")}
    return p.TargetInfo(
        name=t.name,
        type=t.type,
        file=str(t.path),
        is_default=t.name == default,
        description=t.description,
        settings=settings,
    )


def _add_target(server: RunyardServer, project: Project, params: p.TargetAddParams) -> p.TargetInfo:
    from runyard.core import config

    config.write_target(project, params.name, params.type, params.settings, force=params.force)
    if params.make_default:
        config.set_default_target(project, params.name)
    target = config.load_target(project, params.name)
    return _target_info(target, default_target(server, project))


def _remove_target(project: Project, name: str) -> p.TargetRemoveResult:
    from runyard.core import config

    path = config.remove_target(project, name)
    return p.TargetRemoveResult(name=name, file=str(path))


def _test_target(project: Project, name: str) -> p.TargetTestResult:
    from runyard.core import config
    from runyard.targets.base import check_target

    target = config.load_target(project, name)
    checks = check_target(target.type, target.raw)
    return p.TargetTestResult(
        name=name,
        ok=all(c.ok for c in checks),
        checks=[p.CheckInfo(name=c.name, ok=c.ok, detail=c.detail, fix=c.fix) for c in checks],
    )


def _set_default(project: Project, name: str) -> p.DefaultTargetResult:
    from runyard.core import config

    config.set_default_target(project, name)
    return p.DefaultTargetResult(name=name)


def _trust(project: Project, params: p.TargetTrustParams) -> p.TargetTrustResult:
    from runyard.core import config
    from runyard.targets.base import trust_host_key

    target = config.load_target(project, params.name)
    host, found, written = trust_host_key(target.type, target.raw, params.fingerprint)
    return p.TargetTrustResult(host=host, fingerprint=found, written=written)


def _jobs(project: Project) -> p.JobsListResult:
    from runyard.core import config

    jobs: list[p.JobInfo] = []
    problems: list[p.ConfigProblem] = []
    for item in config.list_jobs(project):
        if isinstance(item, config.ConfigError):
            problems.append(_problem(item))
            continue
        jobs.append(
            p.JobInfo(
                name=item.name,
                file=str(item.path),
                script=item.script,
                module=item.module,
                target=item.target,
                experiment=item.experiment,
                args=list(item.args),
                description=item.description,
            )
        )
    return p.JobsListResult(jobs=jobs, problems=problems)


# --------------------------------------------------------------------------- runs


def _list_runs(project: Project, params: p.RunsListParams) -> p.RunsListResult:
    if params.limit < 0 or params.limit > 10_000:
        raise UsageError("params.limit: expected 0 to 10000 runs per page.")
    if params.offset < 0:
        raise UsageError("params.offset: expected 0 or more.")
    from runyard.core.store import Store

    Store.check_sort(params.sort)
    if not project.store_path.exists():
        return p.RunsListResult(runs=[], total=0, offset=params.offset, experiments=[])
    with _store(project) as store:
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
    return p.RunsListResult(
        runs=[run_info(r) for r in found],
        total=total,
        offset=params.offset,
        experiments=experiments,
    )


def _open_store(project: Project) -> Store:
    if not project.store_path.exists():
        raise NotFoundError("This project has no runs yet.", hint="submit one first")
    return _store(project)


def _run_details(project: Project, run_id: str) -> p.RunDetails:
    from runyard.runner import runs

    with _open_store(project) as store:
        run = runs.get_run(project, store, run_id)
        log = runs.log_path(project, run.id)
        return p.RunDetails(
            run=run_info(run),
            history=[
                p.StatusChange(status=s, time=t, reason=r)
                for s, t, r in store.status_history(run.id)
            ],
            params=store.params(run.id),
            tags=store.tags(run.id),
            artifacts=[p.ArtifactInfo(path=a, size=s) for a, s in store.artifacts(run.id)],
            metrics=[
                p.MetricSummary(
                    key=m["key"],
                    last=m["last"],
                    step=m["step"],
                    count=m["count"],
                    min=m["min"],
                    max=m["max"],
                )
                for m in store.metric_summary(run.id)
            ],
            outputs_dir=str(runs.outputs_dir(project, run.id)),
            log_size=log.stat().st_size if log.exists() else 0,
        )


def _cancel(project: Project, run_id: str) -> p.CancelResult:
    from runyard.runner import runs

    with _open_store(project) as store:
        full = store.resolve_run_id(run_id)
        canceled = runs.cancel(project, store, full)
        return p.CancelResult(run_id=full, canceled=canceled, status=store.get_run(full).status)


def _logs(project: Project, params: p.RunLogsParams) -> p.RunLogsResult:
    from runyard.runner import runs

    if params.offset < 0 or params.max_bytes <= 0:
        raise UsageError("params.offset must be 0 or more and params.maxBytes more than 0.")
    with _open_store(project) as store:
        run = runs.get_run(project, store, params.run_id)
    path = runs.log_path(project, run.id)
    try:
        with path.open("rb") as f:
            f.seek(params.offset)
            data = f.read(params.max_bytes + 1)
    except FileNotFoundError:
        data = b""
    more = len(data) > params.max_bytes
    data = data[: params.max_bytes]
    if more:  # end on a whole line (or at least a whole character)
        cut = data.rfind(b"\n")
        if cut >= 0:
            data = data[: cut + 1]
        else:
            while data and (data[-1] & 0xC0) == 0x80:
                data = data[:-1]
            if data and data[-1] >= 0xC0:
                data = data[:-1]
    return p.RunLogsResult(
        run_id=run.id,
        text=data.decode("utf-8", errors="replace"),
        offset=params.offset,
        next_offset=params.offset + len(data),
        complete=not run.live and not more,
    )


def _restore(project: Project, params: p.RunRestoreParams) -> p.RunRestoreResult:
    from runyard.core import snapshot
    from runyard.runner import runs

    with _open_store(project) as store:
        run = runs.get_run(project, store, params.run_id)
    if not run.snapshot_commit:
        raise UsageError(f"Run {run.id} has no snapshot (it failed before one was taken).")
    dest = uri_to_path(params.dest).resolve() if params.dest else project.root
    written = snapshot.restore_snapshot(project, run.snapshot_commit, dest, force=params.force)
    return p.RunRestoreResult(run_id=run.id, dest=str(dest), written=written)


def _diff(project: Project, params: p.RunDiffParams) -> p.RunDiffResult:
    from runyard.core import snapshot
    from runyard.runner import runs

    with _open_store(project) as store:
        run = runs.get_run(project, store, params.run_id)
        other = runs.get_run(project, store, params.other_run_id) if params.other_run_id else None
    for r in (run, other):
        if r is not None and not r.snapshot_commit:
            raise UsageError(f"Run {r.id} has no snapshot (it failed before one was taken).")
    assert run.snapshot_commit is not None
    text = snapshot.diff_snapshots(
        project, run.snapshot_commit, other.snapshot_commit if other else None, stat=params.stat
    )
    return p.RunDiffResult(diff=text)


def _compare(project: Project, params: p.RunsCompareParams) -> p.RunsCompareResult:
    from runyard.runner import runs

    if not params.run_ids:
        raise UsageError("params.runIds: give at least one run to compare.")
    with _open_store(project) as store:
        chosen = [runs.get_run(project, store, i) for i in params.run_ids]
        run_params = {r.id: store.params(r.id) for r in chosen}

    def row(key: str, values: list[str | float | None]) -> p.CompareRow:
        distinct = {repr(v) for v in values}
        return p.CompareRow(key=key, values=values, differs=len(distinct) > 1)

    param_rows = [
        row(key, [run_params[r.id].get(key) for r in chosen])
        for key in sorted({k for ps in run_params.values() for k in ps})
    ]
    metric_rows = [
        row(key, [r.metrics.get(key) for r in chosen])
        for key in sorted({k for r in chosen for k in r.metrics})
    ]
    best: str | None = None
    if params.best_metric:
        scored = [
            (r.metrics[params.best_metric], r.id)
            for r in chosen
            if params.best_metric in r.metrics
            and r.metrics[params.best_metric] == r.metrics[params.best_metric]
        ]
        if scored:
            best = (max(scored) if params.maximize else min(scored))[1]
    return p.RunsCompareResult(
        runs=[run_info(r) for r in chosen], params=param_rows, metrics=metric_rows, best_run_id=best
    )


# --------------------------------------------------------------------------- metrics


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
    with _open_store(project) as store:
        for given in params.run_ids:
            run = runs.get_run(project, store, given)
            keys = params.keys if params.keys is not None else store.metric_keys(run.id)
            for key in keys:
                series = cache.series(project, store, run.id, key, params.max_points)
                if series.total:
                    out.append(series)
    return p.MetricSeriesResult(series=out)


# --------------------------------------------------------------------------- submit


class _SubmitProgress:
    """Work-done progress of one submission (or deployment), reported from the thread
    doing the work."""

    def __init__(
        self,
        server: RunyardServer,
        token: str | int | None,
        title: str = "Runyard: submitting run",
        first: str = "snapshot",
        cancellable: bool = True,
    ) -> None:
        self.server = server
        self.token = token
        self.title = title
        self.first = first
        self.cancellable = cancellable
        self.loop = asyncio.get_running_loop()
        self.canceled = threading.Event()

    def begin(self) -> None:
        if self.token is None:
            return
        self.server.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(
                title=self.title, message=self.first, cancellable=self.cancellable, percentage=0
            ),
        )
        future = self.server.work_done_progress.tokens.get(self.token)
        if future is not None:
            future.add_done_callback(lambda f: self.canceled.set() if f.cancelled() else None)

    def report(self, message: str, percentage: int) -> None:
        if self.token is None:
            return
        value = types.WorkDoneProgressReport(
            message=message, percentage=percentage, cancellable=self.cancellable
        )
        self.server.work_done_progress.report(self.token, value)

    def report_threadsafe(self, message: str, percentage: int) -> None:
        self.loop.call_soon_threadsafe(self.report, message, percentage)

    def end(self, message: str) -> None:
        if self.token is None:
            return
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self.server.work_done_progress.tokens.pop(self.token, None)


async def _progress_token(
    server: RunyardServer, given: str | int | None, what: str = "submit"
) -> str | int | None:
    if given is not None:
        return given
    window = server.client_capabilities.window
    if not (window and window.work_done_progress):
        return None
    token = f"runyard-{what}-{uuid.uuid4().hex[:12]}"
    try:
        await server.work_done_progress.create_async(token)
    except Exception:
        return None
    return token


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
    progress = _SubmitProgress(server, await _progress_token(server, params.work_done_token))
    progress.begin()

    def on_stage(stage: str) -> None:
        if progress.canceled.is_set():
            raise runs.SubmitCanceled()
        progress.report_threadsafe(stage, _STAGE_PERCENT.get(stage, 50))

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(server.blocking_pool, runs.submit, project, req, on_stage)
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

    with _store(project) as store:
        runs.reconcile(project, store)


async def _wait_started(
    server: RunyardServer, project: Project, run_id: str, progress: _SubmitProgress
) -> p.RunInfo:
    """Wait while the run's environment is prepared; cancel it if the user cancels."""

    def current() -> Any:
        with _store(project) as store:
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


# --------------------------------------------------------------------------- gallery


def _gallery() -> p.GalleryListResult:
    from runyard.gallery.catalog import load_catalog

    catalog = load_catalog()
    return p.GalleryListResult(
        entries=[
            p.GalleryEntry(
                id=e.id,
                title=e.title,
                description=e.description,
                framework=e.framework,
                task=e.task,
                tags=e.tags,
                targets=e.targets,
                expected_runtime_seconds=e.expected_runtime_seconds,
                metric=p.GalleryMetric(
                    name=e.metric.name, goal=e.metric.goal, value=e.metric.value
                ),
                image=str(e.image),
                run=e.run,
            )
            for e in catalog.entries
        ],
        problems=[p.ConfigProblem(file=str(x.file), message=x.message) for x in catalog.problems],
    )


def _gallery_create(params: p.GalleryCreateParams) -> p.GalleryCreateResult:
    from runyard.gallery.catalog import load_catalog, scaffold

    folder = uri_to_path(params.folder)
    if not folder.is_absolute():
        raise UsageError(f"params.folder: expected an absolute folder, got {params.folder!r}.")
    entry = load_catalog().find(params.id)
    made = scaffold(entry, folder, name=params.name, force=params.force)
    return p.GalleryCreateResult(
        root=str(made.root),
        files=made.files,
        committed=made.committed,
        next_command=made.next_command,
    )


# --------------------------------------------------------------------------- models


def _model_info(model: ModelVersion) -> p.ModelInfo:
    return p.ModelInfo(
        name=model.name,
        version=model.version,
        ref=model.ref,
        digest=model.digest,
        size=model.size,
        kind="folder" if model.kind == "folder" else "file",
        framework=model.framework,
        run_id=model.run_id,
        source_path=model.source_path,
        snapshot_commit=model.snapshot_commit,
        target=model.target,
        env_hash=model.env_hash,
        created=model.created,
        tags=dict(model.tags),
        aliases=list(model.aliases),
        path=str(model.path),
    )


def _models(project: Project, name: str | None) -> p.ModelsListResult:
    from runyard.models import registry

    if not project.store_path.exists():
        if name is not None:
            raise NotFoundError(f"No model named {name!r} is registered.")
        return p.ModelsListResult(models=[])
    with _store(project) as store:
        return p.ModelsListResult(
            models=[_model_info(m) for m in registry.list_models(project, store, name)]
        )


def _model_details(project: Project, ref: str) -> p.ModelDetails:
    from runyard.models import registry

    with _open_store(project) as store:
        model = registry.resolve(project, store, ref)
        data = registry.lineage(project, store, model.ref)
    run = data["run"]
    return p.ModelDetails(
        model=_model_info(model),
        run=p.ModelRunInfo(
            id=run["id"],
            status=run["status"],
            experiment=run["experiment"],
            script=run["script"],
            missing=bool(run.get("missing")),
        ),
        snapshot_commit=data["snapshot"],
        target=data["target"],
        env_hash=data["env_hash"],
        deployments=[
            p.ModelDeploymentInfo(
                name=d["name"],
                status=d["status"],
                target=d["target"],
                host=d["host"],
                port=d["port"],
            )
            for d in data["deployments"]
        ],
    )


def _register_model(project: Project, params: p.ModelRegisterParams) -> p.ModelInfo:
    from runyard.models import registry
    from runyard.runner import runs

    with _open_store(project) as store:
        runs.reconcile(project, store)
        model = registry.register(
            project,
            store,
            params.run_id,
            params.path,
            params.name,
            tags=params.tags,
            aliases=params.aliases,
        )
    return _model_info(model)


# --------------------------------------------------------------------------- deployments


def _deployment_info(dep: dict[str, Any], sample: dict[str, Any] | None = None) -> p.DeploymentInfo:
    return p.DeploymentInfo(
        name=dep["name"],
        model=dep["model"],
        version=int(dep["version"]),
        target=dep["target"],
        status=dep["status"],
        host=dep.get("host"),
        port=dep.get("port"),
        image=dep.get("image"),
        created=float(dep["created"]),
        stopped=dep.get("stopped"),
        telemetry=_telemetry(sample) if sample else None,
    )


def _last_sample(store: Store, dep: dict[str, Any]) -> dict[str, Any]:
    from runyard.models import deploy

    return deploy.last_stats(store, dep["name"], since=float(dep["created"]))


def _telemetry(sample: dict[str, Any]) -> p.DeploymentTelemetry:
    return p.DeploymentTelemetry(
        requests=int(sample["requests"]),
        errors=int(sample["errors"]),
        p50_ms=sample.get("p50_ms"),
        p95_ms=sample.get("p95_ms"),
        sampled=float(sample["time"]),
    )


# The Models view lists deployments on every refresh: a running one's /metrics gets this
# long to answer (else it keeps its last sample); they are sampled at once.
SAMPLE_TIMEOUT = 2.0


def _deployments(project: Project) -> p.DeploymentsListResult:
    from runyard.models import deploy

    if not project.store_path.exists():
        return p.DeploymentsListResult(deployments=[])
    with _store(project) as store:
        found = store.list_deployments()
    found = deploy.refresh_all(project, found, SAMPLE_TIMEOUT)
    with _store(project) as store:
        return p.DeploymentsListResult(
            deployments=[_deployment_info(d, _last_sample(store, d)) for d in found]
        )


def _score_path(project: Project, score: str) -> Path:
    path = uri_to_path(score)
    return path if path.is_absolute() else project.root / path


def _build_output(data: bytes) -> None:
    text = data.decode("utf-8", "replace").rstrip()
    if text:
        log.info("%s", text)


_DEPLOY_PERCENT = {"packaging": 5, "starting": 70}


def _deploy_model(
    project: Project, params: p.ModelDeployParams, report: Callable[[str, int], None]
) -> p.DeploymentInfo:
    from runyard.models import deploy, package

    score = _score_path(project, params.score)
    package.check_score_script(score)  # a script the service cannot load fails before a build
    with _open_store(project) as store:
        report("packaging", _DEPLOY_PERCENT["packaging"])
        pkg = package.package(
            project, store, params.ref, score, params.target, _build_output, log.info
        )
        report("starting", _DEPLOY_PERCENT["starting"])
        dep = deploy.deploy(
            project, store, pkg.model.ref, params.name, pkg.target, params.port, log=log.info
        )
    return _deployment_info(dep)


async def _deploy(server: RunyardServer, params: p.ModelDeployParams) -> p.DeploymentInfo:
    project = server.project_for(params.project)
    token = await _progress_token(server, params.work_done_token, "deploy")
    # A Docker build cannot be stopped halfway cleanly: this progress is not cancellable.
    progress = _SubmitProgress(
        server,
        token,
        title=f"Runyard: deploying {params.ref}",
        first="packaging",
        cancellable=False,
    )
    progress.begin()
    try:
        dep = await server.blocking(_deploy_model, project, params, progress.report_threadsafe)
    except BaseException:
        progress.end("failed")
        raise
    progress.end(dep.status)
    return dep


def _invoke(project: Project, params: p.DeploymentInvokeParams) -> p.DeploymentInvokeResult:
    from runyard.models import deploy

    try:
        raw = json.dumps(params.payload, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise UsageError(f"params.payload: not a JSON document ({exc}).") from None
    with _open_store(project) as store:
        started = time.perf_counter()
        status, answer = deploy.invoke_payload(project, store, params.name, raw)
        ms = (time.perf_counter() - started) * 1000
    return p.DeploymentInvokeResult(status=status, body=answer, ms=round(ms, 1))


def _stop_deployment(project: Project, name: str) -> p.DeploymentInfo:
    from runyard.models import deploy

    with _open_store(project) as store:
        dep = deploy.stop(project, store, name)
        return _deployment_info(dep, _last_sample(store, dep))


# --------------------------------------------------------------------------- register


def register(server: RunyardServer) -> None:
    cache = SeriesCache()

    @request(server, p.SERVER_INFO)
    async def server_info(ls: RunyardServer, _params: p.ServerInfoParams) -> p.ServerInfoResult:
        settings = ls.settings  # one snapshot for the whole answer

        def work() -> list[p.ProjectInfo]:
            return [
                p.ProjectInfo(root=str(pr.root), default_target=default_target(ls, pr, settings))
                for pr in ls.projects()
            ]

        return p.ServerInfoResult(
            version=__version__,
            pid=os.getpid(),
            projects=await ls.blocking(work),
            settings=unstructure(settings),
        )

    @request(server, p.PROJECT_INIT)
    async def project_init(ls: RunyardServer, params: p.ProjectInitParams) -> p.ProjectInitResult:
        from runyard.core import config

        folder = uri_to_path(params.folder)
        if not folder.is_absolute():
            raise UsageError(f"params.folder: expected an absolute folder, got {params.folder!r}.")
        project, created = await ls.blocking(config.init_project, folder)
        from runyard.lsp.features.lifecycle import sync_feeds

        await sync_feeds(ls)
        return p.ProjectInitResult(
            root=str(project.root), created=[project.relpath(c) for c in created]
        )

    @request(server, p.GALLERY_LIST)
    async def gallery_list(ls: RunyardServer, _params: p.GalleryListParams) -> p.GalleryListResult:
        return await ls.blocking(_gallery)

    @request(server, p.GALLERY_CREATE)
    async def gallery_create(
        ls: RunyardServer, params: p.GalleryCreateParams
    ) -> p.GalleryCreateResult:
        return await ls.blocking(_gallery_create, params)

    @request(server, p.TARGETS_LIST)
    async def targets_list(ls: RunyardServer, params: p.ProjectParams) -> p.TargetsListResult:
        return await ls.blocking(_targets, ls, ls.project_for(params.project))

    @request(server, p.TARGETS_ADD)
    async def targets_add(ls: RunyardServer, params: p.TargetAddParams) -> p.TargetInfo:
        return await ls.blocking(_add_target, ls, ls.project_for(params.project), params)

    @request(server, p.TARGETS_REMOVE)
    async def targets_remove(ls: RunyardServer, params: p.TargetNameParams) -> p.TargetRemoveResult:
        return await ls.blocking(_remove_target, ls.project_for(params.project), params.name)

    @request(server, p.TARGETS_TEST)
    async def targets_test(ls: RunyardServer, params: p.TargetNameParams) -> p.TargetTestResult:
        return await ls.blocking(_test_target, ls.project_for(params.project), params.name)

    @request(server, p.TARGETS_SET_DEFAULT)
    async def targets_set_default(
        ls: RunyardServer, params: p.TargetNameParams
    ) -> p.DefaultTargetResult:
        return await ls.blocking(_set_default, ls.project_for(params.project), params.name)

    @request(server, p.TARGETS_TRUST)
    async def targets_trust(ls: RunyardServer, params: p.TargetTrustParams) -> p.TargetTrustResult:
        return await ls.blocking(_trust, ls.project_for(params.project), params)

    @request(server, p.JOBS_LIST)
    async def jobs_list(ls: RunyardServer, params: p.ProjectParams) -> p.JobsListResult:
        return await ls.blocking(_jobs, ls.project_for(params.project))

    @request(server, p.RUNS_SUBMIT)
    async def runs_submit(ls: RunyardServer, params: p.RunSubmitParams) -> p.RunInfo:
        return await _submit(ls, params)

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

    @request(server, p.METRICS_SERIES)
    async def metrics_series(
        ls: RunyardServer, params: p.MetricSeriesParams
    ) -> p.MetricSeriesResult:
        return await ls.blocking(_series, ls.project_for(params.project), cache, params)

    @request(server, p.MODELS_LIST)
    async def models_list(ls: RunyardServer, params: p.ModelsListParams) -> p.ModelsListResult:
        return await ls.blocking(_models, ls.project_for(params.project), params.name)

    @request(server, p.MODELS_GET)
    async def models_get(ls: RunyardServer, params: p.ModelGetParams) -> p.ModelDetails:
        return await ls.blocking(_model_details, ls.project_for(params.project), params.ref)

    @request(server, p.MODELS_REGISTER)
    async def models_register(ls: RunyardServer, params: p.ModelRegisterParams) -> p.ModelInfo:
        return await ls.blocking(_register_model, ls.project_for(params.project), params)

    @request(server, p.MODELS_DEPLOY)
    async def models_deploy(ls: RunyardServer, params: p.ModelDeployParams) -> p.DeploymentInfo:
        return await _deploy(ls, params)

    @request(server, p.DEPLOYMENTS_LIST)
    async def deployments_list(
        ls: RunyardServer, params: p.ProjectParams
    ) -> p.DeploymentsListResult:
        return await ls.blocking(_deployments, ls.project_for(params.project))

    @request(server, p.DEPLOYMENTS_INVOKE)
    async def deployments_invoke(
        ls: RunyardServer, params: p.DeploymentInvokeParams
    ) -> p.DeploymentInvokeResult:
        return await ls.blocking(_invoke, ls.project_for(params.project), params)

    @request(server, p.DEPLOYMENTS_STOP)
    async def deployments_stop(
        ls: RunyardServer, params: p.DeploymentNameParams
    ) -> p.DeploymentInfo:
        return await ls.blocking(_stop_deployment, ls.project_for(params.project), params.name)
