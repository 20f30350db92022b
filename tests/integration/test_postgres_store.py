"""The run store on a real PostgreSQL server (started by `tests.postgres_server`).

The store's behaviour tests (tests/unit/test_store.py, test_metric_summaries.py,
test_store_deployment_records.py) run here again unchanged against PostgreSQL: each
store path a test opens is a fresh database (`each_path_its_database`). The few that look at SQLite's own files (WAL, `user_version`,
a version-1 or version-4 SQLite store) stay SQLite's; their PostgreSQL counterparts are
below, with what only a team store can meet: credentials that must never land in a
project file, a log or the store; a wrong password; a server that is down or goes away
in a transaction; a schema newer than this Runyard; a role that may only read; who ran
a run, and listing by user.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from runyard.core.config.errors import ConfigError
from runyard.core.errors import RunyardError
from runyard.core.project import Project
from runyard.core.store import LOCAL, SCHEMA_VERSION, Store, project_root, store_exists
from runyard.core.store.identity import current_user
from tests.helpers import make_run
from tests.postgres_server import PASSWORD, USER, PostgresServer, pg_server, pg_url
from tests.unit import test_metric_summaries, test_store, test_store_deployment_records
from tests.unit.test_store import store

pytestmark = pytest.mark.integration

# Tests of SQLite's own files and migrations: PostgreSQL's counterparts are below.
SQLITE_ONLY = {
    "test_new_store_is_wal_and_versioned",
    "test_newer_schema_is_refused_clearly",
    "test_not_a_database_is_reported",
    "test_version_1_store_is_migrated_to_packed_metrics",
    "test_a_version_4_store_gets_the_summaries_of_its_points",
}
SHARED = [
    (name, test)
    for module in (test_store, test_metric_summaries, test_store_deployment_records)
    for name, test in vars(module).items()
    if name.startswith("test_") and callable(test) and name not in SQLITE_ONLY
]
globals().update(SHARED)  # collected here, so they run on this module's fixtures
__all__ = ["pg_server", "pg_url", "store"]  # fixtures used by the shared tests


@pytest.fixture(autouse=True)
def each_path_its_database(pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store path a test opens outside a project is a fresh database of its own
    (tests open several stores side by side), unless the test names a store itself
    (`RUNYARD_STORE_URL`, the project's settings, `url=`)."""
    databases: dict[str, str] = {}
    opened = Store.__init__

    def init(self: Store, path: Path, read_only: bool = False, *, url: str | None = None) -> None:
        if url is None and "RUNYARD_STORE_URL" not in os.environ and project_root(path) is None:
            url = databases.get(str(path)) or databases.setdefault(
                str(path), pg_server.new_database()
            )
        opened(self, path, read_only, url=url)

    monkeypatch.setattr(Store, "__init__", init)


@pytest.fixture
def on_postgres(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test's stores are this fresh database, named by `RUNYARD_STORE_URL`."""
    monkeypatch.setenv("RUNYARD_STORE_URL", pg_url)
    return pg_url


def test_the_shared_tests_are_collected_here() -> None:
    assert len(SHARED) >= 15


def test_a_new_store_is_postgresql_and_versioned(tmp_path: Path, on_postgres: str) -> None:
    with Store(tmp_path / "runyard.db") as s:
        assert s.dialect == "postgresql" and s.schema_version == SCHEMA_VERSION
        assert s._read("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert s.location == on_postgres
    with Store(tmp_path / "runyard.db") as again:  # opening again migrates nothing
        assert again.schema_version == SCHEMA_VERSION
    with Store(tmp_path / "runyard.db", url=LOCAL) as local:  # LOCAL: SQLite whatever is set
        assert local.dialect == "sqlite"


def test_newer_schema_is_refused_clearly(tmp_path: Path, on_postgres: str) -> None:
    Store(tmp_path / "runyard.db").close()
    with psycopg.connect(on_postgres, autocommit=True) as db:
        db.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 5,))
    with pytest.raises(RunyardError, match="newer than this") as err:
        Store(tmp_path / "runyard.db")
    assert err.value.hint == "upgrade runyard"


def test_both_engines_have_the_same_tables_and_columns(tmp_path: Path) -> None:
    with Store(tmp_path / "runyard.db") as pg:
        pg_columns = {
            (t, c)
            for t, c in pg._read(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            )
            if (t, c) != ("schema_version", "version") and c != "seq"
        }
    with Store(tmp_path / "local.db", url=LOCAL) as lite:
        tables = [r[0] for r in lite._read("SELECT name FROM sqlite_master WHERE type='table'")]
        lite_columns = {(t, r[1]) for t in tables for r in lite._read(f"PRAGMA table_info({t})")}
    assert pg_columns == lite_columns


# ---- credentials -----------------------------------------------------------------------


def project_with_settings(root: Path, text: str) -> Path:
    (root / ".runyard" / "state").mkdir(parents=True)
    (root / ".runyard" / "config.yml").write_text(text)
    return root / ".runyard" / "state" / "runyard.db"


def all_stored_text(s: Store) -> str:
    tables = [
        r[0]
        for r in s._read(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    ]
    return "\n".join(str(row) for t in tables for row in s._read(f"SELECT * FROM {t}"))


def test_credentials_never_land_in_project_files_logs_or_the_store(
    tmp_path: Path,
    pg_server: PostgresServer,
    on_postgres: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("RUNYARD_STORE_URL")
    path = project_with_settings(tmp_path, f"default_target: local\nstore: {on_postgres}\n")
    with Store(path) as s:  # the password comes from PGPASSFILE only
        assert s.dialect == "postgresql"
        s.create_run(make_run("r1", options={"env": dict(os.environ)}))
        s.set_params("r1", {"lr": "0.1"})
        s.add_metrics("r1", [("loss", 0, 1.0, 0.5)])
        stored = all_stored_text(s)
    assert "r1" in stored and PASSWORD not in stored
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(PASSWORD not in p.read_text(errors="replace") for p in files)
    # a URL with a password in the environment: used, but only ever shown redacted
    with_password = pg_server.url(on_postgres.rsplit("/", 1)[1]).replace(
        f"{USER}@", f"{USER}:{PASSWORD}@"
    )
    monkeypatch.setenv("RUNYARD_STORE_URL", with_password)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with Store(path) as s:
        assert PASSWORD not in s.location and "***" in s.location
    monkeypatch.setenv("RUNYARD_STORE_URL", with_password.replace("@127.0.0.1:", "@127.0.0.1:1"))
    with pytest.raises(RunyardError) as err:
        Store(path)
    assert PASSWORD not in str(err.value) and "***" in str(err.value)
    assert PASSWORD not in caplog.text


def test_a_password_in_the_settings_file_is_refused_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNYARD_STORE_URL", raising=False)
    path = project_with_settings(
        tmp_path, "default_target: local\n\nstore: postgresql://me:hunter2@db.example/team\n"
    )
    with pytest.raises(ConfigError) as err:
        Store(path)
    text = str(err.value)
    assert text.startswith(".runyard/config.yml:3:8: field 'store': ")
    assert "password" in text and "~/.pgpass" in text and "hunter2" not in text
    path.parent.parent.joinpath("config.yml").write_text(
        "store: postgresql://db.example/team?password=hunter2\n"
    )
    with pytest.raises(ConfigError, match=r"config\.yml:1:8: .*password"):
        Store(path)
    path.parent.parent.joinpath("config.yml").write_text("store: mysql://db.example/team\n")
    with pytest.raises(ConfigError, match=r"config\.yml:1:8: .*not a PostgreSQL URL"):
        Store(path)


def test_a_wrong_password_is_a_clear_error(
    tmp_path: Path, on_postgres: str, monkeypatch: pytest.MonkeyPatch, pg_server: PostgresServer
) -> None:
    wrong = tmp_path / "pgpass"
    wrong.write_text(f"127.0.0.1:{pg_server.port}:*:{USER}:not-the-password\n")
    wrong.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(wrong))
    with pytest.raises(RunyardError, match="Could not log in to the team store") as err:
        Store(tmp_path / "runyard.db")
    assert "password authentication failed" in str(err.value)
    assert "~/.pgpass" in (err.value.hint or "") and "not-the-password" not in str(err.value)


# ---- faults ------------------------------------------------------------------------------


def test_a_server_that_is_down_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.postgres_server import free_port

    monkeypatch.setenv("RUNYARD_STORE_URL", f"postgresql://{USER}@127.0.0.1:{free_port()}/x")
    with pytest.raises(RunyardError, match="Could not reach the team store") as err:
        Store(tmp_path / "runyard.db")
    assert "Nothing was changed" in str(err.value) and "RUNYARD_STORE_URL" in (err.value.hint or "")


def test_submit_to_a_store_that_is_down_fails_clearly_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.postgres_server import free_port

    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text("print('hi')\n")
    env = {**os.environ, "RUNYARD_STORE_URL": "", "CI": "true"}
    cli = [sys.executable, "-m", "runyard.cli"]
    subprocess.run([*cli, "init"], cwd=project, env=env, check=True, capture_output=True)
    env["RUNYARD_STORE_URL"] = f"postgresql://{USER}@127.0.0.1:{free_port()}/x"
    done = subprocess.run(
        [*cli, "submit", "train.py"], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert "Could not reach the team store" in done.stderr and "Traceback" not in done.stderr
    # No run was recorded and no supervisor started: the run's folder holds no more
    # than the lock file submit makes before it opens the store.
    runs = project / ".runyard" / "state" / "runs"
    left = [p.relative_to(runs).parts[1:] for p in runs.rglob("*") if p.is_file()]
    assert set(left) <= {("supervisor.lock",)}


def test_a_connection_lost_in_a_transaction_writes_nothing_and_the_next_call_reconnects(
    tmp_path: Path, pg_server: PostgresServer, on_postgres: str
) -> None:
    s = Store(tmp_path / "runyard.db")
    s.create_run(make_run("r0"))
    database = on_postgres.rsplit("/", 1)[1]
    with pytest.raises(RunyardError, match="team store") as err, s._tx() as db:
        db.execute(
            "INSERT INTO runs (id, experiment, status, target, target_type, command, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("half", "e", "queued", "local", "local", "[]", 1.0),
        )
        pg_server.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND application_name = 'runyard'"
        )
        db.execute("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", ("half", "a", "1"))
    assert "Traceback" not in str(err.value)
    # the next call connects again; the cut-off transaction left nothing behind
    assert [r.id for r in s.list_runs()] == ["r0"]
    assert s.params("half") == {}
    s.close()


# ---- access ------------------------------------------------------------------------------


def test_a_read_only_role_lists_and_opens_runs_but_cannot_submit(
    tmp_path: Path, pg_server: PostgresServer, on_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path / "runyard.db") as s:
        s.create_run(make_run("r1"))
        s.add_metrics("r1", [("loss", 0, 1.0, 0.5)])
    database = on_postgres.rsplit("/", 1)[1]
    pg_server.admin(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') THEN "
        f"CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}'; END IF; END $$"
    )
    with psycopg.connect(on_postgres, autocommit=True) as db:
        db.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_server.port}:*:reader:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("RUNYARD_STORE_URL", pg_server.url(database, user="reader"))
    with Store(tmp_path / "runyard.db") as reader:
        assert [r.id for r in reader.list_runs()] == ["r1"]
        assert reader.get_run("r1").metrics == {"loss": 0.5}
        with pytest.raises(RunyardError, match="may only read") as err:
            reader.create_run(make_run("r2"))
        assert "nothing was changed" in str(err.value)
    opened = Store(tmp_path / "runyard.db", read_only=True)  # read-only by choice
    with pytest.raises(RunyardError, match="read-only"):
        opened.set_tags("r1", {"a": "b"})
    opened.close()
    monkeypatch.setenv("PGPASSFILE", str(pg_server.passfile))
    monkeypatch.setenv("RUNYARD_STORE_URL", on_postgres)
    with Store(tmp_path / "runyard.db") as s:
        assert [r.id for r in s.list_runs()] == ["r1"]


# ---- who ran what ----------------------------------------------------------------------------


def test_runs_record_who_ran_them_and_list_by_user(tmp_path: Path) -> None:
    me = current_user(None)
    with Store(tmp_path / "runyard.db") as s:
        s.create_run(make_run("mine", created=1.0))
        s.create_run(
            make_run("theirs", created=2.0, user_name="Ada", user_email="ada@example.com",
                     machine="box-2")
        )  # fmt: skip
        run = s.get_run("mine")
        assert (run.user_name, run.user_email, run.machine) == (me.name, me.email, me.machine)
        assert s.get_run("theirs").to_json()["user"] == {"name": "Ada", "email": "ada@example.com"}
        assert [r.id for r in s.list_runs(user="ada@example.com")] == ["theirs"]
        assert [r.id for r in s.list_runs(user="Ada")] == ["theirs"]
        assert me.user is not None
        assert [r.id for r in s.list_runs(user=me.user)] == ["mine"]
        page, total = s.query_runs(user="Ada")
        assert total == 1 and [r.id for r in page] == ["theirs"]
        assert s.query_runs(user="nobody")[1] == 0


def test_search_ignores_case_as_in_sqlite(tmp_path: Path) -> None:
    with Store(tmp_path / "runyard.db") as s:
        s.create_run(make_run("r1", script="Train.py"))
        assert [r.id for r in s.query_runs(search="train")[0]] == ["r1"]


def _open(url: str) -> int:
    with Store(Path("runyard.db"), url=url) as s:
        return s.schema_version


def test_clients_opening_a_new_store_at_once_migrate_it_once(pg_url: str) -> None:
    """Six clients find the new store unversioned, then wait for the write lock (held
    here) to migrate it: the first one does, the others find it done."""
    import multiprocessing

    from runyard.core.store.postgres import STORE_LOCK

    with psycopg.connect(pg_url, autocommit=True) as holder:
        lock = "(%s, hashtext(current_schema()))"  # the store's lock: its schema's
        holder.execute(f"SELECT pg_advisory_lock{lock}", (STORE_LOCK,))
        with multiprocessing.get_context("spawn").Pool(6) as pool:
            opened = pool.map_async(_open, [pg_url] * 6)
            waiting = 0
            for _ in range(300):
                row = holder.execute(
                    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                waiting = row[0] if row else 0
                if waiting == 6:
                    break
                time.sleep(0.05)
            assert waiting == 6
            holder.execute(f"SELECT pg_advisory_unlock{lock}", (STORE_LOCK,))
            assert opened.get(timeout=60) == [SCHEMA_VERSION] * 6
    with Store(Path("runyard.db"), url=pg_url) as s:
        assert s._read("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_a_run_submitted_to_a_team_store_is_recorded_there_end_to_end(
    tmp_path: Path, on_postgres: str
) -> None:
    """The real CLI, supervisor and ingestion with RUNYARD_STORE_URL set: the run, its
    metrics and who ran it are in PostgreSQL, and no SQLite store is made."""
    import json

    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text(
        "import runyard\nfor i in range(500):\n    runyard.log_metric('loss', 1.0 / (i + 1), step=i)\n"
    )
    cli = [sys.executable, "-m", "runyard.cli"]
    env = {**os.environ, "CI": "true"}
    subprocess.run([*cli, "init"], cwd=project, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*cli, "submit", "train.py"], cwd=project, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [*cli, "runs", "list", "--json"], cwd=project, env=env, capture_output=True, text=True
    )
    runs = json.loads(listed.stdout)
    assert [(r["status"], r["metrics"]) for r in runs] == [("completed", {"loss": 1.0 / 500})]
    me = current_user(project)
    assert runs[0]["user"] == {"name": me.name, "email": me.email}
    assert runs[0]["machine"] == me.machine
    assert not (project / ".runyard" / "state" / "runyard.db").exists()
    assert store_exists(project / ".runyard" / "state" / "runyard.db")  # the team store is
    with Store(tmp_path / "elsewhere.db") as team:
        assert team.metric_count(runs[0]["id"], "loss") == 500


def test_the_database_down_mid_run_loses_no_point(
    tmp_path: Path, pg_server: PostgresServer, on_postgres: str
) -> None:
    """The tracking file is the buffer while the database is down: the supervisor warns
    and reads again at the next poll; once the database is back every point is stored
    and the run completes."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text(
        "import runyard, time\n"
        "for i in range(60):\n"
        "    runyard.log_metric('loss', 1.0 / (i + 1), step=i)\n"
        "    time.sleep(0.1)\n"
    )
    cli = [sys.executable, "-m", "runyard.cli"]
    env = {**os.environ, "CI": "true"}
    subprocess.run([*cli, "init"], cwd=project, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*cli, "submit", "-d", "train.py"], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    time.sleep(1.5)
    pg_server.pause()
    try:
        time.sleep(2.5)
    finally:
        pg_server.resume()
    with Store(project / ".runyard" / "state" / "runyard.db") as team:
        deadline = time.monotonic() + 60
        while team.get_run(run_id).live and time.monotonic() < deadline:
            time.sleep(0.2)
        assert team.get_run(run_id).status == "completed"
        assert team.metric_count(run_id, "loss") == 60
    log = (Project(project).run_dir(run_id) / "run.log").read_text()
    assert "could not take the tracking records" in log  # the outage, said once
    assert log.count("could not take the tracking records") == 1
    assert "the store is back" in log
