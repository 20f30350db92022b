"""`runyard model package`, `runyard deploy` and `runyard deployment ...`: models as
Docker images serving HTTP, run on docker targets (see `runyard.models.package` and
`runyard.models.deploy`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runyard.cli.common import open_store, project_of
from runyard.cli.output import NO_VALUE, emit_json, fmt_time, fmt_value, info, table
from runyard.core.errors import UsageError


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    model_actions: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> None:
    """Add `deploy` and `deployment` to the CLI, and `package` to the `model` command."""
    if model_actions is not None:
        s = model_actions.add_parser(
            "package", help="build a Docker image that serves a model version over HTTP"
        )
        s.add_argument("ref", metavar="NAME:VERSION", help="NAME, NAME:VERSION or NAME@ALIAS")
        s.add_argument(
            "--score",
            required=True,
            type=Path,
            help="scoring script with init(model_path) and run(payload)",
        )
        s.add_argument("--target", help="docker target (default: the project's default)")
        s.add_argument("--json", action="store_true")
        s.set_defaults(func=cmd_model_package)

    s = subparsers.add_parser("deploy", help="run a packaged model version as a web service")
    s.add_argument("ref", metavar="NAME:VERSION", help="NAME, NAME:VERSION or NAME@ALIAS")
    s.add_argument("--name", help="the deployment's name (default: NAME-VERSION)")
    s.add_argument("--target", help="docker target (default: the project's default)")
    s.add_argument("--port", type=int, help="port on the engine's machine (default: a free one)")
    s.add_argument("--host", default="127.0.0.1", help="address to publish on (default 127.0.0.1)")
    s.add_argument("--kubernetes", action="store_true", help="write Kubernetes manifests instead")
    s.add_argument(
        "--dry-run", action="store_true", help="with --kubernetes: only write the manifests"
    )
    s.add_argument("--out", type=Path, help="with --kubernetes: folder (default ./k8s/NAME)")
    s.add_argument("--image", help="with --kubernetes: image as the cluster pulls it")
    s.add_argument("--replicas", type=int, default=1, help="with --kubernetes (default 1)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_deploy)

    d = subparsers.add_parser("deployment", help="deployed model services").add_subparsers(
        dest="deployment_command", required=True, metavar="ACTION"
    )
    s = d.add_parser("list", help="deployments, newest first")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_deployment_list)
    s = d.add_parser("show", help="a deployment with its telemetry")
    s.add_argument("name")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_deployment_show)
    s = d.add_parser("logs", help="the service's log")
    s.add_argument("name")
    s.add_argument("--tail", type=int, help="only the last N lines")
    s.set_defaults(func=cmd_deployment_logs)
    s = d.add_parser("stop", help="stop the service and remove its container")
    s.add_argument("name")
    s.set_defaults(func=cmd_deployment_stop)
    s = d.add_parser("invoke", help="POST a JSON payload to the service's /score")
    s.add_argument("name")
    s.add_argument("--data", required=True, type=Path, help="file with the JSON payload")
    s.set_defaults(func=cmd_deployment_invoke)


def _write_build_output(data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.buffer.flush()


def cmd_model_package(args: argparse.Namespace) -> int:
    from runyard.models import package

    project = project_of(args)
    with open_store(project) as store:
        pkg = package.package(
            project, store, args.ref, args.score, args.target, _write_build_output, info
        )
    if args.json:
        emit_json(
            {
                "image": pkg.image,
                "image_id": pkg.image_id,
                "model": pkg.model.ref,
                "digest": pkg.model.digest,
                "target": pkg.target,
                "cached": pkg.cached,
            }
        )
    else:
        print(pkg.image)
        info(f"next: runyard deploy {pkg.model.ref} --target {pkg.target}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from runyard.models import deploy, views
    from runyard.models.registry import resolve

    project = project_of(args)
    if args.kubernetes:
        if not args.dry_run:
            raise UsageError(
                "Runyard does not apply manifests to a cluster: --kubernetes needs --dry-run.",
                hint="runyard deploy NAME:VERSION --kubernetes --dry-run, then "
                "kubectl apply -f the folder it writes",
            )
        with open_store(project) as store:
            model = resolve(project, store, args.ref)
        name = deploy.check_deployment_name(args.name or deploy.default_name(model))
        out = args.out or Path("k8s") / name
        written = deploy.write_manifests(
            deploy.kubernetes_manifests(model, name, args.image, args.replicas), out
        )
        if args.json:
            emit_json([str(p) for p in written])
        else:
            for path in written:
                print(path)
            info(f"apply with: kubectl apply -f {out} (the cluster must be able to pull the image)")
        return 0
    if args.dry_run or args.out or args.image:
        raise UsageError("--dry-run, --out and --image go with --kubernetes.")
    with open_store(project) as store:
        dep = deploy.deploy(
            project, store, args.ref, args.name, args.target, args.port, args.host, info
        )
        made = views.view(store, dep)
    if args.json:
        emit_json(made.to_json(telemetry=False))
    else:
        print(made.url)
        info(
            f"deployment {dep.name} serves {dep.ref}: POST {made.url}/score "
            f"(runyard deployment invoke {dep.name} --data FILE)"
        )
    return 0


def cmd_deployment_list(args: argparse.Namespace) -> int:
    from runyard.models import views

    project = project_of(args)
    with open_store(project) as store:
        # the running ones' telemetry is sampled now (the last sample of a silent one)
        found = views.deployments(project, store)
    if args.json:
        emit_json([v.to_json() for v in found])
        return 0
    rows = []
    for v in found:
        d, t = v.deployment, v.telemetry
        rows.append(
            [
                d.name,
                d.ref,
                d.status,
                d.target,
                v.address or NO_VALUE,
                str(t.requests) if t else NO_VALUE,
                str(t.errors) if t else NO_VALUE,
                fmt_value(t.p50_ms) if t else NO_VALUE,
                fmt_time(d.created),
            ]
        )
    headers = ["name", "model", "status", "target", "address", "requests", "errors", "p50 ms"]
    print(table([*headers, "created"], rows))
    return 0


def cmd_deployment_show(args: argparse.Namespace) -> int:
    from runyard.models import views

    project = project_of(args)
    with open_store(project) as store:
        shown = views.deployment(project, store, args.name)
    if args.json:
        emit_json(shown.to_json())
        return 0
    dep, telemetry = shown.deployment, shown.telemetry
    lines = [
        f"deployment {dep.name}  {dep.status}",
        f"model      {dep.ref}  {dep.options.get('digest', '')}",
        f"target     {dep.target}",
        f"image      {dep.image}",
        f"address    {shown.url or NO_VALUE}",
        f"created    {fmt_time(dep.created)}",
    ]
    if dep.stopped:
        lines.append(f"stopped    {fmt_time(dep.stopped)}")
    if telemetry:
        lines += [
            f"requests   {telemetry.requests}",
            f"errors     {telemetry.errors}",
            f"latency    p50 {fmt_value(telemetry.p50_ms)} ms, "
            f"p95 {fmt_value(telemetry.p95_ms)} ms  (at {fmt_time(telemetry.time)})",
        ]
    else:
        lines.append("telemetry  none recorded")
    print("\n".join(lines))
    return 0


def cmd_deployment_logs(args: argparse.Namespace) -> int:
    from runyard.models import deploy

    project = project_of(args)
    with open_store(project) as store:
        sys.stdout.write(deploy.logs(project, store, args.name, args.tail))
    return 0


def cmd_deployment_stop(args: argparse.Namespace) -> int:
    from runyard.models import deploy

    project = project_of(args)
    with open_store(project) as store:
        dep = deploy.stop(project, store, args.name)
    info(f"deployment {dep.name} stopped; its container was removed")
    return 0


def cmd_deployment_invoke(args: argparse.Namespace) -> int:
    from runyard.models import deploy

    project = project_of(args)
    with open_store(project) as store:
        status, answer = deploy.invoke(project, store, args.name, args.data)
    text = answer if isinstance(answer, str) else json.dumps(answer, indent=2)
    print(text)
    if status >= 400:
        info(f"the service answered HTTP {status}")
        return 1
    return 0
