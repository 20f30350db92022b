"""`runyard env prune`: delete the cached run environments of a project's targets
(what is kept and when it asks: `cmd_env_prune`).

Local and spark targets share this machine's venvs (with the aliases of specs that
resolve to the same packages as another's venv: `runyard.core.envs.prune_local`);
docker targets lose the environment images built on their engine (one pass per engine,
`runyard.targets.docker.prune_images`; an image several specs share by their lock goes
with all its tags, and stays while a live run of any of them uses it); ssh targets the
venvs on their machine (the aliases of shared ones first, `remote/prune_envs.py`) and
the folders that ended runs left there (one pass per machine, workdir and python,
`runyard.targets.ssh.prune`). The backends are imported inside the command, so other
commands do not pay for them.
"""

from __future__ import annotations

import argparse
import sys

from runyard.cli.common import open_store, project_of, reconcile
from runyard.cli.output import emit_json, info
from runyard.core.errors import RunyardError, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `env` to the CLI's subcommands."""
    e = sub.add_parser("env", help="run environments").add_subparsers(
        dest="env_command", required=True, metavar="COMMAND"
    )
    s = e.add_parser(
        "prune",
        help="delete cached environments (venvs here and on ssh targets' machines, images on "
        "docker targets)",
    )
    s.add_argument("--target", help="only this target's environments")
    s.add_argument(
        "--all",
        action="store_true",
        help="on docker engines, also the images other projects or older versions built "
        "(asks first); images live runs use are always kept",
    )
    s.add_argument("--yes", action="store_true", help="with --all: do not ask")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_env_prune)


def cmd_env_prune(args: argparse.Namespace) -> int:
    """Environments are rebuilt on the next run that needs them; live runs keep theirs
    (a venv or image in use is skipped). On docker engines only the images this project
    built go; `--all` takes those of other projects and older Runyard versions too, once
    confirmed (`--yes`, else a question on the terminal; with no terminal it refuses)."""
    from collections.abc import Callable

    from runyard.core import config

    if args.all and not args.yes and not sys.stdin.isatty():
        raise UsageError(
            "`runyard env prune --all` also removes the environment images other projects "
            "(and older Runyard versions) built on the engine, and asks first; there is no "
            "terminal to ask.",
            hint="confirm with --yes (runyard env prune --all --yes), or leave out --all to "
            "remove only this project's images",
        )
    project = project_of(args)
    with open_store(project) as store:
        reconcile(project, store)
        busy = {r.env_hash for r in store.live_runs() if r.env_hash}
        runs = store.list_runs()
    targets = (
        [config.load_target(project, args.target)]
        if args.target
        else [t for t in config.list_targets(project) if isinstance(t, config.TargetConfig)]
    )
    removed: list[dict[str, str]] = []
    # local and spark targets share this machine's venvs, and specs that resolve the
    # same share one venv through an alias (`envs.prune_local` keeps what live runs reach)
    if any(t.type in ("local", "spark") for t in targets):
        from runyard.core import envs

        for name in envs.prune_local(project.envs_dir, busy):
            removed.append({"target": "local", "environment": name})
    from runyard.targets import docker

    def ask(where: str) -> Callable[[list[str]], bool] | None:
        if not args.all:
            return None

        def confirm(names: list[str]) -> bool:
            if args.yes:
                return True
            info(
                f"{len(names)} environment images on {where} were built by other projects "
                f"or an older Runyard: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
            )
            sys.stderr.write("Remove them too? [y/N] ")
            sys.stderr.flush()
            return sys.stdin.readline().strip().lower() in ("y", "yes")

        return confirm

    failed = 0
    engines: set[str] = set()
    for t in targets:
        if t.type != "docker" or str(t.raw.get("address")) in engines:
            continue
        engines.add(str(t.raw.get("address")))
        where = docker.describe(t.raw.get("address"))
        ours = {r.env_hash for r in runs if r.env_hash}
        done = docker.prune_images(t.raw, str(project.root), ours, busy, ask(where))
        removed.extend({"target": t.name, "environment": tag} for tag in done.removed)
        if done.in_use:
            info(f"{t.name}: kept {len(done.in_use)} images that live runs use")
        if done.others:
            info(
                f"{t.name}: left {len(done.others)} images other projects or an older Runyard "
                f"built on {where} (runyard env prune --all removes them too)"
            )
        for name, why in done.failed:
            failed += 1
            info(f"{t.name}: could not remove {name}: {why}")
    # ssh targets: the venvs on their machines (one pass per machine and workdir)
    from runyard.targets import ssh

    machines: set[tuple[str, str, str]] = set()
    for t in targets:
        if t.type != "ssh":
            continue
        key = (
            f"{t.raw.get('user')}@{t.raw.get('host')}:{t.raw.get('port') or 22}",
            str(t.raw.get("workdir")),
            str(t.raw.get("python")),
        )
        if key in machines:
            continue
        machines.add(key)
        # the folders ended runs of this project left there (a run lost while it was away)
        ended = [r.id for r in runs if r.target == t.name and not r.live]
        try:
            names, folders = ssh.prune({**t.raw, "name": t.name}, busy, ended)
        except RunyardError as exc:
            failed += 1
            info(f"{t.name}: not pruned: {exc.message}")
            if exc.hint:
                info(f"  {exc.hint}")
            continue
        removed.extend({"target": t.name, "environment": name} for name in names)
        removed.extend({"target": t.name, "run folder": run_id} for run_id in folders)
    if args.json:
        emit_json(removed)
        return 1 if failed else 0
    for item in removed:
        what = item.get("environment") or f"the folder of run {item['run folder']}"
        print(f"{item['target']}: removed {what}")
    envs_removed = sum(1 for item in removed if "environment" in item)
    info(f"{envs_removed} environments removed; runs rebuild them when needed")
    return 1 if failed else 0
