"""Warm starts of the language server: the next editor window's server is forked from a
process that has pygls, lsprotocol and Runyard's features imported.

Most of the server's start is its interpreter importing lsprotocol's types (some 0.6 s
of about 0.8 s on a small machine), and a window waits on it for its first rows. So
after a server has started the plain way, it starts a **warm server** (`runyard.warm`,
the mechanism the submit server uses) a few seconds later, once its own start is done:
a detached process that imports all of that and waits. The next server start in the
same environment (another window, a reload, a restart of the server) connects to it
first (`attach`, importing nothing heavy) and hands it its stdin, stdout and stderr;
the warm server forks a child that serves the editor over them, in the caller's folder
and environment, exactly as `python -m runyard.lsp` would. The caller stays as the
process the editor started: it passes SIGTERM and SIGINT on and ends with the child's
exit status, and the child ends when the caller is gone (killed outright).

Where it applies, and where it steps aside:

- stdio only (not `--tcp`), and not with `RUNYARD_SERVER_WARM=0` (the extension's
  `runyard.server.warmStart` setting turned off sets it);
- one warm server per user, interpreter, Runyard install and environment, less the
  variables an editor sets per window (`VSCODE_*` and the like): another environment
  starts another;
- it leaves `RUNYARD_SERVER_WARM_IDLE` seconds (default `IDLE_SECONDS`) after the last
  server it forked has ended, and at once when a Runyard module it imported changed on
  disk (a new version, an edit).
"""

from __future__ import annotations

import sys

from runyard import warm

IDLE_SECONDS = 600.0
# seconds between a plain start and its warm server's imports: the window's own first
# requests go first
DELAY_SECONDS = 3.0
KIND = warm.Kind(
    "lsp",
    switch="RUNYARD_SERVER_WARM",
    idle_seconds=IDLE_SECONDS,
    volatile=frozenset({"_", "PWD", "OLDPWD", "SHLVL", "APPLICATION_INSIGHTS_NO_STATSBEAT"}),
    volatile_prefixes=("VSCODE_", "ELECTRON_"),
    follows_caller=True,
)


def _stdio(argv: list[str]) -> bool:
    return not any(a == "--tcp" or a.startswith("--tcp=") for a in argv)


def attach(argv: list[str]) -> int | None:
    """Serve the editor through this environment's warm server: the server's exit
    status, or None when there is none (or it declined): start the plain way."""
    if not (KIND.enabled() and _stdio(argv)):
        return None
    return warm.call(KIND, argv)


def prepare_next(argv: list[str]) -> None:
    """After a plain start: start the warm server for the next one (detached; it waits
    `DELAY_SECONDS` before its imports). A thread of this server reaps it when it leaves
    first (idle, or stale), so it does not stay a zombie while this server runs."""
    if KIND.enabled() and _stdio(argv):
        proc = warm.start(KIND, "runyard.lsp.warm", str(DELAY_SECONDS))
        if proc is not None:
            import threading

            threading.Thread(target=proc.wait, name="runyard-warm-reaper", daemon=True).start()


def _run(argv: list[str]) -> int:
    """A served start, in its child: the plain server's `main`."""
    from runyard.lsp.__main__ import main

    sys.argv = ["runyard-lsp", *argv]
    return main(argv, attach=False, prepare=False)


def serve(path: str, delay: float) -> int:
    """The warm server on socket `path` (started by `prepare_next`)."""
    import time

    time.sleep(delay)
    # what a server start imports; one server made and dropped resolves lsprotocol's
    # types once (most of making one, some 60 ms), and starts no thread
    import runyard.lsp.__main__  # noqa: F401
    from runyard.lsp import codecache

    generated = codecache.install()
    from runyard.lsp.server import create_server

    create_server()
    generated.save()  # (what is new from here on is each forked server's to keep)
    return warm.serve(KIND, path, _run)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) == 4:
        sys.exit(serve(sys.argv[2], float(sys.argv[3])))
    sys.exit("usage: python -m runyard.lsp.warm serve SOCKET DELAY")
