"""The scoring service of a model image (`runyard.models.serve`), run here as the real
process the image runs (its own Python with FastAPI and uvicorn, a virtual environment
built once for the module from the machine's package index), on a free loopback port,
with a real scoring script. What callers can send it: bodies over the size limit, JSON
nested past any sense, payloads that make the scoring script raise. Every failure is
counted in /metrics; no exception text reaches a caller, it goes to the service's log.

RUNYARD_TEST_SERVE_PYTHON names an interpreter that already has FastAPI and uvicorn,
to skip building one."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runyard.models import package, serve
from tests.helpers import missing, until

pytestmark = pytest.mark.integration

SCORE_PY = """\
import json

MODEL = {}


def init(model_path):
    with open(model_path) as f:
        MODEL.update(json.load(f))


def run(payload):
    if payload.get("explode"):
        raise ValueError("secret-detail " + payload["explode"])
    if payload.get("odd"):
        return {"not json": {1, 2}}
    return {"doubled": [2 * x * MODEL["scale"] for x in payload["inputs"]]}
"""


@pytest.fixture(scope="module")
def serve_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An interpreter with what the model image installs for the service."""
    given = os.environ.get("RUNYARD_TEST_SERVE_PYTHON")
    if given:
        return given
    folder = tmp_path_factory.mktemp("serve-env") / "venv"
    venv.EnvBuilder(with_pip=True).create(folder)
    python = str(folder / "bin" / "python")
    pip = subprocess.run(
        [python, "-m", "pip", "install", "-q", *package.SERVER_REQUIREMENTS],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0:
        missing("FastAPI and uvicorn from the package index", pip.stderr[-2000:])
    return python


@dataclass
class Service:
    port: int
    log: Path

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data.decode("utf-8", "replace")

    def metrics(self) -> dict[str, Any]:
        status, data = self.request("GET", "/metrics")
        assert status == 200, data
        assert isinstance(data, dict)
        return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def service(serve_python: str, tmp_path: Path) -> Iterator[Service]:
    (tmp_path / "score.py").write_text(SCORE_PY)
    (tmp_path / "model.json").write_text('{"scale": 1}')
    port = _free_port()
    log = tmp_path / "service.log"
    env = {
        **os.environ,
        "RUNYARD_SCORE": str(tmp_path / "score.py"),
        "RUNYARD_MODEL_PATH": str(tmp_path / "model.json"),
        "RUNYARD_MODEL": "doubler",
        "RUNYARD_MODEL_VERSION": "1",
        "PORT": str(port),
        "RUNYARD_SERVE_HOST": "127.0.0.1",
        "RUNYARD_MAX_BODY_BYTES": "150000",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [serve_python, serve.__file__], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    svc = Service(port, log)

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return svc.request("GET", "/health")[0] == 200
        except OSError:
            return False

    try:
        until(up, 120, "the scoring service answering /health")
        yield svc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _raw(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send `head` (and `body`) as is and read the answer's status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 1 << 62


def test_a_body_over_the_limit_is_refused_with_413_without_being_read(service: Service) -> None:
    assert service.request("POST", "/score", json.dumps({"inputs": [1, 2]}).encode()) == (
        200,
        {"doubled": [2, 4]},
    )
    # Announced as 1 GiB and never sent: the answer comes without waiting for it.
    head = (
        b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n"
    )
    status, body = _raw(service.port, head)
    assert status == 413, body
    assert json.loads(body) == {
        "error": "the request body is over 150000 bytes (RUNYARD_MAX_BODY_BYTES)"
    }
    # Sent in chunks, with no length announced: refused once it passes the limit.
    chunked = b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"1," * 20000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(4)) + b"0\r\n\r\n"
    status, body = _raw(service.port, chunked, chunks)
    assert status == 413, body
    assert service.metrics()["requests"] == 3
    assert service.metrics()["errors"] == 2


def test_json_nested_past_any_sense_is_a_counted_400(service: Service) -> None:
    status, body = service.request("POST", "/score", b"[" * 100_000)
    assert status == 400, body
    assert body == {"error": "the request body is JSON nested too deeply"}
    status, body = service.request("POST", "/score", b"{not json")
    assert status == 400, body
    assert body == {"error": "the request body is not JSON (line 1, column 2)"}
    status, body = service.request("POST", "/score", b"\xff\xfe")
    assert status == 400, body
    metrics = service.metrics()
    assert (metrics["requests"], metrics["errors"]) == (3, 3)


def test_a_failing_scoring_script_answers_500_with_an_id_and_only_the_log_has_why(
    service: Service,
) -> None:
    status, body = service.request("POST", "/score", b'{"explode": "token-123"}')
    assert status == 500, body
    assert isinstance(body, dict) and set(body) == {"error", "id"}, body
    assert body["error"] == f"run(payload) failed: error {body['id']} in the service's log"
    assert "token-123" not in json.dumps(body) and "ValueError" not in json.dumps(body)
    status, odd = service.request("POST", "/score", b'{"odd": true}')
    assert status == 500 and "set" not in json.dumps(odd) and odd["id"] != body["id"], odd
    metrics = service.metrics()
    assert (metrics["requests"], metrics["errors"]) == (2, 2)
    log = until(
        lambda: (t := service.log.read_text()) and odd["id"] in t and t,
        30,
        "the errors in the service's log",
    )
    assert f"runyard-serve: error {body['id']}: run(payload) raised" in log
    assert "ValueError: secret-detail token-123" in log
    assert f"runyard-serve: error {odd['id']}" in log
