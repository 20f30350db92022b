"""Requests to a deployment on this machine go straight to its loopback port, whatever
proxy the environment names (a corporate HTTP_PROXY cannot reach this machine's
127.0.0.1). The service here is a real HTTP server on loopback."""

from __future__ import annotations

import socket

import pytest

from runyard.core.store import Deployment
from runyard.models import deploy
from tests import helpers


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_local_deployment_is_reached_past_an_environment_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, dead)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with helpers.json_service("/health", {"status": "ok"}) as port:
        dep = Deployment("web", "m", 1, "local", None, None, "127.0.0.1", port, "running", 0.0)
        status, body = deploy.request({}, dep, "GET", "/health", timeout=5)
    assert (status, body) == (200, b'{"status": "ok"}')
