"""`runyard gallery list|show` and `runyard new`: the sample projects of the gallery
catalog (`runyard.gallery.catalog`), and a new project scaffolded from one of them.

Problems in the catalog (a bad entry) are warnings on stderr; the good entries are
still listed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runyard.cli.output import emit_json, info, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `gallery` and `new` to the CLI's subcommands."""
    g = sub.add_parser("gallery", help="sample projects to start from").add_subparsers(
        dest="gallery_command", required=True, metavar="COMMAND"
    )
    s = g.add_parser("list", help="the samples")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_gallery_list)
    s = g.add_parser("show", help="one sample")
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_gallery_show)
    s = sub.add_parser("new", help="create a project from a gallery sample")
    s.add_argument("id", help="the sample (see `runyard gallery list`)")
    s.add_argument("dir", nargs="?", help="folder to create it in (default: ./NAME)")
    s.add_argument("--name", help="the project's name (default: the sample's id)")
    s.add_argument("--force", action="store_true", help="overwrite files already there")
    s.set_defaults(func=cmd_new)


def _catalog() -> Any:
    from runyard.gallery.catalog import load_catalog

    catalog = load_catalog()
    for problem in catalog.problems:
        info(f"warning: {problem.file}: {problem.message}")
    return catalog


def cmd_gallery_list(args: argparse.Namespace) -> int:
    catalog = _catalog()
    if args.json:
        emit_json([e.to_json() for e in catalog.entries])
        return 0
    rows = [
        (
            e.id,
            e.framework,
            e.task,
            f"{e.metric.name} {'≥' if e.metric.goal == 'max' else '≤'} {e.metric.value:g}",
            f"~{e.expected_runtime_seconds}s",
            e.title,
        )
        for e in catalog.entries
    ]
    print(table(["id", "framework", "task", "metric", "cpu time", "title"], rows))
    info("next: runyard gallery show ID, or runyard new ID [DIR]")
    return 0


def cmd_gallery_show(args: argparse.Namespace) -> int:
    entry = _catalog().find(args.id)
    if args.json:
        emit_json(entry.to_json())
        return 0
    print(f"{entry.title}  ({entry.id})")
    print(f"  {entry.description}")
    print(f"  framework:  {entry.framework}    task: {entry.task}")
    print(f"  targets:    {', '.join(entry.targets)}")
    print(f"  reaches:    {entry.metric.name} = {entry.metric.value:g} ({entry.metric.goal})")
    print(f"  cpu time:   about {entry.expected_runtime_seconds} s once its environment is built")
    print(f"  tags:       {', '.join(entry.tags)}")
    print(f"  create it:  runyard new {entry.id} [DIR]")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from runyard.gallery.catalog import scaffold

    entry = _catalog().find(args.id)
    name = args.name or entry.id
    dest = Path(args.dir) if args.dir else Path.cwd() / name
    made = scaffold(entry, dest, name=args.name, force=args.force)
    info(f"created {made.root} from the sample {entry.id!r} ({len(made.files)} files)")
    if made.committed:
        info("made it a git repository with a first commit")
    else:
        info("it is inside an existing git repository: commit the new files when you like")
    info(f"next: {made.next_command}")
    return 0
