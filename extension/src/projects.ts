// Which Runyard projects the workspace holds (as the server sees them), which one the
// views show, and the `runyard.state` context key the welcome views read:
// untrusted | starting | serverFailed | noProject | ready.
import * as path from "node:path";
import * as vscode from "vscode";
import type { RunyardClient } from "./client";
import { CONFIG_CHANGED, type ProjectInfo, SERVER_INFO } from "./protocol";

export type ExtensionState = "untrusted" | "starting" | "serverFailed" | "noProject" | "ready";

export function samePath(a: string, b: string): boolean {
  const norm = (p: string) => path.resolve(p).replace(/[\\/]+$/, "");
  return norm(a) === norm(b);
}

export function isInside(file: string, folder: string): boolean {
  const rel = path.relative(folder, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

export class Projects implements vscode.Disposable {
  private projects: ProjectInfo[] = [];
  private _state: ExtensionState = "starting";
  private readonly emitter = new vscode.EventEmitter<void>();
  /** Fires when the project list, the default target or the state changed. */
  readonly onDidChange = this.emitter.event;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly client: RunyardClient) {
    this.subscriptions.push(
      client.onDidChangeState((s) => {
        if (s === "ready") void this.refresh();
        else if (s === "failed") this.setState("serverFailed");
        else if (s === "starting") this.setState("starting");
      }),
      client.onNotification(CONFIG_CHANGED, () => void this.refresh()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.refresh()),
    );
  }

  get state(): ExtensionState {
    return this._state;
  }

  get all(): readonly ProjectInfo[] {
    return this.projects;
  }

  setState(state: ExtensionState): void {
    this._state = state;
    void vscode.commands.executeCommand("setContext", "runyard.state", state);
    this.emitter.fire();
  }

  async refresh(): Promise<void> {
    if (this.client.state !== "ready") return;
    try {
      const info = await this.client.request(SERVER_INFO, {});
      this.projects = info.projects;
      this.setState(this.projects.length > 0 ? "ready" : "noProject");
    } catch (err) {
      this.client.log.error(`Listing projects: ${String(err)}`);
    }
  }

  /** The project of the active editor's file, else the first one. */
  get current(): ProjectInfo | undefined {
    const file = vscode.window.activeTextEditor?.document.uri;
    if (file?.scheme === "file") {
      const hit = this.forPath(file.fsPath);
      if (hit) return hit;
    }
    return this.projects[0];
  }

  forPath(fsPath: string): ProjectInfo | undefined {
    // The innermost project wins.
    return [...this.projects]
      .filter((p) => isInside(fsPath, p.root))
      .sort((a, b) => b.root.length - a.root.length)[0];
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.emitter.dispose();
  }
}
