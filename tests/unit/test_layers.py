"""The layer contracts of pyproject.toml ([tool.importlinter]) catch a forbidden import.

`scripts/lint.sh` runs `lint-imports` on the tree; here it runs on a copy of the package,
once untouched (every contract kept) and once with a deliberate `import runyard.lsp`
added to a CLI module (the cli/lsp independence contract broken, named in the output).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _copy(tmp_path: Path) -> Path:
    """server/runyard and pyproject.toml copied under `tmp_path`; returns the copy's root."""
    shutil.copytree(
        ROOT / "server" / "runyard",
        tmp_path / "server" / "runyard",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(copy: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(copy / "server"),
        "COLUMNS": "400",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    return subprocess.run(
        [str(LINT_IMPORTS), str(copy / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layer_contracts_name_every_layer_rule() -> None:
    by_source = {tuple(c.get("source_modules", ())): c for c in _contracts()}
    assert "runyard.lsp" in by_source[("runyard.tracking",)]["forbidden_modules"]
    assert "runyard.targets" in by_source[("runyard.core",)]["forbidden_modules"]
    assert "runyard.runner" in by_source[("runyard.targets",)]["forbidden_modules"]
    assert "runyard.cli" in by_source[("runyard.runner",)]["forbidden_modules"]
    assert any(
        c["type"] == "independence" and set(c["modules"]) == {"runyard.cli", "runyard.lsp"}
        for c in _contracts()
    )


def test_the_untouched_package_keeps_every_layer_contract(tmp_path: Path) -> None:
    proc = _lint_imports(_copy(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_a_cli_module_that_imports_the_language_server_fails_the_lint(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    module = copy / "server" / "runyard" / "cli" / "output.py"
    module.write_text(module.read_text() + "\nimport runyard.lsp  # deliberate: breaks a layer\n")
    proc = _lint_imports(copy)
    independence = next(c["name"] for c in _contracts() if c["type"] == "independence")
    assert proc.returncode != 0, proc.stdout
    assert f"{independence} BROKEN" in proc.stdout, proc.stdout
    assert "runyard.cli.output -> runyard.lsp" in proc.stdout, proc.stdout
