"""The model and deployment views both faces render: a model listing by name, a
version's lineage, a deployment with its telemetry.

The CLI (`runyard.cli.models`, `runyard.cli.deploy`) and the language server
(`runyard.lsp.features.models`, `.deployments`) only parse their input and render what
these functions return, as `runyard.runner.operations` does for runs: frozen
dataclasses that the CLI turns into tables and `--json`, and the language server into
`protocol` types. So what "the latest version", "a model's aliases" or "a deployment's
telemetry" mean is decided once:

- *Latest version.* The highest version number of a name; a name's aliases are listed
  as ``alias→version``, in version order.
- *Telemetry.* A deployment's last recorded sample, never one of an earlier deployment
  that had the same name; a listing samples every running service at once and waits at
  most `SAMPLE_TIMEOUT` seconds for a silent one, which keeps its last sample.
- *Lineage.* Where a version came from (its run, that run's snapshot commit, target and
  environment) and where it went (its deployments, newest first). A run deleted since
  is shown as missing, not as an error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from runyard.core.errors import NotFoundError
from runyard.core.project import Project
from runyard.core.store import Deployment, Store
from runyard.models import deploy, registry
from runyard.models.registry import ModelVersion

# A listing of deployments waits this long (seconds) for a running service's /metrics.
SAMPLE_TIMEOUT = 2.0

# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSummary:
    """One model name: its latest version, how many versions it has, and its aliases."""

    name: str
    latest: ModelVersion
    versions: int
    aliases: tuple[str, ...]  # "alias→version", in version order


def summaries(models: list[ModelVersion]) -> list[ModelSummary]:
    """One summary per model name, in the order the names first appear in `models`
    (which `registry.list_models` gives oldest version first)."""
    latest: dict[str, ModelVersion] = {}
    counts: dict[str, int] = {}
    aliases: dict[str, list[str]] = {}
    for m in models:
        if m.name not in latest or m.version > latest[m.name].version:
            latest[m.name] = m
        counts[m.name] = counts.get(m.name, 0) + 1
        aliases.setdefault(m.name, []).extend(f"{a}→{m.version}" for a in m.aliases)
    return [ModelSummary(n, latest[n], counts[n], tuple(aliases[n])) for n in latest]


@dataclass(frozen=True)
class LineageRun:
    """The run that made a version; `missing` when it is no longer in the store (then
    only its id is known)."""

    id: str
    status: str | None = None
    experiment: str | None = None
    script: str | None = None
    created: float | None = None
    ended: float | None = None
    snapshot_ref: str | None = None
    missing: bool = False


@dataclass(frozen=True)
class LineageDeployment:
    name: str
    status: str
    host: str | None
    port: int | None
    target: str
    created: float


@dataclass(frozen=True)
class Lineage:
    """Where a version came from and where it went."""

    model: ModelVersion
    run: LineageRun
    snapshot: str | None  # the run's snapshot commit
    target: str | None
    env_hash: str | None
    deployments: tuple[LineageDeployment, ...]

    def to_json(self) -> dict[str, Any]:
        run = asdict(self.run)
        if self.run.missing:  # a missing run is known by its id alone
            run = {k: run[k] for k in ("id", "status", "experiment", "script", "missing")}
        return {
            "model": self.model.to_json(),
            "run": run,
            "snapshot": self.snapshot,
            "target": self.target,
            "env_hash": self.env_hash,
            "deployments": [asdict(d) for d in self.deployments],
        }


def lineage(project: Project, store: Store, ref: str) -> Lineage:
    """The lineage of version `ref` (NAME, NAME:VERSION or NAME@ALIAS)."""
    model = registry.resolve(project, store, ref)
    try:
        run = store.get_run(model.run_id)
    except NotFoundError:
        made_by = LineageRun(id=model.run_id, missing=True)
    else:
        made_by = LineageRun(
            id=run.id,
            status=run.status,
            experiment=run.experiment,
            script=run.script,
            created=run.created,
            ended=run.ended,
            snapshot_ref=run.snapshot_ref,
        )
    deployments = tuple(
        LineageDeployment(d.name, d.status, d.host, d.port, d.target, d.created)
        for d in store.model_deployments(model.name, model.version)
    )
    return Lineage(model, made_by, model.snapshot_commit, model.target, model.env_hash, deployments)


# ----------------------------------------------------------------------- deployments


@dataclass(frozen=True)
class Telemetry:
    """A telemetry sample: counts since the service started, latencies in ms."""

    time: float
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None

    @classmethod
    def from_sample(cls, sample: dict[str, Any]) -> Telemetry | None:
        if not sample:
            return None
        return cls(
            time=float(sample["time"]),
            requests=int(sample["requests"]),
            errors=int(sample["errors"]),
            p50_ms=sample.get("p50_ms"),
            p95_ms=sample.get("p95_ms"),
        )


@dataclass(frozen=True)
class DeploymentView:
    """A deployment with its telemetry (None when no sample was ever recorded)."""

    deployment: Deployment
    telemetry: Telemetry | None

    @property
    def url(self) -> str | None:
        dep = self.deployment
        return f"http://{dep.host}:{dep.port}" if dep.port else None

    @property
    def address(self) -> str | None:
        """host:port while it runs."""
        dep = self.deployment
        return f"{dep.host}:{dep.port}" if dep.port and dep.status == "running" else None

    def to_json(self, telemetry: bool = True) -> dict[str, Any]:
        """The deployment's fields, its model ref and URL, and (unless left out) its
        telemetry ({} when none)."""
        dep = self.deployment
        data = {**dep.to_json(), "ref": dep.ref, "url": self.url}
        if telemetry:
            data["telemetry"] = asdict(self.telemetry) if self.telemetry else {}
        return data


def deployments(
    project: Project, store: Store, timeout: float = SAMPLE_TIMEOUT
) -> list[DeploymentView]:
    """Every deployment, newest first, refreshed, the running ones sampled at once."""
    found = deploy.refresh_all(project, store.list_deployments(), timeout)
    return [view(store, d) for d in found]


def deployment(project: Project, store: Store, name: str) -> DeploymentView:
    """One deployment, refreshed, with its telemetry sampled now when it runs (raises
    when a running service does not answer /metrics)."""
    deploy.stats(project, store, name)
    return view(store, deploy.get(store, name))


def stop(project: Project, store: Store, name: str) -> DeploymentView:
    """Stop a deployment: its view afterwards, with the last telemetry it recorded."""
    return view(store, deploy.stop(project, store, name))


def view(store: Store, dep: Deployment) -> DeploymentView:
    """A deployment with its last recorded telemetry."""
    sample = deploy.last_stats(store, dep.name, since=float(dep.created))
    return DeploymentView(dep, Telemetry.from_sample(sample))
