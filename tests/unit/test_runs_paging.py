"""Paging through 100,000 runs (`Store.query_runs`): every page, by every kind of sort
and filter, is the slice of the whole ordering a plain sort of all the runs gives.

The store is filled in bulk (one transaction of rows, as `create_run` and `add_metrics`
would leave them), so the test stays fast; the pages come from the real queries.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runyard.core.store import Store
from runyard.core.store.runs import RUN_COLUMNS
from tests.helpers import make_run

N = 100_000
EXPERIMENTS = ["mnist", "cifar", "bert", "gpt", "resnet"]
STATUS_CYCLE = ["completed"] * 13 + ["failed", "running", "queued", "canceled"]


def build(path: Path) -> list[dict[str, Any]]:
    """N runs in bulk: some created at the same second, some never started or not
    ended, some without 'loss' or with a NaN loss, a few with the same loss."""
    rng = random.Random("paging")
    runs: list[dict[str, Any]] = []
    rows, history, latest = [], [], []
    base = 1.7e9
    for i in range(N):
        created = base + (i // 3) * 7.0  # three runs a creation time: ties go to the id
        status = STATUS_CYCLE[i % len(STATUS_CYCLE)]
        started = None if status == "queued" else created + 1.0
        ended = None if status in ("queued", "running") else created + 1.0 + rng.randint(1, 50)
        run_id = f"{i * 7919 % N:06d}-{rng.choice('abcdef')}"  # ids not in creation order
        roll = rng.random()
        loss = None if roll < 0.1 else (math.nan if roll < 0.15 else round(rng.uniform(0, 3), 2))
        run = {
            "id": run_id,
            "experiment": EXPERIMENTS[i % 5],
            "status": status,
            "target": "local" if i % 3 else "gpu",
            "script": "train.py" if i % 11 else f"sweep_{i % 7}.py",
            "created": created,
            "started": started,
            "ended": ended,
            "loss": loss,
        }
        runs.append(run)
        rows.append(
            (
                run_id,
                run["experiment"],
                status,
                run["target"],
                "local",
                None,
                run["script"],
                json.dumps(["python", run["script"]]),
                None,
                None,
                None,
                created,
                started,
                ended,
                None,
                None,
                None,
                None,
                "{}",
            )
        )
        history.append((run_id, status, created, None))
        if loss is not None:
            latest.append((run_id, "loss", 3, created + 2, None if math.isnan(loss) else loss, 4))
        latest.append((run_id, "acc", 3, created + 2, rng.random(), 4))
    with Store(path) as store, store._tx() as db:
        db.executemany(f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * 19)})", rows)
        db.executemany(
            "INSERT INTO status_history (run_id, status, time, reason) VALUES (?, ?, ?, ?)",
            history,
        )
        db.executemany(
            "INSERT INTO latest_metrics (run_id, key, step, wall_time, value, count) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            latest,
        )
    return runs


@pytest.fixture(scope="module")
def store_and_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Store, list[dict[str, Any]]]]:
    path = tmp_path_factory.mktemp("paging") / "runyard.db"
    runs = build(path)
    with Store(path) as store:
        yield store, runs


def ordering(
    runs: list[dict[str, Any]], value: Callable[[dict[str, Any]], Any], descending: bool
) -> list[str]:
    """Ids as the store orders them: runs with a value first, by the value, then by
    creation time and id (all in the asked direction); runs without one last."""
    out = sorted(runs, key=lambda r: r["id"], reverse=descending)
    out.sort(key=lambda r: r["created"], reverse=descending)
    have = [r for r in out if value(r) is not None]
    have.sort(key=value, reverse=descending)
    return [r["id"] for r in have] + [r["id"] for r in out if value(r) is None]


def loss_of(run: dict[str, Any]) -> float | None:
    loss = run["loss"]
    return None if loss is None or math.isnan(loss) else loss


SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "created": lambda r: r["created"],
    "started": lambda r: r["started"],
    "ended": lambda r: r["ended"],
    "status": lambda r: r["status"],
    "experiment": lambda r: r["experiment"],
    "target": lambda r: r["target"],
    "id": lambda r: r["id"],
    "metric:loss": loss_of,
    "metric:nothing": lambda r: None,
}


def offsets(total: int, valued: int) -> list[int]:
    """Pages at the start, in the middle, across the end of the runs with a value,
    at the end and past it."""
    around = [valued - 150, valued - 100, valued - 37, valued, valued + 13]
    return sorted(
        {0, 100, total // 2, *[o for o in around if o >= 0], total - 100, total - 1, total + 5}
    )


@pytest.mark.parametrize("sort", list(SORTS))
@pytest.mark.parametrize("descending", [True, False])
def test_every_page_of_100000_runs_is_the_slice_of_the_whole_order(
    store_and_runs: tuple[Store, list[dict[str, Any]]], sort: str, descending: bool
) -> None:
    store, runs = store_and_runs
    value = SORTS[sort]
    expected = ordering(runs, value, descending)
    valued = sum(1 for r in runs if value(r) is not None)
    for offset in offsets(len(runs), valued if sort.startswith("metric:") else N):
        page, total = store.query_runs(sort=sort, descending=descending, limit=100, offset=offset)
        assert total == N
        assert [r.id for r in page] == expected[offset : offset + 100], (sort, offset)
    # the page carries each run's latest metrics
    page, _ = store.query_runs(sort=sort, descending=descending, limit=5)
    by_id = {r["id"]: r for r in runs}
    for run in page:
        assert run.metrics["acc"] >= 0.0
        loss = by_id[run.id]["loss"]
        if loss is None:
            assert "loss" not in run.metrics
        elif math.isnan(loss):
            assert math.isnan(run.metrics["loss"])
        else:
            assert run.metrics["loss"] == loss


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({"experiment": "bert"}, lambda r: r["experiment"] == "bert"),
        ({"statuses": ["failed", "running"]}, lambda r: r["status"] in ("failed", "running")),
        (
            {"target": "gpu", "experiment": "gpt"},
            lambda r: r["target"] == "gpu" and r["experiment"] == "gpt",
        ),
        ({"search": "sweep_3"}, lambda r: "sweep_3" in r["script"]),
        ({"statuses": []}, lambda r: True),
    ],
)
@pytest.mark.parametrize("sort", ["created", "metric:loss"])
def test_filtered_pages_are_slices_of_the_filtered_order(
    store_and_runs: tuple[Store, list[dict[str, Any]]],
    filters: dict[str, Any],
    keep: Callable[[dict[str, Any]], bool],
    sort: str,
) -> None:
    store, runs = store_and_runs
    mine = [r for r in runs if keep(r)]
    value = SORTS[sort]
    expected = ordering(mine, value, True)
    valued = sum(1 for r in mine if value(r) is not None)
    for offset in offsets(len(mine), valued):
        page, total = store.query_runs(sort=sort, limit=100, offset=offset, **filters)
        assert total == len(mine)
        assert [r.id for r in page] == expected[offset : offset + 100], (filters, sort, offset)


def test_odd_page_sizes(store_and_runs: tuple[Store, list[dict[str, Any]]]) -> None:
    store, runs = store_and_runs
    expected = ordering(runs, loss_of, True)
    assert store.query_runs(sort="metric:loss", limit=0)[0] == []
    page, _ = store.query_runs(sort="metric:loss", limit=10_000, offset=N - 4000)
    assert [r.id for r in page] == expected[N - 4000 :]
    page, _ = store.query_runs(sort="metric:loss", limit=4321, offset=7)
    assert [r.id for r in page] == expected[7:4328]
    page, _ = store.query_runs(sort="metric:loss", limit=1, offset=N - 1)
    assert [r.id for r in page] == expected[-1:]


def test_experiments_stay_right_as_runs_are_added_and_for_a_new_store_at_the_same_path(
    tmp_path: Path,
) -> None:
    def recount(store: Store) -> list[tuple[str, int]]:
        rows = store._read(
            "SELECT experiment, COUNT(*) FROM runs GROUP BY experiment ORDER BY MAX(created) DESC"
        )
        return [(r[0], r[1]) for r in rows]

    path = tmp_path / "runyard.db"
    with Store(path) as store:
        assert store.experiments() == []
        for i in range(30):
            store.create_run(make_run(f"r{i}", EXPERIMENTS[i * 7 % 3], created=1000.0 + i))
            assert store.experiments() == recount(store)
    path.unlink()
    with Store(path) as store:  # another store at the same path: counted anew
        store.create_run(make_run("other", "gpt"))
        assert store.experiments() == [("gpt", 1)]
