"""Target and job names the file system cannot hold (over 255 bytes with `.yml`, or with
NUL) are refused with a message naming the name or the field, never an OSError."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from runyard.core import config
from runyard.core.config import ConfigError
from runyard.core.errors import UsageError
from runyard.core.project import Project
from tests.helpers import runyard

LONG = "x" * 300
# one byte too many: `<name>.yml` would be 256 bytes (names are ASCII: a byte a character)
JUST_OVER = "t" * 252


@pytest.mark.parametrize("name", [LONG, JUST_OVER, "a\x00b"])
def test_a_target_or_job_name_the_file_system_cannot_hold_is_a_usage_error_not_an_os_error(
    project: Project, name: str
) -> None:
    calls: list[Callable[[], object]] = [
        partial(config.load_target, project, name),
        partial(config.load_job, project, name),
        partial(config.set_default_target, project, name),
        partial(config.remove_target, project, name),
        partial(config.write_target, project, name, "local", {}),
    ]
    for call in calls:
        with pytest.raises(UsageError) as info:
            call()
        message = str(info.value)
        assert "not a valid" in message, message
        if "\x00" not in name:
            assert "at most 251 bytes" in message and len(message) < 300, message


def test_a_job_whose_target_field_is_over_the_limit_gets_a_config_error_naming_the_field(
    project: Project,
) -> None:
    (project.root / "train.py").write_text("print('hi')\n")
    path = project.jobs_dir / "train.yml"
    text = f"script: train.py\ntarget: {LONG}\n"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load_job(project, "train")
    err = info.value
    assert err.field == "target" and err.line == 2, str(err)
    assert "at most 251 bytes" in str(err)
    [problem] = config.validate_document(text, "job", path, project=project)
    assert problem.field == "target" and "at most 251 bytes" in str(problem)


def test_a_default_target_over_the_limit_in_the_settings_gets_a_config_error_naming_the_field(
    project: Project,
) -> None:
    (project.runyard_dir / "config.yml").write_text(f"default_target: {LONG}\n")
    with pytest.raises(ConfigError) as info:
        config.default_target_name(project)
    err = info.value
    assert err.field == "default_target" and err.line == 1, str(err)
    assert "at most 251 bytes" in str(err)


def test_the_cli_says_why_a_target_name_is_too_long_without_a_traceback(
    project: Project,
) -> None:
    proc = runyard(project.root, "target", "default", LONG)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "OSError" not in proc.stderr, proc.stderr
    assert "at most 251 bytes" in proc.stderr, proc.stderr


def test_a_name_ending_in_a_line_break_is_refused_and_never_becomes_a_file_name(
    project: Project,
) -> None:
    with pytest.raises(UsageError) as info:
        config.write_target(project, "gpu\n", "local", {})
    assert "not a valid target name" in str(info.value)
    assert sorted(p.name for p in project.targets_dir.iterdir()) == ["local.yml"]
    # a file that has one anyway is reported by name, not loaded as a target
    (project.targets_dir / "odd\n.yml").write_text("type: local\n")
    listed = config.list_targets(project)
    assert [t.name for t in listed if not isinstance(t, ConfigError)] == ["local"]
    [problem] = [t for t in listed if isinstance(t, ConfigError)]
    assert "is not a valid target name" in str(problem)


def test_a_job_whose_target_ends_in_a_line_break_gets_a_config_error_naming_the_field(
    project: Project,
) -> None:
    (project.root / "train.py").write_text("print('hi')\n")
    path = project.jobs_dir / "train.yml"
    text = 'script: train.py\ntarget: "local\\n"\n'
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load_job(project, "train")
    assert info.value.field == "target" and info.value.line == 2, str(info.value)
    assert "line break" in str(info.value)
