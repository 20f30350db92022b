"""The web service inside a model image (`runyard model package`): it runs THERE, not in
Runyard, with the image's Python, FastAPI and uvicorn; it needs nothing else of Runyard.

At start it imports the scoring script (``RUNYARD_SCORE``), checks that it has
``init(model_path)`` and ``run(payload)``, and calls ``init`` once with the path of the
registered file or folder (``RUNYARD_MODEL_PATH``); any failure there ends the process
with a message in the container's log. Then it serves:

- ``POST /score``: the JSON body goes to ``run(payload)``; its JSON-serialisable result
  comes back. A body over ``RUNYARD_MAX_BODY_BYTES`` (default 16 MiB) is a 413, answered
  as soon as its announced length (or, sent in chunks, what came so far) passes the
  limit, without reading the rest, and the connection is closed. A body that is not
  JSON, or JSON nested too deeply for the parser, is a 400. ``run`` raising, or
  returning what JSON cannot hold, is a 500 that says only that and an error id: the
  exception goes to the service's log (stderr: the container's log) under that id,
  never to the caller, who need not see the scoring script's internals. Every failure,
  whatever it is, is counted as an error, and the service goes on.
- ``GET /health``: ``{"status": "ok", ...}`` once ``init`` has returned.
- ``GET /metrics``: request and error counts and the p50/p95 latency of ``/score``.
- ``GET /openapi.json`` and ``GET /docs``: the OpenAPI description (FastAPI's).

Calls to ``run`` are serialised: a scoring script need not be thread-safe. The service
listens on ``PORT`` (8080) of ``RUNYARD_SERVE_HOST`` (0.0.0.0, inside its container).
"""

import importlib.util
import json
import math
import os
import secrets
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from types import ModuleType
from typing import Any

LATENCY_WINDOW = 2000  # the latest /score latencies the percentiles are computed over
MAX_BODY_VAR = "RUNYARD_MAX_BODY_BYTES"
DEFAULT_MAX_BODY = 16 * 1024 * 1024  # bytes of a /score body, unless MAX_BODY_VAR says


class TooLarge(Exception):
    """A request body over the limit (the rest of it is not read)."""


def max_body_bytes() -> int:
    """The limit on a /score body: MAX_BODY_VAR, else DEFAULT_MAX_BODY; SystemExit with a
    message when it is not a positive whole number."""
    raw = os.environ.get(MAX_BODY_VAR, "").strip()
    if not raw:
        return DEFAULT_MAX_BODY
    value = int(raw) if raw.isdigit() else 0
    if value <= 0:
        raise SystemExit(
            f"runyard-serve: {MAX_BODY_VAR}={raw!r} is not a positive number of bytes; "
            f"set it to one, or unset it for the default ({DEFAULT_MAX_BODY})"
        )
    return value


def parse_json(body: bytes) -> tuple[Any, str | None]:
    """The payload in `body`, or why it is not one (said to the caller: no exception
    text, only where the parser stopped)."""
    try:
        return json.loads(body), None
    except json.JSONDecodeError as exc:
        return None, f"the request body is not JSON (line {exc.lineno}, column {exc.colno})"
    except UnicodeDecodeError:
        return None, "the request body is not JSON (not UTF-8, -16 or -32 text)"
    except RecursionError:
        return None, "the request body is JSON nested too deeply"


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
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    limit = max_body_bytes()
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
            return run(payload)

    def encode(result: Any) -> bytes:
        # Serialised here so a result that is not JSON-serialisable is a clear 500.
        return json.dumps(result, allow_nan=False).encode()

    def failed(what: str, doing: str, exc: BaseException) -> Response:
        """A 500 that says `what` failed and names an error id; `exc` goes to the log
        under that id, with its traceback, never to the caller."""
        error_id = secrets.token_hex(6)
        sys.stderr.write(
            f"runyard-serve: error {error_id}: {doing} {type(exc).__name__}: {exc}\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        )
        sys.stderr.flush()
        body = {"error": f"{what} failed: error {error_id} in the service's log", "id": error_id}
        return JSONResponse(body, status_code=500)

    async def read_body(request: Request) -> bytes:
        """The body; TooLarge as soon as it is known to be over `limit`."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge()
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise TooLarge()
        return bytes(data)

    async def answer(request: Request) -> Response:
        try:
            body = await read_body(request)
        except TooLarge:
            return JSONResponse(
                {"error": f"the request body is over {limit} bytes ({MAX_BODY_VAR})"},
                status_code=413,
                headers={"Connection": "close"},  # (the rest of it is never read)
            )
        payload, why = await run_in_threadpool(parse_json, body)
        if why is not None:
            return JSONResponse({"error": why}, status_code=400)
        try:
            result = await run_in_threadpool(call, payload)
        except Exception as exc:
            return failed("run(payload)", "run(payload) raised", exc)
        try:
            data = await run_in_threadpool(encode, result)
        except Exception as exc:
            return failed("run(payload)", "run(payload) returned what JSON cannot hold:", exc)
        return Response(data, media_type="application/json")

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
            400: {"description": "the body is not JSON, or nested too deeply"},
            413: {"description": f"the body is over the limit ({MAX_BODY_VAR})"},
            500: {"description": "run() failed: the error id names it in the service's log"},
        },
    )
    async def score(request: Request) -> Any:
        started = time.perf_counter()
        ok = False
        try:
            response = await answer(request)
            ok = response.status_code < 400
            return response
        except Exception as exc:  # (anything else: still counted, still no text out)
            return failed("scoring", "scoring raised", exc)
        finally:
            telemetry.record(time.perf_counter() - started, ok=ok)

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

    host = os.environ.get("RUNYARD_SERVE_HOST", "0.0.0.0")
    uvicorn.run(app, host=host, port=port, log_level="info")


if __name__ == "__main__":
    main()
