"""Settings, workspace folders and the live feeds' lifetime."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from runyard.core.project import Project
from runyard.lsp.server import RunyardServer

log = logging.getLogger("runyard.lsp")


def _sender(server: RunyardServer) -> Callable[[str, dict[str, Any]], None]:
    """Send a push, and tell the client what it should ask for again because of it."""

    from runyard.lsp import protocol

    def send(method: str, payload: dict[str, Any]) -> None:
        server.protocol.notify(method, payload)
        caps = server.client_capabilities.workspace
        if method == protocol.RUN_CHANGED and payload["run"]["status"] == "completed":
            if caps and caps.inlay_hint and caps.inlay_hint.refresh_support:
                server.workspace_inlay_hint_refresh(None)
        elif method == protocol.CONFIG_CHANGED:
            if caps and caps.code_lens and caps.code_lens.refresh_support:
                server.workspace_code_lens_refresh(None)
            for callback in server.on_config_changed:
                server.spawn(callback())

    return send


async def sync_feeds(server: RunyardServer) -> None:
    """One live feed per Runyard project in the workspace."""
    wanted = {p.root: p for p in server.projects()}
    for root in list(server.feeds):
        if root not in wanted:
            await server.feeds.pop(root).stop()
    for project in wanted.values():
        follow(server, project)


def follow(server: RunyardServer, project: Project) -> None:
    """Start the live feed of `project` unless it runs already."""
    if project.root in server.feeds:
        return
    from runyard.lsp.live import LiveFeed

    feed = LiveFeed(project, _sender(server), lambda: server.settings.live_interval_ms / 1000)
    server.feeds[project.root] = feed
    feed.start()


def register(server: RunyardServer) -> None:
    server.follow = lambda project: follow(server, project)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: RunyardServer, _params: types.InitializedParams) -> None:
        await ls.pull_settings()
        await sync_feeds(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: RunyardServer, _params: types.DidChangeConfigurationParams
    ) -> None:
        await ls.pull_settings()

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_folders(
        ls: RunyardServer, _params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        await sync_feeds(ls)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: RunyardServer, _params: Any) -> None:
        for root in list(ls.feeds):
            await ls.feeds.pop(root).stop()
