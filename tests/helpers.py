"""Helpers for tests: real git and the real `runyard` command in subprocesses.

`runyard(...)` runs the CLI; the CLI driver beside it (`submit_run`, `show_run`,
`wait_run`, `run_logs`) is the one way tests submit a run and look at it. The real
parts (the Docker engine, the loopback sshd) are found here too, and `missing()` says
what to do when one is not there (a failure under CI). The in-process makers at the end
(`make_run`; `write_target_file`, `target_error` and their job twins) are the tests' one
way to put a run in the store and a target or job file in a project."""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import ipaddress
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from runyard.core.config import ConfigError
    from runyard.core.project import Project
    from runyard.core.store import Run

# Under CI a missing real part (engine, sshd, Spark, VS Code) fails the tests.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The loopback sshd of scripts/sshd-setup.sh, in front of this machine's Docker engine;
# its port is the one the script recorded (it moves off a port held by something else).
SSHD_DIR = Path(os.environ.get("RUNYARD_SSHD_DIR", "/var/tmp/runyard-sshd"))
_SSHD_PORT_FILE = SSHD_DIR / "port"
SSHD_PORT = int(
    os.environ.get("RUNYARD_SSHD_PORT")
    or (_SSHD_PORT_FILE.read_text().strip() if _SSHD_PORT_FILE.is_file() else "2222")
)

# Who commits in the tests' repositories.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Runyard Tests",
    "GIT_AUTHOR_EMAIL": "tests@localhost",
    "GIT_COMMITTER_NAME": "Runyard Tests",
    "GIT_COMMITTER_EMAIL": "tests@localhost",
}

# A scoring script for a dependency-free linear model: model.json holds
# {"weights": [...], "bias": b}; the answer is w·x + b for each row of "inputs".
LINEAR_SCORE_PY = """\
import json

MODEL = {}


def init(model_path):
    with open(model_path) as f:
        MODEL.update(json.load(f))


def run(payload):
    w, b = MODEL["weights"], MODEL["bias"]
    return {"predictions": [sum(wi * v for wi, v in zip(w, x)) + b for x in payload["inputs"]]}
"""

# The offline base image scripts/docker-setup.sh builds, and the CA bundle docker targets
# take into their images when this machine has one.
BASE_IMAGE = os.environ.get("RUNYARD_BASE_IMAGE", "runyard/python-base:bookworm")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def docker_engine(timeout: int = 30) -> Any:
    """A client of this machine's Docker engine with the base image there, else
    `missing()`."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:
        missing(f"a Docker engine ({type(exc).__name__})", "run scripts/docker-setup.sh")
    try:
        client.images.get(BASE_IMAGE)
    except Exception:
        missing(f"the base image {BASE_IMAGE}", "run scripts/docker-setup.sh")
    return client


def docker_target_options() -> list[str]:
    """`runyard target add NAME --type docker` options for the base image (and the CA
    bundle, when there is one)."""
    options = ["--base-image", BASE_IMAGE]
    if Path(CA_BUNDLE).is_file():
        options += ["--ca-bundle", CA_BUNDLE]
    return options


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def commit_all(repo: Path, message: str) -> None:
    """Stage everything in `repo` (`git add -A`) and commit it with `message`."""
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def runyard(
    cwd: Path, *args: str, check: bool = False, timeout: float = 180, **kw: object
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "runyard.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        errors="replace",
        **kw,  # type: ignore[arg-type]
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"runyard {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


# ---- the CLI driver: submit a run, look at it, wait for it, read its log ----


def submit_run(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    detach: bool = True,
    timeout: float = 300,
) -> str:
    """`runyard submit ARGS` (with `-d` unless `detach` is false: then the run is followed
    to its end); it must succeed. Returns the run id, the first line `submit` prints."""
    options = ["-d"] if detach else []
    proc = runyard(cwd, "submit", *options, *args, check=True, env=env, timeout=timeout)
    return proc.stdout.strip().split()[0]


def show_run(cwd: Path, run_id: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`runyard runs show RUN --json`, which must succeed."""
    proc = runyard(cwd, "runs", "show", run_id, "--json", check=True, env=env)
    data = json.loads(proc.stdout)
    assert isinstance(data, dict), data
    return data


def wait_run(
    cwd: Path, run_id: str, env: dict[str, str] | None = None, timeout: float = 300
) -> dict[str, Any]:
    """`runyard runs wait RUN` (its exit status is the run's), then `show_run`."""
    runyard(cwd, "runs", "wait", run_id, timeout=timeout, env=env)
    return show_run(cwd, run_id, env)


def run_logs(cwd: Path, run_id: str, env: dict[str, str] | None = None) -> str:
    """`runyard runs logs RUN` (what the run has written so far), which must succeed."""
    return runyard(cwd, "runs", "logs", run_id, check=True, env=env).stdout


def until(check: Callable[[], Any], timeout: float = 120, what: str = "condition") -> Any:
    """Poll `check` until it returns something true (and return that), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout}s")


def missing(what: str, fix: str) -> NoReturn:
    """A real part a test needs is not there: a failure under CI (no integration tier
    may skip itself there), a skip that says how to get it elsewhere."""
    import pytest  # here: the benchmarks use these helpers without pytest installed

    message = f"{what} is not available ({fix})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def sshd_key() -> Path:
    """The key scripts/sshd-setup.sh authorized for root at 127.0.0.1:SSHD_PORT, once
    that sshd answers; `missing()` when the sshd or its key is not there."""
    key = SSHD_DIR / "user_key"
    try:
        socket.create_connection(("127.0.0.1", SSHD_PORT), timeout=5).close()
    except OSError:
        missing(f"an sshd on 127.0.0.1:{SSHD_PORT}", "run scripts/sshd-setup.sh")
    if not key.is_file():
        missing(f"the key {key}", "run scripts/sshd-setup.sh")
    return key


def ssh_home(home: Path) -> dict[str, str]:
    """The environment of a user whose HOME is `home` (created), with a ~/.ssh/config that
    names the key sshd-setup.sh authorized, and no known_hosts yet: the user's machine
    before they trust the remote host. `missing()` when the sshd or its key is not there."""
    key = sshd_key()
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/config").write_text(f"Host 127.0.0.1\n  IdentityFile {key}\n")
    return {**os.environ, "HOME": str(home)}


def add_remote_target(
    proj: Path, env: dict[str, str], options: list[str], trust: bool, name: str = "remote"
) -> None:
    """Add docker target `name` on the engine at ssh://root@127.0.0.1:SSHD_PORT (with
    `options`, e.g. --base-image), and trust its host key when `trust`."""
    address = ["--address", f"ssh://root@127.0.0.1:{SSHD_PORT}"]
    runyard(proj, "target", "add", name, "--type", "docker", *options, *address, check=True)
    if trust:
        trust_target(proj, env, name)


def trust_target(proj: Path, env: dict[str, str], name: str) -> None:
    """`runyard target trust NAME` as a careful user does it: read the fingerprint it
    shows (refusing without a terminal), then accept exactly that one."""
    asked = runyard(proj, "target", "trust", name, env=env, stdin=subprocess.DEVNULL)
    fingerprint = asked.stdout.split("host key ")[1].split()[0]
    runyard(proj, "target", "trust", name, "--fingerprint", fingerprint, env=env, check=True)


def ssh_user(home: Path) -> dict[str, str]:
    """The environment of a user whose HOME is `home` (made, with an empty ~/.ssh) and
    who has no ssh-agent: each target names its key."""
    (home / ".ssh").mkdir(parents=True)
    return {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home)}


def add_ssh_target(
    proj: Path, env: dict[str, str], workdir: Path, *extra: str, name: str = "vm"
) -> None:
    """Add `ssh` target `name`: root on the loopback sshd with the key sshd-setup.sh
    authorized, Runyard's folder there `workdir` (and `extra` options); then trust it."""
    runyard(
        proj, "target", "add", name, "--type", "ssh", "--host", "127.0.0.1",
        "--port", str(SSHD_PORT), "--user", "root", "--identity-file", str(sshd_key()),
        "--workdir", str(workdir), *extra, env=env, check=True,
    )  # fmt: skip
    trust_target(proj, env, name)


@contextmanager
def json_service(path: str, answer: object) -> Iterator[int]:
    """A real HTTP server on loopback that answers GET `path` with `answer` as JSON (any
    other path: 404 with the same body); yields its port."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = json.dumps(answer).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == path else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


# ---- in-process makers: a run for the store, a target or job file for a project ----


def make_run(run_id: str, experiment: str = "exp", **fields: Any) -> Run:
    """A run as `submit` first stores it: queued, on the local target, running
    `python train.py --lr 0.1`. `fields` set any other field of the store's `Run`
    (created, status, snapshot_commit, ...); what a new run does not know yet (its
    snapshot, environment, process, end) the `Run` itself leaves at None."""
    from runyard.core.store import Run

    made: dict[str, Any] = {
        "status": "queued",
        "target": "local",
        "target_type": "local",
        "job": None,
        "script": "train.py",
        "command": ["python", "train.py", "--lr", "0.1"],
        "options": {"script": "train.py"},
    }
    return Run(id=run_id, experiment=experiment, **(made | fields))


def write_target_file(project: Project, name: str, text: str) -> Path:
    """`.runyard/targets/NAME.yml` holding `text` (dedented)."""
    return _write_config(project.targets_dir / f"{name}.yml", text)


def write_job_file(project: Project, name: str, text: str) -> Path:
    """`.runyard/jobs/NAME.yml` holding `text` (dedented)."""
    return _write_config(project.jobs_dir / f"{name}.yml", text)


def target_error(project: Project, text: str, name: str = "gpu") -> ConfigError:
    """The error loading target `name` raises once its file holds `text`; it must name
    that file."""
    from runyard.core.config import load_target

    path = write_target_file(project, name, text)
    return _load_error(path, lambda: load_target(project, name))


def job_error(project: Project, text: str, name: str = "train") -> ConfigError:
    """The error loading job `name` raises once its file holds `text`; it must name
    that file."""
    from runyard.core.config import load_job

    path = write_job_file(project, name, text)
    return _load_error(path, lambda: load_job(project, name))


def _write_config(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _load_error(path: Path, load: Callable[[], object]) -> ConfigError:
    import pytest

    from runyard.core.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load()
    err = info.value
    assert err.file == path
    return err


def canary_wheel() -> bytes:
    """A pure-Python wheel of `runyardcanary` 1.0 (BIAS = 0.5), made here: what the
    package-index tests install."""
    files = {
        "runyardcanary/__init__.py": b"BIAS = 0.5\n",
        "runyardcanary-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\n"
        b"Name: runyardcanary\nVersion: 1.0\n",
        "runyardcanary-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("runyardcanary-1.0.dist-info/RECORD,,")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("runyardcanary-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return buf.getvalue()


def index_certificate(host: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `host` (an IP address) that is also a CA, for a test
    package index: (cert file, key file) in `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runyard test index")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "index.crt", folder / "index.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


# Sweep trial scripts shared by the sweep tests (CLI, LSP, the Sweeps view).
# A clearly bad trial (offset 100) logs for long; good ones end after a few steps.
PRUNED_TRIAL = """\
import argparse, time
import runyard

p = argparse.ArgumentParser()
p.add_argument("--offset", type=float, required=True)
a = p.parse_args()
for step in range(150 if a.offset > 10 else 4):
    runyard.log_metric("loss", a.offset + 1.0 / (step + 1), step=step)
    time.sleep(0.1)
"""

# Waits for gates/go-<x> (made by the test, never by the trial), then logs loss = x.
GATED_TRIAL = """\
import argparse, os, time
import runyard

p = argparse.ArgumentParser()
p.add_argument("--gates", required=True)
p.add_argument("--x", type=int, required=True)
a = p.parse_args()
runyard.log_metric("loss", 100.0 + a.x, step=0)
gate = os.path.join(a.gates, f"go-{a.x}")
for _ in range(6000):
    if os.path.exists(gate):
        break
    time.sleep(0.05)
runyard.log_metric("loss", float(a.x), step=1)
"""


def sweep_file(proj: Path, name: str, text: str) -> None:
    """Write `.runyard/sweeps/NAME.yml` (`text` dedented)."""
    folder = proj / ".runyard" / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yml").write_text(textwrap.dedent(text))


def start_sweep(proj: Path, name: str) -> str:
    """`runyard sweep start NAME --detach`; the sweep's id."""
    proc = runyard(proj, "sweep", "start", name, "--detach", check=True)
    return proc.stdout.strip().splitlines()[0]
