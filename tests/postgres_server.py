"""A real PostgreSQL server for the team-store tests and benchmarks, started here.

`PostgresServer.start()` runs Debian's PostgreSQL (found with `pg_config --bindir`, else
under /usr/lib/postgresql/*/bin, else `initdb` on PATH; `bash scripts/postgres-setup.sh`
installs it) with `initdb` and `pg_ctl` in a temporary folder, listening on a free
loopback port, with password authentication (scram-sha-256) for TCP connections.
`pause()` and `resume()` stop and start it again on the same port (a database that
goes down and comes back).
PostgreSQL refuses to run as root: as root, the folder is handed to the `postgres`
user and the server runs as that user (`runuser`). `stop()` stops that server only (by
its data folder) and removes the folder.

Clients get the password the way a team would give it: a pgpass file (`PGPASSFILE`,
mode 0600) that `passfile_env()` names; URLs never carry it.

`find_bin()` is None when PostgreSQL is not installed: the tests skip then, except with
`CI=true`, where a missing PostgreSQL fails them (`require_bin`).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "runyard"
PASSWORD = "team-store-" + uuid.uuid4().hex[:12]


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    try:
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    except OSError:
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


def require_bin() -> Path:
    """The binaries' folder; a skip without them, a failure with CI=true."""
    found = find_bin()
    if found is None:
        message = "PostgreSQL is not installed (bash scripts/postgres-setup.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="runyard-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.passfile = self.folder / "pgpass"
        self.started = False
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> PostgresServer:
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
            shutil.chown(pwfile, "postgres")
        self.folder.chmod(0o700)
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self.options = options
        self.resume()
        self.passfile.write_text(f"127.0.0.1:{self.port}:*:{USER}:{PASSWORD}\n")
        self.passfile.chmod(0o600)
        return self

    def resume(self) -> None:
        """Start the server (again, after `pause`) on the same port and folder."""
        done = self._run(
            "pg_ctl", "-D", str(self.data), "-o", self.options, "-l", str(self.folder / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        if done.returncode:
            log = (self.folder / "log").read_text(errors="replace")
            raise RuntimeError(f"pg_ctl start failed: {done.stderr or done.stdout}\n{log}")
        self.started = True

    def pause(self) -> None:
        """Stop the server, keeping its data (the database is down until `resume`)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.started = False

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)

    def passfile_env(self) -> dict[str, str]:
        return {"PGPASSFILE": str(self.passfile)}

    def url(self, database: str = "postgres", user: str = USER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run `sql` as the superuser over the server's own socket folder."""
        import psycopg

        with psycopg.connect(
            host=str(self.folder), port=self.port, user=USER, dbname="postgres", autocommit=True
        ) as db:
            db.execute(sql.encode())

    def new_database(self) -> str:
        """A fresh database's URL (no password in it)."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One server for the session; clients find its password through `PGPASSFILE`."""
    server = PostgresServer(require_bin())
    try:
        server.start()
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PGPASSFILE", str(server.passfile))
            yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh database of the session's server, as a URL without a password."""
    return pg_server.new_database()
