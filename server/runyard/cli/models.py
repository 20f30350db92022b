"""`runyard model ...`: register files and folders from runs' outputs as model versions,
list and show them, move aliases, copy them out and show their lineage.

`register` returns the `model` command's subcommands so that other modules can add
theirs (`runyard model package`), as `main.build_parser` does; the helpers shared with the
other commands come from `common`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from runyard.cli.common import open_store, parse_kv, project_of, reconcile
from runyard.cli.output import NO_VALUE, emit_json, fmt_size, fmt_time, info, table
from runyard.models import registry

if TYPE_CHECKING:
    from runyard.models.registry import ModelVersion
    from runyard.models.views import Lineage


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add the `model` command; its subcommands, for other modules to add to."""
    m = subparsers.add_parser("model", help="registered models and their versions")
    actions = m.add_subparsers(dest="sub", metavar="ACTION")
    actions.required = True

    s = actions.add_parser(
        "register", help="register a file or folder from a run's outputs as a model version"
    )
    s.add_argument("run", metavar="RUN", help="run id (or a unique part of it)")
    s.add_argument("path", metavar="PATH", help="file or folder, relative to the run's outputs")
    s.add_argument("--name", required=True, help="model name (letters, digits, '-', '_', '.')")
    s.add_argument(
        "--tag", action="append", metavar="KEY=VALUE", help="a tag for the version (repeatable)"
    )
    s.add_argument(
        "--alias", action="append", metavar="ALIAS", help="point an alias at it (repeatable)"
    )
    s.add_argument("--json", action="store_true", help="print the version as JSON")
    s.set_defaults(func=cmd_model_register)

    s = actions.add_parser("list", help="models, or the versions of one model")
    s.add_argument("name", nargs="?", metavar="NAME", help="only this model's versions")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_model_list)

    s = actions.add_parser("show", help="one model version")
    s.add_argument("ref", metavar="REF", help="NAME (the newest), NAME:VERSION or NAME@ALIAS")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_model_show)

    s = actions.add_parser("alias", help="point an alias (e.g. production) at a version")
    s.add_argument("ref", metavar="REF", help="NAME:VERSION (or NAME, NAME@ALIAS)")
    s.add_argument("alias", metavar="ALIAS")
    s.add_argument("--remove", action="store_true", help="remove the alias from model NAME instead")
    s.set_defaults(func=cmd_model_alias)

    s = actions.add_parser("download", help="copy a version's file or folder out")
    s.add_argument("ref", metavar="REF", help="NAME (the newest), NAME:VERSION or NAME@ALIAS")
    s.add_argument(
        "dest", nargs="?", metavar="DEST", help="file or folder to write (default: here)"
    )
    s.set_defaults(func=cmd_model_download)

    s = actions.add_parser(
        "lineage", help="deployments, run, snapshot commit, target and environment of a version"
    )
    s.add_argument("ref", metavar="REF", help="NAME (the newest), NAME:VERSION or NAME@ALIAS")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_model_lineage)
    return actions


def _short(digest: str) -> str:
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}:{hexdigest[:12]}"


def cmd_model_register(args: argparse.Namespace) -> int:
    project = project_of(args)
    tags = parse_kv(args.tag, "--tag")
    with open_store(project) as store:
        reconcile(project, store)
        model = registry.register(
            project, store, args.run, args.path, args.name, tags=tags, aliases=args.alias
        )
    if args.json:
        emit_json(model.to_json())
        return 0
    info(
        f"registered {model.ref} from run {model.run_id} ({model.source_path}, "
        f"{fmt_size(model.size)}, {_short(model.digest)})"
    )
    print(model.ref)
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        models = registry.list_models(project, store, args.name)
    if args.json:
        emit_json([m.to_json() for m in models])
        return 0
    if not models:
        info("no models registered; register one with `runyard model register RUN PATH --name N`")
        return 0
    if args.name is None:
        from runyard.models import views

        rows: list[list[object]] = [
            [
                m.name,
                m.latest.version,
                m.versions,
                ", ".join(m.aliases) or NO_VALUE,
                m.latest.framework or NO_VALUE,
                fmt_time(m.latest.created),
            ]
            for m in views.summaries(models)
        ]
        print(table(["name", "latest", "versions", "aliases", "framework", "registered"], rows))
        return 0
    rows = [
        [
            m.ref,
            ", ".join(m.aliases) or NO_VALUE,
            m.kind,
            m.framework or NO_VALUE,
            fmt_size(m.size),
            m.run_id,
            m.source_path,
            fmt_time(m.created),
        ]
        for m in reversed(models)
    ]
    headers = ["version", "aliases", "kind", "framework", "size", "run", "path", "registered"]
    print(table(headers, rows))
    return 0


def _print_version(model: ModelVersion) -> None:
    print(f"model {model.ref}")
    print(f"  aliases:    {', '.join(model.aliases) or NO_VALUE}")
    print(f"  kind:       {model.kind}")
    print(f"  framework:  {model.framework or NO_VALUE}")
    print(f"  size:       {fmt_size(model.size)} ({model.size} bytes)")
    print(f"  digest:     {model.digest}")
    print(f"  run:        {model.run_id}")
    print(f"  path:       {model.source_path} (in the run's outputs)")
    print(f"  snapshot:   {model.snapshot_commit or NO_VALUE}")
    print(f"  target:     {model.target or NO_VALUE}")
    print(f"  env:        {model.env_hash or NO_VALUE}")
    print(f"  registered: {fmt_time(model.created)}")
    if model.tags:
        print("  tags:")
        for k, v in sorted(model.tags.items()):
            print(f"    {k} = {v}")


def cmd_model_show(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        model = registry.resolve(project, store, args.ref)
    if args.json:
        emit_json(model.to_json())
        return 0
    _print_version(model)
    return 0


def cmd_model_alias(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        if args.remove:
            name, _, _ = registry.parse_ref(args.ref)
            registry.remove_alias(project, store, name, args.alias)
            info(f"removed alias {args.alias} from model {name}")
            return 0
        model = registry.set_alias(project, store, args.ref, args.alias)
    info(f"{model.name}@{args.alias} → {model.ref}")
    return 0


def cmd_model_download(args: argparse.Namespace) -> int:
    project = project_of(args)
    dest = Path(args.dest) if args.dest else Path.cwd()
    with open_store(project) as store:
        written = registry.download(project, store, args.ref, dest)
    print(written)
    return 0


def _lineage_lines(data: Lineage) -> list[str]:
    model = data.model
    run = data.run
    lines: list[str] = []
    for d in data.deployments:
        where = f"{d.host}:{d.port}" if d.host and d.port else NO_VALUE
        lines.append(f"deployment {d.name}  {d.status}  {where}")
    indent = "  " if lines else ""
    lines.append(
        f"{indent}{'└─ ' if indent else ''}model {model.ref}  {model.kind}  "
        f"{model.framework or NO_VALUE}  {_short(model.digest)}"
    )
    pad = indent + ("   " if indent else "") + "  "
    if run.missing:
        lines.append(f"{pad}└─ run {run.id}  (no longer in the store)")
    else:
        lines.append(
            f"{pad}└─ run {run.id}  {run.status}  experiment {run.experiment}  "
            f"script {run.script or NO_VALUE}  (output {model.source_path})"
        )
    pad += "   "
    lines.append(f"{pad}└─ snapshot commit {data.snapshot or NO_VALUE}")
    pad += "   "
    lines.append(f"{pad}└─ target {data.target or NO_VALUE}  env {data.env_hash or NO_VALUE}")
    return lines


def cmd_model_lineage(args: argparse.Namespace) -> int:
    project = project_of(args)
    from runyard.models import views

    with open_store(project) as store:
        data = views.lineage(project, store, args.ref)
    if args.json:
        emit_json(data.to_json())
        return 0
    print("\n".join(_lineage_lines(data)))
    return 0
