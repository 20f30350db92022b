"""`runyard import aml-workbench|mlflow-project [DIR]`: Runyard's own files written from a
project made for Azure ML Workbench or MLflow, for the user to review and commit.

The mapping lives below the faces (`runyard.core.importers`); this command parses the
arguments, writes the plan and prints the report: one line per file written (and the
file it came from), then the notes (done, with a caveat) and what could not be done,
each naming the file and key it is about. `--json` prints the same as one object. The
exit status is 1 when something could not be done, else 0. Existing files are never
replaced without `--force`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runyard.cli.output import emit_json
from runyard.core.importers import KINDS, ImportReport, Note, plan, write_plan


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `import` command and its two importers."""
    s = subparsers.add_parser(
        "import",
        help="write Runyard's targets and jobs from an Azure ML Workbench or MLflow project",
    )
    kinds = s.add_subparsers(dest="importer", metavar="KIND")
    kinds.required = True
    helps = {
        "aml-workbench": "aml_config/*.compute -> targets, *.runconfig -> jobs",
        "mlflow-project": "MLproject entry points -> jobs, docker_env -> a Docker target",
    }
    for kind in KINDS:
        k = kinds.add_parser(kind, help=helps[kind])
        k.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project folder")
        k.add_argument("--force", action="store_true", help="replace files that are there")
        k.add_argument("--json", action="store_true", help="print the report as JSON")
        if kind == "aml-workbench":
            k.add_argument(
                "--script",
                help="the script of run configurations whose ArgumentVector starts with "
                "$file (default: the project's only top-level .py file)",
            )
        k.set_defaults(func=cmd_import)


def _note(note: Note) -> dict[str, Any]:
    return {"source": note.source, "key": note.key, "message": note.message}


def report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "root": str(report.root),
        "written": [{"path": w.path, "kind": w.kind, "source": w.source} for w in report.written],
        "notes": [_note(n) for n in report.notes],
        "problems": [_note(n) for n in report.problems],
    }


def _where(note: Note) -> str:
    return f"{note.source}" + (f" ({note.key})" if note.key else "")


def cmd_import(args: argparse.Namespace) -> int:
    root = Path(args.dir).expanduser().resolve()
    planned = plan(args.importer, root, script=getattr(args, "script", None))
    report = write_plan(root, planned, force=args.force)
    if args.json:
        emit_json(report_json(report))
        return 0 if report.ok else 1
    lines = []
    for w in report.written:
        lines.append(f"wrote {w.path}  (from {w.source})")
    if not report.written:
        lines.append("wrote nothing")
    if report.notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(f"  {_where(n)}: {n.message}" for n in report.notes)
    if report.problems:
        lines.append("")
        lines.append("not done:")
        lines.extend(f"  {_where(n)}: {n.message}" for n in report.problems)
    if report.written:
        lines.append("")
        lines.append("Review the files, then commit them; `runyard jobs list` shows the jobs.")
    print("\n".join(lines))
    return 0 if report.ok else 1
