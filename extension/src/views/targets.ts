// The Compute Targets view: one item per target with its type's icon, the default
// marked, reachability from `runyard/targets/test` (checked in the background), and
// files that could not be read shown as error items that open the file.
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "../client";
import type { Projects } from "../projects";
import {
  CONFIG_CHANGED,
  type ConfigProblem,
  TARGETS_LIST,
  TARGETS_TEST,
  type TargetInfo,
  type TargetTestResult,
} from "../protocol";
import { type MessageNode, messageItem } from "./items";

export const TYPE_ICONS: Record<string, string> = {
  local: "device-desktop",
  docker: "package",
  ssh: "remote",
  spark: "zap",
  ray: "server-environment",
};

export type TargetNode =
  | { kind: "target"; project: string; target: TargetInfo }
  | { kind: "problem"; project: string; problem: ConfigProblem }
  | MessageNode;

export class TargetsView implements vscode.TreeDataProvider<TargetNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<TargetNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly reach = new Map<string, TargetTestResult | string>() // "checking", or why it could not be checked;
  private readonly subscriptions: vscode.Disposable[] = [];
  /** The targets last listed, by project root (for pickers). */
  readonly lastListed = new Map<string, TargetInfo[]>();

  constructor(
    private readonly client: RunyardClient,
    private readonly projects: Projects,
  ) {
    this.subscriptions.push(
      projects.onDidChange(() => this.refresh()),
      client.onNotification(CONFIG_CHANGED, () => {
        this.reach.clear();
        this.refresh();
      }),
    );
  }

  refresh(recheck = false): void {
    if (recheck) this.reach.clear();
    this.emitter.fire(undefined);
  }

  getTreeItem(node: TargetNode): vscode.TreeItem {
    if (node.kind === "message") return messageItem(node);
    if (node.kind === "problem") {
      const p = node.problem;
      const item = new vscode.TreeItem(p.file.split(/[\\/]/).pop() ?? p.file);
      item.description = p.message;
      item.tooltip = `${p.file}${p.line ? `:${p.line}` : ""}\n${p.message}`;
      item.iconPath = new vscode.ThemeIcon("error", new vscode.ThemeColor("errorForeground"));
      item.contextValue = "problem";
      const line = Math.max(0, (p.line ?? 1) - 1);
      item.command = {
        command: "vscode.open",
        title: "Open",
        arguments: [vscode.Uri.file(p.file), { selection: new vscode.Range(line, 0, line, 0) }],
      };
      return item;
    }
    const t = node.target;
    const item = new vscode.TreeItem(t.name);
    const key = `${node.project}\0${t.name}`;
    const reach = this.reach.get(key);
    const parts = [t.type];
    if (t.isDefault) parts.unshift("default");
    let tooltip = `${t.name} (${t.type})\n${t.file}`;
    if (t.description) tooltip += `\n${t.description}`;
    if (reach === undefined || reach === "checking") {
      parts.push("checking…");
      if (reach === undefined) this.check(node.project, t.name, key);
    } else if (typeof reach === "string") {
      parts.push("not checked");
      tooltip += `\n${reach}`;
    } else {
      parts.push(reach.ok ? "reachable" : "unreachable");
      for (const c of reach.checks) {
        tooltip += `\n${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}${c.fix && !c.ok ? ` — ${c.fix}` : ""}`;
      }
    }
    item.description = parts.join(" · ");
    item.tooltip = tooltip;
    const color =
      reach && typeof reach !== "string"
        ? new vscode.ThemeColor(reach.ok ? "testing.iconPassed" : "testing.iconFailed")
        : undefined;
    item.iconPath = new vscode.ThemeIcon(TYPE_ICONS[t.type] ?? "server", color);
    item.contextValue = t.isDefault ? "target.default" : "target";
    item.command = {
      command: "vscode.open",
      title: "Open target file",
      arguments: [vscode.Uri.file(t.file)],
    };
    return item;
  }

  private check(project: string, name: string, key: string): void {
    this.reach.set(key, "checking");
    this.client
      .request(TARGETS_TEST, { project, name })
      .then(
        (result) => this.reach.set(key, result),
        (err) => this.reach.set(key, asRunyardError(err).withHint),
      )
      .finally(() => this.emitter.fire(undefined));
  }

  async getChildren(node?: TargetNode): Promise<TargetNode[]> {
    if (node) return [];
    const state = this.projects.state;
    if (state === "untrusted" || state === "noProject" || state === "serverFailed") return [];
    if (state === "starting") return [{ kind: "message", text: "Starting the Runyard server…", icon: "loading~spin" }];
    const out: TargetNode[] = [];
    for (const project of this.projects.all) {
      try {
        const result = await this.client.request(TARGETS_LIST, { project: project.root });
        this.lastListed.set(project.root, result.targets);
        for (const target of result.targets) out.push({ kind: "target", project: project.root, target });
        for (const problem of result.problems ?? []) out.push({ kind: "problem", project: project.root, problem });
      } catch (err) {
        out.push({ kind: "message", text: `Could not list targets: ${asRunyardError(err).withHint}`, icon: "error" });
      }
    }
    return out;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.emitter.dispose();
  }
}
