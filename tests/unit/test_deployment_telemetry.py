"""Deployment telemetry in `runyard/deployments/list` (and, sampled the same way, in
`runyard deployment list`): a fresh sample of each running
deployment when its service answers /metrics in time, the last recorded one otherwise,
and a listing that never fails on a silent or odd service. The engine and the service
are stand-ins here; tests/integration/test_lsp_models.py talks to real ones."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runyard.core.errors import RunyardError
from runyard.core.project import Project
from runyard.core.store import Deployment, Store
from runyard.lsp import protocol as p
from runyard.lsp.convert import unstructure
from runyard.lsp.features import deployments as lsp_deployments
from runyard.models import deploy, views


def _record(name: str, status: str = "running", created: float = 1000.0) -> Deployment:
    return Deployment(
        name=name,
        model="net",
        version=1,
        target="dock",
        image="runyard-model/net:1",
        container_id=f"c-{name}",
        host="127.0.0.1",
        port=40000,
        status=status,
        created=created,
        stopped=None if status == "running" else created + 50,
        options={},
    )


class _Container:
    def __init__(self, status: str) -> None:
        self.status = status


class _Containers:
    def __init__(self, states: dict[str, str]) -> None:
        self.states = states

    def get(self, container_id: str) -> _Container:
        import docker

        if container_id not in self.states:
            raise docker.errors.NotFound("no such container")
        return _Container(self.states[container_id])


class _Client:
    def __init__(self, states: dict[str, str]) -> None:
        self.containers = _Containers(states)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path)
    proj.state_dir.mkdir(parents=True)
    return proj


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """deployment name -> what its /metrics does: (status, body), an exception to raise,
    a number of seconds to hang before failing like a timed-out request, or a barrier to
    wait at (with the other deployments' samples) before answering like one. Every
    deployment's container is running unless `answers["_containers"]` says otherwise."""
    table: dict[str, Any] = {"_containers": {}, "_timeouts": []}

    def engine(_project: Project, dep: Deployment) -> tuple[dict[str, Any], Any]:
        states = {f"c-{n}": "running" for n in table if not n.startswith("_")}
        states.update(table["_containers"])
        return {}, _Client(states)

    def request(
        _options: dict[str, Any],
        dep: Deployment,
        method: str,
        path: str,
        body: bytes | None = None,
        client: Any = None,
        timeout: float = deploy.REQUEST_TIMEOUT,
    ) -> tuple[int, bytes]:
        assert (method, path) == ("GET", "/metrics")
        table["_timeouts"].append(timeout)
        answer = table[dep.name]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, threading.Barrier):
            answer.wait()  # broken (raises) unless all its parties sample at once
            raise RunyardError(f"The deployment {dep.name} does not answer (timed out).")
        if isinstance(answer, float):
            time.sleep(min(answer, timeout))
            raise RunyardError(f"The deployment {dep.name} does not answer (timed out).")
        status, payload = answer
        return status, payload if isinstance(payload, bytes) else json.dumps(payload).encode()

    monkeypatch.setattr(deploy, "_engine", engine)
    monkeypatch.setattr(deploy, "request", request)
    return table


def _listing(project: Project) -> dict[str, dict[str, Any]]:
    result = lsp_deployments.list_deployments(project)
    assert isinstance(result, p.DeploymentsListResult)
    return {d["name"]: d for d in unstructure(result)["deployments"]}


def test_a_running_deployment_is_sampled_afresh_and_the_sample_recorded(
    project: Project, answers: dict[str, Any]
) -> None:
    with Store(project.store_path) as store:
        store.put_deployment(_record("web"))
        store.add_deployment_stats("web", 1100.0, 3, 0, 1.0, 2.0)
    answers["web"] = (200, {"requests": 12, "errors": 1, "p50_ms": 3.1, "p95_ms": 9.8})

    before = time.time()
    listed = _listing(project)["web"]

    assert listed["status"] == "running"
    telemetry = listed["telemetry"]
    assert telemetry["sampled"] >= before
    assert telemetry == {
        "requests": 12,
        "errors": 1,
        "p50Ms": 3.1,
        "p95Ms": 9.8,
        "sampled": telemetry["sampled"],
    }
    assert answers["_timeouts"] == [views.SAMPLE_TIMEOUT]
    with Store(project.store_path) as store:
        assert [s["requests"] for s in store.deployment_stats("web")] == [12, 3]


def test_a_silent_or_odd_service_keeps_its_last_sample_and_the_listing_its_record(
    project: Project, answers: dict[str, Any]
) -> None:
    with Store(project.store_path) as store:
        for name in ("silent", "refused", "garbage", "failing", "fresh"):
            store.put_deployment(_record(name))
            store.add_deployment_stats(name, 1100.0, 5, 2, None, None)
    answers["silent"] = 0.5  # hangs until the request's timeout
    answers["refused"] = RunyardError("does not answer (Connection refused)")
    answers["garbage"] = (200, b"<html>not telemetry</html>")
    answers["failing"] = (500, b"Internal Server Error")
    answers["fresh"] = (200, {"requests": 0, "errors": 0, "p50_ms": None, "p95_ms": None})

    listed = _listing(project)

    for name in ("silent", "refused", "garbage", "failing"):
        assert listed[name]["status"] == "running", name
        assert listed[name]["telemetry"] == {
            "requests": 5,
            "errors": 2,
            "p50Ms": None,
            "p95Ms": None,
            "sampled": 1100.0,
        }, name
    assert listed["fresh"]["telemetry"]["requests"] == 0
    assert listed["fresh"]["telemetry"]["sampled"] > 1100.0


def _cli_listing(project: Project) -> dict[str, dict[str, Any]]:
    from runyard.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["--project", str(project.root), "deployment", "list", "--json"]) == 0
    return {d["name"]: d for d in json.loads(out.getvalue())}


@pytest.mark.parametrize("listing", [_listing, _cli_listing], ids=["lsp", "cli"])
def test_running_deployments_are_sampled_at_once_not_one_after_another(
    project: Project, answers: dict[str, Any], listing: Any
) -> None:
    # each sample waits until all four are being taken: one after another, the first
    # one's barrier breaks after 30 s and every sample fails with BrokenBarrierError
    together = threading.Barrier(4, timeout=30)
    with Store(project.store_path) as store:
        for i in range(4):
            store.put_deployment(_record(f"slow-{i}", created=1000.0 + i))
            answers[f"slow-{i}"] = together
    listed = listing(project)
    assert not together.broken
    assert len(answers["_timeouts"]) == 4
    assert {d["status"] for d in listed.values()} == {"running"}
    assert not any(d["telemetry"] for d in listed.values())  # none sampled, none before


def test_stopped_and_ended_deployments_report_their_last_sample_without_asking(
    project: Project, answers: dict[str, Any]
) -> None:
    with Store(project.store_path) as store:
        store.put_deployment(_record("old", status="stopped"))
        store.add_deployment_stats("old", 1040.0, 7, 1, 2.5, 8.0)
        store.add_deployment_stats("old", 1020.0, 4, 0, 2.0, 6.0)
        store.put_deployment(_record("ended"))
        store.add_deployment_stats("ended", 1030.0, 2, 0, 1.0, 1.5)
        store.put_deployment(_record("never", status="stopped"))
        # a sample of an earlier deployment of that name is not this one's
        store.put_deployment(_record("again", status="stopped", created=2000.0))
        store.add_deployment_stats("again", 1500.0, 9, 9, 1.0, 1.0)
    answers["ended"] = RunyardError("must not be asked")
    answers["_containers"] = {"c-ended": "exited"}

    listed = _listing(project)

    assert listed["old"]["telemetry"] == {
        "requests": 7,
        "errors": 1,
        "p50Ms": 2.5,
        "p95Ms": 8.0,
        "sampled": 1040.0,
    }
    assert listed["ended"]["status"] == "exited"
    assert listed["ended"]["telemetry"]["sampled"] == 1030.0
    assert listed["never"]["telemetry"] is None
    assert listed["again"]["telemetry"] is None
    assert answers["_timeouts"] == []  # only running containers are asked


def test_an_unexpected_failure_while_sampling_does_not_fail_the_listing(
    project: Project, answers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(project.store_path) as store:
        store.put_deployment(_record("boom"))
        store.add_deployment_stats("boom", 1100.0, 1, 0, 1.0, 1.0)
    answers["boom"] = (200, {})

    def explode(*_args: Any, **_kw: Any) -> Any:
        raise OSError("the engine went away mid-call")

    monkeypatch.setattr(deploy, "_engine", explode)
    listed = _listing(project)
    # _engine failing outside RunyardError: the record as it was, its last sample
    assert listed["boom"]["status"] == "running"
    assert listed["boom"]["telemetry"]["sampled"] == 1100.0


def test_stats_passes_its_timeout_and_raises_for_a_silent_service(
    project: Project, answers: dict[str, Any]
) -> None:
    with Store(project.store_path) as store:
        store.put_deployment(_record("web"))
        answers["web"] = RunyardError("does not answer")
        with pytest.raises(RunyardError):
            deploy.stats(project, store, "web", timeout=1.5)
        answers["web"] = (200, {"requests": 2, "errors": 0, "p50_ms": 1, "p95_ms": 2})
        assert deploy.stats(project, store, "web")["requests"] == 2
        store.update_deployment("web", status="stopped")
        assert deploy.stats(project, store, "web")["requests"] == 2
    assert answers["_timeouts"] == [1.5, deploy.REQUEST_TIMEOUT]


def test_behind_a_remote_engine_the_request_in_the_container_takes_the_timeout() -> None:
    seen: dict[str, Any] = {}

    class Container:
        def exec_run(self, cmd: list[str], environment: dict[str, str], demux: bool) -> Any:
            seen.update(cmd=cmd, env=environment)
            return 0, b'200\n{"requests": 1}'

    class Containers:
        def get(self, _container_id: str) -> Container:
            return Container()

    class Client:
        containers = Containers()

    dep = _record("web")  # the service bound to the remote machine's loopback
    status, body = deploy.request(
        {"address": "ssh://me@gpu-box"}, dep, "GET", "/metrics", client=Client(), timeout=2.0
    )
    assert (status, json.loads(body)) == (200, {"requests": 1})
    assert seen["env"]["RUNYARD_TIMEOUT"] == "2.0"
    assert seen["cmd"][-2:] == ["GET", "/metrics"]
    assert 'timeout=float(os.environ["RUNYARD_TIMEOUT"])' in seen["cmd"][2]
