"""Runyard's custom LSP methods: every request and notification, declared once.

Each request is a params class and a result class, both attrs types, tied to a
``runyard/...`` method name in ``REQUESTS``; each push from the server is a class in
``NOTIFICATIONS``. On the wire, field names are camelCase (``run_id`` is ``runId``),
absent optional fields may be left out, and unknown fields are an error that names
them. ``extension/src/protocol.ts`` mirrors this file; keep the two in step.

Numbers that JSON cannot carry (NaN, infinities) travel as ``null`` in metric values.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

# --------------------------------------------------------------------------- shared


@attrs.define(kw_only=True)
class ProjectParams:
    """Which Runyard project a request is about: a folder (path or ``file://`` URI)
    inside it. Left out, the first workspace folder that holds a project is used."""

    project: str | None = None


@attrs.define(kw_only=True)
class RunParams(ProjectParams):
    """One run, by its full id, a unique prefix, or a unique suffix."""

    run_id: str


@attrs.define(kw_only=True)
class ConfigProblem:
    """A problem in a target or job file, where it is (1-based line and column)."""

    file: str
    message: str
    line: int | None = None
    column: int | None = None


# --------------------------------------------------------------------------- server


@attrs.define(kw_only=True)
class ServerInfoParams:
    """Nothing: asks what the server is and what it sees."""


@attrs.define(kw_only=True)
class ProjectInfo:
    """A Runyard project the server knows: its root folder, default target, and where
    its runs are kept: `store` is a team store's URL without its password (PostgreSQL),
    or None for the project's own SQLite file under `.runyard/state/`."""

    root: str
    default_target: str | None = None
    store: str | None = None


@attrs.define(kw_only=True)
class ServerInfoResult:
    """Version, the projects found in the workspace, and the settings in use."""

    version: str
    pid: int
    projects: list[ProjectInfo]
    settings: dict[str, Any]


@attrs.define(kw_only=True)
class ProjectInitParams:
    """Make `folder` a Runyard project (creates ``.runyard/`` with a local target)."""

    folder: str


@attrs.define(kw_only=True)
class ProjectInitResult:
    """The new project's root and the files written (paths relative to the root)."""

    root: str
    created: list[str]


@attrs.define(kw_only=True)
class ProjectImportParams:
    """Write Runyard's targets and jobs from a project made for another tool in `folder`
    (`runyard import`): `kind` is ``aml-workbench`` or ``mlflow-project``, left out the
    one the folder fits. `force` replaces files already there; `script` is the script
    of Workbench run configurations whose ArgumentVector starts with ``$file``."""

    folder: str
    kind: str | None = None
    force: bool = False
    script: str | None = None


@attrs.define(kw_only=True)
class ImportNote:
    """Something said about an import: the file it is about (relative to the root), the
    key in it (absent: the file as a whole) and what was done or not done."""

    source: str
    message: str
    key: str | None = None


@attrs.define(kw_only=True)
class ProjectImportResult:
    """The project's root, the importer used, the files written (relative to the root),
    notes (done, with a caveat) and problems (not done)."""

    root: str
    kind: str
    written: list[str]
    notes: list[ImportNote]
    problems: list[ImportNote]


# --------------------------------------------------------------------------- targets


@attrs.define(kw_only=True)
class TargetInfo:
    """A compute target as its file describes it."""

    name: str
    type: str
    file: str
    is_default: bool = False
    description: str | None = None
    settings: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class TargetsListResult:
    """All targets, the default one's name, and files that could not be read."""

    targets: list[TargetInfo]
    default: str | None
    problems: list[ConfigProblem] = attrs.field(factory=list)


@attrs.define(kw_only=True)
class TargetAddParams(ProjectParams):
    """Write ``.runyard/targets/<name>.yml``. `settings` are the type's fields (for
    `local`: python, env, index_url, system_site_packages, cancel_grace_seconds...)."""

    name: str
    type: str = "local"
    settings: dict[str, Any] = attrs.field(factory=dict)
    force: bool = False
    make_default: bool = False


@attrs.define(kw_only=True)
class TargetNameParams(ProjectParams):
    """One target, by name."""

    name: str


@attrs.define(kw_only=True)
class TargetRemoveResult:
    """The file that was deleted."""

    name: str
    file: str


@attrs.define(kw_only=True)
class CheckInfo:
    """One line of a target test: what was checked, whether it is fine, how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


@attrs.define(kw_only=True)
class TargetTestResult:
    """All checks of a target; `ok` when every one passed."""

    name: str
    ok: bool
    checks: list[CheckInfo]


@attrs.define(kw_only=True)
class TargetTrustParams(ProjectParams):
    """Trust the SSH host key of a target's machine. Without `fingerprint` nothing is
    written: the answer shows the key's fingerprint so the user can check it; send it
    back as `fingerprint` to record the key in ~/.ssh/known_hosts."""

    name: str
    fingerprint: str | None = None


@attrs.define(kw_only=True)
class TargetTrustResult:
    """The host, its key's fingerprint, and whether the key was recorded now."""

    host: str
    fingerprint: str
    written: bool


@attrs.define(kw_only=True)
class DefaultTargetResult:
    """The project's default target after the change."""

    name: str


# --------------------------------------------------------------------------- jobs


@attrs.define(kw_only=True)
class JobInfo:
    """A job file: what it runs, where, with which arguments."""

    name: str
    file: str
    script: str | None = None
    module: str | None = None
    target: str | None = None
    experiment: str | None = None
    args: list[str] = attrs.field(factory=list)
    description: str | None = None


@attrs.define(kw_only=True)
class JobsListResult:
    """All jobs, and files that could not be read."""

    jobs: list[JobInfo]
    problems: list[ConfigProblem] = attrs.field(factory=list)


# --------------------------------------------------------------------------- runs

RunStatus = Literal["queued", "preparing", "running", "completed", "failed", "canceled", "lost"]


@attrs.define(kw_only=True)
class RunInfo:
    """A run as listed: identity, state, timing, and each metric's latest value; who ran
    it (git `user.name` and `user.email`, None when not recorded) and on which machine."""

    id: str
    experiment: str
    status: str
    target: str
    target_type: str
    job: str | None = None
    script: str | None = None
    command: list[str] = attrs.field(factory=list)
    snapshot_commit: str | None = None
    env_hash: str | None = None
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    duration: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    metrics: dict[str, float | None] = attrs.field(factory=dict)
    user_name: str | None = None
    user_email: str | None = None
    machine: str | None = None


@attrs.define(kw_only=True)
class RunSubmitParams(ProjectParams):
    """Start a run of a script (path relative to the project, or absolute inside it), a
    module, or a job, on a target (default: the project's default target). Reports
    work-done progress on `work_done_token` when given (else the server creates one)."""

    script: str | None = None
    module: str | None = None
    job: str | None = None
    args: list[str] = attrs.field(factory=list)
    target: str | None = None
    experiment: str | None = None
    work_done_token: str | int | None = None


@attrs.define(kw_only=True)
class RunRerunParams(RunParams):
    """Run a run again (as `runyard runs rerun` does): its snapshot, command line and
    settings, its environment from its lock; on its own target unless `target` names
    another. Progress as for a submission."""

    target: str | None = None
    work_done_token: str | int | None = None


@attrs.define(kw_only=True)
class RunsListParams(ProjectParams):
    """A page of runs. `sort` is created, started, duration, status, experiment, target
    or ``metric:<key>``; `search` matches id, script, experiment or target. With
    `include_params` the result also holds each listed run's params (a runs table's
    columns); `sweep` keeps the trial runs of that sweep (an id or a unique part)."""

    experiment: str | None = None
    statuses: list[str] | None = None
    target: str | None = None
    search: str | None = None
    sort: str = "created"
    descending: bool = True
    offset: int = 0
    limit: int = 100
    include_params: bool = False
    sweep: str | None = None


@attrs.define(kw_only=True)
class ExperimentInfo:
    """An experiment and how many runs it holds."""

    name: str
    runs: int


@attrs.define(kw_only=True)
class RunsListResult:
    """One page of runs; `total` counts all runs matching the filters. `params` (run id
    -> its params) only when the request asked for them."""

    runs: list[RunInfo]
    total: int
    offset: int
    experiments: list[ExperimentInfo]
    params: dict[str, dict[str, str]] | None = None


@attrs.define(kw_only=True)
class StatusChange:
    """One step of a run's lifecycle."""

    status: str
    time: float
    reason: str | None = None


@attrs.define(kw_only=True)
class ArtifactInfo:
    """A file the run left in its outputs folder (path relative to it)."""

    path: str
    size: int


@attrs.define(kw_only=True)
class MetricSummary:
    """A metric of one run: last value and step, min, max, number of points."""

    key: str
    last: float | None
    step: int
    count: int
    min: float | None
    max: float | None


@attrs.define(kw_only=True)
class HostInfo:
    """The machine a run's environment was measured on (its container, the ``ssh``
    target's machine): OS and release, distribution, machine type, CPU model and count,
    GPU names (empty: none), each None where it could not be read; `summary` is the
    one line ``runyard runs show`` prints."""

    os: str | None = None
    release: str | None = None
    distro: str | None = None
    machine: str | None = None
    cpu: str | None = None
    cpus: int | None = None
    gpus: list[str] = attrs.field(factory=list)
    summary: str


@attrs.define(kw_only=True)
class RunLockInfo:
    """What the run's environment held once it was ready: the interpreter's version,
    who built the environment (``uv``, ``pip``; None when Runyard did not build it),
    each distribution as ``name==version``, in name order, and the host it was
    measured on (None: not recorded, a lock from before host facts)."""

    python: str
    installer: str | None = None
    packages: list[str] = attrs.field(factory=list)
    host: HostInfo | None = None


@attrs.define(kw_only=True)
class RunDetails:
    """Everything about one run. `lock` is None when none was recorded."""

    run: RunInfo
    history: list[StatusChange]
    params: dict[str, str]
    tags: dict[str, str]
    artifacts: list[ArtifactInfo]
    metrics: list[MetricSummary]
    outputs_dir: str
    log_size: int
    lock: RunLockInfo | None = None


@attrs.define(kw_only=True)
class CancelResult:
    """Whether a stop was requested (false when the run had already ended)."""

    run_id: str
    canceled: bool
    status: str


@attrs.define(kw_only=True)
class RunLogsParams(RunParams):
    """Log bytes from `offset`, at most `max_bytes` of them."""

    offset: int = 0
    max_bytes: int = 1 << 20


@attrs.define(kw_only=True)
class RunLogsResult:
    """Log text from `offset` up to `next_offset`; `complete` when the run has ended
    and nothing follows."""

    run_id: str
    text: str
    offset: int
    next_offset: int
    complete: bool


@attrs.define(kw_only=True)
class RunRestoreParams(RunParams):
    """Write the run's snapshot into `dest` (default: the project folder). Files that
    would change stop the restore unless `force`."""

    dest: str | None = None
    force: bool = False


@attrs.define(kw_only=True)
class RunRestoreResult:
    """Where the snapshot was written and which files changed."""

    run_id: str
    dest: str
    written: list[str]


@attrs.define(kw_only=True)
class RunDiffParams(RunParams):
    """The code diff from one run's snapshot to another's (or to the folder now); with
    `causes` and another run, every cause the two differ by too."""

    other_run_id: str | None = None
    stat: bool = False
    causes: bool = False


@attrs.define(kw_only=True)
class Change:
    """One thing two runs differ by: `before` is the first run's, `after` the other's;
    None where that run has none. For a code file, `after` is its status (added,
    deleted, modified, renamed)."""

    name: str
    before: str | float | None = None
    after: str | float | None = None


@attrs.define(kw_only=True)
class RunDiffCauses:
    """Every cause two runs differ by. A list is empty where nothing differs; None where
    it cannot be told (a run without a lock or host facts)."""

    code: list[Change]
    environment: list[Change] | None = None
    params: list[Change]
    target: list[Change]
    host: list[Change] | None = None
    metrics: list[Change]


@attrs.define(kw_only=True)
class RunDiffResult:
    """A unified diff (empty when nothing differs), and the causes when asked."""

    diff: str
    causes: RunDiffCauses | None = None


@attrs.define(kw_only=True)
class RunsCompareParams(ProjectParams):
    """Two or more runs side by side; `best_metric` marks the best run for that key
    (lowest unless `maximize`)."""

    run_ids: list[str]
    best_metric: str | None = None
    maximize: bool = False


@attrs.define(kw_only=True)
class CompareRow:
    """One param or metric across the compared runs: `values` in the order of `runs`."""

    key: str
    values: list[str | float | None]
    differs: bool


@attrs.define(kw_only=True)
class RunsCompareResult:
    """The runs, their own fields, params and metrics as rows, and the best run if
    asked. `fields` are status, experiment, target, duration (seconds) and snapshot
    (commit ids; it differs only when the code, the commit's tree, differs)."""

    runs: list[RunInfo]
    fields: list[CompareRow] = attrs.field(factory=list)
    params: list[CompareRow]
    metrics: list[CompareRow]
    best_run_id: str | None = None


# --------------------------------------------------------------------------- metrics


@attrs.define(kw_only=True)
class MetricSeriesParams(ProjectParams):
    """Series of one or many runs and keys (all keys when `keys` is left out), each
    cut down to at most `max_points` points, keeping every bucket's minimum and maximum.
    `step_from`/`step_to` (either left out: open) zoom into the points whose step lies
    in that range, read at full resolution where it is short enough."""

    run_ids: list[str]
    keys: list[str] | None = None
    max_points: int = 2000
    step_from: int | None = None
    step_to: int | None = None


@attrs.define(kw_only=True)
class MetricSeries:
    """Columns of one run's metric, oldest first; `total` is the points before
    downsampling. NaN and infinities are null."""

    run_id: str
    key: str
    steps: list[int]
    times: list[float]
    values: list[float | None]
    total: int
    downsampled: bool


@attrs.define(kw_only=True)
class MetricSeriesResult:
    """One series per run and key that has points."""

    series: list[MetricSeries]


# --------------------------------------------------------------------------- gallery


@attrs.define(kw_only=True)
class GalleryListParams:
    """Nothing: asks for the gallery's samples."""


@attrs.define(kw_only=True)
class GalleryMetric:
    """The metric a sample reports, whether higher or lower is better, what it reaches."""

    name: str
    goal: str
    value: float


@attrs.define(kw_only=True)
class GalleryEntry:
    """A sample project: what it is, what it reaches, its image (a file path)."""

    id: str
    title: str
    description: str
    framework: str
    task: str
    tags: list[str]
    targets: list[str]
    expected_runtime_seconds: int
    metric: GalleryMetric
    image: str
    run: str


@attrs.define(kw_only=True)
class GalleryListResult:
    """The samples, and catalog entries that could not be read."""

    entries: list[GalleryEntry]
    problems: list[ConfigProblem] = attrs.field(factory=list)


@attrs.define(kw_only=True)
class GalleryCreateParams:
    """Create a project from sample `id` in `folder` (created if missing); files already
    there are kept unless `force`."""

    id: str
    folder: str
    name: str | None = None
    force: bool = False


@attrs.define(kw_only=True)
class GalleryCreateResult:
    """The new project's root, its files, whether a first commit was made, what to run."""

    root: str
    files: list[str]
    committed: bool
    next_command: str


# --------------------------------------------------------------------------- models


@attrs.define(kw_only=True)
class ModelInfo:
    """One registered version of a model. `ref` is ``name:version``; `digest` is
    ``sha256:<hex>``; `source_path` is relative to the run's outputs folder; `path` is
    the read-only copy in the project's model store."""

    name: str
    version: int
    ref: str
    digest: str
    size: int
    kind: Literal["file", "folder"]
    framework: str | None = None
    run_id: str
    source_path: str
    snapshot_commit: str | None = None
    target: str | None = None
    env_hash: str | None = None
    created: float
    tags: dict[str, str]
    aliases: list[str]
    path: str


@attrs.define(kw_only=True)
class ModelsListParams(ProjectParams):
    """Every registered version, or only those of model `name`."""

    name: str | None = None


@attrs.define(kw_only=True)
class ModelsListResult:
    """Versions by name, then version (oldest first)."""

    models: list[ModelInfo]


@attrs.define(kw_only=True)
class ModelGetParams(ProjectParams):
    """One version: ``name`` (the newest), ``name:3`` or ``name@production``."""

    ref: str


@attrs.define(kw_only=True)
class ModelRunInfo:
    """The run a version came from; `missing` when the run is no longer in the store."""

    id: str
    status: str | None = None
    experiment: str | None = None
    script: str | None = None
    missing: bool = False


@attrs.define(kw_only=True)
class ModelDeploymentInfo:
    """A deployment serving the version."""

    name: str
    status: str
    target: str | None = None
    host: str | None = None
    port: int | None = None


@attrs.define(kw_only=True)
class ModelDetails:
    """A version with its lineage: deployments -> model -> run -> snapshot commit ->
    target and environment hash."""

    model: ModelInfo
    run: ModelRunInfo
    snapshot_commit: str | None = None
    target: str | None = None
    env_hash: str | None = None
    deployments: list[ModelDeploymentInfo]


@attrs.define(kw_only=True)
class ModelRegisterParams(ProjectParams):
    """Register `path` (relative to the run's outputs folder) of a finished run as the
    next version of model `name`; `aliases` move to it."""

    run_id: str
    path: str
    name: str
    tags: dict[str, str] = attrs.field(factory=dict)
    aliases: list[str] = attrs.field(factory=list)


@attrs.define(kw_only=True)
class ModelDeployParams(ProjectParams):
    """Package version `ref` with the scoring script `score` (path relative to the
    project, or absolute) into an image on docker target `target` (default: the
    project's default), reusing an image already built from the same inputs, then run it
    as deployment `name` (default ``<name>-<version>``) on `port` (default: a free one).
    Reports work-done progress ("packaging", "starting") on `work_done_token` when given
    (else the server creates one)."""

    ref: str
    score: str
    target: str | None = None
    name: str | None = None
    port: int | None = None
    work_done_token: str | int | None = None


# --------------------------------------------------------------------------- deployments


@attrs.define(kw_only=True)
class DeploymentTelemetry:
    """A telemetry sample read from a deployment's ``/metrics``: requests to ``/score``
    and how many failed since the service started, their p50/p95 latency in milliseconds
    (None before any request), and when it was read (epoch seconds)."""

    requests: int
    errors: int
    p50_ms: float | None = None
    p95_ms: float | None = None
    sampled: float


@attrs.define(kw_only=True)
class DeploymentInfo:
    """A model version served over HTTP on a docker target, at `host`:`port` on the
    engine's machine. `status` is starting, running, exited, gone, unreachable or
    stopped. `telemetry` is the last sample recorded (in a listing, a running one is
    sampled afresh when its service answers within a couple of seconds); None when none
    was ever taken."""

    name: str
    model: str
    version: int
    target: str
    status: str
    host: str | None = None
    port: int | None = None
    image: str | None = None
    created: float
    stopped: float | None = None
    telemetry: DeploymentTelemetry | None = None


@attrs.define(kw_only=True)
class DeploymentsListResult:
    """Every deployment of the project, newest first."""

    deployments: list[DeploymentInfo]


@attrs.define(kw_only=True)
class DeploymentNameParams(ProjectParams):
    """One deployment, by name."""

    name: str


@attrs.define(kw_only=True)
class DeploymentInvokeParams(ProjectParams):
    """POST `payload` (any JSON value) to the deployment's ``/score``."""

    name: str
    payload: Any


@attrs.define(kw_only=True)
class DeploymentInvokeResult:
    """The service's HTTP status, its answer (decoded JSON, else text), and how long
    the request took in milliseconds."""

    status: int
    body: Any
    ms: float


# --------------------------------------------------------------------------- sweeps


@attrs.define(kw_only=True)
class SweepInfo:
    """A sweep as listed: its state, its objective, how many of its trials have ended
    (`trials_done`) of the most it runs (`trials_total`), the count of trials by status
    (``pruned`` among them), and its best trial so far (none until one has a value)."""

    id: str
    name: str
    status: str
    reason: str | None = None
    sampler: str
    metric: str
    direction: str
    trials_done: int
    trials_total: int
    counts: dict[str, int]
    best_value: float | None = None
    best_trial: int | None = None
    best_run_id: str | None = None
    created: float
    ended: float | None = None


@attrs.define(kw_only=True)
class SweepsListResult:
    """Every sweep of the project, newest first."""

    sweeps: list[SweepInfo]


@attrs.define(kw_only=True)
class SweepParams(ProjectParams):
    """One sweep, by its full id or a unique part of it."""

    sweep_id: str


@attrs.define(kw_only=True)
class SweepSpaceParam:
    """One parameter of a sweep's space: `values` for a choice or grid, `low`/`high`
    (and `step` for int) for a range."""

    name: str
    kind: str
    values: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    step: int | None = None


@attrs.define(kw_only=True)
class TrialInfo:
    """One trial: its run (none before it started), its status (a run status, or
    ``pruned``), its parameters, its objective value once it completed and the
    metric's latest value while it runs or after it was stopped."""

    number: int
    run_id: str | None = None
    target: str | None = None
    status: str
    params: dict[str, Any]
    value: float | None = None
    latest: float | None = None
    reason: str | None = None
    started: float | None = None
    ended: float | None = None


@attrs.define(kw_only=True)
class SweepDetails:
    """One sweep: what `SweepInfo` lists, its space, its early-stopping rule, the
    trials it runs at a time per target, what its supervisor noted, and its trials
    sorted by the objective with the best first."""

    sweep: SweepInfo
    space: list[SweepSpaceParam]
    early_stopping: str
    parallel: dict[str, int]
    snapshot_commit: str | None = None
    notes: list[str]
    trials: list[TrialInfo]


@attrs.define(kw_only=True)
class SweepCancelResult:
    """Whether the cancel was asked (false: the sweep had ended already) and the
    sweep's status after it."""

    sweep_id: str
    canceled: bool
    status: str


# --------------------------------------------------------------------------- pushes


@attrs.define(kw_only=True)
class RunChangedNotification:
    """A run changed state (or appeared), whoever started it."""

    project: str
    run: RunInfo


@attrs.define(kw_only=True)
class LogLinesNotification:
    """New complete log lines of a live run: the bytes from `offset` to `next_offset`."""

    project: str
    run_id: str
    offset: int
    next_offset: int
    text: str


@attrs.define(kw_only=True)
class MetricPointsChunk:
    """New points of one metric key."""

    key: str
    steps: list[int]
    times: list[float]
    values: list[float | None]


@attrs.define(kw_only=True)
class MetricPointsNotification:
    """New metric points of a live run, batched by key."""

    project: str
    run_id: str
    chunks: list[MetricPointsChunk]


@attrs.define(kw_only=True)
class ConfigChangedNotification:
    """Target or job files, or the default target, changed on disk."""

    project: str


# --------------------------------------------------------------------------- settings


@attrs.define(kw_only=True)
class Settings:
    """The ``runyard`` section of the client's settings (``workspace/configuration``)."""

    default_target: str | None = None
    python_path: str | None = None
    code_lens: bool = True
    inlay_hints: bool = True
    live_interval_ms: int = 250


# --------------------------------------------------------------------------- methods

TARGETS_LIST = "runyard/targets/list"
TARGETS_ADD = "runyard/targets/add"
TARGETS_REMOVE = "runyard/targets/remove"
TARGETS_TEST = "runyard/targets/test"
TARGETS_SET_DEFAULT = "runyard/targets/setDefault"
TARGETS_TRUST = "runyard/targets/trust"
JOBS_LIST = "runyard/jobs/list"
RUNS_SUBMIT = "runyard/runs/submit"
RUNS_RERUN = "runyard/runs/rerun"
RUNS_LIST = "runyard/runs/list"
RUNS_GET = "runyard/runs/get"
RUNS_CANCEL = "runyard/runs/cancel"
RUNS_LOGS = "runyard/runs/logs"
RUNS_RESTORE = "runyard/runs/restore"
RUNS_DIFF = "runyard/runs/diff"
RUNS_COMPARE = "runyard/runs/compare"
METRICS_SERIES = "runyard/metrics/series"
SERVER_INFO = "runyard/server/info"
PROJECT_INIT = "runyard/project/init"
PROJECT_IMPORT = "runyard/project/import"
GALLERY_LIST = "runyard/gallery/list"
GALLERY_CREATE = "runyard/gallery/create"
MODELS_LIST = "runyard/models/list"
MODELS_GET = "runyard/models/get"
MODELS_REGISTER = "runyard/models/register"
MODELS_DEPLOY = "runyard/models/deploy"
DEPLOYMENTS_LIST = "runyard/deployments/list"
DEPLOYMENTS_INVOKE = "runyard/deployments/invoke"
DEPLOYMENTS_STOP = "runyard/deployments/stop"
SWEEPS_LIST = "runyard/sweeps/list"
SWEEPS_GET = "runyard/sweeps/get"
SWEEPS_CANCEL = "runyard/sweeps/cancel"

RUN_CHANGED = "runyard/runs/didChange"
LOG_LINES = "runyard/runs/logLines"
METRIC_POINTS = "runyard/metrics/points"
CONFIG_CHANGED = "runyard/config/didChange"

#: method -> (params type, result type)
REQUESTS: dict[str, tuple[type[Any], type[Any]]] = {
    TARGETS_LIST: (ProjectParams, TargetsListResult),
    TARGETS_ADD: (TargetAddParams, TargetInfo),
    TARGETS_REMOVE: (TargetNameParams, TargetRemoveResult),
    TARGETS_TEST: (TargetNameParams, TargetTestResult),
    TARGETS_SET_DEFAULT: (TargetNameParams, DefaultTargetResult),
    TARGETS_TRUST: (TargetTrustParams, TargetTrustResult),
    JOBS_LIST: (ProjectParams, JobsListResult),
    RUNS_SUBMIT: (RunSubmitParams, RunInfo),
    RUNS_RERUN: (RunRerunParams, RunInfo),
    RUNS_LIST: (RunsListParams, RunsListResult),
    RUNS_GET: (RunParams, RunDetails),
    RUNS_CANCEL: (RunParams, CancelResult),
    RUNS_LOGS: (RunLogsParams, RunLogsResult),
    RUNS_RESTORE: (RunRestoreParams, RunRestoreResult),
    RUNS_DIFF: (RunDiffParams, RunDiffResult),
    RUNS_COMPARE: (RunsCompareParams, RunsCompareResult),
    METRICS_SERIES: (MetricSeriesParams, MetricSeriesResult),
    SERVER_INFO: (ServerInfoParams, ServerInfoResult),
    PROJECT_INIT: (ProjectInitParams, ProjectInitResult),
    PROJECT_IMPORT: (ProjectImportParams, ProjectImportResult),
    GALLERY_LIST: (GalleryListParams, GalleryListResult),
    GALLERY_CREATE: (GalleryCreateParams, GalleryCreateResult),
    MODELS_LIST: (ModelsListParams, ModelsListResult),
    MODELS_GET: (ModelGetParams, ModelDetails),
    MODELS_REGISTER: (ModelRegisterParams, ModelInfo),
    MODELS_DEPLOY: (ModelDeployParams, DeploymentInfo),
    DEPLOYMENTS_LIST: (ProjectParams, DeploymentsListResult),
    DEPLOYMENTS_INVOKE: (DeploymentInvokeParams, DeploymentInvokeResult),
    DEPLOYMENTS_STOP: (DeploymentNameParams, DeploymentInfo),
    SWEEPS_LIST: (ProjectParams, SweepsListResult),
    SWEEPS_GET: (SweepParams, SweepDetails),
    SWEEPS_CANCEL: (SweepParams, SweepCancelResult),
}

#: method -> params type, for notifications the server sends
NOTIFICATIONS: dict[str, type[Any]] = {
    RUN_CHANGED: RunChangedNotification,
    LOG_LINES: LogLinesNotification,
    METRIC_POINTS: MetricPointsNotification,
    CONFIG_CHANGED: ConfigChangedNotification,
}
