"""`ssh` targets against a real sshd on loopback (scripts/sshd-setup.sh): the "remote
machine" is this one, logged into as root with the key the script authorized. Each
test has a HOME of its own (no known_hosts, no agent), like a user's machine before
they trust the remote host. Under CI=true a missing sshd fails these tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import git, run_logs, runyard, show_run, submit_run, until, wait_run

pytestmark = pytest.mark.integration

SSHD_PORT = helpers.SSHD_PORT
KEY = helpers.SSHD_DIR / "user_key"

TRAIN = """\
import json, os, subprocess, sys, time
import runyard
import six

runyard.log_params({"steps": os.environ.get("STEPS", "6")})
if os.environ.get("CHILD"):
    child = subprocess.Popen(["sleep", "300"])
    print(f"pids {os.getpid()} {child.pid}", flush=True)
for step in range(int(os.environ.get("STEPS", "6"))):
    runyard.log_metric("loss", 1.0 / (step + 1), step=step)
    print(f"step {step}", flush=True)
    time.sleep(float(os.environ.get("PAUSE", "0.2")))
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as f:
    json.dump({"six": six.__version__, "host": os.uname().nodename}, f)
print("trained", flush=True)
"""


@pytest.fixture(scope="module")
def remote_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runyard's folder on the "remote machine", shared by this module's tests so the
    run environment is built once."""
    helpers.sshd_key()
    return tmp_path_factory.mktemp("remote") / "runyard"


@pytest.fixture
def home(tmp_path: Path, remote_workdir: Path) -> Iterator[dict[str, str]]:
    """The environment of a user whose HOME has no known_hosts and no agent."""
    path = tmp_path / "home"
    (path / ".ssh").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    yield env | {"HOME": str(path)}


def _add_target(proj: Path, env: dict[str, str], name: str, *extra: str) -> None:
    runyard(
        proj, "target", "add", name, "--type", "ssh", "--host", "127.0.0.1",
        "--port", str(SSHD_PORT), "--user", "root", *extra, env=env, check=True,
    )  # fmt: skip


def _trust(proj: Path, env: dict[str, str], name: str) -> None:
    asked = runyard(proj, "target", "trust", name, env=env, stdin=subprocess.DEVNULL)
    assert asked.returncode == 2, asked.stderr
    fingerprint = asked.stdout.split("host key ")[1].split()[0]
    runyard(proj, "target", "trust", name, "--fingerprint", fingerprint, env=env, check=True)


def _project(project: Path, home: dict[str, str], workdir: Path) -> Path:
    (project / "train.py").write_text(TRAIN)
    (project / "requirements.txt").write_text("six\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "train")
    _add_target(project, home, "vm", "--identity-file", str(KEY), "--workdir", str(workdir))
    _trust(project, home, "vm")
    return project


@pytest.fixture
def proj(project: Path, home: dict[str, str], remote_workdir: Path) -> Path:
    return _project(project, home, remote_workdir)


@pytest.fixture
def lone(project: Path, home: dict[str, str], tmp_path: Path) -> tuple[Path, Path]:
    """A project whose target `vm` has a remote folder of its own (the project, the
    folder): what a test prunes there is seen by no other test, whatever their order."""
    workdir = tmp_path / "remote" / "runyard"
    return _project(project, home, workdir), workdir


def _job(project: Path, name: str, **env: str) -> None:
    lines = "".join(f"  {k}: '{v}'\n" for k, v in env.items())
    (project / f".runyard/jobs/{name}.yml").write_text(
        f"script: train.py\ntarget: vm\nenv:\n{lines}"
    )


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_run_completes_with_live_metrics_outputs_and_a_reused_environment(
    proj: Path, home: dict[str, str], remote_workdir: Path
) -> None:
    _job(proj, "live", STEPS="15", PAUSE="0.6")  # still running for a loaded machine's CLI
    run_id = submit_run(proj, "--job", "live", env=home)
    remote_copy = remote_workdir / "runs" / run_id / "work" / "train.py"  # gone at the end

    def live_point() -> bool:
        data = show_run(proj, run_id, home)
        return data["status"] == "running" and bool(data["metrics"]) and remote_copy.is_file()

    until(live_point, what="a metric and the remote working copy while the run is running")
    done = wait_run(proj, run_id, home)
    assert done["status"] == "completed", done
    assert done["metrics_summary"][0]["count"] == 15
    assert done["params"] == {"steps": "15"}
    model = json.loads(Path(done["outputs_dir"], "model.json").read_text())
    assert model["six"] and model["host"] == os.uname().nodename
    log = run_logs(proj, run_id, home)
    assert "step 14" in log and "trained" in log
    assert "connected to root@127.0.0.1" in log
    assert not (remote_workdir / "runs" / run_id).exists()  # removed once it ended
    env_dir = remote_workdir / "envs" / done["env_hash"]
    assert (env_dir / ".runyard-env.json").is_file()

    again = wait_run(proj, submit_run(proj, "--target", "vm", "train.py", env=home), home)
    assert again["status"] == "completed" and again["env_hash"] == done["env_hash"]
    log = run_logs(proj, again["id"], home)
    assert f"environment {done['env_hash']} on 127.0.0.1 (cached)" in log
    assert "building environment" not in log


def test_cancel_kills_the_remote_process_group(
    proj: Path, home: dict[str, str], remote_workdir: Path
) -> None:
    _job(proj, "long", STEPS="600", PAUSE="0.2", CHILD="1")
    run_id = submit_run(proj, "--job", "long", env=home)
    log = until(lambda: "step 1" in (text := run_logs(proj, run_id, home)) and text, what="step 1")
    script_pid, child_pid = (int(p) for p in log.split("pids ")[1].split()[:2])
    assert not _gone(script_pid) and not _gone(child_pid)
    runyard(proj, "runs", "cancel", run_id, env=home, check=True)
    run = wait_run(proj, run_id, home)
    assert run["status"] == "canceled", run
    until(lambda: _gone(script_pid) and _gone(child_pid), timeout=20, what="the processes' end")
    assert "canceling: SIGTERM sent" in run_logs(proj, run_id, home)
    assert not (remote_workdir / "runs" / run_id).exists()


def test_a_new_supervisor_reattaches_after_the_client_dies(
    proj: Path, home: dict[str, str]
) -> None:
    from runyard.core.store import Store

    _job(proj, "steps", STEPS="30", PAUSE="0.2")
    run_id = submit_run(proj, "--job", "steps", env=home)
    until(lambda: "step 3" in run_logs(proj, run_id, home), what="the run's fourth step")
    with Store(proj / ".runyard/state/runyard.db") as store:
        pid = store.get_run(run_id).supervisor_pid
    assert pid
    os.kill(pid, 9)  # the client's machine drops it; the remote run goes on
    until(lambda: _gone(pid), what="the supervisor's end")
    time.sleep(1)
    listed = json.loads(runyard(proj, "runs", "list", "--json", env=home, check=True).stdout)
    assert [r["status"] for r in listed if r["id"] == run_id] == ["running"]  # taken over
    run = wait_run(proj, run_id, home)
    assert run["status"] == "completed", run
    log = run_logs(proj, run_id, home)
    assert "took the run over" in log and "following the run in" in log
    assert log.count("step 5\n") == 1  # the log goes on where it stopped: nothing twice
    assert run["metrics_summary"][0]["count"] == 30  # none lost, none twice
    assert Path(run["outputs_dir"], "model.json").is_file()


def test_a_wrong_key_is_a_clear_login_error(
    proj: Path, home: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    _add_target(proj, home, "wrongkey", "--identity-file", str(other))
    test = runyard(proj, "target", "test", "wrongkey", env=home, timeout=30)  # no hang
    assert test.returncode == 1
    assert f"SSH refused the login as root at 127.0.0.1:{SSHD_PORT} with the key {other}" in (
        test.stdout
    )
    assert "ssh-copy-id" in test.stdout
    run = wait_run(proj, submit_run(proj, "--target", "wrongkey", "train.py", env=home), home)
    assert run["status"] == "failed" and "SSH refused the login" in run["reason"]

    (tmp_path / "missing").mkdir()
    _add_target(proj, home, "nokey", "--identity-file", str(tmp_path / "missing/id"))
    test = runyard(proj, "target", "test", "nokey", env=home, timeout=30)
    assert test.returncode == 1 and "does not exist" in test.stdout


def test_an_unknown_or_changed_host_key_is_refused(
    project: Path, home: dict[str, str], remote_workdir: Path
) -> None:
    _add_target(project, home, "vm", "--identity-file", str(KEY))
    test = runyard(project, "target", "test", "vm", env=home, timeout=30)
    assert test.returncode == 1
    assert f"The SSH host key of 127.0.0.1:{SSHD_PORT} is not known" in test.stdout
    assert "runyard target trust" in test.stdout
    (project / "train.py").write_text("print('never')\n")
    run = wait_run(project, submit_run(project, "--target", "vm", "train.py", env=home), home)
    assert run["status"] == "failed" and "host key" in run["reason"]
    assert not Path(home["HOME"], ".ssh/known_hosts").exists()  # nothing accepted silently

    other = Path(home["HOME"]) / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    fake = other.with_suffix(".pub").read_text().split()[:2]
    Path(home["HOME"], ".ssh/known_hosts").write_text(
        f"[127.0.0.1]:{SSHD_PORT} {fake[0]} {fake[1]}\n"
    )
    test = runyard(project, "target", "test", "vm", env=home, timeout=30)
    assert test.returncode == 1 and "does not match" in test.stdout, test.stdout
    assert "ssh-keygen -R" in test.stdout


def test_target_test_reports_versions_and_what_ismissing(
    proj: Path, home: dict[str, str], remote_workdir: Path
) -> None:
    good = runyard(proj, "target", "test", "vm", env=home, timeout=30)
    assert good.returncode == 0, good.stdout
    assert f"✓ connection: root@127.0.0.1:{SSHD_PORT} (SSH-2.0-OpenSSH" in good.stdout
    assert "✓ python: python3: Python 3." in good.stdout
    assert "✓ venv: can build virtual environments" in good.stdout
    assert f"✓ workdir: {remote_workdir}" in good.stdout
    data = json.loads(runyard(proj, "target", "test", "vm", "--json", env=home).stdout)
    assert data["ok"] is True and [c["name"] for c in data["checks"]] == [
        "connection", "python", "venv", "workdir",
    ]  # fmt: skip

    _add_target(proj, home, "nopy", "--identity-file", str(KEY), "--python", "python9.9")
    bad = runyard(proj, "target", "test", "nopy", env=home, timeout=30)
    assert bad.returncode == 1
    assert "✗ python: python9.9 was not found on 127.0.0.1" in bad.stdout
    assert "fix: install Python 3.8+ there" in bad.stdout
    run = wait_run(proj, submit_run(proj, "--target", "nopy", "train.py", env=home), home)
    assert run["status"] == "failed" and "python9.9 was not found" in run["reason"]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    runyard(
        proj, "target", "add", "down", "--type", "ssh", "--host", "127.0.0.1",
        "--port", str(port), env=home, check=True,
    )  # fmt: skip
    down = runyard(proj, "target", "test", "down", env=home, timeout=30)
    assert down.returncode == 1 and f"Cannot reach 127.0.0.1:{port}" in down.stdout


async def test_trust_and_test_through_the_language_server(
    project: Path, home: dict[str, str]
) -> None:
    from tests.integration.lsp_session import Session

    _add_target(project, home, "vm", "--identity-file", str(KEY))
    session = Session(project, env=home)
    await session.start()
    try:
        refused = await session.request("runyard/targets/test", {"name": "vm"})
        assert refused["ok"] is False and "is not known" in refused["checks"][0]["detail"]
        shown = await session.request("runyard/targets/trust", {"name": "vm"})
        assert shown["host"] == f"[127.0.0.1]:{SSHD_PORT}" and shown["written"] is False
        done = await session.request(
            "runyard/targets/trust", {"name": "vm", "fingerprint": shown["fingerprint"]}
        )
        assert done["written"] is True
        checks = await session.request("runyard/targets/test", {"name": "vm"})
        assert checks["ok"] is True, checks
    finally:
        await session.stop()


def test_env_prune_clears_the_remote_environments_not_in_use(
    lone: tuple[Path, Path], home: dict[str, str]
) -> None:
    """A live run's environment stays, and so does one a process on the machine runs
    from (another project sharing the workdir); an idle one goes. (Its own remote folder:
    the environment the other tests share is not pruned.)"""
    proj, remote_workdir = lone
    envs_dir = remote_workdir / "envs"
    _job(proj, "slow", STEPS="600", PAUSE="0.2")
    live = submit_run(proj, "--job", "slow", env=home)
    until(lambda: "step 1" in run_logs(proj, live, home), what="the live run's second step")
    live_env = show_run(proj, live, home)["env_hash"]
    idle = envs_dir / "0000000000idle00"
    (idle / "bin").mkdir(parents=True)
    other = envs_dir / "0000000000other0"
    (other / "bin").mkdir(parents=True)
    # a process running from `other`, as another project's run would
    user = subprocess.Popen(["bash", "-c", f"exec -a {other}/bin/python sleep 120"])
    try:
        pruned = runyard(proj, "env", "prune", "--target", "vm", "--json", env=home, timeout=60)
        assert pruned.returncode == 0, pruned.stderr
        assert json.loads(pruned.stdout) == [{"target": "vm", "environment": idle.name}]
        assert not idle.exists() and other.is_dir()
        assert (envs_dir / live_env / ".runyard-env.json").is_file()
    finally:
        user.kill()
        user.wait()
        runyard(proj, "runs", "cancel", live, env=home)
    assert wait_run(proj, live, home)["status"] == "canceled"
    # what a run marked lost while the machine was away leaves there: its folder, gone
    # once nothing of it runs; one whose script still runs stays
    _job(proj, "quick", STEPS="1", PAUSE="0")
    quick = wait_run(proj, submit_run(proj, "--job", "quick", env=home), home)
    assert quick["status"] == "completed", quick
    left, going = remote_workdir / "runs" / live, remote_workdir / "runs" / quick["id"]
    (left / "work").mkdir(parents=True)
    (left / "pid").write_text("999999999\n")
    (going / "work").mkdir(parents=True)
    script = subprocess.Popen(["sleep", "120"])
    (going / "pid").write_text(f"{script.pid}\n")
    try:
        pruned = runyard(proj, "env", "prune", "--target", "vm", env=home, timeout=60)
    finally:
        script.kill()
        script.wait()
    assert pruned.returncode == 0, pruned.stderr
    assert f"vm: removed {live_env}" in pruned.stdout
    assert f"vm: removed {other.name}" in pruned.stdout
    assert f"vm: removed the folder of run {left.name}" in pruned.stdout
    assert sorted(p.name for p in envs_dir.iterdir()) == []
    assert not left.exists() and going.is_dir()

    # a machine that cannot be reached: said, and the exit status says so
    runyard(
        proj, "target", "add", "gone", "--type", "ssh", "--host", "127.0.0.1",
        "--port", "9", env=home, check=True,
    )  # fmt: skip
    failed = runyard(proj, "env", "prune", "--target", "gone", env=home, timeout=60)
    assert failed.returncode == 1
    assert "gone: not pruned: Cannot reach 127.0.0.1:9" in failed.stderr
