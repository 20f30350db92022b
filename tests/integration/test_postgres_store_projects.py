"""Several projects in one PostgreSQL database (a real server, `tests.postgres_server`):
each keeps its store in the schema its URL names first in `search_path`
(``?options=-csearch_path%3Dname``, committed in `.runyard/config.yml`), created by its
first client, and sees only its own runs; the database's default schema stays a store
of its own. And a password given in `RUNYARD_STORE_URL`, which the supervisor needs,
never reaches the environment of the run's process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from runyard.core.errors import RunyardError
from runyard.core.project import Project
from runyard.core.store import Store, run_env_without_store_password, url_without_password
from runyard.core.store.postgres import first_schema
from tests.helpers import make_run
from tests.postgres_server import PASSWORD, USER, PostgresServer, pg_server, pg_url

pytestmark = pytest.mark.integration
__all__ = ["pg_server", "pg_url"]

CLI = [sys.executable, "-m", "runyard.cli"]


def in_schema(url: str, schema: str) -> str:
    return f"{url}?options=-csearch_path%3D{schema}"


def project(root: Path, store: str) -> Project:
    (root / ".runyard" / "state").mkdir(parents=True)
    (root / ".runyard" / "config.yml").write_text(f"store: {store}\n")
    return Project(root)


def run_ids(p: Project) -> set[str]:
    with Store(p.store_path) as s:
        return {r.id for r in s.list_runs()}


def test_two_projects_in_one_database_do_not_see_each_others_runs(
    tmp_path: Path, pg_url: str
) -> None:
    a = project(tmp_path / "a", in_schema(pg_url, "vision"))
    b = project(tmp_path / "b", in_schema(pg_url, "Speech"))  # case-folded, as PostgreSQL does
    plain = project(tmp_path / "c", pg_url)  # the database's default schema
    with Store(a.store_path) as s:
        assert "csearch_path" in s.location  # the schema shows where the store is shown
        s.create_run(make_run("a1"))
        s.create_run(make_run("a2"))
        s.add_metrics("a1", [("loss", 0, 1.0, 0.5)])
    with Store(b.store_path) as s:
        s.create_run(make_run("b1"))
        s.add_metrics("b1", [("loss", 0, 1.0, 0.25)])
    with Store(plain.store_path) as s:
        s.create_run(make_run("c1"))
    assert run_ids(a) == {"a1", "a2"}
    assert run_ids(b) == {"b1"}
    assert run_ids(plain) == {"c1"}
    with Store(b.store_path) as s:
        assert s.metric_count("b1", "loss") == 1 and s.metric_count("a1", "loss") == 0
    with psycopg.connect(pg_url) as db:
        schemas = {
            r[0]
            for r in db.execute(
                "SELECT schemaname FROM pg_tables WHERE tablename = 'runs'"
            ).fetchall()
        }
    assert schemas == {"vision", "speech", "public"}
    # the CLI of each project lists its own runs only
    env = {k: v for k, v in os.environ.items() if k != "RUNYARD_STORE_URL"} | {"CI": "true"}
    listed = {
        name: subprocess.run(
            [*CLI, "runs", "list"], cwd=p.root, env=env, capture_output=True, text=True
        )
        for name, p in (("a", a), ("b", b))
    }
    assert listed["a"].returncode == 0, listed["a"].stderr
    assert "a1" in listed["a"].stdout and "b1" not in listed["a"].stdout
    assert "b1" in listed["b"].stdout and "a1" not in listed["b"].stdout


def test_two_projects_write_side_by_side_without_waiting_for_each_other(
    tmp_path: Path, pg_url: str
) -> None:
    """Each schema has its own write lock: a transaction held open in one project does
    not hold up the other's writes."""
    a = project(tmp_path / "a", in_schema(pg_url, "one"))
    b = project(tmp_path / "b", in_schema(pg_url, "two"))
    with Store(a.store_path) as sa, Store(b.store_path) as sb:
        sa.create_run(make_run("a1"))
        with sa._engine.tx():  # a's write lock held...
            started = time.monotonic()
            sb.create_run(make_run("b1"))  # ...b writes anyway
            assert time.monotonic() - started < 5
        assert run_ids(b) == {"b1"}


def test_a_schema_not_there_yet_is_not_made_by_a_read_only_client(
    tmp_path: Path, pg_url: str
) -> None:
    url = in_schema(pg_url, "later")
    with pytest.raises(RunyardError, match="no schema 'later' yet") as err:
        Store(tmp_path / "x.db", read_only=True, url=url)
    assert "csearch_path" in (err.value.hint or "")
    Store(tmp_path / "x.db", url=url).close()  # a client that may write makes it
    with Store(tmp_path / "x.db", read_only=True, url=url) as s:
        assert s.list_runs() == []


def test_first_schema_reads_search_path_as_postgresql_does() -> None:
    assert first_schema("vision") == "vision"
    assert first_schema("Vision, public") == "vision"
    assert first_schema('"$user", public') == "public"
    assert first_schema('"My ""Team"" store", public') == 'My "Team" store'
    assert first_schema("") is None and first_schema('"$user"') is None


def test_a_password_in_the_store_url_is_taken_out_of_a_runs_environment() -> None:
    url = f"postgresql://{USER}:{PASSWORD}@db.example.com:5432/team?sslmode=require"
    env = run_env_without_store_password({"RUNYARD_STORE_URL": url, "HOME": "/home/x"})
    assert env == {
        "RUNYARD_STORE_URL": f"postgresql://{USER}@db.example.com:5432/team?sslmode=require",
        "HOME": "/home/x",
    }
    assert url_without_password(f"postgresql://db/team?password={PASSWORD}&sslmode=require") == (
        "postgresql://db/team?sslmode=require"
    )
    plain = {"RUNYARD_STORE_URL": "postgresql://db/team"}
    assert run_env_without_store_password(plain) == plain


def test_a_password_in_runyard_store_url_never_reaches_the_runs_process(
    tmp_path: Path, pg_server: PostgresServer, pg_url: str
) -> None:
    with_password = pg_url.replace(f"{USER}@", f"{USER}:{PASSWORD}@")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "train.py").write_text(
        "import os, pathlib\n"
        "pathlib.Path('outputs').mkdir(exist_ok=True)\n"
        "pathlib.Path('outputs/env.txt').write_text(repr(sorted(os.environ.items())))\n"
    )
    env = {**os.environ, "RUNYARD_STORE_URL": with_password, "CI": "true"}
    env.pop("PGPASSFILE", None)  # the URL's password is the only one there is
    subprocess.run([*CLI, "init"], cwd=root, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*CLI, "submit", "-d", "train.py"], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    with Store(Project(root).store_path, url=with_password) as team:
        deadline = time.monotonic() + 60
        while team.get_run(run_id).live and time.monotonic() < deadline:
            time.sleep(0.2)
        assert team.get_run(run_id).status == "completed"
    seen = (Project(root).run_dir(run_id) / "outputs" / "env.txt").read_text()
    assert "RUNYARD_STORE_URL" in seen and f"{USER}@127.0.0.1" in seen
    assert PASSWORD not in seen


def test_store_location_names_the_store_without_opening_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runyard.core.store import store_location

    monkeypatch.delenv("RUNYARD_STORE_URL", raising=False)
    local = tmp_path / "local"
    (local / ".runyard" / "state").mkdir(parents=True)
    path = Project(local).store_path
    assert store_location(path) == str(path) and not path.exists()
    team = project(tmp_path / "team", "postgresql://db.invalid/ml?options=-csearch_path%3Dx")
    assert store_location(team.store_path) == "postgresql://db.invalid/ml?options=-csearch_path%3Dx"
    monkeypatch.setenv("RUNYARD_STORE_URL", f"postgresql://{USER}:{PASSWORD}@db.invalid/ml")
    shown = store_location(path)
    assert PASSWORD not in shown and shown == f"postgresql://{USER}:***@db.invalid/ml"
