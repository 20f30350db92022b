"""The model registry: versions, content-addressed copies, aliases, lineage, bad paths."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.core.errors import NotFoundError, UsageError
from runyard.core.project import Project
from runyard.core.store import Store
from runyard.models import registry, views
from runyard.runner import runs
from tests.helpers import make_run

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    (root / ".runyard").mkdir(parents=True)
    return Project(root)


@pytest.fixture
def store(project: Project) -> Iterator[Store]:
    with runs.open_store(project) as s:
        yield s


def add_run(
    project: Project, store: Store, run_id: str, files: dict[str, bytes], status: str = "completed"
) -> Path:
    """A finished run in the store with `files` (relative path -> bytes) in its outputs."""
    store.create_run(
        make_run(
            run_id,
            "train",
            snapshot_ref=f"refs/runyard/runs/{run_id}",
            snapshot_commit=COMMIT,
            env_hash="env-abc123",
        )
    )
    if status != "queued":
        store.set_status(run_id, "running")
    if status != "running":
        store.set_status(run_id, status)
    outputs = runs.outputs_dir(project, run_id)
    outputs.mkdir(parents=True)
    for rel, data in files.items():
        path = outputs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return outputs


def test_register_a_file_records_lineage_and_copies_it(project: Project, store: Store) -> None:
    add_run(project, store, "260101-000000-aaaaaa", {"model.keras": b"weights-1"})
    model = registry.register(
        project,
        store,
        "aaaaaa",  # a unique part of the id is enough
        "model.keras",
        "digits",
        tags={"dataset": "mnist"},
        aliases=["staging"],
    )
    assert model.ref == "digits:1"
    assert model.digest == "sha256:" + hashlib.sha256(b"weights-1").hexdigest()
    assert (model.size, model.kind, model.framework) == (9, "file", "keras")
    assert model.run_id == "260101-000000-aaaaaa"
    assert model.source_path == "model.keras"
    assert (model.snapshot_commit, model.target, model.env_hash) == (COMMIT, "local", "env-abc123")
    assert model.tags == {"dataset": "mnist"}
    assert model.aliases == ("staging",)
    blobs = project.state_dir / "models" / "blobs" / "sha256"
    assert model.path == blobs / model.digest.split(":")[1]
    assert model.path.read_bytes() == b"weights-1"
    assert not os.access(model.path, os.W_OK) or os.geteuid() == 0
    assert model.path.stat().st_mode & 0o222 == 0


def test_versions_increment_and_same_content_shares_one_blob(
    project: Project, store: Store
) -> None:
    add_run(project, store, "260101-000000-aaaaaa", {"m.pt": b"same", "other.pt": b"other"})
    add_run(project, store, "260101-000001-bbbbbb", {"copy/m.pt": b"same"})
    first = registry.register(project, store, "aaaaaa", "m.pt", "net")
    second = registry.register(project, store, "bbbbbb", "copy/m.pt", "net")
    third = registry.register(project, store, "aaaaaa", "other.pt", "net")
    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert first.digest == second.digest and first.path == second.path
    assert third.digest != first.digest
    assert first.framework == "pytorch"
    blobs = project.state_dir / "models" / "blobs" / "sha256"
    assert sorted(p.name for p in blobs.iterdir()) == sorted({first.digest[7:], third.digest[7:]})
    assert not any((project.state_dir / "models" / "tmp").iterdir())
    assert [m.ref for m in registry.list_models(project, store, "net")] == [
        "net:1",
        "net:2",
        "net:3",
    ]
    assert registry.resolve(project, store, "net").version == 3
    assert registry.resolve(project, store, "net@latest").version == 3
    assert registry.resolve(project, store, "net:2").version == 2


def test_a_folder_digest_covers_paths_and_contents(project: Project, store: Store) -> None:
    files = {
        "saved/saved_model.pb": b"graph",
        "saved/variables/variables.index": b"index",
        "saved/variables/variables.data-00000-of-00001": b"data!",
    }
    add_run(project, store, "260101-000000-aaaaaa", files)
    add_run(
        project,
        store,
        "260101-000001-bbbbbb",
        {k.replace("saved/", "out/"): v for k, v in files.items()},
    )
    add_run(
        project,
        store,
        "260101-000002-cccccc",
        {"saved/saved_model.pb": b"graph", "saved/variables/renamed.index": b"index"},
    )
    one = registry.register(project, store, "aaaaaa", "saved/", "tfmodel")
    assert (one.kind, one.framework, one.size) == ("folder", "tensorflow", 15)
    assert one.source_path == "saved"
    assert one.path.is_dir()
    stored = sorted(p.relative_to(one.path).as_posix() for p in one.path.rglob("*") if p.is_file())
    assert stored == sorted(k[len("saved/") :] for k in files)
    # the same tree under another folder name: the same digest, the same blob
    two = registry.register(project, store, "bbbbbb", "out", "tfmodel")
    assert two.digest == one.digest and two.version == 2
    # a renamed file changes the digest even with the same bytes
    three = registry.register(project, store, "cccccc", "saved", "tfmodel")
    assert three.digest != one.digest


def test_framework_detection(project: Project, store: Store) -> None:
    sklearn_like = pickle.dumps(Path("x"))  # a pickle naming the module `pathlib`
    add_run(
        project,
        store,
        "260101-000000-aaaaaa",
        {
            "a.onnx": b"onnx",
            "b.pkl": sklearn_like,
            "c.joblib": b"\x80\x04\x95..sklearn.linear_model._base\x94..",
            "d.bin": b"?",
            "hf/config.json": b"{}",
            "hf/model.safetensors": b"w",
        },
    )
    assert registry.register(project, store, "aaaaaa", "a.onnx", "m").framework == "onnx"
    assert registry.register(project, store, "aaaaaa", "b.pkl", "m").framework is None
    assert registry.register(project, store, "aaaaaa", "c.joblib", "m").framework == "sklearn"
    assert registry.register(project, store, "aaaaaa", "d.bin", "m").framework is None
    assert registry.register(project, store, "aaaaaa", "hf", "m").framework == "transformers"
    whole = registry.register(project, store, "aaaaaa", ".", "everything")
    assert whole.kind == "folder" and whole.source_path == "."
    assert whole.filename == "everything"


def test_deleting_the_run_keeps_the_model_downloadable(
    project: Project, store: Store, tmp_path: Path
) -> None:
    add_run(
        project,
        store,
        "260101-000000-aaaaaa",
        {"model.h5": b"keras-weights", "bundle/a.txt": b"a", "bundle/sub/b.txt": b"bb"},
    )
    f = registry.register(project, store, "aaaaaa", "model.h5", "clf")
    d = registry.register(project, store, "aaaaaa", "bundle", "bundle")
    shutil.rmtree(project.run_dir("260101-000000-aaaaaa"))

    dest = tmp_path / "out"
    dest.mkdir()
    written = registry.download(project, store, "clf", dest)
    assert written == dest / "model.h5"
    assert written.read_bytes() == b"keras-weights"
    assert os.access(written, os.W_OK)  # a working copy, not the store's read-only one
    folder = registry.download(project, store, "bundle:1", dest / "copy")
    assert (folder / "a.txt").read_bytes() == b"a"
    assert (folder / "sub" / "b.txt").read_bytes() == b"bb"
    assert f.path.exists() and d.path.exists()

    with pytest.raises(UsageError, match="already exists"):
        registry.download(project, store, "clf:1", dest)
    with pytest.raises(NotFoundError, match="does not exist"):
        registry.download(project, store, "clf:1", tmp_path / "missing" / "x.h5")


def test_aliases_move_and_are_removed(project: Project, store: Store) -> None:
    add_run(project, store, "260101-000000-aaaaaa", {"m1.pt": b"1", "m2.pt": b"2"})
    registry.register(project, store, "aaaaaa", "m1.pt", "net", aliases=["production"])
    v2 = registry.register(project, store, "aaaaaa", "m2.pt", "net")
    assert registry.resolve(project, store, "net@production").version == 1
    moved = registry.set_alias(project, store, "net:2", "production")
    assert moved.aliases == ("production",) and moved.version == v2.version
    assert registry.resolve(project, store, "net@production").version == 2
    assert registry.resolve(project, store, "net:1").aliases == ()
    # registering with an alias takes it from the version that had it
    add_run(project, store, "260101-000001-bbbbbb", {"m3.pt": b"3"})
    registry.register(project, store, "bbbbbb", "m3.pt", "net", aliases=["production"])
    assert registry.resolve(project, store, "net@production").version == 3
    registry.remove_alias(project, store, "net", "production")
    with pytest.raises(NotFoundError, match="no alias 'production'"):
        registry.resolve(project, store, "net@production")
    with pytest.raises(NotFoundError, match="no alias"):
        registry.remove_alias(project, store, "net", "production")
    for bad in ("3", "latest", "bad alias", "-x", ""):
        with pytest.raises(UsageError):
            registry.set_alias(project, store, "net:1", bad)


def test_resolve_errors_say_what_exists(project: Project, store: Store) -> None:
    add_run(project, store, "260101-000000-aaaaaa", {"m.pt": b"1"})
    registry.register(project, store, "aaaaaa", "m.pt", "net", aliases=["staging"])
    with pytest.raises(NotFoundError, match="No model named 'nope'") as e:
        registry.resolve(project, store, "nope")
    assert e.value.hint and "net" in e.value.hint
    with pytest.raises(NotFoundError, match="no version 7") as e:
        registry.resolve(project, store, "net:7")
    assert e.value.hint and "1" in e.value.hint
    with pytest.raises(NotFoundError, match="no alias 'prod'") as e:
        registry.resolve(project, store, "net@prod")
    assert e.value.hint and "staging" in e.value.hint
    for bad in ("net:x", "net:0", "net:", "net@", "a:1:2", "a b", "", "net:1@x"):
        with pytest.raises(UsageError):
            registry.resolve(project, store, bad)
    assert registry.list_models(project, store) != []
    with pytest.raises(NotFoundError):
        registry.list_models(project, store, "nope")


def test_paths_must_stay_inside_the_outputs(project: Project, store: Store, tmp_path: Path) -> None:
    outputs = add_run(project, store, "260101-000000-aaaaaa", {"ok.pt": b"1", "dir/x.pt": b"x"})
    secret = tmp_path / "secret.pt"
    secret.write_bytes(b"secret")
    (outputs / "escape.pt").symlink_to(secret)
    (outputs / "escape_dir").symlink_to(tmp_path, target_is_directory=True)
    (outputs / "dir" / "inner_escape.pt").symlink_to(secret)
    (outputs / "inside.pt").symlink_to(outputs / "ok.pt")
    (project.run_dir("260101-000000-aaaaaa") / "run.log").write_text("log")

    cases = {
        "../run.log": "'..'",
        "dir/../../run.log": "'..'",
        str(outputs / "ok.pt"): "absolute",
        "/etc/passwd": "absolute",
        "escape.pt": "outside",
        "escape_dir/secret.pt": "outside",
        "dir": "outside",  # a link inside the folder leads out
        "missing.pt": "no output",
        "": "No path",
    }
    for path, message in cases.items():
        with pytest.raises(UsageError, match=message):
            registry.register(project, store, "aaaaaa", path, "m")
    assert registry.list_models(project, store) == []
    assert not (project.state_dir / "models" / "blobs" / "sha256").exists() or not any(
        (project.state_dir / "models" / "blobs" / "sha256").iterdir()
    )
    # a link that stays inside the outputs is followed
    inside = registry.register(project, store, "aaaaaa", "inside.pt", "m")
    assert inside.path.read_bytes() == b"1"
    assert inside.source_path == "inside.pt"


def test_bad_names_runs_and_live_runs_are_refused(project: Project, store: Store) -> None:
    add_run(project, store, "260101-000000-aaaaaa", {"m.pt": b"1"})
    add_run(project, store, "260101-000001-bbbbbb", {"m.pt": b"1"}, status="running")
    for bad in ("", "a/b", "a b", "..", ".hidden", "x:1", "x@y", "a" * 200):
        with pytest.raises(UsageError, match="not a valid model name"):
            registry.register(project, store, "aaaaaa", "m.pt", bad)
    with pytest.raises(UsageError, match="still running"):
        registry.register(project, store, "bbbbbb", "m.pt", "m")
    with pytest.raises(NotFoundError, match="No run matches"):
        registry.register(project, store, "zzzzzz", "m.pt", "m")
    with pytest.raises(UsageError, match="empty key"):
        registry.register(project, store, "aaaaaa", "m.pt", "m", tags={"": "x"})


def test_lineage_names_run_snapshot_target_env_and_deployments(
    project: Project, store: Store
) -> None:
    add_run(project, store, "260101-000000-aaaaaa", {"m.keras": b"1"})
    model = registry.register(project, store, "aaaaaa", "m.keras", "digits")
    with store._tx() as db:  # a deployment row, as the deployment code writes them
        db.execute(
            "INSERT INTO deployments (name, model, version, target, host, port, status, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("digits-api", "digits", 1, "local", "127.0.0.1", 8080, "running", time.time()),
        )
    data = views.lineage(project, store, "digits:1").to_json()
    assert data["model"]["ref"] == "digits:1" and data["model"]["digest"] == model.digest
    assert data["run"]["id"] == "260101-000000-aaaaaa"
    assert data["run"]["status"] == "completed"
    assert data["run"]["experiment"] == "train" and data["run"]["script"] == "train.py"
    assert (data["snapshot"], data["target"], data["env_hash"]) == (COMMIT, "local", "env-abc123")
    assert [(d["name"], d["status"], d["host"], d["port"]) for d in data["deployments"]] == [
        ("digits-api", "running", "127.0.0.1", 8080)
    ]
