"""What the request features share: the project's store, opened for one request, and a
config file's problem as the protocol reports it.

Not a feature (it has no ``register``): `targets`, `jobs`, `runs`, `metrics`, `models`
and `deployments` import it. Everything here runs on the I/O pool, never on the event
loop; the store module loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runyard.core.errors import NotFoundError
from runyard.core.project import Project
from runyard.lsp import protocol as p

if TYPE_CHECKING:
    from runyard.core.store import Store


def open_store(project: Project) -> Store:
    from runyard.core.store import Store

    return Store(project.store_path)


def config_problem(err: Any) -> p.ConfigProblem:
    return p.ConfigProblem(file=str(err.file), message=str(err), line=err.line, column=err.column)


def require_store(project: Project) -> Store:
    from runyard.core.store import store_exists

    if not store_exists(project.store_path):
        raise NotFoundError("This project has no runs yet.", hint="submit one first")
    return open_store(project)
