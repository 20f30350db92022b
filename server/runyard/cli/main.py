"""The `runyard` command line: a thin face over `runyard.core`."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runyard.cli.output import (
    emit_json,
    fmt_duration,
    fmt_time,
    fmt_value,
    info,
    printable,
    table,
)
from runyard.core.errors import RunyardError, UsageError
from runyard.core.project import Project, find_project
from runyard.core.store import STATUSES, Run, Store, json_number, store_writable
from runyard.runner import runs

STATUS_MARK = {
    "queued": "…",
    "preparing": "…",
    "running": "▶",
    "completed": "✓",
    "failed": "✗",
    "canceled": "■",
    "lost": "?",
}


# ---- helpers ----------------------------------------------------------------------------


def _project(args: argparse.Namespace) -> Project:
    return find_project(Path(args.project) if getattr(args, "project", None) else None)


def _store(project: Project) -> Store:
    return runs.open_store(project)


def _reading_store(project: Project) -> Store:
    """The store for commands that only read it (runs list/show/metrics/restore): opened
    read-only when the state folder cannot be written (a read-only mount), so runs can
    still be listed and shown there."""
    if store_writable(project.store_path):
        return runs.open_store(project)
    return Store(project.store_path, read_only=True)


def _reconcile(project: Project, store: Store) -> None:
    if store.read_only:  # nothing can be brought up to date in a read-only store
        return
    with contextlib.suppress(RunyardError):  # a store that fails to write can still be listed
        runs.reconcile(project, store)


def _parse_kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} is not KEY=VALUE.", hint=f"for example {what} A=1")
        out[key] = value
    return out


def _follow_log(project: Project, store: Store, run_id: str, out: Any) -> Run:
    """Copy the run's log to `out` as it grows, until the run ends. Returns the run."""
    offset = 0
    last_check = 0.0
    checks = 0
    while True:
        data, offset = runs.read_log(project, run_id, offset)
        if data:
            out.write(data)
            out.flush()
        now = time.monotonic()
        if now - last_check >= 0.2:
            last_check = now
            checks += 1
            if checks % 5 == 0:
                runs.reconcile(project, store)
            run = store.get_run(run_id)
            if not run.live:
                data, offset = runs.read_log(project, run_id, offset)
                if data:
                    out.write(data)
                    out.flush()
                return run
        time.sleep(0.01 if not data else 0.0)


def _say_outcome(run: Run) -> None:
    mark = STATUS_MARK.get(run.status, "")
    line = f"run {run.id} {mark} {run.status}"
    if run.duration is not None:
        line += f" in {fmt_duration(run.duration)}"
    if run.reason:
        line += f": {printable(run.reason)}"
    info(line)


# ---- init, targets, jobs ----------------------------------------------------------------


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
    items: Sequence[Any],
    as_json: Any,
    headers: list[str],
    as_row: Any,
) -> int:
    """A listing of target or job files: good ones as a table or JSON, each bad file
    reported with its position; exit 1 when any file is bad."""
    from runyard.core.config import ConfigError

    good = [i for i in items if not isinstance(i, ConfigError)]
    bad = [i for i in items if isinstance(i, ConfigError)]
    if args.json:
        emit_json(
            [as_json(i) for i in good] + [{"error": str(e), "file": str(e.file)} for e in bad]
        )
    else:
        print(table(headers, [as_row(i) for i in good]))
        for err in bad:
            info(f"error: {err}")
    return 1 if bad else 0


def cmd_target_list(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = _project(args)
    try:
        default: str | None = config.default_target_name(project)
    except RunyardError:
        default = None
    return _list_configs(
        args,
        config.list_targets(project),
        lambda t: _target_json(t) | {"default": t.name == default},
        ["", "name", "type", "description"],
        lambda t: ("*" if t.name == default else "", t.name, t.type, t.description or ""),
    )


def cmd_target_show(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = _project(args)
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

    project = _project(args)
    options: dict[str, Any] = {}
    if args.description:
        options["description"] = args.description
    if args.python:
        options["python"] = args.python
    if args.env:
        options["env"] = _parse_kv(args.env, "--env")
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
        options["conf"] = _parse_kv(args.conf, "--conf")
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

    project = _project(args)
    path = config.remove_target(project, args.name)
    info(f"removed {project.relpath(path)}")
    return 0


def cmd_target_default(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = _project(args)
    if args.name:
        config.set_default_target(project, args.name)
        info(f"default target is now {args.name!r}")
    else:
        print(config.default_target_name(project))
    return 0


def cmd_target_test(args: argparse.Namespace) -> int:
    from runyard.core import config
    from runyard.targets.base import check_target

    project = _project(args)
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

    project = _project(args)
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


def cmd_env_prune(args: argparse.Namespace) -> int:
    """Environments are rebuilt on the next run that needs them; live runs keep theirs
    (a venv or image in use is skipped). On docker engines only the images this project
    built go; `--all` takes those of other projects and older Runyard versions too, once
    confirmed (`--yes`, else a question on the terminal; with no terminal it refuses)."""
    import shutil
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
    project = _project(args)
    with _store(project) as store:
        _reconcile(project, store)
        busy = {r.env_hash for r in store.live_runs() if r.env_hash}
        runs = store.list_runs()
    targets = (
        [config.load_target(project, args.target)]
        if args.target
        else [t for t in config.list_targets(project) if isinstance(t, config.TargetConfig)]
    )
    removed: list[dict[str, str]] = []
    # local and spark targets share this machine's venvs
    if any(t.type in ("local", "spark") for t in targets) and project.envs_dir.is_dir():
        for path in sorted(project.envs_dir.iterdir()):
            if path.is_dir() and not path.name.startswith(".") and path.name not in busy:
                shutil.rmtree(path, ignore_errors=True)
                removed.append({"target": "local", "environment": path.name})
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


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from runyard.core import config

    project = _project(args)
    return _list_configs(
        args,
        config.list_jobs(project),
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


# ---- submit -----------------------------------------------------------------------------


def _warn_untracked_secrets(project: Project) -> None:
    """Say which files that look like secrets (.env, id_rsa, *.pem, *.key, credentials)
    the snapshot is about to take although git neither tracks nor ignores them."""
    from runyard.core import snapshot

    try:
        found = snapshot.untracked_secret_files(project)
    except (RunyardError, OSError):
        return  # the snapshot itself reports what is wrong with the repository
    if not found:
        return
    shown = ", ".join(printable(p) for p in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    one = len(found) == 1
    info(
        f"warning: {shown}{more} {'looks like a secret' if one else 'look like secrets'}, "
        f"and git neither tracks nor ignores {'it' if one else 'them'}: "
        f"{'it goes' if one else 'they go'} into this run's snapshot (kept in the project's "
        "git objects) and to the target.\n"
        f"  to leave {'it' if one else 'them'} out, add {'it' if one else 'them'} to "
        f"{snapshot.RUNYARDIGNORE} (gitignore syntax), e.g. `{printable(found[0])}`"
    )


def cmd_submit(args: argparse.Namespace) -> int:
    project = _project(args)
    req = runs.SubmitRequest(
        script=args.script,
        args=list(args.args),
        target=args.target,
        job=args.job,
        experiment=args.experiment,
        module=args.module,
        cwd=Path.cwd(),
    )
    _warn_untracked_secrets(project)
    run = runs.submit(project, req)
    print(run.id, flush=True)
    commit = (run.snapshot_commit or "")[:10]
    info(
        f"run {run.id} queued on target {run.target!r}, experiment {run.experiment!r}, "
        f"snapshot {commit}"
    )
    if args.detach:
        info(f"follow: runyard runs logs -f {run.id}    cancel: runyard runs cancel {run.id}")
        return 0
    store = _store(project)
    try:
        final = _follow_log(project, store, run.id, sys.stdout.buffer)
    except KeyboardInterrupt:
        info(
            f"\ndetached: run {run.id} goes on.\n"
            f"  follow: runyard runs logs -f {run.id}\n"
            f"  cancel: runyard runs cancel {run.id}"
        )
        return 130
    finally:
        store.close()
    _say_outcome(final)
    return runs.exit_code_of(final)


# ---- runs -------------------------------------------------------------------------------


def _sort_runs(items: list[Run], sort: str) -> list[Run]:
    key, _, direction = sort.partition(":")
    direction = direction or ("asc" if key in ("created",) else "desc")
    if direction not in ("asc", "desc"):
        raise UsageError(f"--sort {sort!r}: the direction must be asc or desc.")
    reverse = direction == "desc"

    def value(run: Run) -> float | None:
        if key == "created":
            return run.created
        if key == "duration":
            return run.duration
        v = run.metrics.get(key)
        return None if v is None or math.isnan(v) else v

    have = [r for r in items if value(r) is not None]
    missing = [r for r in items if value(r) is None]
    have.sort(key=lambda r: value(r) or 0.0, reverse=reverse)
    return have + missing


def cmd_runs_list(args: argparse.Namespace) -> int:
    project = _project(args)
    if args.status and args.status not in STATUSES:
        raise UsageError(
            f"--status {args.status!r} is not a run status.", hint="one of: " + ", ".join(STATUSES)
        )
    with _reading_store(project) as store:
        _reconcile(project, store)
        items = store.list_runs(experiment=args.experiment, status=args.status)
    if args.sort:
        items = _sort_runs(items, args.sort)
    if args.limit is not None:
        items = items[: args.limit]
    if args.json:
        emit_json([r.to_json() for r in items])
        return 0
    sort_key = args.sort.partition(":")[0] if args.sort else None

    def metrics_cell(run: Run) -> str:
        keys = sorted(run.metrics)
        if sort_key in run.metrics:
            keys.remove(sort_key)
            keys.insert(0, sort_key)
        shown = [f"{k}={fmt_value(run.metrics[k])}" for k in keys[:4]]
        return " ".join(shown) + (" …" if len(keys) > 4 else "")

    rows = [
        (
            r.id,
            r.experiment,
            f"{STATUS_MARK.get(r.status, '')} {r.status}",
            r.target,
            fmt_time(r.created),
            fmt_duration(r.duration),
            metrics_cell(r),
        )
        for r in items
    ]
    if not rows:
        info("no runs yet: runyard submit train.py")
        return 0
    print(table(["id", "experiment", "status", "target", "created", "duration", "metrics"], rows))
    return 0


def _run_details(project: Project, store: Store, run: Run) -> dict[str, Any]:
    data = run.to_json()
    data["params"] = store.params(run.id)
    data["tags"] = store.tags(run.id)
    data["history"] = [
        {"status": s, "time": t, "reason": r} for s, t, r in store.status_history(run.id)
    ]
    data["artifacts"] = [{"path": p, "size": s} for p, s in store.artifacts(run.id)]
    data["outputs_dir"] = str(runs.outputs_dir(project, run.id))
    data["log"] = str(runs.log_path(project, run.id))
    data["metrics_summary"] = [
        {k: (json_number(v) if isinstance(v, float) else v) for k, v in m.items()}
        for m in store.metric_summary(run.id)
    ]
    return data


def cmd_runs_show(args: argparse.Namespace) -> int:
    project = _project(args)
    with _reading_store(project) as store:
        _reconcile(project, store)
        run = runs.get_run(project, store, args.id)
        if args.json:
            emit_json(_run_details(project, store, run))
            return 0
        out = printable  # names and values come from the run: no raw control characters
        print(f"run {run.id}  {STATUS_MARK.get(run.status, '')} {run.status}")
        if run.reason:
            print(f"  reason:     {out(run.reason)}")
        print(f"  experiment: {out(run.experiment)}")
        print(f"  target:     {out(run.target)} ({run.target_type})")
        if run.job:
            print(f"  job:        {out(run.job)}")
        print(f"  command:    {out(' '.join(run.command))}")
        print(f"  snapshot:   {run.snapshot_commit or '-'}  ({run.snapshot_ref or '-'})")
        print(f"  env:        {run.env_hash or '-'}")
        print(f"  created:    {fmt_time(run.created)}")
        print(f"  duration:   {fmt_duration(run.duration)}")
        if run.exit_code is not None:
            print(f"  exit code:  {run.exit_code}")
        params = store.params(run.id)
        if params:
            print("  params:")
            for k, v in params.items():
                print(f"    {out(k)} = {out(v)}")
        tags = store.tags(run.id)
        if tags:
            print("  tags:")
            for k, v in tags.items():
                print(f"    {out(k)} = {out(v)}")
        summary = store.metric_summary(run.id)
        if summary:
            print("  metrics:")
            for m in summary:
                print(
                    f"    {out(m['key'])} = {fmt_value(m['last'])} (step {m['step']}, "
                    f"min {fmt_value(m['min'])}, max {fmt_value(m['max'])}, {m['count']} points)"
                )
        arts = store.artifacts(run.id)
        if arts:
            print(f"  outputs:    {out(project.relpath(runs.outputs_dir(project, run.id)))}/")
            for p, s in arts[:20]:
                print(f"    {out(p)} ({s} bytes)")
            if len(arts) > 20:
                print(f"    … and {len(arts) - 20} more")
        print("  history:")
        for status, ts, reason in store.status_history(run.id):
            print(f"    {fmt_time(ts)}  {status}" + (f"  {out(reason)}" if reason else ""))
    return 0


def cmd_runs_logs(args: argparse.Namespace) -> int:
    project = _project(args)
    with _store(project) as store:
        run = runs.get_run(project, store, args.id)
        if args.follow:
            try:
                final = _follow_log(project, store, run.id, sys.stdout.buffer)
            except KeyboardInterrupt:
                return 130
            _say_outcome(final)
            return 0
        data, _ = runs.read_log(project, run.id)
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def cmd_runs_metrics(args: argparse.Namespace) -> int:
    project = _project(args)
    with _reading_store(project) as store:
        run = runs.get_run(project, store, args.id)
        if args.follow:
            return _follow_metrics(project, store, run, args.key)
        if args.json:
            points = store.metric_points(run.id, key=args.key)
            emit_json(
                [
                    {"key": k, "step": s, "time": w, "value": json_number(v)}
                    for _c, k, s, w, v in points
                ]
            )
            return 0
        if args.key:
            points = store.metric_points(run.id, key=args.key)
            if not points:
                raise UsageError(
                    f"Run {run.id} has no metric {args.key!r}.",
                    hint="see `runyard runs metrics " + run.id + "` for its keys",
                )
            print(
                table(
                    ["step", "value", "time"],
                    [(s, fmt_value(v), fmt_time(w)) for _c, _k, s, w, v in points],
                )
            )
            return 0
        summary = store.metric_summary(run.id)
        if not summary:
            info(f"run {run.id} has logged no metrics yet")
            return 0
        print(
            table(
                ["key", "last", "step", "min", "max", "points"],
                [
                    (
                        m["key"],
                        fmt_value(m["last"]),
                        m["step"],
                        fmt_value(m["min"]),
                        fmt_value(m["max"]),
                        m["count"],
                    )
                    for m in summary
                ],
            )
        )
    return 0


def _follow_metrics(project: Project, store: Store, run: Run, key: str | None) -> int:
    cursor = 0
    checks = 0
    try:
        while True:
            live = store.get_run(run.id).live
            points = store.metric_points(run.id, key=key, after=cursor)
            for c, k, s, _w, v in points:
                print(f"{printable(k)}\t{s}\t{fmt_value(v)}", flush=True)
                cursor = c
            if not live and not points:
                break
            checks += 1
            if checks % 10 == 0 and not store.read_only:
                runs.reconcile(project, store)
            time.sleep(0.25)
    except KeyboardInterrupt:
        return 130
    _say_outcome(store.get_run(run.id))
    return 0


def cmd_runs_wait(args: argparse.Namespace) -> int:
    project = _project(args)
    with _store(project) as store:
        run = runs.get_run(project, store, args.id)
        try:
            final = runs.wait(project, store, run.id, timeout=args.timeout)
        except KeyboardInterrupt:
            return 130
    if final.live:
        info(f"run {final.id} is still {final.status} after {args.timeout:g}s")
        return 124
    _say_outcome(final)
    return runs.exit_code_of(final)


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    project = _project(args)
    with _store(project) as store:
        run = runs.get_run(project, store, args.id)
        if not runs.cancel(project, store, run.id):
            info(f"run {run.id} already ended ({run.status}); nothing to cancel")
            return 0
        info(f"canceling run {run.id}…")
        if args.no_wait:
            return 0
        grace = float(run.options.get("cancel_grace_seconds", 10))
        final = runs.wait(project, store, run.id, timeout=grace + 30)
    _say_outcome(final)
    return 0 if not final.live else 1


def cmd_runs_compare(args: argparse.Namespace) -> int:
    project = _project(args)
    with _store(project) as store:
        chosen = [runs.get_run(project, store, i) for i in args.ids]
        params = {r.id: store.params(r.id) for r in chosen}
    if args.json:
        emit_json([r.to_json() | {"params": params[r.id]} for r in chosen])
        return 0
    rows: list[tuple[str, ...]] = []

    def add(label: str, values: list[str]) -> None:
        mark = "*" if len(set(values)) > 1 else ""
        rows.append((mark, label, *values))

    add("status", [r.status for r in chosen])
    add("experiment", [r.experiment for r in chosen])
    add("target", [r.target for r in chosen])
    add("duration", [fmt_duration(r.duration) for r in chosen])
    add("snapshot", [(r.snapshot_commit or "-")[:10] for r in chosen])
    for key in sorted({k for p in params.values() for k in p}):
        add(f"param {key}", [params[r.id].get(key, "-") for r in chosen])
    for key in sorted({k for r in chosen for k in r.metrics}):
        add(f"metric {key}", [fmt_value(r.metrics.get(key)) for r in chosen])
    print(table(["", "", *[r.id for r in chosen]], rows))
    return 0


def cmd_runs_restore(args: argparse.Namespace) -> int:
    from runyard.core import snapshot

    project = _project(args)
    with _reading_store(project) as store:
        run = runs.get_run(project, store, args.id)
    if not run.snapshot_commit:
        raise UsageError(f"Run {run.id} has no snapshot (it failed before one was taken).")
    dest = Path(args.to).resolve() if args.to else project.root
    written = snapshot.restore_snapshot(project, run.snapshot_commit, dest, force=args.force)
    info(f"restored {len(written)} files of run {run.id} into {dest}")
    return 0


def cmd_runs_diff(args: argparse.Namespace) -> int:
    from runyard.core import snapshot

    project = _project(args)
    with _store(project) as store:
        a = runs.get_run(project, store, args.id)
        b = runs.get_run(project, store, args.other) if args.other else None
    for r in (a, b):
        if r is not None and not r.snapshot_commit:
            raise UsageError(f"Run {r.id} has no snapshot (it failed before one was taken).")
    text = snapshot.diff_snapshots(
        project, a.snapshot_commit or "", b.snapshot_commit if b else None, stat=args.stat
    )
    if not text:
        info("no differences")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


# ---- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="runyard",
        description="Run scripts as tracked runs with exact code snapshots, live logs and metrics.",
    )
    p.add_argument("--project", help="project folder (default: found from the current folder)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    from runyard.cli import deploy, models, tensorboard

    tensorboard.register(sub)
    deploy.register(sub, models.register(sub))
    sub.required = True

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

    j = sub.add_parser("jobs", help="run configurations").add_subparsers(
        dest="sub", metavar="ACTION"
    )
    j.required = True
    s = j.add_parser("list", help="list jobs")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_jobs_list)

    s = sub.add_parser("submit", help="run a script as a tracked run")
    s.add_argument("--target", help="target name (default: the project's default target)")
    s.add_argument("--job", help="job name from .runyard/jobs/")
    s.add_argument("--experiment", help="experiment name (default: the script's name)")
    s.add_argument("--module", "-m", help="run a module instead of a script")
    s.add_argument("--detach", "-d", action="store_true", help="print the run id and return")
    s.add_argument("script", nargs="?", help="the script, relative to the current folder")
    s.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    s.set_defaults(func=cmd_submit)

    r = sub.add_parser("runs", help="list and inspect runs").add_subparsers(
        dest="sub", metavar="ACTION"
    )
    r.required = True
    s = r.add_parser("list", help="list runs, newest first")
    s.add_argument("--experiment")
    s.add_argument("--status")
    s.add_argument("--sort", help="METRIC[:asc|desc], or created/duration")
    s.add_argument("--limit", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_runs_list)
    s = r.add_parser("show", help="a run's details")
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_runs_show)
    s = r.add_parser("logs", help="a run's output")
    s.add_argument("id")
    s.add_argument("-f", "--follow", action="store_true")
    s.set_defaults(func=cmd_runs_logs)
    s = r.add_parser("metrics", help="a run's metrics")
    s.add_argument("id")
    s.add_argument("--key", "-k")
    s.add_argument("--json", action="store_true")
    s.add_argument("-f", "--follow", action="store_true")
    s.set_defaults(func=cmd_runs_metrics)
    s = r.add_parser("wait", help="wait for a run to end; exits with its status")
    s.add_argument("id")
    s.add_argument("--timeout", type=float)
    s.set_defaults(func=cmd_runs_wait)
    s = r.add_parser("cancel", help="cancel a run (SIGTERM, then SIGKILL after a grace period)")
    s.add_argument("id")
    s.add_argument("--no-wait", action="store_true")
    s.set_defaults(func=cmd_runs_cancel)
    s = r.add_parser("compare", help="params and metrics of runs side by side")
    s.add_argument("ids", nargs="+", metavar="ID")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_runs_compare)
    s = r.add_parser("restore", help="write a run's code snapshot out")
    s.add_argument("id")
    s.add_argument("--to", help="folder (default: the project, which needs --force to overwrite)")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_runs_restore)
    s = r.add_parser("diff", help="code difference of a run against the working tree or a run")
    s.add_argument("id")
    s.add_argument("other", nargs="?")
    s.add_argument("--stat", action="store_true")
    s.set_defaults(func=cmd_runs_diff)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except RunyardError as exc:
        sys.stderr.write(f"runyard: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("runyard: interrupted\n")
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if os.environ.get("RUNYARD_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(
            f"runyard: internal error: {type(exc).__name__}: {exc}\n"
            "  set RUNYARD_DEBUG=1 to see where it happened, and please report it\n"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
