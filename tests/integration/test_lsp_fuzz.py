"""The language server answers every request and stays up, whatever it is sent: requests
with their params left out, strings with lone surrogates, an alias bomb in an open job
file, and a seeded fuzz of YAML documents and request params. Driven over real stdio
with hand-written JSON-RPC (`raw_lsp`), so nothing is tidied up on the client side."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import pytest_asyncio

from runyard.lsp import protocol
from runyard.lsp.convert import camel
from tests.fuzz_inputs import alias_bomb, fuzzed_text, json_value, seed_texts
from tests.integration.raw_lsp import MISSING, RawServer

pytestmark = pytest.mark.integration

#: codes a request may be answered with: bad params, and Runyard's own errors
#: (something went wrong / bad input / not found), each with a message that says why
EXPECTED_ERRORS = {-32602, -32010, -32011, -32012}


@pytest_asyncio.fixture
async def server(project: Path, tmp_path: Path) -> AsyncIterator[RawServer]:
    raw = RawServer(project, tmp_path / "server.log")
    await raw.start()
    try:
        yield raw
    finally:
        await raw.stop()


def _required(method: str) -> list[str]:
    params_type = protocol.REQUESTS[method][0]
    return [camel(a.name) for a in attrs.fields(params_type) if a.default is attrs.NOTHING]


def _fields(method: str) -> list[str]:
    return [camel(a.name) for a in attrs.fields(protocol.REQUESTS[method][0])]


async def test_every_custom_request_without_params_gets_an_answer(server: RawServer) -> None:
    for method in protocol.REQUESTS:
        if method in (protocol.RUNS_SUBMIT, protocol.DEPLOYMENTS_LIST):
            continue  # submit would run the default job; deployments ask the engine
        answer = await server.request(method, MISSING, timeout=30)
        required = _required(method)
        if required:
            # JSON-RPC lets a client leave params out; what the method needs is named
            assert answer.get("error", {}).get("code") == -32602, (method, answer)
            assert f"params.{required[0]}" in answer["error"]["message"], (method, answer)
        else:
            assert "result" in answer or answer["error"]["code"] in EXPECTED_ERRORS, (
                method,
                answer,
            )
    info = await server.request(protocol.SERVER_INFO, MISSING)
    assert info["result"]["version"]
    # a method nobody serves, and one of LSP's own with params that do not fit it
    unknown = await server.request("runyard/nothing/here", MISSING)
    assert unknown["error"]["code"] == -32601, unknown
    hover = await server.request("textDocument/hover", {"position": "here"})
    assert hover["error"]["code"] == -32602, hover
    assert "textDocument/hover" in hover["error"]["message"]
    assert server.alive()


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        (protocol.TARGETS_LIST, {"project": "\ud800"}, "params.project"),
        (protocol.TARGETS_TEST, {"name": "local\udfff"}, "params.name"),
        (protocol.RUNS_COMPARE, {"runIds": ["a", "b\ud83d"]}, "params.runIds[1]"),
        (
            protocol.MODELS_REGISTER,
            {"runId": "r", "path": "m.pkl", "name": "m", "tags": {"k\udc00": "v"}},
            "params.tags",
        ),
        (protocol.DEPLOYMENTS_INVOKE, {"name": "d", "payload": {"x": ["\ud800"]}}, "x[0]"),
    ],
)
async def test_a_lone_surrogate_in_params_gets_invalid_params_naming_the_field(
    server: RawServer, method: str, params: dict[str, Any], field: str
) -> None:
    answer = await server.request(method, params)
    assert answer.get("error", {}).get("code") == -32602, answer
    message = answer["error"]["message"]
    assert field in message and "surrogate" in message, message
    assert "Traceback" not in str(answer)
    info = await server.request(protocol.SERVER_INFO, {})
    assert info["result"]["version"]


async def test_an_alias_bomb_in_a_job_file_gets_a_diagnostic_and_the_server_keeps_answering(
    server: RawServer, project: Path
) -> None:
    (project / "train.py").write_text("print('hi')\n")
    bomb = alias_bomb()  # 43 million values from 300 bytes
    path = project / ".runyard" / "jobs" / "bomb.yml"
    path.write_text(bomb)
    uri = path.as_uri()
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": bomb}},
    )
    note = await server.wait_notification(
        "textDocument/publishDiagnostics",
        lambda p: p["uri"] == uri and p["diagnostics"],
        timeout=60,
    )
    [diagnostic] = note["params"]["diagnostics"]
    assert "100,000" in diagnostic["message"] and "alias" in diagnostic["message"]
    assert diagnostic["range"]["start"]["line"] == 6  # the `f:` line, 0-based
    listing = await server.request(protocol.JOBS_LIST, {}, timeout=60)
    [problem] = listing["result"]["problems"]
    assert problem["file"].endswith("bomb.yml") and problem["line"] == 7, problem
    info = await server.request(protocol.SERVER_INFO, {})
    assert info["result"]["version"] and server.alive()


def _random_params(rng: random.Random, method: str, strings: tuple[str, ...]) -> Any:
    """Mostly objects with the method's own field names (so the checks past the first
    field are reached), some with unknown fields, some not objects at all."""
    roll = rng.random()
    if roll < 0.15:
        return json_value(rng, 0, strings)
    fields = _fields(method)
    params = {
        name: json_value(rng, 1, strings)
        for name in rng.sample(fields, rng.randrange(0, len(fields) + 1))
    }
    if roll > 0.9:
        params[rng.choice(["bogus", "\ud800", "", "run_id"])] = 1
    return params


async def _answered(server: RawServer, pending: list[tuple[str, Any, Any]]) -> None:
    for method, params, future in pending:
        try:
            answer = await asyncio.wait_for(future, 60)
        except TimeoutError:
            raise AssertionError(
                f"no answer to {method} with params {str(params)[:300]} (server alive:"
                f" {server.alive()}); server log:\n{server.stderr_tail()}"
            ) from None
        if "error" in answer:
            error = answer["error"]
            # no internal error at all: not on the params themselves, nor where the file
            # system would refuse them (a name too long for a file name is bad input)
            assert error["code"] in EXPECTED_ERRORS, (
                method,
                str(params)[:300],
                {**error, "data": str(error.get("data"))[-1500:]},
            )
    pending.clear()


async def test_fuzzed_yaml_and_params_always_get_an_answer_and_the_server_stays_up(
    server: RawServer, project: Path, tmp_path: Path
) -> None:
    rng = random.Random(20261206)
    seeds = seed_texts()
    # the only absolute folders in the params: inside this test's own folder
    made = tmp_path / "made"
    strings = (str(made), made.as_uri(), made.as_uri() + "/%00", str(project), "local")
    docs = {
        "job": (project / ".runyard" / "jobs" / "fuzz.yml").as_uri(),
        "target": (project / ".runyard" / "targets" / "fuzz.yml").as_uri(),
    }
    versions = dict.fromkeys(docs.values(), 1)
    for uri in docs.values():
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": ""}},
        )
    pending: list[tuple[str, Any, Any]] = []
    texts = 0
    for i in range(500):
        uri = docs[rng.choice(["job", "target"])]
        text = fuzzed_text(rng, seeds)
        versions[uri] += 1
        server.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": versions[uri]},
                "contentChanges": [{"text": text}],
            },
        )
        texts += 1
        lines = text.split("\n")
        for feature in ("textDocument/hover", "textDocument/completion"):
            line = rng.randrange(len(lines) + 1)
            position = {"line": line, "character": rng.randrange(0, 80)}
            params = {"textDocument": {"uri": uri}, "position": position}
            pending.append((feature, params, server.send_request(feature, params)))
        if i % 25 == 24:
            await _answered(server, pending)
            version = versions[uri]
            await server.wait_notification(
                "textDocument/publishDiagnostics",
                lambda p, uri=uri, version=version: p["uri"] == uri and p["version"] == version,
            )
    requests = 0
    for round_ in range(90):
        for method in protocol.REQUESTS:
            params = _random_params(rng, method, strings)
            pending.append((method, params, server.send_request(method, params)))
            requests += 1
        if round_ % 3 == 2:
            await _answered(server, pending)
    await _answered(server, pending)
    assert texts + requests > 2900
    info = await server.request(protocol.SERVER_INFO, {})
    assert info["result"]["version"] and server.alive()
