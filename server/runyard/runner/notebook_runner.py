"""The program a notebook run runs: the notebook, cell by cell, in a real Jupyter kernel.

`runyard submit analysis.ipynb -p lr=0.1` makes the run's command
`python -m runyard_notebook_runner analysis.ipynb -p lr=0.1` (`RunSpec.argv`): this
file, copied into every run's `lib/` beside the tracking client (`runs._write_tracking_shim`)
and started by every target type that runs Python (local, docker, ssh, ray) exactly where a
script would be, in the run's environment, with the run's variables; a spark target
submits it as the application's driver program (`targets/spark.py`), and the kernel,
which inherits spark-submit's Py4J gateway (`PYSPARK_GATEWAY_PORT`), gets that
application's SparkSession from `SparkSession.builder.getOrCreate()`. The environment
has nbclient, nbformat and ipykernel besides the project's own dependencies (the
submitter adds them: `runs.notebook_requirements`). So it runs where Runyard is not
installed: it imports the standard library, the shipped `runyard.tracking` and
nbclient/nbformat, and keeps to Python 3.8.

What it does:

- reads the notebook (`runyard.tracking.notebooks.read_notebook`: nbformat 4, at least
  one code cell), injects the `-p`/`-r` parameters papermill's way (`notebooks.inject`)
  and records them as the run's parameters;
- starts the `python3` kernel of the run's environment (ipykernel's, with this
  interpreter; whatever kernel the notebook names was the author's machine's) in the
  notebook's folder, with this process's environment, so `runyard.log_*` in a cell
  records into the run. A run whose records go out framed on stderr (a container)
  gets them relayed: the kernel's own stderr is the kernel's, not the run's, so the
  kernel writes its records to a file here and this program frames them onto the run's
  stderr as the tracking client would (`Relay`);
- says each code cell in the log as it starts (`[cell 3/12] first line of its source`,
  numbered as the notebook's author counts them; the injected cell is
  `[parameters] lr = 0.1 (injected)`),
  and copies the cell's stdout and stderr to the run's as they arrive, the value of the
  cell's last expression too (its text), and a note for rich output;
- keeps the executed notebook, rewritten after each cell (at most once a second, and at
  the end: a canceled or killed run keeps what ran), as `<outputs>/<notebook name>.ipynb`;
- on a Spark target, writes its pid where `RUNYARD_NOTEBOOK_PID_FILE` says (a cancel
  signals it alone, `targets/spark.py`) and, once the kernel is done, stops the
  application's SparkContext before its last words, so that the application's end is
  logged before them and they end the run's log (a failed run's reason);
- ends 0 when every cell ran; 1 when a cell raised (said with its number, its first
  line and its traceback, without colour codes); 1 when the kernel died, with its exit
  status where the kernel manager knows it; 2 when it could not start at all (a bad
  notebook, nbclient or ipykernel missing from the environment: what to install).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time

from runyard.tracking import notebooks

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

KERNEL = "python3"  # ipykernel's own kernel: this interpreter
STARTUP_TIMEOUT = 180  # seconds for the kernel to start on a loaded machine
MAX_RESULT_LINES = 40  # of a cell's last value shown in the log
SAVE_EVERY = 1.0  # seconds: the executed notebook is rewritten after a cell at most this often
PID_FILE_VAR = "RUNYARD_NOTEBOOK_PID_FILE"  # set by spark targets (see the module docstring)
NO_KERNEL_PACKAGES = (
    "runyard: this run's environment cannot run notebooks: {what}.\n"
    "  Runyard adds nbclient, nbformat and ipykernel to the environments it builds; an "
    "environment it does not build (a target's own `python:`, a docker target's "
    "`image:`) needs them installed: pip install nbclient nbformat ipykernel"
)


def say(text: str, stream: Any = None) -> None:
    out = stream or sys.stdout
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


class Relay:
    """The kernel's tracking records, framed onto this process's stderr (for runs whose
    records go out on stderr, `stream://stderr`): the kernel appends them to a file,
    whose whole lines are framed and written here every `interval` seconds."""

    def __init__(self, path: str, interval: float = 0.2) -> None:
        self.path = path
        self.offset = 0
        self.pending = b""
        self.interval = interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="runyard-relay", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            self.pump()

    def pump(self) -> None:
        from runyard.tracking.wire import frames

        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        data = self.pending + data
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        if cut:
            for frame in frames(data[:cut], os.getpid()):
                os.write(2, frame)

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        self.pump()


def kernel_env(tmpdir: str) -> tuple[dict[str, str], Relay | None]:
    """The kernel's environment: this process's, with the tracking records sent to a
    file relayed from here when the run's go out on stderr."""
    from runyard.tracking.client import ENV_TRACKING_URI, STREAM_URI

    env = dict(os.environ)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # a debugger notice per start
    env.pop(PID_FILE_VAR, None)  # this program's, not the kernel's
    relay = None
    if env.get(ENV_TRACKING_URI, "").strip() == STREAM_URI:
        path = os.path.join(tmpdir, "tracking.jsonl")
        env[ENV_TRACKING_URI] = "file://" + path
        relay = Relay(path)
    return env, relay


def outputs_path(notebook: str) -> str:
    outputs = os.environ.get("RUNYARD_OUTPUTS") or "outputs"
    return os.path.join(outputs, os.path.basename(notebook))


def shown_path(path: str) -> str:
    """`path` as the user knows it: relative to the working copy when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def write_notebook(nb: Any, path: str) -> None:
    """Write `nb` to `path` atomically (a reader never sees half a notebook)."""
    import nbformat  # type: ignore[import-not-found, unused-ignore]

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    os.replace(tmp, path)


def with_cell_ids(data: Any) -> Any:
    """`data` (a notebook's JSON) with an id on each cell that has none, where its format
    (4.5 and later) asks for one, as Jupyter adds them when it opens such a notebook:
    nbformat would warn about each in the run's log ("MissingIDFieldWarning")."""
    cells = data.get("cells") if isinstance(data, dict) else None
    if (
        data.get("nbformat") != 4
        or data.get("nbformat_minor", 0) < 5
        or not isinstance(cells, list)
    ):
        return data
    taken = {c.get("id") for c in cells if isinstance(c, dict)}
    n = 0
    for cell in cells:
        if isinstance(cell, dict) and not cell.get("id"):
            while f"cell-{n}" in taken:
                n += 1
            cell["id"] = f"cell-{n}"
            taken.add(cell["id"])
    return data


def numbered(nb: Any) -> list[int]:
    """The indexes of the notebook's own code cells, the cells the log numbers (as its
    author counts them: the injected parameters are not one of them)."""
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and notebooks.INJECTED_TAG not in (c.metadata.get("tags") or [])
    ]


def make_client(nb: Any, folder: str, save: Any) -> Any:
    """An nbclient NotebookClient that says each code cell in the log as it starts and
    copies what cells print as it comes; `save` is called after every cell."""
    from nbclient import NotebookClient  # type: ignore[import-not-found, unused-ignore]

    order = numbered(nb)
    total = len(order)

    class LoggingClient(NotebookClient):  # type: ignore[misc, unused-ignore]
        current: int | None = None  # the code cell running (its index), for errors
        stopped = False  # a SIGTERM or SIGINT (a cancel) shut the kernel down

        async def _async_cleanup_kernel(self) -> None:
            # nbclient shuts the kernel down from its SIGTERM/SIGINT handler, then again
            # as the execution unwinds, when there is no kernel left to clean up.
            if getattr(self, "_async_cleanup_kernel_future", None) is not None:
                self.stopped = True
            if getattr(self, "km", None) is not None:
                await super()._async_cleanup_kernel()

        def process_message(self, msg: Any, cell: Any, cell_index: int) -> Any:
            kind = msg.get("msg_type")
            content = msg.get("content") or {}
            if kind == "stream":
                stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
                stream.write(content.get("text", ""))
                stream.flush()
            elif kind == "execute_result":
                text = (content.get("data") or {}).get("text/plain")
                if text:
                    lines = text.splitlines()
                    shown = lines[:MAX_RESULT_LINES]
                    if len(lines) > len(shown):
                        shown.append(f"... ({len(lines) - len(shown)} more lines)")
                    say("\n".join(shown))
            elif kind == "display_data":
                kinds = sorted((content.get("data") or {}).keys())
                say(f"(display: {', '.join(kinds)})")
            return super().process_message(msg, cell, cell_index)

    def on_start(cell: Any, cell_index: int) -> None:
        if cell.cell_type != "code":
            return
        client.current = cell_index
        if cell_index not in order:
            say(f"[parameters] {', '.join(cell.source.splitlines()[1:])} (injected)")
            return
        number = order.index(cell_index) + 1
        say(f"[cell {number}/{total}] {notebooks.first_line(cell.source)}")

    def on_complete(cell: Any, cell_index: int) -> None:
        save(False)

    client = LoggingClient(
        nb,
        kernel_name=KERNEL,
        timeout=None,
        startup_timeout=STARTUP_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": folder}},
        on_cell_start=on_start,
        on_cell_complete=on_complete,
    )
    return client


def describe_cell(nb: Any, index: int | None) -> str:
    if index is None:
        return "before its first cell"
    order = numbered(nb)
    if index not in order:
        return "in the injected parameters"
    first = notebooks.first_line(nb.cells[index].source)
    return f"at cell {order.index(index) + 1} of {len(order)} ({first})"


def error_of(cell: Any) -> str:
    """The traceback a cell's error output holds, without colour codes."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            lines = output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]
            return notebooks.plain("\n".join(lines))
    return ""


def on_spark() -> bool:
    """Whether this program is a Spark application's driver (spark-submit started it, with
    its JVM's Py4J gateway in the environment, which the kernel inherits)."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def write_pid() -> None:
    path = os.environ.get(PID_FILE_VAR)
    if not path:
        return
    try:
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(path + ".tmp", path)
    except OSError as exc:  # a cancel then stops the whole application at once
        say(f"runyard: could not write {path}: {exc}", sys.stderr)


def stop_spark() -> None:
    """Stop the Spark application's SparkContext, which the kernel's SparkSession used, in
    spark-submit's JVM (nothing when there is none)."""
    if not on_spark():
        return
    try:
        from pyspark import SparkContext  # type: ignore[import-not-found, unused-ignore]

        SparkContext._ensure_initialized()  # connects to spark-submit's gateway
        # `getActive` is on SparkContext's Scala companion object, reached as `MODULE$`
        companion = getattr(getattr(SparkContext._jvm.org.apache.spark, "SparkContext$"), "MODULE$")
        active = companion.getActive()
        if active.isDefined():
            active.get().stop()
    except Exception as exc:  # (the JVM's shutdown hook stops it anyway)
        say(f"runyard: the Spark application was not stopped here: {exc}", sys.stderr)


def main(argv: list[str]) -> int:
    if not argv:
        say("usage: python -m runyard_notebook_runner NOTEBOOK [-p NAME=VALUE ...]", sys.stderr)
        return 2
    for stream in (sys.stdout, sys.stderr):  # what a cell prints reaches the log, whatever it is
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    notebook, args = argv[0], argv[1:]
    write_pid()
    try:
        params = notebooks.parse_parameters(args, notebook)
        data = notebooks.read_notebook(notebook)
    except notebooks.NotebookError as exc:
        say(f"runyard: {exc}", sys.stderr)
        return 2
    for warning in notebooks.injection_warnings(data, params, notebook):
        say(f"runyard: warning: {warning}", sys.stderr)
    data, _ = notebooks.inject(data, params)
    try:
        import nbclient  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
        import nbformat  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        say(NO_KERNEL_PACKAGES.format(what=f"{exc.name or exc} is not installed"), sys.stderr)
        return 2
    import json

    nb = nbformat.reads(json.dumps(with_cell_ids(data)), as_version=4)
    if params:
        import runyard

        runyard.log_params(dict(params))
        shown = ", ".join(f"{k}={notebooks.python_literal(v)}" for k, v in params)
        say(f"runyard: parameters {shown}")
    out = outputs_path(notebook)
    folder = os.path.dirname(os.path.abspath(notebook))
    code = len(numbered(nb))
    spark = ", the Spark application's driver" if on_spark() else ""
    say(f"runyard: running {notebook} ({code} code cells) in a {KERNEL} kernel{spark}")
    with tempfile.TemporaryDirectory(prefix="runyard-nb-") as tmpdir:
        # the kernel's connection file: here, not in a HOME that may not be writable
        os.environ.setdefault("JUPYTER_RUNTIME_DIR", tmpdir)
        env, relay = kernel_env(tmpdir)
        if relay is not None:
            relay.start()
        try:
            kernel_log = os.path.join(tmpdir, "kernel.log")
            return execute(nb, notebook, folder, out, env, kernel_log)
        finally:
            if relay is not None:
                relay.close()


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    noise = "Kernel is running over TCP without encryption"  # (ipykernel's, at every start)
    return "\n".join([line for line in text.splitlines() if noise not in line][-lines:])


def execute(
    nb: Any, notebook: str, folder: str, out: str, env: dict[str, str], kernel_log: str
) -> int:
    """Run `nb` to its end or its first error (see the module docstring). The kernel's
    own stdout and stderr go to `kernel_log`: ipykernel sends what is written to them
    (by a subprocess, by C code) to this program too, which copies it to the log once;
    they are shown only when the kernel dies, for why."""
    from jupyter_client.kernelspec import NoSuchKernel  # type: ignore[import-not-found, unused-ignore]
    from nbclient.exceptions import CellExecutionError, DeadKernelError  # type: ignore[import-not-found, unused-ignore]

    shown = shown_path(out)

    last_save = [0.0]

    def save(force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - last_save[0] < SAVE_EVERY:
            return  # (a long notebook of quick cells is not rewritten after each)
        last_save[0] = now
        try:
            write_notebook(nb, out)
        except OSError as exc:
            say(f"runyard: could not write {out}: {exc}", sys.stderr)

    client = make_client(nb, folder, save)
    started = time.monotonic()
    try:
        with open(kernel_log, "wb") as sink:
            client.execute(env=env, stdout=sink, stderr=sink)
    except CellExecutionError:
        save()
        stop_spark()
        index = client.current
        cell = nb.cells[index] if index is not None else {}
        say(error_of(cell), sys.stderr)
        say(
            f"runyard: the notebook failed {describe_cell(nb, index)}; the executed "
            f"notebook, with the error, is {shown}",
            sys.stderr,
        )
        return 1
    except DeadKernelError:
        save()
        stop_spark()
        if client.stopped:
            say(
                f"runyard: stopped {describe_cell(nb, client.current)} (the run was canceled); "
                f"what ran is in {shown}",
                sys.stderr,
            )
            return 1
        said = tail(kernel_log)
        if said:
            say(f"runyard: the kernel's last words:\n{said}", sys.stderr)
        say(
            f"runyard: the kernel died {describe_cell(nb, client.current)}: its "
            "process ended (a crash, out of memory, os._exit or a signal); what ran is in "
            f"{shown}",
            sys.stderr,
        )
        return 1
    except NoSuchKernel:
        say(NO_KERNEL_PACKAGES.format(what="ipykernel is not installed"), sys.stderr)
        return 2
    save()
    stop_spark()
    say(f"runyard: ran {notebook} in {time.monotonic() - started:.1f}s; executed notebook: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
