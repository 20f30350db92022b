"""`runyard init`, `runyard target ...` and `runyard jobs list`: the project's
configuration files (`.runyard/targets/*.yml`, `.runyard/jobs/*.yml`).

Listings show the good files as a table or JSON and report each bad file with its
position (exit 1 when any is bad). `target test` runs the backend's checks and prints
a fix for each failed one; `target trust` shows an SSH host key and writes it to
`~/.ssh/known_hosts` only once the user confirmed it (a terminal answer, or
`--fingerprint`). `runyard.core.config` and the backends are imported inside the
commands, so that other commands do not pay for them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.cli.common import parse_kv, project_of
from runyard.cli.output import emit_json, info, table
from runyard.core.errors import UsageError

if TYPE_CHECKING:
    from runyard.core.config import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `init` and `target` to the CLI's subcommands."""
    s = sub.add_parser("init", help="make a folder a Runyard project")
    s.add_argument("dir", nargs="?", help="folder (default: the current one)")
    s.set_defaults(func=cmd_init)

    t = sub.add_parser("target", help="compute targets").add_subparsers(
        dest="sub", metavar="ACTION"
    )
    t.required = True
    s = t.add_parser("list", help="list targets")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_target_list)
    s = t.add_parser("show", help="show one target")
    s.add_argument("name")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_target_show)
    s = t.add_parser("add", help="add a target")
    s.add_argument("name")
    s.add_argument("--type", required=True, help="target type, e.g. local")
    s.add_argument("--description")
    s.add_argument(
        "--python", help="local: a user-managed interpreter; ssh: the remote python (python3)"
    )
    s.add_argument("--env", action="append", metavar="KEY=VALUE", help="environment variable")
    s.add_argument("--index-url", help="package index for building environments")
    s.add_argument("--system-site-packages", action="store_true")
    s.add_argument("--cancel-grace", type=float, help="seconds between SIGTERM and SIGKILL")
    s.add_argument("--address", help="docker: the engine (unix://, tcp://, ssh://user@host)")
    s.add_argument("--base-image", help="docker: image environments are built on")
    s.add_argument("--image", help="docker: an image used as is (nothing is built)")
    s.add_argument("--gpus", help="docker: 'all' or a number of GPUs per run")
    s.add_argument("--shm-size", help="docker: /dev/shm size, like 2g")
    s.add_argument("--volume", action="append", metavar="SRC:DEST[:ro]", help="docker: data")
    s.add_argument("--ca-bundle", help="docker: CA bundle to trust in builds and runs")
    s.add_argument("--user", help="docker: the user runs have in the container; ssh: login")
    s.add_argument("--host", help="ssh: the remote machine's host name or address")
    s.add_argument("--port", type=int, help="ssh: the SSH port (default 22)")
    s.add_argument("--identity-file", help="ssh: a private key file (default: ssh-agent)")
    s.add_argument("--passphrase-env", help="ssh: environment variable with the key's passphrase")
    s.add_argument("--no-agent", action="store_true", help="ssh: do not use ssh-agent")
    s.add_argument("--workdir", help="ssh: Runyard's folder on the remote (default ~/.runyard)")
    s.add_argument("--master", help="spark: local[N], spark://host:port, yarn or k8s://...")
    s.add_argument("--deploy-mode", choices=["client", "cluster"], help="spark: default client")
    s.add_argument("--conf", action="append", metavar="KEY=VALUE", help="spark: a property")
    s.add_argument("--packages", action="append", help="spark: Maven coordinates, comma-separated")
    s.add_argument("--py-files", action="append", help="spark: extra files for executors")
    s.add_argument("--spark-submit", help="spark: a spark-submit you manage (default: pyspark's)")
    s.add_argument("--master-ui", help="spark: a standalone master's web UI (default :8080)")
    s.add_argument("--force", action="store_true", help="replace an existing target")
    s.set_defaults(func=cmd_target_add)
    s = t.add_parser("remove", help="remove a target")
    s.add_argument("name")
    s.set_defaults(func=cmd_target_remove)
    s = t.add_parser("test", help="check that a target can run")
    s.add_argument("name")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_target_test)
    s = t.add_parser(
        "trust", help="accept the SSH host key of a target's machine (after checking it)"
    )
    s.add_argument("name")
    s.add_argument(
        "--fingerprint", help="the SHA256:... fingerprint you checked; writes it without asking"
    )
    s.set_defaults(func=cmd_target_trust)
    s = t.add_parser("default", help="show or set the default target")
    s.add_argument("name", nargs="?")
    s.set_defaults(func=cmd_target_default)


def register_jobs(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `jobs` to the CLI's subcommands."""
    j = sub.add_parser("jobs", help="run configurations").add_subparsers(
        dest="sub", metavar="ACTION"
    )
    j.required = True
    s = j.add_parser("list", help="list jobs")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_jobs_list)


def cmd_init(args: argparse.Namespace) -> int:
    from runyard.core import config

    folder = Path(args.dir or ".").resolve()
    project, created = config.init_project(folder)
    if created:
        for path in created:
            info(f"created {project.relpath(path)}")
    else:
        info(f"{folder} is already a Runyard project; nothing changed")
    info(f"next: runyard submit train.py   (from {folder})")
    return 0


def _target_json(t: Any) -> dict[str, Any]:
    return {"name": t.name, "type": t.type, "description": t.description, **t.raw}


def _list_configs(
    args: argparse.Namespace,
    good: Sequence[Any],
    bad: Sequence[ConfigError],
    as_json: Any,
    headers: list[str],
    as_row: Any,
) -> int:
    """A listing of target or job files: good ones as a table or JSON, each bad file
    reported with its position; exit 1 when any file is bad."""
    if args.json:
        emit_json(
            [as_json(i) for i in good] + [{"error": str(e), "file": str(e.file)} for e in bad]
        )
    else:
        print(table(headers, [as_row(i) for i in good]))
        for err in bad:
            info(f"error: {err}")
    return 1 if bad else 0


def _split(items: Sequence[Any]) -> tuple[list[Any], list[ConfigError]]:
    from runyard.core.config import ConfigError

    bad = [i for i in items if isinstance(i, ConfigError)]
    return [i for i in items if not isinstance(i, ConfigError)], bad


def cmd_target_list(args: argparse.Namespace) -> int:
    from runyard.runner import operations

    listed = operations.target_list(project_of(args))
    return _list_configs(
        args,
        listed.targets,
        listed.problems,
        lambda t: (
            {"name": t.name, "type": t.type, "description": t.description}
            | dict(t.settings)
            | {"default": t.is_default}
        ),
        ["", "name", "type", "description"],
        lambda t: ("*" if t.is_default else "", t.name, t.type, t.description or ""),
    )


def cmd_target_show(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = project_of(args)
    t = config.load_target(project, args.name)
    if args.json:
        emit_json(_target_json(t))
    else:
        print(f"{t.name} ({t.type})  {project.relpath(t.path)}")
        for key, value in t.raw.items():
            if key != "type":
                print(f"  {key}: {value}")
    return 0


def cmd_target_add(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = project_of(args)
    options: dict[str, Any] = {}
    if args.description:
        options["description"] = args.description
    if args.python:
        options["python"] = args.python
    if args.env:
        options["env"] = parse_kv(args.env, "--env")
    if args.index_url:
        options["index_url"] = args.index_url
    if args.system_site_packages:
        options["system_site_packages"] = True
    if args.cancel_grace is not None:
        options["cancel_grace_seconds"] = args.cancel_grace
    for name in (
        "address", "base_image", "image", "shm_size", "user", "host", "passphrase_env",
        "workdir",
    ):  # fmt: skip
        if getattr(args, name):
            options[name] = getattr(args, name)
    if args.port is not None:
        options["port"] = args.port
    if args.no_agent:
        options["use_agent"] = False
    if args.gpus:
        options["gpus"] = int(args.gpus) if args.gpus.isdigit() else args.gpus
    if args.volume:
        options["volumes"] = list(args.volume)
    if args.identity_file:
        options["identity_file"] = str(Path(args.identity_file).expanduser().absolute())
    if args.ca_bundle:
        options["ca_bundle"] = str(Path(args.ca_bundle).expanduser().resolve())
    for name in ("master", "deploy_mode", "master_ui"):  # spark
        if getattr(args, name):
            options[name] = getattr(args, name)
    if args.conf:
        options["conf"] = parse_kv(args.conf, "--conf")
    for name in ("packages", "py_files"):
        items = [i.strip() for v in getattr(args, name) or () for i in v.split(",") if i.strip()]
        if items:
            options[name] = items
    if args.spark_submit:
        options["spark_submit"] = str(Path(args.spark_submit).expanduser().absolute())
    path = config.write_target(project, args.name, args.type, options, force=args.force)
    info(f"target {args.name!r} written to {project.relpath(path)}")
    info(f"next: runyard target test {args.name}")
    return 0


def cmd_target_remove(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = project_of(args)
    path = config.remove_target(project, args.name)
    info(f"removed {project.relpath(path)}")
    return 0


def cmd_target_default(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = project_of(args)
    if args.name:
        config.set_default_target(project, args.name)
        info(f"default target is now {args.name!r}")
    else:
        print(config.default_target_name(project))
    return 0


def cmd_target_test(args: argparse.Namespace) -> int:
    from runyard.core import config
    from runyard.targets.base import check_target

    project = project_of(args)
    t = config.load_target(project, args.name)
    checks = check_target(t.type, t.raw)
    if args.json:
        emit_json(
            {
                "target": t.name,
                "ok": all(c.ok for c in checks),
                "checks": [c.__dict__ for c in checks],
            }
        )
    else:
        print(f"target {t.name} ({t.type})")
        for c in checks:
            print(f"  {'✓' if c.ok else '✗'} {c.name}: {c.detail}")
            if not c.ok and c.fix:
                print(f"      fix: {c.fix}")
    return 0 if all(c.ok for c in checks) else 1


def cmd_target_trust(args: argparse.Namespace) -> int:
    from runyard.core import config
    from runyard.targets.base import trust_host_key

    project = project_of(args)
    target = config.load_target(project, args.name)
    host, found, _ = trust_host_key(target.type, target.raw, None)
    expected = args.fingerprint
    if expected is None:
        print(f"{host} presents the host key {found}")
        if not sys.stdin.isatty():
            raise UsageError(
                "Not accepting a host key without confirmation.",
                hint=f"check the fingerprint, then run: runyard target trust {args.name} "
                f"--fingerprint {found}",
            )
        answer = input("Is this the key of that machine? Type yes to trust it: ")
        if answer.strip().lower() != "yes":
            info("not trusted; nothing was written")
            return 1
        expected = found
    host, found, written = trust_host_key(target.type, target.raw, expected)
    if written:
        info(f"trusted {host} ({found}) in ~/.ssh/known_hosts")
    else:
        info(f"{host} ({found}) was already trusted")
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = project_of(args)
    return _list_configs(
        args,
        *_split(config.list_jobs(project)),
        lambda j: {
            "name": j.name,
            "script": j.script,
            "module": j.module,
            "args": j.args,
            "target": j.target,
            "experiment": j.experiment,
            "description": j.description,
        },
        ["name", "runs", "target", "description"],
        lambda j: (
            j.name,
            j.script or f"-m {j.module}",
            j.target or "(default)",
            j.description or "",
        ),
    )
