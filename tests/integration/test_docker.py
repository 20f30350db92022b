"""Docker targets against a real Docker engine (started by scripts/docker-setup.sh, with
its offline base image) and, for the remote engine, a real sshd on loopback
(scripts/sshd-setup.sh). Under CI=true a missing engine or sshd fails these tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import (
    SSHD_DIR,
    SSHD_PORT,
    git,
    run_logs,
    runyard,
    show_run,
    submit_run,
    until,
    wait_run,
)

pytestmark = pytest.mark.integration

BASE_IMAGE, CA_BUNDLE = helpers.BASE_IMAGE, helpers.CA_BUNDLE

TRAIN = """\
import json, os, sys, time
import runyard
import six

lr = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
runyard.log_params({"lr": lr})
for step in range(int(os.environ.get("STEPS", "6"))):
    runyard.log_metric("loss", 1.0 / (step + 1) * lr, step=step)
    print(f"step {step}", flush=True)
    time.sleep(float(os.environ.get("PAUSE", "0.4")))
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as f:
    json.dump({"lr": lr, "uid": os.getuid(), "six": six.__version__}, f)
print("trained with", lr, flush=True)
if os.environ.get("FAIL"):
    raise SystemExit("boom: " + os.environ["FAIL"])
"""


@pytest.fixture
def proj(project: Path, engine: Any) -> Path:
    (project / "train.py").write_text(TRAIN)
    (project / "requirements.txt").write_text("six\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "train")
    options = helpers.docker_target_options()
    runyard(project, "target", "add", "dock", "--type", "docker", *options, check=True)
    return project


def _containers(engine: Any, run_id: str) -> list[Any]:
    return list(engine.containers.list(all=True, filters={"label": f"dev.runyard.run={run_id}"}))


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def test_run_on_the_local_engine_with_live_metrics_outputs_and_reuse(
    proj: Path, engine: Any
) -> None:
    # slow enough that a loaded machine's CLI calls still see it running
    (proj / ".runyard/jobs/live.yml").write_text(
        "script: train.py\ntarget: dock\nargs: ['0.5']\nenv:\n  PAUSE: '1.5'\n"
    )
    run_id = submit_run(proj, "--job", "live")
    found: list[Any] = []

    def live_point() -> bool:
        data = show_run(proj, run_id)
        if data["status"] != "running" or not data["metrics"]:
            return False
        found[:] = _containers(engine, run_id)  # removed when the run ends
        return bool(found)

    until(live_point, what="a metric while the run is running")
    (container,) = found
    assert container.labels["dev.runyard.project"] == str(proj)
    attrs = container.attrs
    assert attrs["HostConfig"]["Privileged"] is False
    assert attrs["Config"]["User"] == "runyard"
    assert not attrs["HostConfig"]["Binds"]  # the project travels as a tar stream
    done = wait_run(proj, run_id)
    assert done["status"] == "completed", done
    assert {m["key"]: m["last"] for m in done["metrics_summary"]} == {"loss": 0.5 / 6}
    assert done["params"] == {"lr": "0.5"}
    model = json.loads(Path(done["outputs_dir"], "model.json").read_text())
    assert model == {"lr": 0.5, "uid": 10001, "six": model["six"]}
    assert "trained with 0.5" in run_logs(proj, run_id)
    assert _containers(engine, run_id) == []  # removed when it ended
    image = f"runyard-env:{done['env_hash']}"
    assert engine.images.get(image).labels["dev.runyard.env"] == done["env_hash"]

    again = wait_run(proj, submit_run(proj, "--target", "dock", "train.py", "0.1"))
    assert again["status"] == "completed" and again["env_hash"] == done["env_hash"]
    log = run_logs(proj, again["id"])
    assert f"environment image {image} (cached)" in log
    assert "building environment image" not in log


def test_a_failing_script_fails_with_the_log_tail_and_keeps_outputs(
    proj: Path, engine: Any
) -> None:
    (proj / ".runyard/jobs/fail.yml").write_text(
        "script: train.py\ntarget: dock\nenv:\n  FAIL: no data\n  STEPS: '2'\n  PAUSE: '0'\n"
    )
    run = wait_run(proj, submit_run(proj, "--job", "fail"))
    assert run["status"] == "failed"
    assert run["exit_code"] == 1
    assert "boom: no data" in run["reason"]
    assert Path(run["outputs_dir"], "model.json").is_file()
    assert _containers(engine, run["id"]) == []


def test_cancel_stops_and_removes_the_container(proj: Path, engine: Any) -> None:
    (proj / ".runyard/jobs/long.yml").write_text(
        "script: train.py\ntarget: dock\nenv:\n  STEPS: '600'\n  PAUSE: '0.2'\n"
    )
    run_id = submit_run(proj, "--job", "long")
    until(lambda: "step 2" in run_logs(proj, run_id), what="the run's third step")
    assert len(_containers(engine, run_id)) == 1
    runyard(proj, "runs", "cancel", run_id, check=True)
    run = wait_run(proj, run_id)
    assert run["status"] == "canceled"
    assert _containers(engine, run_id) == []


def test_a_vanished_container_makes_the_run_lost(proj: Path, engine: Any) -> None:
    (proj / ".runyard/jobs/long.yml").write_text(
        "script: train.py\ntarget: dock\nenv:\n  STEPS: '600'\n  PAUSE: '0.2'\n"
    )
    run_id = submit_run(proj, "--job", "long")
    until(lambda: "step 1" in run_logs(proj, run_id), what="the run's second step")
    (container,) = _containers(engine, run_id)
    container.remove(force=True)
    run = wait_run(proj, run_id)
    assert run["status"] == "lost", run
    assert "container was removed" in run["reason"]


def test_an_image_used_as_is(proj: Path, engine: Any) -> None:
    (proj / "plain.py").write_text(
        "import os, runyard\nrunyard.log_metric('x', 3.0)\nprint('uid', os.getuid())\n"
    )
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "plain")
    runyard(proj, "target", "add", "asis", "--type", "docker", "--image", BASE_IMAGE, check=True)
    run = wait_run(proj, submit_run(proj, "--target", "asis", "plain.py"))
    assert run["status"] == "completed", run
    assert run["metrics"] == {"x": 3.0}
    log = run_logs(proj, run["id"])
    assert "uid 0" in log and "building" not in log


def test_missing_base_image_and_engine_errors_are_clear(proj: Path) -> None:
    runyard(
        proj,
        "target",
        "add",
        "noimg",
        "--type",
        "docker",
        "--base-image",
        "runyard/nope:1",
        check=True,
    )
    test = runyard(proj, "target", "test", "noimg")
    assert test.returncode == 1
    assert "runyard/nope:1 is not on the engine" in test.stdout
    run = wait_run(proj, submit_run(proj, "--target", "noimg", "train.py"))
    assert run["status"] == "failed"
    assert "base image runyard/nope:1 is not on" in run["reason"]
    runyard(
        proj,
        "target",
        "add",
        "gone",
        "--type",
        "docker",
        "--base-image",
        BASE_IMAGE,
        "--address",
        "unix:///tmp/runyard-no-engine.sock",
        check=True,
    )
    test = runyard(proj, "target", "test", "gone", timeout=20)
    assert test.returncode == 1
    assert "No Docker engine at unix:///tmp/runyard-no-engine.sock" in test.stdout
    assert "start the engine" in test.stdout
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runyard(
        proj,
        "target",
        "add",
        "refused",
        "--type",
        "docker",
        "--base-image",
        BASE_IMAGE,
        "--address",
        f"tcp://127.0.0.1:{port}",
        check=True,
    )
    test = runyard(proj, "target", "test", "refused", timeout=20)
    assert test.returncode == 1 and f"Cannot reach 127.0.0.1:{port}" in test.stdout


@pytest.fixture
def ssh_home(tmp_path: Path) -> dict[str, str]:
    """A HOME whose ~/.ssh/config names the key sshd-setup.sh authorized, and no
    known_hosts yet: the user's machine before they trust the remote host."""
    return helpers.ssh_home(tmp_path / "home")


def test_remote_engine_over_ssh_refuses_unknown_host_keys_until_trusted(
    proj: Path, engine: Any, ssh_home: dict[str, str]
) -> None:
    _remote_target(proj, ssh_home, trust=False)
    test = runyard(proj, "target", "test", "remote", env=ssh_home, timeout=20)
    assert test.returncode == 1
    assert f"host key of 127.0.0.1:{SSHD_PORT} is not known" in test.stdout
    assert "runyard target trust" in test.stdout
    refused = wait_run(
        proj, submit_run(proj, "--target", "remote", "train.py", env=ssh_home), ssh_home
    )
    assert refused["status"] == "failed" and "host key" in refused["reason"]

    asked = runyard(proj, "target", "trust", "remote", env=ssh_home, stdin=subprocess.DEVNULL)
    assert asked.returncode == 2
    fingerprint = asked.stdout.split("host key ")[1].split()[0]
    assert fingerprint.startswith("SHA256:")
    wrong = runyard(
        proj, "target", "trust", "remote", "--fingerprint", "SHA256:not-it", env=ssh_home
    )
    assert wrong.returncode == 1 and "nothing was written" in wrong.stderr
    runyard(
        proj, "target", "trust", "remote", "--fingerprint", fingerprint, env=ssh_home, check=True
    )
    assert f"[127.0.0.1]:{SSHD_PORT}" in Path(ssh_home["HOME"], ".ssh/known_hosts").read_text()
    test = runyard(proj, "target", "test", "remote", env=ssh_home, timeout=20)
    assert test.returncode == 0, test.stdout
    assert f"ssh://root@127.0.0.1:{SSHD_PORT}: Docker" in test.stdout
    run = wait_run(
        proj, submit_run(proj, "--target", "remote", "train.py", "0.2", env=ssh_home), ssh_home
    )
    assert run["status"] == "completed", run
    assert run["metrics"]["loss"] == pytest.approx(0.2 / 6)
    assert Path(run["outputs_dir"], "model.json").is_file()


def _remote_target(proj: Path, ssh_home: dict[str, str], trust: bool) -> None:
    options = helpers.docker_target_options()
    helpers.add_remote_target(proj, ssh_home, options, trust)


def test_ssh_login_refused_is_clear(proj: Path, engine: Any, ssh_home: dict[str, str]) -> None:
    _remote_target(proj, ssh_home, trust=True)
    (Path(ssh_home["HOME"]) / ".ssh/config").write_text("")  # no key for that host any more
    test = runyard(proj, "target", "test", "remote", env=ssh_home, timeout=20)
    assert test.returncode == 1
    assert f"SSH refused the login at 127.0.0.1:{SSHD_PORT}" in test.stdout
    assert "ssh-add" in test.stdout


def test_gpus_without_a_gpu_runtime_fail_clearly(proj: Path, engine: Any) -> None:
    if any("nvidia" in str(r).lower() for r in engine.info().get("Runtimes", {})):
        pytest.skip("this engine has an NVIDIA runtime")
    ca = ["--ca-bundle", CA_BUNDLE] if Path(CA_BUNDLE).is_file() else []
    runyard(
        proj, "target", "add", "gpu", "--type", "docker", "--base-image", BASE_IMAGE,
        "--gpus", "1", *ca, check=True,
    )  # fmt: skip
    run = wait_run(proj, submit_run(proj, "--target", "gpu", "train.py"))
    assert run["status"] == "failed"
    assert "refused a request while starting the run's container" in run["reason"]
    assert _containers(engine, run["id"]) == []  # the container that never started went


def test_a_remote_engine_that_drops_mid_run_is_followed_again(
    proj: Path, engine: Any, ssh_home: dict[str, str]
) -> None:
    _remote_target(proj, ssh_home, trust=True)
    (proj / ".runyard/jobs/remote.yml").write_text(
        "script: train.py\ntarget: remote\nenv:\n  STEPS: '40'\n  PAUSE: '0.25'\n"
    )
    run_id = submit_run(proj, "--job", "remote", env=ssh_home)
    until(lambda: "step 2" in run_logs(proj, run_id), what="the run's third step")
    # every sshd process goes: the listener and the connection the run is followed on
    subprocess.run(["pkill", "-f", f"sshd -f {SSHD_DIR}/sshd_config"], check=False)
    subprocess.run(["pkill", "-f", "sshd: root"], check=False)
    time.sleep(3)
    setup = Path(__file__).resolve().parents[2] / "scripts/sshd-setup.sh"
    subprocess.run(["bash", str(setup), str(SSHD_DIR), str(SSHD_PORT)], check=True)
    run = wait_run(proj, run_id, ssh_home)
    assert run["status"] == "completed", run
    log = run_logs(proj, run_id)
    assert "lost the connection to the Docker engine" in log
    assert "reconnected to the Docker engine" in log
    assert "trained with 0.1" in log
    assert run["metrics_summary"][0]["count"] == 40  # nothing lost while it was away
    assert Path(run["outputs_dir"], "model.json").is_file()


def test_a_new_supervisor_takes_over_when_the_supervisor_dies(proj: Path, engine: Any) -> None:
    from runyard.core.store import Store

    (proj / ".runyard/jobs/long.yml").write_text(
        "script: train.py\ntarget: dock\nenv:\n  STEPS: '30'\n  PAUSE: '0.25'\n"
    )
    run_id = submit_run(proj, "--job", "long")
    until(lambda: "step 3" in run_logs(proj, run_id), what="the run's fourth step")
    with Store(proj / ".runyard/state/runyard.db") as store:
        pid = store.get_run(run_id).supervisor_pid
    assert pid
    os.kill(pid, 9)  # the machine's OOM killer, say; the container goes on
    until(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), what="its end")
    listed = json.loads(runyard(proj, "runs", "list", "--json", check=True).stdout)
    assert [r["status"] for r in listed if r["id"] == run_id] == ["running"]  # not lost
    run = wait_run(proj, run_id)
    assert run["status"] == "completed", run
    assert "took the run over" in run_logs(proj, run_id)
    assert run["metrics_summary"][0]["count"] == 30  # none lost, none twice
    assert Path(run["outputs_dir"], "model.json").is_file()
    assert _containers(engine, run_id) == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


async def test_trusting_a_host_key_through_the_language_server(
    proj: Path, engine: Any, ssh_home: dict[str, str]
) -> None:
    from tests.integration.lsp_session import Session

    _remote_target(proj, ssh_home, trust=False)
    session = Session(proj, env=ssh_home)
    await session.start()
    try:
        shown = await session.request("runyard/targets/trust", {"name": "remote"})
        assert shown["host"] == f"[127.0.0.1]:{SSHD_PORT}" and shown["written"] is False
        known = Path(ssh_home["HOME"], ".ssh/known_hosts")
        assert not known.exists()
        done = await session.request(
            "runyard/targets/trust", {"name": "remote", "fingerprint": shown["fingerprint"]}
        )
        assert done["written"] is True and shown["host"] in known.read_text()
        checks = await session.request("runyard/targets/test", {"name": "remote"})
        assert checks["ok"] is True, checks
    finally:
        await session.stop()


async def test_a_language_server_restart_mid_run_reattaches(proj: Path, engine: Any) -> None:
    from tests.integration.lsp_session import Session

    (proj / ".runyard/jobs/long.yml").write_text(
        "script: train.py\ntarget: dock\nenv:\n  STEPS: '600'\n  PAUSE: '0.2'\n"
    )
    first = Session(proj)
    await first.start()
    try:
        run = await first.request("runyard/runs/submit", {"job": "long"})
        assert run["targetType"] == "docker"
        await first.wait_push(
            "runyard/runs/logLines", lambda p: p["runId"] == run["id"] and "step 1" in p["text"]
        )
    finally:
        await first.stop()  # the editor closes; the container goes on
    assert len(_containers(engine, run["id"])) == 1
    second = Session(proj)
    await second.start()
    try:
        push = await second.wait_push(
            "runyard/runs/logLines", lambda p: p["runId"] == run["id"] and "step" in p["text"]
        )
        assert push["offset"] > 0
        await second.wait_push("runyard/metrics/points", lambda p: p["runId"] == run["id"])
        await second.request("runyard/runs/cancel", {"runId": run["id"]})
        await second.wait_status(run["id"], "canceled", timeout=60)
    finally:
        await second.stop()
    assert _containers(engine, run["id"]) == []


def test_env_prune_removes_built_images(proj: Path, engine: Any) -> None:
    run = wait_run(proj, submit_run(proj, "--target", "dock", "train.py"))
    image = f"runyard-env:{run['env_hash']}"
    engine.images.get(image)
    pruned = json.loads(runyard(proj, "env", "prune", "--json", check=True).stdout)
    assert {"target": "dock", "environment": image} in pruned
    import docker

    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(image)
