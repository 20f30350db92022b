"""`runyard runs list`: sorted and paged by the store (in SQL), in the order the command
always gave: newest first; `--sort created` oldest first; `--sort duration` and
`--sort METRIC` largest first, runs without a value (no such metric, NaN, not started)
last; `--limit`/`--offset` page that order. `--user`/`--mine` keep one person's runs
(`identity.user_filter`), and a user column shows who ran each (email, else name, else
"—"); the JSON keeps `user` as the run's name and email."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runyard.core.store import Store
from tests.helpers import make_run, runyard


@pytest.fixture
def listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose store holds 12 runs by three people (one unknown), created a
    second apart, with metrics, durations and a NaN."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("RUNYARD_STORE_URL", raising=False)
    root = tmp_path / "proj"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.email", "ada@example.com"], check=True)
    runyard(root, "init", check=True)
    people = [("Ada", "ada@example.com"), ("Bob", None), (None, None)]
    with Store(root / ".runyard" / "state" / "runyard.db") as store:
        for i in range(12):
            name, email = people[i % 3]
            started = 1000.0 + i if i % 4 else None
            run = make_run(
                f"r{i:02d}",
                status="completed",
                created=1000.0 + i,
                started=started,
                ended=None if started is None else started + (i * 7) % 5 + 1,
                user_name=name,
                user_email=email,
                machine="m",
            )
            store.create_run(run)
            if i % 3 != 2:
                value = math.nan if i == 4 else float((i * 5) % 7)
                store.add_metrics(run.id, [("loss", 0, 1.0, value)])
    return root


def _ids(root: Path, *args: str) -> list[str]:
    out = runyard(root, "runs", "list", "--json", *args, check=True).stdout
    return [r["id"] for r in json.loads(out)]


def _expected(root: Path, sort: str) -> list[str]:
    """The order the command computed in Python before the store sorted: every run
    newest first, then sorted stably by the value, runs without one last."""
    runs = json.loads(runyard(root, "runs", "list", "--json", check=True).stdout)
    key, _, direction = sort.partition(":")
    direction = direction or ("asc" if key == "created" else "desc")

    def value(run: dict[str, Any]) -> float | None:
        v = run[key] if key in ("created", "duration") else run["metrics"].get(key)
        return None if v is None or v == "NaN" else float(v)

    have = sorted(
        (r for r in runs if value(r) is not None),
        key=lambda r: value(r) or 0.0,
        reverse=direction == "desc",
    )
    return [r["id"] for r in have] + [r["id"] for r in runs if value(r) is None]


def test_newest_first_and_paged(listed: Path) -> None:
    every = _ids(listed)
    assert every == [f"r{i:02d}" for i in reversed(range(12))]
    assert _ids(listed, "--limit", "5") == every[:5]
    assert _ids(listed, "--limit", "5", "--offset", "10") == every[10:]
    assert _ids(listed, "--offset", "3") == every[3:]
    assert _ids(listed, "--limit", "0") == []


@pytest.mark.parametrize("sort", ["created", "created:desc", "duration", "loss", "loss:desc"])
def test_sorted_in_the_order_the_command_always_gave(listed: Path, sort: str) -> None:
    expected = _expected(listed, sort)
    assert _ids(listed, "--sort", sort) == expected
    assert _ids(listed, "--sort", sort, "--limit", "4", "--offset", "2") == expected[2:6]


def test_sorted_ascending_by_a_metric_keeps_runs_without_it_last(listed: Path) -> None:
    ids = _ids(listed, "--sort", "loss:asc")
    runs = {r["id"]: r for r in json.loads(runyard(listed, "runs", "list", "--json").stdout)}
    values = [runs[i]["metrics"].get("loss") for i in ids]
    valued = [v for v in values if v not in (None, "NaN")]
    assert valued == sorted(valued)
    assert values[: len(valued)] == valued  # every run with a value comes first


def test_user_filters_and_the_user_column(listed: Path) -> None:
    assert _ids(listed, "--user", "ada@example.com") == [f"r{i:02d}" for i in (9, 6, 3, 0)]
    assert _ids(listed, "--user", "Bob") == [f"r{i:02d}" for i in (10, 7, 4, 1)]
    assert _ids(listed, "--mine") == _ids(listed, "--user", "ada@example.com")
    table = runyard(listed, "runs", "list", "--limit", "3", check=True).stdout.splitlines()
    assert table[0].split()[:6] == ["ID", "EXPERIMENT", "STATUS", "TARGET", "USER", "CREATED"]
    cells = {line.split()[0]: line for line in table[1:]}
    assert "ada@example.com" in cells["r09"]
    assert " Bob " in cells["r10"]
    assert "—" in cells["r11"].split("local", 1)[1]
    shown = json.loads(runyard(listed, "runs", "list", "--json", "--limit", "2").stdout)
    assert [r["user"] for r in shown] == [
        {"name": None, "email": None},
        {"name": "Bob", "email": None},
    ]


def test_bad_paging_and_user_options_say_what_to_do(listed: Path) -> None:
    both = runyard(listed, "runs", "list", "--user", "Bob", "--mine")
    assert both.returncode != 0 and "--user and --mine" in both.stderr
    negative = runyard(listed, "runs", "list", "--limit", "-1")
    assert negative.returncode != 0 and "--limit -1" in negative.stderr
    direction = runyard(listed, "runs", "list", "--sort", "loss:up")
    assert direction.returncode != 0 and "asc or desc" in direction.stderr
