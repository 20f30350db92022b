"""Benchmark: the run store on PostgreSQL beside SQLite, the same calls on each.

Run:  .venv/bin/python tests/bench/bench_postgres.py [--runs 10000] [--points 1000000]
      [--requests 20] [--writers 4] [--writer-points 100000]

PostgreSQL is a real server started here (`tests.postgres_server`: Debian's
PostgreSQL, `bash scripts/postgres-setup.sh` installs it) on loopback, in a temporary
folder, with fsync off (a benchmark of Runyard's calls, not of the disk); SQLite is the
project's usual store in a temporary folder. For each engine it prints:

1. runs list: `Store.query_runs` for a page of 100 of `--runs` runs with their latest
   metrics, by creation time and by ``metric:loss`` (what `runyard/runs/list` and
   `runyard runs list` ask): the first call of a fresh connection and the median of
   `--requests` (the runs are written in bulk as `create_run` and `add_metrics` leave
   them, as in bench_lsp);
2. metric series: one run's `--points`-point series stored by `Store.add_metrics` in
   slices of 50,000 points (points/s), then `Store.metric_series` cut to 2,000 points:
   first call of a fresh connection and median of 10; and reading every point
   (`metric_columns`);
3. ingest side by side: `--writers` processes, each its own run and connection, each
   storing `--writer-points` points in slices of 1,000 (how a supervisor ingests a
   live run), all starting together once connected: total points/s from the first
   writer's start to the last one's end, and the slowest writer's time.

No assertions: this is a measurement.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers import make_run
from tests.postgres_server import PostgresServer, find_bin

from runyard.core.store import LOCAL, Store
from runyard.core.store.runs import RUN_COLUMNS

PAGE = 100
SLICE = 50_000
SERIES_POINTS_MAX = 2000
EXPERIMENTS = ("baseline", "resnet", "vit", "lstm", "bert")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def add_runs(store: Store, n: int) -> float:
    """`n` ended runs in one transaction (a row, its first transition, latest
    loss/acc/lr; every tenth run logged no loss). Returns the seconds it took."""
    rng = random.Random(n)
    base = time.time() - 1e8
    rows, history, latest = [], [], []
    for i in range(n):
        created = base + i * 60
        status = "failed" if i % 17 == 0 else "completed"
        run_id = time.strftime("%y%m%d-%H%M%S", time.localtime(created)) + f"-{i:06d}"
        rows.append(
            (run_id, EXPERIMENTS[i % 5], status, "local", "local", None, "train.py",
             '["python", "train.py"]', None, None, None, created, created + 0.5,
             created + 30.0, 0 if status == "completed" else 1, None, None, None, "{}")
        )  # fmt: skip
        history.append((run_id, status, created, None))
        if i % 10:
            latest.append((run_id, "loss", 2, created + 3, rng.uniform(0.1, 3.0), 3))
        latest.append((run_id, "acc", 2, created + 3, rng.uniform(0.0, 1.0), 3))
        latest.append((run_id, "lr", 2, created + 3, 1e-3 / 3, 3))
    started = time.perf_counter()
    with store._tx() as db:
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
        if store.dialect == "postgresql":
            db.execute("ANALYZE")  # as autovacuum does after a bulk load
    return time.perf_counter() - started


def series_points(n: int, lo: int, hi: int, created: float) -> list[tuple[str, int, float, float]]:
    rng = random.Random(lo)
    return [
        ("loss", s, created + s * 0.01, 2.0 * math.exp(-s / (n / 5)) + rng.random() * 0.05)
        for s in range(lo, hi)
    ]


class Engine:
    """One engine's stores: `open()` a fresh connection to the same store."""

    def __init__(self, name: str, open_store: Callable[[], Store]) -> None:
        self.name = name
        self.open = open_store


def runs_list(engine: Engine, n_runs: int, repeat: int) -> dict[str, tuple[float, float]]:
    with engine.open() as store:
        spent = add_runs(store, n_runs)
    print(f"  {engine.name}: {n_runs:,} runs written in bulk in {spent:.2f} s")
    out = {}
    for label, sort in (("sort created", "created"), ("sort metric:loss", "metric:loss")):
        with engine.open() as store:

            def page_of(store: Store = store, sort: str = sort) -> Any:
                return store.query_runs(sort=sort, limit=PAGE)

            first = timed(page_of)
            times = [timed(page_of) for _ in range(repeat)]
            page, total = store.query_runs(sort=sort, limit=PAGE)
            if len(page) != PAGE or total != n_runs:
                print(f"warning: {engine.name} {label}: {len(page)} runs of {total}")
        out[label] = (first, statistics.median(times))
    return out


def series(engine: Engine, n_points: int) -> dict[str, float]:
    created = time.time()
    run_id = f"series-{n_points}"
    spent = 0.0
    with engine.open() as store:
        store.create_run(make_run(run_id, "long", status="completed", created=created))
        for lo in range(0, n_points, SLICE):
            points = series_points(n_points, lo, min(n_points, lo + SLICE), created)
            started = time.perf_counter()
            store.add_metrics(run_id, points)
            spent += time.perf_counter() - started
    with engine.open() as store:
        first = timed(lambda: store.metric_series(run_id, "loss", SERIES_POINTS_MAX))
        warm = statistics.median(
            timed(lambda: store.metric_series(run_id, "loss", SERIES_POINTS_MAX)) for _ in range(10)
        )
        every = timed(lambda: store.metric_columns(run_id, "loss"))
    return {"ingest": n_points / spent, "first": first, "warm": warm, "every": every}


def _writer(url: str | None, path: str, run_id: str, n: int, out: Any, start: Any) -> None:
    store = Store(Path(path), url=url or LOCAL)
    created = time.time()
    store.create_run(make_run(run_id, "side", status="running", created=created))
    slices = [series_points(n, lo, min(n, lo + 1000), created) for lo in range(0, n, 1000)]
    start.wait()  # every writer connected and ready: they go together
    started = time.time()
    for points in slices:
        store.add_metrics(run_id, points)
    out.put((started, time.time()))
    store.close()


def side_by_side(url: str | None, path: Path, writers: int, n: int) -> tuple[float, float]:
    ctx = multiprocessing.get_context("spawn")
    out, start = ctx.Queue(), ctx.Barrier(writers)
    procs = [
        ctx.Process(target=_writer, args=(url, str(path), f"side-{i}-{n}", n, out, start))
        for i in range(writers)
    ]
    for p in procs:
        p.start()
    spans = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = max(end for _, end in spans) - min(begin for begin, _ in spans)
    slowest = max(end - begin for begin, end in spans)
    return writers * n / wall, slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--writer-points", type=int, default=100_000)
    args = parser.parse_args()
    bindir = find_bin()
    if bindir is None:
        sys.exit("PostgreSQL is not installed: bash scripts/postgres-setup.sh")
    server = PostgresServer(bindir).start()
    os.environ.update(server.passfile_env())
    os.environ.pop("RUNYARD_STORE_URL", None)
    base = Path(tempfile.mkdtemp(prefix="runyard-bench-pg-"))
    try:
        print(f"PostgreSQL {bindir.parent.name} on loopback (fsync off) beside SQLite (WAL)")
        pg_runs, pg_series = server.new_database(), server.new_database()
        engines = {
            "sqlite": (
                Engine("sqlite", lambda: Store(base / "runs.db", url=LOCAL)),
                Engine("sqlite", lambda: Store(base / "series.db", url=LOCAL)),
            ),
            "postgresql": (
                Engine("postgresql", lambda: Store(base / "x.db", url=pg_runs)),
                Engine("postgresql", lambda: Store(base / "x.db", url=pg_series)),
            ),
        }
        print(f"\n== 1. runs list: a page of {PAGE} of {args.runs:,} runs ({args.requests} calls)")
        lists = {name: runs_list(e[0], args.runs, args.requests) for name, e in engines.items()}
        print(f"{'':30}{'sqlite first':>14}{'median':>10}{'postgresql first':>18}{'median':>10}")
        for label in ("sort created", "sort metric:loss"):
            s, p = lists["sqlite"][label], lists["postgresql"][label]
            print(f"{label:30}{ms(s[0]):>14}{ms(s[1]):>10}{ms(p[0]):>18}{ms(p[1]):>10}")

        print(f"\n== 2. metric series: {args.points:,} points, cut to {SERIES_POINTS_MAX}")
        cuts = {name: series(e[1], args.points) for name, e in engines.items()}
        print(f"{'':12}{'ingest':>14}{'first cut':>12}{'warm cut':>12}{'every point':>14}")
        for name, c in cuts.items():
            print(
                f"{name:12}{c['ingest'] / 1e6:>10.2f} M/s{ms(c['first']):>12}"
                f"{ms(c['warm']):>12}{ms(c['every']):>14}"
            )

        print(
            f"\n== 3. ingest side by side: {args.writers} writers x {args.writer_points:,} "
            "points in slices of 1,000"
        )
        for name, url, path in (
            ("sqlite", None, base / "side.db"),
            ("postgresql", server.new_database(), base / "y.db"),
        ):
            rate, slowest = side_by_side(url, path, args.writers, args.writer_points)
            print(f"{name:12}{rate / 1e6:>10.2f} M points/s in all, slowest writer {slowest:.2f} s")
    finally:
        server.stop()
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
