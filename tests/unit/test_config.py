"""Targets, jobs and project settings: loading, positioned errors, writing, defaults, cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runyard.core import config
from runyard.core.config import (
    ConfigError,
    JobConfig,
    TargetConfig,
    default_target_name,
    init_project,
    list_jobs,
    list_targets,
    load_job,
    load_target,
    remove_target,
    set_default_target,
    validate_document,
    write_target,
)
from runyard.core.errors import NotFoundError, UsageError
from runyard.core.project import Project
from tests.helpers import job_error, target_error, write_job_file, write_target_file

# --------------------------------------------------------------------------- init


def test_init_creates_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "proj"
    proj, created = init_project(folder)
    assert proj.root == folder.resolve()
    runyard = folder / ".runyard"
    assert set(created) == {
        runyard / "targets" / "local.yml",
        runyard / "jobs" / ".gitkeep",
        runyard / ".gitignore",
    }
    assert (runyard / ".gitignore").read_text() == "state/\n"
    local = (runyard / "targets" / "local.yml").read_text()
    assert local.startswith("#")
    assert "type: local" in local
    assert load_target(proj, "local").type == "local"


def test_init_is_idempotent_and_never_overwrites(project: Project) -> None:
    local = project.targets_dir / "local.yml"
    local.write_text("type: local\npython: /usr/bin/python3\n")
    (project.runyard_dir / ".gitignore").write_text("custom\n")
    again, created = init_project(project.root)
    assert again == project
    assert created == []
    assert local.read_text() == "type: local\npython: /usr/bin/python3\n"
    assert (project.runyard_dir / ".gitignore").read_text() == "custom\n"


def test_init_recreates_only_missing_files(project: Project) -> None:
    (project.jobs_dir / ".gitkeep").unlink()
    _, created = init_project(project.root)
    assert created == [project.jobs_dir / ".gitkeep"]


# --------------------------------------------------------------------------- loading valid files


def test_local_target_defaults(project: Project) -> None:
    target = load_target(project, "local")
    assert target == TargetConfig(
        name="local",
        type="local",
        path=project.targets_dir / "local.yml",
        raw={"type": "local"},
        description=None,
        python=None,
        env={},
        system_site_packages=False,
        index_url=None,
        cancel_grace_seconds=10.0,
    )


def test_target_with_every_field(project: Project) -> None:
    write_target_file(
        project,
        "gpu",
        """\
        type: local
        description: The big box
        python: /opt/conda/bin/python
        env:
          CUDA_VISIBLE_DEVICES: "0,1"
          DEBUG: "1"
        system_site_packages: true
        index_url: https://mirror.example.com/simple
        cancel_grace_seconds: 2.5
        """,
    )
    target = load_target(project, "gpu")
    assert target.name == "gpu"
    assert target.description == "The big box"
    assert target.python == "/opt/conda/bin/python"
    assert target.env == {"CUDA_VISIBLE_DEVICES": "0,1", "DEBUG": "1"}
    assert target.system_site_packages is True
    assert target.index_url == "https://mirror.example.com/simple"
    assert target.cancel_grace_seconds == 2.5
    assert isinstance(load_target(project, "local").cancel_grace_seconds, float)


def test_job_defaults(project: Project) -> None:
    path = write_job_file(project, "train", "script: train.py\n")
    job = load_job(project, "train")
    assert job == JobConfig(
        name="train",
        path=path,
        script="train.py",
        module=None,
        args=[],
        env={},
        target=None,
        experiment=None,
        requirements=None,
        framework="python",
        gpus=None,
        outputs="outputs",
        description=None,
    )


def test_job_requirements_default_follows_the_project_files(project: Project) -> None:
    write_job_file(project, "train", "script: train.py\n")
    (project.root / "pyproject.toml").write_text("[project]\nname='x'\n")
    assert load_job(project, "train").requirements == "pyproject.toml"
    (project.root / "requirements.txt").write_text("numpy\n")
    assert load_job(project, "train").requirements == "requirements.txt"
    write_job_file(project, "train", "script: train.py\nrequirements: deps/dev.txt\n")
    assert load_job(project, "train").requirements == "deps/dev.txt"


def test_job_with_every_field(project: Project) -> None:
    write_job_file(
        project,
        "finetune",
        """\
        description: Fine-tune the model
        module: mypkg.train
        args: ["--epochs", "3", "--lr=0.1"]
        env: {WANDB_MODE: "offline"}
        target: gpu
        experiment: finetune-v2
        requirements: requirements-gpu.txt
        framework: pyspark
        gpus: 2
        outputs: results/out
        """,
    )
    job = load_job(project, "finetune")
    assert job.script is None
    assert job.module == "mypkg.train"
    assert job.args == ["--epochs", "3", "--lr=0.1"]
    assert job.env == {"WANDB_MODE": "offline"}
    assert job.target == "gpu"
    assert job.experiment == "finetune-v2"
    assert job.requirements == "requirements-gpu.txt"
    assert job.framework == "pyspark"
    assert job.gpus == 2
    assert job.outputs == "results/out"
    assert job.description == "Fine-tune the model"


def test_gpus_all_and_zero(project: Project) -> None:
    write_job_file(project, "a", "script: a.py\ngpus: all\n")
    write_job_file(project, "b", "script: a.py\ngpus: 0\n")
    assert load_job(project, "a").gpus == "all"
    assert load_job(project, "b").gpus == 0


def test_yaml_details_keep_strings_as_written(project: Project) -> None:
    write_job_file(
        project,
        "train",
        """\
        script: train.py
        experiment: 2024-01-01
        env:
          yes: "1"
        """,
    )
    job = load_job(project, "train")
    assert job.experiment == "2024-01-01"
    assert job.env == {"yes": "1"}


def test_a_yaml_extension_is_found_too(project: Project) -> None:
    (project.jobs_dir / "train.yaml").write_text("script: train.py\n")
    assert load_job(project, "train").script == "train.py"


def test_a_byte_order_mark_is_fine(project: Project) -> None:
    (project.jobs_dir / "train.yml").write_bytes(b"\xef\xbb\xbfscript: train.py\n")
    assert load_job(project, "train").script == "train.py"


# --------------------------------------------------------------------------- errors with positions


def test_unknown_key_points_at_the_key_and_suggests(project: Project) -> None:
    err = job_error(project, "args: []\nscrpt: train.py\n")
    assert (err.line, err.column, err.field) == (2, 1, "scrpt")
    assert err.end_line == 2 and err.end_column == 6
    text = str(err)
    assert text.startswith(".runyard/jobs/train.yml:2:1: field 'scrpt': unknown field.")
    assert "did you mean 'script'?" in text
    assert "Valid fields for a job:" in text


def test_unknown_target_key_in_a_local_target(project: Project) -> None:
    err = target_error(project, "type: local\npyhton: /usr/bin/python3\n")
    assert (err.line, err.column, err.field) == (2, 1, "pyhton")
    assert "did you mean 'python'?" in str(err)
    assert "a local target" in str(err)


def test_job_field_in_a_target_says_where_it_belongs(project: Project) -> None:
    err = target_error(project, "type: local\nscript: train.py\n")
    assert err.field == "script"
    assert "job files" in str(err)


def test_wrong_type_points_at_the_value(project: Project) -> None:
    err = target_error(project, "type: local\nsystem_site_packages: maybe\n")
    assert (err.line, err.column, err.field) == (2, 23, "system_site_packages")
    assert "got 'maybe' (a string)" in str(err)
    assert "Expected true or false" in str(err)


def test_an_int_in_args_must_be_quoted(project: Project) -> None:
    err = job_error(project, "script: train.py\nargs:\n  - --epochs\n  - 10\n")
    assert (err.line, err.column, err.field) == (4, 5, "args[1]")
    assert 'quote it: "10"' in str(err)
    assert "a number" in str(err)


def test_a_boolean_env_value_must_be_quoted_as_written(project: Project) -> None:
    err = job_error(project, "script: train.py\nenv:\n  DEBUG: yes\n")
    assert (err.line, err.column, err.field) == (3, 10, "env.DEBUG")
    assert 'quote it: "yes"' in str(err)


def test_script_and_module_both(project: Project) -> None:
    err = job_error(project, "script: train.py\nmodule: pkg.train\n")
    assert (err.line, err.column, err.field) == (2, 1, "module")
    assert "both 'script' and 'module' are set" in str(err)


def test_script_and_module_neither(project: Project) -> None:
    err = job_error(project, "args: [a]\n")
    assert (err.line, err.column) == (1, 1)
    assert "neither 'script' nor 'module' is set" in str(err)
    assert "script: train.py" in str(err)


def test_bad_enum_suggests(project: Project) -> None:
    err = job_error(project, "script: train.py\nframework: pyspak\n")
    assert (err.line, err.column, err.field) == (2, 12, "framework")
    assert "Expected one of: 'python', 'pyspark'" in str(err)
    assert "did you mean 'pyspark'?" in str(err)


def test_unknown_target_type(project: Project) -> None:
    err = target_error(project, "type: dockr\n")
    assert (err.line, err.column, err.field) == (1, 7, "type")
    assert "Expected one of: 'local', 'docker', 'ssh'" in str(err)
    assert "did you mean 'docker'?" in str(err)


def test_missing_type_points_at_the_mapping_start(project: Project) -> None:
    err = target_error(project, "\n\npython: /usr/bin/python3\n")
    assert (err.line, err.column, err.field) == (3, 1, "type")
    assert "required but missing" in str(err)
    assert "`type: local`" in str(err)


def test_number_limits(project: Project) -> None:
    err = target_error(project, "type: local\ncancel_grace_seconds: 0\n")
    assert (err.line, err.column, err.field) == (2, 23, "cancel_grace_seconds")
    assert "greater than 0" in str(err)
    err = job_error(project, "script: a.py\ngpus: -1\n")
    assert err.field == "gpus"
    assert "at least 0 or 'all'" in str(err)


def test_patterns_say_what_is_expected(project: Project) -> None:
    err = job_error(project, "module: 1pkg.train\n")
    assert err.field == "module" and "dotted module name" in str(err)
    err = job_error(project, "script: a.py\ntarget: my target\n")
    assert err.field == "target" and "letters, digits" in str(err)
    err = job_error(project, "script: a.py\nenv:\n  MY-VAR: x\n")
    assert (err.line, err.column, err.field) == (3, 3, "env.MY-VAR")
    assert "environment variable name" in str(err)


def test_paths_must_stay_in_the_project(project: Project) -> None:
    err = job_error(project, "script: /home/me/train.py\n")
    assert (err.field, err.line, err.column) == ("script", 1, 9)
    assert "absolute path" in str(err)
    err = job_error(project, "script: a.py\noutputs: ../elsewhere\n")
    assert err.field == "outputs" and "outside the project" in str(err)


def test_malformed_yaml_gives_the_parser_position(project: Project) -> None:
    err = job_error(project, "script: train.py\nargs: [a, b\nenv: {}\n")
    assert err.line == 3 and err.column is not None
    assert err.field is None
    assert "YAML syntax error" in str(err)


def test_tabs_are_explained(project: Project) -> None:
    err = job_error(project, "script: train.py\nenv:\n\tA: b\n")
    assert (err.line, err.column) == (3, 1)
    assert "tab" in str(err)


def test_empty_file(project: Project) -> None:
    err = job_error(project, "")
    assert (err.line, err.column) == (1, 1)
    assert "the file is empty" in str(err)
    err = job_error(project, "# nothing but a comment\n")
    assert "the file is empty" in str(err)


def test_top_level_not_a_mapping(project: Project) -> None:
    err = job_error(project, "- script: train.py\n")
    assert (err.line, err.column) == (1, 1)
    assert "the top level is a list" in str(err)
    err = target_error(project, "local\n")
    assert "the top level is 'local' (a string)" in str(err)


def test_non_utf8_file(project: Project) -> None:
    path = project.jobs_dir / "train.yml"
    path.write_bytes(b"script: train.py\ndescription: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_job(project, "train")
    err = info.value
    assert (err.file, err.line, err.column) == (path, 2, 17)
    assert "not UTF-8" in str(err)


def test_duplicate_key(project: Project) -> None:
    err = job_error(project, "script: a.py\nargs: []\nscript: b.py\n")
    assert (err.line, err.column, err.field) == (3, 1, "script")
    assert "duplicate key" in str(err) and "line 1" in str(err)


def test_more_than_one_document(project: Project) -> None:
    err = job_error(project, "script: a.py\n---\nscript: b.py\n")
    assert err.line == 2
    assert "more than one YAML document" in str(err)


def test_unsupported_tag_and_control_characters(project: Project) -> None:
    err = job_error(project, "script: !python/name:os.system x\n")
    assert (err.line, err.column) == (1, 9)
    assert "tag" in str(err)
    err = job_error(project, "script: a\x07.py\n")
    assert (err.line, err.column) == (1, 10)
    assert "U+0007" in str(err)


def test_config_error_is_a_usage_error_with_the_other_problems(project: Project) -> None:
    err = job_error(project, "scrpt: a.py\nframework: x\n")
    assert isinstance(err, UsageError)
    assert err.exit_code == 2
    assert err.line == 1
    assert [e.field for e in err.related] == ["framework"]


def test_bad_names(project: Project) -> None:
    with pytest.raises(UsageError, match="not a valid target name"):
        load_target(project, "../etc")
    with pytest.raises(UsageError, match="not a valid job name"):
        load_job(project, "-x")
    (project.targets_dir / "my target.yml").write_text("type: local\n")
    errors = [t for t in list_targets(project) if isinstance(t, ConfigError)]
    assert len(errors) == 1
    assert errors[0].file == project.targets_dir / "my target.yml"
    assert errors[0].line is None
    assert "'my target' is not a valid target name" in str(errors[0])


def test_missing_target_lists_the_available_ones(project: Project) -> None:
    write_target_file(project, "gpu", "type: local\n")
    with pytest.raises(NotFoundError) as info:
        load_target(project, "gpux")
    assert "gpux" in str(info.value)
    assert "did you mean 'gpu'?" in str(info.value)
    assert "gpu, local" in str(info.value)
    with pytest.raises(NotFoundError, match="no job named 'nope'"):
        load_job(project, "nope")


# --------------------------------------------------------------------------- validate_document


def test_validate_document_gives_every_error_in_order(tmp_path: Path) -> None:
    path = tmp_path / ".runyard" / "jobs" / "train.yml"
    text = "framework: nope\nbogus: a.py\nargs: [1, two, 3]\n"
    errors = validate_document(text, "job", path)
    found = [(e.line, e.column, e.field) for e in errors]
    assert found == [
        (1, 1, None),  # neither script nor module
        (1, 12, "framework"),
        (2, 1, "bogus"),
        (3, 8, "args[0]"),
        (3, 16, "args[2]"),
    ]
    # a misspelled `script` is reported once, as an unknown field with the fix
    errors = validate_document("scrpt: a.py\n", "job", path)
    assert [(e.field, e.hint) for e in errors] == [("scrpt", "did you mean 'script'?")]
    assert all(str(e).startswith(".runyard/jobs/train.yml:") for e in errors)


def test_validate_document_valid_and_never_raises(tmp_path: Path) -> None:
    path = tmp_path / ".runyard" / "targets" / "local.yml"
    assert validate_document("type: local\n", "target", path) == []
    for text in ["", "[", "a: b: c", "\t", "- 1", "{a: 1, a: 2}", "x: *nope", "\x00", "a: &a [*a]"]:
        for kind in ("target", "job"):
            errors = validate_document(text, kind, path)
            assert errors, (text, kind)
            assert all(isinstance(e, ConfigError) for e in errors)


def test_validate_document_checks_the_file_name(tmp_path: Path) -> None:
    errors = validate_document("type: local\n", "target", tmp_path / "bad name.yml")
    assert len(errors) == 1
    assert "not a valid target name" in str(errors[0])


# --------------------------------------------------------------------------- listing


def test_list_keeps_going_past_a_bad_file(project: Project) -> None:
    write_target_file(project, "a-broken", "type: [\n")
    write_target_file(project, "b-bad", "type: local\nbogus: 1\n")
    write_target_file(project, "gpu", "type: local\npython: /usr/bin/python3\n")
    items = list_targets(project)
    assert [type(i).__name__ for i in items] == [
        "ConfigError",
        "ConfigError",
        "TargetConfig",
        "TargetConfig",
    ]
    good = [i for i in items if isinstance(i, TargetConfig)]
    assert [t.name for t in good] == ["gpu", "local"]
    bad = [i for i in items if isinstance(i, ConfigError)]
    assert bad[0].file.name == "a-broken.yml"
    assert bad[1].field == "bogus"


def test_list_jobs(project: Project) -> None:
    assert list_jobs(project) == []
    write_job_file(project, "train", "script: train.py\n")
    write_job_file(project, "eval", "script: eval.py\nargs: [1]\n")
    items = list_jobs(project)
    assert isinstance(items[0], ConfigError) and items[0].field == "args[0]"
    assert isinstance(items[1], JobConfig) and items[1].name == "train"


def test_list_reports_a_name_defined_twice(project: Project) -> None:
    (project.targets_dir / "local.yaml").write_text("type: local\n")
    items = list_targets(project)
    assert len(items) == 2
    assert isinstance(items[0], TargetConfig)
    assert isinstance(items[1], ConfigError)
    assert "also defined" in str(items[1])


# --------------------------------------------------------------------------- writing targets


def test_write_target_validates_and_refuses_overwrite(project: Project) -> None:
    path = write_target(
        project,
        "gpu",
        "local",
        {
            "python": "/usr/bin/python3",
            "env": {"A": "1"},
            "index_url": None,
            "cancel_grace_seconds": "5",
            "system_site_packages": "true",
        },
    )
    assert path == project.targets_dir / "gpu.yml"
    target = load_target(project, "gpu")
    assert target.python == "/usr/bin/python3"
    assert target.env == {"A": "1"}
    assert target.index_url is None
    assert target.cancel_grace_seconds == 5.0
    assert target.system_site_packages is True
    assert validate_document(path.read_text(), "target", path) == []

    with pytest.raises(UsageError, match="already exists"):
        write_target(project, "gpu", "local", {})
    assert load_target(project, "gpu").python == "/usr/bin/python3"
    write_target(project, "gpu", "local", {}, force=True)
    assert load_target(project, "gpu").python is None


@pytest.mark.parametrize(
    ("type_", "options", "field", "words"),
    [
        ("local", {"cancel_grace_seconds": -1}, "cancel_grace_seconds", "greater than 0"),
        ("local", {"pyton": "/x"}, "pyton", "did you mean 'python'?"),
        ("local", {"env": {"A": 1}}, "env.A", "quote it"),
        ("docker", {}, None, "neither 'base_image' nor 'image' is set"),
        ("kubernetes", {}, "type", "Expected one of: 'local', 'docker', 'ssh'"),
    ],
)
def test_write_target_rejects_bad_options_before_writing(
    project: Project, type_: str, options: dict[str, Any], field: str | None, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        write_target(project, "gpu", type_, options)
    assert info.value.field == field
    assert words in str(info.value)
    assert not (project.targets_dir / "gpu.yml").exists()


def test_write_target_checks_the_name(project: Project) -> None:
    with pytest.raises(UsageError, match="not a valid target name"):
        write_target(project, "bad/name", "local", {})
    with pytest.raises(UsageError, match="not a valid target name"):
        write_target(project, ".hidden", "local", {})


def test_remove_target(project: Project) -> None:
    write_target(project, "gpu", "local", {})
    set_default_target(project, "gpu")
    assert remove_target(project, "gpu") == project.targets_dir / "gpu.yml"
    assert not (project.targets_dir / "gpu.yml").exists()
    assert default_target_name(project) == "local"
    with pytest.raises(NotFoundError):
        remove_target(project, "gpu")


# --------------------------------------------------------------------------- default target


def test_default_target_is_local_when_present(project: Project) -> None:
    write_target(project, "gpu", "local", {})
    assert default_target_name(project) == "local"


def test_default_target_is_the_only_one(project: Project) -> None:
    (project.targets_dir / "local.yml").unlink()
    with pytest.raises(UsageError, match="no targets"):
        default_target_name(project)
    write_target(project, "gpu", "local", {})
    assert default_target_name(project) == "gpu"
    write_target(project, "cpu", "local", {})
    with pytest.raises(UsageError, match="several targets") as info:
        default_target_name(project)
    assert "runyard target default" in str(info.value)


def test_set_default_target(project: Project) -> None:
    settings = project.runyard_dir / "config.yml"
    settings.write_text("# my settings\nsomething_else: 1\n")
    write_target(project, "gpu", "local", {})
    set_default_target(project, "gpu")
    assert default_target_name(project) == "gpu"
    assert settings.read_text() == "# my settings\nsomething_else: 1\ndefault_target: gpu\n"
    set_default_target(project, "local")
    assert default_target_name(project) == "local"
    assert settings.read_text() == "# my settings\nsomething_else: 1\ndefault_target: local\n"
    with pytest.raises(NotFoundError):
        set_default_target(project, "nope")
    with pytest.raises(UsageError):
        set_default_target(project, "bad name")


def test_set_default_target_quotes_names_yaml_would_misread(project: Project) -> None:
    write_target(project, "2024", "local", {})
    set_default_target(project, "2024")
    assert default_target_name(project) == "2024"


def test_default_target_in_settings_that_does_not_exist(project: Project) -> None:
    settings = project.runyard_dir / "config.yml"
    settings.write_text("default_target: ghost\n")
    with pytest.raises(ConfigError) as info:
        default_target_name(project)
    err = info.value
    assert (err.file, err.line, err.column, err.field) == (settings, 1, 17, "default_target")
    assert "ghost" in str(err)


def test_broken_settings_file(project: Project) -> None:
    (project.runyard_dir / "config.yml").write_text("default_target: [\n")
    with pytest.raises(ConfigError, match=r"\.runyard/config\.yml:2:1"):
        default_target_name(project)


# --------------------------------------------------------------------------- validation cache


def _cache_file(project: Project) -> Path:
    return project.state_dir / "cache" / "config-valid.json"


def _jsonschema_imported_in_subprocess(project: Project) -> bool:
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from runyard.core.config import load_target, load_job
        from runyard.core.project import Project
        project = Project(Path({str(project.root)!r}))
        assert load_target(project, "local").type == "local"
        assert load_job(project, "train").script == "train.py"
        print("jsonschema" in sys.modules, "yaml" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    jsonschema_loaded, yaml_loaded = out.stdout.split()
    assert jsonschema_loaded == yaml_loaded  # a cached document needs neither
    return jsonschema_loaded == "True"


def test_cache_skips_jsonschema_on_the_second_load(project: Project) -> None:
    project.state_dir.mkdir()
    write_job_file(project, "train", "script: train.py\n")
    assert _jsonschema_imported_in_subprocess(project)  # first load validates
    keys = json.loads(_cache_file(project).read_text())
    assert sorted(keys.values(), key=str) == [{"script": "train.py"}, {"type": "local"}]
    assert not _jsonschema_imported_in_subprocess(project)  # second load trusts the cache


def test_cache_keys_follow_the_content(project: Project) -> None:
    project.state_dir.mkdir()
    path = write_job_file(project, "train", "script: train.py\n")
    load_job(project, "train")
    path.write_text("script: train.py\nargs: [3]\n")
    with pytest.raises(ConfigError):
        load_job(project, "train")
    assert len(json.loads(_cache_file(project).read_text())) == 1  # invalid ones not cached


def test_cache_problems_never_fail_a_load(project: Project) -> None:
    ignore = project.root / ".runyard" / ".gitignore"
    kept = ignore.read_text()
    ignore.unlink()
    load_target(project, "local")  # no state folder git ignores: nothing cached, no error
    assert not project.state_dir.exists()
    ignore.write_text(kept)  # as `runyard init` wrote it: the cache may make the folder
    load_target(project, "local")
    assert len(json.loads(_cache_file(project).read_text())) == 1
    shutil.rmtree(project.state_dir)
    project.state_dir.mkdir()
    (project.state_dir / "cache").write_text("not a folder")
    assert load_target(project, "local").type == "local"
    (project.state_dir / "cache").unlink()
    (project.state_dir / "cache").mkdir()
    _cache_file(project).write_text("{ not json")
    assert load_target(project, "local").type == "local"
    assert len(json.loads(_cache_file(project).read_text())) == 1


# --------------------------------------------------------------------------- schemas


def _properties(node: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            found.append((key, value))
        for value in node.values():
            if isinstance(value, (dict, list)):
                found.extend(_properties(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_properties(item))
    return found


@pytest.mark.parametrize("kind", ["target", "job"])
def test_schemas_describe_every_property(kind: str) -> None:
    schema = json.loads(config.schema_path(kind).read_text())  # type: ignore[arg-type]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    props = _properties(schema)
    assert props
    for name, prop in props:
        if name == "type" and prop in (
            {"const": t} for t in ("local", "docker", "ssh", "spark", "ray")
        ):
            continue  # the `if` condition of a target type's branch
        assert isinstance(prop, dict) and prop.get("description"), (kind, name)
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)


def test_schema_properties_merges_the_target_type_branch() -> None:
    props = config.schema_properties("target", "local")
    assert list(props)[:2] == ["type", "description"]
    assert "python" in props and "cancel_grace_seconds" in props
    docker = config.schema_properties("target", "docker")
    assert "base_image" in docker and "system_site_packages" not in docker
    assert "base_image" not in props
    assert "python" not in config.schema_properties("target", "no-such-type")
    assert "master" in config.schema_properties("target", "spark")
