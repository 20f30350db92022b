"""Deployments on more kinds of engine and with scoring scripts that fail, against a real
Docker engine (scripts/docker-setup.sh) and, for the remote engine, a real sshd on
loopback (scripts/sshd-setup.sh) in front of the same engine. The model is a tiny linear
one with no dependencies, trained by a real local run and registered; each scoring script
is packaged once (repeats are cached by the engine). Under CI=true a missing engine or
sshd fails these tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import git, runyard

pytestmark = pytest.mark.integration

BASE_IMAGE, CA_BUNDLE = helpers.BASE_IMAGE, helpers.CA_BUNDLE
WEIGHTS = {"weights": [2.0, -1.0, 0.5], "bias": 3.0}
TRAIN = f"""\
import json, os
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as f:
    json.dump({json.dumps(WEIGHTS)}, f)
print("trained", flush=True)
"""
BROKEN_SCORE = """\
def init(model_path):
    raise RuntimeError("the weights in " + model_path + " do not match this code")


def run(payload):
    return payload
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, engine: Any) -> dict[str, str]:
    """The test user's environment: git identity and a HOME that can reach the sshd."""
    return {**helpers.ssh_home(tmp_path_factory.mktemp("user") / "home"), **helpers.GIT_IDENTITY}


def _ry(root: Path, env: dict[str, str], *args: str, check: bool = True) -> Any:
    return runyard(root, *args, check=check, timeout=400, env=env)


def _json(root: Path, env: dict[str, str], *args: str) -> Any:
    return json.loads(_ry(root, env, *args, "--json").stdout)


@pytest.fixture(scope="module")
def proj(
    tmp_path_factory: pytest.TempPathFactory, engine: Any, env: dict[str, str]
) -> Iterator[Path]:
    """A project with the linear model trained by a local run and registered as lin:1, a
    docker target `dock` on this machine's engine and `remote` on the ssh:// one."""
    root = tmp_path_factory.mktemp("engines") / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text(TRAIN)
    (root / "score.py").write_text(helpers.LINEAR_SCORE_PY)
    (root / "broken_score.py").write_text(BROKEN_SCORE)
    _ry(root, env, "init")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "lin")
    options = helpers.docker_target_options()
    _ry(root, env, "target", "add", "dock", "--type", "docker", *options)
    helpers.add_remote_target(root, env, options, trust=True)
    run_id = _ry(root, env, "submit", "-d", "train.py").stdout.strip().split()[-1]
    _ry(root, env, "runs", "wait", run_id, check=False)
    run = _json(root, env, "runs", "show", run_id)
    assert run["status"] == "completed", run
    _ry(root, env, "model", "register", run_id, "model.json", "--name", "lin")
    _ry(root, env, "model", "register", run_id, "model.json", "--name", "lin-broken")
    yield root
    for container in engine.containers.list(
        all=True, filters={"label": f"dev.runyard.project={root}"}
    ):
        container.remove(force=True)


def _containers(engine: Any, proj: Path, name: str) -> list[Any]:
    """This project's containers of deployment `name`: an earlier run of these tests that
    was killed may have left containers of the same deployment name on the engine."""
    labels = [f"dev.runyard.project={proj}", f"dev.runyard.deployment={name}"]
    return list(engine.containers.list(all=True, filters={"label": labels}))


def _invoke(root: Path, env: dict[str, str], name: str, payload: Any) -> Any:
    path = root.parent / "payload.json"
    path.write_text(json.dumps(payload))
    return _ry(root, env, "deployment", "invoke", name, "--data", str(path), check=False)


LEFTOVER = "runyard-deploy-lin-remote"


@pytest.fixture
def leftover(engine: Any) -> Iterator[Any]:
    """A container another project (since deleted) left on the engine, named as every
    project's deployment `lin-remote` was once named."""
    import docker

    with contextlib.suppress(docker.errors.NotFound):
        engine.containers.get(LEFTOVER).remove(force=True)
    container = engine.containers.create(
        helpers.BASE_IMAGE, ["true"], name=LEFTOVER, labels={"dev.runyard.project": "/gone/proj"}
    )
    yield container
    container.remove(force=True)


def test_a_deployment_on_a_remote_engine_is_reached_inside_its_container(
    proj: Path, env: dict[str, str], engine: Any, leftover: Any
) -> None:
    package = _json(proj, env, "model", "package", "lin:1", "--score", "score.py", "--target",
                    "remote")  # fmt: skip
    assert package["target"] == "remote" and package["image"] == "runyard-model/lin:1"
    dep = _json(proj, env, "deploy", "lin:1", "--target", "remote", "--name", "lin-remote")
    assert (dep["status"], dep["target"], dep["host"]) == ("running", "remote", "127.0.0.1")
    (container,) = _containers(engine, proj, "lin-remote")
    assert container.labels["dev.runyard.project"] == str(proj)
    # a deployment's container is named after its project too: another project's
    # container of the same deployment name neither blocks it nor is touched
    assert container.name.startswith("runyard-deploy-lin-remote-"), container.name
    leftover.reload()
    assert leftover.name == LEFTOVER
    assert container.attrs["Config"]["User"] == "runyard"

    answered = _invoke(proj, env, "lin-remote", {"inputs": [[1, 2, 4], [0, 0, 0]]})
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout) == {"predictions": [5.0, 3.0]}
    answered = _invoke(proj, env, "lin-remote", {"inputs": [[-1, 1, 2]]})
    assert json.loads(answered.stdout) == {"predictions": [1.0]}
    failed = _invoke(proj, env, "lin-remote", {"no inputs": []})
    assert failed.returncode == 1 and "the service answered HTTP 500" in failed.stderr
    # the scoring script's error stays in the service's log, under the id the caller gets
    error = json.loads(failed.stdout)
    assert "KeyError" not in json.dumps(error), error
    assert error["error"] == f"run(payload) failed: error {error['id']} in the service's log"

    shown = _json(proj, env, "deployment", "show", "lin-remote")
    assert (shown["telemetry"]["requests"], shown["telemetry"]["errors"]) == (3, 1)
    assert shown["status"] == "running" and shown["target"] == "remote"
    listed = _json(proj, env, "deployment", "list")
    assert [(d["name"], d["status"], d["target"]) for d in listed] == [
        ("lin-remote", "running", "remote")
    ]
    log = _ry(proj, env, "deployment", "logs", "lin-remote").stdout
    assert "init('/opt/runyard/model/model.json') done" in log
    assert f"runyard-serve: error {error['id']}: run(payload) raised KeyError" in log, log
    # the requests came from inside the container (docker exec), not through the port
    scored = [line for line in log.splitlines() if '"POST /score HTTP/1.1"' in line]
    assert len(scored) == 3 and all("127.0.0.1:" in line for line in scored), scored

    _ry(proj, env, "deployment", "stop", "lin-remote")
    assert _containers(engine, proj, "lin-remote") == []
    (stopped,) = _json(proj, env, "deployment", "list")
    assert stopped["status"] == "stopped"
    assert _json(proj, env, "deployment", "show", "lin-remote")["telemetry"]["requests"] == 3
    gone = _ry(proj, env, "deployment", "logs", "lin-remote", check=False)
    assert gone.returncode == 2 and "no longer on its engine" in gone.stderr


@pytest.mark.parametrize("target", ["dock", "remote"])
def test_a_scoring_script_whose_init_raises_fails_the_deploy_clearly(
    proj: Path, env: dict[str, str], engine: Any, target: str
) -> None:
    _ry(proj, env, "model", "package", "lin-broken:1", "--score", "broken_score.py",
        "--target", target)  # fmt: skip
    name = f"broken-{target}"
    proc = _ry(proj, env, "deploy", "lin-broken:1", "--target", target, "--name", name,
               check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "Traceback" not in err.split("Its log ends with:")[0]
    assert "internal error" not in err
    assert f"runyard: error: The deployment {name} stopped while starting" in err
    assert "Its log ends with:" in err
    assert "RuntimeError: the weights in /opt/runyard/model/model.json do not match" in err
    assert "init('/opt/runyard/model/model.json') in the scoring script failed" in err
    assert "fix the scoring script's init(model_path)" in err  # the hint
    assert _containers(engine, proj, name) == []
    assert [d for d in _json(proj, env, "deployment", "list") if d["name"] == name] == []
    shown = _ry(proj, env, "deployment", "show", name, check=False)
    assert shown.returncode == 2 and f"no deployment named {name!r}" in shown.stderr
