"""The web service inside a model image (`runyard model package`): it runs THERE, not in
Runyard, with the image's Python, FastAPI and uvicorn; it needs nothing else of Runyard.

At start it imports the scoring script (``RUNYARD_SCORE``), checks that it has
``init(model_path)`` and ``run(payload)``, and calls ``init`` once with the path of the
registered file or folder (``RUNYARD_MODEL_PATH``); any failure there ends the process
with a message in the container's log. Then it serves:

- ``POST /score``: the JSON body goes to ``run(payload)``; its JSON-serialisable result
  comes back. A body that is not JSON is a 400, ``run`` raising is a 500 with the error
  text; both are counted as errors and the service goes on.
- ``GET /health``: ``{"status": "ok", ...}`` once ``init`` has returned.
- ``GET /metrics``: request and error counts and the p50/p95 latency of ``/score``.
- ``GET /openapi.json`` and ``GET /docs``: the OpenAPI description (FastAPI's).

Calls to ``run`` are serialised: a scoring script need not be thread-safe.
"""

import importlib.util
import json
import math
import os
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from types import ModuleType
from typing import Any

LATENCY_WINDOW = 2000  # the latest /score latencies the percentiles are computed over


class Telemetry:
    """Counts and latencies of /score, safe to update from several threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.started = time.time()

    def record(self, seconds: float, ok: bool) -> None:
        with self.lock:
            self.requests += 1
            if not ok:
                self.errors += 1
            self.latencies.append(seconds * 1000.0)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            values = sorted(self.latencies)
            requests, errors = self.requests, self.errors
        return {
            "requests": requests,
            "errors": errors,
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "uptime_s": round(time.time() - self.started, 3),
        }


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile of sorted `values` (nearest rank); None when empty."""
    if not values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(values)))
    return round(values[rank - 1], 3)


def load_score(path: str) -> tuple[Callable[[str], Any], Callable[[Any], Any]]:
    """The scoring script's `init` and `run`; SystemExit with a message when it lacks one."""
    spec = importlib.util.spec_from_file_location("score", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"runyard-serve: cannot load the scoring script {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    sys.path.insert(0, os.path.dirname(path))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        traceback.print_exc()
        raise SystemExit(f"runyard-serve: importing the scoring script {path} failed") from None
    missing = [n for n in ("init", "run") if not callable(getattr(module, n, None))]
    if missing:
        raise SystemExit(
            f"runyard-serve: the scoring script {path} has no {' and no '.join(missing)} "
            "function; it needs init(model_path) and run(payload)"
        )
    return module.init, module.run


def create_app(
    init: Callable[[str], Any], run: Callable[[Any], Any], model_path: str, info: dict[str, str]
) -> Any:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    try:
        init(model_path)
    except BaseException:
        traceback.print_exc()
        raise SystemExit(
            f"runyard-serve: init({model_path!r}) in the scoring script failed"
        ) from None
    print(f"runyard-serve: init({model_path!r}) done", flush=True)

    telemetry = Telemetry()
    lock = threading.Lock()
    title = f"{info.get('model', 'model')}:{info.get('version', '?')}"
    app = FastAPI(
        title=title, description="A model served by Runyard", version=info.get("version", "0")
    )

    def call(payload: Any) -> Any:
        with lock:
            result = run(payload)
        # Serialised here so a result that is not JSON-serialisable is a clear 500.
        return json.loads(json.dumps(result, allow_nan=False))

    @app.post(  # type: ignore[untyped-decorator]
        "/score",
        summary="Score a payload with the model",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"description": "run(payload)'s input"}}
                },
            }
        },
        responses={
            400: {"description": "the body is not JSON"},
            500: {"description": "run() failed"},
        },
    )
    async def score(request: Request) -> Any:
        started = time.perf_counter()
        body = await request.body()
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            telemetry.record(time.perf_counter() - started, ok=False)
            return JSONResponse({"error": f"the request body is not JSON: {exc}"}, status_code=400)
        try:
            result = await run_in_threadpool(call, payload)
        except Exception as exc:
            telemetry.record(time.perf_counter() - started, ok=False)
            traceback.print_exc()
            return JSONResponse(
                {"error": f"run(payload) raised {type(exc).__name__}: {exc}"}, status_code=500
            )
        telemetry.record(time.perf_counter() - started, ok=True)
        return JSONResponse(result)

    @app.get("/health", summary="Ready once init(model_path) has returned")  # type: ignore[untyped-decorator]
    async def health() -> dict[str, Any]:
        return {"status": "ok", **info}

    @app.get("/metrics", summary="Request and error counts, p50/p95 latency of /score")  # type: ignore[untyped-decorator]
    async def metrics() -> dict[str, Any]:
        return telemetry.snapshot()

    return app


def main() -> None:
    score_path = os.environ.get("RUNYARD_SCORE", "/opt/runyard/serve/score.py")
    model_path = os.environ.get("RUNYARD_MODEL_PATH", "/opt/runyard/model")
    port = int(os.environ.get("PORT", "8080"))
    info = {
        "model": os.environ.get("RUNYARD_MODEL", ""),
        "version": os.environ.get("RUNYARD_MODEL_VERSION", ""),
        "digest": os.environ.get("RUNYARD_MODEL_DIGEST", ""),
    }
    init, run = load_score(score_path)
    app = create_app(init, run, model_path, info)
    import uvicorn

    uvicorn.run(app, host="0.0.0.0", port=port, log_level="info")


if __name__ == "__main__":
    main()
