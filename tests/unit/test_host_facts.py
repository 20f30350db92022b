"""Host facts recorded with a run's lock (schema version 7): stored, read back, migrated
from version 6 keeping the lock, summarized and compared field by field."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from runyard.core.store import SCHEMA_VERSION, Run, Store
from runyard.core.store.locks import HostFacts
from runyard.core.store.schema import MIGRATIONS

FACTS = HostFacts(
    os="Linux",
    release="6.1.0",
    distro="Debian GNU/Linux 12 (bookworm)",
    machine="x86_64",
    cpu="Intel(R) Xeon(R) CPU",
    cpus=8,
    gpus=("NVIDIA H100 80GB HBM3",),
)


def _run(run_id: str) -> Run:
    return Run(run_id, "exp", "queued", "local", "local", None, "train.py", ["python"])


def test_host_facts_are_stored_with_the_lock_and_replaced_with_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "runyard.db")
    store.create_run(_run("r1"))
    store.set_run_lock("r1", "3.11.2", {"six": "1.16.0"}, installer="uv", host=FACTS)
    lock = store.run_lock("r1")
    assert lock is not None and lock.host == FACTS
    assert lock.to_json()["host"] == FACTS.to_json()
    store.set_run_lock("r1", "3.11.2", {"six": "1.16.0"})  # replaced whole: no facts now
    again = store.run_lock("r1")
    assert again is not None and again.host is None and again.to_json()["host"] is None


def test_a_version_6_store_keeps_its_locks_without_host_facts(tmp_path: Path) -> None:
    path = tmp_path / "runyard.db"
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:6]:
        if callable(step):
            step(db)
        else:
            db.executescript(step)
    db.execute(
        "INSERT INTO runs (id, experiment, status, target, target_type, command, created) "
        "VALUES ('old', 'exp', 'completed', 'local', 'local', '[]', 1.0)"
    )
    db.execute("INSERT INTO run_locks VALUES ('old', '3.11.2', 'pip', 1.0)")
    db.execute("INSERT INTO run_lock_packages VALUES ('old', 'six', '1.16.0')")
    db.execute("PRAGMA user_version = 6")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION >= 7  # (7: host facts)
    lock = store.run_lock("old")
    assert lock is not None and lock.packages == {"six": "1.16.0"} and lock.host is None
    store.set_run_lock("old", "3.11.2", {"six": "1.16.0"}, host=FACTS)
    lock = store.run_lock("old")
    assert lock is not None and lock.host == FACTS


def test_unreadable_stored_facts_read_as_none_and_odd_fields_are_dropped(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "runyard.db")
    store.create_run(_run("r1"))
    store.set_run_lock("r1", "3.11.2", {}, host=FACTS)
    with store._tx() as db:
        db.execute("UPDATE run_locks SET host = '{not json' WHERE run_id = 'r1'")
    lock = store.run_lock("r1")
    assert lock is not None and lock.host is None
    odd = HostFacts.from_json({"os": "Linux", "cpus": "8", "gpus": "x", "newer": 1})
    assert odd == HostFacts(os="Linux")
    assert HostFacts.from_json(["not", "an", "object"]) is None
    assert HostFacts.from_json(json.loads(json.dumps(FACTS.to_json()))) == FACTS


def test_summary_and_differences_name_each_fact() -> None:
    assert FACTS.summary() == (
        "Linux 6.1.0 (Debian GNU/Linux 12 (bookworm)), x86_64, 8 x Intel(R) Xeon(R) CPU, "
        "NVIDIA H100 80GB HBM3"
    )
    other = HostFacts(os="Linux", release="6.1.0", machine="x86_64", cpu="AMD EPYC", cpus=2)
    assert other.summary() == "Linux 6.1.0, x86_64, 2 x AMD EPYC, no GPU"
    assert FACTS.differences(other) == [
        "distro: Debian GNU/Linux 12 (bookworm) -> unknown",
        "cpu: Intel(R) Xeon(R) CPU -> AMD EPYC",
        "cpus: 8 -> 2",
        "gpus: NVIDIA H100 80GB HBM3 -> none",
    ]
    assert FACTS.differences(FACTS) == []
