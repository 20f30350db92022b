"""Who ran a run (schema version 8): the project's git identity and the machine, recorded
by `create_run`; listings by user (`user=`, `identity.user_filter` for `--mine`); a
version-7 store migrated with the runs it has (who ran them: not known)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest

from runyard.core.errors import UsageError
from runyard.core.store import SCHEMA_VERSION, Store, identity
from runyard.core.store.schema import MIGRATIONS
from tests.helpers import make_run


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project in a git repository whose own config names its user; no global one."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("RUNYARD_STORE_URL", raising=False)
    monkeypatch.setattr(identity, "_CACHE", {})
    root = tmp_path / "proj"
    (root / ".runyard" / "state").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.name", "Ada L"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.email", "ada@example.com"], check=True)
    return root


def test_a_run_records_the_projects_git_identity_and_the_machine(project: Path) -> None:
    with Store(project / ".runyard" / "state" / "runyard.db") as store:
        store.create_run(make_run("r1"))
        run = store.get_run("r1")
    assert (run.user_name, run.user_email) == ("Ada L", "ada@example.com")
    assert run.machine == socket.gethostname()
    assert run.to_json()["user"] == {"name": "Ada L", "email": "ada@example.com"}
    assert run.to_json()["machine"] == socket.gethostname()


def test_listings_filter_by_user_and_mine_is_the_projects_identity(project: Path) -> None:
    with Store(project / ".runyard" / "state" / "runyard.db") as store:
        store.create_run(make_run("mine1", created=1.0))
        store.create_run(make_run("theirs", created=2.0, user_name="Bob", machine="b"))
        store.create_run(make_run("mine2", created=3.0))
        me = identity.user_filter(project, None, mine=True)
        assert me == "ada@example.com"
        assert [r.id for r in store.list_runs(user=me)] == ["mine2", "mine1"]
        assert [r.id for r in store.list_runs(user="Bob")] == ["theirs"]
        assert [r.id for r in store.list_runs(user="Ada L")] == ["mine2", "mine1"]
        page, total = store.query_runs(user=me, limit=1)
        assert total == 2 and [r.id for r in page] == ["mine2"]
        assert len(store.list_runs()) == 3
    assert identity.user_filter(project, "Bob", mine=False) == "Bob"
    assert identity.user_filter(project, None, mine=False) is None
    with pytest.raises(UsageError, match="both"):
        identity.user_filter(project, "Bob", mine=True)


def test_mine_without_a_git_identity_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setattr(identity, "_CACHE", {})
    with pytest.raises(UsageError, match="No git identity") as err:
        identity.user_filter(tmp_path, None, mine=True)
    assert "git config --global user.email" in (err.value.hint or "")
    # a run is still recorded, with who ran it unknown and the machine known
    with Store(tmp_path / ".runyard" / "state" / "runyard.db") as store:
        store.create_run(make_run("r1"))
        run = store.get_run("r1")
    assert (run.user_name, run.user_email, run.machine) == (None, None, socket.gethostname())


def test_a_version_7_store_keeps_its_runs_with_who_ran_them_unknown(tmp_path: Path) -> None:
    assert SCHEMA_VERSION == 8
    path = tmp_path / "runyard.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:7]:
        if callable(step):
            step(db)
        else:
            db.executescript(step)
    db.execute("PRAGMA user_version = 7")
    db.execute(
        "INSERT INTO runs (id, experiment, status, target, target_type, command, created) "
        "VALUES ('old', 'e', 'completed', 'local', 'local', '[]', 1.0)"
    )
    db.close()
    with Store(path) as store:
        assert store.schema_version == 8
        run = store.get_run("old")
        assert (run.user_name, run.user_email, run.machine) == (None, None, None)
        assert store.list_runs(user="anyone") == []
