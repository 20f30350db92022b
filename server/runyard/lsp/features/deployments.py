"""``runyard/models/deploy`` and ``runyard/deployments/...``: deploy a model as a local
web service, list deployments with their telemetry, call one, stop one.

Listing samples every running deployment's ``/metrics`` at once with a short timeout
(`runyard.models.views.SAMPLE_TIMEOUT`); one that does not answer keeps its last sample. Deploying reports
work-done progress (`runyard.lsp.progress`) that cannot be canceled: a Docker build
cannot be stopped halfway cleanly. Build output goes to the server's log.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.convert import from_fields
from runyard.lsp.features.common import open_store, require_store
from runyard.lsp.progress import WorkProgress, progress_token
from runyard.lsp.server import RunyardServer, request, uri_to_path

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from runyard.models.views import DeploymentView

log = logging.getLogger(__name__)


def deployment_info(view: DeploymentView) -> p.DeploymentInfo:
    t = view.telemetry
    return from_fields(
        p.DeploymentInfo,
        view.deployment,
        telemetry=from_fields(p.DeploymentTelemetry, t, sampled=t.time) if t else None,
    )


def list_deployments(project: Project) -> p.DeploymentsListResult:
    """Every deployment of the project with its telemetry (what `deployments/list` answers)."""
    from runyard.core.store import store_exists
    from runyard.models import views

    if not store_exists(project.store_path):
        return p.DeploymentsListResult(deployments=[])
    with open_store(project) as store:
        found = views.deployments(project, store)
    return p.DeploymentsListResult(deployments=[deployment_info(v) for v in found])


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
    from runyard.models import deploy, package, views

    score = _score_path(project, params.score)
    package.check_score_script(score)  # a script the service cannot load fails before a build
    with require_store(project) as store:
        report("packaging", _DEPLOY_PERCENT["packaging"])
        pkg = package.package(
            project, store, params.ref, score, params.target, _build_output, log.info
        )
        report("starting", _DEPLOY_PERCENT["starting"])
        dep = deploy.deploy(
            project, store, pkg.model.ref, params.name, pkg.target, params.port, log=log.info
        )
        return deployment_info(views.view(store, dep))


async def _deploy(server: RunyardServer, params: p.ModelDeployParams) -> p.DeploymentInfo:
    project = server.project_for(params.project)
    token = await progress_token(server, params.work_done_token, "deploy")
    # A Docker build cannot be stopped halfway cleanly: this progress is not cancellable.
    progress = WorkProgress(
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
    with require_store(project) as store:
        started = time.perf_counter()
        status, answer = deploy.invoke_payload(project, store, params.name, raw)
        ms = (time.perf_counter() - started) * 1000
    return p.DeploymentInvokeResult(status=status, body=answer, ms=round(ms, 1))


def _stop_deployment(project: Project, name: str) -> p.DeploymentInfo:
    from runyard.models import views

    with require_store(project) as store:
        return deployment_info(views.stop(project, store, name))


def register(server: RunyardServer) -> None:
    @request(server, p.MODELS_DEPLOY)
    async def models_deploy(ls: RunyardServer, params: p.ModelDeployParams) -> p.DeploymentInfo:
        return await _deploy(ls, params)

    @request(server, p.DEPLOYMENTS_LIST)
    async def deployments_list(
        ls: RunyardServer, params: p.ProjectParams
    ) -> p.DeploymentsListResult:
        return await ls.blocking(list_deployments, ls.project_for(params.project))

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
