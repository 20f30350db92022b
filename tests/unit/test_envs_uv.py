"""Environments with uv or pip, without building one (tests/integration/test_env_lock.py
builds them for real): pip's sources said to uv, the cache keys of the two installers,
a failed install's message, the lock document and the store's run locks."""

from __future__ import annotations

import ast
import hashlib
import sqlite3
import sys
from pathlib import Path

import pytest

from runyard.core import envs, pip_sources
from runyard.core.errors import UsageError
from runyard.core.store import SCHEMA_VERSION, Run, Store
from runyard.core.store.schema import MIGRATIONS
from runyard.targets.remote import PROGRAMS, source

SPEC = envs.DependencySpec("requirements", "requirements.txt", (), b"six\n")


@pytest.fixture(autouse=True)
def _no_system_pip_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's own /etc/pip.conf stays out of what the tests read."""
    monkeypatch.setattr(pip_sources, "SYSTEM_FILE", str(tmp_path / "etc" / "pip.conf"))


def _environ(tmp_path: Path, **variables: str) -> dict[str, str]:
    """An environment whose pip configuration files all lie under `tmp_path`."""
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_DIRS": str(tmp_path / "etc-xdg"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        **variables,
    }


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_pip_sources_read_files_in_pips_order_and_variables_win(tmp_path: Path) -> None:
    _write(
        tmp_path / "etc-xdg/pip/pip.conf",
        "[global]\nindex-url = https://site.example/simple\nfind-links = /wheels\n",
    )
    _write(
        tmp_path / "home/.config/pip/pip.conf",
        "[global]\nextra_index_url =\n  https://a.example/simple\n  https://b.example/simple\n"
        "[install]\nconstraint = /c.txt\ntrusted-host = a.example\n",
    )
    env = _environ(tmp_path, PIP_INDEX_URL="https://variable.example/simple", PIP_CERT="/ca.pem")
    args, uv_env = pip_sources.uv_install_options(None, env)
    assert uv_env == {
        "UV_INDEX_URL": "https://variable.example/simple",
        "UV_EXTRA_INDEX_URL": "https://a.example/simple https://b.example/simple",
        "SSL_CERT_FILE": "/ca.pem",
    }
    assert args == [
        "--no-config",
        "--index-strategy",
        "unsafe-best-match",  # pip looks in every index at once
        "--find-links",
        "/wheels",
        "--constraints",
        "/c.txt",
        "--allow-insecure-host",
        "a.example",
    ]
    # the target's own index wins over pip's, as PIP_INDEX_URL does for pip
    _args, uv_env = pip_sources.uv_install_options("https://target.example/simple", env)
    assert uv_env["UV_INDEX_URL"] == "https://target.example/simple"


def test_pip_config_file_variable_replaces_the_users_files_and_devnull_turns_all_off(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "home/.pip/pip.conf", "[global]\nindex-url = https://user.example/s\n")
    chosen = _write(tmp_path / "chosen.conf", "[global]\nno-index = yes\n")
    settings = pip_sources.read_settings(_environ(tmp_path, PIP_CONFIG_FILE=str(chosen)))
    assert settings == {"no-index": "yes"}
    args, _env = pip_sources.uv_install_options(
        None, _environ(tmp_path, PIP_CONFIG_FILE=str(chosen))
    )
    assert "--no-index" in args
    assert pip_sources.read_settings(_environ(tmp_path)) == {"index-url": "https://user.example/s"}
    assert pip_sources.config_files(_environ(tmp_path, PIP_CONFIG_FILE="/dev/null")) == []


def test_a_uv_built_environment_has_a_key_of_its_own_and_pip_keys_are_unchanged() -> None:
    python = "/usr/bin/python3"
    pip_key = envs.env_hash(SPEC, python, None, False)
    # the key environments built before uv had: the same parts, nothing added
    h = hashlib.sha256()
    for part in ("1", "requirements", python, sys.version, "", "isolated"):
        h.update(part.encode() + b"\0")
    h.update(SPEC.content)
    assert pip_key == h.hexdigest()[:16] == envs.env_hash(SPEC, python, None, False, "pip")
    assert envs.env_hash(SPEC, python, None, False, "uv") != pip_key


def test_the_installer_variable_picks_pip_or_refuses_a_name_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(envs.INSTALLER_VAR, "pip")
    assert envs.find_uv() is None
    monkeypatch.setenv(envs.INSTALLER_VAR, "conda")
    with pytest.raises(UsageError, match="RUNYARD_ENV_INSTALLER='conda'"):
        envs.find_uv()
    monkeypatch.delenv(envs.INSTALLER_VAR)
    found = envs.find_uv()  # the uv package is a dependency of Runyard's
    assert found is not None and Path(found).is_file()


# What pip and uv print when a requirement cannot be had (their own words, copied).
PIP_OUTPUT = [
    "Collecting six",
    "ERROR: Could not find a version that satisfies the requirement "
    "nosuch-runyard-pkg==1.0 (from versions: none)",
    "ERROR: No matching distribution found for nosuch-runyard-pkg==1.0",
]
UV_OUTPUT = [
    "Using Python 3.11.2 environment at: envs/x",
    "  × No solution found when resolving dependencies:",
    "  ╰─▶ Because nosuch-runyard-pkg was not found in the package registry and you "
    "require nosuch-runyard-pkg==1.0, we can conclude that your requirements are "
    "unsatisfiable.",
]


@pytest.mark.parametrize(("installer", "output"), [("pip", PIP_OUTPUT), ("uv", UV_OUTPUT)])
def test_a_failed_install_names_the_file_the_requirement_and_its_line(
    installer: str, output: list[str]
) -> None:
    spec = envs.DependencySpec(
        "requirements", "requirements.txt", (), b"six\n# ours\nNosuch_Runyard.Pkg==1.0  # x\n"
    )
    error = envs.install_failure(spec, installer, output, 1)
    assert error.message.startswith(
        "Installing the packages of requirements.txt failed: Nosuch_Runyard.Pkg==1.0 (line 3) "
        "could not be installed"
    ), error.message
    assert "nosuch-runyard-pkg" in error.message  # the installer's reason
    assert error.hint is not None and "requirements.txt" in error.hint


def test_a_failed_transitive_or_pyproject_requirement_is_named_too() -> None:
    spec = envs.DependencySpec("pyproject", "pyproject.toml", ("Flask>=3",), b"[]")
    deep = ["ERROR: No matching distribution found for werkzeug>=9"]
    error = envs.install_failure(spec, "pip", deep, 1)
    assert "werkzeug (needed by a package pyproject.toml names)" in error.message
    named = envs.install_failure(
        spec, "uv", ["  ╰─▶ Because there is no version of flask==99 and you require"], 1
    )
    assert "failed: Flask>=3 could not be installed" in named.message
    unknown = envs.install_failure(spec, "uv", ["error: something else went wrong"], 2)
    assert unknown.message == (
        "Installing the packages of pyproject.toml failed (uv exit code 2: something else went wrong)"
    )


def test_a_lock_reads_freezes_output_with_normalized_sorted_names() -> None:
    text = (
        "noise before\n"
        '{"python": "3.11.2", "implementation": "CPython", "installer": "uv",'
        ' "packages": [["Scikit_Learn", "1.5.0"], ["numpy", "2.0.0"]]}\n'
    )
    lock = envs.EnvLock.from_json(text)
    assert lock == envs.EnvLock("3.11.2", (("numpy", "2.0.0"), ("scikit-learn", "1.5.0")), "uv")
    assert lock.requirements() == ["numpy==2.0.0", "scikit-learn==1.5.0"]
    with pytest.raises(ValueError):
        envs.EnvLock.from_json("Traceback (most recent call last):")


def test_programs_that_run_elsewhere_are_python_38_with_the_standard_library_only() -> None:
    texts = {name: envs.program_source(name) for name in ("freeze", "pip_sources")}
    texts.update({f"remote/{name}": source(name) for name in PROGRAMS})
    stdlib = set(sys.stdlib_module_names) | {"__future__", "uv"}  # uv: probed, optional
    for name, text in texts.items():
        tree = ast.parse(text, feature_version=(3, 8))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= stdlib, (name, roots)


def _run(run_id: str) -> Run:
    return Run(run_id, "exp", "queued", "local", "local", None, "train.py", ["python"])


def test_a_runs_lock_is_stored_replaced_and_removed_with_nothing_for_others(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "runyard.db")
    store.create_run(_run("r1"))
    store.create_run(_run("r2"))
    assert store.run_lock("r1") is None
    store.set_run_lock("r1", "3.11.2", [("six", "1.16.0"), ("numpy", "2.0.0")], installer="uv")
    lock = store.run_lock("r1")
    assert lock is not None
    assert (lock.python, lock.installer) == ("3.11.2", "uv")
    assert lock.packages == {"numpy": "2.0.0", "six": "1.16.0"}
    assert list(lock.packages) == ["numpy", "six"]  # in name order
    assert lock.requirements() == ["numpy==2.0.0", "six==1.16.0"]
    store.set_run_lock("r1", "3.12.1", {"six": "1.17.0"})  # replaced whole
    again = store.run_lock("r1")
    assert again is not None and again.packages == {"six": "1.17.0"}
    assert (again.python, again.installer) == ("3.12.1", None)
    assert store.run_lock("r2") is None
    with store._tx() as db:  # a run that goes takes its lock with it
        db.execute("DELETE FROM runs WHERE id = ?", ("r1",))
    assert store.run_lock("r1") is None
    assert store._read("SELECT count(*) FROM run_lock_packages") == [(0,)]


def test_a_store_of_the_version_before_locks_is_migrated_keeping_its_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runyard.db"
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:3]:
        if callable(step):
            step(db)
        else:
            db.executescript(step)
    db.execute(
        "INSERT INTO runs (id, experiment, status, target, target_type, command, created) "
        "VALUES ('old', 'exp', 'completed', 'local', 'local', '[]', 1.0)"
    )
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION >= 4  # (4: the run locks)
    assert store.get_run("old").status == "completed" and store.run_lock("old") is None
    store.set_run_lock("old", "3.11.2", {"six": "1.16.0"}, installer="pip")
    lock = store.run_lock("old")
    assert lock is not None and lock.packages == {"six": "1.16.0"}


def test_only_a_spec_that_cannot_be_met_stops_uv_from_handing_over_to_pip() -> None:
    assert envs.spec_error(UV_OUTPUT)
    assert envs.spec_error(["error: File not found: `requirements-dev.txt`"])
    tls = [
        "error: Failed to fetch: https://127.0.0.1:8443/simple/runyardcanary/",
        "  cause: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
    ]
    assert not envs.spec_error(tls)


def test_the_lookup_before_a_local_build_asks_no_index_and_the_docker_one_may(
    tmp_path: Path,
) -> None:
    """The local lookup of an environment of the same set resolves from uv's cache alone
    (an empty one cannot say: the build goes ahead); the Docker target's falls back to
    the index. A real uv against a real HTTP index that counts what it is asked."""
    import http.server
    import threading

    uv = envs.find_uv()
    if uv is None:
        pytest.fail("uv is a dependency of Runyard's install; it is missing here")
    asked: list[str] = []

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index = f"http://127.0.0.1:{server.server_address[1]}/simple"
        work = tmp_path / "work"
        work.mkdir()
        (work / "requirements.txt").write_text("six\n")
        base = _environ(tmp_path, UV_CACHE_DIR=str(tmp_path / "uv-cache"))
        python = ["--python", sys.executable]
        local = envs.resolve_pins(uv, SPEC, work, python, index, base, online=False)
        assert local is None and asked == []
        remote = envs.resolve_pins(uv, SPEC, work, python, index, base)
        assert remote is None and any("six" in path for path in asked), asked
    finally:
        server.shutdown()
