"""Packaging and deploying a registered model on a real Docker engine (started by
scripts/docker-setup.sh, with its offline base image): a real run of the sklearn-digits
gallery sample, registered, packaged with the sample's score.py, deployed, called, and
checked against the model's own predictions. Under CI=true a missing engine fails."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import helpers
from tests.helpers import git, runyard, submit_run, until, wait_run

pytestmark = pytest.mark.integration

BASE_IMAGE, CA_BUNDLE = helpers.BASE_IMAGE, helpers.CA_BUNDLE
PREDICT = """\
import json, sys
import joblib
from sklearn.datasets import load_digits
x, _ = load_digits(return_X_y=True)
rows = [int(i) for i in sys.argv[2:]]
model = joblib.load(sys.argv[1])
print(json.dumps({"inputs": [x[i].tolist() for i in rows],
                  "predictions": [int(p) for p in model.predict(x[rows])]}))
"""


def _ry(cwd: Path, *args: str, check: bool = True, timeout: float = 400) -> Any:
    return runyard(
        cwd, *args, check=check, timeout=timeout, env={**os.environ, **helpers.GIT_IDENTITY}
    )


_ENV = {**os.environ, **helpers.GIT_IDENTITY}


def _json(cwd: Path, *args: str) -> Any:
    return json.loads(_ry(cwd, *args, "--json").stdout)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, engine: Any) -> Iterator[dict[str, Any]]:
    """The digits sample trained by a real local run, registered, packaged, deployed."""
    root = tmp_path_factory.mktemp("models") / "digits"
    _ry(root.parent, "new", "sklearn-digits", str(root))
    options = helpers.docker_target_options()
    _ry(root, "target", "add", "dock", "--type", "docker", *options)
    run_id = _ry(root, "submit", "-d", "train.py").stdout.strip().split()[-1]
    _ry(root, "runs", "wait", run_id, check=False)
    run = _json(root, "runs", "show", run_id)
    assert run["status"] == "completed", run
    _ry(root, "model", "register", run_id, "model.joblib", "--name", "digits")
    package = _json(root, "model", "package", "digits:1", "--score", "score.py", "--target", "dock")
    deployed = _json(root, "deploy", "digits:1", "--target", "dock", "--name", "digits-web")
    yield {"root": root, "run": run, "package": package, "deployed": deployed}
    for container in engine.containers.list(
        all=True, filters={"label": f"dev.runyard.project={root}"}
    ):
        container.remove(force=True)


def _expected(root: Path, rows: list[int]) -> dict[str, Any]:
    """Inputs and the model's predictions, computed directly in Python with the run's
    own environment (the test's venv has no scikit-learn)."""
    model = _json(root, "model", "show", "digits:1")
    pythons = sorted((root / ".runyard/state/envs").glob("*/bin/python"))
    assert pythons, "the local run's environment"
    script = root.parent / "predict.py"
    script.write_text(PREDICT)
    proc = subprocess.run(
        [str(pythons[0]), str(script), model["path"], *map(str, rows)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _post(url: str, body: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_deployed_model_predicts_what_the_model_predicts(
    served: dict[str, Any], engine: Any
) -> None:
    root = served["root"]
    dep = served["deployed"]
    assert dep["host"] == "127.0.0.1" and dep["status"] == "running"
    image = engine.images.get(served["package"]["image"])
    assert image.labels["dev.runyard.model"] == "digits"
    assert image.labels["dev.runyard.model.version"] == "1"
    assert image.labels["dev.runyard.model.digest"] == served["package"]["digest"]
    (container,) = engine.containers.list(
        filters={"label": [f"dev.runyard.project={root}", "dev.runyard.deployment=digits-web"]}
    )
    assert container.attrs["HostConfig"]["Privileged"] is False
    assert container.attrs["Config"]["User"] == "runyard"
    bound = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"]
    assert [b["HostIp"] for b in bound] == ["127.0.0.1"]

    expected = _expected(root, [0, 1, 17, 42, 1000])
    payloads = [
        {"inputs": expected["inputs"][:1]},
        {"inputs": expected["inputs"][1:3]},
        {"inputs": expected["inputs"][3:]},
    ]
    got: list[int] = []
    for i, payload in enumerate(payloads):
        path = root.parent / f"payload{i}.json"
        path.write_text(json.dumps(payload))
        out = _ry(root, "deployment", "invoke", "digits-web", "--data", str(path)).stdout
        got += json.loads(out)["predictions"]
    assert got == expected["predictions"]

    url = dep["url"]
    status, answer = _post(f"{url}/score", b"this is not json")
    assert status == 400 and "not JSON" in answer["error"]
    status, answer = _post(f"{url}/score", json.dumps({"inputs": [[1, 2, 3]]}).encode())
    # the scoring script's error stays in the service's log, under the id the caller gets
    assert status == 500 and "64 pixel values" not in json.dumps(answer), answer
    assert answer["error"] == f"run(payload) failed: error {answer['id']} in the service's log"
    with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
        assert json.loads(resp.read())["status"] == "ok"  # the service goes on
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as resp:
        assert "/score" in json.loads(resp.read())["paths"]

    bad = root.parent / "bad.json"
    bad.write_text("{not json")
    proc = _ry(root, "deployment", "invoke", "digits-web", "--data", str(bad), check=False)
    assert proc.returncode == 2 and "bad.json is not JSON" in proc.stderr

    # the listing samples a running service's telemetry (nothing sampled it before); a
    # service that misses the listing's 2 s on a loaded machine is sampled by the next
    def sampled() -> Any:
        rows = _json(root, "deployment", "list")
        return rows if rows and rows[0].get("telemetry") else None

    listed = until(sampled, 60, "the deployment's telemetry in `deployment list`")
    assert [(d["name"], d["status"]) for d in listed] == [("digits-web", "running")]
    assert (listed[0]["telemetry"]["requests"], listed[0]["telemetry"]["errors"]) == (5, 2)
    header, row = _ry(root, "deployment", "list").stdout.splitlines()[:2]
    assert header.lower().split()[:8] == [
        "name",
        "model",
        "status",
        "target",
        "address",
        "requests",
        "errors",
        "p50",
    ]
    assert row.split()[2:7] == ["running", "dock", f"127.0.0.1:{dep['port']}", "5", "2"], row
    shown = _json(root, "deployment", "show", "digits-web")
    telemetry = shown["telemetry"]
    assert (telemetry["requests"], telemetry["errors"]) == (5, 2)
    assert 0 < telemetry["p50_ms"] <= telemetry["p95_ms"]
    human = _ry(root, "deployment", "show", "digits-web").stdout
    assert "requests   5" in human and "errors     2" in human

    service_log = _ry(root, "deployment", "logs", "digits-web").stdout
    assert "POST /score" in service_log
    assert f"runyard-serve: error {answer['id']}: run(payload) raised" in service_log
    assert "64 pixel values" in service_log

    lineage = _json(root, "model", "lineage", "digits:1")
    assert [d["name"] for d in lineage["deployments"]] == ["digits-web"]
    commit = git(root, "rev-parse", f"refs/runyard/runs/{served['run']['id']}").strip()
    assert lineage["snapshot"] == commit
    assert lineage["run"]["id"] == served["run"]["id"]


def test_a_port_in_use_is_a_clear_error(served: dict[str, Any]) -> None:
    root = served["root"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _ry(
            root, "deploy", "digits:1", "--target", "dock", "--name", "second",
            "--port", str(port), check=False,
        )  # fmt: skip
    assert proc.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in proc.stderr
    proc = _ry(root, "deploy", "digits:1", "--target", "dock", "--name", "digits-web", check=False)
    assert proc.returncode == 2 and "already running" in proc.stderr


def test_a_scoring_script_without_run_fails_before_any_build(
    served: dict[str, Any], engine: Any
) -> None:
    root = served["root"]
    script = root.parent / "no_run.py"
    script.write_text("def init(model_path):\n    pass\n")
    before = len(engine.images.list())
    proc = _ry(root, "model", "package", "digits:1", "--score", str(script), check=False)
    assert proc.returncode == 2
    assert "no_run.py has no top-level run() function" in proc.stderr
    assert len(engine.images.list()) == before


def test_kubernetes_manifests_are_written_without_an_engine(served: dict[str, Any]) -> None:
    root = served["root"]
    out = root.parent / "k8s"
    _ry(root, "deploy", "digits:1", "--kubernetes", "--dry-run", "--out", str(out))
    deployment = yaml.safe_load((out / "deployment.yaml").read_text())
    service = yaml.safe_load((out / "service.yaml").read_text())
    assert deployment["kind"] == "Deployment" and service["kind"] == "Service"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "runyard-model/digits:1"
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


LINEAR_TRAIN = """\
import json, os
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as f:
    json.dump({"weights": [2.0, -1.0], "bias": 3.0}, f)
"""


@pytest.fixture
def linear(tmp_path: Path, engine: Any) -> Iterator[Path]:
    """A project of its own with a dependency-free linear model (lin:1) trained by a real
    local run, packaged and deployed as `lin-web`: what stopping does to it is seen by no
    other test, whatever their order."""
    root = tmp_path / "linear"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text(LINEAR_TRAIN)
    (root / "score.py").write_text(helpers.LINEAR_SCORE_PY)
    _ry(root, "init")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a linear model")
    _ry(root, "target", "add", "dock", "--type", "docker", *helpers.docker_target_options())
    run = wait_run(root, submit_run(root, "train.py", env=_ENV), _ENV)
    assert run["status"] == "completed", run
    _ry(root, "model", "register", run["id"], "model.json", "--name", "lin")
    _ry(root, "model", "package", "lin:1", "--score", "score.py", "--target", "dock")
    _ry(root, "deploy", "lin:1", "--target", "dock", "--name", "lin-web")
    yield root
    for container in engine.containers.list(
        all=True, filters={"label": f"dev.runyard.project={root}"}
    ):
        container.remove(force=True)


def test_stop_removes_the_container(linear: Path, engine: Any) -> None:
    root = linear
    payload = root.parent / "payload.json"
    payload.write_text(json.dumps({"inputs": [[1.0, 2.0]]}))
    for _ in range(5):
        _ry(root, "deployment", "invoke", "lin-web", "--data", str(payload))

    # the listing samples a running service's telemetry (the last sample outlives it)
    def sampled() -> bool:
        rows = _json(root, "deployment", "list")
        return bool(rows and (rows[0].get("telemetry") or {}).get("requests") == 5)

    until(sampled, 60, "the five calls sampled by `deployment list`")
    _ry(root, "deployment", "stop", "lin-web")
    assert (
        engine.containers.list(
            all=True,
            filters={"label": [f"dev.runyard.project={root}", "dev.runyard.deployment=lin-web"]},
        )
        == []
    )
    (dep,) = _json(root, "deployment", "list")
    assert dep["status"] == "stopped"
    assert dep["telemetry"]["requests"] == 5  # its last sample, listed after it stopped
    shown = _json(root, "deployment", "show", "lin-web")
    assert shown["telemetry"]["requests"] == 5  # the last sample stays recorded
