"""Starts the Runyard language server from the packaged extension, over stdio.

    <python> <extension>/bundled/runyard_server.py [--log-level LEVEL]

The extension carries the server and its pure-Python dependencies in ``libs/`` beside
this file (scripts/build-vsix.sh puts them there). They go first on ``sys.path``, and
first on PYTHONPATH for the processes the server starts with this interpreter (each
run's supervisor); RUNYARD_BUNDLED_LIBS names the folder so the supervisor can keep it
away from the user's own code. Before the server starts, the interpreter's version and
every bundled dependency are checked: a problem is one line on stderr that says what to
do, and exit status 2.

Written to parse on any Python, so that an old interpreter gets that line too, not a
SyntaxError.
"""

import os
import sys

MIN_PYTHON = (3, 11)
# The server's run-time dependencies, as modules (pyproject.toml's dependencies, less
# paramiko: only Docker over ssh:// needs it, and the server says how to install it).
# Those the server imports as it starts are imported here; the others are only looked
# for, as the server loads them on first use and importing them here would slow every
# start. Snapshots run the git command (no Python git library), so it is looked for on
# PATH.
IMPORTED = ("attrs", "cattrs", "lsprotocol", "pygls")
LOOKED_FOR = ("yaml", "jsonschema", "docker")
SETTING_HINT = "point the runyard.pythonPath setting at Python 3.11 or newer"


def fail(message):
    sys.stderr.write("runyard: %s\n" % message)
    sys.stderr.flush()
    return 2


def check_dependencies(libs):
    """None when every dependency is there and imports, else the line that says which
    is not."""
    import importlib.util

    for name in IMPORTED + LOOKED_FOR:
        spec = importlib.util.find_spec(name)
        if spec is None or not (spec.origin or "").startswith(libs + os.sep):
            return (
                "the bundled module '%s' is missing from %s. Reinstall the Runyard extension."
                % (name, libs)
            )
    import shutil

    if shutil.which("git") is None:
        return (
            "Runyard needs the git command, and none was found on PATH (%s). Install git "
            "(Debian/Ubuntu: apt-get install git), then restart the server."
            % os.environ.get("PATH", "")
        )
    for name in IMPORTED:
        try:
            __import__(name)
        except Exception as exc:  # a dependency's import can fail in any way
            reason = ("%s: %s" % (type(exc).__name__, exc)).splitlines()[0].rstrip(".")
            return (
                "the bundled module '%s' does not import with Python %s at %s (%s). "
                "Reinstall the Runyard extension, or %s."
                % (name, version(), sys.executable, reason, SETTING_HINT)
            )
    return None


def version():
    return ".".join(str(part) for part in sys.version_info[:3])


def main():
    if sys.version_info < MIN_PYTHON:
        return fail(
            "the Runyard server needs Python 3.11 or newer, but %s is Python %s; %s."
            % (sys.executable, version(), SETTING_HINT)
        )
    here = os.path.dirname(os.path.realpath(__file__))
    libs = os.path.join(here, "libs")
    if not os.path.isdir(os.path.join(libs, "runyard")):
        return fail(
            "the bundled server is missing from %s. Reinstall the Runyard extension "
            "(in a checkout: bash scripts/build-vsix.sh --bundle-only)." % libs
        )
    # libs/ replaces this file's folder at the front of sys.path
    if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == here:
        sys.path[0] = libs
    else:
        sys.path.insert(0, libs)
    inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    os.environ["PYTHONPATH"] = os.pathsep.join([libs] + [p for p in inherited if p and p != libs])
    os.environ["RUNYARD_BUNDLED_LIBS"] = libs
    # A warm server of this same environment (started after an earlier plain start)
    # checked all of the below when it started: it serves at once.
    from runyard.lsp import warm

    served = warm.attach(sys.argv[1:])
    if served is not None:
        return served
    problem = check_dependencies(libs)
    if problem:
        return fail(problem)
    from runyard.lsp.__main__ import main as serve

    return serve(sys.argv[1:], attach=False)


if __name__ == "__main__":
    sys.exit(main())
