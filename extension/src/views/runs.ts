// The Runs view: experiments, each with its runs (newest first), live from the
// server's runs/didChange pushes. Each run shows its status icon (spinning while it
// runs), duration and key metric; several can be selected for compare.
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "../client";
import { formatValue, isActive, runDescription, runLabel } from "../format";
import { type Projects, samePath } from "../projects";
import { RUN_CHANGED, RUNS_LIST, type RunInfo } from "../protocol";
import { runUser, severalUsers, whoRan } from "../teamStore";
import { type MessageNode, messageItem, statusIcon, type StatusIcons } from "./items";

export const STATUS_ICONS: StatusIcons = {
  queued: ["clock", undefined],
  preparing: ["loading~spin", undefined],
  running: ["sync~spin", "charts.blue"],
  completed: ["pass", "testing.iconPassed"],
  failed: ["error", "testing.iconFailed"],
  canceled: ["circle-slash", "disabledForeground"],
  lost: ["question", "list.warningForeground"],
};

export type RunNode =
  | { kind: "experiment"; project: string; name: string; runs: RunInfo[] }
  | { kind: "run"; project: string; run: RunInfo }
  | MessageNode;

const PAGE = 200;

export class RunsView implements vscode.TreeDataProvider<RunNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<RunNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly runs = new Map<string, Map<string, RunInfo>>(); // project -> id -> run
  private error: string | null = null;
  private loaded = false;
  /** The lists asked for by the last reload, until the tree takes them. */
  private pending: Promise<void> | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private tick: NodeJS.Timeout | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  /** The run nodes last handed to the tree, by "project\0id": ticks refresh just those. */
  private readonly shown = new Map<string, RunNode>();
  private readonly mixed = new Map<string, boolean>(); // project -> runs of several users
  /** The selection as last reported by the tree (see `selected`). */
  private selection: readonly RunNode[] = [];
  private readonly changeEmitter = new vscode.EventEmitter<RunInfo>();
  /** Fires for every run change pushed by the server. */
  readonly onDidChangeRun = this.changeEmitter.event;

  constructor(
    private readonly client: RunyardClient,
    private readonly projects: Projects,
  ) {
    this.subscriptions.push(
      projects.onDidChange(() => this.reload()),
      client.onNotification(RUN_CHANGED, (n) => {
        const root = this.projects.all.find((p) => samePath(p.root, n.project))?.root ?? n.project;
        let byId = this.runs.get(root);
        if (!byId) {
          byId = new Map();
          this.runs.set(root, byId);
        }
        byId.set(n.run.id, n.run);
        this.changeEmitter.fire(n.run);
        this.changed();
      }),
    );
  }

  /** Fetch the run lists again (a new project, a refresh command). */
  reload(): void {
    this.loaded = false;
    // Asked for now, at the same time as the other views ask for theirs, not once the
    // tree asks for its rows after the redraw below; getChildren waits for this answer.
    this.pending = this.projects.state === "ready" ? this.load() : undefined;
    this.pending?.catch(() => undefined);
    this.changed();
  }

  /** Whether a project's runs name more than one user (worked out once per redraw). */
  private severalUsers(project: string): boolean {
    let known = this.mixed.get(project);
    if (known === undefined) {
      known = severalUsers(this.runs.get(project)?.values() ?? []);
      this.mixed.set(project, known);
    }
    return known;
  }

  private changed(): void {
    this.mixed.clear();
    // Bursts of pushes become one redraw.
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.emitter.fire(undefined);
      this.updateContext();
    }, 100);
  }

  private updateContext(): void {
    let any = false;
    let active = false;
    for (const byId of this.runs.values()) {
      for (const r of byId.values()) {
        any = true;
        if (isActive(r.status)) active = true;
      }
    }
    void vscode.commands.executeCommand("setContext", "runyard.hasRuns", any);
    // Durations of running runs tick while any runs: only those rows are redrawn, so
    // the tree keeps its elements (and TreeView.selection stays valid).
    if (active && !this.tick) {
      this.tick = setInterval(() => {
        for (const node of this.shown.values()) {
          if (node.kind === "run" && isActive(node.run.status)) this.emitter.fire(node);
        }
      }, 1000);
    } else if (!active && this.tick) {
      clearInterval(this.tick);
      this.tick = undefined;
    }
  }

  /** Remember the tree's selection (call from TreeView.onDidChangeSelection). */
  setSelection(nodes: readonly RunNode[]): void {
    this.selection = nodes;
  }

  /**
   * The selected runs, with their latest state. Kept from the selection events rather
   * than read from TreeView.selection, which is briefly empty while the tree refreshes.
   */
  selected(): { project: string; run: RunInfo }[] {
    const out: { project: string; run: RunInfo }[] = [];
    for (const n of this.selection) {
      if (n.kind !== "run") continue;
      out.push({ project: n.project, run: this.find(n.project, n.run.id) ?? n.run });
    }
    return out;
  }

  /** The project's runs this view knows, newest first. */
  list(project: string): RunInfo[] {
    return [...(this.runs.get(project)?.values() ?? [])].sort((a, b) => (b.created ?? 0) - (a.created ?? 0));
  }

  find(project: string, runId: string): RunInfo | undefined {
    return this.runs.get(project)?.get(runId);
  }

  private async load(): Promise<void> {
    this.error = null;
    const fresh = new Map<string, Map<string, RunInfo>>();
    for (const project of this.projects.all) {
      const result = await this.client.request(RUNS_LIST, {
        project: project.root,
        sort: "created",
        descending: true,
        limit: PAGE,
      });
      const byId = new Map<string, RunInfo>();
      for (const r of result.runs) byId.set(r.id, r);
      // Pushes that raced the list keep their newer state.
      for (const [id, r] of this.runs.get(project.root) ?? []) {
        if (!byId.has(id)) byId.set(id, r);
        else if (isActive(byId.get(id)?.status ?? "") && !isActive(r.status)) byId.set(id, r);
      }
      fresh.set(project.root, byId);
    }
    this.runs.clear();
    this.mixed.clear();
    for (const [k, v] of fresh) this.runs.set(k, v);
    this.loaded = true;
    this.updateContext();
  }

  getTreeItem(node: RunNode): vscode.TreeItem {
    if (node.kind === "message") return messageItem(node);
    if (node.kind === "experiment") {
      const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `exp:${node.project}:${node.name}`;
      const active = node.runs.filter((r) => isActive(r.status)).length;
      item.description = `${node.runs.length} run${node.runs.length === 1 ? "" : "s"}${active ? `, ${active} active` : ""}`;
      item.iconPath = new vscode.ThemeIcon("beaker");
      item.contextValue = "experiment";
      return item;
    }
    const r = node.run;
    const item = new vscode.TreeItem(runLabel(r));
    item.id = `run:${node.project}:${r.id}`;
    // Where the runs of several people meet (a team store), each says whose it is.
    const user = this.severalUsers(node.project) ? runUser(r) : null;
    item.description = user ? `${runDescription(r)} · ${user}` : runDescription(r);
    item.iconPath = statusIcon(STATUS_ICONS, r.status);
    item.contextValue = isActive(r.status) ? "run.active" : "run";
    const tip = new vscode.MarkdownString(undefined, false);
    tip.appendText(`${r.id}\n${r.status}${r.reason ? `: ${r.reason}` : ""}\n`);
    tip.appendText(`target ${r.target} (${r.targetType}) · experiment ${r.experiment}\n`);
    const who = whoRan(r);
    if (who) tip.appendText(`run by ${who}\n`);
    if (r.command?.length) tip.appendText(`${r.command.join(" ")}\n`);
    if (r.snapshotCommit) tip.appendText(`snapshot ${r.snapshotCommit.slice(0, 12)}\n`);
    for (const [k, v] of Object.entries(r.metrics ?? {})) tip.appendText(`${k} = ${formatValue(v)}\n`);
    item.tooltip = tip;
    // No arguments: VS Code keeps a row's command arguments only until the row is drawn
    // again (every second for a live run, on every push for all), and a click landing in
    // between failed with "command not found". A click selects the row first, and the
    // selection reaches the extension before the command does: the command reads it.
    item.command = { command: "runyard.showLogs", title: "Show Logs" };
    return item;
  }

  async getChildren(node?: RunNode): Promise<RunNode[]> {
    if (node?.kind === "experiment") {
      return node.runs.map((run) => {
        const child: RunNode = { kind: "run", project: node.project, run };
        this.shown.set(`${node.project}\0${run.id}`, child);
        return child;
      });
    }
    if (node) return [];
    if (this.projects.state !== "ready") return [];
    if (!this.loaded) {
      const pending = this.pending;
      this.pending = undefined;
      try {
        await (pending ?? this.load());
      } catch (err) {
        this.error = asRunyardError(err).withHint;
      }
    }
    if (this.error) return [{ kind: "message", text: `Could not list runs: ${this.error}`, icon: "error" }];
    this.shown.clear();
    const out: RunNode[] = [];
    for (const [project, byId] of this.runs) {
      const byExperiment = new Map<string, RunInfo[]>();
      for (const r of byId.values()) {
        const list = byExperiment.get(r.experiment) ?? [];
        list.push(r);
        byExperiment.set(r.experiment, list);
      }
      for (const [name, runs] of [...byExperiment].sort(([a], [b]) => a.localeCompare(b))) {
        runs.sort((a, b) => (b.created ?? 0) - (a.created ?? 0));
        out.push({ kind: "experiment", project, name, runs });
      }
    }
    return out;
  }

  getParent(node: RunNode): RunNode | undefined {
    if (node.kind !== "run") return undefined;
    const byId = this.runs.get(node.project);
    const runs = [...(byId?.values() ?? [])].filter((r) => r.experiment === node.run.experiment);
    return { kind: "experiment", project: node.project, name: node.run.experiment, runs };
  }

  dispose(): void {
    if (this.tick) clearInterval(this.tick);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const s of this.subscriptions) s.dispose();
    this.emitter.dispose();
    this.changeEmitter.dispose();
  }
}
