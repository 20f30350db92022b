"""Azure ML Workbench's ``azureml`` package, as far as its run logging goes: the runner
copies this folder to ``<run dir>/lib/azureml`` (first on the run's PYTHONPATH), so
``from azureml.logging import get_azureml_logger`` works in every run, on every
target, with no Workbench installed (see ``logging``).

It hides no real ``azureml``: this package's path is extended (``pkgutil.extend_path``)
with every other ``azureml`` folder on ``sys.path``, so ``azureml.core`` and the other
packages of Azure ML's SDKs import as before, and the ``__init__.py`` of the
``azureml`` the interpreter would have imported without this one is run here, so its
names are here too. Only ``azureml.logging`` is ours, wherever another one is
installed: Workbench's sent metrics to Workbench's own run history, which does not
exist outside Workbench (importing Workbench projects drops its SDK packages for
this reason).

Standard library only, Python 3.8 syntax.
"""

import os
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)


def _run_the_hidden_init() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in list(__path__):
        init = os.path.join(folder, "__init__.py")
        if os.path.abspath(folder) != here and os.path.isfile(init):
            with open(init, "rb") as f:
                code = compile(f.read(), init, "exec")
            exec(code, globals())
            return


_run_the_hidden_init()
