"""`docker.local_wheels`: the wheels of this machine's find-links folders that a spec
pins exactly go into an environment image's build (a run's lock naming a local build,
such as PyTorch's CPU-only torch, installs in the image as it did here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.core import envs
from runyard.targets import docker


def _spec(text: str) -> envs.DependencySpec:
    return envs.DependencySpec("requirements", "requirements.txt", (), text.encode())


def test_only_exactly_pinned_wheels_of_the_find_links_folders_are_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in (
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torch-2.12.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "Typing_Extensions-4.16.0-py3-none-any.whl",
        "six-1.16.0-py2.py3-none-any.whl",
    ):
        (wheels / name).write_bytes(b"")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{tmp_path / 'missing'} file://{wheels}")
    spec = _spec("torch==2.13.0+cpu\ntyping-extensions == 4.16.0  # pinned\nsix>=1.16\n")
    found = docker.local_wheels(spec)
    assert sorted(found) == [
        "Typing_Extensions-4.16.0-py3-none-any.whl",
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
    ]
    assert all(path.parent == wheels for path in found.values())
    assert docker.local_wheels(_spec("six>=1.16\n")) == {}  # nothing pinned: nothing sent


def test_the_first_stage_alone_gets_the_wheels_and_the_key_names_them() -> None:
    spec = _spec("torch==2.13.0+cpu\n")
    text = docker.env_dockerfile("base:1", "python3", spec, {}, ca=False, wheels=True)
    first, second = text.split("\nFROM base:1\n")
    assert f"COPY wheels {docker.WHEELS}" in first and f"PIP_FIND_LINKS={docker.WHEELS}" in first
    assert docker.WHEELS not in second  # never in the image itself
    plain = docker.image_hash(spec, "sha256:base", {}, None, "uv")
    assert docker.image_hash(spec, "sha256:base", {}, None, "uv", ()) == plain  # as before
    assert docker.image_hash(spec, "sha256:base", {}, None, "uv", ["torch.whl"]) != plain
