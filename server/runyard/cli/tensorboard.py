"""`runyard tensorboard RUN [RUN ...]`: TensorBoard over the event files of runs.

A run keeps the TensorBoard event files it wrote in `.runyard/state/runs/<id>/
tensorboard` (see `runyard.runner.tbimport`); a local run still running is shown from
its working copy. The runs appear in TensorBoard under their ids (`<id>/train`,
`<id>/validation`). TensorBoard runs as a child process, from Runyard's environment
when `tensorboard` is installed there, else the `tensorboard` command on PATH; the
URL goes to stdout once it answers, and Ctrl-C (or SIGTERM) stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import posixpath
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from runyard.cli.common import open_store, project_of, reconcile
from runyard.cli.output import info
from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.store import Run
from runyard.runner import runs
from runyard.runner.tbimport import DEFAULT_DIR, KEPT_FOLDER, event_files

DEFAULT_PORT = 6006
SERVE_TIMEOUT = 60.0  # seconds to wait for TensorBoard to answer before printing anyway


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `tensorboard` command to the CLI's subcommands."""
    s = subparsers.add_parser(
        "tensorboard", help="open runs' TensorBoard event files in TensorBoard"
    )
    s.add_argument("runs", nargs="+", metavar="RUN", help="run ids (or unique parts of them)")
    s.add_argument(
        "--port", type=int, help=f"port to serve on (default {DEFAULT_PORT}, else a free one)"
    )
    s.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    s.set_defaults(func=cmd_tensorboard)


def tensorboard_folder(project: Project, run: Run) -> Path | None:
    """The folder holding the run's event files: the kept one, or for a run still
    running, its working copy's; None when there are none (yet)."""
    kept = project.run_dir(run.id) / KEPT_FOLDER
    if event_files(kept):
        return kept
    if run.live:
        rel = posixpath.normpath(str(run.options.get("tensorboard_dir") or DEFAULT_DIR))
        if not rel.startswith(("/", "..")):
            work = project.run_dir(run.id) / "work" / rel
            if event_files(work):
                return work
    return None


def tensorboard_command() -> list[str]:
    """How to start TensorBoard; RunyardError when it is not installed."""
    try:
        spec = importlib.util.find_spec("tensorboard")
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        return [sys.executable, "-m", "tensorboard.main"]
    found = shutil.which("tensorboard")
    if found:
        return [found]
    raise RunyardError(
        "TensorBoard is not installed.",
        hint=f"pip install tensorboard (into Runyard's environment: {sys.executable} -m pip "
        "install tensorboard)",
    )


def _free_port(host: str) -> int:
    """DEFAULT_PORT when it is free on `host`, else one the system picks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in (DEFAULT_PORT, 0):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RunyardError(f"Cannot listen on {host}.", hint="give another --host")


def _answers(host: str, port: int) -> bool:
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop TensorBoard and exit."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def cmd_tensorboard(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        reconcile(project, store)
        found: dict[str, Run] = {}
        for text in args.runs:
            run = runs.get_run(project, store, text)
            found.setdefault(run.id, run)
    specs: list[str] = []
    for run in found.values():
        folder = tensorboard_folder(project, run)
        if folder is None:
            rel = run.options.get("tensorboard_dir") or DEFAULT_DIR
            raise NotFoundError(
                f"Run {run.id} has no TensorBoard event files" + (" yet." if run.live else "."),
                hint=f"a run's TensorBoard files are those it writes in {rel}/ (a job's "
                f"`tensorboard_dir`); they are kept in "
                f"{project.relpath(project.run_dir(run.id) / KEPT_FOLDER)}/",
            )
        if "," in str(folder):
            raise UsageError(
                f"TensorBoard cannot read {folder}: its path has a comma.",
                hint="move the project to a folder without commas in its path",
            )
        specs.append(f"{run.id}:{folder}")
    command = tensorboard_command()
    host = args.host
    port = args.port if args.port is not None else _free_port(host)
    argv = [*command, "--logdir_spec", ",".join(specs), "--host", host, "--port", str(port)]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + SERVE_TIMEOUT
        while not _answers(host, port) and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RunyardError(
                    f"TensorBoard exited with code {proc.returncode} before serving.",
                    hint="see its messages above (a port in use: give another --port)",
                )
            time.sleep(0.2)
        names = ", ".join(found)
        info(f"TensorBoard for {names} (Ctrl-C to stop):")
        print(url, flush=True)
        code = proc.wait()
        if code != 0:
            raise RunyardError(f"TensorBoard exited with code {code}.")
        return 0
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
