"""Config intelligence for target and job files: completion, hover, and the project
reference checks of `validate_document(..., project=)`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.core.config import ConfigError, Kind, validate_document
from runyard.core.project import Project
from runyard.lsp import yamlintel
from runyard.lsp.yamlintel import Completion, HoverInfo, TextRange, complete, hover


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    yamlintel.clear_caches()
    yield
    yamlintel.clear_caches()


def _write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    _write(root / ".runyard/targets/local.yml", "type: local\n")
    _write(root / ".runyard/targets/gpu-box.yml", "type: local\n")
    (root / ".runyard/jobs").mkdir(parents=True)
    _write(root / "train.py", "print('train')\n")
    _write(root / "evaluate.py")
    _write(root / "src/models/train_big.py")
    _write(root / "requirements.txt", "numpy\n")
    _write(root / "notes.md")
    # Places that must never be offered.
    _write(root / ".git/hooks/trainhook.py")
    _write(root / ".runyard/state/train_state.py")
    _write(root / ".venv/lib/train_venv.py")
    _write(root / "myenv/pyvenv.cfg", "home = /usr/bin\n")
    _write(root / "myenv/lib/train_env.py")
    _write(root / "node_modules/pkg/train_node.py")
    _write(root / "src/__pycache__/train_cache.py")
    return Project(root)


def labels(items: list[Completion]) -> list[str]:
    return [item.label for item in items]


def at_end(text: str, kind: Kind, project: Project | None = None) -> list[Completion]:
    """Completions with the cursor at the very end of `text`."""
    lines = text.split("\n")
    return complete(text, kind, len(lines) - 1, len(lines[-1]), project)


def job_errors(project: Project, text: str) -> list[ConfigError]:
    return validate_document(text, "job", project.jobs_dir / "train.yml", project=project)


# --------------------------------------------------------------------------- key completion


def test_key_completion_offers_missing_keys_only() -> None:
    text = "script: train.py\ntarget: local\n\n"
    items = complete(text, "job", 2, 0)
    got = labels(items)
    assert "script" not in got and "target" not in got
    assert {"args", "env", "requirements", "framework", "gpus", "description"} <= set(got)
    # script is set: its exclusive alternative module is not offered either
    assert "module" not in got
    args = next(i for i in items if i.label == "args")
    assert args.kind == "field"
    assert args.insert_text == "args: "
    assert args.documentation and "Command-line arguments" in args.documentation
    assert args.range == TextRange(2, 0, 2, 0)


def test_key_completion_of_a_partial_key() -> None:
    text = "target: local\nscr"
    items = at_end(text, "job")
    assert labels(items) == ["script"]
    assert items[0].insert_text == "script: "
    assert items[0].range == TextRange(1, 0, 1, 3)


def test_key_completion_inside_an_existing_key_keeps_the_colon() -> None:
    items = complete("scr: train.py\n", "job", 0, 2)
    assert "script" in labels(items)
    item = next(i for i in items if i.label == "script")
    assert item.insert_text == "script"
    assert item.range == TextRange(0, 0, 0, 3)


def test_target_key_completion_follows_the_type() -> None:
    assert labels(complete("description: gpu box\n\n", "target", 1, 0)) == ["type"]
    got = labels(complete("type: local\n\n", "target", 1, 0))
    assert "type" not in got
    assert {"python", "env", "system_site_packages", "index_url", "description"} <= set(got)
    # a type given by the caller wins
    assert "python" in labels(complete("\n", "target", 0, 0, target_type="local"))


def test_no_key_completion_in_nested_maps_or_comments() -> None:
    assert complete("script: a.py\nenv:\n  HO", "job", 2, 4) == []
    assert complete("# scr", "job", 0, 5) == []


def test_completion_on_a_document_with_a_syntax_error_elsewhere(project: Project) -> None:
    text = 'script: train.py\nargs: ["--x", \ntarget: \nenv: {a: [\n'
    items = complete(text, "job", 2, len("target: "), project)
    assert labels(items) == ["gpu-box", "local"]
    assert all(i.kind == "target" for i in items)
    keys = complete(text + "fr", "job", 4, 2, project)
    assert labels(keys) == ["framework"]


# --------------------------------------------------------------------------- value completion


def test_type_value_completes_local() -> None:
    items = complete("type: ", "target", 0, 6)
    assert labels(items) == ["local", "docker", "ssh", "spark", "ray"]
    local = items[0]
    assert local.kind == "value"
    assert local.insert_text == "local"
    assert local.documentation and "this machine" in local.documentation
    # right after the colon, the space comes with it
    assert complete("type:", "target", 0, 5)[0].insert_text == " local"
    # what is typed so far filters
    assert labels(complete("type: lo", "target", 0, 8)) == ["local"]
    assert complete("type: xyz", "target", 0, 9) == []


def test_enum_and_boolean_values() -> None:
    assert labels(complete("script: a.py\nframework: ", "job", 1, 11)) == ["python", "pyspark"]
    assert labels(complete("script: a.py\ngpus: ", "job", 1, 6)) == ["all"]
    text = "type: local\nsystem_site_packages: "
    assert labels(complete(text, "target", 1, len("system_site_packages: "))) == [
        "true",
        "false",
    ]


def test_job_target_completes_target_names(project: Project) -> None:
    items = complete("script: train.py\ntarget: ", "job", 1, 8, project)
    assert labels(items) == ["gpu-box", "local"]
    assert labels(complete("target: gp", "job", 0, 10, project)) == ["gpu-box"]
    # without a project there is nothing to offer
    assert complete("target: ", "job", 0, 8) == []


def test_script_completes_project_files(project: Project) -> None:
    items = at_end("script: tr", "job", project)
    got = labels(items)
    assert "train.py" in got
    assert "src/models/train_big.py" in got
    assert "evaluate.py" not in got
    for hidden in ("trainhook", "train_state", "train_venv", "train_env", "train_node"):
        assert not any(hidden in label for label in got), (hidden, got)
    assert not any("__pycache__" in label for label in got)
    train = next(i for i in items if i.label == "train.py")
    assert train.kind == "file"
    assert train.insert_text == "train.py"
    assert train.range == TextRange(0, 8, 0, 10)
    # every .py file when nothing is typed; no other kinds of files
    everything = labels(at_end("script: ", "job", project))
    assert "evaluate.py" in everything
    assert "notes.md" not in everything and "requirements.txt" not in everything


def test_script_completion_inside_quotes(project: Project) -> None:
    items = at_end('script: "tr', "job", project)
    train = next(i for i in items if i.label == "train.py")
    assert train.insert_text == "train.py"
    assert train.range == TextRange(0, 9, 0, 11)


def test_requirements_completes_dependency_files(project: Project) -> None:
    _write(project.root / "pyproject.toml", "[project]\n")
    got = labels(at_end("requirements: ", "job", project))
    assert set(got) == {"requirements.txt", "pyproject.toml"}


def test_completion_on_a_long_document(project: Project) -> None:
    text = "script: train.py\n" + "".join(f"# line {i}\n" for i in range(300)) + "target: "
    lines = text.split("\n")
    assert [c.label for c in complete(text, "job", len(lines) - 1, len(lines[-1]), project)] == [
        "gpu-box",
        "local",
    ]
    assert "train.py" in [c.label for c in complete(text, "job", 0, 10, project)]


# --------------------------------------------------------------------------- hover


def test_hover_on_script_key() -> None:
    text = "description: x\nscript: train.py\n"
    info = hover(text, "job", 1, 2)
    assert isinstance(info, HoverInfo)
    assert info.markdown.startswith("**script**")
    assert "The Python file to run" in info.markdown
    assert "`train.py`" in info.markdown  # the schema's example
    assert (info.line, info.character, info.end_line, info.end_character) == (1, 0, 1, 6)
    # on the value: the same field, the range still the key
    on_value = hover(text, "job", 1, 10)
    assert on_value is not None and on_value.markdown == info.markdown
    assert (on_value.character, on_value.end_character) == (0, 6)


def test_hover_shows_values_and_defaults() -> None:
    info = hover("script: a.py\nframework: python\n", "job", 1, 0)
    assert info is not None
    assert "`python`" in info.markdown and "`pyspark`" in info.markdown
    assert "Default: `python`" in info.markdown


def test_hover_on_target_type_value() -> None:
    info = hover("type: local\n", "target", 0, 7)
    assert info is not None
    assert "run jobs on this machine" in info.markdown
    assert (info.line, info.character, info.end_line, info.end_character) == (0, 6, 0, 11)
    key = hover("type: local\n", "target", 0, 1)
    assert key is not None and key.markdown.startswith("**type**")


def test_hover_is_none_elsewhere() -> None:
    text = "script: train.py   # the entry point\n\nenv:\n  A: b\nnope: 1\n"
    assert hover(text, "job", 1, 0) is None  # blank line
    assert hover(text, "job", 0, 17) is None  # spaces before the comment
    assert hover(text, "job", 0, 25) is None  # in the comment
    assert hover(text, "job", 3, 2) is None  # nested
    assert hover(text, "job", 4, 1) is None  # unknown field
    assert hover(text, "job", 99, 0) is None


# --------------------------------------------------------------------------- reference checks


def test_missing_script_is_reported_on_the_value(project: Project) -> None:
    errors = job_errors(project, "description: x\nscript: trian.py\n")
    assert len(errors) == 1
    err = errors[0]
    assert err.field == "script"
    assert "'trian.py' does not exist in the project folder" in err.problem
    assert err.expected is not None and "train.py" in err.expected
    assert (err.line, err.column, err.end_line, err.end_column) == (2, 9, 2, 17)


def test_missing_script_without_a_close_match(project: Project) -> None:
    (err,) = job_errors(project, "script: zzz/qqq.py\n")
    assert "does not exist" in err.problem
    assert err.expected is not None and "Python file" in err.expected


def test_script_that_is_a_folder(project: Project) -> None:
    (err,) = job_errors(project, "script: src\n")
    assert "is a folder" in err.problem


def test_missing_requirements_is_reported(project: Project) -> None:
    (err,) = job_errors(project, "script: train.py\nrequirements: requirement.txt\n")
    assert err.field == "requirements"
    assert "does not exist" in err.problem
    assert err.expected is not None and "requirements.txt" in err.expected
    assert (err.line, err.column, err.end_line, err.end_column) == (2, 15, 2, 30)


def test_unknown_target_is_reported_with_a_suggestion(project: Project) -> None:
    (err,) = job_errors(project, "script: train.py\ntarget: gpu-bx\n")
    assert err.field == "target"
    assert "no target named 'gpu-bx'" in err.problem
    assert err.expected is not None and "gpu-box" in err.expected
    assert (err.line, err.column, err.end_line, err.end_column) == (2, 9, 2, 15)
    assert "runyard target add" in str(err)


def test_unknown_target_in_a_project_without_targets(tmp_path: Path) -> None:
    (tmp_path / ".runyard/jobs").mkdir(parents=True)
    _write(tmp_path / "train.py")
    errors = validate_document(
        "script: train.py\ntarget: gpu\n",
        "job",
        tmp_path / ".runyard/jobs/a.yml",
        project=Project(tmp_path),
    )
    (err,) = errors
    assert "no targets" in (err.expected or "")
    assert "runyard target add gpu" in str(err)


def test_valid_references_give_no_errors(project: Project) -> None:
    text = "script: src/models/train_big.py\ntarget: local\nrequirements: requirements.txt\n"
    assert job_errors(project, text) == []


def test_no_reference_errors_without_a_project(project: Project) -> None:
    text = "script: trian.py\ntarget: nope\nrequirements: nope.txt\n"
    assert validate_document(text, "job", project.jobs_dir / "train.yml") == []
    assert len(job_errors(project, text)) == 3


def test_reference_errors_come_with_schema_errors_in_order(project: Project) -> None:
    text = "script: trian.py\ngpus: many\ntarget: nope\n"
    errors = job_errors(project, text)
    assert [(e.line, e.field) for e in errors] == [(1, "script"), (2, "gpus"), (3, "target")]


def test_target_address_scheme(project: Project) -> None:
    path = project.targets_dir / "docker.yml"
    errors = validate_document("type: local\naddress: foo\n", "target", path, project=project)
    address = [e for e in errors if e.field == "address"]
    # the schema rejects the field for local targets, and the value is checked too
    assert any("unknown field" in e.problem for e in address)
    (value,) = [e for e in address if e.column == 10]
    assert "unix://" in (value.expected or "")
    assert (value.line, value.end_column) == (2, 13)
    ok = validate_document(
        "type: local\naddress: unix:///var/run/docker.sock\n", "target", path, project=project
    )
    assert all(e.column != 10 for e in ok)
    assert not any("unix://" in (e.expected or "") for e in ok)


def test_reference_checks_never_raise(project: Project) -> None:
    path = project.jobs_dir / "x.yml"
    for text in (
        "script: [\n",
        "- a\n",
        "",
        'script: "a\\0b.py"\n',
        "script: " + "a" * 5000 + ".py\n",
        "script: ../up.py\n",
        "target: 'bad name'\n",
    ):
        assert isinstance(validate_document(text, "job", path, project=project), list)
