"""Docker images and containers kept tight, against the real Docker engine (started by
scripts/docker-setup.sh, with its offline base image):

- a package index's credentials reach pip while an image is built and nowhere else: not
  the image's config, its history, its layers (`docker save`), the run's environment, the
  engine's leftover build images, or a model image;
- `runyard env prune` removes only this project's environment images that no run uses;
  `--all` the rest, once confirmed;
- run and deployment containers get no new privileges, no capabilities, and pids and
  memory limits.

The package index is a real HTTP server on the engine's bridge gateway (reachable from
build containers) that asks for the credentials and serves one tiny wheel; it sends any
other project on to the public index. Under CI=true a missing engine fails these tests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import os
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import canary_wheel, commit_all, git, index_certificate, runyard

pytestmark = pytest.mark.integration

WHEEL_NAME = "runyardcanary-1.0-py3-none-any.whl"

TRAIN = """\
import json, os
import runyardcanary

os.makedirs("outputs", exist_ok=True)
with open("outputs/env.json", "w") as f:
    json.dump(dict(os.environ), f)
with open("outputs/model.json", "w") as f:
    json.dump({"weights": [2.0, 1.0], "bias": runyardcanary.BIAS}, f)
print("canary package imported", flush=True)
"""


def _upstream_index() -> str:
    """The package index pip uses on this machine (its default unless PIP_INDEX_URL is set),
    where the test's index sends every project other than the canary."""
    from pip._internal.models.index import PyPI

    return (os.environ.get("PIP_INDEX_URL") or PyPI.simple_url).rstrip("/")


def _bridge_gateway(engine: Any) -> str:
    """The engine's bridge gateway address: on this machine, reachable from containers."""
    config = engine.networks.get("bridge").attrs["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


class Index:
    def __init__(self, url: str, token: str, ca_bundle: Path) -> None:
        self.url = url  # with the credentials in it
        self.token = token
        self.ca_bundle = ca_bundle  # this machine's CAs and the index's certificate
        self.served: list[str] = []  # paths answered with the wheel or its page


@pytest.fixture(scope="module")
def index(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """An HTTPS package index that needs `ci:<token>` (a canary: it must not leak
    anywhere), with a CA bundle that trusts it and the public index."""
    token = f"canary{uuid.uuid4().hex}"
    expected = "Basic " + base64.b64encode(f"ci:{token}".encode()).decode()
    wheel = canary_wheel()
    sha = hashlib.sha256(wheel).hexdigest()
    page = (
        f'<html><body><a href="/files/{WHEEL_NAME}#sha256={sha}">{WHEEL_NAME}</a></body></html>'
    ).encode()
    served: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="index"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.rstrip("/") == "/simple/runyardcanary":
                body, kind = page, "text/html"
            elif self.path == f"/files/{WHEEL_NAME}":
                body, kind = wheel, "application/octet-stream"
            elif self.path.startswith("/simple/"):
                self.send_response(302)  # every other project: the index pip uses here
                self.send_header("Location", _upstream_index() + self.path[len("/simple") :])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    host = _bridge_gateway(engine)
    folder = tmp_path_factory.mktemp("index")
    cert, key = index_certificate(host, folder)
    bundle = folder / "ca-bundle.crt"
    system = Path(helpers.CA_BUNDLE).read_bytes() if Path(helpers.CA_BUNDLE).is_file() else b""
    bundle.write_bytes(system + b"\n" + cert.read_bytes())
    server = ThreadingHTTPServer((host, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    found = Index(f"https://ci:{token}@{host}:{port}/simple/", token, bundle)
    found.served = served
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def _ry(cwd: Path, *args: str, check: bool = True, timeout: float = 400) -> Any:
    return runyard(
        cwd, *args, check=check, timeout=timeout, env={**os.environ, **helpers.GIT_IDENTITY}
    )


def _image_bytes(image: Any) -> bytes:
    """Everything `docker save` writes for the image: its config, history and layers."""
    return b"".join(image.save(named=False))


def _assert_nowhere_in(engine: Any, tag: str, token: str) -> None:
    image = engine.images.get(tag)
    config = image.attrs["Config"]
    assert token not in json.dumps(config.get("Env")), config.get("Env")
    assert token not in json.dumps(config.get("Labels")), config.get("Labels")
    assert token not in json.dumps(image.attrs)
    history = engine.api.history(image.id)
    assert token not in json.dumps(history), [h.get("CreatedBy") for h in history]
    assert token.encode() not in _image_bytes(image)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, engine: Any, index: Index
) -> Iterator[dict[str, Any]]:
    """A run on a docker target whose package index needs credentials."""
    root = tmp_path_factory.mktemp("canary") / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text(TRAIN)
    (root / "requirements.txt").write_text("runyardcanary==1.0\n")
    (root / "score.py").write_text(helpers.LINEAR_SCORE_PY)
    commit_all(root, "first")
    _ry(root, "init")
    _ry(
        root,
        *("target", "add", "dock", "--type", "docker", "--base-image", helpers.BASE_IMAGE),
        *("--ca-bundle", str(index.ca_bundle), "--index-url", index.url),
    )
    run_id = _ry(root, "submit", "-d", "--target", "dock", "train.py").stdout.split()[-1]
    _ry(root, "runs", "wait", run_id, check=False)
    run = json.loads(_ry(root, "runs", "show", run_id, "--json").stdout)
    yield {"root": root, "run": run}
    for container in engine.containers.list(
        all=True, filters={"label": f"dev.runyard.project={root}"}
    ):
        container.remove(force=True)


def test_index_credentials_reach_pip_but_not_the_environment_image_or_the_run(
    trained: dict[str, Any], engine: Any, index: Index
) -> None:
    run, root = trained["run"], trained["root"]
    log = _ry(root, "runs", "logs", run["id"]).stdout
    assert run["status"] == "completed", log
    assert f"/files/{WHEEL_NAME}" in index.served  # pip logged in and installed it
    assert "canary package imported" in log
    assert index.token not in log
    seen = Path(run["outputs_dir"], "env.json").read_text()
    assert index.token not in seen  # the run's own environment
    _assert_nowhere_in(engine, f"runyard-env:{run['env_hash']}", index.token)
    # what the build's first stage left on the engine (it held the credentials) is gone
    for image in engine.images.list(all=True, filters={"label": "dev.runyard.build-stage"}):
        assert index.token.encode() not in _image_bytes(image), image.id


def test_index_credentials_stay_out_of_a_model_image(
    trained: dict[str, Any], engine: Any, index: Index
) -> None:
    root, run = trained["root"], trained["run"]
    assert run["status"] == "completed", run
    _ry(root, "model", "register", run["id"], "model.json", "--name", "canary")
    package = json.loads(
        _ry(
            root, "model", "package", "canary:1", "--score", "score.py", "--target", "dock",
            "--json",
        ).stdout
    )  # fmt: skip
    served = index.served.count(f"/files/{WHEEL_NAME}")
    assert served >= 2  # the source run's dependency, installed again with the credentials
    _assert_nowhere_in(engine, package["image"], index.token)
    for image in engine.images.list(all=True, filters={"label": "dev.runyard.build-stage"}):
        assert index.token.encode() not in _image_bytes(image), image.id


PROBE = """\
import json, os, threading

status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
              if ":\\t" in line)


def first(*paths):
    for path in paths:
        try:
            return open(path).read().strip()
        except OSError:
            pass
    return None


started, release = 0, threading.Event()
try:
    for _ in range(200):
        threading.Thread(target=release.wait).start()
        started += 1
except RuntimeError:
    pass
release.set()
os.makedirs("outputs", exist_ok=True)
with open("outputs/limits.json", "w") as f:
    json.dump({
        "no_new_privs": status["NoNewPrivs"].strip(),
        "cap_bounding": status["CapBnd"].strip(),
        "pids_max": first("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"),
        "memory_max": first("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                            "/sys/fs/cgroup/memory.max"),
        "threads_started": started,
    }, f)
"""


def test_a_run_container_gets_no_new_privileges_no_capabilities_and_the_targets_limits(
    project: Path, engine: Any
) -> None:
    (project / "probe.py").write_text(PROBE)
    commit_all(project, "probe")
    (project / ".runyard/targets/tight.yml").write_text(
        f"type: docker\nbase_image: {helpers.BASE_IMAGE}\n"
        "memory: 300m\npids_limit: 64\ncap_add: [NET_BIND_SERVICE]\n"
    )
    run_id = _ry(project, "submit", "-d", "--target", "tight", "probe.py").stdout.split()[-1]
    _ry(project, "runs", "wait", run_id, check=False)
    run = json.loads(_ry(project, "runs", "show", run_id, "--json").stdout)
    assert run["status"] == "completed", _ry(project, "runs", "logs", run_id).stdout
    seen = json.loads(Path(run["outputs_dir"], "limits.json").read_text())
    assert seen["no_new_privs"] == "1"
    assert int(seen["cap_bounding"], 16) == 1 << 10  # CAP_NET_BIND_SERVICE only
    assert seen["pids_max"] == "64"
    assert seen["memory_max"] == str(300 * 1024 * 1024)
    assert seen["threads_started"] < 64  # the limit holds


def test_a_deployment_container_gets_the_same_limits_with_their_defaults(
    trained: dict[str, Any], engine: Any
) -> None:
    root = trained["root"]
    if _ry(root, "model", "show", "canary:1", check=False).returncode != 0:
        _ry(root, "model", "register", trained["run"]["id"], "model.json", "--name", "canary")
    _ry(root, "model", "package", "canary:1", "--score", "score.py", "--target", "dock")
    deployed = json.loads(
        _ry(root, "deploy", "canary:1", "--target", "dock", "--name", "canary-web", "--json").stdout
    )
    try:
        host = engine.containers.get(deployed["container_id"]).attrs["HostConfig"]
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["PidsLimit"] == 4096
        total = int(engine.info()["MemTotal"])
        assert 0 < host["Memory"] <= total
        payload = root.parent / "payload.json"
        payload.write_text('{"inputs": [[1, 2]]}')
        answer = _ry(root, "deployment", "invoke", "canary-web", "--data", str(payload)).stdout
        assert json.loads(answer) == {"predictions": [4.5]}  # it serves, limits and all
    finally:
        _ry(root, "deployment", "stop", "canary-web", check=False)


SLOW = """\
import os, time
os.makedirs("outputs", exist_ok=True)
print("started", flush=True)
while not os.path.exists("/tmp/stop"):
    time.sleep(0.2)
"""


def _env_image(engine: Any, tag: str, labels: dict[str, str]) -> str:
    """An environment image as another project, or an older Runyard, left it."""
    files = {"Dockerfile": f"FROM {helpers.BASE_IMAGE}\n".encode()}
    buf = io.BytesIO()
    import tarfile

    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    for _ in engine.api.build(fileobj=buf, custom_context=True, tag=tag, labels=labels):
        pass
    return tag


def _exists(engine: Any, tag: str) -> bool:
    import docker

    try:
        engine.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def test_env_prune_removes_only_this_projects_idle_images_and_all_asks_first(
    project: Path, engine: Any
) -> None:
    (project / "slow.py").write_text(SLOW)
    commit_all(project, "slow")
    _ry(project, "target", "add", "dock", "--type", "docker", *helpers.docker_target_options())
    key = uuid.uuid4().hex[:12]
    env = "dev.runyard.env"
    mine = _env_image(
        engine,
        f"runyard-env:{key}-mine",
        {env: f"{key}-mine", "dev.runyard.project": str(project)},
    )
    other = _env_image(
        engine, f"runyard-env:{key}-other", {env: f"{key}-o", "dev.runyard.project": "/elsewhere"}
    )
    older = _env_image(engine, f"runyard-env:{key}-older", {env: f"{key}-old"})
    run_id = _ry(project, "submit", "-d", "--target", "dock", "slow.py").stdout.split()[-1]
    try:
        helpers.until(
            lambda: (
                json.loads(_ry(project, "runs", "show", run_id, "--json").stdout)["status"]
                == "running"
            ),
            what="the slow run running",
        )
        live = (
            "runyard-env:"
            + json.loads(_ry(project, "runs", "show", run_id, "--json").stdout)["env_hash"]
        )

        pruned = _ry(project, "env", "prune", "--target", "dock", "--json")
        names = [p["environment"] for p in json.loads(pruned.stdout)]
        assert mine in names and not _exists(engine, mine)
        assert live not in names and _exists(engine, live)  # a live run uses it
        assert _exists(engine, other) and _exists(engine, older)
        assert "kept 1 images that live runs use" in pruned.stderr
        assert "runyard env prune --all" in pruned.stderr

        refused = _ry(project, "env", "prune", "--all", check=False)
        assert refused.returncode != 0
        assert "--yes" in refused.stderr and "Traceback" not in refused.stderr
        assert _exists(engine, other) and _exists(engine, older)

        everything = _ry(project, "env", "prune", "--all", "--yes", "--target", "dock", "--json")
        names = [p["environment"] for p in json.loads(everything.stdout)]
        assert other in names and older in names
        assert not _exists(engine, other) and not _exists(engine, older)
        assert _exists(engine, live)  # still: whoever's run uses it
    finally:
        _ry(project, "runs", "cancel", run_id, check=False)
        for tag in (mine, other, older):
            if _exists(engine, tag):
                engine.images.remove(tag, force=True)


def test_env_prune_all_asks_on_a_terminal_and_keeps_everything_on_no(
    project: Path, engine: Any
) -> None:
    import pty
    import subprocess
    import sys

    _ry(project, "target", "add", "dock", "--type", "docker", *helpers.docker_target_options())
    key = uuid.uuid4().hex[:12]
    other = _env_image(
        engine,
        f"runyard-env:{key}-other",
        {"dev.runyard.env": f"{key}-o", "dev.runyard.project": "/elsewhere"},
    )
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runyard.cli", "env", "prune", "--all", "--target", "dock"],
            cwd=project,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(leader, b"n\n")
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "were built by other projects or an older Runyard" in err
        assert "Remove them too? [y/N]" in err
        assert _exists(engine, other)  # the answer was no
        assert "runyard env prune --all removes them too" in err
    finally:
        os.close(leader)
        os.close(follower)
        if _exists(engine, other):
            engine.images.remove(other, force=True)
