"""`runyard store`: which run store the project uses, and moving its history.

* `runyard store show [--json]`: the store in use (the SQLite file, or the team's
  PostgreSQL URL without its password), where that was decided (`RUNYARD_STORE_URL`,
  `.runyard/config.yml` and its line, or the default) and its schema version.
* `runyard store migrate --to URL [--json]`: copies the project's local history (its
  SQLite store under `.runyard/state`) into the store at URL, usually the team's
  PostgreSQL store, and checks the counts (`runyard.core.store.copy`). Running it again
  changes nothing. Progress goes to stderr a batch at a time; the summary (or with
  `--json` one JSON object) to stdout. URL carries no password: libpq finds it in
  `PGPASSWORD`, `~/.pgpass` or a service file, so it never lands in shell history.
"""

from __future__ import annotations

import argparse

from runyard.cli.common import project_of, reading_store
from runyard.cli.output import emit_json, info
from runyard.core.errors import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `store` command and its subcommands to the CLI's subcommands."""
    s = subparsers.add_parser("store", help="the run store: show it, move history into a team's")
    sub = s.add_subparsers(dest="store_command", metavar="SUBCOMMAND")
    sub.required = True
    show = sub.add_parser("show", help="the store this project uses and where that is set")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=cmd_show)
    m = sub.add_parser(
        "migrate",
        help="copy this project's local run history into another store (a team's PostgreSQL)",
    )
    m.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="the store to copy into, e.g. postgresql://db.example.com/runyard "
        "(no password: libpq reads PGPASSWORD, ~/.pgpass or a service file)",
    )
    m.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    m.set_defaults(func=cmd_migrate)


def cmd_show(args: argparse.Namespace) -> int:
    from runyard.core.config.settings import store_setting

    project = project_of(args)
    setting = store_setting(project.root)
    with reading_store(project) as store:
        data = {
            "engine": store.dialect,
            "location": store.location,
            "source": setting.source,
            "schema_version": store.schema_version,
        }
    if args.json:
        emit_json(data)
    else:
        print(f"{data['location']}  ({data['engine']}, schema {data['schema_version']})")
        print(f"set by: {data['source']}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from runyard.core.config.settings import redact_url, url_has_password
    from runyard.core.store import LOCAL, Store
    from runyard.core.store.copy import copy_store

    project = project_of(args)
    url = args.to.strip()
    if url_has_password(url):
        raise UsageError(
            f"--to {redact_url(url)}: the URL holds a password, which would stay in the "
            "shell's history; nothing was copied.",
            hint="give the password to libpq instead: PGPASSWORD, ~/.pgpass or a service file",
        )
    if not url.lower().startswith(("postgresql:", "postgres:")):
        raise UsageError(
            f"--to {url!r} is not a PostgreSQL URL; nothing was copied.",
            hint="for example --to postgresql://db.example.com/runyard",
        )
    if not project.store_path.exists():
        raise UsageError(
            f"This project has no local run history ({project.relpath(project.store_path)} "
            "does not exist); nothing to copy."
        )

    def progress(done: int, total: int) -> None:
        info(f"copied {done} of {total} runs")

    with (
        Store(project.store_path, url=LOCAL) as source,
        Store(project.store_path, url=url) as target,
    ):
        result = copy_store(source, target, progress)
    if args.json:
        emit_json(result.to_json())
        return 0
    print(
        f"{result.runs_copied} runs copied ({result.points:,} metric points), "
        f"{result.runs_present} already in {result.target}; "
        f"{result.models} model versions, {result.aliases} aliases, "
        f"{result.deployments} deployments copied. Counts checked."
    )
    if result.live:
        print(
            f"{len(result.live)} live runs not copied (they are still writing here): "
            f"{', '.join(result.live[:5])}{' ...' if len(result.live) > 5 else ''}; "
            "run the migration again once they ended"
        )
    if result.differ:
        print(
            f"{len(result.differ)} runs already in the target differ from here and were kept "
            f"as they are there: {', '.join(result.differ[:5])}"
        )
    return 0
