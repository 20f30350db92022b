// What the command modules share: the workspace-trust gate, the error message with a
// way to the log, registering a command so that a failure is shown instead of lost, and
// reading which run, target or project a command is about (a tree row it was invoked
// on, the Runs view's selection, or a quick pick). Each helper takes only the parts it
// reads (the client, the project list, the Runs view), never the whole extension.
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "../client";
import { runDescription, runLabel } from "../format";
import type { Projects } from "../projects";
import { type RunInfo, TARGETS_LIST, type TargetInfo } from "../protocol";
import type { RunsView } from "../views/runs";

/** A run and the project root it belongs to. */
export type RunRef = { project: string; run: RunInfo };

/** Where run commands find their run: the projects and the Runs view's cache and selection. */
export interface RunSource {
  projects: Projects;
  runs: RunsView;
}

/** True in a trusted workspace; otherwise says why nothing runs, with a way to trust it. */
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

/** Register `runyard.<id>`; what it throws is shown with `showError`, never swallowed. */
export function command(client: RunyardClient, id: string, fn: (...args: unknown[]) => unknown): vscode.Disposable {
  return vscode.commands.registerCommand(`runyard.${id}`, async (...args: unknown[]) => {
    try {
      await fn(...args);
    } catch (err) {
      showError(client, `Runyard: ${id}`, err);
    }
  });
}

/** A file argument: a Uri (from an explorer or editor menu), or a path or URI string. */
export function asUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === "string" && arg) return arg.includes("://") ? vscode.Uri.parse(arg) : vscode.Uri.file(arg);
  return undefined;
}

/** The project of a tree row (`arg`), else the current project. */
export function projectFor(projects: Projects, arg: unknown): string | undefined {
  if (arg && typeof arg === "object" && "project" in arg) return (arg as { project: string }).project;
  return projects.current?.root;
}

/** The run a command is about: a Runs view row, a run id, else the view's selection. */
export function runRef(arg: unknown, from: RunSource): RunRef | undefined {
  if (arg && typeof arg === "object" && "run" in arg && "project" in arg) {
    const n = arg as RunRef;
    return { project: n.project, run: n.run };
  }
  if (typeof arg === "string") {
    for (const p of from.projects.all) {
      const run = from.runs.find(p.root, arg);
      if (run) return { project: p.root, run };
    }
  }
  return from.runs.selected()[0];
}

/** The run selected in the Runs view, else one picked from the project's runs (newest
 * first; `which` narrows them, `none` says why there is nothing to pick). */
export async function pickRun(
  from: RunSource,
  title: string,
  which: (run: RunInfo) => boolean = () => true,
  none = "No runs yet: submit a script first.",
): Promise<RunRef | undefined> {
  const ref = runRef(undefined, from);
  if (ref && which(ref.run)) return ref;
  const items = from.projects.all.flatMap((p) =>
    from.runs
      .list(p.root)
      .filter(which)
      .map((run) => ({
        label: runLabel(run),
        description: runDescription(run),
        detail: from.projects.all.length > 1 ? p.root : undefined,
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

/** One of the project's compute targets, picked. */
export async function pickTarget(client: RunyardClient, project: string, title: string): Promise<TargetInfo | undefined> {
  const result = await client.request(TARGETS_LIST, { project });
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
