"""What a Spark run's lock covers (`SparkBackend._read_lock`): the driver's interpreter
is read in client mode; the run's tag `spark.lock` says when executors use another
interpreter (the lock is the driver's only) and why cluster deploy mode has none. The
cases a standalone master on loopback cannot show (tests/integration/test_spark_target
runs the others for real)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from runyard.targets.base import RunContext
from runyard.targets.spark import LOCK_TAG, SparkBackend
from runyard.targets.spec import SparkOptions


def _read(raw: dict[str, Any], env: dict[str, str]) -> tuple[SparkBackend, dict[str, str], Any]:
    tags: dict[str, str] = {}
    lines: list[str] = []
    ctx = cast(RunContext, SimpleNamespace(set_tags=tags.update, log=lines.append))
    backend = SparkBackend()
    backend.python, backend.installer = Path(sys.executable), "uv"
    backend._read_lock(ctx, SparkOptions.from_target(raw), {"PATH": "", **env})
    return backend, tags, ctx


def test_cluster_deploy_mode_records_no_lock_and_says_why() -> None:
    backend, tags, ctx = _read({"master": "yarn", "deploy_mode": "cluster"}, {})
    assert tags[LOCK_TAG].startswith("not recorded: in cluster deploy mode the driver runs")
    assert backend.lock_reader is None and backend.env_lock(ctx) is None


def test_executors_on_the_workers_python_leave_the_driver_s_lock_only() -> None:
    backend, tags, ctx = _read({"master": "spark://cluster.example:7077"}, {})
    assert tags[LOCK_TAG] == (
        "the driver's environment only: executors run the workers' python3, whose "
        "packages Runyard cannot list"
    )
    lock = backend.env_lock(ctx)
    assert lock is not None and lock.installer == "uv" and "pytest" in dict(lock.packages)


def test_executors_on_the_driver_s_interpreter_make_a_whole_lock() -> None:
    backend, tags, ctx = _read({"master": "local[2]"}, {"PYSPARK_PYTHON": sys.executable})
    assert LOCK_TAG not in tags
    lock = backend.env_lock(ctx)
    assert lock is not None and lock.host is not None


def test_a_driver_interpreter_of_the_user_s_is_read_as_not_built_by_runyard() -> None:
    raw = {"master": "local[2]", "conf": {"spark.pyspark.driver.python": sys.executable}}
    backend = SparkBackend()
    tags: dict[str, str] = {}
    ctx = cast(RunContext, SimpleNamespace(set_tags=tags.update, log=lambda _l: None))
    backend.python, backend.installer = Path("/nonexistent/venv/bin/python"), "uv"
    backend._read_lock(ctx, SparkOptions.from_target(raw), {"PATH": ""})
    lock = backend.env_lock(ctx)
    assert lock is not None and lock.installer is None  # not the environment Runyard built
    assert "the workers' python3" in tags[LOCK_TAG]  # no executor interpreter was named
