"""Diagnostics, completion and hover for ``.runyard/targets/*.yml``, ``.runyard/jobs/*.yml``
and ``.runyard/sweeps/*.yml``.

Diagnostics come from the JSON Schema and the semantic checks in `core.config`
(ranges on the offending key or value) plus the checks that need the project (a job's
script and target exist, a sweep's job and targets exist). They are recomputed on every change, off the event loop; a
result that a newer edit has overtaken is dropped instead of published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from lsprotocol import types

from runyard.core.project import RUNYARD_DIR
from runyard.lsp.server import (
    RunyardServer,
    from_utf16,
    line_at,
    project_at,
    to_utf16,
    uri_to_path,
)

Kind = Literal["target", "job", "sweep"]
SUFFIXES = (".yml", ".yaml")


def config_kind(path: Path) -> Kind | None:
    """ "target", "job" or "sweep" for a file in a project's targets, jobs or sweeps
    folder."""
    if path.suffix not in SUFFIXES or len(path.parts) < 3:
        return None
    if path.parts[-3] != RUNYARD_DIR:
        return None
    folders = {"targets": "target", "jobs": "job", "sweeps": "sweep"}
    return folders.get(path.parts[-2])  # type: ignore[return-value]


def _range(err: Any, lines: list[str]) -> types.Range:
    def line(n: int) -> str:
        return lines[n] if 0 <= n < len(lines) else ""

    if err.line is None:
        first = to_utf16(line(0), len(line(0)))
        return types.Range(types.Position(0, 0), types.Position(0, first))
    start_line = err.line - 1
    start_col = max(0, (err.column or 1) - 1)
    end_line = (err.end_line or err.line) - 1
    end_col = (err.end_column or (err.column or 1) + 1) - 1
    if (end_line, end_col) <= (start_line, start_col):
        end_line, end_col = start_line, start_col + 1
    return types.Range(
        types.Position(start_line, to_utf16(line(start_line), start_col)),
        types.Position(end_line, to_utf16(line(end_line), end_col)),
    )


def diagnostics_for(text: str, kind: Kind, path: Path) -> list[types.Diagnostic]:
    from runyard.core import config

    project = project_at(path.parent)
    errors = config.validate_document(text, kind, path, project=project)
    lines = text.splitlines()
    out = []
    for err in errors:
        message = err.detail
        if err.hint:
            message += f"\nNext: {err.hint}"
        out.append(
            types.Diagnostic(
                range=_range(err, lines),
                message=message,
                severity=types.DiagnosticSeverity.Error,
                source="runyard",
            )
        )
    return out


class Diagnostics:
    """Validates open config documents, newest version wins."""

    def __init__(self, server: RunyardServer) -> None:
        self.server = server
        self.running: set[str] = set()
        self.dirty: set[str] = set()

    async def update(self, uri: str) -> None:
        if uri in self.running:
            self.dirty.add(uri)  # validate again when the current run finishes
            return
        self.running.add(uri)
        try:
            while True:
                self.dirty.discard(uri)
                await self._validate(uri)
                if uri not in self.dirty:
                    break
        finally:
            self.running.discard(uri)

    async def _validate(self, uri: str) -> None:
        path = uri_to_path(uri)
        kind = config_kind(path)
        if kind is None:
            return
        try:
            doc = self.server.workspace.get_text_document(uri)
            text, version = doc.source, doc.version
        except Exception:
            return
        found = await self.server.blocking(diagnostics_for, text, kind, path)
        current = self.server.workspace.text_documents.get(uri)
        if current is None or current.version != version:
            return  # closed or edited meanwhile: the next validation publishes
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=version)
        )

    def clear(self, uri: str) -> None:
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    async def update_all(self) -> None:
        for uri in list(self.server.workspace.text_documents):
            if config_kind(uri_to_path(uri)) is not None:
                await self.update(uri)


def _target_type(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("type:"):
            value = line[len("type:") :].split("#", 1)[0].strip().strip("'\"")
            return value or None
    return None


def register(server: RunyardServer) -> None:
    diags = Diagnostics(server)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: RunyardServer, params: types.DidOpenTextDocumentParams) -> None:
        await diags.update(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: RunyardServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        await diags.update(uri)
        if config_kind(uri_to_path(uri)) in ("target", "job"):
            await diags.update_all()  # jobs name targets; sweeps name jobs and targets

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: RunyardServer, params: types.DidSaveTextDocumentParams) -> None:
        await diags.update_all()

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: RunyardServer, params: types.DidCloseTextDocumentParams) -> None:
        if config_kind(uri_to_path(params.text_document.uri)) is not None:
            diags.clear(params.text_document.uri)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[":", " ", "/"]),
    )
    async def completion(
        ls: RunyardServer, params: types.CompletionParams
    ) -> types.CompletionList | None:
        from runyard.lsp import yamlintel

        uri = params.text_document.uri
        path = uri_to_path(uri)
        kind = config_kind(path)
        if kind is None:
            return None
        text = ls.workspace.get_text_document(uri).source
        pos = params.position
        column = from_utf16(line_at(text, pos.line), pos.character)
        project = project_at(path.parent)
        items = await ls.blocking(
            lambda: yamlintel.complete(
                text, kind, pos.line, column, project, target_type=_target_type(text)
            )
        )
        kinds = {
            "field": types.CompletionItemKind.Field,
            "value": types.CompletionItemKind.EnumMember,
            "target": types.CompletionItemKind.Reference,
            "job": types.CompletionItemKind.Reference,
            "file": types.CompletionItemKind.File,
        }
        out = []
        for item in items:
            edit = None
            if item.range is not None:
                r = item.range
                edit = types.TextEdit(
                    range=types.Range(
                        types.Position(r.line, to_utf16(line_at(text, r.line), r.character)),
                        types.Position(
                            r.end_line, to_utf16(line_at(text, r.end_line), r.end_character)
                        ),
                    ),
                    new_text=item.insert_text,
                )
            out.append(
                types.CompletionItem(
                    label=item.label,
                    kind=kinds.get(item.kind),
                    detail=item.detail,
                    documentation=types.MarkupContent(
                        kind=types.MarkupKind.Markdown, value=item.documentation
                    )
                    if item.documentation
                    else None,
                    insert_text=None if edit else item.insert_text,
                    text_edit=edit,
                    sort_text=item.sort_text,
                )
            )
        return types.CompletionList(is_incomplete=False, items=out)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: RunyardServer, params: types.HoverParams) -> types.Hover | None:
        from runyard.lsp import yamlintel

        uri = params.text_document.uri
        kind = config_kind(uri_to_path(uri))
        if kind is None:
            return None
        text = ls.workspace.get_text_document(uri).source
        pos = params.position
        column = from_utf16(line_at(text, pos.line), pos.character)
        info = await ls.blocking(yamlintel.hover, text, kind, pos.line, column)
        if info is None:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=info.markdown),
            range=types.Range(
                types.Position(info.line, to_utf16(line_at(text, info.line), info.character)),
                types.Position(
                    info.end_line, to_utf16(line_at(text, info.end_line), info.end_character)
                ),
            ),
        )

    server.on_settings_changed.append(diags.update_all)
    server.on_config_changed.append(diags.update_all)
