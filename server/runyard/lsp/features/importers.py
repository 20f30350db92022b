"""``runyard/project/import``: Runyard's targets and jobs written from a project made for
Azure ML Workbench or MLflow, as `runyard import` writes them (`runyard.core.importers`
does the mapping; this handler only turns its report into the protocol's types).

The editor asks for it when it opens a folder that has ``aml_config/`` or ``MLproject``
and no ``.runyard/`` and the user accepts the offer; the files written are then
opened for review. The folder becomes a project, so its live feed starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runyard.core.errors import UsageError
from runyard.lsp import protocol as p
from runyard.lsp.server import RunyardServer, request, uri_to_path

if TYPE_CHECKING:
    from runyard.core.importers import Note


def _note(note: Note) -> p.ImportNote:
    return p.ImportNote(source=note.source, message=note.message, key=note.key)


def register(server: RunyardServer) -> None:
    @request(server, p.PROJECT_IMPORT)
    async def project_import(
        ls: RunyardServer, params: p.ProjectImportParams
    ) -> p.ProjectImportResult:
        from runyard.core import importers

        folder = uri_to_path(params.folder)
        if not folder.is_absolute():
            raise UsageError(f"params.folder: expected an absolute folder, got {params.folder!r}.")
        kind = params.kind or importers.detect(folder)
        if kind is None:
            raise UsageError(
                f"{folder} has neither aml_config/ nor an MLproject file: nothing to import.",
                hint="give params.kind (aml-workbench or mlflow-project)",
            )

        def work() -> importers.ImportReport:
            planned = importers.plan(kind, folder, script=params.script)
            return importers.write_plan(folder, planned, force=params.force)

        report = await ls.blocking(work)
        from runyard.lsp.features.lifecycle import sync_feeds

        await sync_feeds(ls)
        return p.ProjectImportResult(
            root=str(report.root),
            kind=report.kind,
            written=[w.path for w in report.written],
            notes=[_note(n) for n in report.notes],
            problems=[_note(n) for n in report.problems],
        )
