"""TensorBoard event files written anywhere in the working copy of a run on another
machine: a real Docker engine (its offline base image), the real sshd on loopback
(scripts/sshd-setup.sh) and a real Ray head on loopback (test_ray_target.py's
`cluster`). The run writes with TensorBoard's own writer
(`tensorboard.summary.Writer`, installed in the environment Runyard builds from the
project's requirements.txt) into `runs/exp1/` and `lightning_logs/version_0/`, and
makes links out of its working copy: a folder link (written through) and links named
like event files (absolute, and climbing out with `..`). On Docker, SSH and Ray the first
steps' points reach the store while the run still runs (the script waits for a file
`go` the test makes where it runs): the event files come back live, on Ray as lines
of the job's log. When the run has ended, the
scalars of its own files are the run's metrics with their steps and values, named by
`runner.tbimport`'s rule; the links are named in the run's log and neither followed
nor brought back; the snapshot's event file is not the run's; the files are kept with
the run. `common.EventFilesBack`'s rules (the size cap among them) are also driven
directly."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from runyard.targets import common, ray
from runyard.targets.base import RunContext
from tests import helpers
from tests.helpers import IN_CI, commit_all, run_logs, runyard, until
from tests.integration.test_ray_target import cluster  # noqa: F401 (the Ray head fixture)

pytestmark = pytest.mark.integration

if not IN_CI:  # in CI the dev extra installs it: missing is a failure there
    pytest.importorskip("tensorboard")
import tensorboard  # type: ignore[import-untyped]  # noqa: E402

STEPS = 5
EARLY = 3  # steps written before the script waits (`WRITE`)

# argv: a folder outside the working copy, the number of steps, and "wait": after the
# first steps are written and flushed the script says "ready" and waits for a file
# `go` in its working directory before it writes the rest (test_faults.py's pattern).
WRITE = """\
import glob, os, sys, time
from tensorboard.summary import Writer

shared, steps = sys.argv[1], int(sys.argv[2])
outside = Writer(shared)
outside.add_scalar("not_mine", 7.0, 0)
outside.close()
target = sorted(glob.glob(os.path.join(shared, "*tfevents*")))[0]
os.makedirs("runs", exist_ok=True)
os.symlink(shared, "runs/elsewhere")  # a folder link out: written through, never read
through = Writer("runs/elsewhere/inner")
through.add_scalar("through_link", 1.0, 0)
through.close()
exp = Writer("runs/exp1")
lit = Writer("lightning_logs/version_0")
for step in range(steps):
    exp.add_scalar("loss", 1.0 / (step + 1), step)
    lit.add_scalar("train_loss", step * 0.5, step)
    if step == EARLY - 1 and sys.argv[3:] == ["wait"]:
        exp.flush()
        lit.flush()
        print("ready", os.getcwd(), flush=True)
        while not os.path.exists("go"):
            time.sleep(0.05)
exp.close()
lit.close()
os.symlink(target, "runs/exp1/events.out.tfevents.0.linked")  # absolute
climb = os.path.relpath(target, "lightning_logs/version_0")  # ../../../...
os.symlink(climb, "lightning_logs/version_0/events.out.tfevents.0.climbs")
print("wrote", steps, "steps", flush=True)
"""


def _project(project: Path) -> None:
    """The writer, its requirements, and a committed event file (the snapshot's)."""
    (project / "write_tb.py").write_text(WRITE.replace("EARLY", str(EARLY)))
    (project / "requirements.txt").write_text("tensorboard\n")
    old = tensorboard.summary.Writer(str(project / "notes" / "old"))
    old.add_scalar("stale", 1.0, 0)
    old.close()
    commit_all(project, "tensorboard writer")


def _points(project: Path, run_id: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = runyard(project, "runs", "metrics", run_id, "--json", check=True, env=env)
    out: dict[str, list[tuple[int, float]]] = {}
    for p in json.loads(proc.stdout):
        out.setdefault(p["key"], []).append((p["step"], p["value"]))
    return out


def _check_run(project: Path, run_id: str, show: dict[str, Any], log: str) -> None:
    assert show["status"] == "completed", (show, log)
    assert f"wrote {STEPS} steps" in log, log
    # two run folders: each one's tags carry it; nothing of notes/ (the snapshot's), of
    # the folder link, or of the links named like event files
    assert _points(project, run_id) == {
        "runs/exp1/loss": [(s, pytest.approx(1.0 / (s + 1))) for s in range(STEPS)],
        "lightning_logs/version_0/train_loss": [(s, s * 0.5) for s in range(STEPS)],
    }
    for name in (
        "runs/exp1/events.out.tfevents.0.linked",
        "lightning_logs/version_0/events.out.tfevents.0.climbs",
    ):
        assert f"[runyard] {name} is a link (to " in log, log
    assert "not followed, not imported and not kept with the run" in log
    assert f"TensorBoard: {2 * STEPS} scalar points (2 series) imported from 2 event files" in log
    kept = project / ".runyard/state/runs" / run_id / "tensorboard"
    entries = list(kept.rglob("*"))
    folders = sorted(p.parent.relative_to(kept).as_posix() for p in entries if "tfevents" in p.name)
    assert folders == ["lightning_logs/version_0", "runs/exp1"]
    assert not any(p.is_symlink() for p in entries)


def _live(project: Path, run_id: str, env: dict[str, str] | None = None) -> str:
    """Wait for the script's "ready" (its first steps flushed, now waiting for `go`),
    then for those steps' points in the store, imported while the run still runs: the
    target brought the event files' bytes back while it ran. Returns the script's
    working directory there."""

    def ready() -> str | None:
        for line in run_logs(project, run_id, env).splitlines():
            if line.startswith("ready "):
                return line.split(" ", 1)[1]
        return None

    cwd = str(until(ready, timeout=900, what="the script's ready line"))
    early = {
        "runs/exp1/loss": [(s, pytest.approx(1.0 / (s + 1))) for s in range(EARLY)],
        "lightning_logs/version_0/train_loss": [(s, s * 0.5) for s in range(EARLY)],
    }
    started = time.monotonic()
    until(lambda: _points(project, run_id, env) == early, timeout=120, what="the early points")
    print(
        f"\n[tensorboard live] early points in the store {time.monotonic() - started:.1f} s "
        "after the script said ready"
    )
    assert helpers.show_run(project, run_id, env)["status"] == "running"  # (waits for go)
    return cwd


def test_a_docker_run_brings_back_event_files_written_anywhere(project: Path, engine: Any) -> None:
    _project(project)
    options = helpers.docker_target_options()
    runyard(project, "target", "add", "dock", "--type", "docker", *options, check=True)
    run_id = helpers.submit_run(
        project, "--target", "dock", "write_tb.py", "/tmp/shared", str(STEPS), "wait",
        timeout=900,
    )  # fmt: skip
    cwd = _live(project, run_id)
    found = engine.containers.list(filters={"label": f"dev.runyard.run={run_id}"})
    assert len(found) == 1, found
    found[0].exec_run(["touch", f"{cwd}/go"])
    show = helpers.wait_run(project, run_id, timeout=900)
    log = run_logs(project, run_id)
    _check_run(project, run_id, show, log)
    print("\n".join(line for line in log.splitlines() if "looks on" in line or "look on" in line))


def test_an_ssh_run_brings_back_event_files_written_anywhere(project: Path, tmp_path: Path) -> None:
    env = helpers.ssh_user(tmp_path / "home")
    shared = tmp_path / "shared"  # on the "remote machine" (this one), outside the run
    _project(project)
    # the remote interpreter is this one, whose uv package the probe finds: tensorboard is
    # installed there with uv (a pip build there: test_env_shared_remote.py)
    helpers.add_ssh_target(
        project, env, tmp_path / "remote" / "runyard", "--python", sys.executable
    )
    run_id = helpers.submit_run(
        project, "--target", "vm", "write_tb.py", str(shared), str(STEPS), "wait", env=env,
        timeout=900,
    )  # fmt: skip
    cwd = _live(project, run_id, env)
    Path(cwd, "go").touch()  # (the SSH host is this machine)
    show = helpers.wait_run(project, run_id, env, timeout=900)
    log = run_logs(project, run_id, env)
    _check_run(project, run_id, show, log)
    print("\n".join(line for line in log.splitlines() if "looks on" in line or "look on" in line))
    # what the links led to is untouched there: the two files the script wrote
    assert len(list(shared.rglob("*tfevents*"))) == 2


def test_a_ray_run_brings_back_event_files_written_anywhere_while_it_runs(
    project: Path,
    tmp_path: Path,
    cluster: str,  # noqa: F811 (the fixture imported above)
) -> None:
    """The job's wrapper sends what the event files gained on the job's log while the
    script runs: the first steps are in the store while it waits for `go` (in the
    wrapper's copy of the working dir, on this machine), and after the end each step
    is there once (the outputs' zip brings no second copy)."""
    shared = tmp_path / "shared"  # on the cluster's machine (this one), outside the run
    _project(project)
    (project / ".runyard/targets/ray.yml").write_text(f"type: ray\naddress: {cluster}\n")
    commit_all(project, "ray target")
    run_id = helpers.submit_run(
        project, "--target", "ray", "write_tb.py", str(shared), str(STEPS), "wait",
        timeout=900,
    )  # fmt: skip
    cwd = _live(project, run_id)
    Path(cwd, "go").touch()  # (the cluster's only node is this machine)
    show = helpers.wait_run(project, run_id, timeout=900)
    log = run_logs(project, run_id)
    _check_run(project, run_id, show, log)
    assert "copied back through the job's log while it ran" in log, log
    print("\n".join(line for line in log.splitlines() if "through the job's log" in line))
    assert len(list(shared.rglob("*tfevents*"))) == 2


# ---- the rules, driven directly ------------------------------------------------------


def _context(tmp_path: Path, lines: list[str], tensorboard_dir: str | None = None) -> RunContext:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    options = {"tensorboard_dir": tensorboard_dir} if tensorboard_dir else {}
    return RunContext(
        run_id="r1",
        project_root=tmp_path,
        run_dir=tmp_path,
        workdir=work,
        outputs="outputs",
        options=options,
        env={},
        log=lines.append,
        log_fd=-1,
        envs_dir=tmp_path / "envs",
    )


def _entry(name: str, data: bytes) -> tuple[tarfile.TarFile, tarfile.TarInfo]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    tar = tarfile.open(fileobj=buf)  # noqa: SIM115 - the caller reads from it
    member = tar.next()
    assert member is not None
    return tar, member


def test_which_event_files_come_back_and_the_size_cap(tmp_path: Path) -> None:
    lines: list[str] = []
    ctx = _context(tmp_path, lines)
    (ctx.workdir / "notes").mkdir()
    (ctx.workdir / "notes" / "events.out.tfevents.1.old").write_bytes(b"snapshot's")
    outside = tmp_path / "outside"
    outside.mkdir()
    (ctx.workdir / "linked").symlink_to(outside, target_is_directory=True)
    back = common.EventFilesBack(ctx, limit_bytes=100)
    assert back.enabled
    assert back.wanted("runs/exp1/events.out.tfevents.1.a")
    for rel in (
        "notes/events.out.tfevents.1.old",  # the snapshot's
        "logs/train/events.out.tfevents.1.a",  # brought back whole
        "outputs/tb/events.out.tfevents.1.a",  # brought back whole
        ".venv/lib/events.out.tfevents.1.a",  # pruned
        "runs/exp1/model.pt",  # not an event file
        "../events.out.tfevents.1.a",
    ):
        assert not back.wanted(rel), rel
    assert lines == []
    assert not back.wanted("linked/events.out.tfevents.1.a")  # a link on the way here
    assert lines == [
        "could not copy the TensorBoard event file linked/events.out.tfevents.1.a back: "
        "linked is a link in the working copy"
    ]
    lines.clear()

    assert not back.admit("runs/x/events.out.tfevents.1.l", 0, "/etc/passwd")
    assert lines == [
        "runs/x/events.out.tfevents.1.l is a link (to /etc/passwd): not followed, not "
        "imported and not kept with the run"
    ]
    lines.clear()
    assert back.admit("runs/a/events.out.tfevents.1.a", 60)
    assert not back.admit("runs/b/events.out.tfevents.1.b", 60)  # past the cap
    assert back.admit("runs/c/events.out.tfevents.1.c", 40)
    tar, member = _entry("events.out.tfevents.1.a", b"x" * 60)
    assert back.write("runs/a/events.out.tfevents.1.a", tar, member)
    assert (ctx.workdir / "runs/a/events.out.tfevents.1.a").read_bytes() == b"x" * 60
    tar, member = _entry("events.out.tfevents.1.c", b"y" * 41)  # grew since it was listed
    assert not back.write("runs/c/events.out.tfevents.1.c", tar, member)
    assert not (ctx.workdir / "runs/c").exists()
    back.done()
    assert lines == [
        "the TensorBoard event file runs/c/events.out.tfevents.1.c was not copied back: "
        "it grew past its size",
        "1 TensorBoard event file not copied back (runs/b/events.out.tfevents.1.b): at most "
        "100 bytes of event files come back from outside logs/ and the outputs; write "
        "them into logs/ (brought back whole) to have them imported",
    ]
    assert not os.listdir(outside)  # nothing written through the link


def test_an_environment_without_a_writer_of_event_files_is_known() -> None:
    for writer in ("tensorboard", "tensorboardx", "tensorflow-cpu", "tf-nightly", "mxboard"):
        assert common.may_write_event_files(["numpy", writer]), writer
    assert not common.may_write_event_files(["numpy", "torch", "scikit-learn", "tbparse"])


def test_a_job_that_names_its_folder_brings_back_only_that(tmp_path: Path) -> None:
    lines: list[str] = []
    back = common.EventFilesBack(_context(tmp_path, lines, "tb"))
    assert not back.enabled and not back.wanted("runs/exp1/events.out.tfevents.1.a")
    assert common.EventFilesBack(_context(tmp_path, lines, "./logs/")).enabled


def test_event_files_followed_while_a_run_runs_come_back_by_what_they_gained(
    tmp_path: Path,
) -> None:
    """`common.LiveEventFiles` with the real scanner (`remote/tbfiles.py`, run as a
    program on a folder standing for the run's machine): only the bytes a file gained
    come back, appended; links are never read; the cap holds; a supervisor taking over
    goes on appending; a file rewritten from its start is no longer followed."""
    import contextlib
    import subprocess
    import sys
    from collections.abc import Iterator

    from runyard.targets import remote as remote_programs

    there = tmp_path / "there"
    (there / "runs/a").mkdir(parents=True)
    scanner = tmp_path / "tbfiles.py"
    scanner.write_text(remote_programs.source("tbfiles"))
    calls: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def look(conf: dict[str, object]) -> Iterator[io.BytesIO]:
        calls.append(dict(conf))
        done = subprocess.run(
            [sys.executable, str(scanner), str(there), json.dumps(conf)],
            capture_output=True,
            check=True,
        )
        yield io.BytesIO(done.stdout)

    lines: list[str] = []
    ctx = _context(tmp_path, lines)
    name = "runs/a/events.out.tfevents.1.a"
    here = ctx.workdir / name
    (there / name).write_bytes(b"abc")
    live = common.LiveEventFiles(common.EventFilesBack(ctx, limit_bytes=10), look, "there")
    assert live.round() == 3 and here.read_bytes() == b"abc"
    with (there / name).open("ab") as f:
        f.write(b"def")
    assert live.round() == 3 and here.read_bytes() == b"abcdef"
    assert calls[-1]["follow"] == [[name, 3]]  # (asked for what it gained only)
    assert live.round() == 0 and lines == []

    (there / "runs/b").mkdir()
    (there / "runs/b/events.out.tfevents.1.b").write_bytes(b"x" * 8)  # past the cap of 10
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    (there / "runs/a/events.out.tfevents.1.l").symlink_to(secret)
    assert live.round() == 0
    assert not (ctx.workdir / "runs/b").exists()
    assert not (ctx.workdir / "runs/a/events.out.tfevents.1.l").exists()
    assert lines == [
        f"runs/a/events.out.tfevents.1.l is a link (to {secret}): not followed, not imported "
        "and not kept with the run"
    ]
    lines.clear()
    live.round()
    assert lines == []  # (said once)

    # a new supervisor: the file here is its copy, still followed from where it is
    with (there / name).open("ab") as f:
        f.write(b"gh")
    taken = common.LiveEventFiles(common.EventFilesBack(ctx, limit_bytes=10), look, "there")
    assert taken.back.following == {name: 6}
    assert taken.round() == 2 and here.read_bytes() == b"abcdefgh"
    assert [line.split(" is a link")[0] for line in lines] == ["runs/a/events.out.tfevents.1.l"]
    lines.clear()  # (the new supervisor says the link once too)

    # a folder on the way swapped for a link: nothing is read through it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "events.out.tfevents.1.a").write_bytes(b"abcdefghSECRET")
    (there / "runs/a").rename(tmp_path / "a-moved")
    (there / "runs/a").symlink_to(elsewhere, target_is_directory=True)
    assert taken.round() == 0 and here.read_bytes() == b"abcdefgh"
    (there / "runs/a").unlink()
    (tmp_path / "a-moved").rename(there / "runs/a")

    (there / name).write_bytes(b"z")  # rewritten from its start
    assert taken.round() == 0 and here.read_bytes() == b"abcdefgh"
    assert lines == [
        f"the TensorBoard event file {name} is no longer copied back: it is shorter than "
        "the 8 bytes that came back (rewritten?)"
    ]
    lines.clear()
    taken.finish(final=True)
    taken.back.done()
    assert lines == [
        "1 TensorBoard event file not copied back (runs/b/events.out.tfevents.1.b): at most "
        "10 bytes of event files come back from outside logs/ and the outputs; write them "
        "into logs/ (brought back whole) to have them imported"
    ]


def test_a_failing_look_is_said_once_and_three_end_the_live_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look that fails while the run runs is said once, three in a row end the live copy
    (the files still come back at the end); one that fails because the run just ended
    is not said at all."""
    import contextlib
    from collections.abc import Iterator

    monkeypatch.setattr(common, "EVENT_FILES_POLL_SECONDS", 0.01)

    @contextlib.contextmanager
    def broken(conf: dict[str, object]) -> Iterator[io.BytesIO]:
        raise ConnectionError("engine gone")
        yield io.BytesIO()  # (never reached)

    lines: list[str] = []
    ctx = _context(tmp_path, lines)
    live = common.LiveEventFiles(common.EventFilesBack(ctx), broken, "there").start()
    assert live.thread is not None
    live.thread.join(timeout=30)
    assert lines == [
        "could not look for TensorBoard event files on there while the run runs "
        "(ConnectionError: engine gone); trying again",
        "TensorBoard event files are not copied back while the run runs: they come back "
        "when it ends",
    ]
    lines.clear()
    ended = common.LiveEventFiles(
        common.EventFilesBack(ctx), broken, "there", running=lambda: False
    ).start()
    assert ended.thread is not None
    ended.thread.join(timeout=30)
    assert lines == []


def _events_line(rel: str, offset: int, data: bytes | None) -> str:
    text = None if data is None else base64.b64encode(data).decode()
    return ray.EVENTS_MARK.decode() + json.dumps([rel, offset, text]) + "\n"


def test_event_file_bytes_on_a_ray_jobs_log_land_once_at_their_offsets(tmp_path: Path) -> None:
    """The follower of a Ray job's log (`ray.JobLog`) appends the lines of event file
    bytes to the files' copies here, by `EventFilesBack`'s rules: never out of the
    working copy nor through a link, once only when the log is read again from its start
    (a supervisor taking over without its cursor), a rewritten file no longer followed;
    the list in the outputs' zip then writes nothing twice and names what the limit
    kept back and the links."""
    lines: list[str] = []
    ctx = _context(tmp_path, lines)
    outside = tmp_path / "outside"
    outside.mkdir()
    (ctx.workdir / "linked").symlink_to(outside, target_is_directory=True)
    name = "runs/a/events.out.tfevents.1.a"
    data = bytes(range(256)) * 3
    text = (
        "epoch 1\n"
        + _events_line(name, 0, data[:300])
        + _events_line(name, 300, data[300:])
        + _events_line("../escape/events.out.tfevents.1.e", 0, b"out")
        + _events_line("linked/events.out.tfevents.1.l", 0, b"through")
        + _events_line("runs/b/events.out.tfevents.1.b", 0, b"abc")
        + _events_line("runs/b/events.out.tfevents.1.b", 3, None)  # rewritten there
        + "epoch 2\n"
    )
    log = ray.JobLog(ctx)
    log.feed(text)
    assert (ctx.workdir / name).read_bytes() == data
    assert (ctx.workdir / "runs/b/events.out.tfevents.1.b").read_bytes() == b"abc"
    assert not (tmp_path / "escape").exists() and not os.listdir(outside)
    assert lines == [
        "could not copy the TensorBoard event file linked/events.out.tfevents.1.l back: "
        "linked is a link in the working copy",
        "the TensorBoard event file runs/b/events.out.tfevents.1.b is no longer copied "
        "back: it is shorter than the 3 bytes that came back (rewritten?)",
    ]
    assert log.events_moved == len(data) + 3
    lines.clear()

    # read again from its start by a new follower: nothing is appended twice
    (tmp_path / ray.CURSOR_FILE).unlink()
    again = ray.JobLog(ctx)
    assert again.offset == 0
    again.feed(text + _events_line(name, len(data), b"more"), final=True)
    assert (ctx.workdir / name).read_bytes() == data + b"more"
    assert again.events_moved == 4
    assert [line.split(" back: ")[0] for line in lines] == [
        "could not copy the TensorBoard event file linked/events.out.tfevents.1.l"
    ]  # (the new follower says the link once too)
    lines.clear()

    # the end: the list in the outputs' zip
    listed = [
        [name, len(data) + 4, None, True],
        ["runs/b/events.out.tfevents.1.b", 1, None, True],
        ["runs/c/events.out.tfevents.1.c", 999, None, False],  # the limit kept it back
        ["runs/d/events.out.tfevents.1.l", 0, "/etc/passwd", False],
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(ray.EVENTS_LIST, json.dumps(listed))
    ray._event_files_back(buf.getvalue(), again.events)
    assert (ctx.workdir / name).read_bytes() == data + b"more"
    assert not (ctx.workdir / "runs/c").exists() and not (ctx.workdir / "runs/d").exists()
    assert lines == [
        "runs/d/events.out.tfevents.1.l is a link (to /etc/passwd): not followed, not "
        "imported and not kept with the run",
        "1 TensorBoard event file not copied back (runs/c/events.out.tfevents.1.c): at most "
        "256 MiB of event files come back from outside logs/ and the outputs; write them "
        "into logs/ (brought back whole) to have them imported",
    ]
