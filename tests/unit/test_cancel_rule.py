"""Who may cancel a run (`runs.check_may_cancel`): on a team's store only the user who
ran it (the same git email) unless `cancel: anyone`; in a project's own SQLite store
every run is the user's, whatever git identity they have now."""

from __future__ import annotations

import pytest

from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.core.store import identity
from runyard.runner import runs
from tests.helpers import git, make_run


@pytest.fixture
def bob(project: Project) -> Project:
    git(project.root, "init", "-q")
    git(project.root, "config", "user.email", "bob@example.com")
    identity._CACHE.clear()  # the identity is remembered for a minute
    return project


def test_in_the_projects_own_store_a_run_of_an_earlier_identity_is_still_the_users(
    bob: Project,
) -> None:
    run = make_run("r1", user_email="ada@example.com", machine="lap")
    runs.check_may_cancel(bob, run, "sqlite")  # no error: one person's store


def test_on_a_team_store_only_who_ran_it_cancels_unless_anyone_may(bob: Project) -> None:
    ada = make_run("r1", user_email="Ada@Example.com", machine="lap")
    with pytest.raises(UsageError) as refused:
        runs.check_may_cancel(bob, ada, "postgresql")
    assert "Run r1 was started by Ada@Example.com on lap; ask them" in str(refused.value)
    runs.check_may_cancel(bob, make_run("r2", user_email="BOB@example.com"), "postgresql")
    runs.check_may_cancel(bob, make_run("r3", user_email=None), "postgresql")
    config = bob.root / ".runyard" / "config.yml"
    config.write_text((config.read_text() if config.exists() else "") + "cancel: anyone\n")
    runs.check_may_cancel(bob, ada, "postgresql")
