"""The `runyard/models/...` requests over real LSP, on a real local run."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException

from runyard.core.project import Project
from runyard.core.store import Deployment, Store
from runyard.models import deploy
from tests import helpers
from tests.helpers import commit_all, runyard
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration

TRAIN = """\
import os
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pt", "wb") as f:
    f.write(b"torch weights")
"""


@pytest_asyncio.fixture
async def lsp(project: Path) -> AsyncIterator[Session]:
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "train")
    async with Session(project) as session:
        yield session


async def test_register_list_and_get_with_lineage(lsp: Session, project: Path) -> None:
    assert await lsp.request("runyard/models/list", {}) == {"models": []}
    proc = runyard(project, "submit", "train.py", check=True)
    run_id = proc.stdout.splitlines()[0].strip()

    model = await lsp.request(
        "runyard/models/register",
        {
            "runId": run_id,
            "path": "model.pt",
            "name": "net",
            "tags": {"owner": "me"},
            "aliases": ["production"],
        },
    )
    assert model["ref"] == "net:1" and model["framework"] == "pytorch"
    assert model["kind"] == "file" and model["size"] == len(b"torch weights")
    assert model["runId"] == run_id and model["sourcePath"] == "model.pt"
    assert model["tags"] == {"owner": "me"} and model["aliases"] == ["production"]

    listing = await lsp.request("runyard/models/list", {"name": "net"})
    assert [m["ref"] for m in listing["models"]] == ["net:1"]

    details = await lsp.request("runyard/models/get", {"ref": "net@production"})
    assert details["model"]["ref"] == "net:1"
    assert details["run"]["id"] == run_id and details["run"]["status"] == "completed"
    assert details["run"]["script"] == "train.py"
    assert details["snapshotCommit"] and details["target"] == "local"
    assert details["deployments"] == []

    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/models/get", {"ref": "net:9"})
    assert err.value.code == -32012 and "no version 9" in err.value.message
    with pytest.raises(JsonRpcException) as err:
        await lsp.request(
            "runyard/models/register", {"runId": run_id, "path": "../run.log", "name": "x"}
        )
    assert err.value.code == -32011 and "'..'" in err.value.message


async def test_deployments_list_is_empty_in_a_new_project(lsp: Session) -> None:
    assert await lsp.request("runyard/deployments/list", {}) == {"deployments": []}


async def test_deploy_refuses_a_scoring_script_without_run_before_any_build(
    lsp: Session, project: Path
) -> None:
    proc = runyard(project, "submit", "train.py", check=True)
    run_id = proc.stdout.splitlines()[0].strip()
    await lsp.request(
        "runyard/models/register", {"runId": run_id, "path": "model.pt", "name": "net"}
    )
    (project / "score.py").write_text("def init(model_path):\n    pass\n")

    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/models/deploy", {"ref": "net:1", "score": "score.py"})
    assert err.value.code == -32011
    assert "no top-level run() function" in err.value.message
    assert "run(payload)" in err.value.message  # the hint says what to define
    # Nothing was built or started: no deployment is recorded.
    assert await lsp.request("runyard/deployments/list", {}) == {"deployments": []}


# ---- deployment telemetry in the listing ----------------------------------------------------


def _deployment(name: str, target: str, **over: Any) -> Deployment:
    fields: dict[str, Any] = {
        "name": name,
        "model": "net",
        "version": 1,
        "target": target,
        "image": "runyard-model/net:1",
        "container_id": f"missing-{name}",
        "host": "127.0.0.1",
        "port": _closed_port(),
        "status": "running",
        "created": time.time() - 60,
        "stopped": None,
        "options": {},
    }
    return Deployment(**{**fields, **over})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_deployments_list_reports_the_last_sample_of_a_stopped_deployment(
    lsp: Session, project: Path
) -> None:
    now = time.time()
    with Store(Project(project).store_path) as store:
        store.put_deployment(_deployment("old", "local", status="stopped", stopped=now - 5))
        store.add_deployment_stats("old", now - 30, 4, 0, 2.0, 6.0)
        store.add_deployment_stats("old", now - 10, 12, 1, 3.1, 9.8)
        store.put_deployment(_deployment("quiet", "local", status="stopped", created=now - 1))
        # a running record whose target is no docker target: unreachable, last sample kept
        store.put_deployment(_deployment("lost", "local", created=now - 2))
        store.add_deployment_stats("lost", now - 1, 2, 2, None, None)

    listed = await lsp.request("runyard/deployments/list", {})

    by_name = {d["name"]: d for d in listed["deployments"]}
    assert [d["name"] for d in listed["deployments"]] == ["quiet", "lost", "old"]
    assert by_name["old"]["status"] == "stopped"
    assert by_name["old"]["telemetry"] == {
        "requests": 12,
        "errors": 1,
        "p50Ms": 3.1,
        "p95Ms": 9.8,
        "sampled": pytest.approx(now - 10),
    }
    assert by_name["quiet"]["telemetry"] is None
    assert by_name["lost"]["status"] == "unreachable"
    assert by_name["lost"]["telemetry"]["requests"] == 2
    assert by_name["lost"]["telemetry"]["p50Ms"] is None


@pytest.fixture
def running_container(project: Path) -> Iterator[Any]:
    """A real running container on this machine's engine (the records below point at it),
    and docker target `dock` for it."""
    engine = helpers.docker_engine()
    runyard(
        project,
        "target",
        "add",
        "dock",
        "--type",
        "docker",
        *helpers.docker_target_options(),
        check=True,
    )
    container = engine.containers.run(
        helpers.BASE_IMAGE,
        ["sleep", "300"],
        detach=True,
        labels={"dev.runyard.project": str(project)},
    )
    try:
        yield container
    finally:
        container.remove(force=True)


async def test_deployments_list_samples_running_ones_and_survives_silent_services(
    lsp: Session, project: Path, running_container: Any
) -> None:
    metrics = {"requests": 7, "errors": 1, "p50_ms": 4.5, "p95_ms": 12.0}
    now = time.time()
    # `silent` accepts connections (the backlog) and never answers
    with helpers.json_service("/metrics", metrics) as live_port, socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with Store(Project(project).store_path) as store:
            on = {"container_id": running_container.id}
            store.put_deployment(_deployment("live", "dock", port=live_port, **on))
            store.put_deployment(_deployment("hung", "dock", port=silent.getsockname()[1], **on))
            store.put_deployment(_deployment("refused", "dock", **on))
            store.put_deployment(_deployment("gone", "dock"))  # its container is not there
            for name in ("live", "hung", "refused", "gone"):
                store.add_deployment_stats(name, now - 20, 3, 0, 1.0, 2.0)

        started = time.monotonic()
        listed = await lsp.request("runyard/deployments/list", {})
        took = time.monotonic() - started

    by_name = {d["name"]: d for d in listed["deployments"]}
    # not held by the silent service for a request's whole timeout (a generous bound:
    # the samples are limited to 2 s and run at once)
    assert took < deploy.REQUEST_TIMEOUT / 2, f"the listing took {took:.1f}s"
    assert by_name["live"]["status"] == "running"
    live = by_name["live"]["telemetry"]
    assert (live["requests"], live["errors"], live["p50Ms"], live["p95Ms"]) == (7, 1, 4.5, 12.0)
    assert live["sampled"] >= now
    for name in ("hung", "refused"):
        assert by_name[name]["status"] == "running", name
        assert by_name[name]["telemetry"]["sampled"] == pytest.approx(now - 20), name
    assert by_name["gone"]["status"] == "gone"
    assert by_name["gone"]["telemetry"]["requests"] == 3
    with Store(Project(project).store_path) as store:
        assert [s["requests"] for s in store.deployment_stats("live")] == [7, 3]
        assert len(store.deployment_stats("hung")) == 1
