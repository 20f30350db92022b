"""`ssh` target files: what the schema accepts, and secrets refused with a clear message."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from runyard.core import config
from runyard.core.config import ConfigError, load_target, write_target
from runyard.core.project import Project
from runyard.targets import sshconn
from runyard.targets.base import BACKENDS, REATTACHABLE
from tests.helpers import target_error


def test_a_full_ssh_target_loads(project: Project) -> None:
    path = project.targets_dir / "vm.yml"
    path.write_text(
        textwrap.dedent(
            """\
            type: ssh
            description: the GPU box
            host: gpu-box.example.com
            port: 2200
            user: ubuntu
            identity_file: ~/.ssh/id_ed25519
            passphrase_env: GPU_BOX_PASSPHRASE
            use_agent: false
            python: /usr/bin/python3.11
            workdir: /scratch/runyard
            env:
              OMP_NUM_THREADS: "4"
            index_url: https://packages.example.com/simple
            cancel_grace_seconds: 5
            """
        )
    )
    target = load_target(project, "vm")
    assert target.type == "ssh"
    assert target.raw["host"] == "gpu-box.example.com" and target.raw["port"] == 2200
    assert target.env == {"OMP_NUM_THREADS": "4"}
    assert target.cancel_grace_seconds == 5.0
    assert config.validate_document(path.read_text(), "target", path) == []


def test_the_host_is_required(project: Project) -> None:
    err = target_error(project, "type: ssh\nuser: ubuntu\n")
    assert "host" in str(err)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("type: ssh\nhost: a\nport: 0\n", "port", "1"),
        ("type: ssh\nhost: a\nport: '22'\n", "port", "whole number"),
        ("type: ssh\nhost: ubuntu@box\n", "host", None),
        ("type: ssh\nhost: a\npassphrase_env: not a name\n", "passphrase_env", None),
        ("type: ssh\nhost: a\nbase_image: x\n", "base_image", "unknown field"),
        ("type: ssh\nhost: a\nuse_agent: maybe\n", "use_agent", None),
    ],
)
def test_bad_ssh_fields(project: Project, text: str, field: str, words: str | None) -> None:
    err = target_error(project, text)
    assert err.field == field
    if words:
        assert words in str(err)


@pytest.mark.parametrize("key", ["password", "passphrase", "private_key", "Password"])
def test_secrets_in_a_target_file_are_refused_clearly(project: Project, key: str) -> None:
    err = target_error(project, f"type: ssh\nhost: box\n{key}: hunter2\n")
    assert err.field == key
    assert "secrets never go in target files" in str(err)
    assert "passphrase_env" in str(err) and "ssh-add" in str(err)
    assert "hunter2" not in str(err)


def test_write_target_refuses_a_password(project: Project) -> None:
    options: dict[str, Any] = {"host": "box", "password": "hunter2"}
    with pytest.raises(ConfigError, match="secrets never go in target files"):
        write_target(project, "vm", "ssh", options)
    assert not (project.targets_dir / "vm.yml").exists()


def test_write_target_converts_command_line_values(project: Project) -> None:
    write_target(
        project, "vm", "ssh", {"host": "box", "port": "2222", "use_agent": "false"}, force=True
    )
    target = load_target(project, "vm")
    assert target.raw["port"] == 2222 and target.raw["use_agent"] is False


def test_ssh_is_a_registered_reattachable_backend() -> None:
    assert BACKENDS["ssh"] == "runyard.targets.ssh:SshBackend"
    assert "ssh" in REATTACHABLE
    props = config.schema_properties("target", "ssh")
    assert {"host", "port", "user", "identity_file", "python", "workdir"} <= set(props)


def test_endpoint_defaults_and_ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    key = tmp_path / ".ssh" / "box_key"
    key.write_text("not really a key\n")
    (tmp_path / ".ssh" / "config").write_text(
        f"Host box\n  HostName 10.1.2.3\n  User alice\n  Port 2201\n  IdentityFile {key}\n"
    )
    ep = sshconn.endpoint({"host": "box"})
    assert (ep.host, ep.port, ep.user, ep.identity_file) == ("10.1.2.3", 2201, "alice", str(key))
    assert ep.use_agent is True
    ep = sshconn.endpoint({"host": "box", "port": 22, "user": "bob", "use_agent": False})
    assert (ep.port, ep.user, ep.use_agent) == (22, "bob", False)
    assert sshconn.known_hosts_name("h", 22) == "h"
    assert sshconn.known_hosts_name("h", 2222) == "[h]:2222"
