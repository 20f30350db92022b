"""The `spark` target: each run is a Spark application, submitted with `spark-submit`.

The driver runs on this machine (deploy mode `client`, the default), in the virtual
environment built from the job's requirements (as for `local` targets), so `import
runyard` in the driver logs metrics live, and `outputs/` is written here. Executors run
where the master puts them: in the driver's JVM (`local[N]`), on a standalone cluster
(`spark://host:port`), YARN or Kubernetes. The project's Python files travel to them as
a zip on `--py-files`.

A notebook (`runyard submit analysis.ipynb -p lr=0.1`) is a Spark application too: its
driver program is the notebook runner shipped into the run's `lib/`
(`runner/notebook_runner.py`), given the notebook and its parameters. spark-submit
starts the driver with its JVM's Py4J gateway in the environment
(`PYSPARK_GATEWAY_PORT`, `PYSPARK_GATEWAY_SECRET`), the Jupyter kernel the runner starts
inherits it, and so `SparkSession.builder.getOrCreate()` in a cell attaches to this
application's JVM, with the target's master and `conf`; the application's id, UI and
event log are found as for a script.

`spark-submit` is, by default, the one the `pyspark` package installs into the run's
environment; `spark_submit:` names another. The driver's log is read as it is written
for the application's id and UI address, recorded on the run as the tags
`spark.app_id` and `spark.ui_url`; the event log (for Spark's history server) is kept
in the run's folder, under `spark-events/`.

Lock: in client mode the driver runs here, so its interpreter lists what it holds as
it starts (`runyard.core.freeze`, as for a `local` run: the run's lock, with this
machine's host facts). Executors on this machine (``local[N]``, a master on loopback)
use that interpreter too, so the lock is theirs as well. Executors on other machines
use the workers' python3 (or `spark.pyspark.python`), which Runyard cannot reach: the
lock is then the driver's only, and the run's tag ``spark.lock`` says so. In cluster
deploy mode the driver runs in the cluster too: no lock is recorded, and ``spark.lock``
says why (``runyard runs show`` prints it on the lock's line).

Canceling stops spark-submit's process group (the driver JVM and its Python process),
which ends the application; a standalone master that still lists the application
afterwards is asked to kill it through its web UI. A notebook's runner is asked first,
alone (it writes its pid where `NOTEBOOK_PID_VAR` says): it shuts its kernel down, keeps
the executed notebook, stops the application and says at which cell it stopped, all
while the JVM that carries its output to the run's log still runs; the process group
gets SIGKILL if it does not end within the target's grace period.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard.core import envs
from runyard.core.errors import RunyardError, UsageError
from runyard.targets.base import Check, RunContext
from runyard.targets.common import process_env, signal_group
from runyard.targets.local import prepare_env, read_env_lock
from runyard.targets.spec import NOTEBOOK_RUNNER, SparkOptions

CONNECT_TIMEOUT = 5.0
STANDALONE_PORT = 7077
STANDALONE_UI_PORT = 8080
EVENTS_FOLDER = "spark-events"
_NOT_SHIPPED = frozenset({"__pycache__", "node_modules", "site-packages"})
_ENV_MARKERS = ("pyvenv.cfg", "conda-meta")
JAVA_FIX = (
    "install a Java 17 runtime (Debian: apt-get install openjdk-17-jre-headless), or set "
    "JAVA_HOME in the target's `env`"
)
PYSPARK_FIX = (
    "add pyspark to the job's requirements.txt (Runyard then builds an environment with "
    "it), or set `spark_submit:` in the target file to a spark-submit you manage"
)

# What the driver's log says, in Spark 3.x and 4.x.
_APP_ID_PATTERNS = (
    re.compile(rb"with app ID (\S+)"),  # standalone: Connected to Spark cluster with app ID
    re.compile(rb"Submitted application (application_\d+_\d+)"),  # YARN
)
_UI_URL_PATTERN = re.compile(rb"(?:started at|Spark web UI available at) (https?://\S+)")
_UI_PORT_PATTERN = re.compile(rb"Successfully started service 'SparkUI' on port (\d+)")
_DRIVER_HOST_PATTERN = re.compile(rb"TransferService: Server created on (\S+):\d+")
# Application ids in event log names (`<id>`, `<id>.inprogress`, `eventlog_v2_<id>`).
_EVENT_LOG_ID = re.compile(
    r"(app-\d{14}-\d{4,}|local-\d{10,}|application_\d+_\d+|spark-[0-9a-f]{16,})"
)
# Where a notebook's runner writes its pid (its file in the run's `spark/` folder).
NOTEBOOK_PID_VAR = "RUNYARD_NOTEBOOK_PID_FILE"
NOTEBOOK_PID_FILE = "notebook-runner.pid"
LOCK_TAG = "spark.lock"  # why a Spark run's lock is partial, or missing
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?[^"]*"')
_SPARK_VERSION = re.compile(r"version (\d+\.\d+\.\d+\S*)")


# --------------------------------------------------------------------------- the master


@dataclass(frozen=True)
class Master:
    """A target's `master`, understood: its kind and the addresses to check."""

    url: str
    kind: str  # local | standalone | yarn | k8s | other
    addresses: tuple[tuple[str, int], ...] = ()

    @property
    def on_this_machine(self) -> bool:
        return self.kind == "local" or (
            bool(self.addresses) and all(_is_loopback(h) for h, _ in self.addresses)
        )


def parse_master(url: str) -> Master:
    if url == "local" or url.startswith("local["):
        return Master(url, "local")
    if url.startswith("spark://"):
        addresses = []
        for part in url[len("spark://") :].split(","):
            host, _, port = part.strip().rpartition(":")
            if not host:
                host, port = port, ""
            addresses.append((host.strip("[]"), int(port) if port.isdigit() else STANDALONE_PORT))
        return Master(url, "standalone", tuple(addresses))
    if url == "yarn":
        return Master(url, "yarn")
    if url.startswith("k8s://"):
        rest = url[len("k8s://") :]
        if "://" not in rest:
            rest = "https://" + rest
        parsed = urllib.parse.urlsplit(rest)
        api_port = parsed.port or (80 if parsed.scheme == "http" else 443)
        return Master(url, "k8s", ((parsed.hostname or "", api_port),))
    return Master(url, "other")


def _is_loopback(host: str) -> bool:
    """Written as a loopback address (no name lookups: they may hang offline)."""
    return host in ("localhost", "::1") or host.startswith("127.")


def master_ui(options: dict[str, Any], master: Master) -> str | None:
    """The web UI of a standalone master: `master_ui`, else port 8080 on its host."""
    if options.get("master_ui"):
        return str(options["master_ui"]).rstrip("/")
    if master.kind != "standalone" or not master.addresses:
        return None
    host = master.addresses[0][0]
    return f"http://{f'[{host}]' if ':' in host else host}:{STANDALONE_UI_PORT}"


def master_state(ui: str, timeout: float = CONNECT_TIMEOUT) -> dict[str, Any]:
    """The standalone master's state (its web UI's /json/): workers, active and
    completed applications."""
    import json

    with urllib.request.urlopen(f"{ui}/json/", timeout=timeout) as response:
        data = json.load(response)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def kill_application(ui: str, app_id: str) -> bool:
    """Ask a standalone master to kill an application (its UI's kill action). True when
    the master answered."""
    body = urllib.parse.urlencode({"id": app_id, "terminate": "true"}).encode()
    request = urllib.request.Request(f"{ui}/app/kill/", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT):
            return True
    except (OSError, urllib.error.URLError):
        return False


def _active_app_ids(ui: str) -> set[str] | None:
    try:
        state = master_state(ui)
    except (OSError, ValueError):
        return None
    return {str(a.get("id")) for a in state.get("activeapps", []) if isinstance(a, dict)}


# --------------------------------------------------------------------------- the driver's log


class DriverLog:
    """Copies spark-submit's output into the run's log, as it comes, and notes the
    application's id and UI address on the way. The reading thread only notes what it
    finds; `new_tags` hands it over in the supervisor's thread."""

    def __init__(self, source: int, log_fd: int, events_dir: Path | None) -> None:
        self.source = source
        self.log_fd = log_fd
        self.events_dir = events_dir
        self.found: dict[str, str] = {}
        self.published: dict[str, str] = {}
        self.ui_port: str | None = None
        self.driver_host: str | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, name="spark-driver-log", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        rest = b""
        while True:
            try:
                chunk = os.read(self.source, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            self._write(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()[-8192:]
            for line in lines:
                self._scan(line)
        if rest:
            self._scan(rest)
        os.close(self.source)

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a full disk must not stop the run
            view = memoryview(data)
            while view:
                view = view[os.write(self.log_fd, view) :]

    def _note(self, key: str, value: str) -> None:
        with self._lock:
            self.found.setdefault(key, value)

    def _scan(self, line: bytes) -> None:
        if b"Spark" not in line and b"app" not in line and b"Server created" not in line:
            return
        for pattern in _APP_ID_PATTERNS:
            m = pattern.search(line)
            if m:
                self._note("spark.app_id", m.group(1).decode("utf-8", "replace"))
        m = _UI_URL_PATTERN.search(line)
        if m:
            self._note("spark.ui_url", m.group(1).decode("utf-8", "replace").rstrip(".,"))
        m = _UI_PORT_PATTERN.search(line)
        if m:
            self.ui_port = m.group(1).decode()
        m = _DRIVER_HOST_PATTERN.search(line)
        if m:
            self.driver_host = m.group(1).decode("utf-8", "replace")
        if self.ui_port and self.driver_host:
            self._note("spark.ui_url", f"http://{self.driver_host}:{self.ui_port}")

    def _event_log_id(self) -> str | None:
        if self.events_dir is None:
            return None
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.events_dir):
                m = _EVENT_LOG_ID.search(entry.name)
                if m:
                    return m.group(1)
        return None

    def new_tags(self) -> dict[str, str]:
        """What was found since the last call."""
        if "spark.app_id" not in self.published:
            app_id = self._event_log_id()
            if app_id:
                self._note("spark.app_id", app_id)
        with self._lock:
            new = {k: v for k, v in self.found.items() if k not in self.published}
        self.published.update(new)
        return new

    def close(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


# --------------------------------------------------------------------------- execution


class SparkExecution:
    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        driver_log: DriverLog,
        ctx: RunContext,
        ui: str | None,
        runner_pid_file: Path | None = None,
    ) -> None:
        self.proc = proc
        self.runner_pid_file = runner_pid_file
        self.pid: int | None = proc.pid
        self.driver_log = driver_log
        self.ctx = ctx
        self.master_ui = ui
        self.app_id: str | None = None
        self.canceling = False
        self._ended = False

    def _publish(self) -> None:
        new = self.driver_log.new_tags()
        if not new:
            return
        self.ctx.set_tags(new)
        if "spark.app_id" in new:
            self.app_id = new["spark.app_id"]
            self.ctx.log(f"Spark application {self.app_id}")
        if "spark.ui_url" in new:
            self.ctx.log(f"Spark UI at {new['spark.ui_url']} while the application runs")

    def _ended_with(self, code: int | None) -> int | None:
        if code is None:
            self._publish()
            return None
        if not self._ended:
            self._ended = True
            self.driver_log.close()
            self._publish()
            if self.canceling:
                self._kill_application()
        return code

    def poll(self) -> int | None:
        return self._ended_with(self.proc.poll())

    def wait(self, timeout: float) -> int | None:
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return self._ended_with(code)

    def terminate(self) -> None:
        """Stop spark-submit and the driver: the JVM's shutdown hook stops the
        SparkContext, which ends the application and its executors. A notebook's runner
        is asked alone (module docstring), once it runs."""
        self.canceling = True
        runner = self._notebook_runner()
        if runner is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(runner, signal.SIGTERM)
                return
        signal_group(self.proc, signal.SIGTERM)

    def _notebook_runner(self) -> int | None:
        """The pid of the notebook runner this spark-submit started, while both run."""
        if self.runner_pid_file is None or self.proc.poll() is not None:
            return None
        try:
            pid = int(self.runner_pid_file.read_text().strip())
        except (OSError, ValueError):
            return None  # not started yet
        try:  # (where /proc tells) a child of this spark-submit, not a reused pid
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != self.proc.pid:
                return None
        except FileNotFoundError:
            if Path("/proc/self").exists():
                return None  # gone
        except (OSError, ValueError, IndexError):
            pass
        return pid

    def kill(self) -> None:
        self.canceling = True
        signal_group(self.proc, signal.SIGKILL)
        self._kill_application()

    def _kill_application(self) -> None:
        """A standalone master that still lists the application is asked to kill it."""
        self._publish()
        if not self.master_ui or not self.app_id:
            return
        active = _active_app_ids(self.master_ui)
        if active is not None and self.app_id in active:
            if kill_application(self.master_ui, self.app_id):
                self.ctx.log(f"asked the master to kill the application {self.app_id}")
            else:
                self.ctx.log(f"the master at {self.master_ui} did not answer the kill request")


# --------------------------------------------------------------------------- backend


def _conf(options: SparkOptions) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in options.conf.items():
        out[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _java_home(env: dict[str, str]) -> str | None:
    return env.get("JAVA_HOME") or None


def find_java(env: dict[str, str]) -> str | None:
    """The java spark-submit will use: $JAVA_HOME/bin/java, else java on PATH."""
    home = _java_home(env)
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if os.access(candidate, os.X_OK) else None
    return shutil.which("java", path=env.get("PATH"))


def _resolve_executable(value: str, what: str) -> Path:
    path = Path(value).expanduser()
    if os.sep not in value:
        found = shutil.which(value)
        if found:
            return Path(found)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise UsageError(
            f"The target's spark-submit {value!r} was not found.",
            hint=f"fix `{what}:` in the target file, or remove it to use the pyspark "
            "package's spark-submit in the run's environment",
        )
    return path


def spark_home_for(spark_submit: Path) -> Path | None:
    """The SPARK_HOME of a spark-submit that pip installed with pyspark into an
    environment's bin/ (the pyspark package folder); None for one in a Spark
    distribution, which finds its home itself. Set explicitly, so that the pyspark
    package's own Spark is used whatever SPARK_HOME or python3 the caller has."""
    if not (spark_submit.parent / "find_spark_home.py").is_file():
        return None
    for candidate in sorted(spark_submit.parent.parent.glob("lib/python*/site-packages/pyspark")):
        if (candidate / "bin" / "spark-submit").is_file():
            return candidate
    return None


class SparkBackend:
    def __init__(self) -> None:
        self.python: Path | None = None
        self.prefix: Path | None = None
        self.spark_submit: Path | None = None
        self.spark_home: Path | None = None
        self.installer: str | None = None
        self.lock_reader: envs.LockReader | None = None

    def prepare(self, ctx: RunContext) -> None:
        options = SparkOptions.of(ctx.spec)
        master = parse_master(options.master)
        if options.deploy_mode == "cluster" and master.kind in ("local", "standalone"):
            raise UsageError(
                f"Spark does not run Python applications in cluster deploy mode on "
                f"{'a local master' if master.kind == 'local' else 'a standalone cluster'}.",
                hint="remove `deploy_mode: cluster` from the target file (client mode runs "
                "the driver here, with live metrics)",
            )
        if options.deploy_mode == "cluster" and self._is_notebook(ctx):
            raise UsageError(
                f"{ctx.spec.script} is a notebook: its kernel runs beside the driver, which "
                "cluster deploy mode would put in the cluster.",
                hint="remove `deploy_mode: cluster` from the target file (client mode runs "
                "the driver and the kernel here)",
            )
        env = prepare_env(ctx)
        self.python, self.prefix, self.installer = env.python, env.prefix, env.installer
        if options.spark_submit:
            self.spark_submit = _resolve_executable(options.spark_submit, "spark_submit")
        else:
            beside = env.python.parent / "spark-submit"
            if not beside.is_file():
                raise UsageError(
                    f"pyspark is not installed in the run's environment (no spark-submit "
                    f"beside {env.python}).",
                    hint=PYSPARK_FIX,
                )
            self.spark_submit = beside
        self.spark_home = spark_home_for(self.spark_submit)
        java_env = {**os.environ, **ctx.spec.user_env()}
        if find_java(java_env) is None:
            where = f"JAVA_HOME={java_env['JAVA_HOME']}" if java_env.get("JAVA_HOME") else "PATH"
            raise RunyardError(f"Spark needs Java, and none was found ({where}).", hint=JAVA_FIX)
        ctx.log(f"spark-submit: {self.spark_submit}")

    def _ship(self, ctx: RunContext) -> Path:
        """The project's Python files, zipped for --py-files (executors import from it).
        Hidden folders, caches and virtual environments stay behind."""
        folder = ctx.run_dir / "spark"
        folder.mkdir(parents=True, exist_ok=True)
        archive = folder / "snapshot.zip"
        count = 0
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for root, dirs, files in os.walk(ctx.workdir):
                here = Path(root)
                dirs[:] = sorted(
                    d
                    for d in dirs
                    if not d.startswith(".")
                    and d not in _NOT_SHIPPED
                    and not any((here / d / marker).exists() for marker in _ENV_MARKERS)
                )
                rel_root = here.relative_to(ctx.workdir)
                for name in sorted(files):
                    path = here / name
                    if name.endswith(".py") and not path.is_symlink():
                        zf.write(path, (rel_root / name).as_posix())
                        count += 1
        ctx.log(f"{count} Python file{'s' if count != 1 else ''} of the snapshot go to the "
                "executors with --py-files")  # fmt: skip
        return archive

    def _module_launcher(self, ctx: RunContext, module: str) -> Path:
        path = ctx.run_dir / "spark" / "run_module.py"
        path.write_text(
            "import os, runpy, sys\n"
            "sys.path.insert(0, os.getcwd())\n"
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
        )
        return path

    def command(self, ctx: RunContext, master: Master) -> list[str]:
        assert self.spark_submit is not None
        options = SparkOptions.of(ctx.spec)
        conf = _conf(options)
        cmd = [str(self.spark_submit), "--master", master.url]
        if options.deploy_mode_given:
            cmd += ["--deploy-mode", options.deploy_mode]
        if options.deploy_mode == "client" and "spark.eventLog.enabled" not in conf:
            events = ctx.run_dir / EVENTS_FOLDER
            events.mkdir(parents=True, exist_ok=True)
            conf.setdefault("spark.eventLog.enabled", "true")
            conf.setdefault("spark.eventLog.dir", events.resolve().as_uri())
        for key, value in conf.items():
            cmd += ["--conf", f"{key}={value}"]
        if options.packages:
            cmd += ["--packages", ",".join(options.packages)]
        py_files = [str(self._ship(ctx))]
        for extra in options.py_files:
            path = ctx.workdir / extra
            if not path.exists():
                raise UsageError(
                    f"The target's py_files entry {extra!r} is not in the run's snapshot.",
                    hint="commit or create the file, or fix `py_files:` in the target file",
                )
            py_files.append(str(path))
        cmd += ["--py-files", ",".join(py_files)]
        return [*cmd, *self._program(ctx)]

    def _program(self, ctx: RunContext) -> list[str]:
        """The driver program and its arguments: the script, a launcher for a module, or
        for a notebook the notebook runner shipped into the run's `lib/` (module
        docstring), given the notebook and its parameters."""
        spec = ctx.spec
        if spec.module:
            return [str(self._module_launcher(ctx, spec.module)), *spec.args]
        if not self._is_notebook(ctx):
            return [str(spec.script), *spec.args]
        argv = spec.argv("python")
        runner = ctx.run_dir / "lib" / f"{NOTEBOOK_RUNNER}.py"
        if not runner.is_file():
            raise RunyardError(
                f"The notebook runner is missing from the run's folder ({runner.name}).",
                hint="submit the notebook again: the submission puts it there",
            )
        return [str(runner), *argv[3:]]

    def environment(self, ctx: RunContext, master: Master) -> dict[str, str]:
        conf = _conf(SparkOptions.of(ctx.spec))
        env = process_env(ctx, self.prefix)
        extra = ctx.spec.user_env()
        if self.spark_home is not None and "SPARK_HOME" not in extra:
            env["SPARK_HOME"] = str(self.spark_home)  # this pyspark's Spark, not another one
        assert self.python is not None
        if "spark.pyspark.driver.python" not in conf and "PYSPARK_DRIVER_PYTHON" not in extra:
            env["PYSPARK_DRIVER_PYTHON"] = str(self.python)
        if "spark.pyspark.python" not in conf and "PYSPARK_PYTHON" not in extra:
            if master.on_this_machine:
                env["PYSPARK_PYTHON"] = str(self.python)
            else:
                env.pop("PYSPARK_PYTHON", None)  # the workers' own python3
        # The master the script's own SparkSession.builder.master(...) may read.
        env["SPARK_MASTER"] = master.url
        if self._is_notebook(ctx):
            env[NOTEBOOK_PID_VAR] = str(self._runner_pid_file(ctx))
        return env

    @staticmethod
    def _is_notebook(ctx: RunContext) -> bool:
        return ctx.spec.argv("python")[1:3] == ["-m", NOTEBOOK_RUNNER]

    @staticmethod
    def _runner_pid_file(ctx: RunContext) -> Path:
        return ctx.run_dir / "spark" / NOTEBOOK_PID_FILE

    def start(self, ctx: RunContext) -> SparkExecution:
        options = SparkOptions.of(ctx.spec)
        master = parse_master(options.master)
        cmd = self.command(ctx, master)
        env = self.environment(ctx, master)
        if options.deploy_mode == "cluster":
            ctx.log(
                "cluster deploy mode: the driver runs in the cluster, so metrics logged with "
                "runyard and its outputs/ do not come back to this machine"
            )
        elif not master.on_this_machine and "PYSPARK_PYTHON" not in env:
            ctx.log(
                "executors use the workers' python3; set spark.pyspark.python in the "
                "target's `conf` to choose another"
            )
        ctx.log("spark-submit --master " + master.url)
        with contextlib.suppress(OSError):
            self._runner_pid_file(ctx).unlink()  # (only the runner this start starts)
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=ctx.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                start_new_session=True,  # its own process group: cancel reaches the driver
            )
        except OSError as exc:
            os.close(read_fd)
            raise RunyardError(
                f"spark-submit could not be started: {exc}.",
                hint="check `spark_submit:` in the target file",
            ) from exc
        finally:
            os.close(write_fd)
        ctx.set_tags({"spark.master": master.url})
        self._read_lock(ctx, options, env)
        events = ctx.run_dir / EVENTS_FOLDER
        driver_log = DriverLog(read_fd, ctx.log_fd, events if events.is_dir() else None)
        runner_pid = self._runner_pid_file(ctx) if self._is_notebook(ctx) else None
        ui = master_ui(options.raw, master)
        return SparkExecution(proc, driver_log, ctx, ui, runner_pid)

    def _read_lock(self, ctx: RunContext, options: SparkOptions, env: dict[str, str]) -> None:
        """Start reading the driver's lock, and tag the run with what it does not cover
        (module docstring), once spark-submit is on its way."""
        if options.deploy_mode == "cluster":
            note = (
                "not recorded: in cluster deploy mode the driver runs in the cluster, "
                "where Runyard cannot list its packages"
            )
            ctx.set_tags({LOCK_TAG: note})
            ctx.log(f"the run's lock is {note}")
            return
        assert self.python is not None
        conf = _conf(options)  # Spark's own order: its conf, then the variable

        def interpreter(value: str) -> Path:
            found = shutil.which(value, path=env.get("PATH"))
            return Path(found) if found else Path(value)

        driver = interpreter(
            conf.get("spark.pyspark.driver.python")
            or env.get("PYSPARK_DRIVER_PYTHON")
            or str(self.python)
        )
        ours = driver == self.python
        executors = conf.get("spark.pyspark.python") or env.get("PYSPARK_PYTHON")
        if executors is None:
            partial: str | None = (
                "the driver's environment only: executors run the workers' python3, "
                "whose packages Runyard cannot list"
            )
        elif interpreter(executors) != driver:
            partial = (
                f"the driver's environment only: executors run {executors}, whose "
                "packages are not recorded"
            )
        else:
            partial = None
        if partial:
            ctx.set_tags({LOCK_TAG: partial})
            ctx.log(f"the run's lock is {partial}")
        try:
            self.lock_reader = envs.LockReader(driver, self.installer if ours else None)
        except OSError as exc:  # the run has started: a line in its log, not its outcome
            ctx.log(f"the driver's packages could not be listed for the run's lock: {exc}")

    def env_lock(self, ctx: RunContext) -> envs.EnvLock | None:
        return read_env_lock(ctx, self.lock_reader)

    def finish(self, ctx: RunContext) -> Path | None:
        out = ctx.workdir / ctx.outputs
        return out if out.is_dir() else None

    def check(self, options: dict[str, Any]) -> list[Check]:
        return check_spark(options)


# --------------------------------------------------------------------------- target test


def _java_check(env: dict[str, str]) -> Check:
    java = find_java(env)
    if java is None:
        where = f"JAVA_HOME={env['JAVA_HOME']} has no bin/java" if env.get("JAVA_HOME") else (
            "no java on PATH and JAVA_HOME is not set"
        )  # fmt: skip
        return Check("java", False, where, JAVA_FIX)
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, check=False, timeout=60, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("java", False, f"{java} does not start ({exc})", JAVA_FIX)
    text = proc.stderr + proc.stdout
    m = _JAVA_VERSION.search(text)
    if proc.returncode != 0 or not m:
        return Check("java", False, f"{java} does not start", JAVA_FIX)
    major = int(m.group(1)) if m.group(1) != "1" else int(m.group(2) or 0)
    version = m.group(0).split('"')[1]
    if major < 17:
        return Check(
            "java", False, f"{java} (Java {version}); Spark 4 needs Java 17 or later", JAVA_FIX
        )
    return Check("java", True, f"{java} (Java {version})")


def _spark_submit_check(options: dict[str, Any], env: dict[str, str]) -> list[Check]:
    configured = options.get("spark_submit")
    if configured:
        try:
            path = str(_resolve_executable(str(configured), "spark_submit"))
        except UsageError as exc:
            return [Check("spark-submit", False, exc.message, exc.hint)]
    elif options.get("python"):
        path = str(Path(str(options["python"])).expanduser().parent / "spark-submit")
        if not os.access(path, os.X_OK):
            return [
                Check(
                    "spark-submit",
                    False,
                    f"no spark-submit beside {options['python']} (pyspark is not installed there)",
                    "pip install pyspark with that interpreter, or set `spark_submit:` "
                    "in the target file",
                )
            ]
    else:
        return [
            Check(
                "spark-submit",
                True,
                "the pyspark package's, in each run's environment (the job's requirements.txt "
                "must name pyspark; not checked here)",
            )
        ]
    home = spark_home_for(Path(path))
    if home is not None and "SPARK_HOME" not in (options.get("env") or {}):
        env = {**env, "SPARK_HOME": str(home)}
    try:
        proc = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=False, timeout=120, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Check("spark-submit", False, f"{path} does not start ({exc})", PYSPARK_FIX)]
    m = _SPARK_VERSION.search(proc.stderr + proc.stdout)
    if proc.returncode != 0 or not m:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return [
            Check(
                "spark-submit",
                False,
                f"{path} --version failed: {last[0]}",
                "check that Java works (see above) and that the Spark installation is complete",
            )
        ]
    return [Check("spark-submit", True, f"{path} (Spark {m.group(1)})")]


def _reachable(host: str, port: int) -> str | None:
    """None when a TCP connection opens, else why not."""
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def _master_checks(options: dict[str, Any], env: dict[str, str]) -> list[Check]:
    url = str(options.get("master", ""))
    master = parse_master(url)
    if master.kind == "local":
        return [Check("master", True, f"{url}: Spark runs in the driver's JVM on this machine")]
    if master.kind == "yarn":
        conf_dir = env.get("HADOOP_CONF_DIR") or env.get("YARN_CONF_DIR")
        if not conf_dir:
            return [
                Check(
                    "master",
                    False,
                    "yarn: HADOOP_CONF_DIR and YARN_CONF_DIR are not set",
                    "set HADOOP_CONF_DIR in the target's `env` to the folder holding the "
                    "cluster's yarn-site.xml",
                )
            ]
        return [Check("master", True, f"yarn, configured by {conf_dir}")]
    if not master.addresses:
        return [Check("master", True, f"{url}: not checked (an address Runyard does not know)")]
    checks: list[Check] = []
    for host, port in master.addresses:
        why = _reachable(host, port)
        if why is None:
            checks.append(Check("master", True, f"{host}:{port} reachable ({url})"))
        else:
            fix = (
                "start the master (spark-class org.apache.spark.deploy.master.Master), or fix "
                "`master:` in the target file"
                if master.kind == "standalone"
                else "check the address in `master:` and the network"
            )
            checks.append(
                Check("master", False, f"{host}:{port} not reachable ({url}): {why}", fix)
            )
    if master.kind == "standalone" and all(c.ok for c in checks):
        checks.append(_workers_check(options, master))
    return checks


def _workers_check(options: dict[str, Any], master: Master) -> Check:
    ui = master_ui(options, master)
    assert ui is not None
    try:
        state = master_state(ui)
    except (OSError, ValueError) as exc:
        return Check(
            "workers",
            True,
            f"not checked: the master's web UI {ui} did not answer ({exc}); set `master_ui` "
            "if it listens elsewhere",
        )
    workers = [w for w in state.get("workers", []) if isinstance(w, dict)]
    alive = [w for w in workers if w.get("state") == "ALIVE"]
    if not alive:
        return Check(
            "workers",
            False,
            f"the master has no live worker ({len(workers)} known)",
            f"start one: spark-class org.apache.spark.deploy.worker.Worker {master.url}",
        )
    cores = sum(int(w.get("cores", 0)) for w in alive)
    free = sum(int(w.get("coresfree", 0)) for w in alive)
    memory = sum(int(w.get("memory", 0)) for w in alive)
    return Check(
        "workers",
        True,
        f"{len(alive)} alive, {cores} cores ({free} free), {memory} MiB memory",
    )


def check_spark(options: dict[str, Any]) -> list[Check]:
    """`runyard target test` for a spark target: Java, spark-submit and Spark's version,
    the master (and a standalone master's workers)."""
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in (options.get("env") or {}).items()})
    java = _java_check(env)
    checks = [java]
    if java.ok:
        checks += _spark_submit_check(options, env)
    else:
        checks.append(Check("spark-submit", False, "not checked: it needs Java", JAVA_FIX))
    checks += _master_checks(options, env)
    return checks
