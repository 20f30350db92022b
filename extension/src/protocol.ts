// Runyard's custom LSP methods, mirrored once from server/runyard/lsp/protocol.py.
// Field names are camelCase on the wire; optional fields may be absent. Metric values
// that JSON cannot carry (NaN, infinities) arrive as null. Keep this file in step with
// protocol.py: tests/unit/test_protocol_mirror.py checks that every method and field
// there has its twin here.

// ----------------------------------------------------------------------------- shared

export interface ProjectParams {
  /** A folder (path or file:// URI) inside the project; left out: the first one found. */
  project?: string;
}

export interface RunParams extends ProjectParams {
  runId: string;
}

export interface ConfigProblem {
  file: string;
  message: string;
  line?: number | null;
  column?: number | null;
}

// ----------------------------------------------------------------------------- server

export type ServerInfoParams = Record<string, never>;

export interface ProjectInfo {
  root: string;
  defaultTarget?: string | null;
  /** A team store's URL without its password; null for the project's own SQLite file. */
  store?: string | null;
}

export interface ServerInfoResult {
  version: string;
  pid: number;
  projects: ProjectInfo[];
  settings: Record<string, unknown>;
}

export interface ProjectInitParams {
  folder: string;
}

export interface ProjectInitResult {
  root: string;
  created: string[];
}

export interface ProjectImportParams {
  folder: string;
  kind?: string | null;
  force?: boolean;
  script?: string | null;
}

export interface ImportNote {
  source: string;
  message: string;
  key?: string | null;
}

export interface ProjectImportResult {
  root: string;
  kind: string;
  written: string[];
  notes: ImportNote[];
  problems: ImportNote[];
}

// ----------------------------------------------------------------------------- targets

export interface TargetInfo {
  name: string;
  type: string;
  file: string;
  isDefault?: boolean;
  description?: string | null;
  settings?: Record<string, unknown>;
}

export interface TargetsListResult {
  targets: TargetInfo[];
  default: string | null;
  problems?: ConfigProblem[];
}

export interface TargetAddParams extends ProjectParams {
  name: string;
  type?: string;
  settings?: Record<string, unknown>;
  force?: boolean;
  makeDefault?: boolean;
}

export interface TargetNameParams extends ProjectParams {
  name: string;
}

export interface TargetRemoveResult {
  name: string;
  file: string;
}

export interface CheckInfo {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string | null;
}

export interface TargetTestResult {
  name: string;
  ok: boolean;
  checks: CheckInfo[];
}

export interface TargetTrustParams extends ProjectParams {
  name: string;
  fingerprint?: string | null;
}

export interface TargetTrustResult {
  host: string;
  fingerprint: string;
  written: boolean;
}

export interface DefaultTargetResult {
  name: string;
}

// ----------------------------------------------------------------------------- jobs

export interface JobInfo {
  name: string;
  file: string;
  script?: string | null;
  module?: string | null;
  target?: string | null;
  experiment?: string | null;
  args?: string[];
  description?: string | null;
}

export interface JobsListResult {
  jobs: JobInfo[];
  problems?: ConfigProblem[];
}

// ----------------------------------------------------------------------------- runs

export type RunStatus =
  | "queued"
  | "preparing"
  | "running"
  | "completed"
  | "failed"
  | "canceled"
  | "lost";

export const ACTIVE_STATUSES: readonly string[] = ["queued", "preparing", "running"];

export interface RunInfo {
  id: string;
  experiment: string;
  status: string;
  target: string;
  targetType: string;
  job?: string | null;
  script?: string | null;
  command?: string[];
  snapshotCommit?: string | null;
  envHash?: string | null;
  created?: number;
  started?: number | null;
  ended?: number | null;
  duration?: number | null;
  exitCode?: number | null;
  reason?: string | null;
  metrics?: Record<string, number | null>;
  userName?: string | null;
  userEmail?: string | null;
  machine?: string | null;
}

export interface RunSubmitParams extends ProjectParams {
  script?: string | null;
  module?: string | null;
  job?: string | null;
  args?: string[];
  target?: string | null;
  experiment?: string | null;
  workDoneToken?: string | number | null;
}

/** Run a run again: its snapshot, command line and settings, its environment from its
 * lock; on its own target unless `target` names another. */
export interface RunRerunParams extends RunParams {
  target?: string | null;
  workDoneToken?: string | number | null;
}

export interface RunsListParams extends ProjectParams {
  experiment?: string | null;
  statuses?: string[] | null;
  target?: string | null;
  search?: string | null;
  sort?: string;
  descending?: boolean;
  offset?: number;
  limit?: number;
  /** Also answer each listed run's params (`RunsListResult.params`). */
  includeParams?: boolean;
  /** Only the trial runs of this sweep (an id or a unique part of one). */
  sweep?: string | null;
}

export interface ExperimentInfo {
  name: string;
  runs: number;
}

export interface RunsListResult {
  runs: RunInfo[];
  total: number;
  offset: number;
  experiments: ExperimentInfo[];
  /** run id -> its params; only when the request set `includeParams`. */
  params?: Record<string, Record<string, string>> | null;
}

export interface StatusChange {
  status: string;
  time: number;
  reason?: string | null;
}

export interface ArtifactInfo {
  path: string;
  size: number;
}

export interface MetricSummary {
  key: string;
  last: number | null;
  step: number;
  count: number;
  min: number | null;
  max: number | null;
}

/** What the run's environment held once it was ready (`packages`: name==version). */
/** The machine a run's environment was measured on (its container, the ssh target's
 * machine); `summary` is the one line `runyard runs show` prints. */
export interface HostInfo {
  os?: string | null;
  release?: string | null;
  distro?: string | null;
  machine?: string | null;
  cpu?: string | null;
  cpus?: number | null;
  gpus?: string[];
  summary: string;
}

export interface RunLockInfo {
  python: string;
  installer?: string | null;
  packages?: string[];
  /** null: not recorded (a lock from before host facts). */
  host?: HostInfo | null;
}

export interface RunDetails {
  run: RunInfo;
  history: StatusChange[];
  params: Record<string, string>;
  tags: Record<string, string>;
  artifacts: ArtifactInfo[];
  metrics: MetricSummary[];
  outputsDir: string;
  logSize: number;
  /** None when no lock was recorded. */
  lock?: RunLockInfo | null;
}

export interface CancelResult {
  runId: string;
  canceled: boolean;
  status: string;
}

export interface RunLogsParams extends RunParams {
  offset?: number;
  maxBytes?: number;
}

export interface RunLogsResult {
  runId: string;
  text: string;
  offset: number;
  nextOffset: number;
  complete: boolean;
}

export interface RunRestoreParams extends RunParams {
  dest?: string | null;
  force?: boolean;
}

export interface RunRestoreResult {
  runId: string;
  dest: string;
  written: string[];
}

export interface RunDiffParams extends RunParams {
  otherRunId?: string | null;
  stat?: boolean;
  /** With `otherRunId`: every cause the two runs differ by, too. */
  causes?: boolean;
}

/** One thing two runs differ by (`after` of a code file: its status). */
export interface Change {
  name: string;
  before?: string | number | null;
  after?: string | number | null;
}

/** Every cause two runs differ by; empty where nothing differs, null where unknown. */
export interface RunDiffCauses {
  code: Change[];
  environment?: Change[] | null;
  params: Change[];
  target: Change[];
  host?: Change[] | null;
  metrics: Change[];
}

export interface RunDiffResult {
  diff: string;
  causes?: RunDiffCauses | null;
}

export interface RunsCompareParams extends ProjectParams {
  runIds: string[];
  bestMetric?: string | null;
  maximize?: boolean;
}

export interface CompareRow {
  key: string;
  /** In the order of `runs`. */
  values: (string | number | null)[];
  differs: boolean;
}

export interface RunsCompareResult {
  runs: RunInfo[];
  /** Status, experiment, target, duration (seconds) and snapshot (commit ids; it
   * differs only when the code, the commit's tree, differs). */
  fields?: CompareRow[];
  params: CompareRow[];
  metrics: CompareRow[];
  bestRunId?: string | null;
}

// ----------------------------------------------------------------------------- metrics

export interface MetricSeriesParams extends ProjectParams {
  runIds: string[];
  keys?: string[] | null;
  maxPoints?: number;
  /** Zoom: only the points whose step is at least this (left out: from the first). */
  stepFrom?: number | null;
  /** Zoom: only the points whose step is at most this (left out: to the last). */
  stepTo?: number | null;
}

export interface MetricSeries {
  runId: string;
  key: string;
  steps: number[];
  times: number[];
  values: (number | null)[];
  total: number;
  downsampled: boolean;
}

export interface MetricSeriesResult {
  series: MetricSeries[];
}

// ----------------------------------------------------------------------------- gallery

export type GalleryListParams = Record<string, never>;

export interface GalleryMetric {
  name: string;
  goal: string;
  value: number;
}

export interface GalleryEntry {
  id: string;
  title: string;
  description: string;
  framework: string;
  task: string;
  tags: string[];
  targets: string[];
  expectedRuntimeSeconds: number;
  metric: GalleryMetric;
  image: string;
  run: string;
}

export interface GalleryListResult {
  entries: GalleryEntry[];
  problems?: ConfigProblem[];
}

export interface GalleryCreateParams {
  id: string;
  folder: string;
  name?: string | null;
  force?: boolean;
}

export interface GalleryCreateResult {
  root: string;
  files: string[];
  committed: boolean;
  nextCommand: string;
}

// ----------------------------------------------------------------------------- models

export interface ModelInfo {
  name: string;
  version: number;
  ref: string;
  digest: string;
  size: number;
  kind: "file" | "folder";
  framework?: string | null;
  runId: string;
  sourcePath: string;
  snapshotCommit?: string | null;
  target?: string | null;
  envHash?: string | null;
  created: number;
  tags: Record<string, string>;
  aliases: string[];
  path: string;
}

export interface ModelsListParams extends ProjectParams {
  name?: string | null;
}

export interface ModelsListResult {
  models: ModelInfo[];
}

export interface ModelGetParams extends ProjectParams {
  ref: string;
}

export interface ModelRunInfo {
  id: string;
  status?: string | null;
  experiment?: string | null;
  script?: string | null;
  missing?: boolean;
}

export interface ModelDeploymentInfo {
  name: string;
  status: string;
  target?: string | null;
  host?: string | null;
  port?: number | null;
}

export interface ModelDetails {
  model: ModelInfo;
  run: ModelRunInfo;
  snapshotCommit?: string | null;
  target?: string | null;
  envHash?: string | null;
  deployments: ModelDeploymentInfo[];
}

export interface ModelRegisterParams extends ProjectParams {
  runId: string;
  path: string;
  name: string;
  tags?: Record<string, string>;
  aliases?: string[];
}

/** Package a version with a scoring script on a docker target and run it as a service. */
export interface ModelDeployParams extends ProjectParams {
  ref: string;
  /** The scoring script: relative to the project, or absolute. */
  score: string;
  target?: string | null;
  name?: string | null;
  port?: number | null;
  workDoneToken?: string | number | null;
}

// ----------------------------------------------------------------------------- deployments

/** A sample of a deployment's /metrics: counts since the service started, latency of
 * /score in ms (null before any request), when it was read (epoch seconds). */
export interface DeploymentTelemetry {
  requests: number;
  errors: number;
  p50Ms?: number | null;
  p95Ms?: number | null;
  sampled: number;
}

/** A model version served over HTTP: starting, running, exited, gone, unreachable or stopped.
 * `telemetry`: the last sample recorded (a running one is sampled afresh by the listing). */
export interface DeploymentInfo {
  name: string;
  model: string;
  version: number;
  target: string;
  status: string;
  host?: string | null;
  port?: number | null;
  image?: string | null;
  created: number;
  stopped?: number | null;
  telemetry?: DeploymentTelemetry | null;
}

export interface DeploymentsListResult {
  deployments: DeploymentInfo[];
}

export interface DeploymentNameParams extends ProjectParams {
  name: string;
}

export interface DeploymentInvokeParams extends ProjectParams {
  name: string;
  /** Any JSON value, posted to the service's /score. */
  payload: unknown;
}

export interface DeploymentInvokeResult {
  status: number;
  /** The decoded JSON answer, else its text. */
  body: unknown;
  ms: number;
}

// ----------------------------------------------------------------------------- sweeps

/** A sweep's own statuses; "interrupted": its supervisor ended before the sweep did. */
export const SWEEP_ACTIVE_STATUSES: readonly string[] = ["starting", "running"];

export interface SweepInfo {
  id: string;
  name: string;
  status: string;
  reason?: string | null;
  sampler: string;
  metric: string;
  direction: string;
  trialsDone: number;
  trialsTotal: number;
  counts: Record<string, number>;
  bestValue?: number | null;
  bestTrial?: number | null;
  bestRunId?: string | null;
  created: number;
  ended?: number | null;
}

export interface SweepsListResult {
  sweeps: SweepInfo[];
}

export interface SweepParams extends ProjectParams {
  sweepId: string;
}

export interface SweepSpaceParam {
  name: string;
  kind: string;
  values?: unknown[] | null;
  low?: number | null;
  high?: number | null;
  step?: number | null;
}

/** One trial; `status` is a run status or "pruned". */
export interface TrialInfo {
  number: number;
  runId?: string | null;
  target?: string | null;
  status: string;
  params: Record<string, unknown>;
  value?: number | null;
  latest?: number | null;
  reason?: string | null;
  started?: number | null;
  ended?: number | null;
}

/** One sweep; `trials` sorted by the objective, the best first. */
export interface SweepDetails {
  sweep: SweepInfo;
  space: SweepSpaceParam[];
  earlyStopping: string;
  parallel: Record<string, number>;
  snapshotCommit?: string | null;
  notes: string[];
  trials: TrialInfo[];
}

export interface SweepCancelResult {
  sweepId: string;
  canceled: boolean;
  status: string;
}

// ----------------------------------------------------------------------------- pushes

export interface RunChangedNotification {
  project: string;
  run: RunInfo;
}

export interface LogLinesNotification {
  project: string;
  runId: string;
  offset: number;
  nextOffset: number;
  text: string;
}

export interface MetricPointsChunk {
  key: string;
  steps: number[];
  times: number[];
  values: (number | null)[];
}

export interface MetricPointsNotification {
  project: string;
  runId: string;
  chunks: MetricPointsChunk[];
}

export interface ConfigChangedNotification {
  project: string;
}

// ----------------------------------------------------------------------------- settings

/** The `runyard` settings section, as the server reads it (workspace/configuration). */
export interface Settings {
  defaultTarget?: string | null;
  pythonPath?: string | null;
  codeLens?: boolean;
  inlayHints?: boolean;
  liveIntervalMs?: number;
}

// ----------------------------------------------------------------------------- methods

export const TARGETS_LIST = "runyard/targets/list";
export const TARGETS_ADD = "runyard/targets/add";
export const TARGETS_REMOVE = "runyard/targets/remove";
export const TARGETS_TEST = "runyard/targets/test";
export const TARGETS_SET_DEFAULT = "runyard/targets/setDefault";
export const TARGETS_TRUST = "runyard/targets/trust";
export const JOBS_LIST = "runyard/jobs/list";
export const RUNS_SUBMIT = "runyard/runs/submit";
export const RUNS_RERUN = "runyard/runs/rerun";
export const RUNS_LIST = "runyard/runs/list";
export const RUNS_GET = "runyard/runs/get";
export const RUNS_CANCEL = "runyard/runs/cancel";
export const RUNS_LOGS = "runyard/runs/logs";
export const RUNS_RESTORE = "runyard/runs/restore";
export const RUNS_DIFF = "runyard/runs/diff";
export const RUNS_COMPARE = "runyard/runs/compare";
export const METRICS_SERIES = "runyard/metrics/series";
export const SERVER_INFO = "runyard/server/info";
export const PROJECT_INIT = "runyard/project/init";
export const PROJECT_IMPORT = "runyard/project/import";
export const GALLERY_LIST = "runyard/gallery/list";
export const GALLERY_CREATE = "runyard/gallery/create";
export const MODELS_LIST = "runyard/models/list";
export const MODELS_GET = "runyard/models/get";
export const MODELS_REGISTER = "runyard/models/register";
export const MODELS_DEPLOY = "runyard/models/deploy";
export const DEPLOYMENTS_LIST = "runyard/deployments/list";
export const DEPLOYMENTS_INVOKE = "runyard/deployments/invoke";
export const DEPLOYMENTS_STOP = "runyard/deployments/stop";
export const SWEEPS_LIST = "runyard/sweeps/list";
export const SWEEPS_GET = "runyard/sweeps/get";
export const SWEEPS_CANCEL = "runyard/sweeps/cancel";

export const RUN_CHANGED = "runyard/runs/didChange";
export const LOG_LINES = "runyard/runs/logLines";
export const METRIC_POINTS = "runyard/metrics/points";
export const CONFIG_CHANGED = "runyard/config/didChange";

/** method -> [params, result]: the one table the typed `request()` helper reads. */
export interface Requests {
  [TARGETS_LIST]: [ProjectParams, TargetsListResult];
  [TARGETS_ADD]: [TargetAddParams, TargetInfo];
  [TARGETS_REMOVE]: [TargetNameParams, TargetRemoveResult];
  [TARGETS_TEST]: [TargetNameParams, TargetTestResult];
  [TARGETS_SET_DEFAULT]: [TargetNameParams, DefaultTargetResult];
  [TARGETS_TRUST]: [TargetTrustParams, TargetTrustResult];
  [JOBS_LIST]: [ProjectParams, JobsListResult];
  [RUNS_SUBMIT]: [RunSubmitParams, RunInfo];
  [RUNS_RERUN]: [RunRerunParams, RunInfo];
  [RUNS_LIST]: [RunsListParams, RunsListResult];
  [RUNS_GET]: [RunParams, RunDetails];
  [RUNS_CANCEL]: [RunParams, CancelResult];
  [RUNS_LOGS]: [RunLogsParams, RunLogsResult];
  [RUNS_RESTORE]: [RunRestoreParams, RunRestoreResult];
  [RUNS_DIFF]: [RunDiffParams, RunDiffResult];
  [RUNS_COMPARE]: [RunsCompareParams, RunsCompareResult];
  [METRICS_SERIES]: [MetricSeriesParams, MetricSeriesResult];
  [SERVER_INFO]: [ServerInfoParams, ServerInfoResult];
  [PROJECT_INIT]: [ProjectInitParams, ProjectInitResult];
  [PROJECT_IMPORT]: [ProjectImportParams, ProjectImportResult];
  [GALLERY_LIST]: [GalleryListParams, GalleryListResult];
  [GALLERY_CREATE]: [GalleryCreateParams, GalleryCreateResult];
  [MODELS_LIST]: [ModelsListParams, ModelsListResult];
  [MODELS_GET]: [ModelGetParams, ModelDetails];
  [MODELS_REGISTER]: [ModelRegisterParams, ModelInfo];
  [MODELS_DEPLOY]: [ModelDeployParams, DeploymentInfo];
  [DEPLOYMENTS_LIST]: [ProjectParams, DeploymentsListResult];
  [DEPLOYMENTS_INVOKE]: [DeploymentInvokeParams, DeploymentInvokeResult];
  [DEPLOYMENTS_STOP]: [DeploymentNameParams, DeploymentInfo];
  [SWEEPS_LIST]: [ProjectParams, SweepsListResult];
  [SWEEPS_GET]: [SweepParams, SweepDetails];
  [SWEEPS_CANCEL]: [SweepParams, SweepCancelResult];
}

/** method -> params of each push from the server. */
export interface Notifications {
  [RUN_CHANGED]: RunChangedNotification;
  [LOG_LINES]: LogLinesNotification;
  [METRIC_POINTS]: MetricPointsNotification;
  [CONFIG_CHANGED]: ConfigChangedNotification;
}

/** Error codes the server uses besides JSON-RPC's own. */
export const ERROR_RUNYARD = -32010;
export const ERROR_BAD_INPUT = -32011;
export const ERROR_NOT_FOUND = -32012;
