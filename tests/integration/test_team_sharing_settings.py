"""The team settings of `.runyard/config.yml` (`core.config.settings.team_settings`):
defaults, values, and a bad value named with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.core.config.errors import ConfigError
from runyard.core.config.settings import TeamSettings, team_settings


def settings(tmp_path: Path, text: str | None) -> TeamSettings:
    (tmp_path / ".runyard").mkdir(exist_ok=True)
    if text is not None:
        (tmp_path / ".runyard" / "config.yml").write_text(text)
    return team_settings(tmp_path)


def test_defaults_without_the_file_or_the_fields(tmp_path: Path) -> None:
    assert settings(tmp_path, None) == TeamSettings()
    assert settings(tmp_path, "default_target: local\n") == TeamSettings()
    assert TeamSettings().cancel == "owner"


def test_values_are_read_and_a_relative_root_is_the_projects(tmp_path: Path) -> None:
    got = settings(
        tmp_path, "snapshots_remote: origin\nartifact_root: shared/art\ncancel: anyone\n"
    )
    assert got.snapshots_remote == "origin"
    assert got.artifact_root == tmp_path / "shared" / "art"
    assert got.cancel == "anyone"
    url = "git@example.com:team/vision.git"
    assert settings(tmp_path, f"snapshots_remote: '{url}'\n").snapshots_remote == url


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("default_target: local\ncancel: everyone\n", "cancel", 2),
        ("snapshots_remote: 3\n", "snapshots_remote", 1),
        ("snapshots_remote: --upload-pack=x\n", "snapshots_remote", 1),
        ("artifact_root: ''\n", "artifact_root", 1),
    ],
)
def test_a_bad_value_names_the_file_line_and_field(
    tmp_path: Path, text: str, field: str, line: int
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, text)
    shown = str(caught.value)
    assert shown.startswith(f".runyard/config.yml:{line}:") and f"field '{field}'" in shown
