// The Sweeps view: each project's sweeps (newest first), each with its trials sorted
// by the objective, the best first (the server's order: runyard/sweeps/get, the same
// views `runyard sweep list/show` print). The best trial wears a star, a pruned one
// its own icon and the word "pruned"; what the sweep's supervisor noted (an objective
// metric no run logs, say) shows as warning rows above its trials.
//
// Live: every runs/didChange push (the Runs view's feed: a trial is a run) asks for a
// refresh, and refreshes are throttled to one a second; while a sweep is live the view
// also looks again every few seconds (a sweep's own end is no run change). A refresh
// fetches the list, and the trials of the sweeps whose trials were shown.
//
// A trial with a run is a row shaped like a Runs view row ({ kind: "run", project, run })
// with the trial beside it, so the run commands (Open Run Details, Show Logs, Compare
// Runs) take it as they take a Runs view row; the Sweeps commands (commands/sweeps.ts)
// read the `sweep` rows.
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "../client";
import type { Projects } from "../projects";
import {
  RUN_CHANGED,
  type RunInfo,
  SWEEP_ACTIVE_STATUSES,
  SWEEPS_GET,
  SWEEPS_LIST,
  type SweepDetails,
  type SweepInfo,
  type TrialInfo,
} from "../protocol";
import { sweepDescription, trialDescription, trialLabel } from "../sweepFormat";
import { type MessageNode, messageItem, statusIcon, type StatusIcons } from "./items";
import { STATUS_ICONS } from "./runs";

export const SWEEP_ICONS: StatusIcons = {
  starting: ["loading~spin", undefined],
  running: ["sync~spin", "charts.blue"],
  completed: ["pass", "testing.iconPassed"],
  failed: ["error", "testing.iconFailed"],
  canceled: ["circle-slash", "disabledForeground"],
  interrupted: ["debug-pause", "list.warningForeground"],
};

const TRIAL_ICONS: StatusIcons = { ...STATUS_ICONS, pruned: ["debug-step-out", "list.warningForeground"] };

export type SweepNode =
  | { kind: "sweep"; project: string; sweep: SweepInfo }
  | { kind: "run"; project: string; run: RunInfo; sweepId: string; trial: TrialInfo; best: boolean }
  | { kind: "trial"; project: string; sweepId: string; trial: TrialInfo; best: boolean }
  | MessageNode;

/** The least time between two refreshes, and how often a live sweep is looked at. */
const THROTTLE_MS = 1000;
const LIVE_POLL_MS = 4000;

export function isSweepActive(status: string): boolean {
  return SWEEP_ACTIVE_STATUSES.includes(status);
}

export class SweepsView implements vscode.TreeDataProvider<SweepNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<SweepNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private sweeps = new Map<string, SweepInfo[]>(); // project -> sweeps, newest first
  private readonly details = new Map<string, SweepDetails>(); // "project\0id" -> trials
  private readonly expanded = new Set<string>(); // "project\0id" whose trials were shown
  private error: string | null = null;
  private loaded = false;
  private lastRefresh = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private selection: readonly SweepNode[] = [];
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly client: RunyardClient,
    private readonly projects: Projects,
  ) {
    this.subscriptions.push(
      projects.onDidChange(() => this.reload()),
      client.onNotification(RUN_CHANGED, () => this.refreshSoon()),
    );
  }

  /** Fetch everything again now (a new project, the refresh command). */
  reload(): void {
    this.loaded = false;
    this.details.clear();
    this.emitter.fire(undefined);
  }

  /** Refresh within a second, at most once a second whatever the pushes' rate. The
   * sweeps are fetched first and the tree redrawn after, from what was fetched: a
   * redraw that waited on the server would leave VS Code without the rows' elements
   * meanwhile, and a context menu chosen then would run its command without its row. */
  refreshSoon(): void {
    if (this.refreshTimer) return;
    const wait = Math.max(0, this.lastRefresh + THROTTLE_MS - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.lastRefresh = Date.now();
      this.load()
        .catch((err: unknown) => {
          this.error = asRunyardError(err).withHint;
        })
        .finally(() => {
          this.refreshTimer = undefined;
          this.emitter.fire(undefined);
        });
    }, wait);
  }

  /** A sweep row was collapsed: its trials are no longer fetched on refresh. */
  collapsed(node: SweepNode): void {
    if (node.kind === "sweep") this.expanded.delete(`${node.project}\0${node.sweep.id}`);
  }

  setSelection(nodes: readonly SweepNode[]): void {
    this.selection = nodes;
  }

  /** The selected trial rows that have a run. */
  selectedTrials(): { project: string; run: RunInfo }[] {
    return this.selection.flatMap((n) => (n.kind === "run" ? [{ project: n.project, run: n.run }] : []));
  }

  /** The selected sweep (a sweep row, or the sweep of a selected trial). */
  selectedSweep(): { project: string; sweep: SweepInfo } | undefined {
    for (const n of this.selection) {
      if (n.kind === "sweep") return { project: n.project, sweep: n.sweep };
      if (n.kind === "run" || n.kind === "trial") {
        const sweep = this.sweeps.get(n.project)?.find((s) => s.id === n.sweepId);
        if (sweep) return { project: n.project, sweep };
      }
    }
    return undefined;
  }

  /** Every sweep this view knows, newest first per project. */
  all(): { project: string; sweep: SweepInfo }[] {
    return [...this.sweeps].flatMap(([project, list]) => list.map((sweep) => ({ project, sweep })));
  }

  private async load(): Promise<void> {
    this.error = null;
    const fresh = new Map<string, SweepInfo[]>();
    for (const project of this.projects.all) {
      const result = await this.client.request(SWEEPS_LIST, { project: project.root });
      fresh.set(project.root, result.sweeps);
    }
    // the trials of the sweeps whose trials are on screen, fetched again
    const keep = new Map<string, SweepDetails>();
    await Promise.all(
      [...fresh].flatMap(([project, list]) =>
        list
          .filter((s) => this.expanded.has(`${project}\0${s.id}`))
          .map(async (s) => {
            const known = this.details.get(`${project}\0${s.id}`);
            if (known && !isSweepActive(known.sweep.status) && known.sweep.status === s.status) {
              keep.set(`${project}\0${s.id}`, known); // an ended sweep's trials stay as they are
              return;
            }
            keep.set(`${project}\0${s.id}`, await this.client.request(SWEEPS_GET, { project, sweepId: s.id }));
          }),
      ),
    );
    this.sweeps = fresh;
    this.details.clear();
    for (const [k, v] of keep) this.details.set(k, v);
    this.loaded = true;
    const live = [...fresh.values()].some((list) => list.some((s) => isSweepActive(s.status)));
    if (live && !this.poll) this.poll = setInterval(() => this.refreshSoon(), LIVE_POLL_MS);
    else if (!live && this.poll) {
      clearInterval(this.poll);
      this.poll = undefined;
    }
  }

  getTreeItem(node: SweepNode): vscode.TreeItem {
    if (node.kind === "message") return messageItem(node);
    if (node.kind === "sweep") {
      const s = node.sweep;
      const item = new vscode.TreeItem(s.name, vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `sweep:${node.project}:${s.id}`;
      item.description = sweepDescription(s);
      item.iconPath = statusIcon(SWEEP_ICONS, s.status);
      item.contextValue = isSweepActive(s.status) ? "sweep.active" : "sweep";
      const tip = new vscode.MarkdownString(undefined, false);
      tip.appendText(`${s.id}\n${s.status}${s.reason ? `: ${s.reason}` : ""}\n`);
      tip.appendText(`${s.direction} ${s.metric} · ${s.sampler} sampler\n`);
      tip.appendText(`${s.trialsDone} of ${s.trialsTotal} trials done\n`);
      for (const [status, n] of Object.entries(s.counts)) tip.appendText(`${status}: ${n}\n`);
      item.tooltip = tip;
      return item;
    }
    const t = node.trial;
    const sweep = this.sweeps.get(node.project)?.find((s) => s.id === node.sweepId);
    const item = new vscode.TreeItem(trialLabel(t));
    item.id = `trial:${node.project}:${node.sweepId}:${t.number}`;
    item.description = trialDescription(t, sweep?.metric ?? "value", node.best);
    item.iconPath = node.best
      ? new vscode.ThemeIcon("star-full", new vscode.ThemeColor("charts.yellow"))
      : statusIcon(TRIAL_ICONS, t.status);
    const flags = [node.best ? ".best" : "", t.status === "pruned" ? ".pruned" : ""].join("");
    item.contextValue = node.kind === "run" ? `trial${flags}` : `trial.norun${flags}`;
    const tip = new vscode.MarkdownString(undefined, false);
    tip.appendText(`trial #${t.number}${t.runId ? ` · run ${t.runId}` : ""}\n${t.status}${t.reason ? `: ${t.reason}` : ""}\n`);
    if (t.target) tip.appendText(`target ${t.target}\n`);
    for (const [k, v] of Object.entries(t.params)) tip.appendText(`${k} = ${JSON.stringify(v)}\n`);
    item.tooltip = tip;
    return item;
  }

  async getChildren(node?: SweepNode): Promise<SweepNode[]> {
    if (node?.kind === "sweep") return this.trials(node.project, node.sweep);
    if (node) return [];
    if (this.projects.state !== "ready") return [];
    if (!this.loaded) {
      try {
        await this.load();
      } catch (err) {
        this.error = asRunyardError(err).withHint;
      }
    }
    if (this.error) return [{ kind: "message", text: `Could not list sweeps: ${this.error}`, icon: "error" }];
    const out: SweepNode[] = this.all().map(({ project, sweep }) => ({ kind: "sweep", project, sweep }));
    if (out.length === 0) {
      return [{ kind: "message", text: "No sweeps yet: runyard sweep start NAME (.runyard/sweeps/NAME.yml)", icon: "info" }];
    }
    return out;
  }

  private async trials(project: string, sweep: SweepInfo): Promise<SweepNode[]> {
    const key = `${project}\0${sweep.id}`;
    this.expanded.add(key);
    let details = this.details.get(key);
    if (!details) {
      try {
        details = await this.client.request(SWEEPS_GET, { project, sweepId: sweep.id });
      } catch (err) {
        return [{ kind: "message", text: `Could not read sweep ${sweep.id}: ${asRunyardError(err).withHint}`, icon: "error" }];
      }
      this.details.set(key, details);
    }
    // what the sweep's supervisor noted (an objective metric no run logs, a target
    // that keeps failing) comes first
    const notes: SweepNode[] = details.notes.map((text) => ({ kind: "message", text, icon: "warning" }));
    if (details.trials.length === 0) return [...notes, { kind: "message", text: "No trial has started yet", icon: "clock" }];
    const bestTrial = details.sweep.bestTrial;
    return [...notes, ...details.trials.map((trial): SweepNode => {
      const best = bestTrial !== null && bestTrial !== undefined && trial.number === bestTrial;
      if (!trial.runId) return { kind: "trial", project, sweepId: sweep.id, trial, best };
      return { kind: "run", project, run: trialRun(trial, details), sweepId: sweep.id, trial, best };
    })];
  }

  dispose(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.poll) clearInterval(this.poll);
    for (const s of this.subscriptions) s.dispose();
    this.emitter.dispose();
  }
}

/** The run of a trial as the run commands read it (they need its id and status). */
function trialRun(trial: TrialInfo, details: SweepDetails): RunInfo {
  const status = trial.status === "pruned" ? "canceled" : trial.status;
  const metrics: Record<string, number | null> = {};
  const value = trial.value ?? trial.latest;
  if (value !== undefined) metrics[details.sweep.metric] = value;
  return {
    id: trial.runId ?? "",
    experiment: details.sweep.name,
    status,
    target: trial.target ?? "",
    targetType: "",
    started: trial.started ?? null,
    ended: trial.ended ?? null,
    reason: trial.reason ?? null,
    metrics,
  };
}
