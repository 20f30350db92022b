"""Zooming into part of a metric series over LSP (`runyard/metrics/series` with
`stepFrom`/`stepTo`): the answer holds only points whose step is in the range, keeps the
raw minimum and maximum of the range however far it is cut, and holds every point of
the range once the range is short enough; a range given backwards is refused naming
its fields."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException

from runyard.core.store import Store
from tests.helpers import make_run
from tests.integration.lsp_session import Session

POINTS = 200_000


def value_at(step: int) -> float:
    """A wavy series with rare spikes both ways, so a cut that lost them would show."""
    spike = 50.0 if step % 7919 == 0 else -50.0 if step % 6007 == 0 else 0.0
    return math.sin(step / 300.0) + step / POINTS + spike


@pytest.fixture
def run_id(project: Path) -> str:
    with Store(project / ".runyard" / "state" / "runyard.db") as store:
        store.create_run(make_run("zoom-1", status="completed"))
        points = [("loss", step, 1000.0 + step, value_at(step)) for step in range(POINTS)]
        for i in range(0, POINTS, 50_000):
            store.add_metrics("zoom-1", points[i : i + 50_000])
    return "zoom-1"


@pytest_asyncio.fixture
async def lsp(project: Path, run_id: str) -> AsyncIterator[Session]:
    async with Session(project) as session:
        yield session


async def _series(lsp: Session, **params: object) -> dict[str, object]:
    answer = await lsp.request(
        "runyard/metrics/series", {"runIds": ["zoom-1"], "keys": ["loss"], **params}
    )
    (series,) = answer["series"]
    return dict(series)


@pytest.mark.parametrize(("lo", "hi"), [(12_345, 98_765), (0, 6_007), (150_000, POINTS - 1)])
async def test_a_zoomed_series_holds_only_its_range_with_the_raw_min_and_max(
    lsp: Session, lo: int, hi: int
) -> None:
    series = await _series(lsp, maxPoints=400, stepFrom=lo, stepTo=hi)
    steps, values = series["steps"], series["values"]
    assert isinstance(steps, list) and isinstance(values, list)
    assert steps and all(lo <= s <= hi for s in steps)
    assert len(steps) <= 400 and series["downsampled"] is True
    assert series["total"] == hi - lo + 1
    raw = [value_at(s) for s in range(lo, hi + 1)]
    assert min(values) == min(raw) and max(values) == max(raw)
    assert steps[0] == lo and steps[-1] == hi  # the range's first and last points


async def test_a_short_range_comes_at_full_resolution(lsp: Session) -> None:
    whole = await _series(lsp, maxPoints=400)
    assert whole["downsampled"] is True and whole["total"] == POINTS
    zoomed = await _series(lsp, maxPoints=400, stepFrom=100_000, stepTo=100_299)
    assert zoomed["downsampled"] is False
    assert zoomed["steps"] == list(range(100_000, 100_300))
    assert zoomed["values"] == [value_at(s) for s in range(100_000, 100_300)]


async def test_an_open_ended_range(lsp: Session) -> None:
    tail = await _series(lsp, maxPoints=1000, stepFrom=POINTS - 10)
    assert tail["steps"] == list(range(POINTS - 10, POINTS))
    head = await _series(lsp, maxPoints=1000, stepTo=9)
    assert head["steps"] == list(range(10))


async def test_a_backwards_range_is_refused_naming_its_fields(lsp: Session) -> None:
    with pytest.raises(JsonRpcException) as err:
        await _series(lsp, stepFrom=10, stepTo=5)
    assert "stepFrom" in str(err.value.message) and "stepTo" in str(err.value.message)
