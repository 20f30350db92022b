"""Bad input gets a clear error naming the file, line or field, never a traceback,
and nothing already recorded is lost."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IN_CI, runyard

pytestmark = pytest.mark.integration


def _clean_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.stderr.startswith("runyard: error:")
    return proc.stderr


def test_not_a_project(tmp_path: Path) -> None:
    err = _clean_error(runyard(tmp_path, "runs", "list"))
    assert "runyard init" in err


def test_missing_script_and_script_outside_project(project: Path, tmp_path: Path) -> None:
    err = _clean_error(runyard(project, "submit", "nope.py"))
    assert "nope.py" in err and "does not exist" in err
    outside = tmp_path / "outside.py"
    outside.write_text("print(1)\n")
    err = _clean_error(runyard(project, "submit", str(outside)))
    assert "outside the project" in err
    err = _clean_error(runyard(project, "submit", "../outside.py"))
    assert "outside the project" in err
    err = _clean_error(runyard(project, "submit"))
    assert "Nothing to run" in err
    # nothing was recorded for refused submissions
    assert json.loads(runyard(project, "runs", "list", "--json").stdout) == []


def test_unknown_target_and_job(project: Path) -> None:
    (project / "t.py").write_text("print(1)\n")
    err = _clean_error(runyard(project, "submit", "--target", "gpu-box", "t.py"))
    assert "gpu-box" in err and "local" in err  # names the ones that exist
    err = _clean_error(runyard(project, "submit", "--job", "nightly"))
    assert "nightly" in err


def test_malformed_and_schema_violating_target_files(project: Path) -> None:
    (project / "t.py").write_text("print(1)\n")
    bad = project / ".runyard/targets/broken.yml"
    bad.write_text("type: local\npython: [unclosed\n")
    err = _clean_error(runyard(project, "submit", "--target", "broken", "t.py"))
    assert ".runyard/targets/broken.yml:" in err
    bad.write_text("type: local\npythn: /usr/bin/python3\n")
    err = _clean_error(runyard(project, "submit", "--target", "broken", "t.py"))
    assert ".runyard/targets/broken.yml:2:1" in err and "pythn" in err and "python" in err
    bad.write_text("type: local\ncancel_grace_seconds: soon\n")
    err = _clean_error(runyard(project, "submit", "--target", "broken", "t.py"))
    assert ".runyard/targets/broken.yml:2:" in err and "cancel_grace_seconds" in err
    # the listing reports the bad file and still shows the good one
    listing = runyard(project, "target", "list")
    assert listing.returncode == 1
    assert "local" in listing.stdout and "broken.yml" in listing.stderr
    assert "Traceback" not in listing.stderr


def test_bad_job_file_names_line_and_field(project: Path) -> None:
    (project / "t.py").write_text("print(1)\n")
    (project / ".runyard/jobs/j.yml").write_text("script: t.py\nargs:\n  - --epochs\n  - 5\n")
    err = _clean_error(runyard(project, "submit", "--job", "j"))
    assert ".runyard/jobs/j.yml:4:" in err and "args" in err


def test_non_utf8_target_file(project: Path) -> None:
    (project / "t.py").write_text("print(1)\n")
    (project / ".runyard/targets/latin.yml").write_bytes(b"type: local\ndescription: caf\xe9\n")
    err = _clean_error(runyard(project, "submit", "--target", "latin", "t.py"))
    assert "latin.yml" in err and "UTF-8" in err


def test_bad_run_id_and_bad_options(project: Path) -> None:
    err = _clean_error(runyard(project, "runs", "show", "does-not-exist"))
    assert "does-not-exist" in err
    err = _clean_error(runyard(project, "runs", "list", "--status", "sleeping"))
    assert "completed" in err


@contextlib.contextmanager
def _mounted(args: list[str], where: Path) -> Iterator[None]:
    proc = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        if IN_CI:
            pytest.fail(f"mount is needed for this test in CI: {proc.stderr}")
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_read_only_state_gives_clear_error_and_keeps_runs(project: Path) -> None:
    (project / "t.py").write_text("import runyard\nrunyard.log_metric('m', 3)\n")
    first = runyard(project, "submit", "t.py")
    assert first.returncode == 0
    state = project / ".runyard/state"
    with _mounted(["--bind", str(state)], state):
        subprocess.run(["mount", "-o", "remount,bind,ro", str(state)], check=True)
        proc = runyard(project, "submit", "t.py")
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        assert "read-only" in proc.stderr or "not writable" in proc.stderr
    runs = json.loads(runyard(project, "runs", "list", "--json").stdout)
    assert len(runs) == 1 and runs[0]["metrics"] == {"m": 3}


def test_full_state_disk_fails_clearly_and_keeps_what_was_recorded(project: Path) -> None:
    (project / "t.py").write_text("import runyard\nrunyard.log_metric('m', 1)\nprint('ok')\n")
    state = project / ".runyard/state"
    state.mkdir(parents=True, exist_ok=True)
    # a tiny file system: room for the store and a run or two, not for 4 MB of output
    with _mounted(["-t", "tmpfs", "-o", "size=3m", "tmpfs"], state):
        ok = runyard(project, "submit", "t.py")
        assert ok.returncode == 0, ok.stderr
        (project / "big.py").write_text(
            "import sys\nfor _ in range(64):\n    sys.stdout.write('y' * 65536 + '\\n')\n"
        )
        proc = runyard(project, "submit", "big.py")
        assert "Traceback" not in proc.stderr
        after = runyard(project, "runs", "list", "--json")
        assert after.returncode == 0, after.stderr
        runs = {r["id"]: r for r in json.loads(after.stdout)}
        first = ok.stdout.splitlines()[0]
        assert runs[first]["status"] == "completed" and runs[first]["metrics"] == {"m": 1}
        if proc.returncode == 0:  # if the output fit after all, it must all be there
            pytest.fail("expected the 4 MB of output not to fit in a 3 MB file system")


def test_snapshot_failure_fails_the_run_and_its_supervisor_stands_down(project: Path) -> None:
    (project / "t.py").write_text("print('never runs')\n")
    (project / ".git/index").write_bytes(b"DIRC garbage, not an index")
    proc = runyard(project, "submit", "t.py")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "runyard: error:" in proc.stderr
    runs = json.loads(runyard(project, "runs", "list", "--json").stdout)
    assert len(runs) == 1 and runs[0]["status"] == "failed"
    assert "snapshot" in runs[0]["reason"].lower() or "index" in runs[0]["reason"].lower()
    run_dir = project / ".runyard/state/runs" / runs[0]["id"]
    log = (run_dir / "run.log").read_bytes() if (run_dir / "run.log").exists() else b""
    assert b"never runs" not in log
    # the supervisor that was readying itself exits: the lock is free, the status stays
    import fcntl
    import time

    deadline = time.monotonic() + 30
    while True:
        with (run_dir / "supervisor.lock").open("rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "supervisor did not exit"
                time.sleep(0.1)
    again = json.loads(runyard(project, "runs", "list", "--json").stdout)
    assert again[0]["status"] == "failed"
