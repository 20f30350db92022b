"""A test client for the Runyard language server: the real server in a subprocess over
stdio (pytest-lsp's client with VS Code's capabilities), plus the pushes it collects."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCResponseMessage
from pytest_lsp.client import LanguageClient, client_capabilities, make_test_lsp_client

from runyard.lsp.convert import wire_converter

PUSHES = (
    "runyard/runs/didChange",
    "runyard/runs/logLines",
    "runyard/metrics/points",
    "runyard/config/didChange",
)


def plain(value: Any) -> Any:
    """pygls hands results over as named tuples; make them dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class Session:
    def __init__(
        self,
        root: Path,
        settings: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        """`command` starts the server (default: this interpreter's ``-m runyard.lsp``)."""
        self.root = root
        self.env = env
        self.command = command or [
            sys.executable,
            "-m",
            "runyard.lsp",
            *os.environ.get("RUNYARD_LSP_TEST_ARGS", "").split(),
        ]
        self.client: LanguageClient = make_test_lsp_client()
        # our payloads as plain JSON, not named tuples (see runyard.lsp.convert)
        wire = wire_converter()
        for cls in (JsonRPCResponseMessage, JsonRPCNotification):
            self.client.protocol._converter.register_structure_hook(
                cls, wire.get_structure_hook(cls)
            )
        self.client.set_configuration(settings or {}, section="runyard")
        self.pushes: list[tuple[str, dict[str, Any]]] = []
        for method in PUSHES:
            self.client.feature(method)(self._collector(method))
        self.refreshes = 0

        @self.client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
        def _inlay_refresh(ls: Any, params: Any) -> None:
            self.refreshes += 1

        @self.client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
        def _lens_refresh(ls: Any, params: Any) -> None:
            self.refreshes += 1

    def _collector(self, method: str) -> Callable[[Any, Any], None]:
        def collect(ls: Any, params: Any) -> None:
            self.pushes.append((method, plain(params)))

        return collect

    async def start(self) -> types.InitializeResult:
        env = dict(self.env or os.environ)
        await self.client.start_io(*self.command, env=env)
        uri = self.root.as_uri()
        # VS Code's capabilities as pytest-lsp records them (1.65), plus the inlay hints
        # VS Code has had since 1.67
        caps = client_capabilities("visual-studio-code")
        assert caps.workspace is not None and caps.text_document is not None
        caps.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(refresh_support=True)
        caps.text_document.inlay_hint = types.InlayHintClientCapabilities()
        return await self.client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                root_uri=uri,
                workspace_folders=[types.WorkspaceFolder(uri=uri, name=self.root.name)],
            )
        )

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_session(), 10)
        finally:
            await self.client.stop()

    async def __aenter__(self) -> Session:
        """`async with Session(...) as session:` starts the server and stops it after."""
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def request(self, method: str, params: Any) -> Any:
        result = await asyncio.wait_for(self.client.protocol.send_request_async(method, params), 60)
        return plain(result)

    async def wait_push(
        self, method: str, match: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, params in self.pushes:
                if name == method and match(params):
                    return params
            await asyncio.sleep(0.05)
        seen = [(n, str(p)[:160]) for n, p in self.pushes[-10:]]
        raise AssertionError(f"no {method} push matched within {timeout}s; last pushes: {seen}")

    async def wait_status(self, run_id: str, status: str, timeout: float = 120) -> dict[str, Any]:
        push = await self.wait_push(
            "runyard/runs/didChange",
            lambda p: p["run"]["id"] == run_id and p["run"]["status"] == status,
            timeout,
        )
        run: dict[str, Any] = push["run"]
        return run

    def log_text(self, run_id: str) -> str:
        return "".join(
            p["text"]
            for n, p in self.pushes
            if n == "runyard/runs/logLines" and p["runId"] == run_id
        )

    def metric_values(self, run_id: str, key: str) -> list[Any]:
        out: list[Any] = []
        for name, params in self.pushes:
            if name == "runyard/metrics/points" and params["runId"] == run_id:
                for chunk in params["chunks"]:
                    if chunk["key"] == key:
                        out.extend(chunk["values"])
        return out

    def open(self, path: Path, text: str, language: str = "yaml") -> str:
        uri = path.as_uri()
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )
        return uri

    def change(self, uri: str, version: int, text: str) -> None:
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    async def diagnostics(
        self, uri: str, match: Callable[[list[types.Diagnostic]], bool], timeout: float = 20
    ) -> list[types.Diagnostic]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.client.diagnostics.get(uri)
            if found is not None and match(list(found)):
                return list(found)
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"diagnostics for {uri} never matched; last: {self.client.diagnostics.get(uri)}"
        )
