"""The SQLite run store: schema, transitions, metrics kept faithfully."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.store import SCHEMA_VERSION, Store
from tests.helpers import make_run


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state" / "runyard.db")


def test_new_store_is_wal_and_versioned(store: Store) -> None:
    assert store.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    # reopening does not migrate again
    again = Store(store.path)
    assert again.schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "runyard.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(RunyardError, match="newer than this"):
        Store(path)


def test_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "runyard.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RunyardError, match="damaged"):
        Store(path)


def test_lifecycle_records_history_and_final_states_are_final(store: Store) -> None:
    store.create_run(make_run("r1"))
    assert store.set_status("r1", "preparing")
    assert store.set_status("r1", "running", pid=1234)
    assert store.set_status("r1", "failed", "exited with code 2", exit_code=2)
    assert not store.set_status("r1", "lost", "late")  # already final
    run = store.get_run("r1")
    assert run.status == "failed" and run.exit_code == 2 and run.pid == 1234
    assert run.reason == "exited with code 2"
    assert run.started is not None and run.ended is not None and run.ended >= run.started
    assert [s for s, _t, _r in store.status_history("r1")] == [
        "queued",
        "preparing",
        "running",
        "failed",
    ]
    assert run.command == ["python", "train.py", "--lr", "0.1"]


def test_metrics_keep_nan_and_infinities(store: Store) -> None:
    store.create_run(make_run("r1"))
    pts = [("a/b c", 0, 1.0, math.nan), ("a/b c", 1, 2.0, math.inf), ("a/b c", 2, 3.0, -math.inf)]
    store.add_metrics("r1", pts)
    got = store.metric_points("r1", key="a/b c")
    assert math.isnan(got[0][4]) and got[1][4] == math.inf and got[2][4] == -math.inf
    latest = store.latest_metrics(["r1"])["r1"]
    assert latest["a/b c"] == -math.inf
    summary = store.metric_summary("r1")[0]
    assert summary["count"] == 3 and summary["min"] == -math.inf and summary["max"] == math.inf


def test_latest_metrics_and_cursor(store: Store) -> None:
    store.create_run(make_run("r1"))
    store.add_metrics("r1", [("loss", i, float(i), 1.0 / (i + 1)) for i in range(10)])
    store.add_metrics("r1", [("loss", 10, 10.0, 0.01), ("ünï 指标", 0, 10.0, 5.0)])
    assert store.latest_metrics(["r1"])["r1"] == {"loss": 0.01, "ünï 指标": 5.0}
    assert store.last_steps("r1") == {"loss": 10, "ünï 指标": 0}
    first = store.metric_points("r1", limit=4)
    assert [p[2] for p in first] == [0, 1, 2, 3]
    rest = store.metric_points("r1", after=first[-1][0])
    assert len(rest) == 8
    assert store.metric_summary("r1")[0]["count"] == 11


def test_params_tags_artifacts_upsert(store: Store) -> None:
    store.create_run(make_run("r1"))
    store.set_params("r1", {"lr": "0.1", "layers": "3"})
    store.set_params("r1", {"lr": "0.2"})
    store.set_tags("r1", {"k": "v"})
    store.set_artifacts("r1", [("model.pt", 10), ("sub/x.txt", 3)])
    assert store.params("r1") == {"layers": "3", "lr": "0.2"}
    assert store.tags("r1") == {"k": "v"}
    assert store.artifacts("r1") == [("model.pt", 10), ("sub/x.txt", 3)]


def test_resolve_ids_by_prefix_and_suffix(store: Store) -> None:
    store.create_run(make_run("261129-150000-ab12", created=1))
    store.create_run(make_run("261129-150001-cd34", created=2))
    assert store.resolve_run_id("261129-150000") == "261129-150000-ab12"
    assert store.resolve_run_id("cd34") == "261129-150001-cd34"
    with pytest.raises(UsageError, match="several runs"):
        store.resolve_run_id("261129-15")
    with pytest.raises(NotFoundError):
        store.resolve_run_id("zzzz")
    with pytest.raises(NotFoundError):
        store.resolve_run_id("%")  # LIKE wildcards are taken literally


def test_list_filters_and_order(store: Store) -> None:
    for i, exp in enumerate(["a", "b", "a"]):
        store.create_run(make_run(f"r{i}", experiment=exp, created=i))
    store.set_status("r1", "preparing")
    assert [r.id for r in store.list_runs()] == ["r2", "r1", "r0"]
    assert [r.id for r in store.list_runs(experiment="a")] == ["r2", "r0"]
    assert [r.id for r in store.list_runs(status="preparing")] == ["r1"]
    assert [r.id for r in store.list_runs(limit=1, offset=1)] == ["r1"]
    assert {r.id for r in store.live_runs()} == {"r0", "r1", "r2"}
    assert store.experiments() == [("a", 2), ("b", 1)]


def test_concurrent_writer_and_reader(tmp_path: Path) -> None:
    a = Store(tmp_path / "db")
    b = Store(tmp_path / "db")
    a.create_run(make_run("r1"))
    a.add_metrics("r1", [("m", 0, 0.0, 1.0)])
    assert b.get_run("r1").metrics == {"m": 1.0}


def test_points_span_chunks_and_cursors_resume_inside_one(store: Store) -> None:
    from runyard.core import store as store_mod

    store.create_run(make_run("r1"))
    n = store_mod.CHUNK_POINTS + 10
    store.add_metrics("r1", [("loss", i, float(i), float(i) / 2) for i in range(n)])
    store.add_metrics("r1", [("acc", 0, 1.0, 0.5), ("loss", n, 2.0, math.nan)])
    cursor, steps, _times, values = store.metric_columns("r1", "loss")
    assert steps == list(range(n + 1)) and values[3] == 1.5 and math.isnan(values[-1])
    assert store.metric_cursor("r1") >= cursor
    first = store.metric_points("r1", limit=5)
    assert [p[2] for p in first] == [0, 1, 2, 3, 4]
    second = store.metric_points("r1", after=first[-1][0], limit=3)
    assert [p[2] for p in second] == [5, 6, 7]
    everything = store.metric_points("r1", after=second[-1][0])
    assert len(everything) == n + 2 - 8
    assert [(p[1], p[2]) for p in everything[-2:]] == [("acc", 0), ("loss", n)]
    assert store.metric_points("r1", after=everything[-1][0]) == []
    later, steps_after, _, _ = store.metric_columns("r1", "loss", after=cursor)
    assert (later, steps_after) == (cursor, [])
    summary = {m["key"]: m for m in store.metric_summary("r1")}
    assert summary["loss"]["count"] == n + 1
    assert summary["loss"]["min"] == 0.0 and summary["loss"]["max"] == (n - 1) / 2


def test_version_1_store_is_migrated_to_packed_metrics(tmp_path: Path) -> None:
    from runyard.core import store as store_mod

    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    first = store_mod.MIGRATIONS[0]
    assert isinstance(first, str)
    db.executescript(first)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO runs (id, experiment, status, target, target_type, command, created) "
        "VALUES ('r1', 'e', 'completed', 'local', 'local', '[]', 1.0)"
    )
    rows = [("r1", "loss", i, float(i), 1.0 / (i + 1)) for i in range(5)]
    rows += [("r1", "odd", 0, 9.0, None), ("r1", "odd", 1, 9.5, math.inf)]
    db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        _cursor, steps, times, values = store.metric_columns("r1", "loss")
        assert steps == [0, 1, 2, 3, 4] and times[4] == 4.0 and values[1] == 0.5
        odd = store.metric_points("r1", key="odd")
        assert math.isnan(odd[0][4]) and odd[1][4] == math.inf
        tables = {r[0] for r in store._read("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "metrics" not in tables and "metric_chunks" in tables


def test_an_unchanged_telemetry_sample_moves_the_newest_one_instead_of_adding(
    store: Store,
) -> None:
    store.add_deployment_stats("web", 100.0, 0, 0, None, None)
    store.add_deployment_stats("web", 110.0, 0, 0, None, None)  # idle: the same counts
    store.add_deployment_stats("web", 120.0, 3, 1, 2.0, 9.5)
    store.add_deployment_stats("web", 130.0, 3, 1, 2.0, 9.5)
    store.add_deployment_stats("api", 125.0, 3, 1, 2.0, 9.5)  # another deployment's own
    assert [(s["time"], s["requests"]) for s in store.deployment_stats("web")] == [
        (130.0, 3),
        (110.0, 0),
    ]
    assert [s["time"] for s in store.deployment_stats("api")] == [125.0]
    store.add_deployment_stats("web", 140.0, 4, 1, 2.0, 9.5)
    assert store.deployment_stats("web", limit=1)[0]["requests"] == 4
    assert len(store.deployment_stats("web")) == 3


STEP_SHAPES = {  # steps, and whether they are a stride (kept as their ends)
    "counting up": (list(range(7, 7 + 300)), True),
    "by a stride": (list(range(-50, 10 * 300 - 50, 10)), True),
    "counting down": (list(range(300, 0, -1)), True),
    "one step logged again and again": ([4] * 300, True),
    "huge": ([2**62 + i for i in range(300)], True),
    "a gap": ([*range(100), *range(150, 350)], False),
    "out of order": ([*range(1, 300), 0], False),
    "ends of a stride, not one": ([0, 1, 3, 4], False),
    "two points": ([5, 9], False),
    "one point": ([3], False),
}


@pytest.mark.parametrize("shape", list(STEP_SHAPES))
def test_steps_round_trip_whatever_their_shape_and_window(shape: str) -> None:
    from runyard.core.store.metrics import pack_steps, unpack_steps
    from runyard.core.store.sqlite import pack, unpack

    steps, arithmetic = STEP_SHAPES[shape]
    n = len(steps)
    blob = pack_steps(pack, steps)
    assert len(blob) == (16 if arithmetic else 8 * n)
    assert unpack_steps(unpack, blob, n) == steps
    for a, b in [(0, n), (0, 1), (n - 1, n), (n // 3, n // 2), (1, n), (n // 2, n // 2)]:
        assert unpack_steps(unpack, blob, n, a, b) == steps[a:b], (a, b)
    assert unpack_steps(unpack, blob, n, n // 2) == steps[n // 2 :]


def test_a_stride_is_stored_as_its_ends_and_every_step_reads_back(store: Store) -> None:
    store.create_run(make_run("r1"))
    store.add_metrics("r1", [("loss", 10 * i, float(i), 1.0 / (i + 1)) for i in range(1000)])
    store.add_metrics("r1", [("loss", 1, 0.0, 0.0), ("loss", 3, 0.0, 0.0), ("loss", 2, 0.0, 0.0)])
    sizes = store._read("SELECT n, length(steps) FROM metric_chunks ORDER BY id", ())
    assert [tuple(r) for r in sizes] == [(1000, 16), (3, 24)]
    _, steps, _, _ = store.metric_columns("r1", "loss")
    assert steps == [10 * i for i in range(1000)] + [1, 3, 2]
    assert [p[2] for p in store.metric_points("r1", limit=3)] == [0, 10, 20]
    cut = store.metric_series("r1", "loss", 50, steps=(4000, 4100))
    assert cut.steps == list(range(4000, 4101, 10))


def test_a_stride_packed_in_full_by_an_earlier_version_reads_the_same(store: Store) -> None:
    from runyard.core.store.sqlite import pack

    store.create_run(make_run("r1"))
    store.add_metrics("r1", [("loss", i, float(i), float(i)) for i in range(500)])
    with store._tx() as db:  # as versions before the (first, last) form wrote it
        db.execute("UPDATE metric_chunks SET steps = ?", (pack("q", range(500)),))
    _, steps, _, values = store.metric_columns("r1", "loss")
    assert steps == list(range(500)) and values[499] == 499.0
    assert store.metric_series("r1", "loss", 20, steps=(100, 110)).steps == list(range(100, 111))
