"""Code lenses and inlay hints on Python scripts.

- A script that can run (a ``__main__`` guard, or top-level code) gets two lenses:
  "Submit to <default target>" and "Submit to…". They call the client's commands
  ``runyard.submitFile`` (arguments: the file's URI and the target name) and
  ``runyard.submitFilePick`` (the URI); the client then sends ``runyard/runs/submit``.
- Beside each literal metric name in ``runyard.log_metric("name", …)`` /
  ``log_metrics({"name": …})`` an inlay hint shows that metric's final value in the
  latest completed run of the script (runs of this file, else of its experiment).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from runyard.core.formatting import fmt_value
from runyard.core.project import RUNYARD_DIR, Project
from runyard.lsp.server import RunyardServer, line_at, project_at, to_utf16, uri_to_path

SUBMIT_FILE = "runyard.submitFile"
SUBMIT_FILE_PICK = "runyard.submitFilePick"


def _script_project(uri: str) -> tuple[Path, Project] | None:
    if not uri.endswith(".py"):
        return None
    path = uri_to_path(uri)
    project = project_at(path.parent)
    if project is None:
        return None
    try:
        rel = path.resolve().relative_to(project.root.resolve())
    except ValueError:
        return None
    if rel.parts and rel.parts[0] in (RUNYARD_DIR, ".git"):
        return None
    return path, project


def latest_values(
    project: Project, script: str, experiment: str
) -> tuple[str, float, dict[str, float]] | None:
    """(run id, end time, metrics) of the newest completed run of `script` (a path
    relative to the project), else of `experiment`; None when there is none."""
    from runyard.core.store import Store, store_exists

    if not store_exists(project.store_path):
        return None
    with Store(project.store_path) as store:
        for where in ({"search": None}, {"experiment": experiment}):
            found, _total = store.query_runs(
                statuses=["completed"],
                experiment=where.get("experiment"),
                limit=50,
            )
            for run in found:
                if where.get("experiment") is None and run.script != script:
                    continue
                return run.id, run.ended or run.created, run.metrics
    return None


async def _script(ls: RunyardServer, uri: str, setting: str) -> tuple[Path, Project, str] | None:
    """(path, project, text) of a script the feature named by `setting` applies to."""
    await ls.ready()
    if not getattr(ls.settings, setting):
        return None
    found = _script_project(uri)
    if found is None:
        return None
    return found[0], found[1], ls.workspace.get_text_document(uri).source


def register(server: RunyardServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    async def code_lens(ls: RunyardServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        from runyard.lsp import pyintel
        from runyard.lsp.features.targets import default_target

        uri = params.text_document.uri
        script = await _script(ls, uri, "code_lens")
        if script is None:
            return []
        _path, project, text = script
        info = pyintel.runnable(text)
        if info is None:
            return []
        target = await ls.blocking(default_target, ls, project)
        where = types.Range(types.Position(info.line, 0), types.Position(info.line, 0))
        lenses = []
        if target:
            lenses.append(
                types.CodeLens(
                    range=where,
                    command=types.Command(
                        title=f"$(play) Submit to {target}",
                        command=SUBMIT_FILE,
                        arguments=[uri, target],
                    ),
                )
            )
        lenses.append(
            types.CodeLens(
                range=where,
                command=types.Command(
                    title="Submit to…", command=SUBMIT_FILE_PICK, arguments=[uri]
                ),
            )
        )
        return lenses

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    async def inlay_hints(
        ls: RunyardServer, params: types.InlayHintParams
    ) -> list[types.InlayHint]:
        from runyard.lsp import pyintel

        uri = params.text_document.uri
        script = await _script(ls, uri, "inlay_hints")
        if script is None:
            return []
        path, project, text = script
        calls = [
            c
            for c in pyintel.metric_calls(text)
            if params.range.start.line <= c.line <= params.range.end.line
        ]
        if not calls:
            return []
        rel = path.resolve().relative_to(project.root.resolve()).as_posix()
        latest = await ls.blocking(latest_values, project, rel, path.stem)
        if latest is None:
            return []
        run_id, ended, metrics = latest
        hints: list[types.InlayHint] = []
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(ended))
        for call in calls:
            if call.name not in metrics:
                continue
            value: Any = metrics[call.name]
            hints.append(
                types.InlayHint(
                    position=types.Position(
                        call.line, to_utf16(line_at(text, call.line), call.character)
                    ),
                    label=f"= {fmt_value(value)}",
                    kind=types.InlayHintKind.Type,
                    padding_left=True,
                    tooltip=f"{call.name} at the end of run {run_id} (completed {when})",
                )
            )
        return hints
