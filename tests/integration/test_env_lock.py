"""Run environments built for real with uv and with pip, on every target type that
builds them (local, a real Docker engine, a real sshd on loopback), and the lock each
run records: the interpreter's version and every installed distribution.

Under CI=true a missing engine or sshd fails these tests. Packages come from the index
pip is configured with here, on this machine and in the build containers alike."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runyard.core import envs
from runyard.core.store import RunLock, Store
from tests import helpers
from tests.helpers import (
    canary_wheel,
    git,
    index_certificate,
    run_logs,
    runyard,
    submit_run,
    wait_run,
)

pytestmark = pytest.mark.integration

SCRIPT = "import six\nprint('six', six.__version__, flush=True)\n"
SEEDED = {"pip", "setuptools", "wheel"}  # what `python -m venv` puts in a pip-built one


def _lock(project: Path, run_id: str) -> RunLock:
    with Store(project / ".runyard/state/runyard.db", read_only=True) as store:
        lock = store.run_lock(run_id)
    assert lock is not None, f"no lock recorded for {run_id}"
    return lock


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _pip() -> dict[str, str]:
    return _env(**{envs.INSTALLER_VAR: "pip"})


def _commit(project: Path, requirements: str) -> None:
    (project / "requirements.txt").write_text(requirements)
    (project / "uses_six.py").write_text(SCRIPT)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "six")


def _no_half_built_environment(envs_dir: Path) -> None:
    """What a failed build left in the cache: only the lock files of the builds."""
    left = sorted(p.name for p in envs_dir.iterdir()) if envs_dir.is_dir() else []
    assert all(name.endswith(".lock") for name in left), left


# ---------------------------------------------------------------- on this machine


def test_uv_and_pip_build_the_same_packages_into_environments_of_their_own(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_text("requests\nsix==1.16.0\n")
    spec = envs.find_spec(work, None)
    envs_dir = tmp_path / "envs"
    built: dict[str, envs.Environment] = {}
    with (tmp_path / "build.log").open("ab") as log:
        for installer in ("uv", "pip"):
            built[installer] = envs.ensure_env(
                envs_dir, spec, work, index_url=None, system_site_packages=False,
                log=lambda _line: None, log_fd=log.fileno(), installer=installer,
            )  # fmt: skip
    uv, pip = built["uv"], built["pip"]
    assert uv.hash != pip.hash and (uv.installer, pip.installer) == ("uv", "pip")
    uv_lock, pip_lock = envs.read_lock(uv.python, "uv"), envs.read_lock(pip.python, "pip")
    assert uv_lock.python == pip_lock.python == platform.python_version()
    uv_packages, pip_packages = dict(uv_lock.packages), dict(pip_lock.packages)
    assert {"requests", "urllib3", "idna", "certifi"} <= set(uv_packages)
    assert uv_packages["six"] == "1.16.0"
    # the same resolved set; pip's own seed packages are the one difference
    assert {k: v for k, v in pip_packages.items() if k not in SEEDED} == uv_packages
    assert "pip" in pip_packages and "pip" not in uv_packages
    marker = json.loads((uv.python.parent.parent / ".runyard-env.json").read_text())
    assert marker["installer"] == "uv"
    again = envs.ensure_env(
        envs_dir, spec, work, index_url=None, system_site_packages=False,
        log=lambda _line: None, log_fd=2, installer="uv",
    )  # fmt: skip
    assert again.reused and again.hash == uv.hash


@pytest.fixture
def strict_index(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS package index on loopback serving one wheel, whose self-signed
    certificate is also a CA: OpenSSL (pip) accepts it from a CA bundle, uv's stricter
    TLS check refuses it. Yields (index URL, the CA bundle that trusts it)."""
    index_certificate("127.0.0.1", tmp_path)
    wheel = canary_wheel()
    sha = hashlib.sha256(wheel).hexdigest()
    wheel_name = "runyardcanary-1.0-py3-none-any.whl"
    page = f'<html><body><a href="/files/{wheel_name}#sha256={sha}">{wheel_name}</a></body></html>'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = {
                "/simple/runyardcanary/": (page.encode(), "text/html"),
                f"/files/{wheel_name}": (wheel, "application/octet-stream"),
            }.get(self.path if self.path.endswith((".whl", "/")) else self.path + "/")
            body, kind = found or (b"", "text/plain")
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "index.crt", tmp_path / "index.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/simple/", tmp_path / "index.crt"
    finally:
        server.shutdown()
        server.server_close()


def test_pip_builds_the_environment_when_uv_fails_at_something_other_than_the_spec(
    tmp_path: Path, strict_index: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, bundle = strict_index
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, str(bundle))  # pip's CA bundle, which uv is told too
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_text("runyardcanary==1.0\n")
    spec = envs.find_spec(work, None)
    said: list[str] = []
    with (tmp_path / "build.log").open("ab") as log:
        env = envs.ensure_env(
            tmp_path / "envs", spec, work, index_url=url, system_site_packages=False,
            log=said.append, log_fd=log.fileno(),
        )  # fmt: skip
    output = (tmp_path / "build.log").read_text()
    assert "CaUsedAsEndEntity" in output  # uv's own refusal, in the run's log
    assert any("pip builds it instead" in line for line in said), said
    assert env.installer == "pip" and not env.reused
    assert env.hash == envs.env_hash(spec, envs.base_python(), url, False, "uv")  # uv's key
    lock = envs.read_lock(env.python, env.installer)
    assert lock.installer == "pip" and dict(lock.packages)["runyardcanary"] == "1.0"
    again = envs.ensure_env(
        tmp_path / "envs", spec, work, index_url=url, system_site_packages=False,
        log=said.append, log_fd=2,
    )  # fmt: skip
    assert again.reused and again.installer == "pip"  # its marker says who built it


def test_a_local_run_records_its_lock_built_with_uv_and_with_pip(project: Path) -> None:
    _commit(project, "six==1.16.0\n")
    first = submit_run(project, "uses_six.py")
    done = wait_run(project, first)
    assert done["status"] == "completed", done
    log = run_logs(project, first)
    assert "six 1.16.0" in log and "with uv" in log
    lock = _lock(project, first)
    python = subprocess.run(
        [envs.base_python(), "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert (lock.python, lock.installer, lock.packages) == (python, "uv", {"six": "1.16.0"})

    with_pip = submit_run(project, "uses_six.py", env=_pip())
    again = wait_run(project, with_pip)
    assert again["status"] == "completed", again
    assert again["env_hash"] != done["env_hash"]  # never taken for the uv-built one
    assert "with pip" in run_logs(project, with_pip)
    pip_lock = _lock(project, with_pip)
    assert pip_lock.installer == "pip" and pip_lock.python == python
    assert pip_lock.packages["six"] == "1.16.0" and "pip" in pip_lock.packages


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_requirement_that_cannot_be_installed_is_named_with_its_line_and_nothing_is_cached(
    project: Path, installer: str
) -> None:
    _commit(project, "six\n# the model's own package\nnosuch-runyard-pkg==1.0\n")
    run_id = submit_run(project, "uses_six.py", env=_env(**{envs.INSTALLER_VAR: installer}))
    run = wait_run(project, run_id)
    assert run["status"] == "failed"
    assert run["reason"].startswith(
        "Installing the packages of requirements.txt failed: nosuch-runyard-pkg==1.0 (line 3) "
        "could not be installed"
    ), run["reason"]
    assert f"({installer}: " in run["reason"]
    _no_half_built_environment(project / ".runyard/state/envs")
    with Store(project / ".runyard/state/runyard.db", read_only=True) as store:
        assert store.run_lock(run_id) is None


def test_a_user_interpreter_run_records_what_that_interpreter_has(project: Path) -> None:
    runyard(
        project, "target", "add", "mine", "--type", "local", "--python", sys.executable, check=True
    )  # fmt: skip
    (project / "hello.py").write_text("print('hello')\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "hello")
    run = wait_run(project, submit_run(project, "--target", "mine", "hello.py"))
    assert run["status"] == "completed", run
    lock = _lock(project, run["id"])
    assert lock.installer is None and lock.python == platform.python_version()
    assert "runyard" in lock.packages and "uv" in lock.packages


# ---------------------------------------------------------------- docker


@pytest.fixture
def dock(project: Path, engine: Any) -> Iterator[Path]:
    """A project with a docker target; its requirements name this project, so its
    environment images are built by these tests, and removed after them."""
    _commit(project, f"six==1.16.0\n# {project}\n")
    options = helpers.docker_target_options()
    runyard(project, "target", "add", "dock", "--type", "docker", *options, check=True)
    yield project
    for image in engine.images.list(filters={"label": f"dev.runyard.project={project}"}):
        with contextlib.suppress(Exception):
            engine.images.remove(image.id, force=True)


def test_a_docker_run_records_the_lock_its_image_was_built_with(dock: Path, engine: Any) -> None:
    run = wait_run(dock, submit_run(dock, "--target", "dock", "uses_six.py"), timeout=600)
    assert run["status"] == "completed", run
    log = run_logs(dock, run["id"])
    assert "with uv" in log and "six 1.16.0" in log
    lock = _lock(dock, run["id"])
    image = engine.images.get(f"runyard-env:{run['env_hash']}")
    python = engine.containers.run(
        image.id, ["python", "-c", "import platform; print(platform.python_version())"],
        remove=True, entrypoint=[],
    ).decode().strip()  # fmt: skip
    assert (lock.python, lock.installer, lock.packages) == (python, "uv", {"six": "1.16.0"})
    inside = engine.containers.run(image.id, ["cat", "/opt/runyard/lock.json"], remove=True)
    assert envs.EnvLock.from_json(inside.decode()).packages == (("six", "1.16.0"),)

    with_pip = wait_run(dock, submit_run(dock, "--target", "dock", "uses_six.py", env=_pip()))
    assert with_pip["status"] == "completed", with_pip
    assert with_pip["env_hash"] != run["env_hash"]
    pip_lock = _lock(dock, with_pip["id"])
    assert pip_lock.installer == "pip" and pip_lock.python == python
    assert pip_lock.packages["six"] == "1.16.0" and "pip" in pip_lock.packages


def test_a_docker_run_without_a_dependency_file_records_an_empty_lock(
    dock: Path, engine: Any
) -> None:
    (dock / "requirements.txt").unlink()
    (dock / "plain.py").write_text("print('plain')\n")
    git(dock, "add", "-A")
    git(dock, "commit", "-qm", "no requirements")
    run = wait_run(dock, submit_run(dock, "--target", "dock", "plain.py"))
    assert run["status"] == "completed", run
    lock = _lock(dock, run["id"])
    assert lock.installer == "uv" and lock.packages == {} and lock.python.startswith("3.")


def test_a_docker_run_of_an_image_used_as_is_records_what_its_python_has(
    dock: Path, engine: Any
) -> None:
    base = helpers.BASE_IMAGE
    runyard(dock, "target", "add", "asis", "--type", "docker", "--image", base, check=True)
    (dock / "plain.py").write_text("print('plain')\n")
    git(dock, "add", "-A")
    git(dock, "commit", "-qm", "plain")
    run = wait_run(dock, submit_run(dock, "--target", "asis", "plain.py"))
    assert run["status"] == "completed", run
    lock = _lock(dock, run["id"])
    assert lock.installer is None and lock.python.startswith("3.")
    assert "pip" in lock.packages  # the base image's own python3 has pip
    # host facts measured in the run's own container: the image's OS on this engine's
    # kernel, the CPUs it was given, and no GPU (none was asked for)
    assert lock.host is not None, lock
    release = engine.containers.run(base, ["cat", "/etc/os-release"], remove=True).decode()
    pretty = next(ln for ln in release.splitlines() if ln.startswith("PRETTY_NAME="))
    assert lock.host.distro == pretty.split("=", 1)[1].strip('"'), lock.host
    assert (lock.host.os, lock.host.gpus) == ("Linux", ()), lock.host
    assert lock.host.release == engine.info()["KernelVersion"], lock.host
    assert lock.host.cpus and lock.host.cpus <= engine.info()["NCPU"], lock.host
    again = wait_run(dock, submit_run(dock, "--target", "asis", "plain.py"))
    assert _lock(dock, again["id"]).host == lock.host  # measured again, the same


def test_a_docker_requirement_that_cannot_be_installed_is_named(dock: Path, engine: Any) -> None:
    (dock / "requirements.txt").write_text(f"six\nnosuch-runyard-pkg==1.0\n# {dock}\n")
    git(dock, "add", "-A")
    git(dock, "commit", "-qm", "bad")
    run = wait_run(dock, submit_run(dock, "--target", "dock", "uses_six.py"), timeout=600)
    assert run["status"] == "failed"
    assert run["reason"].startswith(
        "Installing the packages of requirements.txt on the image failed: "
        "nosuch-runyard-pkg==1.0 (line 2) could not be installed (uv: "
    ), run["reason"]


# ---------------------------------------------------------------- ssh


@pytest.fixture
def remote(project: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The project with ssh targets on the loopback sshd: `vm` with the remote machine's
    python3 (no uv there), `vmuv` with this interpreter, whose uv package the probe finds."""
    key = helpers.sshd_key()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home)}
    _commit(project, "six==1.16.0\n")
    workdir = tmp_path / "remote" / "runyard"
    for name, python in (("vm", "python3"), ("vmuv", sys.executable)):
        runyard(
            project, "target", "add", name, "--type", "ssh", "--host", "127.0.0.1",
            "--port", str(helpers.SSHD_PORT), "--user", "root", "--identity-file", str(key),
            "--workdir", str(workdir), "--python", python, env=env, check=True,
        )  # fmt: skip
        asked = runyard(project, "target", "trust", name, env=env, stdin=subprocess.DEVNULL)
        fingerprint = asked.stdout.split("host key ")[1].split()[0]
        runyard(project, "target", "trust", name, "--fingerprint", fingerprint, env=env, check=True)
    return project, env


def test_an_ssh_run_builds_with_the_remote_uv_where_there_is_one_else_pip(
    remote: tuple[Path, dict[str, str]],
) -> None:
    project, env = remote
    with_uv = wait_run(
        project, submit_run(project, "--target", "vmuv", "uses_six.py", env=env), env
    )
    assert with_uv["status"] == "completed", with_uv
    log = run_logs(project, with_uv["id"], env)
    assert "with uv" in log and "six 1.16.0" in log
    lock = _lock(project, with_uv["id"])
    assert (lock.python, lock.installer, lock.packages) == (
        platform.python_version(), "uv", {"six": "1.16.0"}
    )  # fmt: skip
    cached = wait_run(project, submit_run(project, "--target", "vmuv", "uses_six.py", env=env), env)
    assert cached["env_hash"] == with_uv["env_hash"]
    assert "(cached)" in run_logs(project, cached["id"], env)
    assert _lock(project, cached["id"]).packages == {"six": "1.16.0"}  # read again, cached
    host = _lock(project, cached["id"]).host  # the ssh machine's (here: this one, on loopback)
    assert host is not None and host == lock.host, (host, lock.host)
    assert (host.os, host.release, host.machine) == (
        platform.system(), platform.release(), platform.machine()
    ), host  # fmt: skip

    with_pip = wait_run(project, submit_run(project, "--target", "vm", "uses_six.py", env=env), env)
    assert with_pip["status"] == "completed", with_pip
    assert "with pip" in run_logs(project, with_pip["id"], env)
    pip_lock = _lock(project, with_pip["id"])
    assert pip_lock.installer == "pip" and pip_lock.packages["six"] == "1.16.0"
    assert "pip" in pip_lock.packages


def test_an_ssh_requirement_that_cannot_be_installed_is_named(
    remote: tuple[Path, dict[str, str]],
) -> None:
    project, env = remote
    (project / "requirements.txt").write_text("nosuch-runyard-pkg==1.0\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "bad")
    run = wait_run(project, submit_run(project, "--target", "vmuv", "uses_six.py", env=env), env)
    assert run["status"] == "failed"
    assert run["reason"].startswith(
        "Installing the packages of requirements.txt on 127.0.0.1 failed: "
        "nosuch-runyard-pkg==1.0 (line 1) could not be installed (uv: "
    ), run["reason"]
