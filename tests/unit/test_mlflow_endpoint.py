"""Runyard's MLflow endpoint in-process (``runyard.tracking.mlflow_endpoint``), talked to
over real HTTP with urllib as MLflow's client talks to it, its records caught by a
recorder of the test's own; and the run's ``sitecustomize`` (``site_hook``) in real
child interpreters. MLflow's own client against it: tests/integration/test_mlflow_capture.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runyard.tracking import mlflow_endpoint
from runyard.tracking.mlflow_endpoint import Recorder, Server

SERVER = Path(__file__).resolve().parents[2] / "server"
TRACKING = SERVER / "runyard" / "tracking"


class Caught(Recorder):
    """What the endpoint hands to Runyard's client, kept in lists."""

    def __init__(self) -> None:
        self.metrics: list[tuple[str, float, int, int]] = []
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.flushes = 0

    def metric(self, key: str, value: float, step: int, timestamp_ms: int) -> None:
        self.metrics.append((key, value, step, timestamp_ms))

    def param(self, key: str, value: str) -> None:
        self.params[key] = value

    def tag(self, key: str, value: str) -> None:
        self.tags[key] = value

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture
def caught() -> Caught:
    return Caught()


@pytest.fixture
def endpoint(tmp_path: Path, caught: Caught) -> Iterator[Server]:
    server = mlflow_endpoint.start(str(tmp_path / "outputs"), recorder=caught)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def call(
    server: Server, method: str, path: str, body: object = None, raw: bytes | None = None
) -> tuple[int, Any]:
    """One HTTP call; the status and the JSON answer (text for /version)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(server.uri + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


API = "/api/2.0/mlflow/"


def new_run(server: Server, **fields: Any) -> dict[str, Any]:
    status, answer = call(server, "POST", API + "runs/create", {"experiment_id": "0", **fields})
    assert status == 200, answer
    run: dict[str, Any] = answer["run"]
    return run


def test_a_run_records_params_metrics_with_steps_and_timestamps_and_tags(
    endpoint: Server, caught: Caught, tmp_path: Path
) -> None:
    run = new_run(
        endpoint,
        run_name="train",
        start_time=1700000000000,
        tags=[{"key": "mlflow.user", "value": "ada"}],
    )
    run_id = run["info"]["run_id"]
    assert run["info"]["artifact_uri"] == (tmp_path / "outputs" / "mlflow" / "train").as_uri()
    ok = [
        call(
            endpoint,
            "POST",
            API + "runs/log-parameter",
            {"run_id": run_id, "key": "lr", "value": "0.1"},
        ),
        call(
            endpoint,
            "POST",
            API + "runs/log-metric",
            {"run_id": run_id, "key": "loss", "value": 0.5, "step": 3, "timestamp": 1700000001234},
        ),
        call(
            endpoint,
            "POST",
            API + "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [
                    {"key": "loss", "value": "NaN", "step": 4, "timestamp": 1700000002000},
                    {"key": "acc", "value": 0.9, "timestamp": 1700000002000},
                ],
                "params": [{"key": "depth", "value": "3"}],
                "tags": [{"key": "team", "value": "vision"}],
            },
        ),
        call(
            endpoint, "POST", API + "runs/set-tag", {"run_id": run_id, "key": "stage", "value": "a"}
        ),
    ]
    assert [status for status, _ in ok] == [200] * 4, ok
    assert caught.params == {"lr": "0.1", "depth": "3"}
    assert caught.metrics[0] == ("loss", 0.5, 3, 1700000001234)
    assert caught.metrics[1][0] == "loss" and caught.metrics[1][1] != caught.metrics[1][1]
    assert caught.metrics[2] == ("acc", 0.9, 0, 1700000002000)  # MLflow's step when none given
    assert caught.tags["team"] == "vision" and caught.tags["stage"] == "a"
    assert caught.tags["mlflow.runName"] == "train" and caught.tags["mlflow.runId"] == run_id
    assert caught.tags["mlflow.user"] == "ada"

    status, got = call(endpoint, "GET", API + f"runs/get?run_id={run_id}")
    assert status == 200
    metrics = {m["key"]: m for m in got["run"]["data"]["metrics"]}
    assert metrics["loss"]["value"] == "NaN" and metrics["loss"]["step"] == 4
    assert {p["key"]: p["value"] for p in got["run"]["data"]["params"]} == {
        "lr": "0.1",
        "depth": "3",
    }
    status, history = call(
        endpoint, "GET", API + f"metrics/get-history?run_id={run_id}&metric_key=loss"
    )
    assert status == 200
    assert [(m["step"], m["timestamp"]) for m in history["metrics"]] == [
        (3, 1700000001234),
        (4, 1700000002000),
    ]

    status, updated = call(
        endpoint,
        "POST",
        API + "runs/update",
        {"run_id": run_id, "status": "FINISHED", "end_time": 5},
    )
    assert status == 200 and updated["run_info"]["status"] == "FINISHED"
    assert caught.tags["mlflow.status"] == "FINISHED" and caught.flushes == 1


def test_a_nested_run_and_a_later_top_level_run_are_recorded_under_their_name_as_prefix(
    endpoint: Server, caught: Caught, tmp_path: Path
) -> None:
    parent = new_run(endpoint, run_name="sweep")["info"]["run_id"]
    child = new_run(
        endpoint, run_name="fold", tags=[{"key": "mlflow.parentRunId", "value": parent}]
    )
    again = new_run(
        endpoint, run_name="fold", tags=[{"key": "mlflow.parentRunId", "value": parent}]
    )
    unnamed = new_run(endpoint)
    for run, value in ((child, 0.5), (again, 0.25), (unnamed, 0.125)):
        run_id = run["info"]["run_id"]
        call(
            endpoint,
            "POST",
            API + "runs/log-metric",
            {"run_id": run_id, "key": "rmse", "value": value},
        )
        call(
            endpoint,
            "POST",
            API + "runs/log-parameter",
            {"run_id": run_id, "key": "alpha", "value": "1"},
        )
    assert [m[:2] for m in caught.metrics] == [
        ("fold/rmse", 0.5),
        ("fold-2/rmse", 0.25),
        ("run-4/rmse", 0.125),
    ]
    assert caught.params == {"fold/alpha": "1", "fold-2/alpha": "1", "run-4/alpha": "1"}
    assert caught.tags["fold/mlflow.parentRunId"] == parent
    assert caught.tags["fold-2/mlflow.runId"] == again["info"]["run_id"]
    assert again["info"]["run_name"] == "fold-2"
    assert again["info"]["artifact_uri"].endswith("/outputs/mlflow/fold-2")

    status, found = call(
        endpoint,
        "POST",
        API + "runs/search",
        {"experiment_ids": ["0"], "filter": f"tags.mlflow.parentRunId = '{parent}'"},
    )
    assert status == 200
    assert sorted(r["info"]["run_name"] for r in found["runs"]) == ["fold", "fold-2"]
    status, found = call(
        endpoint,
        "POST",
        API + "runs/search",
        {"experiment_ids": ["0"], "filter": "metrics.rmse < 0.3 and params.alpha = '1'"},
    )
    assert sorted(r["info"]["run_name"] for r in found["runs"]) == ["fold-2", "run-4"]


def test_experiments_are_found_by_name_and_created_once(endpoint: Server) -> None:
    status, answer = call(endpoint, "GET", API + "experiments/get-by-name?experiment_name=iris")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, made = call(endpoint, "POST", API + "experiments/create", {"name": "iris"})
    assert status == 200
    status, again = call(endpoint, "POST", API + "experiments/create", {"name": "iris"})
    assert (status, again["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    status, answer = call(endpoint, "GET", API + "experiments/get-by-name?experiment_name=iris")
    assert answer["experiment"]["experiment_id"] == made["experiment_id"]
    status, answer = call(endpoint, "GET", API + "experiments/get?experiment_id=0")
    assert answer["experiment"]["name"] == "Default"


def test_a_logged_model_goes_under_its_runs_folder_and_is_named_in_a_tag(
    endpoint: Server, caught: Caught, tmp_path: Path
) -> None:
    run_id = new_run(endpoint, run_name="train")["info"]["run_id"]
    call(
        endpoint,
        "POST",
        API + "runs/log-metric",
        {"run_id": run_id, "key": "acc", "value": 0.9, "step": 0, "timestamp": 1000},
    )
    status, made = call(
        endpoint, "POST", API + "logged-models", {"name": "model", "source_run_id": run_id}
    )
    assert status == 200
    model_id = made["model"]["info"]["model_id"]
    assert (
        made["model"]["info"]["artifact_uri"]
        == (tmp_path / "outputs" / "mlflow" / "train" / "models" / "model").as_uri()
    )
    # log_model logs the points of the model's step again, linked to the model
    status, _ = call(
        endpoint,
        "POST",
        API + "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                {"key": "acc", "value": 0.9, "step": 0, "timestamp": 1000, "model_id": model_id}
            ],
        },
    )
    assert status == 200
    assert caught.metrics == [("acc", 0.9, 0, 1000)]
    status, done = call(
        endpoint, "PATCH", API + f"logged-models/{model_id}", {"status": "LOGGED_MODEL_READY"}
    )
    assert status == 200 and done["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    assert caught.tags["mlflow.model.model"] == "mlflow/train/models/model"
    status, second = call(
        endpoint, "POST", API + "logged-models", {"name": "model", "source_run_id": run_id}
    )
    assert second["model"]["info"]["artifact_uri"].endswith("/mlflow/train/models/model-2")
    status, got = call(endpoint, "GET", API + f"logged-models/{model_id}")
    assert status == 200 and got["model"]["info"]["name"] == "model"


@pytest.mark.parametrize(
    ("method", "path", "body", "raw", "status", "code", "says"),
    [
        ("POST", "runs/log-metric", None, b"{not json", 400, "MALFORMED_REQUEST", "not JSON"),
        ("POST", "runs/log-metric", None, b"[1, 2]", 400, "MALFORMED_REQUEST", "JSON object"),
        ("POST", "runs/log-metric", {"key": "x", "value": 1}, None, 400, "INVALID_PARAMETER_VALUE", "'run_id'"),
        ("POST", "runs/log-metric", {"run_id": "RUN", "key": "x", "value": "abc"}, None, 400, "INVALID_PARAMETER_VALUE", "'value' must be a number"),
        ("POST", "runs/log-metric", {"run_id": "RUN", "key": "x", "value": 1, "step": True}, None, 400, "INVALID_PARAMETER_VALUE", "'step' must be an integer"),
        ("POST", "runs/log-metric", {"run_id": "RUN", "key": "x", "value": 1, "step": 2**63}, None, 400, "INVALID_PARAMETER_VALUE", "'step'"),
        ("POST", "runs/log-metric", {"run_id": "RUN", "key": "", "value": 1}, None, 400, "INVALID_PARAMETER_VALUE", "'key' is required"),
        ("POST", "runs/log-batch", {"run_id": "RUN", "metrics": [{"key": "ok", "value": 1}, {"key": "bad"}]}, None, 400, "INVALID_PARAMETER_VALUE", "metrics[1]: the field 'value'"),
        ("POST", "runs/log-batch", {"run_id": "RUN", "params": {"lr": 1}}, None, 400, "INVALID_PARAMETER_VALUE", "'params' must be a list"),
        ("POST", "runs/update", {"run_id": "RUN", "status": "DONE"}, None, 400, "INVALID_PARAMETER_VALUE", "'status' must be one of"),
        ("POST", "runs/log-metric", {"run_id": "nope", "key": "x", "value": 1}, None, 404, "RESOURCE_DOES_NOT_EXIST", "Run 'nope' not found"),
        ("POST", "runs/teleport", {"run_id": "RUN"}, None, 404, "ENDPOINT_NOT_FOUND", "does not serve POST"),
        ("GET", "runs/log-metric", None, None, 404, "ENDPOINT_NOT_FOUND", "does not serve GET"),
        ("POST", "runs/search", {"filter": "metrics.x ~ 1"}, None, 400, "INVALID_PARAMETER_VALUE", "'filter'"),
    ],
)  # fmt: skip
def test_a_bad_call_gets_an_mlflow_error_records_nothing_and_the_endpoint_goes_on(
    endpoint: Server,
    caught: Caught,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    raw: bytes | None,
    status: int,
    code: str,
    says: str,
) -> None:
    run_id = new_run(endpoint, run_name="train")["info"]["run_id"]
    tags_before = dict(caught.tags)
    if body is not None:
        body = json.loads(json.dumps(body).replace('"RUN"', json.dumps(run_id)))
    got_status, answer = call(endpoint, method, API + path, body, raw=raw)
    assert (got_status, answer["error_code"]) == (status, code), answer
    assert says in answer["message"], answer["message"]
    assert caught.metrics == [] and caught.params == {} and caught.tags == tags_before
    ok, _ = call(
        endpoint, "POST", API + "runs/log-metric", {"run_id": run_id, "key": "x", "value": 1}
    )
    assert ok == 200 and caught.metrics[0][:2] == ("x", 1.0)


def test_a_param_logged_again_with_another_value_is_refused_as_mlflow_refuses_it(
    endpoint: Server, caught: Caught
) -> None:
    run_id = new_run(endpoint)["info"]["run_id"]
    body = {"run_id": run_id, "key": "lr", "value": "0.1"}
    assert call(endpoint, "POST", API + "runs/log-parameter", body)[0] == 200
    assert call(endpoint, "POST", API + "runs/log-parameter", body)[0] == 200
    status, answer = call(endpoint, "POST", API + "runs/log-parameter", {**body, "value": "0.2"})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "changing param values is not allowed" in answer["message"]
    assert caught.params == {"lr": "0.1"}


def test_the_endpoint_answers_its_version_and_health(endpoint: Server) -> None:
    assert call(endpoint, "GET", "/health") == (200, "OK")
    status, version = call(endpoint, "GET", "/version")
    assert status == 200 and version


# --- the run's sitecustomize, in real child interpreters ------------------------------


def _lib(tmp_path: Path) -> Path:
    """A run's lib folder as the runner writes it."""
    from runyard.runner.runs import _write_tracking_shim

    _write_tracking_shim(tmp_path)
    return tmp_path / "lib"


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def _env(lib: Path, *more: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RUNYARD_", "MLFLOW_")) and k != "PYTHONPATH"
    }
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (lib, *more))
    env.update(extra)
    return env


def test_the_runs_sitecustomize_waits_for_mlflow_only_inside_a_run_and_not_when_the_user_set_a_uri(
    tmp_path: Path,
) -> None:
    lib = _lib(tmp_path)
    inside = {"RUNYARD_RUN_ID": "r1", "RUNYARD_TRACKING_URI": (tmp_path / "t.jsonl").as_uri()}
    show = "import sys; print([type(f).__name__ for f in sys.meta_path][0])"
    assert _python(show, _env(lib, **inside)).stdout.strip() == "_StartMlflowEndpoint"
    assert _python(show, _env(lib)).stdout.strip() != "_StartMlflowEndpoint"
    mine = _env(lib, **inside, MLFLOW_TRACKING_URI="sqlite:///mine.db")
    assert _python(show, mine).stdout.strip() != "_StartMlflowEndpoint"
    # nothing else is imported at start-up for it
    assert (
        "runyard"
        not in _python("import sys; print(sorted(sys.modules))", _env(lib, **inside)).stdout
    )


def test_the_runs_sitecustomize_runs_the_sitecustomize_it_hides(tmp_path: Path) -> None:
    lib = _lib(tmp_path / "run")
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['HIDDEN_RAN'] = __file__\n")
    proc = _python("import os; print(os.environ.get('HIDDEN_RAN'))", _env(lib, other))
    assert proc.stdout.strip() == str(other / "sitecustomize.py"), proc.stderr


def test_the_first_import_of_mlflow_starts_the_endpoint_and_its_calls_reach_the_tracking_file(
    tmp_path: Path,
) -> None:
    lib = _lib(tmp_path / "run")
    tracking = tmp_path / "tracking.jsonl"
    inside = {
        "RUNYARD_RUN_ID": "r1",
        "RUNYARD_TRACKING_URI": tracking.as_uri(),
        "RUNYARD_OUTPUTS": str(tmp_path / "outputs"),
        "NO_PROXY": "example.org",
    }
    code = """
import json, os, sys, urllib.request
hook = sys.meta_path[0]
hook.find_spec("mlflow")  # what the import system does on `import mlflow`
assert hook not in sys.meta_path
uri = os.environ["MLFLOW_TRACKING_URI"]
def post(path, body):
    req = urllib.request.Request(uri + "/api/2.0/mlflow/" + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as answer:
        return json.load(answer)
run = post("runs/create", {"experiment_id": "0", "run_name": "train"})["run"]["info"]
post("runs/log-metric", {"run_id": run["run_id"], "key": "loss", "value": 0.25, "step": 7,
                         "timestamp": 1700000000000})
post("runs/log-parameter", {"run_id": run["run_id"], "key": "lr", "value": "0.1"})
print(uri, os.environ["NO_PROXY"], run["artifact_uri"])
"""
    proc = _python(code, _env(lib, **inside))
    assert proc.returncode == 0, proc.stderr
    uri, no_proxy, artifacts = proc.stdout.split()
    assert uri.startswith("http://127.0.0.1:")
    assert no_proxy == "example.org,127.0.0.1"
    assert artifacts == (tmp_path / "outputs" / "mlflow" / "train").as_uri()
    from runyard.tracking.wire import decode_points

    lines = [json.loads(line) for line in tracking.read_text().splitlines()]
    points = [p for line in lines if "mc" in line or "m" in line for p in decode_points(line)]
    assert points == [("loss", 0.25, 7, 1700000000000 * 1_000_000)]
    params = {k: v for line in lines for k, v in line.get("p", {}).items()}
    assert params == {"lr": "0.1"}


def test_a_call_that_comes_after_the_clients_last_write_at_exit_is_still_recorded(
    tmp_path: Path,
) -> None:
    lib = _lib(tmp_path / "run")
    tracking = tmp_path / "tracking.jsonl"
    inside = {"RUNYARD_RUN_ID": "r1", "RUNYARD_TRACKING_URI": tracking.as_uri()}
    code = """
import atexit, json, os, sys, urllib.request
def post(path, body):
    req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/" + path,
                                 json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req) as answer:
        return json.load(answer)
# registered first, so it runs last: after the client's own exit handler
atexit.register(lambda: post("runs/log-metric", {"run_id": RUN, "key": "late", "value": 1}))
sys.meta_path[0].find_spec("mlflow")
RUN = post("runs/create", {"run_name": "late"})["run"]["info"]["run_id"]
"""
    proc = _python(code, _env(lib, **inside))
    assert proc.returncode == 0, proc.stderr
    from runyard.tracking.wire import decode_points

    lines = [json.loads(line) for line in tracking.read_text().splitlines()]
    points = [p for line in lines if "mc" in line for p in decode_points(line)]
    assert [p[:3] for p in points] == [("late", 1.0, 0)]


def test_an_endpoint_that_cannot_start_is_one_line_on_stderr_and_the_import_goes_on(
    tmp_path: Path,
) -> None:
    lib = _lib(tmp_path / "run")
    (lib / "runyard" / "tracking" / "mlflow_endpoint.py").write_text("raise OSError('no port')\n")
    inside = {"RUNYARD_RUN_ID": "r1", "RUNYARD_TRACKING_URI": (tmp_path / "t.jsonl").as_uri()}
    code = (
        "import os, sys\n"
        "print(sys.meta_path[0].find_spec('mlflow'), os.environ.get('MLFLOW_TRACKING_URI'))"
    )
    proc = _python(code, _env(lib, **inside))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "None"]
    assert "MLflow's logging is not recorded in this run" in proc.stderr
    assert "no port" in proc.stderr
