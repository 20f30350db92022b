"""Live pushes for one project: run state changes, log lines and metric points.

The store is the meeting point: whoever started a run (this server, the CLI, another
server on the same project), its supervisor records each transition in
``status_history`` and ingests metric points into ``metrics``, and writes the log to
``runs/<id>/run.log``. The feed polls those a few times a second on its own thread
(one store connection, never on the event loop) and sends what is new:

- ``runyard/runs/didChange`` for every transition recorded after the feed started;
- ``runyard/runs/logLines`` with the complete lines appended to a live run's log;
- ``runyard/metrics/points`` with the points ingested since the last poll.

A team store on PostgreSQL (`runyard.core.store.postgres`) is followed without
polling the database: the store's triggers NOTIFY on every change of a run's state or
latest metrics, by any client on any machine, and a listener thread (`Store.listen`)
wakes the feed at once. The feed still polls, at its interval while it follows runs
(a local run's log is a file, which nothing notifies about) and every `LISTEN_IDLE`
seconds otherwise, so a lost notification costs a delay, never an event. A teammate's
run shows its state and metric points; its log stays on the machine that ran it. Only
runs started in this project are checked for dead supervisors (`Store.live_runs`).

A run that was already live when the feed started (the editor was reopened) is picked
up from where its log and metrics are now; the client reads the history with
``runyard/runs/logs`` and ``runyard/metrics/series``. Output of one poll goes out in
order: log lines and metric points first, then the state changes, so a client sees a
run's last lines before it sees the run finish. The runs whose state changed are read
before their logs and metrics (the supervisor records the final state after the last
line and point), and a run's final state is pushed once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from runyard.core.project import Project
from runyard.lsp import protocol
from runyard.lsp.convert import from_fields, unstructure

log = logging.getLogger("runyard.lsp.live")

MAX_LOG_BYTES_PER_POLL = 1 << 20
MAX_POINTS_PER_POLL = 200_000
RECONCILE_EVERY = 2.0  # seconds between checks for runs whose supervisor died
LISTEN_IDLE = 5.0  # seconds between polls of a store that notifies, following no run

Event = tuple[str, dict[str, Any]]
FINAL_STATUSES = ("completed", "failed", "canceled", "lost")  # as in core.store, which
# is imported on the feed's thread so that starting the server does not wait for sqlite3


@dataclass
class _Tracked:
    log_offset: int
    metric_cursor: int
    final: bool = False


def run_info(run: Any) -> protocol.RunInfo:
    """A store `Run` as the protocol lists it (its duration, its latest metrics)."""
    return from_fields(protocol.RunInfo, run)


class FeedState:
    """What a feed has sent so far. Used from the feed's own thread only."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = str(project.root)
        self.store: Any = None  # core.store.Store, opened on the feed's thread
        self.status_pos = 0
        self.tracked: dict[str, _Tracked] = {}
        self.last_reconcile = 0.0
        self.final_sent: dict[str, str] = {}  # run id -> the final state pushed
        # taken now, not on the feed's thread: a change made right after the server
        # met the project (targets/add) must not become part of the baseline
        self.config_stamp = self._config_stamp()

    def _log_path(self, run_id: str) -> str:
        return os.fspath(self.project.run_dir(run_id) / "run.log")

    def _log_size(self, run_id: str) -> int:
        try:
            return os.stat(self._log_path(run_id)).st_size
        except OSError:
            return 0

    def _store_exists(self) -> bool:
        """Whether there is a store to open: the project's SQLite file, or a team store
        the settings name (which exists before this project's first run)."""
        from runyard.core.store import store_exists

        return store_exists(self.project.store_path)

    def attach(self) -> None:
        """Open the store and start following the runs that are live now."""
        from runyard.core.store import Store

        if not self._store_exists():
            return  # nothing ran yet; the store appears with the first run
        self.store = Store(self.project.store_path)
        self.status_pos = self.store.last_status_change()
        for run in self.store.live_runs(everywhere=True):
            self.tracked[run.id] = _Tracked(
                log_offset=self._log_size(run.id),
                metric_cursor=self.store.metric_cursor(run.id),
            )

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def poll(self) -> list[Event]:
        from runyard.core.store import Store

        if self.store is None:
            if not self._store_exists():
                return self._config_events()
            self.store = Store(self.project.store_path)  # first run: follow from the start
        store = self.store
        now = time.monotonic()
        if now - self.last_reconcile > RECONCILE_EVERY and self.tracked:
            self.last_reconcile = now
            from runyard.runner import runs

            try:
                runs.reconcile(self.project, store)
            except Exception as exc:  # the next poll tries again
                log.warning("reconcile failed: %s", exc)
        changed: list[str] = []
        for pos, run_id, status in store.status_changes(self.status_pos):
            self.status_pos = pos
            if run_id not in changed:
                changed.append(run_id)
            tracked = self.tracked.get(run_id)
            if tracked is None and status not in FINAL_STATUSES:
                tracked = self.tracked[run_id] = _Tracked(0, 0)
            if tracked is not None and status in FINAL_STATUSES:
                tracked.final = True
        # read the changed runs before their logs and metrics: a run that ended since
        # the status changes were read then has all its lines and points in this poll
        changed_runs: list[Any] = []
        for run_id in changed:
            try:
                run = store.get_run(run_id)
            except Exception:  # deleted meanwhile
                continue
            if run.status in FINAL_STATUSES:
                if self.final_sent.get(run_id) == run.status:
                    continue  # its final change was read late: pushed already
                self.final_sent[run_id] = run.status
                tracked = self.tracked.get(run_id)
                if tracked is not None:
                    tracked.final = True
            changed_runs.append(run)
        events: list[Event] = []
        for run_id, tracked in list(self.tracked.items()):
            events.extend(self._log_events(run_id, tracked))
            events.extend(self._metric_events(store, run_id, tracked))
            if tracked.final and tracked.log_offset >= self._log_size(run_id):
                del self.tracked[run_id]
        for run in changed_runs:
            note = protocol.RunChangedNotification(project=self.root, run=run_info(run))
            events.append((protocol.RUN_CHANGED, unstructure(note)))
        events.extend(self._config_events())
        return events

    def _log_events(self, run_id: str, tracked: _Tracked) -> list[Event]:
        try:
            with open(self._log_path(run_id), "rb") as f:
                f.seek(tracked.log_offset)
                data = f.read(MAX_LOG_BYTES_PER_POLL)
        except OSError:
            return []
        if not data:
            return []
        if not tracked.final:
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) < MAX_LOG_BYTES_PER_POLL:
                    return []  # wait for the line to end
                cut = len(data) - 1
            data = data[: cut + 1]
        start = tracked.log_offset
        tracked.log_offset += len(data)
        note = protocol.LogLinesNotification(
            project=self.root,
            run_id=run_id,
            offset=start,
            next_offset=tracked.log_offset,
            text=data.decode("utf-8", errors="replace"),
        )
        return [(protocol.LOG_LINES, unstructure(note))]

    def _metric_events(self, store: Any, run_id: str, tracked: _Tracked) -> list[Event]:
        points = store.metric_points(run_id, after=tracked.metric_cursor, limit=MAX_POINTS_PER_POLL)
        if not points:
            return []
        tracked.metric_cursor = points[-1][0]
        chunks: dict[str, protocol.MetricPointsChunk] = {}
        for _cursor, key, step, wall, value in points:
            chunk = chunks.get(key)
            if chunk is None:
                chunk = chunks[key] = protocol.MetricPointsChunk(
                    key=key, steps=[], times=[], values=[]
                )
            chunk.steps.append(step)
            chunk.times.append(wall)
            chunk.values.append(value)
        note = protocol.MetricPointsNotification(
            project=self.root, run_id=run_id, chunks=list(chunks.values())
        )
        return [(protocol.METRIC_POINTS, unstructure(note))]

    def _config_stamp(self) -> tuple[Any, ...]:
        stamp: list[Any] = []
        runyard_dir = self.project.runyard_dir
        for folder in (self.project.targets_dir, self.project.jobs_dir):
            try:
                with os.scandir(folder) as it:
                    for entry in it:
                        with contextlib.suppress(OSError):
                            stamp.append((entry.path, entry.stat().st_mtime_ns))
            except OSError:
                stamp.append((os.fspath(folder), None))
        try:
            stamp.append(("config", os.stat(runyard_dir / "config.yml").st_mtime_ns))
        except OSError:
            stamp.append(("config", None))
        return tuple(sorted(stamp, key=lambda item: str(item)))

    def _config_events(self) -> list[Event]:
        stamp = self._config_stamp()
        if stamp == self.config_stamp:
            return []
        self.config_stamp = stamp
        note = protocol.ConfigChangedNotification(project=self.root)
        return [(protocol.CONFIG_CHANGED, unstructure(note))]


class LiveFeed:
    """Polls one project's store on a thread of its own and sends what is new."""

    def __init__(
        self,
        project: Project,
        send: Callable[[str, dict[str, Any]], None],
        interval: Callable[[], float],
    ) -> None:
        self.state = FeedState(project)
        self.send = send
        self.interval = interval
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runyard-feed")
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.listener: Any = None  # the store's change listener, when it has one

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    def poke(self) -> None:
        """Poll now (a run was just submitted) instead of waiting for the interval."""
        self.wake.set()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        loop = asyncio.get_running_loop()
        if self.listener is not None:
            await loop.run_in_executor(self.pool, self.listener.stop)
            self.listener = None
        await loop.run_in_executor(self.pool, self.state.close)
        self.pool.shutdown(wait=False)

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the feed's thread: listen to the store's changes, when it can say them."""
        store = self.state.store
        if self.listener is not None or store is None:
            return
        self.listener = store.listen(lambda: loop.call_soon_threadsafe(self.wake.set))
        if self.listener is not None:
            log.info("following %s by its notifications", store.location)

    def _wait(self) -> float:
        """Seconds to the next poll (see the module docstring)."""
        if self.listener is not None and not self.state.tracked:
            return max(self.interval(), LISTEN_IDLE)
        return self.interval()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.pool, self.state.attach)
        except Exception as exc:
            log.warning("could not open the run store of %s: %s", self.state.root, exc)
        while True:
            self.wake.clear()  # before the poll: a change said during it polls again
            try:
                events = await loop.run_in_executor(self.pool, self.state.poll)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a locked or broken store: report, keep going
                log.warning("live feed of %s: %s", self.state.root, exc)
                events = []
            for method, payload in events:
                self.send(method, payload)
            if self.listener is None and self.state.store is not None:
                try:
                    await loop.run_in_executor(self.pool, self._listen, loop)
                except Exception as exc:  # polling goes on
                    log.warning("cannot follow the store of %s: %s", self.state.root, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self._wait())
