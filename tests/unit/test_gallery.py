"""The gallery catalog and scaffolding, on gallery folders made in the test (real files,
real git)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.gallery.catalog import default_root, load_catalog, scaffold


def _entry(entry_id: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": entry_id,
        "title": f"Sample {entry_id}",
        "description": "Trains a small model.",
        "framework": "scikit-learn",
        "task": "image classification",
        "tags": ["digits"],
        "targets": ["local", "docker"],
        "expected_runtime_seconds": 5,
        "metric": {"name": "accuracy", "goal": "max", "value": 0.95},
        "image": f"gallery/images/{entry_id}.svg",
        "template": f"templates/{entry_id}",
        "run": "runyard submit train.py",
    }
    data.update(changes)
    return data


def _root(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    root = tmp_path / "repo"
    (root / "gallery/images").mkdir(parents=True)
    for data in entries:
        entry_id = data["id"]
        template = root / "templates" / entry_id
        (template / ".runyard/targets").mkdir(parents=True, exist_ok=True)
        (template / "train.py").write_text("print('hi')\n")
        (template / "README.md").write_text(f"# {entry_id}\n\nA sample.\n")
        (template / ".runyard/targets/local.yml").write_text("type: local\n")
        (root / "gallery/images" / f"{entry_id}.svg").write_text("<svg/>")
        (root / "gallery" / f"{entry_id}.json").write_text(json.dumps(data))
    return root


def test_catalog_lists_entries_and_reports_broken_ones(tmp_path: Path) -> None:
    root = _root(tmp_path, _entry("good"), _entry("other"))
    (root / "gallery/broken.json").write_text('{"id": "broken",\n "title": }')
    (root / "gallery/wrong.json").write_text(json.dumps(_entry("wrong", framework="cntk")))
    (root / "gallery/escape.json").write_text(json.dumps(_entry("escape", template="../outside")))
    (root / "gallery/absolute.json").write_text(
        json.dumps(_entry("absolute", template="templates/good", image="/etc/passwd"))
    )
    catalog = load_catalog(root)
    assert [e.id for e in catalog.entries] == ["good", "other"]
    problems = {p.file.name: p.message for p in catalog.problems}
    assert set(problems) == {"broken.json", "wrong.json", "escape.json", "absolute.json"}
    assert "line 2" in problems["broken.json"] and "not valid JSON" in problems["broken.json"]
    assert "'cntk' is not one of" in problems["wrong.json"]
    assert "outside the repository" in problems["escape.json"]
    assert "absolute path" in problems["absolute.json"]
    with pytest.raises(RunyardError, match="broken"):
        catalog.find("broken")
    with pytest.raises(NotFoundError) as err:
        catalog.find("goood")
    assert err.value.hint == "did you mean 'good'?"


def test_a_linked_template_path_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path, _entry("good"))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "templates/linked").symlink_to(outside)
    (root / "gallery/linked.json").write_text(
        json.dumps(_entry("linked", image="gallery/images/good.svg"))
    )
    catalog = load_catalog(root)
    assert [p.file.name for p in catalog.problems] == ["linked.json"]
    assert "link" in catalog.problems[0].message


def test_scaffold_copies_inits_git_and_commits(tmp_path: Path) -> None:
    root = _root(tmp_path, _entry("good"))
    entry = load_catalog(root).find("good")
    dest = tmp_path / "work" / "my-proj"
    made = scaffold(entry, dest, name="My project")
    assert made.committed and made.root == dest
    assert made.files == [".runyard/targets/local.yml", "README.md", "train.py"]
    assert (dest / "README.md").read_text().startswith("# My project\n")
    log = subprocess.run(
        ["git", "-C", str(dest), "log", "--format=%s"], capture_output=True, text=True, check=True
    ).stdout
    assert log.strip() == "New project from the Runyard gallery: Sample good"
    status = subprocess.run(
        ["git", "-C", str(dest), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""
    assert made.next_command == f"cd {dest} && runyard submit train.py"


def test_scaffold_never_overwrites_without_force(tmp_path: Path) -> None:
    root = _root(tmp_path, _entry("good"))
    entry = load_catalog(root).find("good")
    dest = tmp_path / "existing"
    dest.mkdir()
    (dest / "train.py").write_text("mine\n")
    (dest / "notes.txt").write_text("keep\n")
    with pytest.raises(UsageError) as err:
        scaffold(entry, dest)
    assert "train.py" in str(err.value) and "nothing was written" in str(err.value)
    assert (dest / "train.py").read_text() == "mine\n"
    assert not (dest / "README.md").exists()
    made = scaffold(entry, dest, force=True)
    assert (dest / "train.py").read_text() == "print('hi')\n"
    assert (dest / "notes.txt").read_text() == "keep\n"
    assert made.committed


def test_scaffold_refuses_links_in_templates(tmp_path: Path) -> None:
    root = _root(tmp_path, _entry("good"))
    (root / "templates/good/data").symlink_to("/etc")
    entry = load_catalog(root).find("good")
    with pytest.raises(RunyardError, match="link"):
        scaffold(entry, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_scaffold_inside_an_existing_repository_does_not_commit(tmp_path: Path) -> None:
    root = _root(tmp_path, _entry("good"))
    entry = load_catalog(root).find("good")
    repo = tmp_path / "mono"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "sub").mkdir()
    made = scaffold(entry, repo / "sub")
    assert not made.committed
    assert not (repo / "sub/.git").exists()


def test_scaffold_into_a_file_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path, _entry("good"))
    entry = load_catalog(root).find("good")
    target = tmp_path / "afile"
    target.write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        scaffold(entry, target)


def test_the_shipped_gallery_is_valid() -> None:
    catalog = load_catalog(default_root())
    assert catalog.problems == []
    ids = {e.id for e in catalog.entries}
    assert {"keras-digits", "pytorch-digits", "sklearn-digits", "pyspark-mllib"} <= ids
    frameworks = {e.framework for e in catalog.entries}
    assert frameworks == {"tensorflow", "pytorch", "scikit-learn", "pyspark"}
    for entry in catalog.entries:
        assert entry.image.suffix in (".svg", ".png") and entry.image.stat().st_size < 50_000
        assert (entry.template / "train.py").is_file()
        assert (entry.template / "README.md").is_file()
        assert (entry.template / ".runyard/targets/local.yml").is_file()
        assert entry.metric.name in (entry.template / "train.py").read_text()
        assert os.access(entry.template, os.R_OK)
