"""The packaged extension (.vsix) as a user installs it: unpacked, its bundled libraries
import on a bare interpreter (no site-packages), hold nothing compiled and keep their
metadata, and its bundled server answers over real LSP and runs a script whose own
environment does not see the server's libraries.

The vsix is ``RUNYARD_VSIX`` when set (scripts/test.sh builds it once), else built here
with scripts/build-vsix.sh (about a minute)."""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.helpers import git
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPILED = (".so", ".pyd", ".dylib")
# Left out on purpose: paramiko (only Docker over ssh:// needs it; the server says how to
# add it), uv (a platform binary: the bundled server builds environments with pip, as
# core/envs does wherever uv is missing) and optuna (only sweeps use it, from the CLI,
# which says how to install it when it is missing) and psycopg (a platform binary; only
# a team store on PostgreSQL needs it).
NOT_BUNDLED = {"paramiko", "uv", "optuna", "psycopg"}
# The server's modules that must import from the bundle alone, beyond the top-level ones.
SERVER_MODULES = (
    "runyard.lsp.server",
    "runyard.core.config",
    "runyard.runner.supervisor",
    "runyard.targets.local",
    "runyard.targets.docker",
    "runyard.gallery.catalog",
    "runyard.cli.main",
)
# What the vsix may hold, under extension/ (.vscodeignore).
ALLOWED = re.compile(
    r"extension/(package\.json|readme\.md|license(\.md|\.txt)?|extension/media/.+"
    r"|dist/extension\.js|dist/webview/.+|bundled/.+)",
    re.IGNORECASE,
)

LEAK_CHECK = """\
import importlib
import os
import runyard

for name in ("pygls", "attrs", "yaml", "jsonschema"):
    try:
        importlib.import_module(name)
        print(f"{name}: importable", flush=True)
    except ImportError:
        print(f"{name}: not importable", flush=True)
print("RUNYARD_BUNDLED_LIBS:", os.environ.get("RUNYARD_BUNDLED_LIBS", "unset"), flush=True)
print("PYTHONPATH:", os.environ.get("PYTHONPATH", ""), flush=True)
runyard.log_metric("checked", 1.0)
"""


def base_python() -> str:
    """The interpreter the dev venv was made from: its standard library, and with -S
    none of its packages (the venv's are never on its path)."""
    return getattr(sys, "_base_executable", None) or sys.executable


@pytest.fixture(scope="session")
def vsix() -> Path:
    given = os.environ.get("RUNYARD_VSIX")
    if given:
        assert Path(given).is_file(), f"RUNYARD_VSIX={given} does not exist"
        return Path(given)
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-vsix.sh")],
        cwd=REPO,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=900,
    )
    version = json.loads((REPO / "package.json").read_text())["version"]
    built = REPO / f"runyard-{version}.vsix"
    if proc.returncode != 0 or not built.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        pytest.fail(f"scripts/build-vsix.sh failed (exit {proc.returncode}):\n{tail}")
    return built


@pytest.fixture(scope="session")
def unpacked(vsix: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vsix's extension/ folder, unpacked as VS Code installs it."""
    root = tmp_path_factory.mktemp("vsix")
    with zipfile.ZipFile(vsix) as z:
        z.extractall(root)
    return root / "extension"


@pytest.fixture(scope="session")
def libs(unpacked: Path) -> Path:
    return unpacked / "bundled" / "libs"


def _top_level_modules(libs: Path) -> list[str]:
    names = []
    for entry in sorted(libs.iterdir()):
        if entry.is_dir() and (entry / "__init__.py").is_file():
            names.append(entry.name)
        elif entry.suffix == ".py":
            names.append(entry.stem)
    return names


def _distributions(libs: Path) -> dict[str, tuple[Version, list[Requirement]]]:
    """name -> (version, requirements) from each *.dist-info/METADATA."""
    found: dict[str, tuple[Version, list[Requirement]]] = {}
    for meta in libs.glob("*.dist-info/METADATA"):
        headers = email.parser.Parser().parsestr(meta.read_text(), headersonly=True)
        requires = [Requirement(r) for r in headers.get_all("Requires-Dist") or []]
        found[canonicalize_name(headers["Name"])] = (Version(headers["Version"]), requires)
    return found


def _pinned() -> set[str]:
    names = {"runyard"}
    for file in ("requirements.txt", "requirements-fallback.txt"):
        for line in (REPO / "extension" / "python" / file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(canonicalize_name(Requirement(line).name))
    return names


# --------------------------------------------------------------------------- the files


def test_vsix_holds_only_what_the_extension_reads(vsix: Path, unpacked: Path) -> None:
    with zipfile.ZipFile(vsix) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
    stray = [
        n
        for n in names
        if n not in ("extension.vsixmanifest", "[Content_Types].xml") and not ALLOWED.fullmatch(n)
    ]
    assert stray == []
    assert not [n for n in names if "/node_modules/" in n or n.startswith("extension/dist/test/")]
    # every file the manifest names is in it: entry point, icons, walkthroughs, schemas
    manifest = (unpacked / "package.json").read_text()
    named = set(re.findall(r'"(?:\./)?((?:dist|bundled|extension)/[^"*]+\.[a-z]+)"', manifest))
    assert "dist/extension.js" in named
    assert any(n.endswith("target.schema.json") for n in named)
    assert [n for n in sorted(named) if not (unpacked / n).is_file()] == []
    assert (unpacked / "bundled" / "runyard_server.py").is_file()
    gallery = {p.name for p in (REPO / "gallery").glob("*.json")}
    assert {p.name for p in (unpacked / "bundled" / "gallery").glob("*.json")} == gallery
    assert (unpacked / "bundled/templates/sklearn-digits/.runyard/targets/local.yml").is_file()


def test_bundle_is_pure_python_with_its_metadata(unpacked: Path, libs: Path) -> None:
    compiled = [str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.suffix in COMPILED]
    assert compiled == []
    assert not (libs / "_yaml").exists() and not (libs / "bin").exists()
    assert list(libs.rglob("__pycache__")) == [] and list(libs.rglob("direct_url.json")) == []
    # every file belongs to a distribution whose RECORD lists it, and the RECORDs are true
    recorded: set[str] = set()
    for record in libs.glob("*.dist-info/RECORD"):
        for line in record.read_text().splitlines():
            rel = line.rsplit(",", 2)[0]
            assert (libs / rel).is_file(), f"{record.parent.name} lists missing {rel}"
            recorded.add(rel)
    files = {str(p.relative_to(libs)) for p in libs.rglob("*") if p.is_file()}
    assert sorted(files - recorded) == []
    # exactly the pinned distributions, and together they satisfy each other's needs
    dists = _distributions(libs)
    assert set(dists) == _pinned()
    unmet = []
    for name, (_, requires) in dists.items():
        for req in requires:
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            have = dists.get(canonicalize_name(req.name))
            if canonicalize_name(req.name) in NOT_BUNDLED and name == "runyard":
                continue
            if have is None or not req.specifier.contains(have[0], prereleases=True):
                unmet.append(f"{name} needs {req}, bundled: {have[0] if have else 'nothing'}")
    assert unmet == []


def test_every_bundled_module_imports_on_a_bare_interpreter(libs: Path) -> None:
    """Each top-level module (and the server's own) in a fresh `python -I -S` that sees
    only the standard library and libs/: nothing comes from the dev venv."""
    names = _top_level_modules(libs)
    assert {"runyard", "pygls", "yaml", "jsonschema", "docker"} <= set(names)
    # snapshots run git as a process: GitPython and its helpers are not bundled
    assert not {"git", "gitdb", "smmap"} & set(names)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
        "m = importlib.import_module(sys.argv[2]); print(m.__file__)"
    )
    procs = {
        name: subprocess.Popen(
            [base_python(), "-I", "-S", "-c", code, str(libs), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in [*names, *SERVER_MODULES]
    }
    failed = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        if proc.returncode != 0 or not Path(out.strip()).is_relative_to(libs):
            failed[name] = (err.strip().splitlines() or [out.strip()])[-1]
    assert failed == {}
    pure = subprocess.run(
        [base_python(), "-I", "-S", "-c", code + "; print(m.__with_libyaml__)", str(libs), "yaml"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert pure.stdout.split()[-1] == "False"


# --------------------------------------------------------------------------- the server


@pytest.fixture
def server_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "RUNYARD_GALLERY_ROOT"):
        env.pop(name, None)
    return env


def test_bootstrap_says_what_is_missing(
    unpacked: Path, tmp_path: Path, server_env: dict[str, str]
) -> None:
    """A bundle that lost a module, or a machine without git: one line, exit status 2."""
    bundled = tmp_path / "bundled"
    shutil.copytree(unpacked / "bundled", bundled)
    shutil.rmtree(bundled / "libs" / "docker")
    lost = subprocess.run(
        [base_python(), "-S", str(bundled / "runyard_server.py")],
        capture_output=True,
        text=True,
        env=server_env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert lost.returncode == 2
    assert lost.stderr.startswith("runyard: the bundled module 'docker' is missing from ")
    no_git = subprocess.run(
        [base_python(), "-S", str(unpacked / "bundled" / "runyard_server.py")],
        capture_output=True,
        text=True,
        env={**server_env, "PATH": str(tmp_path / "empty")},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert no_git.returncode == 2
    assert no_git.stderr.startswith("runyard: Runyard needs the git command"), no_git.stderr
    assert len(no_git.stderr.splitlines()) == 1


@pytest_asyncio.fixture
async def bundled_lsp(
    project: Path, unpacked: Path, server_env: dict[str, str]
) -> AsyncIterator[Session]:
    """The bundled server as the extension starts it, on a bare interpreter (-S: no
    site-packages), in a project made by `runyard init`."""
    server = unpacked / "bundled" / "runyard_server.py"
    session = Session(project, env=server_env, command=[base_python(), "-S", str(server)])
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


async def test_bundled_server_answers_over_lsp(
    bundled_lsp: Session, project: Path, unpacked: Path, tmp_path: Path
) -> None:
    info = await bundled_lsp.request("runyard/server/info", {})
    assert info["projects"] == [{"root": str(project), "defaultTarget": "local", "store": None}]
    # a target file with a schema error: jsonschema and PyYAML from the bundle
    targets = project / ".runyard" / "targets"
    (targets / "broken.yml").write_text("type: local\ncancel_grace_seconds: soon\n")
    listed = await bundled_lsp.request("runyard/targets/list", {})
    assert [(t["name"], t["type"]) for t in listed["targets"]] == [("local", "local")]
    assert listed["default"] == "local"
    [problem] = listed["problems"]
    assert problem["file"].endswith("broken.yml") and problem["line"] == 2
    assert "cancel_grace_seconds" in problem["message"] and "a number" in problem["message"]
    # Docker over ssh:// without paramiko: a clear check, not an ImportError
    (targets / "broken.yml").unlink()
    (targets / "remote.yml").write_text(
        "type: docker\naddress: ssh://someone@127.0.0.1:9\nbase_image: python:3.11-slim\n"
    )
    tested = await bundled_lsp.request("runyard/targets/test", {"name": "remote"})
    engine = next(c for c in tested["checks"] if c["name"] == "engine")
    assert not engine["ok"] and "paramiko" in engine["detail"]
    assert f"{base_python()} -m pip install paramiko" in engine["fix"]
    # the gallery from the bundle's own copy, and a project scaffolded from its templates
    gallery = await bundled_lsp.request("runyard/gallery/list", {})
    assert gallery["problems"] == []
    ids = {e["id"] for e in gallery["entries"]}
    assert ids == {p.stem for p in (REPO / "gallery").glob("*.json")}
    assert all(Path(e["image"]).is_relative_to(unpacked / "bundled") for e in gallery["entries"])
    made = await bundled_lsp.request(
        "runyard/gallery/create", {"id": "sklearn-digits", "folder": str(tmp_path / "digits")}
    )
    assert made["committed"] is True
    assert (tmp_path / "digits" / ".runyard" / "targets" / "local.yml").is_file()


async def test_bundled_server_runs_keep_its_libraries_out(
    bundled_lsp: Session, project: Path, libs: Path
) -> None:
    (project / "check.py").write_text(LEAK_CHECK)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "check")
    run = await bundled_lsp.request("runyard/runs/submit", {"script": "check.py"})
    done = await bundled_lsp.wait_status(run["id"], "completed", timeout=120)
    assert done["exitCode"] == 0
    log = bundled_lsp.log_text(run["id"])
    for name in ("pygls", "attrs", "yaml", "jsonschema"):
        assert f"{name}: not importable" in log, log
    assert "RUNYARD_BUNDLED_LIBS: unset" in log, log
    pythonpath = next(line for line in log.splitlines() if line.startswith("PYTHONPATH:"))
    assert str(libs) not in pythonpath
    # the tracking client still reaches the run: `import runyard` is its own copy
    await bundled_lsp.wait_push("runyard/metrics/points", lambda p: p["runId"] == run["id"])
    assert bundled_lsp.metric_values(run["id"], "checked") == [1.0]
