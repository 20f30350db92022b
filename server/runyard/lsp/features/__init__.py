"""Server features, one module per noun, each with a ``register(server)`` function;
`runyard.lsp.server.create_server` registers them, in the order of `FEATURE_NAMES`.

`lifecycle` (settings, workspace folders, live feeds) comes first: the others find a
project's feed through what it sets up. Then the custom ``runyard/...`` requests, one
module per noun of `runyard.lsp.protocol` (`project`, `importers`, `targets`, `jobs`, `runs`,
`metrics`, `models`, `deployments`, `gallery`, `sweeps`), then the standard LSP features on
files: `config_files` (``.runyard/*.yml``) and `scripts` (Python scripts). `common`
holds what the request modules share and registers nothing; work-done progress and
its cancellation live in `runyard.lsp.progress`.

When: `AT_START` (lifecycle and the standard LSP features, which the capabilities that
``initialize`` answers come from) are registered as the server is made; the custom
requests' modules (`REQUEST_FEATURES`) and the protocol's types they import, once
``initialize`` is answered (`RunyardServer.warm_up`), or when the first of those
requests comes, if that is sooner.

Adding a request: declare it in `protocol.py` (and mirror it in ``protocol.ts``), write
its handler with ``@request(server, p.METHOD)`` in its noun's module here, or in a new
module named in `REQUEST_FEATURES`.

Importing this package imports none of them (`load` does); importing them imports
nothing heavy: git, YAML, the store and the backends load on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

AT_START: tuple[str, ...] = ("lifecycle", "config_files", "scripts")
REQUEST_FEATURES: tuple[str, ...] = (
    "project",
    "importers",
    "targets",
    "jobs",
    "runs",
    "metrics",
    "models",
    "deployments",
    "gallery",
    "sweeps",
)
FEATURE_NAMES: tuple[str, ...] = AT_START + REQUEST_FEATURES


def load(names: Iterable[str]) -> list[ModuleType]:
    """The feature modules `names` (of `FEATURE_NAMES`), imported."""
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def __getattr__(name: str) -> object:
    if name == "FEATURES":  # every feature module, in registration order
        return tuple(load(FEATURE_NAMES))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
