"""``runyard/server/info`` and ``runyard/project/init``: the server, the projects it sees
in the workspace, and making a folder a project (whose live feed then starts)."""

from __future__ import annotations

import os

from runyard import __version__
from runyard.core.errors import UsageError
from runyard.lsp import protocol as p
from runyard.lsp.convert import unstructure
from runyard.lsp.features.targets import default_target
from runyard.lsp.server import RunyardServer, request, uri_to_path


def register(server: RunyardServer) -> None:
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
