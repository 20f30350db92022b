"""The lock an environment Runyard built keeps of itself (`envs.LOCK_CACHE`): local runs
record it instead of starting the environment's interpreter to list it again, and only
while it still tells what the environment holds; a stale, corrupted or missing one is
read again from the environment and written anew, never trusted."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from runyard.core import envs
from runyard.core.store import RunLock, Store
from tests.helpers import git, submit_run, wait_run

pytestmark = pytest.mark.integration

SCRIPT = "import six\nprint('six', six.__version__, flush=True)\n"


def _run(project: Path) -> tuple[str, RunLock]:
    """A completed run of uses_six.py, and the lock it recorded."""
    run_id = submit_run(project, "uses_six.py")
    done = wait_run(project, run_id)
    assert done["status"] == "completed", done
    with Store(project / ".runyard/state/runyard.db", read_only=True) as store:
        lock = store.run_lock(run_id)
    assert lock is not None, f"no lock recorded for {run_id}"
    return str(done["env_hash"]), lock


def _environment(project: Path, env_hash: str) -> Path:
    """The folder of the environment a run used (an alias resolved)."""
    return (project / ".runyard/state/envs" / env_hash).resolve()


def _site_packages(prefix: Path) -> Path:
    out = subprocess.run(
        [str(prefix / "bin" / "python"), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return Path(out)


def _what_it_holds(prefix: Path) -> dict[str, str]:
    """The environment's distributions, as its own interpreter lists them now."""
    return dict(envs.read_lock(prefix / "bin" / "python", None).packages)


def test_runs_record_the_lock_the_environment_keeps_and_it_is_read_again_when_it_no_longer_holds(
    project: Path,
) -> None:
    (project / "requirements.txt").write_text("six==1.16.0\n")
    (project / "uses_six.py").write_text(SCRIPT)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "six")

    # the first run lists the environment and keeps what it found there
    env_hash, first = _run(project)
    prefix = _environment(project, env_hash)
    kept = prefix / envs.LOCK_CACHE
    assert kept.is_file()
    doc = json.loads(kept.read_text())
    assert dict(map(tuple, doc["packages"])) == first.packages == _what_it_holds(prefix)
    assert first.packages["six"] == "1.16.0" and first.host is not None

    # while the folders it names are unchanged, the kept lock is what a run records
    # (a package written into the file only, not into the environment, shows it was used)
    doc["packages"].append(["only-in-the-kept-lock", "1.0"])
    kept.write_text(json.dumps(doc))
    _, second = _run(project)
    assert second.packages == {**first.packages, "only-in-the-kept-lock": "1.0"}
    assert second.host == first.host and second.python == first.python

    # a distribution installed into the environment changes its folder: the kept lock no
    # longer holds, and the run records what the environment holds, kept anew
    site = _site_packages(prefix)
    info = site / "canary_pkg-2.5.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: canary-pkg\nVersion: 2.5\n")
    _, third = _run(project)
    assert third.packages == {**first.packages, "canary-pkg": "2.5"} == _what_it_holds(prefix)
    assert dict(map(tuple, json.loads(kept.read_text())["packages"])) == third.packages

    # a corrupted kept lock is not trusted: read again and rewritten
    kept.write_text('{"format": 1, "packages": [["six", "0.0')
    _, fourth = _run(project)
    assert fourth.packages == third.packages
    assert dict(map(tuple, json.loads(kept.read_text())["packages"])) == third.packages

    # nor is one written for another installer; a missing one is written again
    doc = json.loads(kept.read_text())
    kept.write_text(json.dumps({**doc, "installer": "pip", "packages": [["six", "0.1"]]}))
    _, fifth = _run(project)
    assert fifth.packages == third.packages and fifth.installer == "uv"
    os.unlink(kept)
    _, sixth = _run(project)
    assert sixth.packages == third.packages
    assert dict(map(tuple, json.loads(kept.read_text())["packages"])) == third.packages
