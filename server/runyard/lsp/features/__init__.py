"""Server features, one module per noun, each with a ``register(server)`` function;
`FEATURES` is the one list `runyard.lsp.server.create_server` registers, in order.

`lifecycle` (settings, workspace folders, live feeds) comes first: the others find a
project's feed through what it sets up. Then the custom ``runyard/...`` requests, one
module per noun of `runyard.lsp.protocol` (`project`, `importers`, `targets`, `jobs`, `runs`,
`metrics`, `models`, `deployments`, `gallery`, `sweeps`), then the standard LSP features on
files: `config_files` (``.runyard/*.yml``) and `scripts` (Python scripts). `common`
holds what the request modules share and registers nothing; work-done progress and
its cancellation live in `runyard.lsp.progress`.

Adding a request: declare it in `protocol.py` (and mirror it in ``protocol.ts``), write
its handler with ``@request(server, p.METHOD)`` in its noun's module here, or in a new
module added to `FEATURES`.

Importing this package imports every feature module (pygls and lsprotocol, nothing
heavy: git, YAML, the store and the backends load on first use).
"""

from __future__ import annotations

from types import ModuleType

from runyard.lsp.features import (
    config_files,
    deployments,
    gallery,
    importers,
    jobs,
    lifecycle,
    metrics,
    models,
    project,
    runs,
    scripts,
    sweeps,
    targets,
)

FEATURES: tuple[ModuleType, ...] = (
    lifecycle,
    project,
    importers,
    targets,
    jobs,
    runs,
    metrics,
    models,
    deployments,
    gallery,
    sweeps,
    config_files,
    scripts,
)
