"""`ray` target files (what the schema and the checks accept and refuse, with what is
expected) and the parts of the backend that need no cluster: the job's log split into
log text, tracking records and the outputs' lines; the outputs unpacked safely; the
package; the pip lines; a request no node can hold. tests/integration/test_ray_target.py
runs a real Ray head."""

from __future__ import annotations

import base64
import io
import os
import socket
import zipfile
from pathlib import Path
from typing import Any

import pytest

from runyard.core.config import load_target, validate_document
from runyard.core.project import Project
from runyard.targets import ray
from runyard.targets.base import BACKENDS, REATTACHABLE, RunContext, load_backend
from runyard.tracking.wire import FRAME_MARK
from tests.helpers import json_service, target_error, write_target_file


def test_a_full_ray_target_loads_and_is_registered(project: Project) -> None:
    write_target_file(
        project,
        "cluster",
        """\
        type: ray
        description: the team's Ray cluster
        address: http://ray-head.example.com:8265
        num_cpus: 2
        num_gpus: 0.5
        memory: 4g
        resources: {accelerator_a100: 1}
        env: {OMP_NUM_THREADS: '2'}
        index_url: https://packages.example.com/simple
        cancel_grace_seconds: 5
        """,
    )
    target = load_target(project, "cluster")
    assert target.type == "ray"
    options = ray.RayOptions.from_target(target.raw)
    assert options.entrypoint_resources() == {
        "entrypoint_num_cpus": 2.0,
        "entrypoint_num_gpus": 0.5,
        "entrypoint_memory": 4 * 1024**3,
        "entrypoint_resources": {"accelerator_a100": 1.0},
    }
    assert BACKENDS["ray"] == "runyard.targets.ray:RayBackend" and "ray" in REATTACHABLE
    assert isinstance(load_backend("ray"), ray.RayBackend)
    # the address is the dashboard's http:// one: no reference error for it either
    text = (project.targets_dir / "cluster.yml").read_text()
    assert (
        validate_document(text, "target", project.targets_dir / "cluster.yml", project=project)
        == []
    )


def test_bad_ray_fields_are_refused_with_what_is_expected(project: Project) -> None:
    err = target_error(project, "type: ray\n")
    assert "address" in str(err)
    err = target_error(project, "type: ray\naddress: ray://head:10001\n")
    assert err.field == "address" and "http://ray-head:8265" in str(err)
    assert "not a ray:// client address" in str(err)
    err = target_error(project, "type: ray\naddress: http://h:8265\nnum_gpus: -1\n")
    assert err.field == "num_gpus" and "at least 0" in str(err)
    err = target_error(project, "type: ray\naddress: http://h:8265\nmemory: lots\n")
    assert err.field == "memory" and "512m or 2g" in str(err)
    err = target_error(project, "type: ray\naddress: http://h:8265\nmaster: yarn\n")
    assert "master" in str(err)  # a spark field
    err = target_error(project, "type: ray\naddress: http://h:8265\nresources: {GPU: 1}\n")
    assert err.field == "resources.GPU" and err.line == 3
    assert "one of Ray's own resources" in str(err) and "`num_gpus:`" in str(err)
    err = target_error(
        project, "type: ray\naddress: http://h:8265\nindex_url: https://u:tok@pkgs.example/simple\n"
    )
    assert err.field == "index_url" and "credentials" in str(err) and "pip.conf" in str(err)


def test_largest_fit_says_what_no_node_has() -> None:
    nodes = [
        {"resources_total": {"CPU": 2.0, "memory": 4.0 * 1024**3}},
        {"resources_total": {"CPU": 8.0, "GPU": 1.0, "memory": 1.0 * 1024**3}},
    ]
    assert ray.largest_fit(nodes, {"CPU": 2}) is None
    assert ray.largest_fit(nodes, {"CPU": 4, "GPU": 1}) is None
    assert ray.largest_fit(nodes, {"GPU": 2}) == "2 GPUs: the most any node has is 1 GPU"
    assert ray.largest_fit(nodes, {"CPU": 4, "memory": 2.0 * 1024**3}) == (
        "those resources together (no one node has them all)"
    )
    assert ray.largest_fit([], {"CPU": 1}) == "the cluster has no live node"


def test_ray_answers_read_in_one_line() -> None:
    traceback = (
        "Traceback (most recent call last):\n  File x\nRuntimeError: Request failed with "
        "status code 400: Traceback\nValueError: Job with submission_id a already exists.\n.\n"
    )
    assert (
        ray._last_line(traceback.encode()) == "ValueError: Job with submission_id a already exists."
    )
    message = "runtime_env setup failed: could not build.\n  File y\nPipError: no such package\n"
    assert ray.summary(message) == (
        "runtime_env setup failed: could not build. ... PipError: no such package"
    )
    assert ray.summary("Job is running.") == "Job is running."


def _ctx(tmp_path: Path, **options: Any) -> RunContext:
    run_dir = tmp_path / "run"
    (run_dir / "work").mkdir(parents=True)
    log_fd = os.open(run_dir / "run.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    lines: list[str] = []
    ctx = RunContext(
        run_id="r1",
        project_root=tmp_path,
        run_dir=run_dir,
        workdir=run_dir / "work",
        outputs="outputs",
        options={"script": "train.py", "target_type": "ray", **options},
        env={},
        log=lines.append,
        log_fd=log_fd,
        envs_dir=tmp_path / "envs",
    )
    ctx.lines = lines  # type: ignore[attr-defined]
    return ctx


def _outputs_lines(files: dict[str, bytes], step: int = 16) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    text = base64.b64encode(buf.getvalue()).decode()
    chunks = [text[i : i + step] for i in range(0, len(text), step)]
    mark = ray.OUTPUTS_MARK.decode()
    return "".join(
        f"{mark}{'.' if i == len(chunks) - 1 else '+'}{c}\n" for i, c in enumerate(chunks)
    )


def test_the_job_log_splits_into_log_records_and_outputs(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    record = '{"p": {"lr": "0.1"}}'
    frame = f"{FRAME_MARK.decode()}42:.{record}\n"
    outputs = _outputs_lines({"outputs/a.txt": b"A", "outputs/deep/b.txt": b"B" * 100})
    full = "hello\n" + frame + "héllo wörld\nno newline yet" + "" + "\n" + outputs + "bye\n"
    log = ray.JobLog(ctx)
    for end in (3, 9, 30, 31, len(full) - 10, len(full)):  # the log as it grows
        log.feed(full[:end])
    log.feed(full, final=True)
    os.close(ctx.log_fd)
    assert (ctx.run_dir / "run.log").read_text() == "hello\nhéllo wörld\nno newline yet\nbye\n"
    assert (ctx.run_dir / "tracking.jsonl").read_text() == record + "\n"
    data = log.outputs_zip()
    assert data is not None
    ray._unpack(data, ctx.workdir, ["outputs"], ctx.log)
    assert (ctx.workdir / "outputs/deep/b.txt").read_bytes() == b"B" * 100
    # a follower that starts again (a new supervisor) goes on from the saved offset
    again = ray.JobLog(ctx)
    assert again.offset == len(full)


def test_outputs_that_would_land_outside_their_folder_are_left_behind(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("outputs/ok.txt", b"ok")
        zf.writestr("outputs/../../evil.txt", b"x")
        zf.writestr("/etc/evil.txt", b"x")
        zf.writestr("train.py", b"x")
    ray._unpack(buf.getvalue(), ctx.workdir, ["outputs"], ctx.log)
    assert (ctx.workdir / "outputs/ok.txt").read_text() == "ok"
    assert not (tmp_path / "evil.txt").exists() and not (ctx.run_dir / "evil.txt").exists()
    assert not (ctx.workdir / "train.py").exists()
    said = ctx.lines  # type: ignore[attr-defined]
    assert len(said) == 3 and all("was not copied back" in line for line in said)


def test_the_package_is_named_by_what_it_holds(tmp_path: Path) -> None:
    work, lib = tmp_path / "work", tmp_path / "lib"
    (work / "pkg").mkdir(parents=True)
    (work / "train.py").write_text("print(1)\n")
    (work / "pkg" / "m.py").write_text("x = 1\n")
    (work / "venv").mkdir()
    (work / "venv" / "pyvenv.cfg").write_text("")  # a virtual environment stays behind
    (lib / "runyard").mkdir(parents=True)
    (lib / "runyard" / "__init__.py").write_text("")
    name, data = ray.build_package(work, lib)
    again, _ = ray.build_package(work, lib)
    assert name == again and name.startswith("_ray_pkg_") and name.endswith(".zip")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert set(names) == {"train.py", "pkg/m.py", "_runyard/lib/runyard/__init__.py", ray.ENTRY}
    (work / "train.py").write_text("print(2)\n")
    assert ray.build_package(work, lib)[0] != name


def test_pip_lines_come_from_the_dependency_file(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, requirements="reqs/main.txt")
    (ctx.workdir / "reqs").mkdir()
    (ctx.workdir / "reqs" / "main.txt").write_text(
        "# pinned\nnumpy==2.1.0  # arrays\n-r extra.txt\n\n"
    )
    (ctx.workdir / "reqs" / "extra.txt").write_text("colorama\n")
    assert ray.pip_requirements(ctx, None) == ["numpy==2.1.0", "colorama"]
    assert ray.pip_requirements(ctx, "https://pkgs.example/simple") == [
        "--index-url https://pkgs.example/simple",
        "numpy==2.1.0",
        "colorama",
    ]
    bare = _ctx(tmp_path / "bare")
    assert ray.pip_requirements(bare, "https://pkgs.example/simple") == []


def test_the_submission_carries_the_runs_resources_env_and_entrypoint(tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        args=["--lr", "0.1 0.2"],
        env={"JOB_VAR": "1"},
        target_env={"OMP_NUM_THREADS": "2"},
        target="cluster",
        target_options={"type": "ray", "address": "http://h:8265", "num_gpus": 1},
    )
    ctx.env.update(
        {"RUNYARD_RUN_ID": "r1", "RUNYARD_TRACKING_URI": "file:///here", "PYTHONPATH": "/x"}
    )
    backend = ray.RayBackend()
    backend.pip = ["colorama"]
    payload = backend.payload(ctx, "_ray_pkg_abc.zip")
    assert payload["submission_id"] == "runyard-r1"
    assert payload["entrypoint"] == "python -u _runyard/entry.py train.py --lr '0.1 0.2'"
    assert payload["entrypoint_num_cpus"] == 1 and payload["entrypoint_num_gpus"] == 1
    env = payload["runtime_env"]["env_vars"]
    assert env["JOB_VAR"] == "1" and env["OMP_NUM_THREADS"] == "2" and env["RUNYARD_RUN_ID"] == "r1"
    assert "RUNYARD_TRACKING_URI" not in env and "PYTHONPATH" not in env  # (this machine's)
    assert payload["runtime_env"]["working_dir"] == "gcs://_ray_pkg_abc.zip"
    assert payload["runtime_env"]["pip"] == {"packages": ["colorama"], "pip_check": False}


@pytest.mark.parametrize("address", ["ray://head:10001", "head:8265"])
def test_a_client_address_is_refused_before_anything_is_sent(address: str) -> None:
    checks = ray.check_ray({"type": "ray", "address": address})
    assert len(checks) == 1 and not checks[0].ok
    assert "http://ray-head:8265" in (checks[0].fix or "")


def test_a_cluster_that_stops_answering_mid_run_loses_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runyard.targets import common
    from runyard.targets.base import RunLost

    monkeypatch.setattr(common, "LOST_AFTER", 0.5)
    monkeypatch.setattr(common, "RETRY_SECONDS", 0.1)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = _ctx(tmp_path)
    execution = ray.RayExecution(ray.RayCluster(f"http://127.0.0.1:{port}"), "runyard-r1", ctx)
    with pytest.raises(RunLost) as lost:
        execution.wait(30)
    assert lost.value.message == (
        f"the Ray cluster at http://127.0.0.1:{port} was unreachable for more than 0s "
        "(ClusterUnreachable)"
    )
    said = ctx.lines  # type: ignore[attr-defined]
    assert said[0].startswith(f"lost the connection to the Ray cluster at http://127.0.0.1:{port}")


def test_a_cluster_that_no_longer_knows_the_job_loses_the_run(tmp_path: Path) -> None:
    from runyard.targets.base import RunLost

    with json_service("/api/version", {"ray_version": "2.60.0"}) as port:
        ctx = _ctx(tmp_path)
        cluster = ray.RayCluster(f"http://127.0.0.1:{port}")
        execution = ray.RayExecution(cluster, "runyard-r1", ctx)
        with pytest.raises(RunLost) as lost:
            execution.wait(30)
        assert "no longer knows the job runyard-r1" in lost.value.message
        assert (
            ray.RayBackend().attach(
                _ctx(tmp_path / "b", target_options={"address": f"http://127.0.0.1:{port}"})
            )
            is None
        )
