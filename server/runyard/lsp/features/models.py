"""``runyard/models/...``: list, details (lineage and deployments) and register models.
Deploying a model (``runyard/models/deploy``) lives with the deployments, in
`runyard.lsp.features.deployments`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runyard.core.errors import NotFoundError
from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.convert import from_fields
from runyard.lsp.features.common import open_store, require_store
from runyard.lsp.server import RunyardServer, request

if TYPE_CHECKING:
    from runyard.models.registry import ModelVersion


def model_info(model: ModelVersion) -> p.ModelInfo:
    return from_fields(p.ModelInfo, model, path=str(model.path))


def _models(project: Project, name: str | None) -> p.ModelsListResult:
    from runyard.core.store import store_exists
    from runyard.models import registry

    if not store_exists(project.store_path):
        if name is not None:
            raise NotFoundError(f"No model named {name!r} is registered.")
        return p.ModelsListResult(models=[])
    with open_store(project) as store:
        return p.ModelsListResult(
            models=[model_info(m) for m in registry.list_models(project, store, name)]
        )


def _model_details(project: Project, ref: str) -> p.ModelDetails:
    from runyard.models import views

    with require_store(project) as store:
        lineage = views.lineage(project, store, ref)
    return from_fields(
        p.ModelDetails,
        lineage,
        model=model_info(lineage.model),
        run=from_fields(p.ModelRunInfo, lineage.run),
        snapshot_commit=lineage.snapshot,
        deployments=[from_fields(p.ModelDeploymentInfo, d) for d in lineage.deployments],
    )


def _register_model(project: Project, params: p.ModelRegisterParams) -> p.ModelInfo:
    from runyard.models import registry
    from runyard.runner import runs

    with require_store(project) as store:
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
    return model_info(model)


def register(server: RunyardServer) -> None:
    @request(server, p.MODELS_LIST)
    async def models_list(ls: RunyardServer, params: p.ModelsListParams) -> p.ModelsListResult:
        return await ls.blocking(_models, ls.project_for(params.project), params.name)

    @request(server, p.MODELS_GET)
    async def models_get(ls: RunyardServer, params: p.ModelGetParams) -> p.ModelDetails:
        return await ls.blocking(_model_details, ls.project_for(params.project), params.ref)

    @request(server, p.MODELS_REGISTER)
    async def models_register(ls: RunyardServer, params: p.ModelRegisterParams) -> p.ModelInfo:
        return await ls.blocking(_register_model, ls.project_for(params.project), params)
