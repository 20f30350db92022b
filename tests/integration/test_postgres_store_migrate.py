"""`runyard store migrate --to URL`: a project's local history into a real PostgreSQL
team store (started by `tests.postgres_server`), through the real command line.

A local store holds ended runs with everything a run can have (status history, params,
tags, artifacts, several metric keys, one series longer than a chunk, NaN and
infinities, a lock with host facts, who ran it), a live run, model versions with an
alias, and a deployment with telemetry samples. After the copy the team store answers
every read as the local one does (runs, metrics, series cuts, histories, models,
deployments), the live run is left out and said, and a second copy changes no row.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runyard.core.store import CHUNK_POINTS, LOCAL, Deployment, ModelRecord, Store
from runyard.core.store.copy import RUN_TABLES
from runyard.core.store.locks import HostFacts
from tests.helpers import make_run
from tests.postgres_server import PostgresServer, pg_server, pg_url

pytestmark = pytest.mark.integration
__all__ = ["pg_server", "pg_url"]

CLI = [sys.executable, "-m", "runyard.cli"]


def local_history(root: Path) -> Store:
    store = Store(root / ".runyard" / "state" / "runyard.db", url=LOCAL)
    for i in range(5):
        run_id = f"260101-00000{i}-aaaaa{i}"
        store.create_run(
            make_run(run_id, "exp" if i % 2 else "other", created=1000.0 + i,
                     user_name=f"user{i % 2}", user_email=f"u{i % 2}@example.com",
                     machine="box")
        )  # fmt: skip
        store.set_status(run_id, "running", pid=100 + i)
        store.set_params(run_id, {"lr": str(0.1 * i), "layers": "3"})
        store.set_tags(run_id, {"team": "a"})
        store.set_artifacts(run_id, [("model.pt", 1234 + i), ("log.txt", 5)])
        n = CHUNK_POINTS + 300 if i == 0 else 500
        store.add_metrics(run_id, [("loss", s, 1.0 + s, 1.0 / (s + 1)) for s in range(n)])
        store.add_metrics(
            run_id, [("acc", 0, 1.0, math.nan), ("acc", 1, 2.0, math.inf), ("acc", 2, 3.0, 0.5)]
        )
        store.set_run_lock(
            run_id, "3.11.2", {"numpy": "2.0.1", "torch": "2.3.0"}, "uv",
            HostFacts(os="Linux", cpus=8, gpus=("A100",)),
        )  # fmt: skip
        store.set_status(run_id, "completed", exit_code=0)
    store.create_run(make_run("260101-000009-live00", status="running"))
    for version in (1, 2):
        store.add_model_version(
            ModelRecord(
                name="net", version=version, digest=f"sha256:{version}", size=10, kind="file",
                framework="torch", run_id="260101-000000-aaaaa0", source_path="outputs/m.pt",
                snapshot_commit=None, target="local", env_hash=None, created=2000.0 + version,
            )
        )  # fmt: skip
    store.set_model_alias("net", "prod", 2)
    store.put_deployment(
        Deployment(
            name="web", model="net", version=2, target="local", image=None, container_id=None,
            host="127.0.0.1", port=8080, status="running", created=3000.0,
        )
    )  # fmt: skip
    store.add_deployment_stats("web", 3001.0, 5, 0, 1.5, 3.0)
    store.add_deployment_stats("web", 3002.0, 9, 1, 1.5, 4.0)
    return store


def table_counts(store: Store) -> dict[str, int]:
    tables = [*RUN_TABLES, "model_versions", "model_aliases", "deployments", "deployment_stats"]
    return {t: int(store._read(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in tables}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def migrate(root: Path, url: str, pg: PostgresServer) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **pg.passfile_env(), "RUNYARD_STORE_URL": ""}
    env.pop("RUNYARD_STORE_URL")
    return subprocess.run(
        [*CLI, "store", "migrate", "--to", url, "--json"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_migrate_copies_everything_checks_counts_and_twice_changes_nothing(
    tmp_path: Path, pg_server: PostgresServer, pg_url: str
) -> None:
    root = tmp_path / "proj"
    (root / ".runyard" / "state").mkdir(parents=True)
    local = local_history(root)
    done = migrate(root, pg_url, pg_server)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["runs"] == {
        "copied": 5,
        "already_there": 0,
        "live_not_copied": ["260101-000009-live00"],
    }
    assert out["points"] == CHUNK_POINTS + 300 + 4 * 500 + 5 * 3
    assert (out["models"], out["aliases"], out["deployments"]) == (2, 1, 1)
    assert all(c["source"] == c["target"] for c in out["counts"].values())
    assert "copied 5 of 5 runs" in done.stderr
    assert out["target"] == pg_url  # no password to hide: none was given

    team = Store(root / "elsewhere.db", url=pg_url)
    assert team.dialect == "postgresql"
    ended = [r for r in local.list_runs() if not r.live]
    assert [r.to_json() for r in team.list_runs()] == [r.to_json() for r in ended]
    for run in ended:
        got = team.get_run(run.id)
        assert (got.user_email, got.machine) == (run.user_email, "box")
        assert team.params(run.id) == local.params(run.id)
        assert team.tags(run.id) == local.tags(run.id)
        assert team.artifacts(run.id) == local.artifacts(run.id)
        assert [h[0] for h in team.status_history(run.id)] == [
            h[0] for h in local.status_history(run.id)
        ]
        assert same(team.metric_summary(run.id), local.metric_summary(run.id))
        for key in ("loss", "acc"):
            assert same(team.metric_columns(run.id, key)[1:], local.metric_columns(run.id, key)[1:])
            cut_t, cut_l = (
                team.metric_series(run.id, key, 200),
                local.metric_series(run.id, key, 200),
            )
            assert same(cut_t.positions, cut_l.positions) and same(cut_t.values, cut_l.values)
        lock_t, lock_l = team.run_lock(run.id), local.run_lock(run.id)
        assert lock_t is not None and lock_l is not None
        assert (lock_t.packages, lock_t.host) == (lock_l.packages, lock_l.host)
    assert team.model_aliases("net") == {"prod": 2}
    assert [m.version for m in team.model_versions("net")] == [1, 2]
    assert team.deployment_stats("web") == local.deployment_stats("web")
    # the team store goes on: a new point on a copied run lands after the copied ones
    first = ended[-1].id
    team.add_metrics(first, [("loss", 10**6, 5.0, 0.25)])
    assert team.metric_columns(first, "loss")[1][-1] == 10**6
    assert team.metric_count(first, "loss") == CHUNK_POINTS + 301
    before = table_counts(team)

    again = migrate(root, pg_url, pg_server)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["runs"]["copied"] == 0 and second["runs"]["already_there"] == 5
    assert (second["models"], second["aliases"], second["deployments"]) == (0, 0, 0)
    assert second["differ"] == [first]  # it went on in the team store after the copy
    assert table_counts(team) == before
    team.close()
    local.close()


def test_migrate_refuses_a_password_in_the_url_and_a_store_that_is_down(
    tmp_path: Path, pg_server: PostgresServer, pg_url: str
) -> None:
    root = tmp_path / "proj"
    (root / ".runyard" / "state").mkdir(parents=True)
    local_history(root).close()
    with_password = pg_url.replace("runyard@", "runyard:s3cret@")
    done = migrate(root, with_password, pg_server)
    assert done.returncode == 2 and "holds a password" in done.stderr
    assert "s3cret" not in done.stderr and "~/.pgpass" not in done.stdout
    down = pg_url.replace(f":{pg_server.port}/", ":1/")
    done = migrate(root, down, pg_server)
    assert done.returncode == 1 and "Could not reach the team store" in done.stderr
    assert "Traceback" not in done.stderr
