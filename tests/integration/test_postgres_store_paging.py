"""Paging 100,000 runs on a real PostgreSQL store: tests/unit/test_runs_paging.py's
checks run here again unchanged (every sort, direction, filter and page offset against a
plain sort of all the runs), on one fresh database for the module, named by
`RUNYARD_STORE_URL` (which wins over the SQLite path the tests open). The test of a new
SQLite file at the same path stays SQLite's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runyard.core.store import Store
from tests.postgres_server import PostgresServer, pg_server
from tests.unit import test_runs_paging
from tests.unit.test_runs_paging import store_and_runs

pytestmark = pytest.mark.integration
__all__ = ["pg_server", "store_and_runs"]

SQLITE_ONLY = {"test_experiments_stay_right_as_runs_are_added_and_for_a_new_store_at_the_same_path"}
SHARED = [
    (name, test)
    for name, test in vars(test_runs_paging).items()
    if name.startswith("test_") and callable(test) and name not in SQLITE_ONLY
]
globals().update(SHARED)


@pytest.fixture(scope="module", autouse=True)
def on_postgres(pg_server: PostgresServer) -> Iterator[str]:
    url = pg_server.new_database()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RUNYARD_STORE_URL", url)
        yield url


def test_the_shared_tests_are_collected_here() -> None:
    assert len(SHARED) >= 3


def test_the_pages_come_from_postgresql(store_and_runs: tuple[Store, list[dict[str, Any]]]) -> None:
    store, runs = store_and_runs
    assert store.dialect == "postgresql" and len(runs) == test_runs_paging.N
