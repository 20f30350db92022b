"""A run's tracking shim (`runs._write_tracking_shim`) comes from a template compiled
once per Runyard and Python version, so the run's interpreter reads `sitecustomize` and
`runyard` from bytecode rather than compiling them as the script starts; the files are
exactly the plain shim's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runyard.runner import runs


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _bytecode(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("__pycache__/*.pyc")}


def test_each_run_gets_the_plain_shim_s_files_with_bytecode_its_interpreter_uses_as_is(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    plain = tmp_path / "plain-lib"
    runs._build_tracking_shim(plain)
    for run_id in ("r1", "r2"):
        (state / "runs" / run_id).mkdir(parents=True)
        runs._write_tracking_shim(state / "runs" / run_id)
    [template] = [p for p in (state / runs.SHIM_DIR).iterdir()]
    for run_id in ("r1", "r2"):
        lib = state / "runs" / run_id / "lib"
        assert _files(lib) == _files(plain)
        assert not (lib / runs.SHIM_DONE).exists()
        compiled = _bytecode(lib)
        tag = sys.implementation.cache_tag
        assert str(lib / "__pycache__" / f"sitecustomize.{tag}.pyc") in compiled
        assert str(lib / "runyard" / "tracking" / "__pycache__" / f"client.{tag}.pyc") in compiled
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = str(lib)
        code = "import sitecustomize, runyard, runyard.tracking.client, runyard_notebook_runner"
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=tmp_path)
        assert _bytecode(lib) == compiled  # valid as copied: none written again
    assert template.is_dir()


def test_a_changed_runyard_gets_a_new_template_and_the_old_one_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    first = runs._shim_template(state)
    assert first is not None
    copy = tmp_path / "site_hook.py"
    sources = []
    for path, rel in runs._shim_sources():
        if rel == "sitecustomize.py":
            copy.write_bytes(path.read_bytes() + b"\n# changed\n")
            path = copy
        sources.append((path, rel))
    monkeypatch.setattr(runs, "_shim_sources", lambda: sources)
    second = runs._shim_template(state)
    assert second is not None and second != first
    assert (second / "sitecustomize.py").read_bytes().endswith(b"# changed\n")
    assert not first.exists()
