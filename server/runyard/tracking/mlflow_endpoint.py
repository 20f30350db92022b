"""MLflow's logging captured: a loopback endpoint that speaks MLflow's REST tracking
protocol inside the run's own process and hands what it is told to Runyard's client.

Standard library only (Python 3.8 syntax): it runs in the user's environment, on
remote targets too. The run's ``sitecustomize`` (``site_hook``) starts it the first
time the script imports ``mlflow``, when the user has not set ``MLFLOW_TRACKING_URI``
themselves; ``serve_for_run`` sets that variable to ``http://127.0.0.1:PORT`` and
adds the loopback address to ``NO_PROXY``, so MLflow's client never sends it through a
proxy (and sets ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``, unless the user did: the
"View run at" links MLflow prints would lead to no web UI). The server is a ``ThreadingHTTPServer`` on a free port, served by daemon
threads: the script needs no server started by hand, and nothing outlives it.

What lands in the Runyard run
-----------------------------
* Metrics keep MLflow's step and timestamp (milliseconds, stored as the point's wall
  time); MLflow sends step 0 when the script gives none, and so it is stored.
* Params and tags as they are, MLflow's own tags (``mlflow.source.name``,
  ``mlflow.user``, ``mlflow.runName``...) included, plus ``mlflow.runId``.
* The first MLflow run of the process that has no parent is *the* run: its metrics,
  params and tags keep their names. Every other MLflow run (a nested run, or a later
  top-level run of a sweep) is recorded in the same Runyard run with its run name as
  a key prefix: ``fold-1/rmse``, ``fold-1/alpha``, ``fold-1/mlflow.parentRunId``. A
  run started without a name is named ``run-N`` (N: the order of creation); a name
  already taken gets ``-2``, ``-3``... so two runs never share a prefix. Each run's
  status, when it ends, is the tag ``<prefix>mlflow.status``.
* Artifacts: each run's ``artifact_uri`` is ``file://$RUNYARD_OUTPUTS/mlflow/<name>``,
  so ``mlflow.log_artifact`` writes straight into the run's outputs, which Runyard
  keeps. A model logged with MLflow 3 (``log_model``, autolog) goes to
  ``mlflow/<run name>/models/<model name>`` (``-2``... when the name is taken), and the
  tag ``<prefix>mlflow.model.<model name>`` holds that path, relative to the outputs.
* Datasets (``log_input``, autolog) are tags ``<prefix>mlflow.dataset.<name>`` =
  ``<digest>`` (with its context, e.g. ``train``).

Served: ``experiments/{get, get-by-name, create, search, set-experiment-tag}``,
``runs/{create, get, update, search, log-metric, log-batch, log-parameter, set-tag,
delete-tag, log-inputs, log-model, outputs}``, ``metrics/get-history`` and
``logged-models`` (create, get, finalize, params, tags, search) under
``/api/2.0/mlflow/`` (and ``/api/3.0/mlflow/``), plus ``/version`` and ``/health``.
The server keeps what ``get`` and ``search`` answer in memory, each metric's history
packed (24 bytes a point): MLflow's ``log_model`` reads it back and logs the points of
the model's step again, linked to the model; such a point, already recorded, is not
recorded twice. A tag that ``delete-tag`` removes is gone from the answers but stays
recorded in Runyard, which keeps no tag deletions. Searches understand ``AND``-joined
comparisons of ``metrics.``, ``params.``, ``tags.`` and ``attributes.`` fields with
``= != < <= > >= LIKE ILIKE``.

Bad input
---------
Every request is checked whole before anything of it is recorded: a body that is not
a JSON object is ``400 MALFORMED_REQUEST``; a missing or mistyped field
``400 INVALID_PARAMETER_VALUE`` naming the endpoint and the field; an unknown run,
experiment or model ``404 RESOURCE_DOES_NOT_EXIST``; an endpoint not served
``404 ENDPOINT_NOT_FOUND`` (also named once on stderr, so the run's log says what the
script asked for). A bug here is ``500 INTERNAL_ERROR`` with its traceback on stderr.
Errors are MLflow's JSON shape, ``{"error_code": ..., "message": ...}``, so MLflow's
client raises them as ``MlflowException``; the server goes on serving and the run
goes on.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import traceback
import uuid
from array import array
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from runyard.tracking import client

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Callable
    from typing import Any

    Body = dict[str, Any]
    Answer = tuple[int, Any]

ENV_MLFLOW_URI = "MLFLOW_TRACKING_URI"
ENV_ENDPOINT = "RUNYARD_MLFLOW_ENDPOINT"
"""Set to the endpoint's address by the process that serves it (children inherit it)."""
ENV_NO_URL = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"

PREFIXES = ("/api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/2.0/mlflow/")
MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
ARTIFACT_FOLDER = "mlflow"  # under the run's outputs
TERMINAL = ("FINISHED", "FAILED", "KILLED")
RUN_STATUSES = ("RUNNING", "SCHEDULED", *TERMINAL)
MODEL_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
HISTORY_PAGE = 25_000  # points a get-history answer holds at most (MLflow's own page)
TS_MAX_MS = client.STEP_MAX // 1_000_000  # a timestamp whose nanoseconds fit int64


class ApiError(Exception):
    """An answer in MLflow's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def _missing(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- reading request fields -------------------------------------------------------


class Fields:
    """One request's fields (a JSON body, or a GET's query), read with checks whose
    errors name the endpoint and the field."""

    def __init__(self, where: str, body: Body) -> None:
        self.where = where
        self.body = body

    def text(self, name: str, required: bool = False, default: str = "") -> str:
        value = self.body.get(name)
        if value is None or value == "":
            if required:
                raise _bad(f"{self.where}: the field '{name}' is required")
            return default
        if isinstance(value, list) and len(value) == 1:  # a GET query's one value
            value = value[0]
        if not isinstance(value, str):
            raise _bad(f"{self.where}: the field '{name}' must be a string, got {_shown(value)}")
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.body.get(name)
        if value is None or value == "":
            return default
        return _as_int(value, f"{self.where}: the field '{name}'")

    def items(self, name: str) -> list[tuple[str, str]]:
        """A list of ``{"key": ..., "value": ...}`` (params, tags) as pairs."""
        value = self.body.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _bad(f"{self.where}: the field '{name}' must be a list, got {_shown(value)}")
        pairs = []
        for i, item in enumerate(value):
            at = f"{self.where}: {name}[{i}]"
            if not isinstance(item, dict):
                raise _bad(f"{at} must be an object with 'key' and 'value', got {_shown(item)}")
            one = Fields(at, item)
            pairs.append((one.key("key"), one.text("value")))
        return pairs

    def key(self, name: str) -> str:
        key = self.text(name, required=True)
        if "\x00" in key:
            raise _bad(f"{self.where}: the field '{name}' holds a NUL character")
        return key

    def listed(self, name: str) -> list[Any]:
        value = self.body.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _bad(f"{self.where}: the field '{name}' must be a list, got {_shown(value)}")
        return value


def _shown(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_int(value: object, what: str) -> int:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        raise _bad(f"{what} must be an integer, got {_shown(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _bad(f"{what} must be an integer, got {_shown(value)}")


_FLOAT_WORDS = {"nan": float("nan"), "infinity": float("inf"), "-infinity": float("-inf")}


def _as_float(value: object, what: str) -> float:
    if isinstance(value, bool):
        raise _bad(f"{what} must be a number, got {_shown(value)}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        word = _FLOAT_WORDS.get(value.strip().lower())
        if word is not None:
            return word
        try:
            return float(value)
        except ValueError:
            pass
    raise _bad(f"{what} must be a number, got {_shown(value)}")


# --- what the server keeps -----------------------------------------------------------


class MlRun:
    """One MLflow run as the server knows it, and where it goes in the Runyard run."""

    def __init__(
        self, run_id: str, name: str, prefix: str, experiment_id: str, artifact_dir: str
    ) -> None:
        self.run_id = run_id
        self.name = name
        self.prefix = prefix  # "" for the process's first top-level run, else "<name>/"
        self.experiment_id = experiment_id
        self.artifact_dir = artifact_dir
        self.user_id = ""
        self.status = "RUNNING"
        self.start_time = _now_ms()
        self.end_time: int | None = None
        self.lifecycle = "active"
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.metrics: dict[str, tuple[float, int, int]] = {}  # key -> value, timestamp, step
        self.history: dict[str, History] = {}
        self.datasets: list[Any] = []
        self.model_inputs: list[str] = []
        self.model_outputs: list[tuple[str, int]] = []

    def as_json(self) -> Body:
        return {
            "info": self.info(),
            "data": {
                "metrics": [
                    {"key": k, "value": _json_float(v), "timestamp": t, "step": s}
                    for k, (v, t, s) in self.metrics.items()
                ],
                "params": [{"key": k, "value": v} for k, v in self.params.items()],
                "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
            },
            "inputs": {
                "dataset_inputs": self.datasets,
                "model_inputs": [{"model_id": m} for m in self.model_inputs],
            },
            "outputs": {
                "model_outputs": [{"model_id": m, "step": s} for m, s in self.model_outputs]
            },
        }

    def info(self) -> Body:
        info: Body = {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "run_name": self.name,
            "experiment_id": self.experiment_id,
            "user_id": self.user_id,
            "status": self.status,
            "start_time": self.start_time,
            "artifact_uri": _file_uri(self.artifact_dir),
            "lifecycle_stage": self.lifecycle,
        }
        if self.end_time is not None:
            info["end_time"] = self.end_time
        return info


class History:
    """The points of one metric of one run, packed (24 bytes a point): what
    ``metrics/get-history`` answers, and how a point MLflow logs again for a model
    (``log_model``) is told from a new one."""

    def __init__(self) -> None:
        self.values = array("d")
        self.steps = array("q")
        self.times = array("q")

    def add(self, value: float, step: int, timestamp: int) -> None:
        self.values.append(value)
        self.steps.append(step)
        self.times.append(timestamp)

    def holds(self, value: float, step: int, timestamp: int) -> bool:
        for i in range(len(self.steps) - 1, -1, -1):
            if self.steps[i] == step and self.times[i] == timestamp:
                old = self.values[i]
                if old == value or (old != old and value != value):
                    return True
        return False


def _json_float(value: float) -> object:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _file_uri(path: str) -> str:
    path = os.path.abspath(path).replace(os.sep, "/")
    if not path.startswith("/"):
        path = "/" + path  # C:/x -> /C:/x
    return "file://" + quote(path)


class Recorder:
    """What the MLflow calls become in the Runyard run: calls of Runyard's client.

    A metric point keeps MLflow's timestamp, which ``client.log_metric`` (stamping
    the time of its call) cannot: the point, checked here as the client checks it,
    goes into the client's buffer directly (``client._extend``, this package's own).
    """

    def metric(self, key: str, value: float, step: int, timestamp_ms: int) -> None:
        if not client._ready and not client._start():
            return
        client._extend((key, value, step, timestamp_ms * 1_000_000))
        self._late()

    def param(self, key: str, value: str) -> None:
        client.log_param(key, value)
        self._late()

    def tag(self, key: str, value: str) -> None:
        client.set_tag(key, value)
        self._late()

    def _late(self) -> None:
        """A call that comes after the client's last write at exit (MLflow ends its
        runs and drains its async queue in exit handlers of its own, which may run
        after the client's) is written at once."""
        stop = client._stop
        if stop is not None and stop.is_set():
            client.flush()

    def flush(self) -> None:
        client.flush()


class Tracking:
    """The MLflow tracking service of one process: experiments, runs and logged
    models, each call checked whole, then recorded."""

    def __init__(self, outputs: str, recorder: Recorder | None = None) -> None:
        self.outputs = os.path.abspath(outputs)
        self.root = os.path.join(self.outputs, ARTIFACT_FOLDER)
        self.record = recorder or Recorder()
        self.lock = threading.RLock()
        now = _now_ms()
        self.experiments: dict[str, Body] = {
            DEFAULT_EXPERIMENT_ID: self._experiment(DEFAULT_EXPERIMENT_ID, "Default", now)
        }
        self.runs: dict[str, MlRun] = {}
        self.models: dict[str, Body] = {}
        self.model_dirs: dict[str, str] = {}
        self.names: set[str] = set()
        self.dirs: set[str] = set()
        self.primary: str | None = None

    # --- experiments

    def _experiment(self, experiment_id: str, name: str, now: int) -> Body:
        return {
            "experiment_id": experiment_id,
            "name": name,
            "artifact_location": _file_uri(self.root),
            "lifecycle_stage": "active",
            "creation_time": now,
            "last_update_time": now,
            "tags": [],
        }

    def experiment(self, experiment_id: str) -> Body:
        found = self.experiments.get(experiment_id)
        if found is None:
            raise _missing(f"No experiment with id '{experiment_id}'")
        return found

    def get_experiment(self, f: Fields) -> Body:
        return {"experiment": self.experiment(f.text("experiment_id", required=True))}

    def get_experiment_by_name(self, f: Fields) -> Body:
        name = f.text("experiment_name", required=True)
        for experiment in self.experiments.values():
            if experiment["name"] == name:
                return {"experiment": experiment}
        raise _missing(f"Could not find experiment with name '{name}'")

    def create_experiment(self, f: Fields) -> Body:
        name = f.text("name", required=True)
        tags = f.items("tags")
        if any(e["name"] == name for e in self.experiments.values()):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
        experiment_id = str(len(self.experiments))
        while experiment_id in self.experiments:
            experiment_id = str(int(experiment_id) + 1)
        experiment = self._experiment(experiment_id, name, _now_ms())
        experiment["tags"] = [{"key": k, "value": v} for k, v in tags]
        self.experiments[experiment_id] = experiment
        return {"experiment_id": experiment_id}

    def search_experiments(self, f: Fields) -> Body:
        f.integer("max_results")
        return {"experiments": list(self.experiments.values())}

    def set_experiment_tag(self, f: Fields) -> Body:
        experiment = self.experiment(f.text("experiment_id", required=True))
        key, value = f.key("key"), f.text("value")
        tags = [t for t in experiment["tags"] if t["key"] != key]
        experiment["tags"] = [*tags, {"key": key, "value": value}]
        return {}

    # --- runs

    def run(self, f: Fields) -> MlRun:
        run_id = f.text("run_id") or f.text("run_uuid")
        if not run_id:
            raise _bad(f"{f.where}: the field 'run_id' is required")
        found = self.runs.get(run_id)
        if found is None:
            raise _missing(f"Run '{run_id}' not found")
        return found

    def _unique(self, taken: set[str], wanted: str) -> str:
        name, n = wanted, 1
        while name in taken:
            n += 1
            name = f"{wanted}-{n}"
        taken.add(name)
        return name

    def create_run(self, f: Fields) -> Body:
        experiment_id = f.text("experiment_id", default=DEFAULT_EXPERIMENT_ID)
        experiment = self.experiment(experiment_id)
        tags = dict(f.items("tags"))
        wanted = f.text("run_name") or tags.get("mlflow.runName", "")
        start = f.integer("start_time", _now_ms())
        user = f.text("user_id")
        name = self._unique(self.names, wanted or f"run-{len(self.runs) + 1}")
        run_id = uuid.uuid4().hex
        parent = tags.get("mlflow.parentRunId", "")
        if self.primary is None and not parent:
            self.primary, prefix = run_id, ""
        else:
            prefix = name + "/"
        folder = self._unique(self.dirs, _folder_name(name))
        run = MlRun(run_id, name, prefix, experiment_id, os.path.join(self.root, folder))
        run.start_time = start if start is not None else _now_ms()
        run.user_id = user
        tags["mlflow.runName"] = name
        tags["mlflow.runId"] = run_id
        if experiment["name"] != DEFAULT_EXPERIMENT_NAME:
            tags["mlflow.experiment"] = experiment["name"]
        run.tags.update(tags)
        self.runs[run_id] = run
        for key, value in tags.items():
            self.record.tag(prefix + key, value)
        return {"run": run.as_json()}

    def get_run(self, f: Fields) -> Body:
        return {"run": self.run(f).as_json()}

    def update_run(self, f: Fields) -> Body:
        run = self.run(f)
        status = f.text("status")
        if status and status not in RUN_STATUSES:
            raise _bad(f"{f.where}: the field 'status' must be one of {', '.join(RUN_STATUSES)}")
        end_time = f.integer("end_time")
        name = f.text("run_name")
        if status:
            run.status = status
            self.record.tag(run.prefix + "mlflow.status", status)
        if end_time is not None:
            run.end_time = end_time
        elif status in TERMINAL and run.end_time is None:
            run.end_time = _now_ms()
        if name and name != run.name:
            run.name = name
            run.tags["mlflow.runName"] = name
            self.record.tag(run.prefix + "mlflow.runName", name)
        if status in TERMINAL:
            self.record.flush()
        return {"run_info": run.info()}

    def search_runs(self, f: Fields) -> Body:
        ids = [str(i) for i in f.listed("experiment_ids")]
        check = _run_filter(f.text("filter"), f.where)
        limit = f.integer("max_results", 1000) or 1000
        view = f.text("run_view_type", default="ACTIVE_ONLY")
        runs = [
            r
            for r in self.runs.values()
            if (not ids or r.experiment_id in ids)
            and (view == "ALL" or (r.lifecycle == "active") == (view == "ACTIVE_ONLY"))
            and check(r)
        ]
        runs.sort(key=lambda r: r.start_time, reverse=True)
        return {"runs": [r.as_json() for r in runs[:limit]]}

    def _metrics(self, f: Fields, entries: list[Any], one_metric: bool = False) -> list[Any]:
        """Checked points: (key, value, step, timestamp) each."""
        points = []
        for i, entry in enumerate(entries):
            at = f.where if one_metric else f"{f.where}: metrics[{i}]"
            if not isinstance(entry, dict):
                raise _bad(f"{at} must be an object with 'key' and 'value', got {_shown(entry)}")
            one = Fields(at, entry)
            key = one.key("key")
            if "value" not in entry:
                raise _bad(f"{at}: the field 'value' is required")
            value = _as_float(entry["value"], f"{at}: the field 'value'")
            step = one.integer("step", 0)
            assert step is not None
            if not client.STEP_MIN <= step <= client.STEP_MAX:
                raise _bad(f"{at}: the field 'step' is out of range (a 64-bit integer)")
            timestamp = one.integer("timestamp", _now_ms())
            assert timestamp is not None
            if not 0 <= timestamp <= TS_MAX_MS:
                raise _bad(f"{at}: the field 'timestamp' must be milliseconds since 1970")
            model_id = one.text("model_id")
            points.append((key, value, step, timestamp, model_id))
        return points

    def _add_metrics(self, run: MlRun, points: list[Any]) -> None:
        for key, value, step, timestamp, model_id in points:
            history = run.history.get(key)
            if history is None:
                history = run.history[key] = History()
            elif model_id and history.holds(value, step, timestamp):
                continue  # a point the run has, now linked to a model (MLflow's log_model)
            history.add(value, step, timestamp)
            latest = run.metrics.get(key)
            if latest is None or (step, timestamp) >= (latest[2], latest[1]):
                run.metrics[key] = (value, timestamp, step)
            self.record.metric(run.prefix + key, value, step, timestamp)

    def metric_history(self, f: Fields) -> Body:
        run = self.run(f)
        key = f.text("metric_key", required=True)
        start = f.integer("page_token", 0) or 0
        size = f.integer("max_results", HISTORY_PAGE) or HISTORY_PAGE
        history = run.history.get(key)
        if history is None:
            return {"metrics": []}
        end = min(start + max(size, 1), len(history.steps))
        answer: Body = {
            "metrics": [
                {
                    "key": key,
                    "value": _json_float(history.values[i]),
                    "timestamp": history.times[i],
                    "step": history.steps[i],
                    "run_id": run.run_id,
                }
                for i in range(start, end)
            ]
        }
        if end < len(history.steps):
            answer["next_page_token"] = str(end)
        return answer

    def _add_params(self, run: MlRun, params: list[tuple[str, str]], where: str) -> None:
        for key, value in params:  # checked whole first: MLflow refuses a changed value
            old = run.params.get(key)
            if old is not None and old != value:
                raise _bad(
                    f"{where}: changing param values is not allowed. Param with key='{key}' "
                    f"was already logged with value='{old}' for run ID='{run.run_id}'. "
                    f"Attempted logging new value '{value}'."
                )
        for key, value in params:
            if key not in run.params:
                run.params[key] = value
                self.record.param(run.prefix + key, value)

    def _add_tags(self, run: MlRun, tags: list[tuple[str, str]]) -> None:
        for key, value in tags:
            run.tags[key] = value
            self.record.tag(run.prefix + key, value)
            if key == "mlflow.runName" and value:
                run.name = value

    def log_metric(self, f: Fields) -> Body:
        run = self.run(f)
        self._add_metrics(run, self._metrics(f, [f.body], one_metric=True))
        return {}

    def log_param(self, f: Fields) -> Body:
        run = self.run(f)
        self._add_params(run, [(f.key("key"), f.text("value"))], f.where)
        return {}

    def set_tag(self, f: Fields) -> Body:
        run = self.run(f)
        self._add_tags(run, [(f.key("key"), f.text("value"))])
        return {}

    def delete_tag(self, f: Fields) -> Body:
        run = self.run(f)
        key = f.key("key")
        if key not in run.tags:
            raise _missing(f"No tag with name: {key} in run with id {run.run_id}")
        del run.tags[key]
        return {}

    def log_batch(self, f: Fields) -> Body:
        run = self.run(f)
        points = self._metrics(f, f.listed("metrics"))
        params = f.items("params")
        tags = f.items("tags")
        self._add_params(run, params, f.where)
        self._add_metrics(run, points)
        self._add_tags(run, tags)
        return {}

    def log_inputs(self, f: Fields) -> Body:
        run = self.run(f)
        datasets = f.listed("datasets")
        found: list[tuple[str, str]] = []
        for i, item in enumerate(datasets):
            at = f"{f.where}: datasets[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
                raise _bad(f"{at} must be an object with a 'dataset', got {_shown(item)}")
            dataset = Fields(at + ".dataset", item["dataset"])
            name, digest = dataset.text("name", required=True), dataset.text("digest")
            context = dict(Fields(at, item).items("tags")).get("mlflow.data.context", "")
            found.append((name, f"{digest} ({context})" if context else digest))
        models = []
        for i, item in enumerate(f.listed("models")):
            at = f"{f.where}: models[{i}]"
            if not isinstance(item, dict):
                raise _bad(f"{at} must be an object with a 'model_id', got {_shown(item)}")
            models.append(Fields(at, item).text("model_id", required=True))
        run.datasets.extend(datasets)
        run.model_inputs.extend(models)
        for name, value in found:
            self.record.tag(f"{run.prefix}mlflow.dataset.{name}", value)
        return {}

    def log_outputs(self, f: Fields) -> Body:
        run = self.run(f)
        outputs = []
        for i, item in enumerate(f.listed("models")):
            at = f"{f.where}: models[{i}]"
            if not isinstance(item, dict):
                raise _bad(f"{at} must be an object with a 'model_id', got {_shown(item)}")
            one = Fields(at, item)
            outputs.append((one.text("model_id", required=True), one.integer("step", 0) or 0))
        run.model_outputs.extend(outputs)
        return {}

    def log_model(self, f: Fields) -> Body:
        """MLflow 2's record of a model logged into the run's artifacts."""
        run = self.run(f)
        text = f.text("model_json", required=True)
        try:
            model = json.loads(text)
        except ValueError as exc:
            raise _bad(f"{f.where}: the field 'model_json' is not JSON ({exc})") from None
        if not isinstance(model, dict):
            raise _bad(f"{f.where}: the field 'model_json' must be a JSON object")
        path = model.get("artifact_path")
        if isinstance(path, str) and path:
            where = os.path.join(run.artifact_dir, path)
            self.record.tag(f"{run.prefix}mlflow.model.{path}", self._relative(where))
        return {}

    def _relative(self, path: str) -> str:
        return os.path.relpath(path, self.outputs).replace(os.sep, "/")

    # --- logged models (MLflow 3)

    def model(self, model_id: str) -> Body:
        found = self.models.get(model_id)
        if found is None:
            raise _missing(f"Logged model with ID '{model_id}' not found.")
        return found

    def create_model(self, f: Fields) -> Body:
        experiment_id = f.text("experiment_id", default=DEFAULT_EXPERIMENT_ID)
        self.experiment(experiment_id)
        name = f.text("name") or "model"
        source_run_id = f.text("source_run_id")
        run = self.runs.get(source_run_id) if source_run_id else None
        if source_run_id and run is None:
            raise _missing(f"Run '{source_run_id}' not found")
        params, tags = f.items("params"), f.items("tags")
        model_type = f.text("model_type")
        model_id = "m-" + uuid.uuid4().hex
        parent = os.path.join(run.artifact_dir, "models") if run is not None else self.root
        taken = {
            os.path.basename(p) for p in self.model_dirs.values() if os.path.dirname(p) == parent
        }
        folder = os.path.join(parent, self._unique(taken, _folder_name(name)))
        now = _now_ms()
        info: Body = {
            "model_id": model_id,
            "experiment_id": experiment_id,
            "name": name,
            "creation_timestamp_ms": now,
            "last_updated_timestamp_ms": now,
            "artifact_uri": _file_uri(folder),
            "status": "LOGGED_MODEL_PENDING",
            "tags": [{"key": k, "value": v} for k, v in tags],
        }
        if model_type:
            info["model_type"] = model_type
        if source_run_id:
            info["source_run_id"] = source_run_id
        model = {"info": info, "data": {"params": [{"key": k, "value": v} for k, v in params]}}
        self.models[model_id] = model
        self.model_dirs[model_id] = folder
        return {"model": model}

    def get_model(self, model_id: str) -> Body:
        return {"model": self.model(model_id)}

    def finalize_model(self, model_id: str, f: Fields) -> Body:
        model = self.model(model_id)
        status = f.text("status", required=True)
        if status not in MODEL_STATUSES:
            raise _bad(f"{f.where}: the field 'status' must be one of {', '.join(MODEL_STATUSES)}")
        info = model["info"]
        info["status"] = status
        info["last_updated_timestamp_ms"] = _now_ms()
        run = self.runs.get(info.get("source_run_id", ""))
        if status == "LOGGED_MODEL_READY" and run is not None:
            where = self._relative(self.model_dirs[model_id])
            self.record.tag(f"{run.prefix}mlflow.model.{info['name']}", where)
        return {"model": model}

    def model_params(self, model_id: str, f: Fields) -> Body:
        model = self.model(model_id)
        params = f.items("params")
        known = {p["key"]: p for p in model["data"]["params"]}
        for key, value in params:
            known[key] = {"key": key, "value": value}
        model["data"]["params"] = list(known.values())
        return {}

    def model_tags(self, model_id: str, f: Fields) -> Body:
        model = self.model(model_id)
        tags = f.items("tags")
        known = {t["key"]: t for t in model["info"]["tags"]}
        for key, value in tags:
            known[key] = {"key": key, "value": value}
        model["info"]["tags"] = list(known.values())
        return {"model": model}

    def delete_model_tag(self, model_id: str, key: str) -> Body:
        model = self.model(model_id)
        model["info"]["tags"] = [t for t in model["info"]["tags"] if t["key"] != key]
        return {}

    def search_models(self, f: Fields) -> Body:
        ids = [str(i) for i in f.listed("experiment_ids")]
        models = [m for m in self.models.values() if not ids or m["info"]["experiment_id"] in ids]
        return {"models": models}


def _folder_name(name: str) -> str:
    """A run or model name as one folder name: what a path cannot hold becomes '_'."""
    folder = re.sub(r"[^A-Za-z0-9._=+@,-]", "_", name).strip(".") or "run"
    return folder[:120]


# --- search filters -------------------------------------------------------------------

_CLAUSE = re.compile(
    r"""\s*(?:(?P<kind>metrics?|params?|parameters?|tags?|attributes?|attr)\.)?
    (?P<key>`[^`]+`|"[^"]+"|[\w.\-/]+)\s*
    (?P<op>!=|<=|>=|=|<|>|LIKE|ILIKE)\s*
    (?P<value>'[^']*'|"[^"]*"|[-+\w.]+)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


_KINDS = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
}


def _run_filter(text: str, where: str) -> Callable[[MlRun], bool]:
    """A search filter (``AND``-joined comparisons) as a predicate on runs."""
    if not text.strip():
        return lambda run: True
    checks = []
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(clause)
        if match is None:
            raise _bad(
                f"{where}: the field 'filter' holds {clause!r}, which this endpoint does not "
                "understand (it takes metrics.X, params.X, tags.X or attributes.X compared "
                "with = != < <= > >= to a quoted string or a number, joined by AND)"
            )
        checks.append(_clause_check(match, where))
    return lambda run: all(check(run) for check in checks)


def _clause_check(match: re.Match[str], where: str) -> Callable[[MlRun], bool]:
    kind = _KINDS.get((match.group("kind") or "").lower(), "attribute")
    key = match.group("key").strip('`"')
    op = match.group("op").upper()
    raw = match.group("value")
    quoted = raw[:1] in ("'", '"')
    value = raw[1:-1] if quoted else raw
    if kind == "metric":
        number = _as_float(value, f"{where}: the value compared with metrics.{key}")

        def check(run: MlRun) -> bool:
            found = run.metrics.get(key)
            return found is not None and _compare(found[0], op, number)

        return check

    def read(run: MlRun) -> str | None:
        if kind == "param":
            return run.params.get(key)
        if kind == "tag":
            return run.tags.get(key)
        info = run.info()
        attribute = {"name": "run_name", "id": "run_id", "created": "start_time"}.get(key, key)
        found = info.get(attribute)
        return None if found is None else str(found)

    return lambda run: _compare_text(read(run), op, value)


def _compare(a: float, op: str, b: float) -> bool:
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }.get(op, False)


def _compare_text(found: str | None, op: str, value: str) -> bool:
    if found is None:
        return False
    if op in ("LIKE", "ILIKE"):
        pattern = "^" + ".*".join(re.escape(p) for p in value.split("%")) + "$"
        flags = re.IGNORECASE if op == "ILIKE" else 0
        return re.match(pattern, found, flags) is not None
    if op in ("=", "!="):
        return (found == value) == (op == "=")
    try:
        return _compare(float(found), op, float(value))
    except ValueError:
        return _compare_text_order(found, op, value)


def _compare_text_order(a: str, op: str, b: str) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}.get(op, False)


# --- HTTP ------------------------------------------------------------------------------

_MODEL_PATH = re.compile(r"logged-models/(?P<id>[^/]+)(?P<rest>/params|/tags|/tags/(?P<key>.+))?")


def route(tracking: Tracking, method: str, path: str, body: Body) -> Answer:
    """The answer (status, JSON body) to one call; raises ApiError for an error answer."""
    for prefix in PREFIXES:
        if path.startswith(prefix):
            name = path[len(prefix) :].strip("/")
            break
    else:
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No endpoint {method} {path}")
    where = f"{method} {name}"
    f = Fields(where, body)
    simple: dict[tuple[str, str], Callable[[Fields], Body]] = {
        ("GET", "experiments/get"): tracking.get_experiment,
        ("GET", "experiments/get-by-name"): tracking.get_experiment_by_name,
        ("POST", "experiments/create"): tracking.create_experiment,
        ("POST", "experiments/search"): tracking.search_experiments,
        ("GET", "experiments/search"): tracking.search_experiments,
        ("POST", "experiments/set-experiment-tag"): tracking.set_experiment_tag,
        ("POST", "runs/create"): tracking.create_run,
        ("GET", "runs/get"): tracking.get_run,
        ("POST", "runs/update"): tracking.update_run,
        ("POST", "runs/search"): tracking.search_runs,
        ("POST", "runs/log-metric"): tracking.log_metric,
        ("POST", "runs/log-parameter"): tracking.log_param,
        ("POST", "runs/set-tag"): tracking.set_tag,
        ("POST", "runs/delete-tag"): tracking.delete_tag,
        ("POST", "runs/log-batch"): tracking.log_batch,
        ("POST", "runs/log-inputs"): tracking.log_inputs,
        ("POST", "runs/outputs"): tracking.log_outputs,
        ("POST", "runs/log-model"): tracking.log_model,
        ("GET", "metrics/get-history"): tracking.metric_history,
        ("POST", "logged-models"): tracking.create_model,
        ("POST", "logged-models/search"): tracking.search_models,
    }
    with tracking.lock:
        handler = simple.get((method, name))
        if handler is not None:
            return 200, handler(f)
        match = _MODEL_PATH.fullmatch(name)
        if match is not None:
            model_id, rest = unquote(match.group("id")), match.group("rest") or ""
            if rest == "" and method == "GET":
                return 200, tracking.get_model(model_id)
            if rest == "" and method == "PATCH":
                return 200, tracking.finalize_model(model_id, f)
            if rest == "/params" and method == "POST":
                return 200, tracking.model_params(model_id, f)
            if rest == "/tags" and method == "PATCH":
                return 200, tracking.model_tags(model_id, f)
            if match.group("key") and method == "DELETE":
                return 200, tracking.delete_model_tag(model_id, unquote(match.group("key")))
    raise ApiError(
        404,
        "ENDPOINT_NOT_FOUND",
        f"Runyard's MLflow endpoint does not serve {method} {path} (it serves the tracking "
        "calls scripts make: experiments, runs, metrics, params, tags, inputs, logged models)",
    )


class Handler(BaseHTTPRequestHandler):
    """One connection to the endpoint (HTTP/1.1, kept alive as MLflow's client wants)."""

    protocol_version = "HTTP/1.1"
    server: Server
    server_version = "runyard-mlflow"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self._body(method, url.query)
            if path in ("/version", "/health"):
                self._text(200, _mlflow_version() if path == "/version" else "OK")
                return
            status, answer = route(self.server.tracking, method, path, body)
            self._json(status, answer if answer is not None else {})
        except ApiError as err:
            if err.code == "ENDPOINT_NOT_FOUND":
                self.server.note_once(
                    f"{method} {path}",
                    f"runyard: MLflow asked for {method} {path}, which Runyard's MLflow "
                    "endpoint does not serve; the call failed and the run goes on",
                )
            self._json(err.status, {"error_code": err.code, "message": err.message})
        except Exception as exc:
            self.server.note_once(
                f"error {method} {path} {type(exc).__name__}",
                f"runyard: Runyard's MLflow endpoint failed on {method} {path}:\n"
                + traceback.format_exc(),
            )
            message = f"Runyard's MLflow endpoint failed on {method} {path}: {exc!r}"
            self._json(500, {"error_code": "INTERNAL_ERROR", "message": message})

    def _body(self, method: str, query: str) -> Body:
        body: Body = {}
        if query:
            body.update(parse_qs(query, keep_blank_values=True))
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise ApiError(
                411, "MALFORMED_REQUEST", "send the body with a Content-Length, not chunked"
            )
        try:
            length = int(length_text) if length_text else 0
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "MALFORMED_REQUEST", "Content-Length is not a number") from None
        if length > MAX_BODY_BYTES or length < 0:
            self.close_connection = True
            raise ApiError(
                413,
                "MALFORMED_REQUEST",
                f"the request body is {length} bytes; at most {MAX_BODY_BYTES} are taken",
            )
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return body
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(
                400, "MALFORMED_REQUEST", f"{method} {self.path}: the body is not JSON ({exc})"
            ) from None
        if not isinstance(parsed, dict):
            raise ApiError(
                400,
                "MALFORMED_REQUEST",
                f"{method} {self.path}: the body must be a JSON object, got {_shown(parsed)}",
            )
        body.update(parsed)
        return body

    def _json(self, status: int, answer: object) -> None:
        data = json.dumps(answer, allow_nan=False).encode("utf-8")
        self._send(status, "application/json", data)

    def _text(self, status: int, text: str) -> None:
        self._send(status, "text/plain; charset=utf-8", text.encode("utf-8"))

    def _send(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, tracking: Tracking) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.tracking = tracking
        self._noted: set[str] = set()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def note_once(self, topic: str, line: str) -> None:
        if topic not in self._noted and len(self._noted) < 50:
            self._noted.add(topic)
            client._stderr(line)


def start(outputs: str, recorder: Recorder | None = None) -> Server:
    """An endpoint serving in a daemon thread, its artifacts under ``outputs``."""
    server = Server(Tracking(outputs, recorder))
    thread = threading.Thread(
        target=server.serve_forever, name="runyard-mlflow-endpoint", daemon=True
    )
    thread.start()
    return server


_served: Server | None = None


def serve_for_run() -> str | None:
    """Start this process's endpoint (once) and point MLflow at it; its address.

    Does nothing (None) outside a run or when ``MLFLOW_TRACKING_URI`` is set.
    """
    global _served
    if _served is not None:
        return _served.uri
    if os.environ.get(ENV_MLFLOW_URI) or client.active_run_id() is None:
        return None
    outputs = os.environ.get(client.ENV_OUTPUTS) or os.path.abspath("outputs")
    _served = start(outputs)
    os.environ[ENV_MLFLOW_URI] = _served.uri
    os.environ[ENV_ENDPOINT] = _served.uri
    # MLflow prints a "View run at <uri>" line for a server with a web UI: this has none.
    os.environ.setdefault(ENV_NO_URL, "true")
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h.strip()]
        if "127.0.0.1" not in hosts:
            os.environ[name] = ",".join([*hosts, "127.0.0.1"])
    return _served.uri


def _mlflow_version() -> str:
    """The version of the mlflow this process imported: the client then takes the
    endpoint for a server of its own version."""
    module = sys.modules.get("mlflow.version") or sys.modules.get("mlflow")
    version = getattr(module, "VERSION", None) or getattr(module, "__version__", None)
    return version if isinstance(version, str) else "2.0.0"
