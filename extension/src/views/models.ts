// The Models view: each registered model, its versions (newest first: framework, size,
// aliases; the lineage run → snapshot → target in the tooltip), and the deployments
// serving each version (status, address; the last telemetry sample in the tooltip, taken
// afresh by each listing of a running one). Refreshed on config pushes and after each
// model command, and, while the view is visible and a deployment runs, whenever a check
// every LIVE_CHECK_MS finds its deployments changed (a request served, a container gone).
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "../client";
import {
  deploymentDescription,
  deploymentsByVersion,
  deploymentsShown,
  deploymentTooltip,
  lineageText,
  versionDescription,
} from "../modelFormat";
import type { Projects } from "../projects";
import { CONFIG_CHANGED, DEPLOYMENTS_LIST, type DeploymentInfo, MODELS_LIST, type ModelInfo } from "../protocol";
import { type MessageNode, messageItem, statusIcon, type StatusIcons } from "./items";

export const DEPLOYMENT_ICONS: StatusIcons = {
  starting: ["loading~spin", undefined],
  running: ["pass", "testing.iconPassed"],
  exited: ["error", "testing.iconFailed"],
  gone: ["question", "list.warningForeground"],
  unreachable: ["warning", "list.warningForeground"],
  stopped: ["circle-slash", "disabledForeground"],
};

/** How often the deployments are checked while the view shows a running one. */
export const LIVE_CHECK_MS = 10_000;

const LIVE_STATUSES = new Set(["running", "starting"]);

export type ModelNode =
  | { kind: "model"; project: string; name: string; versions: ModelNode[] }
  | { kind: "version"; project: string; model: ModelInfo; deployments: DeploymentInfo[] }
  | { kind: "deployment"; project: string; deployment: DeploymentInfo }
  | MessageNode;

export class ModelsView implements vscode.TreeDataProvider<ModelNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ModelNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly subscriptions: vscode.Disposable[] = [];
  /** project root -> `deploymentsShown` of what the tree last drew */
  private shown = new Map<string, string>();
  private live = false; // the last drawing had a running or starting deployment
  private visible = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: RunyardClient,
    private readonly projects: Projects,
  ) {
    this.subscriptions.push(
      projects.onDidChange(() => this.refresh()),
      client.onNotification(CONFIG_CHANGED, () => this.refresh()),
    );
  }

  refresh(): void {
    this.emitter.fire(undefined);
  }

  /** Follow the view's visibility: deployments are checked only while it shows. */
  watch(view: vscode.TreeView<ModelNode>): void {
    this.visible = view.visible;
    this.subscriptions.push(
      view.onDidChangeVisibility((e) => {
        this.visible = e.visible;
        this.schedule();
      }),
    );
  }

  private schedule(): void {
    if (this.timer || !this.visible || !this.live) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check();
    }, LIVE_CHECK_MS);
  }

  /** List the deployments again (the server samples the running ones) and redraw the
   * tree when something it shows changed; else check again later. */
  private async check(): Promise<void> {
    if (!this.visible || !this.live) return;
    try {
      for (const project of this.projects.all) {
        const listed = await this.client.request(DEPLOYMENTS_LIST, { project: project.root });
        if (deploymentsShown(listed.deployments) !== (this.shown.get(project.root) ?? deploymentsShown([]))) {
          this.refresh(); // drawing it schedules the next check
          return;
        }
      }
    } catch {
      // the server is restarting, say: the next check tries again
    }
    this.schedule();
  }

  getTreeItem(node: ModelNode): vscode.TreeItem {
    switch (node.kind) {
      case "message":
        return messageItem(node);
      case "model": {
        const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.Expanded);
        item.description = `${node.versions.length} version${node.versions.length === 1 ? "" : "s"}`;
        item.iconPath = new vscode.ThemeIcon("package");
        item.contextValue = "model";
        return item;
      }
      case "version": {
        const m = node.model;
        const item = new vscode.TreeItem(
          `v${m.version}`,
          node.deployments.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
        );
        // Part of the id says whether it has deployments: a version seen first as a leaf
        // would otherwise keep a collapsed arrow when its first deployment appears.
        item.id = `version:${node.project}:${m.ref}:${node.deployments.length ? "deployed" : "leaf"}`;
        item.description = versionDescription(m);
        item.tooltip = lineageText(m);
        item.iconPath = new vscode.ThemeIcon(m.kind === "folder" ? "file-directory" : "file-binary");
        item.contextValue = "modelVersion";
        return item;
      }
      case "deployment": {
        const d = node.deployment;
        const item = new vscode.TreeItem(d.name);
        item.description = deploymentDescription(d);
        item.tooltip = deploymentTooltip(d);
        item.iconPath = statusIcon(DEPLOYMENT_ICONS, d.status);
        item.contextValue = d.status === "running" ? "deployment.running" : "deployment";
        return item;
      }
    }
  }

  async getChildren(node?: ModelNode): Promise<ModelNode[]> {
    if (node?.kind === "model") return node.versions;
    if (node?.kind === "version") {
      return node.deployments.map((deployment) => ({ kind: "deployment", project: node.project, deployment }));
    }
    if (node) return [];
    const state = this.projects.state;
    if (state === "untrusted" || state === "noProject" || state === "serverFailed") return [];
    if (state === "starting") return [{ kind: "message", text: "Starting the Runyard server…", icon: "loading~spin" }];
    const out: ModelNode[] = [];
    const shown = new Map<string, string>();
    let live = false;
    for (const project of this.projects.all) {
      try {
        const [models, deployments] = await Promise.all([
          this.client.request(MODELS_LIST, { project: project.root }),
          this.client.request(DEPLOYMENTS_LIST, { project: project.root }),
        ]);
        shown.set(project.root, deploymentsShown(deployments.deployments));
        live ||= deployments.deployments.some((d) => LIVE_STATUSES.has(d.status));
        const byVersion = deploymentsByVersion(deployments.deployments);
        const byName = new Map<string, ModelInfo[]>();
        for (const m of models.models) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
        for (const [name, versions] of byName) {
          out.push({
            kind: "model",
            project: project.root,
            name,
            versions: [...versions]
              .sort((a, b) => b.version - a.version)
              .map((model) => ({
                kind: "version",
                project: project.root,
                model,
                deployments: byVersion.get(model.ref) ?? [],
              })),
          });
        }
      } catch (err) {
        out.push({ kind: "message", text: `Could not list models: ${asRunyardError(err).withHint}`, icon: "error" });
      }
    }
    this.shown = shown;
    this.live = live;
    this.schedule();
    return out;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.live = false;
    for (const s of this.subscriptions) s.dispose();
    this.emitter.dispose();
  }
}
