"""The live feed's order: a run's last log lines and metric points go out before the
push that says it ended, and that push goes out once, even when the run ends while a
poll is under way. A real store and a real log file; the supervisor's part is played
by the test, at the moment it chooses."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import pytest

from runyard.core.project import Project
from runyard.core.store import Store
from runyard.lsp.live import FeedState
from tests.helpers import make_run


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path)
    proj.state_dir.mkdir(parents=True)
    return proj


def _log(project: Project, run_id: str, text: str) -> None:
    path = project.run_dir(run_id) / "run.log"
    with path.open("a") as f:
        f.write(text)


def _pushes(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    """(method, what it says) for each event: the status, the text or the metric keys."""
    out = []
    for method, params in events:
        if method.endswith("didChange") and "run" in params:
            out.append((method, params["run"]["status"]))
        elif method.endswith("logLines"):
            out.append((method, params["text"]))
        elif method.endswith("points"):
            out.append((method, ",".join(c["key"] for c in params["chunks"])))
    return out


def test_a_run_that_ends_during_a_poll_has_its_last_lines_pushed_before_its_end(
    project: Project,
) -> None:
    store = Store(project.store_path)
    store.create_run(make_run("r1"))
    store.set_status("r1", "preparing", None, supervisor_pid=os.getpid())
    # hold the run's lock as its supervisor does, or the feed finds the run lost
    project.run_dir("r1").mkdir(parents=True)
    lock = os.open(project.run_dir("r1") / "supervisor.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    feed = FeedState(project)
    feed.attach()
    store.set_status("r1", "running", None, pid=os.getpid())
    _log(project, "r1", "step 1\n")
    read_log = feed._log_events

    def finish_after_reading(run_id: str, tracked: Any) -> list[tuple[str, dict[str, Any]]]:
        """The supervisor finishes just after the feed read the log."""
        events = read_log(run_id, tracked)
        if not finished:
            finished.append(True)
            _log(project, "r1", "step 2\ntrained\n")
            store.add_metrics("r1", [("loss", 2, 1000.0, 0.5)])
            store.set_status("r1", "completed", None, exit_code=0)
        return events

    finished: list[bool] = []
    feed._log_events = finish_after_reading  # type: ignore[method-assign]
    pushes = [push for _ in range(3) for push in _pushes(feed.poll())]
    feed.close()
    store.close()
    os.close(lock)

    ended = pushes.index(("runyard/runs/didChange", "completed"))
    assert ended == len(pushes) - 1, pushes  # after the last line, and only once
    lines = "".join(text for method, text in pushes if method == "runyard/runs/logLines")
    assert lines == "step 1\nstep 2\ntrained\n"
    assert ("runyard/metrics/points", "loss") in pushes
    assert "r1" not in feed.tracked


def test_a_change_to_the_targets_right_after_the_feed_starts_is_pushed(
    project: Project,
) -> None:
    feed = FeedState(project)  # made when the server meets the project
    project.targets_dir.mkdir(parents=True)
    (project.targets_dir / "gpu.yml").write_text("type: local\n")  # before attach
    feed.attach()
    assert [m for m, _p in feed.poll()] == ["runyard/config/didChange"]
    assert feed.poll() == []
    feed.close()
