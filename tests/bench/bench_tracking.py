"""Cost of one metric call: runyard.log_metric vs a bare list.append vs MLflow.

A plain script (no assertions): prints a table of µs per call and the ratios.

* runyard: N calls of ``runyard.log_metric("loss", float(i), step=i)`` inside a
  run (the environment points at a temporary tracking file), timed up to and
  including the final ``runyard.flush()``, so the background serialisation and
  the file writes are in the figure.
* append: N bare ``list.append((key, value, step))`` calls, the floor.
* mlflow: a smaller count of ``mlflow.log_metric`` calls against a local SQLite
  tracking store; skipped when mlflow is not importable.

Then the store's side of the same points:

* ingest: the tracking file written above read into a run's store by the supervisor's
  `TrackingIngester` through its `ResumableStore` (points/s, decoding included), and the same points handed to
  `Store.add_metrics` in the ingester's slices of 50,000 (goal: >= 2,000,000 points/s);
* size: the store's bytes per point (its file after a checkpoint, chunks and summaries
  both) beside MLflow's SQLite store holding MLFLOW_N points logged by ``log_batch``.

Usage: python tests/bench/bench_tracking.py [N] [MLFLOW_N]   (defaults 1000000, 2000)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
MLFLOW_N = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000

WORK = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
TRACKING = WORK / "tracking.jsonl"
os.environ["RUNYARD_RUN_ID"] = "bench"
os.environ["RUNYARD_TRACKING_URI"] = TRACKING.as_uri()
os.environ["RUNYARD_OUTPUTS"] = str(WORK / "outputs")

import runyard  # noqa: E402  (after the environment is set)
from runyard.tracking.wire import decode_points  # noqa: E402


def bench_runyard(n: int) -> float:
    log_metric = runyard.log_metric
    log_metric("warmup", 0.0, step=0)  # starts the writer thread
    runyard.flush()
    start = time.perf_counter()
    for i in range(n):
        log_metric("loss", float(i), step=i)
    runyard.flush()
    elapsed = time.perf_counter() - start
    written = 0
    with TRACKING.open("rb") as f:
        for line in f:
            written += len(decode_points(json.loads(line)))
    if written != n + 1:
        print(f"warning: {written} points written, expected {n + 1}", file=sys.stderr)
    return elapsed / n


def bench_append(n: int) -> float:
    buf: list[tuple[str, float, int]] = []
    append = buf.append
    start = time.perf_counter()
    for i in range(n):
        append(("loss", float(i), i))
    elapsed = time.perf_counter() - start
    del buf
    return elapsed / n


def bench_mlflow(n: int) -> tuple[float | None, str]:
    try:
        import mlflow
    except ImportError as exc:
        return None, f"mlflow not importable ({exc}); row skipped"
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(f"sqlite:///{WORK / 'mlflow.db'}")
    with mlflow.start_run():
        mlflow.log_metric("warmup", 0.0, step=0)
        start = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", float(i), step=i)
        elapsed = time.perf_counter() - start
    return elapsed / n, f"mlflow {mlflow.__version__}, SQLite store"


def bench_ingest(n: int) -> tuple[float, float, float]:
    """(points/s through the ingester, points/s through add_metrics, bytes a point in
    the store) for the N + 1 points of the tracking file."""
    import sqlite3

    from runyard.core.store import Run, Store
    from runyard.runner.ingest import SLICE_POINTS, TrackingIngester
    from runyard.runner.ingest_resume import ResumableStore

    def new_store(folder: Path) -> Store:
        store = Store(folder / "runyard.db")
        store.create_run(
            Run(
                id="bench",
                experiment="bench",
                status="running",
                target="local",
                target_type="local",
                job=None,
                script="train.py",
                command=["python", "train.py"],
            )
        )
        return store

    (WORK / "a").mkdir()
    with new_store(WORK / "a") as store:
        # as a run's supervisor reads it: through the store that keeps the checkpoint
        resumable = ResumableStore(store, "bench", TRACKING)
        ingester = TrackingIngester(resumable.store, "bench", TRACKING, log=lambda line: None)
        start = time.perf_counter()
        got = ingester.poll()
        through_file = got / (time.perf_counter() - start)
        _, steps, times, values = store.metric_columns("bench", "loss")
    points = [("loss", s, t, v) for s, t, v in zip(steps, times, values, strict=True)]
    (WORK / "b").mkdir()
    with new_store(WORK / "b") as store:
        start = time.perf_counter()
        for i in range(0, len(points), SLICE_POINTS):
            store.add_metrics("bench", points[i : i + SLICE_POINTS])
        direct = len(points) / (time.perf_counter() - start)
    db = sqlite3.connect(WORK / "b" / "runyard.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = (WORK / "b" / "runyard.db").stat().st_size / len(points)
    return through_file, direct, size


def mlflow_bytes_per_point(n: int) -> float | None:
    """MLflow's SQLite store: bytes a point, for `n` points of one run by log_batch."""
    try:
        import mlflow
        from mlflow.entities import Metric
    except ImportError:
        return None
    folder = WORK / "mlflow-size"
    folder.mkdir()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("size"))
    empty = (folder / "mlflow.db").stat().st_size
    now = int(time.time() * 1000)
    for lo in range(0, n, 1000):
        batch = [Metric("loss", float(i), now + i, i) for i in range(lo, min(n, lo + 1000))]
        client.log_batch(run.info.run_id, metrics=batch)
    return ((folder / "mlflow.db").stat().st_size - empty) / n


def main() -> None:
    print(f"Python {sys.version.split()[0]} on {sys.platform}; {os.cpu_count()} CPUs")
    t_append = bench_append(N)
    t_runyard = bench_runyard(N)
    t_mlflow, mlflow_note = bench_mlflow(MLFLOW_N)

    rows = [
        ("list.append((key, value, step))", N, t_append, ""),
        ("runyard.log_metric (incl. flush)", N, t_runyard, "packed columns, background writer"),
    ]
    if t_mlflow is not None:
        rows.append(("mlflow.log_metric", MLFLOW_N, t_mlflow, mlflow_note))
    print()
    print(f"{'call':<36} {'calls':>10} {'µs/call':>12}  note")
    print("-" * 80)
    for name, count, per_call, note in rows:
        print(f"{name:<36} {count:>10,} {per_call * 1e6:>12.3f}  {note}")
    print()
    print(f"runyard / append : {t_runyard / t_append:10.1f}x")
    if t_mlflow is not None:
        print(f"mlflow / runyard : {t_mlflow / t_runyard:10.0f}x")
    else:
        print(mlflow_note)
    print(f"tracking file    : {TRACKING.stat().st_size / 1e6:.1f} MB for {N + 1:,} points")

    through_file, direct, size = bench_ingest(N)
    theirs = mlflow_bytes_per_point(MLFLOW_N)
    print()
    print(f"{'into the store':<36} {'':>10} {'value':>12}  goal / peer")
    print("-" * 80)
    goal = "met" if direct >= 2e6 else "NOT met"
    print(f"{'TrackingIngester.poll (file->store)':<36} {'':>10} {through_file / 1e6:>9.2f} M/s")
    print(
        f"{'Store.add_metrics (50,000 a call)':<36} {'':>10} {direct / 1e6:>9.2f} M/s  >= 2 M/s: {goal}"
    )
    peer = f"mlflow {theirs:.0f} B/point ({MLFLOW_N:,} points, log_batch)" if theirs else ""
    print(f"{'store size (chunks + summaries)':<36} {'':>10} {size:>8.1f} B/pt  {peer}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
