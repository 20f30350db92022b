// Model commands: register a run's output file as a model version, package and deploy
// a version as a local web service on a docker target (picking its scoring script),
// call a deployment's endpoint (the answer opens as a read-only document), and stop a
// deployment. They need the client, the project list, the Runs view (to find the run a
// model comes from) and the Models view, which they refresh after each change.
import * as path from "node:path";
import * as vscode from "vscode";
import type { RunyardClient } from "../client";
import {
  checkJson,
  checkModelName,
  defaultModelName,
  formatSize,
  outputChoices,
  responseDocument,
  responseSummary,
} from "../modelFormat";
import {
  DEPLOYMENTS_INVOKE,
  DEPLOYMENTS_LIST,
  DEPLOYMENTS_STOP,
  type DeploymentInfo,
  MODELS_DEPLOY,
  MODELS_LIST,
  MODELS_REGISTER,
  type ModelInfo,
  RUNS_GET,
  TARGETS_LIST,
  type TargetInfo,
} from "../protocol";
import type { ModelNode, ModelsView } from "../views/models";
import { command, pickRun, projectFor, requireTrust, type RunSource, runRef, showError } from "./common";

export interface ModelCommandParts extends RunSource {
  client: RunyardClient;
  models: ModelsView;
}

/** Register one of a run's output files as a model version: the run from `arg` (a Runs
 * view row) or the selection or a pick; the file is `outputPath` (the run details' button)
 * or picked from the run's outputs; then a name. */
export async function registerModel(parts: ModelCommandParts, arg: unknown, outputPath?: string): Promise<void> {
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

async function pickVersion(client: RunyardClient, project: string): Promise<ModelInfo | undefined> {
  const listed = await client.request(MODELS_LIST, { project });
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

async function pickDockerTarget(client: RunyardClient, project: string, ref: string): Promise<TargetInfo | undefined> {
  const result = await client.request(TARGETS_LIST, { project });
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

async function deployModel(parts: ModelCommandParts, node?: ModelNode): Promise<void> {
  if (!requireTrust()) return;
  const project = projectFor(parts.projects, node);
  if (!project) return void vscode.window.showInformationMessage("Initialize a Runyard project first.");
  const model = node?.kind === "version" ? node.model : await pickVersion(parts.client, project);
  if (!model) return;
  const score = await pickScoreScript(project, model.ref);
  if (!score) return;
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === score);
  if (doc?.isDirty) await doc.save(); // the image takes the script on disk
  const target = await pickDockerTarget(parts.client, project, model.ref);
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

async function pickDeployment(client: RunyardClient, project: string, title: string, running: boolean): Promise<DeploymentInfo | undefined> {
  const listed = await client.request(DEPLOYMENTS_LIST, { project });
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

/** The project and the deployment a command is about: the Models view row it was invoked
 * on, else one picked from the project's running deployments (`title` heads the pick). */
async function deploymentFor(
  parts: ModelCommandParts,
  node: ModelNode | undefined,
  title: string,
): Promise<{ project: string; dep: DeploymentInfo } | undefined> {
  const project = projectFor(parts.projects, node);
  if (!project) return undefined;
  const dep = node?.kind === "deployment" ? node.deployment : await pickDeployment(parts.client, project, title, true);
  return dep ? { project, dep } : undefined;
}

async function testEndpoint(parts: ModelCommandParts, node?: ModelNode): Promise<void> {
  if (!requireTrust()) return;
  const found = await deploymentFor(parts, node, "Test Endpoint");
  if (!found) return;
  const { project, dep } = found;
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

async function stopDeployment(parts: ModelCommandParts, node?: ModelNode): Promise<void> {
  if (!requireTrust()) return;
  const found = await deploymentFor(parts, node, "Stop Deployment");
  if (!found) return;
  const { project, dep } = found;
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

export function registerModelCommands(parts: ModelCommandParts): vscode.Disposable[] {
  const { client } = parts;
  return [
    vscode.workspace.registerTextDocumentContentProvider(ResponseDocuments.scheme, responses),
    command(client, "refreshModels", () => parts.models.refresh()),
    command(client, "registerModel", (node) => registerModel(parts, node)),
    command(client, "deployModel", (node) => deployModel(parts, node as ModelNode | undefined)),
    command(client, "testEndpoint", (node) => testEndpoint(parts, node as ModelNode | undefined)),
    command(client, "stopDeployment", (node) => stopDeployment(parts, node as ModelNode | undefined)),
  ];
}
