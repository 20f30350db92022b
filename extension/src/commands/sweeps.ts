// Sweep commands: refresh the Sweeps view, cancel a sweep (runyard/sweeps/cancel: its
// supervisor cancels the live trials and starts no more), compare trials (the Compare
// panel, with the trials' runs), and open the runs table (every run of the project, or
// one sweep's trials). A sweep is the row the command was invoked on, else the one selected in the
// Sweeps view, else one picked; trials are the rows selected in the Sweeps view. Trial
// rows also take the run commands (Open Run Details, Show Logs): they are shaped as Runs
// view rows (views/sweeps.ts).
import * as vscode from "vscode";
import type { RunyardClient } from "../client";
import type { Projects } from "../projects";
import { SWEEPS_CANCEL, type SweepInfo } from "../protocol";
import { sweepDescription } from "../sweepFormat";
import { isSweepActive, type SweepNode, type SweepsView } from "../views/sweeps";
import { type PanelActions, showCompare, showRunsTable } from "../webviews";
import { command, projectFor, showError } from "./common";

export interface SweepCommandParts {
  context: vscode.ExtensionContext;
  client: RunyardClient;
  projects: Projects;
  sweeps: SweepsView;
  actions: PanelActions;
}

type SweepRef = { project: string; sweep: SweepInfo };

function sweepRef(node: unknown): SweepRef | undefined {
  if (node && typeof node === "object" && "kind" in node && (node as SweepNode).kind === "sweep") {
    const n = node as Extract<SweepNode, { kind: "sweep" }>;
    return { project: n.project, sweep: n.sweep };
  }
  return undefined;
}

async function pickSweep(parts: SweepCommandParts, title: string, which: (s: SweepInfo) => boolean): Promise<SweepRef | undefined> {
  const selected = parts.sweeps.selectedSweep();
  if (selected && which(selected.sweep)) return selected;
  const items = parts.sweeps
    .all()
    .filter((r) => which(r.sweep))
    .map((r) => ({ label: r.sweep.name, description: sweepDescription(r.sweep), detail: r.sweep.id, ref: r }));
  if (items.length === 0) {
    void vscode.window.showInformationMessage(`${title}: no sweep to choose from.`);
    return undefined;
  }
  return (await vscode.window.showQuickPick(items, { title }))?.ref;
}

async function cancelSweep(parts: SweepCommandParts, node: unknown): Promise<void> {
  const ref = sweepRef(node) ?? (await pickSweep(parts, "Cancel Sweep", (s) => isSweepActive(s.status)));
  if (!ref) return;
  try {
    const r = await parts.client.request(SWEEPS_CANCEL, { project: ref.project, sweepId: ref.sweep.id });
    if (!r.canceled) void vscode.window.showInformationMessage(`Sweep ${ref.sweep.name} had already ended (${r.status}).`);
    else void vscode.window.showInformationMessage(`Sweep ${ref.sweep.name}: canceling its live trials.`);
  } catch (err) {
    showError(parts.client, `Could not cancel sweep ${ref.sweep.name}`, err);
  }
  parts.sweeps.refreshSoon();
}

function compareTrials(parts: SweepCommandParts, nodes: unknown): void {
  // From a context menu VS Code passes the clicked row and the selected rows.
  let picked = Array.isArray(nodes)
    ? (nodes as SweepNode[]).flatMap((n) => (n.kind === "run" ? [{ project: n.project, run: n.run }] : []))
    : [];
  if (picked.length < 2) picked = parts.sweeps.selectedTrials();
  if (picked.length < 2) {
    void vscode.window.showInformationMessage("Select two or more trials in the Sweeps view (Ctrl/Cmd-click), then compare.");
    return;
  }
  const project = picked[0]?.project ?? "";
  const ids = picked.filter((t) => t.project === project).map((t) => t.run.id);
  showCompare(parts.context, parts.client, parts.actions, project, ids);
}

async function openTrialsTable(parts: SweepCommandParts, node: unknown): Promise<void> {
  const ref = sweepRef(node) ?? (await pickSweep(parts, "Open Trials in Runs Table", () => true));
  if (ref) showRunsTable(parts.context, parts.client, parts.actions, ref.project, {
      id: ref.sweep.id,
      name: ref.sweep.name,
      metric: ref.sweep.metric,
    });
}

export function registerSweepCommands(parts: SweepCommandParts): vscode.Disposable[] {
  const { client } = parts;
  return [
    command(client, "refreshSweeps", () => parts.sweeps.reload()),
    command(client, "cancelSweep", (node) => cancelSweep(parts, node)),
    command(client, "compareTrials", (_node, nodes) => compareTrials(parts, nodes)),
    command(client, "openSweepTrialsTable", (node) => openTrialsTable(parts, node)),
    command(client, "openRunsTable", (node) => {
      const project = projectFor(parts.projects, node);
      if (!project) {
        void vscode.window.showInformationMessage("Runyard: open a folder that holds a Runyard project first.");
        return;
      }
      showRunsTable(parts.context, parts.client, parts.actions, project);
    }),
  ];
}
