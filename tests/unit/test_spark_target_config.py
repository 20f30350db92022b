"""`spark` target files: what the schema accepts and refuses (with messages that say what
is expected), the `target add` flags, and how the backend reads a master and a driver's
log. No Spark needed here; tests/integration/test_spark_target.py runs real ones."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest

from runyard.core import config
from runyard.core.config import load_target, write_target
from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.targets import spark
from runyard.targets.base import BACKENDS, REATTACHABLE, RunContext, load_backend
from tests.helpers import runyard, target_error, write_target_file


def test_a_full_spark_target_loads(project: Project) -> None:
    path = write_target_file(
        project,
        "cluster",
        """\
        type: spark
        description: the team's cluster
        master: spark://spark-master.example.com:7077
        deploy_mode: client
        conf:
          spark.executor.memory: 2g
          spark.executor.cores: 2
          spark.dynamicAllocation.enabled: false
        packages:
          - org.apache.spark:spark-avro_2.13:4.0.0
        py_files: [libs/features.zip]
        spark_submit: /opt/spark/bin/spark-submit
        master_ui: http://spark-master.example.com:8080
        env:
          JAVA_HOME: /usr/lib/jvm/java-17-openjdk-amd64
        index_url: https://packages.example.com/simple
        cancel_grace_seconds: 20
        """,
    )
    target = load_target(project, "cluster")
    assert target.type == "spark" and target.cancel_grace_seconds == 20.0
    assert target.raw["conf"]["spark.executor.cores"] == 2
    assert target.env == {"JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-amd64"}
    assert config.validate_document(path.read_text(), "target", path) == []
    assert BACKENDS["spark"] == "runyard.targets.spark:SparkBackend"
    assert "spark" not in REATTACHABLE  # the driver is a child of the run's supervisor
    assert isinstance(load_backend("spark"), spark.SparkBackend)


@pytest.mark.parametrize(
    "master",
    ["local", "local[2]", "local[*]", "local[4,2]", "spark://a:7077,b:7077", "yarn",
     "k8s://https://k8s.example.com:6443"],
)  # fmt: skip
def test_masters_spark_knows_are_accepted(project: Project, master: str) -> None:
    write_target_file(project, "cluster", f"type: spark\nmaster: '{master}'\n")
    assert load_target(project, "cluster").raw["master"] == master


def test_a_spark_target_needs_a_master(project: Project) -> None:
    err = target_error(project, "type: spark\n")
    assert err.field == "master" and "required but missing" in err.problem


@pytest.mark.parametrize("master", ["local[0]", "mesos://m:5050", "spark:/m:7077", "yarn-client"])
def test_a_bad_master_says_what_a_master_looks_like(project: Project, master: str) -> None:
    err = target_error(project, f"type: spark\nmaster: '{master}'\n")
    assert err.field == "master"
    assert "local[N], local[*], spark://host:port, yarn or k8s://" in str(err)


def test_bad_spark_fields_are_refused_with_what_is_expected(project: Project) -> None:
    err = target_error(project, "type: spark\nmaster: yarn\npackages: [avro]\n")
    assert err.field == "packages[0]" and "groupId:artifactId:version" in str(err)
    err = target_error(project, "type: spark\nmaster: yarn\ndeploy_mode: remote\n")
    assert err.field == "deploy_mode" and "'client', 'cluster'" in str(err)
    err = target_error(project, "type: spark\nmaster: yarn\nconf:\n  spark.x: [1, 2]\n")
    assert err.field == "conf.spark.x"
    err = target_error(project, "type: spark\nmaster: yarn\npy_files: [../elsewhere.zip]\n")
    assert err.field == "py_files[0]" and "outside the project folder" in str(err)
    err = target_error(project, "type: spark\nmaster: yarn\nhost: box\n")  # an ssh field
    assert "host" in str(err)
    err = target_error(project, "type: spark\nmaster: yarn\nmaster_ui: spark-master:8080\n")
    assert err.field == "master_ui" and "http://" in str(err)


def test_write_target_and_the_cli_flags(project: Project, tmp_path: Path) -> None:
    path = write_target(project, "local2", "spark", {"master": "local[2]"})
    assert load_target(project, "local2").raw == {"type": "spark", "master": "local[2]"}
    assert path.read_text().startswith("# Compute target 'local2' (type spark)")
    proc = runyard(
        project.root, "target", "add", "cluster", "--type", "spark",
        "--master", "spark://127.0.0.1:7077", "--deploy-mode", "client",
        "--conf", "spark.driver.memory=512m", "--conf", "spark.executor.memory=512m",
        "--packages", "a.b:c:1,d.e:f:2", "--py-files", "libs/x.zip",
        "--spark-submit", "/opt/spark/bin/spark-submit",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    raw = load_target(project, "cluster").raw
    assert raw["conf"] == {"spark.driver.memory": "512m", "spark.executor.memory": "512m"}
    assert raw["packages"] == ["a.b:c:1", "d.e:f:2"] and raw["py_files"] == ["libs/x.zip"]
    assert raw["deploy_mode"] == "client" and raw["spark_submit"] == "/opt/spark/bin/spark-submit"
    proc = runyard(project.root, "target", "add", "bad", "--type", "spark", "--master", "mesos")
    assert proc.returncode == 2 and "Expected a Spark master" in proc.stderr


def test_the_template_spark_target_is_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "templates" / "pyspark-mllib"
    path = root / ".runyard/targets/spark.yml"
    assert config.validate_document(path.read_text(), "target", path) == []


def test_masters_are_understood() -> None:
    m = spark.parse_master("spark://10.0.0.1:7077,10.0.0.2")
    assert m.kind == "standalone" and m.addresses == (("10.0.0.1", 7077), ("10.0.0.2", 7077))
    assert not m.on_this_machine
    assert spark.master_ui({}, m) == "http://10.0.0.1:8080"
    assert spark.master_ui({"master_ui": "http://ui:9090/"}, m) == "http://ui:9090"
    assert spark.parse_master("spark://127.0.0.1:7077").on_this_machine
    assert spark.parse_master("local[*]").on_this_machine
    k8s = spark.parse_master("k8s://https://api.example.com:6443")
    assert k8s.kind == "k8s" and k8s.addresses == (("api.example.com", 6443),)
    assert spark.parse_master("k8s://api.example.com").addresses == (("api.example.com", 443),)
    assert (
        spark.parse_master("yarn").kind == "yarn"
        and spark.master_ui({}, spark.parse_master("yarn")) is None
    )


def test_the_driver_log_is_copied_and_the_application_found(tmp_path: Path) -> None:
    """Lines as Spark 4 writes them: the id of a standalone application, the UI's port
    and the driver's host; an event log folder names a local application."""
    read_fd, write_fd = os.pipe()
    log_path = tmp_path / "run.log"
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    events = tmp_path / "events"
    events.mkdir()
    driver_log = spark.DriverLog(read_fd, log_fd, events)
    lines = [
        b"26/11/29 19:10:52 INFO Utils: Successfully started service 'SparkUI' on port 4041.",
        b"26/11/29 19:10:54 INFO StandaloneSchedulerBackend: Connected to Spark cluster with "
        b"app ID app-20261129191054-0000",
        b"26/11/29 19:10:55 INFO NettyBlockTransferService: Server created on 10.1.2.3:41833",
        b"step 0 total 328350",
    ]
    os.write(write_fd, b"\n".join(lines[:2]) + b"\n" + lines[2][:30])  # a line cut in two
    time.sleep(0.2)
    os.write(write_fd, lines[2][30:] + b"\n" + lines[3] + b"\n")
    os.close(write_fd)
    driver_log.close()
    os.close(log_fd)
    assert log_path.read_bytes() == b"\n".join(lines) + b"\n"
    assert driver_log.new_tags() == {
        "spark.app_id": "app-20261129191054-0000",
        "spark.ui_url": "http://10.1.2.3:4041",
    }
    assert driver_log.new_tags() == {}  # each found once

    read_fd, write_fd = os.pipe()
    (events / "eventlog_v2_local-1795979770080").mkdir()
    null_fd = os.open(os.devnull, os.O_WRONLY)
    local_log = spark.DriverLog(read_fd, null_fd, events)
    os.close(write_fd)
    local_log.close()
    os.close(null_fd)
    assert local_log.new_tags() == {"spark.app_id": "local-1795979770080"}


def _context(tmp_path: Path, target: dict[str, object], **options: object) -> RunContext:
    work = tmp_path / "run" / "work"
    for rel in ("train.py", "pkg/__init__.py", "pkg/features.py", "data/x.csv", "libs/extra.zip",
                "venv/lib/site.py", ".hidden/h.py"):  # fmt: skip
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("")
    (work / "venv/pyvenv.cfg").write_text("")
    lines: list[str] = []
    return RunContext(
        run_id="r1",
        project_root=tmp_path,
        run_dir=tmp_path / "run",
        workdir=work,
        outputs="outputs",
        options={"script": "train.py", "args": ["--lr", "0.1"], "target_options": target} | options,
        env={"RUNYARD_RUN_ID": "r1"},
        log=lines.append,
        log_fd=-1,
        envs_dir=tmp_path / "envs",
    )


def test_the_spark_submit_command_and_environment(tmp_path: Path) -> None:
    target = {
        "type": "spark",
        "master": "spark://spark-master.example.com:7077",
        "deploy_mode": "client",
        "conf": {"spark.executor.memory": "1g", "spark.dynamicAllocation.enabled": False},
        "packages": ["a.b:c:1", "d.e:f:2"],
        "py_files": ["libs/extra.zip"],
    }
    ctx = _context(tmp_path, target, env={"SPARK_MASTER": "local[*]"})
    backend = spark.SparkBackend()
    backend.spark_submit = Path("/opt/spark/bin/spark-submit")
    backend.python = Path("/envs/e1/bin/python")
    master = spark.parse_master(target["master"])  # type: ignore[arg-type]
    cmd = backend.command(ctx, master)
    events = (ctx.run_dir / "spark-events").resolve().as_uri()
    zipped = str(ctx.run_dir / "spark" / "snapshot.zip")
    assert cmd == [
        "/opt/spark/bin/spark-submit", "--master", "spark://spark-master.example.com:7077",
        "--deploy-mode", "client",
        "--conf", "spark.executor.memory=1g", "--conf", "spark.dynamicAllocation.enabled=false",
        "--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir={events}",
        "--packages", "a.b:c:1,d.e:f:2",
        "--py-files", f"{zipped},{ctx.workdir / 'libs/extra.zip'}",
        "train.py", "--lr", "0.1",
    ]  # fmt: skip
    with zipfile.ZipFile(zipped) as zf:  # Python files only; no venv, no hidden folders
        assert sorted(zf.namelist()) == ["pkg/__init__.py", "pkg/features.py", "train.py"]
    env = backend.environment(ctx, master)
    assert env["SPARK_MASTER"] == "spark://spark-master.example.com:7077"  # the target wins
    assert env["PYSPARK_DRIVER_PYTHON"] == "/envs/e1/bin/python"
    assert "PYSPARK_PYTHON" not in env  # remote workers use their own python3
    assert env["RUNYARD_RUN_ID"] == "r1"
    local = spark.parse_master("local[2]")
    assert backend.environment(ctx, local)["PYSPARK_PYTHON"] == "/envs/e1/bin/python"

    module = _context(tmp_path / "m", {"type": "spark", "master": "local[2]"}, module="pkg.train")
    cmd = backend.command(module, local)
    launcher = module.run_dir / "spark" / "run_module.py"
    assert cmd[-3:] == [str(launcher), "--lr", "0.1"] and "'pkg.train'" in launcher.read_text()


def test_cluster_mode_is_refused_where_spark_refuses_python(tmp_path: Path) -> None:
    ctx = _context(
        tmp_path, {"type": "spark", "master": "spark://h:7077", "deploy_mode": "cluster"}
    )
    with pytest.raises(UsageError, match="cluster deploy mode"):
        spark.SparkBackend().prepare(ctx)
