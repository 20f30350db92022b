"""The run's ``sitecustomize``: the runner copies this file to ``<run dir>/lib/sitecustomize.py``
(first on the run's PYTHONPATH on every target), so every Python process of the run
reads it at start-up.

What it does, inside a run (``RUNYARD_RUN_ID`` and ``RUNYARD_TRACKING_URI`` set) when
the user has not set ``MLFLOW_TRACKING_URI``: it puts one small finder first on
``sys.meta_path`` that waits for the first ``import mlflow``. Then, before any of
mlflow runs, it removes itself and starts Runyard's MLflow endpoint in this process
(``runyard.tracking.mlflow_endpoint.serve_for_run``), which points
``MLFLOW_TRACKING_URI`` at it. A script that never imports mlflow pays for one
function call per import and starts no server; one that does gets its MLflow calls
recorded in the Runyard run with no edit and no server to start by hand. Child
processes inherit ``MLFLOW_TRACKING_URI`` and so log to their parent's endpoint.

Then it runs the ``sitecustomize`` this one hides (Debian's Python has one), found
on ``sys.path`` past this file's folder, so adding ours never takes one away.

Standard library only, Python 3.8 syntax, and nothing imported at start-up that
the interpreter has not imported already (``os``, ``sys``); mlflow is not even looked
for until the script imports it, and the hidden ``sitecustomize`` runs from its cached
bytecode. A run's interpreter starts about 0.1 ms slower than with no
``sitecustomize`` of ours (``python -X importtime``), mlflow installed or not. Starting the endpoint never raises: a failure is
one line on stderr, and the script goes on. An error in the hidden
``sitecustomize`` is raised as it would have been without ours (``site`` reports it).
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


class _StartMlflowEndpoint:
    """A meta path finder that finds nothing: it starts the endpoint on the first
    import of mlflow, then steps out of the way."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name != "mlflow":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:  # already removed (another thread got here first)
            return None
        try:
            from runyard.tracking import mlflow_endpoint

            mlflow_endpoint.serve_for_run()
        except Exception as exc:
            import contextlib

            with contextlib.suppress(Exception):  # no usable stderr: stay silent
                sys.stderr.write(
                    f"runyard: MLflow's logging is not recorded in this run: the endpoint "
                    f"did not start ({exc!r})\n"
                )
        return None


def _in_a_run() -> bool:
    env = os.environ
    return bool(env.get("RUNYARD_RUN_ID") and env.get("RUNYARD_TRACKING_URI"))


def _install() -> None:
    if _in_a_run() and not os.environ.get("MLFLOW_TRACKING_URI"):
        sys.meta_path.insert(0, _StartMlflowEndpoint())


def _run_the_hidden_sitecustomize() -> None:
    """Run the ``sitecustomize`` the interpreter would have found without this one: the
    first ``sitecustomize.py`` (or package) on ``sys.path`` past this file's folder.
    Looked for with a few stats rather than ``importlib.util``, which start-up has not
    loaded (about 3 ms)."""
    for entry in sys.path:
        folder = os.path.abspath(entry or os.curdir)
        if folder == _HERE:
            continue
        for path in (
            os.path.join(folder, "sitecustomize.py"),
            os.path.join(folder, "sitecustomize", "__init__.py"),
        ):
            if os.path.isfile(path):
                _run_file(path)
                return


def _run_file(path: str) -> None:
    module = type(sys)("sitecustomize")
    module.__file__ = path
    if path.endswith("__init__.py"):
        module.__path__ = [os.path.dirname(path)]
    # The import system's own loader (loaded at start-up) reads the cached bytecode;
    # compiling the source every start costs about a millisecond.
    external = sys.modules.get("_frozen_importlib_external")
    source_loader = getattr(external, "SourceFileLoader", None)
    if source_loader is not None:
        loader = source_loader("sitecustomize", path)
        module.__loader__ = loader
        loader.exec_module(module)
        return
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    exec(code, module.__dict__)


_install()
_run_the_hidden_sitecustomize()
