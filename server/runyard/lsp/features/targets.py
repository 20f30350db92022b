"""``runyard/targets/...``: list, add, remove, test, make default and trust a host key
of the project's compute targets, and `default_target`, the target a run goes to when
none is named (the submit request, code lenses and server info use it).

Every handler resolves the project, then does its work on the I/O pool; the config
module and the backends load on first use. Target infos (and which target is the
default) come from `runyard.runner.operations`; this module turns them into `protocol`
types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.features.common import config_problem
from runyard.lsp.server import RunyardServer, request

if TYPE_CHECKING:
    from runyard.runner.operations import TargetView


def default_target(
    server: RunyardServer, project: Project, settings: p.Settings | None = None
) -> str | None:
    """The target a run goes to when none is named: the client's setting when that
    target exists, else the project's default; None when there is none."""
    from runyard.runner import operations

    return operations.default_target(project, (settings or server.settings).default_target)


def _targets(server: RunyardServer, project: Project) -> p.TargetsListResult:
    from runyard.runner import operations

    found = operations.target_list(project, server.settings.default_target)
    return p.TargetsListResult(
        targets=[_target_info(t) for t in found.targets],
        default=found.default,
        problems=[config_problem(e) for e in found.problems],
    )


def _target_info(t: TargetView) -> p.TargetInfo:
    return p.TargetInfo(
        name=t.name,
        type=t.type,
        file=str(t.file),
        is_default=t.is_default,
        description=t.description,
        settings=dict(t.settings),
    )


def _add_target(server: RunyardServer, project: Project, params: p.TargetAddParams) -> p.TargetInfo:
    from runyard.core import config

    config.write_target(project, params.name, params.type, params.settings, force=params.force)
    if params.make_default:
        config.set_default_target(project, params.name)
    from runyard.runner import operations

    target = config.load_target(project, params.name)
    return _target_info(operations.target_view(target, default_target(server, project)))


def _remove_target(project: Project, name: str) -> p.TargetRemoveResult:
    from runyard.core import config

    path = config.remove_target(project, name)
    return p.TargetRemoveResult(name=name, file=str(path))


def _test_target(project: Project, name: str) -> p.TargetTestResult:
    from runyard.core import config
    from runyard.targets.base import check_target

    target = config.load_target(project, name)
    checks = check_target(target.type, target.raw)
    return p.TargetTestResult(
        name=name,
        ok=all(c.ok for c in checks),
        checks=[p.CheckInfo(name=c.name, ok=c.ok, detail=c.detail, fix=c.fix) for c in checks],
    )


def _set_default(project: Project, name: str) -> p.DefaultTargetResult:
    from runyard.core import config

    config.set_default_target(project, name)
    return p.DefaultTargetResult(name=name)


def _trust(project: Project, params: p.TargetTrustParams) -> p.TargetTrustResult:
    from runyard.core import config
    from runyard.targets.base import trust_host_key

    target = config.load_target(project, params.name)
    host, found, written = trust_host_key(target.type, target.raw, params.fingerprint)
    return p.TargetTrustResult(host=host, fingerprint=found, written=written)


def register(server: RunyardServer) -> None:
    @request(server, p.TARGETS_LIST)
    async def targets_list(ls: RunyardServer, params: p.ProjectParams) -> p.TargetsListResult:
        return await ls.blocking(_targets, ls, ls.project_for(params.project))

    @request(server, p.TARGETS_ADD)
    async def targets_add(ls: RunyardServer, params: p.TargetAddParams) -> p.TargetInfo:
        return await ls.blocking(_add_target, ls, ls.project_for(params.project), params)

    @request(server, p.TARGETS_REMOVE)
    async def targets_remove(ls: RunyardServer, params: p.TargetNameParams) -> p.TargetRemoveResult:
        return await ls.blocking(_remove_target, ls.project_for(params.project), params.name)

    @request(server, p.TARGETS_TEST)
    async def targets_test(ls: RunyardServer, params: p.TargetNameParams) -> p.TargetTestResult:
        return await ls.blocking(_test_target, ls.project_for(params.project), params.name)

    @request(server, p.TARGETS_SET_DEFAULT)
    async def targets_set_default(
        ls: RunyardServer, params: p.TargetNameParams
    ) -> p.DefaultTargetResult:
        return await ls.blocking(_set_default, ls.project_for(params.project), params.name)

    @request(server, p.TARGETS_TRUST)
    async def targets_trust(ls: RunyardServer, params: p.TargetTrustParams) -> p.TargetTrustResult:
        return await ls.blocking(_trust, ls.project_for(params.project), params)
