"""Who runs things, and where: the git identity and the machine a run is recorded with.

A run records who created it (schema version 8): `user.name` and `user.email` from git's
configuration as seen in the project (its own `.git/config` first, then the global
one, as `git config` resolves them), and this machine's host name. Either part of the
identity may be missing (no git, nothing configured): it is then NULL, never a guess
such as the login name. `runyard runs list --mine` asks for the runs of the identity
found here now (`current_user`).

Looked up with one `git config` process per project, remembered for `TTL` seconds (a
long-lived language server sees a changed identity within that time). A submission
does not ask again: its snapshot read the same settings (`snapshot.Survey`), and the
run is created naming them.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from runyard.core.errors import UsageError

TTL = 60.0

_CACHE: dict[str, tuple[float, Identity]] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Identity:
    """A git identity (either part None when not configured) and a machine."""

    name: str | None
    email: str | None
    machine: str | None

    @property
    def user(self) -> str | None:
        """How a listing asks for this user's runs: the email, else the name."""
        return self.email or self.name


def machine_name() -> str | None:
    """This machine's host name (uname's node name: what `socket.gethostname` answers,
    without importing `socket` on every submit)."""
    uname = getattr(os, "uname", None)
    if uname is not None:
        return uname().nodename or None
    import socket

    try:
        return socket.gethostname() or None
    except OSError:
        return None


def current_user(root: Path | None) -> Identity:
    """The git identity as seen from `root` (or the global one), and this machine."""
    key = str(root) if root is not None else ""
    now = time.monotonic()
    with _LOCK:
        known = _CACHE.get(key)
    if known is not None and now - known[0] < TTL:
        return known[1]
    values: dict[str, str] = {}
    try:
        out = subprocess.run(
            ["git", "config", "--get-regexp", r"^user\.(name|email)$"],
            cwd=root if root is not None and root.is_dir() else None,
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        ).stdout
        for line in out.splitlines():
            field, _, value = line.partition(" ")
            if value.strip():
                values[field.lower()] = value.strip()  # the last one wins, as in git
    except (OSError, subprocess.SubprocessError):
        pass
    found = Identity(values.get("user.name"), values.get("user.email"), machine_name())
    with _LOCK:
        _CACHE[key] = (now, found)
    return found


def user_filter(root: Path | None, user: str | None, mine: bool) -> str | None:
    """The `user=` a listing asks the store for: `user` as given (an email or a name), or
    with `mine` this project's git identity (UsageError when none is set, or both are
    given); None lists everyone's runs."""
    if user is not None and mine:
        raise UsageError("--user and --mine were both given.", hint="give one of them")
    if not mine:
        return user
    me = current_user(root).user
    if me is None:
        raise UsageError(
            "No git identity is set here, so your runs cannot be told from others'.",
            hint='set one: git config --global user.email "you@example.com"',
        )
    return me
