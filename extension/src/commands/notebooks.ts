// Notebook commands: "Submit Notebook as Run" from the notebook editor's toolbar, the
// Explorer's context menu on a *.ipynb, or the command palette (the active notebook).
// The notebook is saved first (the snapshot takes the file on disk), its parameters
// are asked for (NAME=VALUE pairs; empty keeps the notebook's defaults, Escape
// submits nothing), and it goes to the server's runyard/runs/submit like a script:
// the server checks the notebook before anything is recorded, runs it in a Jupyter
// kernel in the run's environment, and keeps the executed notebook in the run's
// outputs (the run details panel lists and opens it). Warnings (a parameter the
// notebook's `parameters` cell does not set) show in the submission's progress.
// A run's executed notebook (under .runyard/, which no snapshot takes) is not offered:
// the toolbar and the Explorer leave the command out there, and the command says why.
import * as path from "node:path";
import * as vscode from "vscode";
import type { RunyardClient } from "../client";
import { notebookParameters } from "../notebookParameters";
import type { Projects } from "../projects";
import { RUNS_SUBMIT } from "../protocol";
import type { RunOutputs } from "../runOutput";
import { asUri, command, pickTarget, requireTrust, showError } from "./common";

export interface NotebookCommandParts {
  client: RunyardClient;
  projects: Projects;
  outputs: RunOutputs;
}

/** The notebook a command was invoked on: an Explorer Uri, the notebook toolbar's
 * context (`{ notebookEditor: { notebookUri } }`), else the active notebook editor. */
export function notebookUri(arg: unknown): vscode.Uri | undefined {
  const direct = asUri(arg);
  if (direct) return direct;
  if (arg && typeof arg === "object") {
    const editor = (arg as { notebookEditor?: { notebookUri?: unknown } }).notebookEditor;
    if (editor?.notebookUri instanceof vscode.Uri) return editor.notebookUri;
  }
  return vscode.window.activeNotebookEditor?.notebook.uri;
}

async function submitNotebook(parts: NotebookCommandParts, arg: unknown, pick: boolean): Promise<void> {
  if (!requireTrust()) return;
  const uri = notebookUri(arg);
  if (!uri || uri.scheme !== "file" || !uri.fsPath.toLowerCase().endsWith(".ipynb")) {
    void vscode.window.showInformationMessage("Open a Jupyter notebook (.ipynb) to submit it as a run.");
    return;
  }
  const name = path.basename(uri.fsPath);
  const project = parts.projects.forPath(uri.fsPath);
  if (!project) {
    const init = await vscode.window.showWarningMessage(`${name} is not inside a Runyard project.`, "Initialize Runyard Here");
    if (init) await vscode.commands.executeCommand("runyard.init");
    return;
  }
  // A run's executed notebook (opened from its details) lies in the project's state,
  // which no snapshot takes: say so before asking anything.
  const inState = path.relative(path.join(project.root, ".runyard"), uri.fsPath);
  if (!inState.startsWith("..") && !path.isAbsolute(inState)) {
    void vscode.window.showInformationMessage(
      `${name} is a run's output (inside .runyard/, which is not snapshotted). Submit the notebook in the project, or rerun the run.`,
    );
    return;
  }
  let target: string | undefined;
  if (pick) {
    target = (await pickTarget(parts.client, project.root, `Submit ${name} on`))?.name;
    if (!target) return;
  }
  const text = await vscode.window.showInputBox({
    title: `Submit ${name} as a run`,
    prompt: "Parameters, injected after the cell tagged `parameters` (empty: the notebook's own values)",
    placeHolder: "lr=0.1 epochs=3 name=\"a b\"",
    validateInput: (value) => {
      const parsed = notebookParameters(value);
      return "error" in parsed ? parsed.error : undefined;
    },
  });
  if (text === undefined) return;
  const parsed = notebookParameters(text);
  if ("error" in parsed) return;
  const doc = vscode.workspace.notebookDocuments.find((d) => d.uri.toString() === uri.toString());
  if (doc?.isDirty) await doc.save();
  const started = Date.now();
  try {
    const run = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Submitting ${name}`, cancellable: false },
      () =>
        parts.client.request(RUNS_SUBMIT, {
          project: project.root,
          script: uri.fsPath,
          args: parsed.args,
          ...(target ? { target } : {}),
        }),
    );
    parts.client.log.info(`Submitted ${name} as run ${run.id} in ${Date.now() - started} ms`);
    parts.outputs.show(project.root, run.id);
  } catch (err) {
    showError(parts.client, `Could not submit ${name}`, err);
  }
}

export function registerNotebookCommands(parts: NotebookCommandParts): vscode.Disposable[] {
  const { client } = parts;
  return [
    command(client, "submitNotebook", (arg) => submitNotebook(parts, arg, false)),
    command(client, "submitNotebookPick", (arg) => submitNotebook(parts, arg, true)),
  ];
}
