"""Deployments: a packaged model (`runyard.models.package`) running as a web service in a
container on a docker target's engine, recorded in the store (a
`runyard.core.store.Deployment`, frozen: a refreshed status is a new value) with its
telemetry.

The container is labelled with the project, the deployment and the model, runs as the
unprivileged user of the image, without the Docker socket, with no new privileges, no
capabilities and pids and memory limits (the target's, as for runs: see
`runyard.targets.docker.container_limits`), and publishes the service
on 127.0.0.1 (unless the user names another address) at the port the user asks for or
one the engine picks. Runyard talks to the service over HTTP; for a remote engine with
the service bound to its loopback, through ``docker exec`` inside the container.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.store import Deployment, Store
from runyard.models.package import (
    LABEL_DIGEST,
    LABEL_MODEL,
    LABEL_VERSION,
    SERVE_PORT,
    docker_target,
    find_image,
    image_tag,
)
from runyard.models.registry import ModelVersion, resolve
from runyard.targets import docker as dockert

log = logging.getLogger("runyard.models.deploy")

LABEL_DEPLOYMENT = "dev.runyard.deployment"
HEALTH_TIMEOUT = 120.0  # seconds for init(model_path) to finish and /health to answer
REQUEST_TIMEOUT = 60.0
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EXEC_CLIENT = """\
import base64, os, sys, urllib.error, urllib.request
body = base64.b64decode(os.environ["RUNYARD_BODY"]) if os.environ.get("RUNYARD_BODY") else None
req = urllib.request.Request("http://127.0.0.1:" + os.environ["PORT"] + sys.argv[2],
                             data=body, method=sys.argv[1],
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=float(os.environ["RUNYARD_TIMEOUT"])) as r:
        status, data = r.status, r.read()
except urllib.error.HTTPError as e:
    status, data = e.code, e.read()
sys.stdout.write(str(status) + "\\n" + data.decode("utf-8", "replace"))
"""


def check_deployment_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid deployment name.",
            hint="use lower-case letters, digits and '-', starting and ending with a letter "
            "or digit (at most 63 characters; Kubernetes needs the same)",
        )
    return name


def default_name(model: ModelVersion) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", model.name.lower()).strip("-")[:50] or "model"
    return f"{base}-{model.version}"


def get(store: Store, name: str) -> Deployment:
    found = store.get_deployment(name)
    if found is None:
        known = [d.name for d in store.list_deployments()]
        raise NotFoundError(
            f"There is no deployment named {name!r}.",
            hint="see `runyard deployment list`"
            + (f" (known: {', '.join(known[:8])})" if known else ""),
        )
    return found


def _container_name(project: Project, name: str) -> str:
    """``runyard-deploy-<name>-<project>``: two projects may each have a deployment of the
    same name on one engine (each has its own host port)."""
    tag = hashlib.sha256(str(project.root).encode()).hexdigest()[:8]
    return f"runyard-deploy-{name}-{tag}"


def _port_free_here(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _port_in_use(host: str, port: int, where: str) -> UsageError:
    return UsageError(
        f"Port {port} on {host} is already in use on {where}.",
        hint="pick another --port, or leave --port out and a free one is chosen",
    )


def _is_local(address: str | None) -> bool:
    scheme = urlparse(address or "").scheme
    return scheme in ("", "unix")


def _log_tail(container: Any, lines: int = 20) -> str:
    with contextlib.suppress(Exception):
        data = container.logs(stdout=True, stderr=True, tail=lines)
        return bytes(data).decode("utf-8", "replace").rstrip()
    return ""


# ---- talking to the service ---------------------------------------------------------------


def _reach_host(options: dict[str, Any], host: str) -> str | None:
    """Where this machine reaches the service, or None (only from inside the container)."""
    if _is_local(options.get("address")):
        return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if host in ("127.0.0.1", "localhost", "::1"):
        return None
    remote = urlparse(str(options.get("address"))).hostname
    return remote if host in ("0.0.0.0", "", "::") else host


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host == "::1"


def request(
    options: dict[str, Any],
    dep: Deployment,
    method: str,
    path: str,
    body: bytes | None = None,
    client: Any = None,
    timeout: float = REQUEST_TIMEOUT,
) -> tuple[int, bytes]:
    """(HTTP status, body) of a request to the deployment's service."""
    reach = _reach_host(options, str(dep.host or "127.0.0.1"))
    if reach is not None:
        url = f"http://{reach}:{dep.port}{path}"
        req = urllib.request.Request(
            url, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        # a proxy from the environment (HTTP_PROXY) cannot reach this machine's loopback
        opener = _DIRECT if _loopback(reach) else urllib.request.build_opener()
        try:
            with opener.open(req, timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RunyardError(
                f"The deployment {dep.name} does not answer at {url} ({reason}).",
                hint=f"see `runyard deployment logs {dep.name}`",
            ) from None
    import docker

    if client is None:
        client = dockert.connect(options)
    env = {"PORT": str(SERVE_PORT), "RUNYARD_TIMEOUT": str(timeout)}
    if body is not None:
        env["RUNYARD_BODY"] = base64.b64encode(body).decode()
    try:
        container = client.containers.get(dep.container_id)
        code, out = container.exec_run(
            ["python", "-c", _EXEC_CLIENT, method, path], environment=env, demux=False
        )
    except docker.errors.APIError as exc:
        # the container is gone or not running (it may have ended between two calls)
        raise RunyardError(
            f"The deployment {dep.name} cannot be reached inside its container: "
            f"{exc.explanation or exc}",
            hint=f"see `runyard deployment logs {dep.name}`",
        ) from None
    text = bytes(out or b"").decode("utf-8", "replace")
    status, _, rest = text.partition("\n")
    if code != 0 or not status.isdigit():
        raise RunyardError(
            f"The deployment {dep.name} does not answer inside its container: {text[-500:]}",
            hint=f"see `runyard deployment logs {dep.name}`",
        )
    return int(status), rest.encode()


# ---- deploy -------------------------------------------------------------------------------


def deploy(
    project: Project,
    store: Store,
    ref: str,
    name: str | None = None,
    target_name: str | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    log: Any = None,
) -> Deployment:
    """Run the packaged image of model `ref` as deployment `name`; returns its record once
    its /health answers."""
    import docker

    say = log or (lambda _msg: None)
    model = resolve(project, store, ref)
    name = check_deployment_name(name or default_name(model))
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port.", hint="use 1..65535")
    existing = store.get_deployment(name)
    if existing is not None and existing.status == "running":
        raise UsageError(
            f"The deployment {name!r} is already running ({existing.ref}).",
            hint=f"stop it first (runyard deployment stop {name}) or pick another --name",
        )
    target = docker_target(project, target_name)
    options = dict(target.raw)
    where = dockert.describe(options.get("address"))
    if port is not None and _is_local(options.get("address")) and not _port_free_here(host, port):
        raise _port_in_use(host, port, "this machine")
    client = dockert.connect(options)
    with dockert.engine_errors(options, f"while deploying {model.ref}"):
        image = find_image(client, model)
        if image is None:
            raise UsageError(
                f"Model {model.ref} has not been packaged on {where}.",
                hint=f"package it first: runyard model package {model.ref} --score score.py "
                f"--target {target.name}",
            )
        # what an earlier deployment of this name in this project left (it is not running:
        # checked above), whatever the container was called then
        for old in client.containers.list(
            all=True,
            filters={
                "label": [f"{dockert.LABEL_PROJECT}={project.root}", f"{LABEL_DEPLOYMENT}={name}"]
            },
        ):
            with contextlib.suppress(docker.errors.NotFound):
                old.remove(force=True)
        labels = {
            dockert.LABEL_PROJECT: str(project.root),
            LABEL_DEPLOYMENT: name,
            LABEL_MODEL: model.name,
            LABEL_VERSION: str(model.version),
            LABEL_DIGEST: model.digest,
        }
        container = client.containers.create(
            image.id,
            name=_container_name(project, name),
            labels=labels,
            ports={f"{SERVE_PORT}/tcp": (host, port)},
            privileged=False,
            **dockert.container_limits(client, options),
            detach=True,
            restart_policy={"Name": "no"},
        )
        try:
            container.start()
        except docker.errors.APIError as exc:
            with contextlib.suppress(Exception):
                container.remove(force=True)
            text = str(exc.explanation or exc)
            if "already allocated" in text or "address already in use" in text:
                raise _port_in_use(host, port or 0, where) from None
            raise
        container.reload()
        bound = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{SERVE_PORT}/tcp")
        host_port = int(bound[0]["HostPort"]) if bound else port
        dep = Deployment(
            name=name,
            model=model.name,
            version=model.version,
            target=target.name,
            image=(image.tags or [image_tag(model)])[0],
            container_id=container.id,
            host=host,
            port=host_port,
            status="starting",
            created=time.time(),
            stopped=None,
            options={"digest": model.digest, "image_id": image.id},
        )
        say(f"container {container.short_id} started; waiting for {name} to answer /health")
        try:
            _wait_healthy(options, dep, client, container)
        except BaseException:
            # not recorded, so nothing would ever stop it: no container stays behind
            with contextlib.suppress(Exception):
                container.remove(force=True)
            raise
        dep = dataclasses.replace(dep, status="running")
        store.put_deployment(dep)
        return dep


def _wait_healthy(options: dict[str, Any], dep: Deployment, client: Any, container: Any) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    pause = 0.05  # a small service answers within a second: look often, then less often
    while True:
        container.reload()
        if container.status in ("exited", "dead"):
            raise RunyardError(
                f"The deployment {dep.name} stopped while starting (exit status "
                f"{container.attrs['State'].get('ExitCode')}). Its log ends with:\n"
                f"{_log_tail(container)}",
                hint="fix the scoring script's init(model_path) or the model's dependencies, "
                "package again and deploy",
            )
        with contextlib.suppress(RunyardError):
            status, _ = request(options, dep, "GET", "/health", client=client, timeout=5)
            if status == 200:
                return
        if time.monotonic() > deadline:
            raise RunyardError(
                f"The deployment {dep.name} did not answer /health within "
                f"{HEALTH_TIMEOUT:.0f}s. Its log ends with:\n{_log_tail(container)}",
                hint="a slow init(model_path)? check the scoring script",
            )
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


# ---- the rest of the lifecycle -------------------------------------------------------------


def _engine(project: Project, dep: Deployment) -> tuple[dict[str, Any], Any]:
    options = dict(docker_target(project, dep.target).raw)
    return options, dockert.connect(options)


def _container(client: Any, dep: Deployment) -> Any | None:
    import docker

    try:
        return client.containers.get(dep.container_id)
    except docker.errors.NotFound:
        return None


def refresh(project: Project, store: Store, dep: Deployment) -> Deployment:
    """The record, with a running deployment whose container ended marked as such."""
    return _refresh(project, store, dep)[0]


def _refresh(
    project: Project, store: Store, dep: Deployment
) -> tuple[Deployment, tuple[dict[str, Any], Any] | None]:
    """`refresh`, and the engine (options, client) of a deployment still running."""
    if dep.status != "running":
        return dep, None
    try:
        options, client = _engine(project, dep)
        container = _container(client, dep)
    except RunyardError:
        return dataclasses.replace(dep, status="unreachable"), None
    if container is None or container.status in ("exited", "dead"):
        status = "gone" if container is None else "exited"
        store.update_deployment(dep.name, status=status)
        return dataclasses.replace(dep, status=status), None
    return dep, (options, client)


def logs(project: Project, store: Store, name: str, tail: int | None = None) -> str:
    dep = get(store, name)
    _options, client = _engine(project, dep)
    container = _container(client, dep)
    if container is None:
        raise NotFoundError(
            f"The container of deployment {name} is no longer on its engine (status {dep.status}).",
            hint="a stopped deployment's container is removed with it",
        )
    data = container.logs(stdout=True, stderr=True, tail=tail if tail is not None else "all")
    return bytes(data).decode("utf-8", "replace")


def stats(
    project: Project, store: Store, name: str, timeout: float = REQUEST_TIMEOUT
) -> dict[str, Any]:
    """The service's telemetry now (also recorded as a sample); the last recorded sample
    when the deployment is not running. Raises when a running one's service does not
    answer /metrics within `timeout` seconds."""
    dep, engine = _refresh(project, store, get(store, name))
    if engine is not None:
        _sample(store, dep, *engine, timeout=timeout)
    return last_stats(store, name, since=dep.created)


def refresh_sampled(project: Project, store: Store, dep: Deployment, timeout: float) -> Deployment:
    """`refresh`, and for a deployment still running a telemetry sample recorded when its
    service answers /metrics within `timeout` seconds (one that does not keeps its last
    sample; never raises for that)."""
    dep, engine = _refresh(project, store, dep)
    if engine is not None:
        with contextlib.suppress(RunyardError):
            _sample(store, dep, *engine, timeout=timeout)
    return dep


SAMPLE_WORKERS = 8  # running deployments sampled at once by `refresh_all`


def refresh_all(
    project: Project, deployments: list[Deployment], timeout: float
) -> list[Deployment]:
    """`deployments` refreshed, the running ones sampled at once (`refresh_sampled`, each
    on a store connection of its own): a listing waits about `timeout` seconds for its
    silent services, not that long for each. A record whose refresh fails stays as it
    was, with a warning in the log."""
    running = [d for d in deployments if d.status == "running"]
    if not running:
        return deployments

    def one(dep: Deployment) -> Deployment:
        try:
            with Store(project.store_path) as store:
                return refresh_sampled(project, store, dep, timeout)
        except Exception as exc:  # one deployment's trouble never fails the listing
            log.warning(
                "could not refresh deployment %s: %s: %s", dep.name, type(exc).__name__, exc
            )
            log.debug("refreshing %s", dep.name, exc_info=True)
            return dep

    workers = min(SAMPLE_WORKERS, len(running))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="runyard-sample") as pool:
        fresh = {d.name: d for d in pool.map(one, running)}
    return [fresh.get(d.name, d) for d in deployments]


def last_stats(store: Store, name: str, since: float | None = None) -> dict[str, Any]:
    """The last recorded telemetry sample (keys as in `Store.deployment_stats`), or {}.
    With `since` (the deployment's creation), not one of an earlier deployment that had
    the same name."""
    samples = store.deployment_stats(name, limit=1)
    if not samples or (since is not None and float(samples[0]["time"]) < since):
        return {}
    return samples[0]


def _sample(
    store: Store, dep: Deployment, options: dict[str, Any], client: Any, timeout: float
) -> None:
    status, body = request(options, dep, "GET", "/metrics", client=client, timeout=timeout)
    if status != 200:
        return
    try:
        data = json.loads(body)
        sample = (
            int(data["requests"]),
            int(data["errors"]),
            _ms(data.get("p50_ms")),
            _ms(data.get("p95_ms")),
        )
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise RunyardError(
            f"The deployment {dep.name} answered /metrics with something else than "
            f"its telemetry: {body[:200]!r}",
            hint="is another service listening on its port?",
        ) from None
    store.add_deployment_stats(dep.name, time.time(), *sample)


def _ms(value: Any) -> float | None:
    return None if value is None else float(value)


def invoke(project: Project, store: Store, name: str, data_file: Path) -> tuple[int, Any]:
    """POST the JSON in `data_file` to the deployment's /score: (status, decoded answer)."""
    try:
        raw = data_file.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"Cannot read {data_file} ({exc.strerror or exc}).", hint="pass an existing file"
        ) from None
    try:
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"{data_file} is not JSON: {exc}.",
            hint='the payload is a JSON document, e.g. {"inputs": [[...]]}',
        ) from None
    return invoke_payload(project, store, name, raw)


def invoke_payload(project: Project, store: Store, name: str, raw: bytes) -> tuple[int, Any]:
    """POST the JSON document `raw` to the deployment's /score: (status, decoded answer)."""
    dep = get(store, name)
    if dep.status != "running":
        raise UsageError(
            f"The deployment {name} is {dep.status}.",
            hint=f"deploy it again: runyard deploy {dep.ref} --name {name}",
        )
    options, client = _engine(project, dep)
    status, body = request(options, dep, "POST", "/score", raw, client=client)
    try:
        answer: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = body.decode("utf-8", "replace")
    return status, answer


def stop(project: Project, store: Store, name: str) -> Deployment:
    """Record a last telemetry sample, stop and remove the container."""
    dep = get(store, name)
    if dep.status == "running":
        with contextlib.suppress(RunyardError):
            stats(project, store, name)
    _options, client = _engine(project, dep)
    container = _container(client, dep)
    if container is not None:
        container.remove(force=True)
    store.update_deployment(name, status="stopped", stopped=time.time())
    return get(store, name)


# ---- Kubernetes ----------------------------------------------------------------------------


def kubernetes_manifests(
    model: ModelVersion, name: str, image: str | None = None, replicas: int = 1, port: int = 80
) -> dict[str, dict[str, Any]]:
    """Deployment and Service manifests for a cluster, as data (see `write_manifests`)."""
    name = check_deployment_name(name)
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/managed-by": "runyard",
        "runyard.dev/model": re.sub(r"[^A-Za-z0-9._-]", "-", model.name)[:63],
        "runyard.dev/model-version": str(model.version),
    }
    annotations = {"runyard.dev/model-digest": model.digest, "runyard.dev/model": model.ref}
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels), "annotations": dict(annotations)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                "spec": {
                    "containers": [
                        {
                            "name": "model",
                            "image": image or image_tag(model),
                            "ports": [{"name": "http", "containerPort": SERVE_PORT}],
                            "readinessProbe": {**probe, "initialDelaySeconds": 2},
                            "livenessProbe": {
                                **probe,
                                "initialDelaySeconds": 30,
                                "failureThreshold": 6,
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "runAsNonRoot": True,
                                "runAsUser": dockert.RUN_UID,
                            },
                        }
                    ]
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": dict(labels), "annotations": dict(annotations)},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    return {"deployment.yaml": deployment, "service.yaml": service}


def write_manifests(manifests: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, doc in manifests.items():
        path = out / filename
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        written.append(path)
    return written
