// Run commands: submit a script (from the editor, the explorer, a code lens, with or
// without a picked target) or a job, rerun (on its own target or a picked one), cancel,
// show logs, open details, compare, diff two runs, restore a run's code, and open runs in
// TensorBoard. A run is the row the command was invoked on, else the Runs view's
// selection, else one picked (see common.ts).
// Submitting and rerunning show the new run's output channel; a rerun is the server's
// (runyard/runs/rerun: the run's own snapshot, command line and locked packages, not
// the working folder). Restore asks before it overwrites changed files. Diff Runs opens
// a read-only document (scheme `runyard-diff`, language `diff`) whose text runDiff.ts
// makes. They need the client, the project list, the Runs view, the run output
// channels, and (for the panels they open) the extension context and the panel actions.
import * as path from "node:path";
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "../client";
import { isActive, runLabel } from "../format";
import type { Projects } from "../projects";
import {
  JOBS_LIST,
  RUNS_CANCEL,
  RUNS_DIFF,
  RUNS_RERUN,
  RUNS_RESTORE,
  RUNS_SUBMIT,
  type RunInfo,
  type RunSubmitParams,
} from "../protocol";
import { runDiffText } from "../runDiff";
import type { RunOutputs } from "../runOutput";
import type { RunNode, RunsView } from "../views/runs";
import { type PanelActions, showCompare, showRunDetails } from "../webviews";
import { asUri, command, pickRun, pickTarget, requireTrust, type RunRef, runRef, showError } from "./common";

export interface RunCommandParts {
  context: vscode.ExtensionContext;
  client: RunyardClient;
  projects: Projects;
  runs: RunsView;
  outputs: RunOutputs;
  actions: PanelActions;
}

/** Start a run (`start`: a submission or a rerun) under a progress notification, then
 * show its output channel. `what` names it in the progress title and in an error;
 * `logged` says what the log records once it started ("Submitted … as run …"). */
async function startRun(
  parts: RunCommandParts,
  project: string,
  what: { progress: string; failure: string; logged: (run: RunInfo, ms: number) => string },
  start: () => Promise<RunInfo>,
): Promise<RunInfo | undefined> {
  const started = Date.now();
  try {
    const run = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: what.progress, cancellable: false },
      start,
    );
    parts.client.log.info(what.logged(run, Date.now() - started));
    parts.outputs.show(project, run.id);
    return run;
  } catch (err) {
    showError(parts.client, what.failure, err);
    return undefined;
  }
}

async function submit(
  parts: RunCommandParts,
  project: string,
  params: RunSubmitParams,
  label: string,
): Promise<RunInfo | undefined> {
  return startRun(
    parts,
    project,
    {
      progress: `Submitting ${label}`,
      failure: `Could not submit ${label}`,
      logged: (run, ms) => `Submitted ${label} as run ${run.id} in ${ms} ms`,
    },
    () => parts.client.request(RUNS_SUBMIT, { ...params, project }),
  );
}

async function submitFile(parts: RunCommandParts, arg: unknown, target?: unknown): Promise<void> {
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

async function submitFilePick(parts: RunCommandParts, arg: unknown): Promise<void> {
  if (!requireTrust()) return;
  const uri = asUri(arg) ?? vscode.window.activeTextEditor?.document.uri;
  const project = uri ? parts.projects.forPath(uri.fsPath) : undefined;
  if (!uri || !project) return submitFile(parts, uri);
  const target = await pickTarget(parts.client, project.root, `Submit ${path.basename(uri.fsPath)} on`);
  if (target) await submitFile(parts, uri, target.name);
}

async function submitJob(parts: RunCommandParts): Promise<void> {
  if (!requireTrust()) return;
  const project = parts.projects.current?.root;
  if (!project) return void vscode.window.showInformationMessage("Initialize a Runyard project first.");
  const jobs = await parts.client.request(JOBS_LIST, { project });
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
}

/** Restore a run's code into the project or another folder; asks before overwriting
 * changed files. Also the run panels' Restore button, as `cancel` is their Cancel. */
export async function restore(client: RunyardClient, ref: RunRef): Promise<void> {
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
    const r = await client.request(RUNS_RESTORE, params);
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
      const r = await client.request(RUNS_RESTORE, { ...params, force: true });
      void vscode.window.showInformationMessage(`Restored ${r.written.length} file(s) of run ${r.runId} into ${r.dest}.`);
    } catch (err2) {
      showError(client, "Could not restore the snapshot", err2);
    }
  }
}

export async function cancel(client: RunyardClient, project: string, runId: string): Promise<void> {
  try {
    const r = await client.request(RUNS_CANCEL, { project, runId });
    if (!r.canceled) void vscode.window.showInformationMessage(`Run ${runId} had already ended (${r.status}).`);
  } catch (err) {
    showError(client, `Could not cancel run ${runId}`, err);
  }
}

/** The Runs view rows a context-menu command was given (undefined from elsewhere). */
function clickedRuns(nodes: unknown): RunRef[] | undefined {
  if (!Array.isArray(nodes)) return undefined;
  return (nodes as RunNode[]).flatMap((n) => (n.kind === "run" ? [{ project: n.project, run: n.run }] : []));
}

function compareRuns(parts: RunCommandParts, nodes: unknown): void {
  // From a context menu VS Code passes the clicked row and the selected rows;
  // from the palette or the view's title, the remembered selection counts.
  let selected: RunRef[] = clickedRuns(nodes) ?? [];
  if (selected.length < 2) selected = parts.runs.selected();
  if (selected.length < 2) {
    void vscode.window.showInformationMessage("Select two or more runs in the Runs view (Ctrl/Cmd-click), then compare.");
    return;
  }
  const project = selected[0]?.project ?? "";
  const ids = selected.filter((n) => n.project === project).map((n) => n.run.id);
  showCompare(parts.context, parts.client, parts.actions, project, ids);
}

/** Run a run again from its own snapshot, command line and locked packages (the
 * server's rerun), on its own target or on `pickOther`'s pick. */
async function rerun(parts: RunCommandParts, node: unknown, pickOther = false): Promise<void> {
  if (!requireTrust()) return;
  const title = pickOther ? "Rerun on Another Target" : "Rerun";
  const ref = runRef(node, parts) ?? (await pickRun(parts, title));
  if (!ref) return;
  let target: string | undefined;
  if (pickOther) {
    const picked = await pickTarget(parts.client, ref.project, `Rerun ${runLabel(ref.run)} on`);
    if (!picked) return;
    target = picked.name;
  }
  const on = target && target !== ref.run.target ? ` on ${target}` : "";
  await startRun(
    parts,
    ref.project,
    {
      progress: `Rerunning run ${ref.run.id}${on}`,
      failure: `Could not rerun run ${ref.run.id}${on}`,
      logged: (run, ms) => `Reran run ${ref.run.id}${on} as run ${run.id} in ${ms} ms`,
    },
    () => parts.client.request(RUNS_RERUN, { project: ref.project, runId: ref.run.id, ...(target ? { target } : {}) }),
  );
}

/** The read-only documents Diff Runs opens: their text by URI, kept until the document
 * closes. A second diff of the same two runs replaces the text of the open one. */
class RunDiffDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  static readonly scheme = "runyard-diff";
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor() {
    this.subscriptions = [
      vscode.workspace.registerTextDocumentContentProvider(RunDiffDocuments.scheme, this),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        if (doc.uri.scheme === RunDiffDocuments.scheme) this.texts.delete(doc.uri.toString());
      }),
      this.changed,
    ];
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "";
  }

  async open(runA: string, runB: string, text: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: RunDiffDocuments.scheme, path: `/${runA}..${runB}.diff` });
    const key = uri.toString();
    const known = this.texts.has(key);
    this.texts.set(key, text);
    if (known) this.changed.fire(uri);
    let doc = await vscode.workspace.openTextDocument(uri);
    if (doc.languageId !== "diff") doc = await vscode.languages.setTextDocumentLanguage(doc, "diff");
    await vscode.window.showTextDocument(doc, { preview: false });
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.texts.clear();
  }
}

/** The two runs Diff Runs compares, the older first: the two selected in the Runs view
 * (or given by its context menu), else the one selected and one picked, else two picked. */
async function twoRuns(parts: RunCommandParts, nodes: unknown): Promise<[RunRef, RunRef] | undefined> {
  let selected: RunRef[] = clickedRuns(nodes) ?? [];
  if (selected.length < 2) selected = parts.runs.selected();
  if (selected.length > 2) {
    void vscode.window.showInformationMessage(
      `Diff Runs compares two runs; ${selected.length} are selected. Select two (Ctrl/Cmd-click), or use Compare Selected Runs.`,
    );
    return undefined;
  }
  const [a, b] = selected;
  if (a && b) {
    if (a.project !== b.project) {
      void vscode.window.showInformationMessage("Diff Runs compares two runs of the same project.");
      return undefined;
    }
    return (a.run.created ?? 0) <= (b.run.created ?? 0) ? [a, b] : [b, a];
  }
  const first = a ?? (await pickRun(parts, "Diff Runs: from run"));
  if (!first) return undefined;
  const items = parts.runs
    .list(first.project)
    .filter((r) => r.id !== first.run.id)
    .map((run) => ({ label: runLabel(run), description: run.status, detail: run.id, run }));
  if (items.length === 0) {
    void vscode.window.showInformationMessage(`Diff Runs: run ${first.run.id} is the only run; submit another first.`);
    return undefined;
  }
  const second = await vscode.window.showQuickPick(items, {
    title: `Diff Runs: from ${runLabel(first.run)} to run`,
    placeHolder: "Run",
  });
  return second ? [first, { project: first.project, run: second.run }] : undefined;
}

/** Every cause two runs differ by, then their code diff, in a read-only document. */
async function diffRuns(parts: RunCommandParts, documents: RunDiffDocuments, nodes: unknown): Promise<void> {
  const pair = await twoRuns(parts, nodes);
  if (!pair) return;
  const [a, b] = pair;
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `Diffing runs ${a.run.id} and ${b.run.id}` },
      () => parts.client.request(RUNS_DIFF, { project: a.project, runId: a.run.id, otherRunId: b.run.id, causes: true }),
    );
    await documents.open(a.run.id, b.run.id, runDiffText(a.run.id, b.run.id, result));
  } catch (err) {
    showError(parts.client, `Could not diff runs ${a.run.id} and ${b.run.id}`, err);
  }
}

function openInTensorBoard(parts: RunCommandParts, node: unknown, nodes: unknown): void {
  if (!requireTrust()) return;
  const picked: RunRef[] = clickedRuns(nodes) ?? parts.runs.selected();
  const ref = picked.length ? undefined : runRef(node, parts);
  const runs = picked.length ? picked : ref ? [ref] : [];
  const first = runs[0];
  const cli = parts.client.cliCommand();
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
}

export function registerRunCommands(parts: RunCommandParts): vscode.Disposable[] {
  const { client, context, actions } = parts;
  const diffDocuments = new RunDiffDocuments();
  return [
    diffDocuments,
    command(client, "submitFile", (uri, target) => submitFile(parts, uri, target)),
    command(client, "submitFilePick", (arg) => submitFilePick(parts, arg)),
    command(client, "submitJob", () => submitJob(parts)),
    command(client, "cancelRun", async (node) => {
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Cancel Run", (r) => isActive(r.status), "no run is active."));
      if (ref) await cancel(parts.client, ref.project, ref.run.id);
    }),
    command(client, "showLogs", async (node) => {
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Show Run Logs"));
      if (ref) parts.outputs.show(ref.project, ref.run.id, true);
    }),
    command(client, "openRun", async (node) => {
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Open Run Details"));
      if (ref) showRunDetails(context, client, actions, ref.project, ref.run.id);
    }),
    command(client, "compareRuns", (_node, nodes) => compareRuns(parts, nodes)),
    command(client, "restoreRun", async (node) => {
      const ref = runRef(node, parts) ?? (await pickRun(parts, "Restore Run Snapshot"));
      if (ref) await restore(parts.client, ref);
    }),
    command(client, "rerun", (node) => rerun(parts, node)),
    command(client, "rerunOnTarget", (node) => rerun(parts, node, true)),
    command(client, "diffRuns", (_node, nodes) => diffRuns(parts, diffDocuments, nodes)),
    command(client, "openInTensorBoard", (node, nodes) => openInTensorBoard(parts, node, nodes)),
  ];
}
