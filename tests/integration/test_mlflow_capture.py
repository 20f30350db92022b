"""MLflow's logging captured: scripts instrumented with the real MLflow client (installed
into the run's environment from the project's requirements.txt) submitted with the
real CLI, unchanged, on the local, Docker and ssh targets; what they log lands in the
Runyard run (runyard.tracking.mlflow_endpoint, started by the run's sitecustomize)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import commit_all, run_logs, runyard, submit_run, wait_run

pytestmark = pytest.mark.integration

REQUIREMENTS = "mlflow-skinny\nscikit-learn\npandas\n"

TRAIN = """\
import os
import mlflow
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

assert os.environ["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
mlflow.set_experiment("iris")
mlflow.sklearn.autolog()
X, y = load_iris(return_X_y=True)
with mlflow.start_run(run_name="train") as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_params({"epochs": 3, "optimizer": "adam"})
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"val_loss": 0.4, "val_acc": 0.8}, step=2)
    mlflow.set_tag("team", "vision")
    with open("notes.txt", "w") as f:
        f.write("trained on iris\\n")
    mlflow.log_artifact("notes.txt")
    with mlflow.start_run(run_name="fold-1", nested=True):
        mlflow.log_param("alpha", 0.5)
        mlflow.log_metric("rmse", 0.25, step=1)
    LogisticRegression(max_iter=300).fit(X, y)
    print("mlflow", mlflow.__version__, "run", run.info.run_id, flush=True)
"""

AUTOLOG_ALONE = """\
import mlflow
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

mlflow.autolog()
X, y = load_iris(return_X_y=True)
DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)  # autolog's own run
last = mlflow.last_active_run()
found = mlflow.search_runs(filter_string="params.max_depth = '3'", output_format="list")
print("autolog run", last.info.run_name, last.info.status, "found", len(found), flush=True)
"""

BASIC = """\
import mlflow

with mlflow.start_run(run_name="basic") as run:
    mlflow.log_params({"lr": 0.01, "batch": 32})
    for step in range(4):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.set_tag("target", "docker")
    with open("summary.txt", "w") as f:
        f.write("done\\n")
    mlflow.log_artifact("summary.txt")
    with mlflow.start_run(run_name="child", nested=True):
        mlflow.log_metric("score", 0.5)
    print("run", run.info.run_id, flush=True)
"""

BAD_CALLS = """\
import json, os, urllib.error, urllib.request
import mlflow

API = os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/"

def post(path, data):
    request = urllib.request.Request(
        API + path, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)

with mlflow.start_run(run_name="main") as run:
    mlflow.log_metric("before", 1.0, step=0)
    for path, data in [
        ("runs/log-metric", b"{this is not json"),
        ("runs/log-metric", json.dumps({"run_id": run.info.run_id, "key": "bad", "value": "abc"}).encode()),
        ("runs/log-batch", json.dumps({"run_id": run.info.run_id, "metrics": [{"key": "bad2", "value": 1}, {"value": 2}]}).encode()),
        ("runs/no-such-call", b"{}"),
    ]:
        status, answer = post(path, data)
        print("answer", status, answer["error_code"], "|", answer["message"], flush=True)
    try:
        mlflow.log_metric("bad3", float("nan"), step=-(2**63))
    except mlflow.exceptions.MlflowException as exc:
        print("client raised", exc.error_code, flush=True)
    mlflow.log_metric("after", 2.0, step=1)
print("still running", flush=True)
"""


def _project(project: Path, **files: str) -> Path:
    (project / "requirements.txt").write_text(REQUIREMENTS)
    for name, text in files.items():
        (project / name).write_text(text)
    commit_all(project, "mlflow scripts")
    return project


def _metrics(project: Path, run_id: str) -> dict[str, list[tuple[int, float]]]:
    proc = runyard(project, "runs", "metrics", run_id, "--json", check=True)
    by_key: dict[str, list[tuple[int, float]]] = {}
    for point in json.loads(proc.stdout):
        by_key.setdefault(point["key"], []).append((point["step"], point["value"]))
    return by_key


def _artifacts(show: dict[str, Any]) -> dict[str, int]:
    return {a["path"]: a["size"] for a in show["artifacts"]}


def test_an_mlflow_script_with_autolog_lands_in_the_runyard_run_unchanged(project: Path) -> None:
    _project(project, **{"train.py": TRAIN})
    run_id = submit_run(project, "train.py", timeout=900)
    show = wait_run(project, run_id, timeout=900)
    log = run_logs(project, run_id)
    assert show["status"] == "completed", log[-4000:]
    mlflow_run_id = log.split(" run ")[1].split()[0]

    params = show["params"]
    assert {k: params[k] for k in ("lr", "epochs", "optimizer")} == {
        "lr": "0.1",
        "epochs": "3",
        "optimizer": "adam",
    }
    assert params["max_iter"] == "300"  # from autolog
    assert params["fold-1/alpha"] == "0.5"

    metrics = _metrics(project, run_id)
    assert metrics["loss"] == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]
    assert metrics["val_loss"] == [(2, 0.4)] and metrics["val_acc"] == [(2, 0.8)]
    assert metrics["fold-1/rmse"] == [(1, 0.25)]
    assert len(metrics["training_accuracy_score"]) == 1  # autolog's, logged once
    assert 0.9 <= metrics["training_accuracy_score"][0][1] <= 1.0

    tags = show["tags"]
    assert tags["team"] == "vision"
    assert tags["mlflow.runName"] == "train" and tags["mlflow.runId"] == mlflow_run_id
    assert tags["mlflow.experiment"] == "iris"
    assert tags["mlflow.status"] == "FINISHED"
    assert tags["estimator_name"] == "LogisticRegression"
    assert tags["fold-1/mlflow.parentRunId"] == mlflow_run_id
    assert tags["fold-1/mlflow.status"] == "FINISHED"
    assert tags["mlflow.model.model"] == "mlflow/train/models/model"
    assert tags["mlflow.dataset.dataset"].endswith("(train)")

    artifacts = _artifacts(show)
    assert artifacts["mlflow/train/notes.txt"] == len("trained on iris\n")
    assert artifacts["mlflow/train/models/model/MLmodel"] > 0
    assert any(p.startswith("mlflow/train/models/model/model.") for p in artifacts)
    assert "View run" not in log  # no link to a web UI that is not there


def test_autolog_alone_makes_its_own_mlflow_run_and_it_is_the_runyard_runs(
    project: Path,
) -> None:
    _project(project, **{"autolog.py": AUTOLOG_ALONE})
    run_id = submit_run(project, "autolog.py", timeout=900)
    show = wait_run(project, run_id, timeout=900)
    log = run_logs(project, run_id)
    assert show["status"] == "completed", log[-4000:]
    assert "autolog run run-1 FINISHED found 1" in log
    assert show["params"]["max_depth"] == "3"
    assert show["tags"]["mlflow.autologging"] == "sklearn"
    assert show["tags"]["estimator_name"] == "DecisionTreeClassifier"
    assert "training_accuracy_score" in _metrics(project, run_id)
    assert _artifacts(show)["mlflow/run-1/models/model/MLmodel"] > 0


def test_bad_calls_to_the_endpoint_get_mlflow_errors_and_the_run_completes_with_what_it_logged(
    project: Path,
) -> None:
    (project / "requirements.txt").write_text("mlflow-skinny\n")
    (project / "bad_calls.py").write_text(BAD_CALLS)
    commit_all(project, "bad calls")
    run_id = submit_run(project, "bad_calls.py", timeout=900)
    show = wait_run(project, run_id, timeout=900)
    log = run_logs(project, run_id)
    assert show["status"] == "completed", log[-4000:]
    answers = [line for line in log.splitlines() if line.startswith("answer ")]
    assert [a.split(" |")[0] for a in answers] == [
        "answer 400 MALFORMED_REQUEST",
        "answer 400 INVALID_PARAMETER_VALUE",
        "answer 400 INVALID_PARAMETER_VALUE",
        "answer 404 ENDPOINT_NOT_FOUND",
    ]
    assert "the body is not JSON" in answers[0]
    assert "the field 'value' must be a number, got 'abc'" in answers[1]
    assert "metrics[1]: the field 'key' is required" in answers[2]
    assert "does not serve POST /api/2.0/mlflow/runs/no-such-call" in answers[3]
    assert "client raised INVALID_PARAMETER_VALUE" in log
    assert "still running" in log
    # the run's log names the call that is not served
    assert "MLflow asked for POST /api/2.0/mlflow/runs/no-such-call" in log
    metrics = _metrics(project, run_id)
    assert metrics == {"before": [(0, 1.0)], "after": [(1, 2.0)]}


def test_an_mlflow_script_on_a_docker_target_lands_in_the_runyard_run(
    project: Path, engine: Any
) -> None:
    (project / "requirements.txt").write_text("mlflow-skinny\n")
    (project / "basic.py").write_text(BASIC)
    commit_all(project, "basic mlflow script")
    options = helpers.docker_target_options()
    runyard(project, "target", "add", "dock", "--type", "docker", *options, check=True)
    run_id = submit_run(project, "--target", "dock", "basic.py", timeout=900)
    show = wait_run(project, run_id, timeout=900)
    log = run_logs(project, run_id)
    assert show["status"] == "completed", log[-4000:]
    assert show["params"] == {"lr": "0.01", "batch": "32"}
    metrics = _metrics(project, run_id)
    assert metrics["loss"] == [(0, 1.0), (1, 0.5), (2, 1.0 / 3), (3, 0.25)]
    assert metrics["child/score"] == [(0, 0.5)]
    assert show["tags"]["target"] == "docker"
    assert show["tags"]["child/mlflow.parentRunId"] == show["tags"]["mlflow.runId"]
    assert _artifacts(show)["mlflow/basic/summary.txt"] == len("done\n")


def test_an_mlflow_script_on_an_ssh_target_lands_in_the_runyard_run(
    project: Path, tmp_path: Path
) -> None:
    env = helpers.ssh_user(tmp_path / "home")
    (project / "requirements.txt").write_text("mlflow-skinny\n")
    (project / "basic.py").write_text(BASIC)
    commit_all(project, "basic mlflow script")
    # the remote interpreter is this one, whose uv package the probe finds: the
    # environment is built with uv there (a pip build there: test_env_shared_remote.py)
    helpers.add_ssh_target(
        project, env, tmp_path / "remote" / "runyard", "--python", sys.executable
    )
    run_id = submit_run(project, "--target", "vm", "basic.py", env=env, timeout=900)
    show = wait_run(project, run_id, env=env, timeout=900)
    log = run_logs(project, run_id, env=env)
    assert show["status"] == "completed", log[-4000:]
    assert show["params"] == {"lr": "0.01", "batch": "32"}
    metrics = _metrics(project, run_id)
    assert metrics["loss"] == [(0, 1.0), (1, 0.5), (2, 1.0 / 3), (3, 0.25)]
    assert metrics["child/score"] == [(0, 0.5)]
    assert show["tags"]["child/mlflow.parentRunId"] == show["tags"]["mlflow.runId"]
    assert _artifacts(show)["mlflow/basic/summary.txt"] == len("done\n")
