"""The live feed across clients of one team store on a real PostgreSQL server: two
clones of a project (two machines' checkouts) share the store; the language server's
feed of one (`runyard.lsp.live.LiveFeed`, polling only every 30 s here) sees the other's
run appear, change state and log metric points within a second, through the store's
notifications. Checking for dead supervisors in one clone never takes the other's
live run for a lost one. Four clones with four runs each of 100,000 points, ingested
side by side as supervisors do: every point is stored, and every clone's feed sees
every run (its own and the others') whole and finished. And the real language server of one
clone shows a run the CLI of another submitted, its states and its metric points.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from runyard.core.config.settings import redact_url
from runyard.core.project import Project
from runyard.core.store import Store
from runyard.lsp import protocol
from runyard.lsp.live import LiveFeed
from runyard.runner import runs
from tests.helpers import make_run
from tests.postgres_server import pg_server, pg_url

pytestmark = pytest.mark.integration
__all__ = ["pg_server", "pg_url"]


def clone(root: Path) -> Project:
    (root / ".runyard" / "state" / "runs").mkdir(parents=True)
    return Project(root)


async def next_event(
    events: list[tuple[float, str, dict[str, Any]]], method: str, check: Any, since: float
) -> float:
    """Seconds from `since` until an event of `method` whose payload passes `check`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for at, m, payload in events:
            if m == method and at >= since and check(payload):
                return at - since
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {method} within 5 s: {[(m, p) for _, m, p in events][-5:]}")


async def test_a_teammates_run_shows_live_through_notifications(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNYARD_STORE_URL", pg_url)
    mine, theirs = clone(tmp_path / "a"), clone(tmp_path / "b")
    Store(mine.store_path).close()  # the schema exists before the feed starts
    events: list[tuple[float, str, dict[str, Any]]] = []
    feed = LiveFeed(
        mine,
        lambda method, payload: events.append((time.monotonic(), method, payload)),
        lambda: 30.0,
    )
    feed.start()
    try:
        for _ in range(500):  # attached and listening
            if feed.listener is not None:
                break
            await asyncio.sleep(0.01)
        assert feed.listener is not None
        await asyncio.sleep(0.3)  # the listener's LISTEN is in place

        store = await asyncio.to_thread(Store, theirs.store_path)
        run_id = "260101-000000-b0b000"
        theirs.run_dir(run_id).mkdir()  # started in the other clone
        t0 = time.monotonic()
        await asyncio.to_thread(store.create_run, make_run(run_id, status="running"))
        seen = await next_event(
            events,
            protocol.RUN_CHANGED,
            lambda p: p["run"]["id"] == run_id and p["run"]["status"] == "running",
            t0,
        )
        assert seen < 1.0
        t1 = time.monotonic()
        await asyncio.to_thread(
            store.add_metrics, run_id, [("loss", i, float(i), 1.0 / (i + 1)) for i in range(100)]
        )
        seen = await next_event(
            events,
            protocol.METRIC_POINTS,
            lambda p: p["runId"] == run_id and sum(len(c["steps"]) for c in p["chunks"]) == 100,
            t1,
        )
        assert seen < 1.0
        # the feed of this clone checks its own runs' supervisors every 2 s: the other
        # clone's run, whose supervisor is not here, stays running
        await asyncio.sleep(runs_reconcile_every() + 0.5)
        assert (await asyncio.to_thread(store.get_run, run_id)).status == "running"
        with Store(mine.store_path) as here:
            assert runs.reconcile(mine, here) == []
            assert [r.id for r in here.live_runs()] == []
            assert [r.id for r in here.live_runs(everywhere=True)] == [run_id]
        t2 = time.monotonic()
        await asyncio.to_thread(store.set_status, run_id, "completed", exit_code=0)
        seen = await next_event(
            events,
            protocol.RUN_CHANGED,
            lambda p: p["run"]["id"] == run_id and p["run"]["status"] == "completed",
            t2,
        )
        assert seen < 1.0
        await asyncio.to_thread(store.close)
    finally:
        await feed.stop()


def runs_reconcile_every() -> float:
    from runyard.lsp.live import RECONCILE_EVERY

    return RECONCILE_EVERY


CLONES, RUNS_EACH, POINTS = 4, 4, 100_000


def _machine(url: str, root: str, clone: int, start: Any) -> None:
    """One clone's machine: RUNS_EACH runs side by side, each ingested as a supervisor
    does (its own connection, the run's lock held, points in slices of 1,000)."""
    import fcntl
    import os
    import threading

    from runyard.core.store import Store as OpenStore

    project = Project(Path(root))

    def one(run_id: str) -> None:
        store = OpenStore(project.store_path, url=url)
        project.run_dir(run_id).mkdir()
        lock = os.open(project.run_dir(run_id) / "supervisor.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(lock, fcntl.LOCK_EX)
        store.create_run(make_run(run_id, f"clone{clone}", status="running"))
        for lo in range(0, POINTS, 1000):
            store.add_metrics(
                run_id, [("loss", s, float(s), 1.0 / (s + 1)) for s in range(lo, lo + 1000)]
            )
        store.set_status(run_id, "completed", exit_code=0)
        os.close(lock)
        store.close()

    start.wait()
    threads = [
        threading.Thread(target=one, args=(f"260101-00000{clone}-run{r:03d}",))
        for r in range(RUNS_EACH)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


async def test_four_clones_four_runs_each_all_stored_and_seen_live_by_every_other(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    monkeypatch.setenv("RUNYARD_STORE_URL", pg_url)
    clones = [clone(tmp_path / f"clone{i}") for i in range(CLONES)]
    Store(clones[0].store_path).close()
    seen: list[dict[str, int]] = [{} for _ in clones]  # per feed: run id -> points
    ended: list[set[str]] = [set() for _ in clones]

    def sender(i: int) -> Any:
        def send(method: str, payload: dict[str, Any]) -> None:
            if method == protocol.METRIC_POINTS:
                got = sum(len(c["steps"]) for c in payload["chunks"])
                seen[i][payload["runId"]] = seen[i].get(payload["runId"], 0) + got
            elif method == protocol.RUN_CHANGED and payload["run"]["status"] == "completed":
                ended[i].add(payload["run"]["id"])

        return send

    feeds = [LiveFeed(c, sender(i), lambda: 30.0) for i, c in enumerate(clones)]
    for feed in feeds:
        feed.start()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(CLONES)
    machines = [
        ctx.Process(target=_machine, args=(pg_url, str(c.root), i, start))
        for i, c in enumerate(clones)
    ]
    try:
        for _ in range(500):
            if all(f.listener is not None for f in feeds):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        for m in machines:
            m.start()
        while any(m.is_alive() for m in machines):
            await asyncio.sleep(0.1)
        assert all(m.exitcode == 0 for m in machines)
        everything = {
            f"260101-00000{c}-run{r:03d}" for c in range(CLONES) for r in range(RUNS_EACH)
        }
        with Store(clones[0].store_path) as store:
            assert {r.id for r in store.list_runs(status="completed")} == everything
            assert all(store.metric_count(r, "loss") == POINTS for r in everything)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(e == everything for e in ended):
            await asyncio.sleep(0.1)
        for i in range(CLONES):  # every feed saw every run, its own and the others'
            assert ended[i] == everything
            assert seen[i] == dict.fromkeys(everything, POINTS)
    finally:
        for m in machines:
            if m.is_alive():
                m.kill()
        for feed in feeds:
            await feed.stop()


async def test_the_real_language_server_of_one_clone_shows_a_run_submitted_from_another(
    tmp_path: Path, pg_server: Any, pg_url: str
) -> None:
    """The real server (a subprocess over stdio) of clone b, and a real run submitted by
    the CLI of clone a: b's server pushes the run's states and its metric points."""
    import os
    import subprocess
    import sys

    from tests.integration.lsp_session import Session

    env = {**os.environ, **pg_server.passfile_env(), "RUNYARD_STORE_URL": pg_url, "CI": "true"}
    cli = [sys.executable, "-m", "runyard.cli"]
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        subprocess.run([*cli, "init"], cwd=root, env=env, check=True, capture_output=True)
    (a / "train.py").write_text(
        "import runyard\nfor i in range(300):\n    runyard.log_metric('loss', 1.0 / (i + 1), step=i)\n"
    )
    async with Session(b, env=env) as lsp:
        done = await asyncio.to_thread(
            subprocess.run, [*cli, "submit", "-d", "train.py"], cwd=a, env=env,
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        run_id = done.stdout.split()[-1]
        run = await lsp.wait_status(run_id, "completed", timeout=60)
        assert run["metrics"] == {"loss": 1.0 / 300}
        await lsp.wait_push(
            "runyard/metrics/points",
            lambda p: (
                p["runId"] == run_id
                and any(c["key"] == "loss" and c["steps"][-1] == 299 for c in p["chunks"])
            ),
            timeout=30,
        )
        assert not (b / ".runyard" / "state" / "runs" / run_id).exists()  # a's run, not b's


async def test_a_clone_without_a_local_store_lists_a_teammates_runs_over_lsp(
    tmp_path: Path, pg_server: Any, pg_url: str
) -> None:
    """Clone b has never run anything (no runyard.db of its own): its language server
    still lists and opens the runs clone a put in the team store (with who ran each, and
    where), and the models, deployments and sweeps lists answer (empty) instead of
    saying there is no store."""
    import os
    import subprocess
    import sys

    from tests.integration.lsp_session import Session

    env = {**os.environ, **pg_server.passfile_env(), "RUNYARD_STORE_URL": pg_url, "CI": "true"}
    cli = [sys.executable, "-m", "runyard.cli"]
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        subprocess.run([*cli, "init"], cwd=root, env=env, check=True, capture_output=True)
    with Store(Project(a).store_path, url=pg_url) as team:
        for i in range(3):
            team.create_run(
                make_run(
                    f"teammate-{i}",
                    user_name="Ada Lovelace",
                    user_email="ada@example.com" if i else None,
                    machine="ada-laptop",
                )
            )
        team.add_metrics("teammate-1", [("loss", 0, 1.0, 0.5)])
    assert not Project(b).store_path.exists()
    async with Session(b, env=env) as lsp:
        # the status bar's tooltip says where the runs are kept: the team store, no password
        [info] = (await lsp.request("runyard/server/info", {}))["projects"]
        assert info["store"] == redact_url(pg_url) and info["store"].startswith("postgresql:")
        page = await lsp.request("runyard/runs/list", {"project": str(b)})
        assert page["total"] == 3
        assert {r["id"] for r in page["runs"]} == {"teammate-0", "teammate-1", "teammate-2"}
        who = {r["id"]: (r["userName"], r["userEmail"], r["machine"]) for r in page["runs"]}
        assert who["teammate-0"] == ("Ada Lovelace", None, "ada-laptop")  # who ran what
        assert who["teammate-1"] == ("Ada Lovelace", "ada@example.com", "ada-laptop")
        details = await lsp.request("runyard/runs/get", {"project": str(b), "runId": "teammate-1"})
        assert details["run"]["id"] == "teammate-1"
        for method, field in (
            ("runyard/models/list", "models"),
            ("runyard/deployments/list", "deployments"),
            ("runyard/sweeps/list", "sweeps"),
        ):
            assert (await lsp.request(method, {"project": str(b)}))[field] == []
    assert not Project(b).store_path.exists()  # nothing made on b's disk
