"""``runyard/jobs/list``: the project's run configurations (``.runyard/jobs/*.yml``),
with the files that do not load reported as problems instead of failing the list."""

from __future__ import annotations

from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.convert import from_fields
from runyard.lsp.features.common import config_problem
from runyard.lsp.server import RunyardServer, request


def _jobs(project: Project) -> p.JobsListResult:
    from runyard.core import config

    jobs: list[p.JobInfo] = []
    problems: list[p.ConfigProblem] = []
    for item in config.list_jobs(project):
        if isinstance(item, config.ConfigError):
            problems.append(config_problem(item))
            continue
        jobs.append(from_fields(p.JobInfo, item, file=str(item.path)))
    return p.JobsListResult(jobs=jobs, problems=problems)


def register(server: RunyardServer) -> None:
    @request(server, p.JOBS_LIST)
    async def jobs_list(ls: RunyardServer, params: p.ProjectParams) -> p.JobsListResult:
        return await ls.blocking(_jobs, ls.project_for(params.project))
