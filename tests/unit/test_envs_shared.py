"""`envs.prune_local` with environments shared through aliases, and `lock_digest`."""

from __future__ import annotations

import os
from pathlib import Path

from runyard.core import envs


def _env(envs_dir: Path, name: str) -> None:
    (envs_dir / name / "bin").mkdir(parents=True)
    (envs_dir / name / envs.MARKER).write_text("{}\n")


def _layout(envs_dir: Path) -> None:
    """`real` holds a set; `alias` is another spec resolving to it; `alone` is unshared."""
    _env(envs_dir, "real")
    _env(envs_dir, "alone")
    os.symlink("real", envs_dir / "alias")
    (envs_dir / envs.BY_LOCK).mkdir()
    os.symlink("../real", envs_dir / envs.BY_LOCK / "k1")
    os.symlink("../alone", envs_dir / envs.BY_LOCK / "k2")
    (envs_dir / "real.lock").write_text("")


def test_an_environment_a_live_run_reaches_through_an_alias_is_kept(tmp_path: Path) -> None:
    _layout(tmp_path)
    assert envs.prune_local(tmp_path, {"alias"}) == ["alone"]
    assert (tmp_path / "real" / envs.MARKER).is_file() and (tmp_path / "alias").is_symlink()
    assert sorted(p.name for p in (tmp_path / envs.BY_LOCK).iterdir()) == ["k1"]


def test_an_alias_no_live_run_uses_goes_and_its_environment_stays_for_a_live_run(
    tmp_path: Path,
) -> None:
    _layout(tmp_path)
    assert envs.prune_local(tmp_path, {"real"}) == ["alias", "alone"]
    assert (tmp_path / "real").is_dir() and not (tmp_path / "alias").is_symlink()


def test_with_nothing_live_everything_goes_and_the_index_is_emptied(tmp_path: Path) -> None:
    _layout(tmp_path)
    assert envs.prune_local(tmp_path, set()) == ["alias", "alone", "real"]
    assert not list((tmp_path / envs.BY_LOCK).iterdir())
    assert (tmp_path / "real.lock").is_file()  # build locks are not environments
    assert envs.prune_local(tmp_path / "missing", set()) == []


def test_the_lock_digest_is_the_set_not_how_it_was_written() -> None:
    one = envs.lock_digest("/usr/bin/python3", "uv", False, [("six", "1.16.0"), ("Idna", "3.1")])
    two = envs.lock_digest("/usr/bin/python3", "uv", False, [("idna", "3.1"), ("six", "1.16.0")])
    assert one == two
    assert one != envs.lock_digest(
        "/usr/bin/python3", "pip", False, [("six", "1.16.0"), ("idna", "3.1")]
    )
    assert one != envs.lock_digest(
        "/usr/bin/python3", "uv", True, [("six", "1.16.0"), ("idna", "3.1")]
    )
    assert one != envs.lock_digest(
        "/usr/bin/python3", "uv", False, [("six", "1.17.0"), ("idna", "3.1")]
    )


def test_an_alias_of_an_environment_that_is_gone_is_made_again(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    envs_dir = tmp_path / "envs"
    spec = envs.DependencySpec("none", None, (), b"")
    lines: list[str] = []
    digest = envs.env_hash(spec, envs.base_python(), None, False, "pip")
    envs_dir.mkdir()
    os.symlink("removed-by-hand", envs_dir / digest)
    with open(os.devnull, "wb") as null:
        env = envs.ensure_env(
            envs_dir, spec, work, index_url=None, system_site_packages=False,
            log=lines.append, log_fd=null.fileno(), installer="pip",
        )  # fmt: skip
    assert env.hash == digest and (envs_dir / digest / envs.MARKER).is_file()
    assert not (envs_dir / digest).is_symlink()
    assert f"environment {digest} shared an environment that is gone: it is made again" in lines
