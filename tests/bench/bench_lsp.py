"""Benchmark: the Runyard language server (`python -m runyard.lsp`) as an editor sees it.

Run:  .venv/bin/python tests/bench/bench_lsp.py [--starts 10] [--edits 200]
      [--runs 10000,100000] [--points 1000000,10000000] [--requests 20]
      [--mlflow-runs 10000] [--old-path-max 10000000]

Prints, each measured client-side over stdio by a small JSON-RPC client in this file
(standard library only, so it runs in any environment that has Runyard installed):

1. start-up: process start to the `initialize` result, Runyard vs an empty pygls
   server started the same way (median of `--starts`; goal: at most 0.15 s slower),
   then Runyard's starts forked by the warm server a plain start leaves
   (runyard.lsp.warm: what the next editor window gets), and which heavy modules `create_server()` imports (`-X importtime`);
2. diagnostics: didChange to the publishDiagnostics of that version on a job file,
   alternating valid and invalid content (median and p95; goal: p95 < 20 ms);
3. `runyard/runs/list`: a page of 100 runs with their latest metrics, by creation time
   and by ``metric:loss``, at each of `--runs` runs (first request of a fresh server,
   and the median of `--requests`; goal: <= 100 ms at 100,000 runs, flat from 10,000),
   beside MLflow's `search_runs` for a page of 100 of `--mlflow-runs` runs in its
   SQLite store (when mlflow is importable; scripts/bench.sh installs it);
4. `runyard/metrics/series`: for each of `--points`, a run's series stored by
   `Store.add_metrics` (points/s; goal: >= 2,000,000), then cut to 2,000 points: the
   first request of a fresh server and the median of the next 10 (goal: first request
   <= 50 ms at 1,000,000 points, <= 200 ms at 10,000,000), the summary rows and points
   the cut read, beside reading every point and cutting in memory (the way before the
   store kept summaries; series up to `--old-path-max` points).

No assertions: this is a measurement. Wrong answers (a missing diagnostic, a short
page) are printed as warnings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from runyard.core.series import SeriesColumns
from runyard.core.store import Run, Store
from runyard.core.store.runs import RUN_COLUMNS

EMPTY_SERVER = """\
from pygls.lsp.server import LanguageServer

LanguageServer("empty", "0").start_io()
"""

CAPABILITIES: dict[str, Any] = {
    "workspace": {
        "configuration": True,
        "workspaceFolders": True,
        "didChangeConfiguration": {"dynamicRegistration": True},
    },
    "textDocument": {
        "synchronization": {"dynamicRegistration": True, "didSave": True},
        "publishDiagnostics": {"versionSupport": True, "relatedInformation": True},
        "completion": {"completionItem": {"snippetSupport": True}},
        "hover": {"contentFormat": ["markdown", "plaintext"]},
    },
    "window": {"workDoneProgress": True},
}

HEAVY = ("git", "yaml", "jsonschema", "docker", "tensorflow")

VALID_JOB = "script: train.py\n"
INVALID_JOBS = ("script: 5\n", "script: train.py\nepochs: 3\n")  # wrong type, unknown key

SERIES_POINTS_MAX = 2000
PAGE = 100
SLICE = 50_000  # points a store call gets from the ingester
EXPERIMENTS = ["mnist", "cifar", "bert", "gpt", "resnet"]


# --------------------------------------------------------------------------- client


class LspError(RuntimeError):
    pass


class LspClient:
    """A minimal LSP client over a child's stdio: requests, notifications, answers to
    the server's requests, and publishDiagnostics waiters keyed by (uri, version)."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr: TextIO) -> None:
        self.proc = proc
        self.stderr = stderr
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[tuple[dict[str, Any], float, int]]] = {}
        self.diag_waiters: dict[
            tuple[str, int | None], asyncio.Future[tuple[list[Any], float]]
        ] = {}
        self.notifications: Counter[str] = Counter()
        self.server_requests: Counter[str] = Counter()
        self.reader = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def start(
        cls, cmd: list[str], cwd: Path, env: dict[str, str], stderr: TextIO
    ) -> LspClient:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        return cls(proc, stderr)

    # ---- wire -----------------------------------------------------------------------

    def _write(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}, separators=(",", ":")).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def _read_loop(self) -> None:
        reader = self.proc.stdout
        assert reader is not None
        try:
            while True:
                length = None
                while True:
                    line = await reader.readline()
                    if not line:
                        raise EOFError
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    raise LspError("a message without Content-Length")
                body = await reader.readexactly(length)
                message = json.loads(body)
                self._dispatch(message, time.perf_counter(), length)
        except (EOFError, asyncio.IncompleteReadError, ConnectionError):
            self._fail_all(LspError("the server closed its output"))
        except Exception as exc:
            self._fail_all(exc)

    def _fail_all(self, exc: BaseException) -> None:
        for fut in [*self.pending.values(), *self.diag_waiters.values()]:
            if not fut.done():
                fut.set_exception(exc)
        self.pending.clear()
        self.diag_waiters.clear()

    def _dispatch(self, message: dict[str, Any], now: float, size: int) -> None:
        method = message.get("method")
        if method is not None and "id" in message:  # a request from the server
            self.server_requests[method] += 1
            result: Any = None
            if method == "workspace/configuration":
                result = [None for _ in message.get("params", {}).get("items", [])]
            self._write({"id": message["id"], "result": result})
            return
        if method is not None:
            self.notifications[method] += 1
            if method == "textDocument/publishDiagnostics":
                params = message["params"]
                fut = self.diag_waiters.pop((params["uri"], params.get("version")), None)
                if fut is not None and not fut.done():
                    fut.set_result((params["diagnostics"], now))
            return
        fut_response = self.pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if fut_response is not None and not fut_response.done():
            fut_response.set_result((message, now, size))

    # ---- API ------------------------------------------------------------------------

    async def request_timed(
        self, method: str, params: Any, timeout: float = 120.0
    ) -> tuple[Any, float, int]:
        """(result, seconds from sending to the parsed answer, answer bytes)."""
        request_id = next(self.ids)
        fut: asyncio.Future[tuple[dict[str, Any], float, int]] = (
            asyncio.get_running_loop().create_future()
        )
        self.pending[request_id] = fut
        start = time.perf_counter()
        self._write({"id": request_id, "method": method, "params": params})
        message, end, size = await asyncio.wait_for(fut, timeout)
        if "error" in message:
            raise LspError(f"{method}: {message['error']}")
        return message.get("result"), end - start, size

    async def request(self, method: str, params: Any, timeout: float = 120.0) -> Any:
        return (await self.request_timed(method, params, timeout))[0]

    def notify(self, method: str, params: Any) -> None:
        self._write({"method": method, "params": params})

    def expect_diagnostics(self, uri: str, version: int) -> asyncio.Future[tuple[list[Any], float]]:
        fut: asyncio.Future[tuple[list[Any], float]] = asyncio.get_running_loop().create_future()
        self.diag_waiters[(uri, version)] = fut
        return fut

    async def close(self) -> None:
        """shutdown + exit, then make sure the process is gone."""
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader


def initialize_params(root: Path) -> dict[str, Any]:
    uri = root.as_uri()
    return {
        "processId": os.getpid(),
        "clientInfo": {"name": "runyard-bench", "version": "0"},
        "rootUri": uri,
        "rootPath": str(root),
        "workspaceFolders": [{"uri": uri, "name": root.name}],
        "capabilities": CAPABILITIES,
    }


# --------------------------------------------------------------------------- helpers


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def warn(text: str) -> None:
    print(f"warning: {text}", flush=True)


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


class Bench:
    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base = base
        self.env = env
        self.root = base / "proj"
        self.stderr_path = base / "server-stderr.log"
        self.stderr = self.stderr_path.open("a")
        self.runyard = [sys.executable, "-m", "runyard.lsp"]
        self.empty = [sys.executable, str(base / "empty_server.py")]
        self.summary: list[tuple[str, str, str, str, str]] = []

    def add(self, what: str, value: str, goal: str, peer: str, met: bool | None) -> None:
        verdict = "" if met is None else ("met" if met else "NOT met")
        self.summary.append((what, value, goal, peer, verdict))

    async def start(
        self, cmd: list[str], *, extra: list[str] | None = None, env: dict[str, str] | None = None
    ) -> LspClient:
        if extra:
            cmd = [cmd[0], *extra, *cmd[1:]]
        return await LspClient.start(cmd, self.root, env or self.env, self.stderr)

    async def session(self) -> LspClient:
        client = await self.start(self.runyard)
        try:
            await client.request("initialize", initialize_params(self.root), timeout=60)
            client.notify("initialized", {})
        except BaseException:
            await client.close()
            raise
        return client

    # ---- 0. the project ------------------------------------------------------------

    def make_project(self) -> None:
        self.root.mkdir()
        (self.base / "empty_server.py").write_text(EMPTY_SERVER)
        (self.root / "train.py").write_text("print('train')\n")
        subprocess.run(["git", "init", "-q"], cwd=self.root, check=True)
        subprocess.run(
            [sys.executable, "-m", "runyard.cli", "init"],
            cwd=self.root,
            check=True,
            capture_output=True,
            env=self.env,
        )
        (self.root / ".runyard" / "jobs" / "train.yml").write_text(VALID_JOB)

    # ---- 1. start-up ---------------------------------------------------------------

    async def time_to_initialize(self, cmd: list[str], env: dict[str, str] | None = None) -> float:
        start = time.perf_counter()
        client = await self.start(cmd, env=env)
        try:
            await client.request("initialize", initialize_params(self.root), timeout=60)
            return time.perf_counter() - start
        finally:
            await client.close()

    async def startup(self, starts: int) -> None:
        section(f"1. start-up: process start to the initialize result ({starts} starts each)")
        for cmd in (self.runyard, self.empty):  # warm the bytecode caches
            await self.time_to_initialize(cmd)
        ours: list[float] = []
        peer: list[float] = []
        for _ in range(starts):
            ours.append(await self.time_to_initialize(self.runyard))
            peer.append(await self.time_to_initialize(self.empty))
        o, e = median(ours), median(peer)
        print(f"{'':34}{'median':>10}{'min':>10}{'max':>10}")
        print(f"{'python -m runyard.lsp':34}{o:>9.3f}s{min(ours):>9.3f}s{max(ours):>9.3f}s")
        print(f"{'empty pygls server':34}{e:>9.3f}s{min(peer):>9.3f}s{max(peer):>9.3f}s")
        warm = await self.warm_starts(starts)
        if warm:
            print(f"{'  forked by its warm server':34}{median(warm):>9.3f}s{min(warm):>9.3f}s"
                  f"{max(warm):>9.3f}s")  # fmt: skip
        print(f"difference (median): {o - e:+.3f}s   (goal: at most +0.150 s)")
        print(
            "  (a plain start takes attrs/cattrs' generated code from its cache, "
            "runyard.lsp.codecache; the next editor window's server is forked by the warm "
            "server, runyard.lsp.warm)"
        )
        self.add(
            "start-up to initialize", f"{o:.3f} s", "<= peer + 0.15 s", f"{e:.3f} s", o - e <= 0.15
        )
        self.add("  difference vs empty pygls", f"{o - e:+.3f} s", "<= +0.15 s", "", None)
        self.import_report()
        await self.session_imports()

    async def warm_starts(self, starts: int) -> list[float]:
        """Starts forked by the warm server (runyard.lsp.warm) that a plain start leaves,
        its socket in a folder of this bench's own; the warm server is ended after."""
        runtime = Path(tempfile.mkdtemp(prefix="ry-bench-"))
        env = {**self.env, "RUNYARD_SERVER_WARM": "1", "XDG_RUNTIME_DIR": str(runtime)}
        folder = runtime / f"runyard-{os.getuid()}"
        try:
            await self.time_to_initialize(self.runyard, env)  # plain: starts the warm server
            deadline = time.monotonic() + 30
            while not list(folder.glob("lsp-*.sock")) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            if not list(folder.glob("lsp-*.sock")):
                warn("no warm server started within 30 s")
                return []
            return [await self.time_to_initialize(self.runyard, env) for _ in range(starts)]
        finally:
            for log in folder.glob("lsp-*.sock.log"):
                first = log.read_text().split()
                if first[:1] == ["server"]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(first[1]), signal.SIGTERM)
            shutil.rmtree(runtime, ignore_errors=True)

    def import_report(self) -> None:
        # as a plain start makes it: the code cache first (`runyard.lsp.__main__`)
        code = (
            "from runyard.lsp import codecache; generated = codecache.install(); "
            "import runyard.lsp.server; runyard.lsp.server.create_server(); generated.save()"
        )
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            warn(f"importtime run failed: {proc.stderr[-2000:]}")
            return
        entries = parse_importtime(proc.stderr)
        modules = {name for name, _self, _cum in entries}
        print(f"\nimports of create_server() (-X importtime): {len(modules)} modules")
        loaded = heavy_loaded(modules)
        for name in HEAVY:
            print(f"  {name:12} {'IMPORTED' if loaded[name] else 'not imported'}")
        heavy = [n for n in HEAVY if loaded[n]]
        self.add(
            "heavy imports at create_server()",
            ", ".join(heavy) if heavy else "none",
            "none of " + "/".join(HEAVY),
            "",
            not heavy,
        )
        print("  top 10 by cumulative time:")
        for name, self_us, cum_us in sorted(entries, key=lambda e: -e[2])[:10]:
            print(f"    {cum_us / 1000:8.1f} ms cumulative {self_us / 1000:7.1f} ms self  {name}")

    async def session_imports(self) -> None:
        """What a real session has imported once initialize and initialized are done
        and the live feed had a moment (nothing opened, no request)."""
        self.stderr.flush()
        mark = self.stderr_path.stat().st_size
        client = await self.start(self.runyard, extra=["-X", "importtime"])
        try:
            await client.request("initialize", initialize_params(self.root), timeout=60)
            client.notify("initialized", {})
            await asyncio.sleep(1.0)
        finally:
            await client.close()
        self.stderr.flush()
        with self.stderr_path.open() as f:
            f.seek(mark)
            text = f.read()
        modules = {name for name, _self, _cum in parse_importtime(text)}
        loaded = heavy_loaded(modules)
        found = [n for n in HEAVY if loaded[n]]
        print(
            "imported by an idle session 1 s after initialized: "
            + (", ".join(found) if found else "none of " + ", ".join(HEAVY))
            + f" ({len(modules)} modules)"
        )

    # ---- 2. diagnostics ------------------------------------------------------------

    async def diagnostics(self, edits: int) -> None:
        section(f"2. diagnostics: didChange to publishDiagnostics ({edits} edits of a job file)")
        path = self.root / ".runyard" / "jobs" / "train.yml"
        uri = path.as_uri()
        client = await self.session()
        try:
            text = VALID_JOB
            fut = client.expect_diagnostics(uri, 1)
            start = time.perf_counter()
            client.notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}},
            )
            found, end = await asyncio.wait_for(fut, 60)
            first = end - start
            if found:
                warn(f"the valid job file got diagnostics: {found}")
            print(f"didOpen to the first publishDiagnostics (cold): {ms(first)}")
            valid: list[float] = []
            invalid: list[float] = []
            wrong = missing = 0
            for i in range(edits):
                version = i + 2
                bad = i % 2 == 0  # the open document is valid: the first edit breaks it
                new = INVALID_JOBS[(i // 2) % len(INVALID_JOBS)] if bad else VALID_JOB
                lines = text.split("\n")
                whole = {
                    "start": {"line": 0, "character": 0},
                    "end": {"line": len(lines) - 1, "character": len(lines[-1])},
                }
                fut = client.expect_diagnostics(uri, version)
                start = time.perf_counter()
                client.notify(
                    "textDocument/didChange",
                    {
                        "textDocument": {"uri": uri, "version": version},
                        "contentChanges": [{"range": whole, "text": new}],
                    },
                )
                try:
                    found, end = await asyncio.wait_for(fut, 10)
                except TimeoutError:
                    missing += 1
                    client.diag_waiters.pop((uri, version), None)
                    text = new
                    continue
                text = new
                (invalid if bad else valid).append(end - start)
                if bool(found) != bad:
                    wrong += 1
            both = valid + invalid
            print(f"{'':22}{'median':>10}{'p95':>10}{'max':>10}")
            for label, values in (
                ("all edits", both),
                ("to valid", valid),
                ("to invalid", invalid),
            ):
                if values:
                    print(
                        f"{label:22}{ms(median(values)):>10}{ms(p95(values)):>10}{ms(max(values)):>10}"
                    )
            print("goal: p95 < 20 ms")
            if wrong:
                warn(f"{wrong} of {edits} edits got the wrong diagnostics (valid/invalid)")
            if missing:
                warn(f"{missing} of {edits} edits got no publishDiagnostics within 10 s")
            if both:
                self.add("diagnostics p95", ms(p95(both)), "< 20 ms", "", p95(both) < 0.020)
                self.add("diagnostics median", ms(median(both)), "", "", None)
            self.add("diagnostics first (didOpen, cold)", ms(first), "", "", None)
            client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        finally:
            await client.close()

    # ---- 3 & 4: the store ----------------------------------------------------------

    @property
    def store_path(self) -> Path:
        return self.root / ".runyard" / "state" / "runyard.db"

    def add_runs(self, start: int, stop: int) -> float:
        """Runs number `start` to `stop - 1`, written in bulk as `create_run` and
        `add_metrics` leave them (a row, its first transition, latest loss/acc/lr; every
        tenth run logged no loss). Returns the seconds it took."""
        rng = random.Random(start)
        base = time.time() - 1e8
        rows, history, latest = [], [], []
        for i in range(start, stop):
            created = base + i * 60
            status = "failed" if i % 17 == 0 else "completed"
            run_id = time.strftime("%y%m%d-%H%M%S", time.localtime(created)) + f"-{i:06d}"
            code = 0 if status == "completed" else 1
            command = '["python", "train.py"]'
            rows.append(
                (
                    run_id,
                    EXPERIMENTS[i % 5],
                    status,
                    "local",
                    "local",
                    None,
                    "train.py",
                    command,
                    None,
                    None,
                    None,
                    created,
                    created + 0.5,
                    created + 30.0,
                    code,
                    None,
                    None,
                    None,
                    "{}",
                )
            )
            history.append((run_id, status, created, None))
            if i % 10:
                latest.append((run_id, "loss", 2, created + 3, rng.uniform(0.1, 3.0), 3))
            latest.append((run_id, "acc", 2, created + 3, rng.uniform(0.0, 1.0), 3))
            latest.append((run_id, "lr", 2, created + 3, 1e-3 / 3, 3))
        started = time.perf_counter()
        with Store(self.store_path) as store, store._tx() as db:
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
        return time.perf_counter() - started

    def add_series(self, n_points: int) -> tuple[str, float]:
        """A run with an `n_points` 'loss' series, stored by `add_metrics` in slices of
        50,000 points (what the ingester hands it). Returns the run's id and the
        seconds `add_metrics` took (making the points is not counted)."""
        rng = random.Random(n_points)
        created = time.time()
        run_id = time.strftime("%y%m%d-%H%M%S", time.localtime(created)) + f"-long{n_points}"
        spent = 0.0
        with Store(self.store_path) as store:
            store.create_run(
                Run(
                    id=run_id,
                    experiment="long",
                    status="completed",
                    target="local",
                    target_type="local",
                    job=None,
                    script="long.py",
                    command=["python", "long.py"],
                    created=created,
                )
            )
            for lo in range(0, n_points, SLICE):
                points = [
                    (
                        "loss",
                        s,
                        created + s * 0.01,
                        2.0 * math.exp(-s / (n_points / 5)) + rng.random() * 0.05,
                    )
                    for s in range(lo, min(n_points, lo + SLICE))
                ]
                started = time.perf_counter()
                store.add_metrics(run_id, points)
                spent += time.perf_counter() - started
        return run_id, spent

    async def runs_list(self, sizes: list[int], repeat: int, mlflow_runs: int) -> None:
        section(
            f"3. runyard/runs/list: a page of {PAGE} runs with latest metrics ({repeat} requests)"
        )
        print(f"{'':36}{'first':>10}{'median':>10}{'min':>10}{'max':>10}{'bytes':>10}")
        done = 0
        medians: dict[tuple[str, int], float] = {}
        for n_runs in sizes:
            self.add_runs(done, n_runs)
            done = n_runs
            client = await self.session()  # a fresh server: the first request is cold
            try:
                for label, params in (
                    ("sort created (default)", {"limit": PAGE}),
                    ("sort metric:loss", {"limit": PAGE, "sort": "metric:loss"}),
                ):
                    times: list[float] = []
                    result: Any = None
                    size = 0
                    for _ in range(repeat):
                        result, elapsed, size = await client.request_timed(
                            "runyard/runs/list", params
                        )
                        times.append(elapsed)
                    m = medians[label, n_runs] = median(times)
                    name = f"{label}, {n_runs:,} runs"
                    print(
                        f"{name:36}{ms(times[0]):>10}{ms(m):>10}{ms(min(times)):>10}"
                        f"{ms(max(times)):>10}{size:>10}"
                    )
                    check_page(result, n_runs, str(params.get("sort", "created")))
            finally:
                await client.close()
        peer = mlflow_search_runs(self.base / "mlflow", mlflow_runs) if mlflow_runs else None
        if peer is not None:
            for key, seconds in peer[1].items():
                name = f"mlflow search_runs by {key}, {mlflow_runs:,}"
                print(f"{name:36}{ms(seconds):>10}  ({peer[0]}, first call)")
        elif mlflow_runs:
            print(
                "mlflow search_runs: mlflow is not importable here (scripts/bench.sh installs it)"
            )
        print(f"goal: <= 100 ms a page at {sizes[-1]:,} runs, flat from {sizes[0]:,}")
        small, large = sizes[0], sizes[-1]
        for label, key in (("sort created (default)", "start_time"), ("sort metric:loss", "loss")):
            m = medians[label, large]
            growth = m / medians[label, small] if medians[label, small] else math.inf
            theirs = f"mlflow {ms(peer[1][key])} at {mlflow_runs:,}" if peer else ""
            self.add(f"runs/list {label}, {large:,} runs", ms(m), "<= 100 ms", theirs, m <= 0.100)
            self.add(
                f"  growth {small:,} -> {large:,} runs", f"{growth:.1f}x", "flat (~1x)", "", None
            )

    async def series(self, sizes: list[int], old_path_max: int) -> None:
        section(f"4. runyard/metrics/series: a series cut to {SERIES_POINTS_MAX} points")
        print(
            f"{'':22}{'ingest':>12}{'first':>10}{'warm':>10}{'rows':>8}{'points':>8}{'every point':>13}"
        )
        for n_points in sizes:
            run_id, spent = self.add_series(n_points)
            rate = n_points / spent
            params = {"runIds": [run_id], "keys": ["loss"], "maxPoints": SERIES_POINTS_MAX}
            client = await self.session()  # a fresh server: nothing of the series in memory
            try:
                # as in the editor, whose views list the runs first (the server's imports)
                await client.request_timed("runyard/runs/list", {"limit": PAGE})
                result, cold, _size = await client.request_timed("runyard/metrics/series", params)
                check_series(result, n_points)
                warm: list[float] = []
                for _ in range(10):
                    result, elapsed, _size = await client.request_timed(
                        "runyard/metrics/series", params
                    )
                    warm.append(elapsed)
            finally:
                await client.close()
            with Store(self.store_path) as store:
                cut = store.metric_series(run_id, "loss", SERIES_POINTS_MAX)
                old = ""
                if n_points <= old_path_max:
                    # the way a first request went before the summaries: read every
                    # point, then cut them in memory
                    started = time.perf_counter()
                    _, steps, times, values = store.metric_columns(run_id, "loss")
                    columns = SeriesColumns()
                    columns.extend(steps, times, values)
                    columns.downsample(SERIES_POINTS_MAX)
                    old = ms(time.perf_counter() - started)
                    del steps, times, values, columns
            w = median(warm)
            name = f"{n_points:,} points"
            print(
                f"{name:22}{rate / 1e6:>9.2f} M/s{ms(cold):>10}{ms(w):>10}"
                f"{cut.rows_read:>8}{cut.points_read:>8}{old:>13}"
            )
            goal = 0.050 if n_points <= 1_000_000 else 0.200
            self.add(
                f"metrics/series first, {name}",
                ms(cold),
                f"<= {ms(goal)}",
                f"every point {old}" if old else "",
                cold <= goal,
            )
            self.add(f"metrics/series warm, {name}", ms(w), "", "", None)
            self.add(
                f"ingest (add_metrics), {name}",
                f"{rate / 1e6:.2f} M points/s",
                ">= 2 M/s",
                "",
                rate >= 2e6,
            )
        print(
            "ingest: Store.add_metrics in slices of 50,000 points; first: the first series request\n"
            "of a fresh server (after one runs/list, as the editor's views make); warm: median of\n"
            "the next 10; rows/points: what Store.metric_series read;\n"
            "every point: reading the whole series and cutting it in memory (the way before)"
        )
        print("goal: first request <= 50 ms at 1,000,000 points, <= 200 ms at 10,000,000")

    async def store_requests(
        self, runs: list[int], points: list[int], repeat: int, mlflow_runs: int, old_path_max: int
    ) -> None:
        await self.runs_list(runs, repeat, mlflow_runs)
        await self.series(points, old_path_max)

    def print_summary(self) -> None:
        section("summary")
        header = ("measure", "value", "goal", "peer", "")
        widths = [max(len(str(row[i])) for row in [header, *self.summary]) for i in range(5)]
        for row in [header, *self.summary]:
            print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def mlflow_search_runs(folder: Path, n_runs: int) -> tuple[str, dict[str, float]] | None:
    """MLflow's `search_runs` for a page of 100 of `n_runs` runs with a latest loss (by
    start time, by loss) in its SQLite store, the first call of a fresh client; None when
    mlflow is not importable. The runs are written in bulk into MLflow's own tables
    (what `create_run` and `log_metric` leave, through its schema), which is what
    makes 10,000 runs take seconds instead of many minutes."""
    try:
        import mlflow
    except ImportError:
        return None
    import logging
    import sqlite3
    import uuid
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench")
    rng = random.Random(0)
    now = int(time.time() * 1000) - n_runs * 60_000
    runs, tags, latest, points = [], [], [], []
    for i in range(n_runs):
        run_id = uuid.uuid4().hex
        start = now + i * 60_000
        where = f"{folder}/artifacts/{run_id}"
        runs.append(
            (
                run_id,
                f"run-{i}",
                "LOCAL",
                "train.py",
                "",
                "bench",
                "FINISHED",
                start,
                start + 30000,
                "",
                "active",
                where,
                int(experiment),
            )
        )
        tags.append(("mlflow.runName", f"run-{i}", run_id))
        loss = rng.uniform(0.1, 3.0)
        latest.append(("loss", loss, start + 3000, 2, 0, run_id))
        points.append(("loss", loss, start + 3000, run_id, 2, 0))
    db = sqlite3.connect(folder / "mlflow.db")
    with db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            runs,
        )
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            latest,
        )
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            points,
        )
    db.close()
    out: dict[str, float] = {}
    for key, order in (("start_time", "attributes.start_time DESC"), ("loss", "metrics.loss DESC")):
        fresh = mlflow.MlflowClient(tracking_uri=uri)
        started = time.perf_counter()
        page = fresh.search_runs([experiment], order_by=[order], max_results=PAGE)
        out[key] = time.perf_counter() - started
        if len(page) != PAGE:
            warn(f"mlflow search_runs: {len(page)} runs, expected {PAGE}")
    return f"mlflow {mlflow.__version__}, SQLite store", out


def check_page(result: Any, total: int, sort: str) -> None:
    runs = result.get("runs", []) if isinstance(result, dict) else []
    if len(runs) != PAGE or result.get("total") != total:
        warn(
            f"runs/list ({sort}): {len(runs)} runs, total {result.get('total')}; expected {PAGE}, {total}"
        )
        return
    if sort == "created":
        keys = [r["created"] for r in runs]
    else:
        keys = [r["metrics"].get("loss") for r in runs]
        if any(k is None for k in keys):
            warn("runs/list (metric:loss): runs without loss on the first page")
            return
    if keys != sorted(keys, reverse=True):
        warn(f"runs/list ({sort}): the page is not in descending order")


def check_series(result: Any, n_points: int) -> None:
    series = result.get("series", []) if isinstance(result, dict) else []
    if len(series) != 1:
        warn(f"metrics/series: {len(series)} series, expected 1")
        return
    s = series[0]
    count = len(s["values"])
    if s["total"] != n_points or count > SERIES_POINTS_MAX or not s["downsampled"]:
        warn(
            f"metrics/series: total {s['total']}, {count} points, downsampled {s['downsampled']}; "
            f"expected {n_points}, <= {SERIES_POINTS_MAX}, true"
        )


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


def parse_importtime(text: str) -> list[tuple[str, int, int]]:
    """(module, self µs, cumulative µs) for each line of `-X importtime` output."""
    out = []
    for line in text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            out.append((match.group(4), int(match.group(1)), int(match.group(2))))
    return out


def heavy_loaded(modules: set[str]) -> dict[str, bool]:
    return {h: any(m == h or m.startswith(h + ".") for m in modules) for h in HEAVY}


async def run_all(opts: argparse.Namespace, base: Path, env: dict[str, str]) -> None:
    bench = Bench(base, env)
    try:
        bench.make_project()
        steps: list[Callable[[], Any]] = [
            lambda: bench.startup(opts.starts),
            lambda: bench.diagnostics(opts.edits),
            lambda: bench.store_requests(
                opts.runs, opts.points, opts.requests, opts.mlflow_runs, opts.old_path_max
            ),
        ]
        for step in steps:
            await step()
        bench.print_summary()
    except BaseException:
        bench.stderr.flush()
        tail = bench.stderr_path.read_text(errors="replace")[-3000:]
        if tail.strip():
            print(f"\nserver stderr (last lines):\n{tail}", file=sys.stderr)
        raise
    finally:
        bench.stderr.close()


def counts(text: str) -> list[int]:
    """'10000,100000' as [10000, 100000]."""
    return sorted(int(part.replace("_", "")) for part in text.split(","))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=10, help="server starts for each side")
    parser.add_argument("--edits", type=int, default=200, help="didChange edits")
    parser.add_argument(
        "--runs", type=counts, default=[10_000, 100_000], help="runs in the store, in steps"
    )
    parser.add_argument(
        "--points", type=counts, default=[1_000_000, 10_000_000], help="points of each series"
    )
    parser.add_argument(
        "--mlflow-runs", type=int, default=10_000, help="runs in MLflow's store (0: none)"
    )
    parser.add_argument(
        "--old-path-max", type=int, default=10_000_000, help="largest series read point by point"
    )
    parser.add_argument("--requests", type=int, default=20, help="runs/list requests per sort")
    opts = parser.parse_args()
    env = dict(os.environ)
    # measure what users get: with bytecode caching (some shells here turn it off)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # plain starts, each its own process (the warm ones are measured on their own)
    env["RUNYARD_SERVER_WARM"] = "0"
    env.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    base = Path(tempfile.mkdtemp(prefix="runyard-bench-lsp-"))
    started = time.perf_counter()
    try:
        print(f"python: {sys.version.split()[0]}, folder: {base}")
        asyncio.run(run_all(opts, base, env))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\ntotal time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
