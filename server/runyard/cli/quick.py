"""Warm submits: a small server that has the CLI imported, for `runyard submit` in a row.

Most of a plain `runyard submit`'s own time is its interpreter importing the CLI, the
snapshot, the store, the config checks and the supervisor (about 0.1 s of the 0.2 s
it adds to the script's start). When submits come in a row (a user iterating, a
script submitting many), the second plain submit within `REPEAT_WINDOW` seconds starts
a **submit server** for the next ones: a detached process that imports all of that
once and then, per submit, forks a child that runs the very same `cli.main.main` the
plain command runs, in the caller's folder, environment, umask and terminal (its
stdin, stdout and stderr are passed over the socket). The caller (this module's
`submit`, imported first by the `runyard` entry point with nothing heavy) waits for the
child's exit status and passes Ctrl-C (SIGINT), SIGTERM and SIGHUP on to it, so a
submit through the server behaves like a plain one: same output, same exit status,
Ctrl-C detaches from the run's log the same way.

Where it applies, and where it steps aside (the caller then runs the plain command,
having done nothing yet):

- only `runyard submit ...`, and not with `RUNYARD_SUBMIT_SERVER=0`;
- one server per user, Python interpreter, Runyard install and environment: the
  socket's name is a checksum of those (`_key`), and the server compares the caller's
  environment in full (less `_VOLATILE`) before it serves;
- the socket lives in a folder of the user's own (`$XDG_RUNTIME_DIR/runyard-<uid>`, or
  under `$TMPDIR` or /tmp), mode 0700, checked before use; the server also checks the
  caller's uid (SO_PEERCRED);
- a Runyard module the server imported that has changed on disk since (an upgrade, an
  edit) makes it decline and leave;
- it leaves after `RUNYARD_SUBMIT_SERVER_IDLE` seconds without a submit (default
  `IDLE_SECONDS`; never while a submit it forked runs), and when its socket is no
  longer its own.

The socket, the request and the server's life are `runyard.warm`'s, which the
language server's warm start (`lsp/warm.py`) shares. Each served submit is one line in
the server's log beside its socket (`<socket>.log`).
"""

from __future__ import annotations

import os
import sys

from runyard import warm

REPEAT_WINDOW = 60.0  # seconds: a second plain submit within this starts a server
IDLE_SECONDS = 120.0
# what differs between two commands of one shell without meaning anything to Runyard
KIND = warm.Kind(
    "submit",
    switch="RUNYARD_SUBMIT_SERVER",
    idle_seconds=IDLE_SECONDS,
    volatile=frozenset({"_", "PWD", "OLDPWD", "SHLVL"}),
)


def enabled() -> bool:
    return KIND.enabled()


def socket_path(create: bool = False) -> str | None:
    return KIND.socket_path(create)


def submit(argv: list[str]) -> int | None:
    """Run `runyard submit` with `argv` (the words after `runyard`) through this
    environment's submit server: its exit status, or None when there is no server or it
    declined (nothing has been done then: run the plain command)."""
    return warm.call(KIND, argv)


def after_plain_submit() -> None:
    """Called after a plain `runyard submit`: the second within `REPEAT_WINDOW` seconds
    starts this environment's submit server (detached) for the next ones."""
    import time

    path = socket_path(create=True)
    if path is None:
        return
    stamp = path[: -len(".sock")] + ".last"
    try:
        recent = time.time() - os.stat(stamp).st_mtime < REPEAT_WINDOW
    except OSError:
        recent = False
    try:
        if not recent:
            with open(stamp, "w"):
                pass
            return
        os.unlink(stamp)
    except OSError:
        return
    warm.start(KIND, "runyard.cli.quick")


def _run(argv: list[str]) -> int:
    """A served submit, in its child: the plain command's `main`."""
    from runyard.cli.main import main

    sys.argv = ["runyard", *argv]
    return main(argv)


def serve(path: str) -> int:
    """The submit server on socket `path` (started by `after_plain_submit`)."""
    # what a submit imports, once for all the submits it serves
    import runyard.cli.common
    import runyard.cli.main
    import runyard.cli.submit
    import runyard.core.config
    import runyard.core.snapshot
    import runyard.runner.supervisor

    runyard.cli.main.parser_for("submit")
    return warm.serve(KIND, path, _run)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) == 3:
        sys.exit(serve(sys.argv[2]))
    sys.exit("usage: python -m runyard.cli.quick serve SOCKET")
