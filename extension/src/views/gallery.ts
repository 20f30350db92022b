// The Gallery view: one item per sample (framework and metric in the description);
// a click opens the gallery webview, the inline action creates a project from it.
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "../client";
import { formatDuration } from "../format";
import { GALLERY_LIST, type GalleryEntry } from "../protocol";

export type GalleryNode = { kind: "sample"; entry: GalleryEntry } | { kind: "message"; text: string };

export class GalleryView implements vscode.TreeDataProvider<GalleryNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<GalleryNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly client: RunyardClient) {
    this.sub = client.onDidChangeState(() => this.emitter.fire(undefined));
  }

  getTreeItem(node: GalleryNode): vscode.TreeItem {
    if (node.kind === "message") return new vscode.TreeItem(node.text);
    const e = node.entry;
    const item = new vscode.TreeItem(e.title);
    item.description = `${e.framework} · ${e.metric.name} ${e.metric.value}`;
    const tip = new vscode.MarkdownString(undefined, false);
    tip.appendText(`${e.title}\n\n${e.description}\n\n`);
    tip.appendText(`${e.framework}, ${e.task}; about ${formatDuration(e.expectedRuntimeSeconds)} on a CPU\n`);
    tip.appendText(`targets: ${e.targets.join(", ")}`);
    item.tooltip = tip;
    item.iconPath = new vscode.ThemeIcon("beaker");
    item.contextValue = "sample";
    item.command = { command: "runyard.openGallery", title: "Open Gallery", arguments: [] };
    return item;
  }

  async getChildren(node?: GalleryNode): Promise<GalleryNode[]> {
    if (node || this.client.state !== "ready") return [];
    try {
      const result = await this.client.request(GALLERY_LIST, {});
      const out: GalleryNode[] = result.entries.map((entry) => ({ kind: "sample", entry }));
      for (const p of result.problems ?? []) out.push({ kind: "message", text: `${p.file}: ${p.message}` });
      return out;
    } catch (err) {
      return [{ kind: "message", text: `Could not read the gallery: ${asRunyardError(err).withHint}` }];
    }
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }
}
