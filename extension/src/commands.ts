// Every command the manifest declares. Commands that run code (submit, rerun, target
// tests, project creation) refuse in an untrusted workspace and say why.
import * as path from "node:path";
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "./client";
import { isActive, rerunRequest, runDescription, runLabel } from "./format";
import {
  checkJson,
  checkModelName,
  defaultModelName,
  formatSize,
  outputChoices,
  responseDocument,
  responseSummary,
} from "./modelFormat";
import type { Projects } from "./projects";
import {
  DEPLOYMENTS_INVOKE,
  DEPLOYMENTS_LIST,
  DEPLOYMENTS_STOP,
  type DeploymentInfo,
  GALLERY_CREATE,
  GALLERY_LIST,
  JOBS_LIST,
  MODELS_DEPLOY,
  MODELS_LIST,
  MODELS_REGISTER,
  type ModelInfo,
  PROJECT_INIT,
  RUNS_CANCEL,
  RUNS_GET,
  RUNS_RESTORE,
  RUNS_SUBMIT,
  type RunInfo,
  type RunSubmitParams,
  TARGETS_ADD,
  TARGETS_LIST,
  TARGETS_REMOVE,
  TARGETS_SET_DEFAULT,
  TARGETS_TEST,
  TARGETS_TRUST,
  type TargetInfo,
} from "./protocol";
import type { RunOutputs } from "./runOutput";
import type { GalleryNode } from "./views/gallery";
import type { ModelNode, ModelsView } from "./views/models";
import type { RunNode, RunsView } from "./views/runs";
import type { TargetNode, TargetsView } from "./views/targets";
import { type PanelActions, showCompare, showGallery, showRunDetails } from "./webviews";

export interface Parts {
  context: vscode.ExtensionContext;
  client: RunyardClient;
  projects: Projects;
  targets: TargetsView;
  runs: RunsView;
  models: ModelsView;
  runsTree: vscode.TreeView<RunNode>;
  outputs: RunOutputs;
}

type RunRef = { project: string; run: RunInfo };

export function requireTrust(): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window
    .showWarningMessage(
      "Runyard runs nothing in an untrusted folder: scripts, environments and targets could execute code from it.",
      "Manage Workspace Trust",
    )
    .then((pick) => {
      if (pick) void vscode.commands.executeCommand("workbench.trust.manage");
    });
  return false;
}

/** Show a request's failure with the server's hint and a way to the log. */
export function showError(client: RunyardClient, what: string, err: unknown): void {
  const e = asRunyardError(err);
  client.log.error(`${what}: ${e.message}${e.hint ? ` (${e.hint})` : ""}`);
  const text = `${what}: ${e.message}${e.hint ? ` ${e.hint.charAt(0).toUpperCase()}${e.hint.slice(1)}.` : ""}`;
  void vscode.window.showErrorMessage(text, "Show Logs").then((pick) => {
    if (pick) client.log.show();
  });
}

function asUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === "string" && arg) return arg.includes("://") ? vscode.Uri.parse(arg) : vscode.Uri.file(arg);
  return undefined;
}

function runRef(arg: unknown, parts: Parts): RunRef | undefined {
  if (arg && typeof arg === "object" && "run" in arg && "project" in arg) {
    const n = arg as RunRef;
    return { project: n.project, run: n.run };
  }
  if (typeof arg === "string") {
    for (const p of parts.projects.all) {
      const run = parts.runs.find(p.root, arg);
      if (run) return { project: p.root, run };
    }
  }
  return parts.runs.selected()[0];
}

/** The run selected in the Runs view, else one picked from the project's runs (newest
 * first; `which` narrows them, `none` says why there is nothing to pick). */
async function pickRun(
  parts: Parts,
  title: string,
  which: (run: RunInfo) => boolean = () => true,
  none = "No runs yet: submit a script first.",
): Promise<RunRef | undefined> {
  const ref = runRef(undefined, parts);
  if (ref && which(ref.run)) return ref;
  const items = parts.projects.all.flatMap((p) =>
    parts.runs
      .list(p.root)
      .filter(which)
      .map((run) => ({
        label: runLabel(run),
        description: runDescription(run),
        detail: parts.projects.all.length > 1 ? p.root : undefined,
        ref: { project: p.root, run },
      })),
  );
  if (items.length === 0) {
    void vscode.window.showInformationMessage(`${title}: ${none}`);
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(items, { title, placeHolder: "Run" });
  return pick?.ref;
}

async function pickTarget(parts: Parts, project: string, title: string): Promise<TargetInfo | undefined> {
  const result = await parts.client.request(TARGETS_LIST, { project });
  const pick = await vscode.window.showQuickPick(
    result.targets.map((t) => ({
      label: t.name,
      description: `${t.type}${t.isDefault ? " · default" : ""}`,
      detail: t.description ?? undefined,
      target: t,
    })),
    { title, placeHolder: "Compute target" },
  );
  return pick?.target;
}

function projectFor(parts: Parts, arg: unknown): string | undefined {
  if (arg && typeof arg === "object" && "project" in arg) return (arg as { project: string }).project;
  return parts.projects.current?.root;
}

async function submit(parts: Parts, project: string, params: RunSubmitParams, label: string): Promise<RunInfo | undefined> {
  const started = Date.now();
  try {
    const run = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Submitting ${label}`, cancellable: false },
      () => parts.client.request(RUNS_SUBMIT, { ...params, project }),
    );
    parts.client.log.info(`Submitted ${label} as run ${run.id} in ${Date.now() - started} ms`);
    parts.outputs.show(project, run.id);
    return run;
  } catch (err) {
    showError(parts.client, `Could not submit ${label}`, err);
    return undefined;
  }
}

async function submitFile(parts: Parts, arg: unknown, target?: unknown): Promise<void> {
  if (!requireTrust()) return;
  const uri = asUri(arg) ?? vscode.window.activeTextEditor?.document.uri;
  if (!uri || uri.scheme !== "file" || !uri.fsPath.endsWith(".py")) {
    void vscode.window.showInformationMessage("Open a Python script (.py) to submit it as a run.");
    return;
  }
  const project = parts.projects.forPath(uri.fsPath);
  if (!project) {
    const pick = await vscode.window.showWarningMessage(
      `${path.basename(uri.fsPath)} is not inside a Runyard project.`,
      "Initialize Runyard Here",
    );
    if (pick) await vscode.commands.executeCommand("runyard.init");
    return;
  }
  // The snapshot takes the files on disk: save the script first.
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (doc?.isDirty) await doc.save();
  await submit(
    parts,
    project.root,
    { script: uri.fsPath, ...(typeof target === "string" && target ? { target } : {}) },
    path.basename(uri.fsPath),
  );
}

async function addTarget(parts: Parts): Promise<void> {
  if (!requireTrust()) return;
  const project = parts.projects.current?.root;
  if (!project) return void vscode.window.showInformationMessage("Initialize a Runyard project first.");
  const type = await vscode.window.showQuickPick(
    [
      { label: "local", description: "A subprocess on this machine, in a cached virtual environment" },
      { label: "docker", description: "A container on the local Docker engine, or a remote one over SSH" },
      { label: "ssh", description: "A remote machine over SSH, in a virtual environment there (no Docker)" },
      { label: "spark", description: "spark-submit to local[N], a standalone spark:// master, YARN or Kubernetes" },
    ],
    { title: "Add Compute Target: type" },
  );
  if (!type) return;
  const name = await vscode.window.showInputBox({
    title: "Add Compute Target: name",
    value: type.label === "local" ? "local2" : type.label,
    validateInput: (v) => (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v) ? null : "Letters, digits, '.', '_' and '-'"),
  });
  if (!name) return;
  const settings: Record<string, unknown> = {};
  if (type.label === "docker") {
    const address = await vscode.window.showInputBox({
      title: "Docker engine address",
      prompt: "Empty: the local engine. Or unix://..., tcp://host:port, ssh://user@host[:port]",
      value: "",
    });
    if (address === undefined) return;
    if (address) settings.address = address;
    const image = await vscode.window.showInputBox({
      title: "Base image",
      prompt: "The image environments are built on (it needs python3)",
      value: "python:3.11-slim",
    });
    if (!image) return;
    settings.base_image = image;
  } else if (type.label === "ssh") {
    const where = await vscode.window.showInputBox({
      title: "Remote machine",
      prompt: "user@host[:port]. Keys come from the SSH agent or ~/.ssh (set identity_file in the target file to pick one); passwords are never stored.",
      validateInput: (v) => (/^([^@\s]+@)?[^@:\s]+(:\d+)?$/.test(v) ? null : "user@host or user@host:port"),
    });
    if (!where) return;
    const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(where);
    if (m?.[1]) settings.user = m[1];
    settings.host = m?.[2] ?? where;
    if (m?.[3]) settings.port = Number(m[3]);
  } else if (type.label === "spark") {
    const master = await vscode.window.showInputBox({
      title: "Spark master",
      prompt: "local[2], spark://host:7077, yarn or k8s://https://host:port",
      value: "local[2]",
    });
    if (!master) return;
    settings.master = master;
  }
  try {
    await parts.client.request(TARGETS_ADD, { project, name, type: type.label, settings });
    parts.targets.refresh(true);
    void vscode.window.showInformationMessage(`Target ${name} added (.runyard/targets/${name}.yml).`);
  } catch (err) {
    showError(parts.client, `Could not add target ${name}`, err);
  }
}

async function testTarget(parts: Parts, node?: TargetNode): Promise<void> {
  if (!requireTrust()) return;
  const project = projectFor(parts, node);
  if (!project) return;
  const target = node?.kind === "target" ? node.target : await pickTarget(parts, project, "Test Compute Target");
  if (!target) return;
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Testing target ${target.name}` },
      () => parts.client.request(TARGETS_TEST, { project, name: target.name }),
    );
    parts.targets.refresh(true);
    for (const c of result.checks) {
      parts.client.log.info(`target ${target.name}: ${c.ok ? "ok" : "FAILED"} ${c.name}: ${c.detail}${c.fix ? ` (${c.fix})` : ""}`);
    }
    if (result.ok) {
      void vscode.window.showInformationMessage(
        `Target ${target.name} is ready: ${result.checks.map((c) => c.detail).join("; ")}`,
      );
      return;
    }
    const failed = result.checks.filter((c) => !c.ok);
    const hostKey = failed.some((c) => /host key/i.test(`${c.name} ${c.detail} ${c.fix ?? ""}`));
    const text = failed.map((c) => `${c.name}: ${c.detail}${c.fix ? ` Fix: ${c.fix}` : ""}`).join(" ");
    const actions = hostKey ? ["Trust Host Key…", "Show Logs"] : ["Show Logs"];
    const pick = await vscode.window.showErrorMessage(`Target ${target.name} is not ready. ${text}`, ...actions);
    if (pick === "Show Logs") parts.client.log.show();
    else if (pick === "Trust Host Key…") await trustHostKey(parts, project, target.name);
  } catch (err) {
    showError(parts.client, `Could not test target ${target.name}`, err);
  }
}

async function trustHostKey(parts: Parts, project: string, name: string): Promise<void> {
  try {
    const seen = await parts.client.request(TARGETS_TRUST, { project, name });
    const ok = await vscode.window.showWarningMessage(
      `Trust the SSH host key of ${seen.host}?`,
      { modal: true, detail: `Fingerprint: ${seen.fingerprint}\nCheck it against the machine's own before you trust it.` },
      "Trust",
    );
    if (ok !== "Trust") return;
    await parts.client.request(TARGETS_TRUST, { project, name, fingerprint: seen.fingerprint });
    void vscode.window.showInformationMessage(`Host key of ${seen.host} recorded in ~/.ssh/known_hosts.`);
    parts.targets.refresh(true);
  } catch (err) {
    showError(parts.client, "Could not trust the host key", err);
  }
}

async function restore(parts: Parts, ref: RunRef): Promise<void> {
  const where = await vscode.window.showQuickPick(
    [
      { label: "Into the project folder", description: ref.project, dest: undefined as string | undefined },
      { label: "Into another folder…", description: "Leave the project as it is", dest: "pick" },
    ],
    { title: `Restore the code of run ${ref.run.id}` },
  );
  if (!where) return;
  let dest: string | undefined;
  if (where.dest === "pick") {
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: "Restore here",
    });
    if (!picked?.[0]) return;
    dest = picked[0].fsPath;
  }
  const params = { project: ref.project, runId: ref.run.id, ...(dest ? { dest } : {}) };
  try {
    const r = await parts.client.request(RUNS_RESTORE, params);
    void vscode.window.showInformationMessage(`Restored ${r.written.length} file(s) of run ${r.runId} into ${r.dest}.`);
  } catch (err) {
    const e = asRunyardError(err);
    const overwrite = await vscode.window.showWarningMessage(
      `Restore stopped: ${e.message}`,
      { modal: true, detail: "Overwrite those files with the run's version? Commit or stash your changes first to keep them." },
      "Overwrite",
    );
    if (overwrite !== "Overwrite") return;
    try {
      const r = await parts.client.request(RUNS_RESTORE, { ...params, force: true });
      void vscode.window.showInformationMessage(`Restored ${r.written.length} file(s) of run ${r.runId} into ${r.dest}.`);
    } catch (err2) {
      showError(parts.client, "Could not restore the snapshot", err2);
    }
  }
}

async function cancel(parts: Parts, project: string, runId: string): Promise<void> {
  try {
    const r = await parts.client.request(RUNS_CANCEL, { project, runId });
    if (!r.canceled) void vscode.window.showInformationMessage(`Run ${runId} had already ended (${r.status}).`);
  } catch (err) {
    showError(parts.client, `Could not cancel run ${runId}`, err);
  }
}

async function createProject(parts: Parts, entryId?: string): Promise<void> {
  if (!requireTrust()) return;
  let id = entryId;
  if (!id) {
    try {
      const g = await parts.client.request(GALLERY_LIST, {});
      const pick = await vscode.window.showQuickPick(
        g.entries.map((e) => ({ label: e.title, description: e.framework, detail: e.description, id: e.id })),
        { title: "Create Project from Sample", matchOnDetail: true },
      );
      id = pick?.id;
    } catch (err) {
      showError(parts.client, "Could not read the gallery", err);
      return;
    }
  }
  if (!id) return;
  const parent = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    openLabel: "Create the project in this folder",
    title: "Where should the new project go?",
  });
  if (!parent?.[0]) return;
  const name = await vscode.window.showInputBox({ title: "Project folder name", value: id });
  if (!name) return;
  const folder = path.join(parent[0].fsPath, name);
  try {
    const r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Creating ${name} from sample ${id}` },
      () => parts.client.request(GALLERY_CREATE, { id: id ?? "", folder }),
    );
    const open = await vscode.window.showInformationMessage(
      `Project created in ${r.root} (${r.files.length} files${r.committed ? ", first commit made" : ""}). Next: ${r.nextCommand}`,
      "Open Folder",
      "Open in New Window",
    );
    if (open) {
      await vscode.commands.executeCommand("vscode.openFolder", vscode.Uri.file(r.root), {
        forceNewWindow: open === "Open in New Window",
      });
    }
  } catch (err) {
    showError(parts.client, `Could not create the project from ${id}`, err);
  }
}

// ----------------------------------------------------------------------------- models

/** Register one of a run's output files as a model version: the run from `arg` (a Runs
 * view row) or the selection or a pick; the file is `outputPath` (the run details' button)
 * or picked from the run's outputs; then a name. */
async function registerModel(parts: Parts, arg: unknown, outputPath?: string): Promise<void> {
  const ref =
    runRef(arg, parts) ??
    (await pickRun(
      parts,
      "Register Model",
      (r) => r.status === "completed",
      "no completed run yet: a model is a file a finished run wrote under outputs/.",
    ));
  if (!ref) return;
  const details = await parts.client.request(RUNS_GET, { project: ref.project, runId: ref.run.id });
  if (details.artifacts.length === 0) {
    void vscode.window.showInformationMessage(
      `Run ${ref.run.id} left no files in its outputs folder: a model is registered from a file the run wrote under outputs/.`,
    );
    return;
  }
  const given = details.artifacts.find((a) => a.path === outputPath);
  const file = given
    ? { path: given.path }
    : await vscode.window.showQuickPick(outputChoices(details.artifacts), {
        title: `Register Model from run ${ref.run.id}`,
        placeHolder: "The output file or folder to register",
      });
  if (!file) return;
  const name = await vscode.window.showInputBox({
    title: `Register Model: name for ${file.path} of run ${ref.run.id}`,
    prompt: "A new name starts at version 1; an existing one gets its next version.",
    value: defaultModelName(file.path),
    validateInput: checkModelName,
  });
  if (!name) return;
  try {
    const model = await parts.client.request(MODELS_REGISTER, {
      project: ref.project,
      runId: ref.run.id,
      path: file.path,
      name,
    });
    parts.models.refresh();
    void vscode.window.showInformationMessage(
      `Registered ${model.ref} (${model.framework ?? "unknown framework"}, ${formatSize(model.size)}) from run ${model.runId}.`,
    );
  } catch (err) {
    showError(parts.client, `Could not register ${file.path} as a model`, err);
  }
}

async function pickVersion(parts: Parts, project: string): Promise<ModelInfo | undefined> {
  const listed = await parts.client.request(MODELS_LIST, { project });
  if (listed.models.length === 0) {
    void vscode.window.showInformationMessage("No models registered yet: register one from a run's output file first.");
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    [...listed.models].reverse().map((m) => ({
      label: m.ref,
      description: [m.framework, ...m.aliases.map((a) => `@${a}`)].filter(Boolean).join(" "),
      model: m,
    })),
    { title: "Package and Deploy", placeHolder: "Model version" },
  );
  return pick?.model;
}

async function pickScoreScript(project: string, ref: string): Promise<string | undefined> {
  const found = await vscode.workspace.findFiles(
    new vscode.RelativePattern(vscode.Uri.file(project), "**/score*.py"),
    "**/{.venv,venv,node_modules,.runyard,.git}/**",
    50,
  );
  const items: (vscode.QuickPickItem & { file?: string })[] = found
    .map((u) => ({ label: path.relative(project, u.fsPath), file: u.fsPath }))
    .sort((a, b) => a.label.localeCompare(b.label));
  items.push({ label: "$(folder-opened) Browse…", description: "Any Python file with init(model_path) and run(payload)" });
  const pick = await vscode.window.showQuickPick(items, {
    title: `Package and Deploy ${ref}: scoring script`,
    placeHolder: "The script the service loads: init(model_path) once, run(payload) per request",
  });
  if (!pick) return undefined;
  if (pick.file) return pick.file;
  const chosen = await vscode.window.showOpenDialog({
    defaultUri: vscode.Uri.file(project),
    canSelectMany: false,
    filters: { Python: ["py"] },
    openLabel: "Use as scoring script",
  });
  return chosen?.[0]?.fsPath;
}

async function pickDockerTarget(parts: Parts, project: string, ref: string): Promise<TargetInfo | undefined> {
  const result = await parts.client.request(TARGETS_LIST, { project });
  const docker = result.targets.filter((t) => t.type === "docker");
  if (docker.length === 0) {
    const pick = await vscode.window.showInformationMessage(
      "Models are packaged and deployed on a docker target, and this project has none. Add a docker target first.",
      "Add Compute Target",
    );
    if (pick) await vscode.commands.executeCommand("runyard.addTarget");
    return undefined;
  }
  if (docker.length === 1) return docker[0];
  const pick = await vscode.window.showQuickPick(
    docker.map((t) => ({
      label: t.name,
      description: t.isDefault ? "default" : undefined,
      detail: t.description ?? undefined,
      target: t,
    })),
    { title: `Package and Deploy ${ref}: docker target` },
  );
  return pick?.target;
}

async function deployModel(parts: Parts, node?: ModelNode): Promise<void> {
  if (!requireTrust()) return;
  const project = projectFor(parts, node);
  if (!project) return void vscode.window.showInformationMessage("Initialize a Runyard project first.");
  const model = node?.kind === "version" ? node.model : await pickVersion(parts, project);
  if (!model) return;
  const score = await pickScoreScript(project, model.ref);
  if (!score) return;
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === score);
  if (doc?.isDirty) await doc.save(); // the image takes the script on disk
  const target = await pickDockerTarget(parts, project, model.ref);
  if (!target) return;
  try {
    const dep = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Packaging and deploying ${model.ref} on ${target.name}`,
        cancellable: false,
      },
      () => parts.client.request(MODELS_DEPLOY, { project, ref: model.ref, score, target: target.name }),
    );
    parts.models.refresh();
    const pick = await vscode.window.showInformationMessage(
      `Deployment ${dep.name} serves ${dep.model}:${dep.version} at http://${dep.host ?? "127.0.0.1"}:${dep.port ?? ""} (POST /score).`,
      "Test Endpoint",
    );
    if (pick) await testEndpoint(parts, { kind: "deployment", project, deployment: dep });
  } catch (err) {
    parts.models.refresh();
    showError(parts.client, `Could not deploy ${model.ref}`, err);
  }
}

async function pickDeployment(parts: Parts, project: string, title: string, running: boolean): Promise<DeploymentInfo | undefined> {
  const listed = await parts.client.request(DEPLOYMENTS_LIST, { project });
  const candidates = listed.deployments.filter((d) => !running || d.status === "running");
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage("No deployment is running: package and deploy a model version first.");
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    candidates.map((d) => ({ label: d.name, description: `${d.model}:${d.version} · ${d.status}`, deployment: d })),
    { title },
  );
  return pick?.deployment;
}

async function testEndpoint(parts: Parts, node?: ModelNode): Promise<void> {
  if (!requireTrust()) return;
  const project = projectFor(parts, node);
  if (!project) return;
  const dep = node?.kind === "deployment" ? node.deployment : await pickDeployment(parts, project, "Test Endpoint", true);
  if (!dep) return;
  const text = await vscode.window.showInputBox({
    title: `Test Endpoint ${dep.name}: JSON payload for POST /score`,
    prompt: 'The request body, e.g. {"inputs": [[5.1, 3.5, 1.4, 0.2]]}',
    value: "{}",
    validateInput: checkJson,
  });
  if (text === undefined) return;
  try {
    const result = await parts.client.request(DEPLOYMENTS_INVOKE, {
      project,
      name: dep.name,
      payload: JSON.parse(text) as unknown,
    });
    const summary = `${dep.name}: ${responseSummary(result)}`;
    parts.client.log.info(summary);
    const { language, content } = responseDocument(result);
    const uri = responses.add(`${dep.name} HTTP ${result.status}`, language, content);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
    parts.models.refresh(); // the deployment's telemetry now counts this request
    if (result.status >= 400) void vscode.window.showWarningMessage(`${summary}: the service answered with an error.`);
    else void vscode.window.showInformationMessage(summary);
  } catch (err) {
    parts.models.refresh();
    showError(parts.client, `Could not call deployment ${dep.name}`, err);
  }
}

/** Endpoint answers as read-only documents (nothing to save or discard on close), under
 * `runyard-response:`; the newest few are kept. */
class ResponseDocuments implements vscode.TextDocumentContentProvider {
  static readonly scheme = "runyard-response";
  private static readonly keep = 20;
  private readonly texts = new Map<string, string>();
  private count = 0;

  add(title: string, language: "json" | "plaintext", content: string): vscode.Uri {
    this.count += 1;
    const name = `${title.replace(/[\\/:*?"<>|#]+/g, " ").trim()} (${this.count})${language === "json" ? ".json" : ".txt"}`;
    const uri = vscode.Uri.from({ scheme: ResponseDocuments.scheme, path: `/${name}` });
    this.texts.set(uri.toString(), content);
    while (this.texts.size > ResponseDocuments.keep) {
      const oldest = this.texts.keys().next().value;
      if (oldest === undefined) break;
      this.texts.delete(oldest);
    }
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "This answer is no longer kept: test the endpoint again.";
  }
}

const responses = new ResponseDocuments();

async function stopDeployment(parts: Parts, node?: ModelNode): Promise<void> {
  if (!requireTrust()) return;
  const project = projectFor(parts, node);
  if (!project) return;
  const dep = node?.kind === "deployment" ? node.deployment : await pickDeployment(parts, project, "Stop Deployment", true);
  if (!dep) return;
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Stopping deployment ${dep.name}` },
      () => parts.client.request(DEPLOYMENTS_STOP, { project, name: dep.name }),
    );
    void vscode.window.showInformationMessage(`Deployment ${dep.name} stopped; its container was removed.`);
  } catch (err) {
    showError(parts.client, `Could not stop deployment ${dep.name}`, err);
  } finally {
    parts.models.refresh();
  }
}

export function panelActions(parts: Parts): PanelActions {
  return {
    showLogs: (project, runId) => parts.outputs.show(project, runId, false),
    restore: (project, runId) => {
      const run = parts.runs.find(project, runId);
      if (run) void restore(parts, { project, run });
    },
    cancel: (project, runId) => void cancel(parts, project, runId),
    createProject: (entryId) => void createProject(parts, entryId),
    registerModel: (project, runId, outputPath) => {
      // a run older than the Runs view's first page is not in its cache: ask the server
      const known = parts.runs.find(project, runId);
      const run = known
        ? Promise.resolve(known)
        : parts.client.request(RUNS_GET, { project, runId }).then((d) => d.run);
      void run.then(
        (r) => registerModel(parts, { project, run: r }, outputPath),
        (err: unknown) => showError(parts.client, `Could not register ${outputPath} as a model`, err),
      );
    },
    openOutput: (outputsDir, rel, reveal) => {
      const target = path.resolve(outputsDir, rel);
      if (!target.startsWith(path.resolve(outputsDir) + path.sep)) return;
      const uri = vscode.Uri.file(target);
      void vscode.commands.executeCommand(reveal ? "revealFileInOS" : "vscode.open", uri);
    },
  };
}

export function registerCommands(parts: Parts): vscode.Disposable[] {
  const { client, projects, context } = parts;
  const actions = panelActions(parts);
  const reg = (id: string, fn: (...args: unknown[]) => unknown) =>
    vscode.commands.registerCommand(`runyard.${id}`, async (...args: unknown[]) => {
      try {
        await fn(...args);
      } catch (err) {
        showError(client, `Runyard: ${id}`, err);
      }
    });
  return [
    vscode.workspace.registerTextDocumentContentProvider(ResponseDocuments.scheme, responses),
    reg("init", async () => {
      if (!requireTrust()) return;
      const folders = vscode.workspace.workspaceFolders ?? [];
      const folder =
        folders.length <= 1
          ? folders[0]
          : await vscode.window.showWorkspaceFolderPick({ placeHolder: "Folder to make a Runyard project" });
      if (!folder) return void vscode.window.showInformationMessage("Open a folder first.");
      try {
        const r = await client.request(PROJECT_INIT, { folder: folder.uri.fsPath });
        await projects.refresh();
        void vscode.window.showInformationMessage(
          r.created.length ? `Runyard project initialized: ${r.created.join(", ")}` : "This folder is already a Runyard project.",
        );
      } catch (err) {
        showError(client, "Could not initialize Runyard here", err);
      }
    }),
    reg("addTarget", () => addTarget(parts)),
    reg("removeTarget", async (node) => {
      const n = node as TargetNode | undefined;
      const project = projectFor(parts, n);
      if (!project) return;
      const target = n?.kind === "target" ? n.target : await pickTarget(parts, project, "Remove Compute Target");
      if (!target) return;
      const ok = await vscode.window.showWarningMessage(
        `Remove target ${target.name}?`,
        { modal: true, detail: `This deletes ${target.file}. Runs made on it are kept.` },
        "Remove",
      );
      if (ok !== "Remove") return;
      try {
        await client.request(TARGETS_REMOVE, { project, name: target.name });
        parts.targets.refresh();
      } catch (err) {
        showError(client, `Could not remove target ${target.name}`, err);
      }
    }),
    reg("testTarget", (node) => testTarget(parts, node as TargetNode | undefined)),
    reg("setDefaultTarget", async (node) => {
      const n = node as TargetNode | undefined;
      const project = projectFor(parts, n);
      if (!project) return;
      const target = n?.kind === "target" ? n.target : await pickTarget(parts, project, "Set Default Target");
      if (!target) return;
      try {
        await client.request(TARGETS_SET_DEFAULT, { project, name: target.name });
        await projects.refresh();
      } catch (err) {
        showError(client, `Could not make ${target.name} the default target`, err);
      }
    }),
    reg("submitFile", (uri, target) => submitFile(parts, uri, target)),
    reg("submitFilePick", async (arg) => {
      if (!requireTrust()) return;
      const uri = asUri(arg) ?? vscode.window.activeTextEditor?.document.uri;
      const project = uri ? projects.forPath(uri.fsPath) : undefined;
      if (!uri || !project) return submitFile(parts, uri);
      const target = await pickTarget(parts, project.root, `Submit ${path.basename(uri.fsPath)} on`);
      if (target) await submitFile(parts, uri, target.name);
    }),
    reg("submitJob", async () => {
      if (!requireTrust()) return;
      const project = projects.current?.root;
      if (!project) return void vscode.window.showInformationMessage("Initialize a Runyard project first.");
      const jobs = await client.request(JOBS_LIST, { project });
      if (jobs.jobs.length === 0) {
        void vscode.window.showInformationMessage(
          "No jobs in .runyard/jobs/ yet. A job names a script, its arguments and a target; or submit a script directly.",
        );
        return;
      }
      const pick = await vscode.window.showQuickPick(
        jobs.jobs.map((j) => ({
          label: j.name,
          description: [j.script ?? j.module, ...(j.args ?? [])].join(" "),
          detail: j.description ?? (j.target ? `on ${j.target}` : undefined),
          job: j,
        })),
        { title: "Submit Job" },
      );
      if (pick) await submit(parts, project, { job: pick.job.name }, `job ${pick.job.name}`);
    }),
    reg("cancelRun", async (node) => {
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Cancel Run", (r) => isActive(r.status), "no run is active."));
      if (ref) await cancel(parts, ref.project, ref.run.id);
    }),
    reg("showLogs", async (node) => {
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Show Run Logs"));
      if (ref) parts.outputs.show(ref.project, ref.run.id, true);
    }),
    reg("openRun", async (node) => {
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Open Run Details"));
      if (ref) showRunDetails(context, client, actions, ref.project, ref.run.id);
    }),
    reg("compareRuns", (_node, nodes) => {
      // From a context menu VS Code passes the clicked row and the selected rows;
      // from the palette or the view's title, the remembered selection counts.
      let selected: RunRef[] = Array.isArray(nodes)
        ? (nodes as RunNode[]).flatMap((n) => (n.kind === "run" ? [{ project: n.project, run: n.run }] : []))
        : [];
      if (selected.length < 2) selected = parts.runs.selected();
      if (selected.length < 2) {
        void vscode.window.showInformationMessage("Select two or more runs in the Runs view (Ctrl/Cmd-click), then compare.");
        return;
      }
      const project = selected[0]?.project ?? "";
      const ids = selected.filter((n) => n.project === project).map((n) => n.run.id);
      showCompare(context, client, actions, project, ids);
    }),
    reg("restoreRun", async (node) => {
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Restore Run Snapshot"));
      if (ref) await restore(parts, ref);
    }),
    reg("rerun", async (node) => {
      if (!requireTrust()) return;
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Rerun"));
      if (!ref) return;
      const again = rerunRequest(ref.run);
      await submit(parts, ref.project, again, again.job ? `job ${again.job}` : (again.script ?? ref.run.id));
    }),
    reg("openInTensorBoard", (node, nodes) => {
      if (!requireTrust()) return;
      const picked: RunRef[] = Array.isArray(nodes)
        ? (nodes as RunNode[]).flatMap((n) => (n.kind === "run" ? [{ project: n.project, run: n.run }] : []))
        : parts.runs.selected();
      const ref = picked.length ? undefined : runRef(node, parts);
      const runs = picked.length ? picked : ref ? [ref] : [];
      const first = runs[0];
      const cli = client.cliCommand();
      if (!first || !cli) {
        void vscode.window.showInformationMessage("Select one or more runs in the Runs view first.");
        return;
      }
      // The command line serves TensorBoard over the runs' event files and prints its
      // address (a link in the terminal); closing the terminal stops it.
      const ids = runs.filter((r) => r.project === first.project).map((r) => r.run.id);
      const terminal = vscode.window.createTerminal({
        name: `TensorBoard ${ids.length === 1 ? ids[0] : `(${ids.length} runs)`}`,
        // Through a shell, so that a failure's message stays readable until a key is pressed.
        shellPath: "/bin/sh",
        shellArgs: [
          "-c",
          '"$0" "$@"; code=$?; [ $code -eq 0 ] || { printf "\\n[runyard exited with %s: press Enter to close]" $code; read _; }',
          cli.command,
          ...cli.args,
          "tensorboard",
          ...ids,
        ],
        cwd: first.project,
        env: cli.env,
        iconPath: new vscode.ThemeIcon("graph"),
      });
      terminal.show();
    }),
    reg("refresh", async () => {
      await projects.refresh();
      parts.targets.refresh(true);
      parts.runs.reload();
      parts.models.refresh();
    }),
    reg("refreshModels", () => parts.models.refresh()),
    reg("registerModel", (node) => registerModel(parts, node)),
    reg("deployModel", (node) => deployModel(parts, node as ModelNode | undefined)),
    reg("testEndpoint", (node) => testEndpoint(parts, node as ModelNode | undefined)),
    reg("stopDeployment", (node) => stopDeployment(parts, node as ModelNode | undefined)),
    reg("restartServer", async () => {
      if (!vscode.workspace.isTrusted) return void requireTrust();
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: "Restarting the Runyard server" },
        () => client.restart(),
      );
    }),
    reg("showServerLog", () => client.log.show()),
    reg("openGallery", () => showGallery(context, client, actions)),
    reg("createFromSample", (node) => {
      const n = node as GalleryNode | undefined;
      return createProject(parts, n?.kind === "sample" ? n.entry.id : undefined);
    }),
  ];
}
