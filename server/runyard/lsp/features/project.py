"""``runyard/server/info`` and ``runyard/project/init``: the server, the projects it sees
in the workspace, and making a folder a project (whose live feed then starts)."""

from __future__ import annotations

import os

from runyard import __version__
from runyard.core.errors import RunyardError, UsageError
from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.convert import unstructure
from runyard.lsp.features.targets import default_target
from runyard.lsp.server import RunyardServer, request, uri_to_path


def team_store(project: Project) -> str | None:
    """Where `project`'s runs are kept when it is not its own SQLite file: the team
    store's URL without its password, or why the settings naming it cannot be read."""
    from runyard.core.store import store_configured, store_location

    if not store_configured(project.root):
        return None
    try:
        location = store_location(project.store_path)
    except RunyardError as exc:
        return f"not usable: {exc}"
    return None if location == str(project.store_path) else location


def register(server: RunyardServer) -> None:
    @request(server, p.SERVER_INFO)
    async def server_info(ls: RunyardServer, _params: p.ServerInfoParams) -> p.ServerInfoResult:
        settings = ls.settings  # one snapshot for the whole answer

        def work() -> list[p.ProjectInfo]:
            return [
                p.ProjectInfo(
                    root=str(pr.root),
                    default_target=default_target(ls, pr, settings),
                    store=team_store(pr),
                )
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
        if "\x00" in str(folder):  # a file: URI's %00
            raise UsageError(
                f"params.folder: {params.folder!r} holds a NUL character, which no folder can."
            )
        project, created = await ls.blocking(config.init_project, folder)
        from runyard.lsp.features.lifecycle import sync_feeds

        await sync_feeds(ls)
        return p.ProjectInitResult(
            root=str(project.root), created=[project.relpath(c) for c in created]
        )
