// The status-bar item: the current project's default target; a click changes it.
import * as vscode from "vscode";
import type { Projects } from "./projects";

export class TargetStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("runyard.target", vscode.StatusBarAlignment.Left, 50);
  private readonly subs: vscode.Disposable[];

  constructor(private readonly projects: Projects) {
    this.item.name = "Runyard Target";
    this.item.command = "runyard.setDefaultTarget";
    this.subs = [projects.onDidChange(() => this.update()), vscode.window.onDidChangeActiveTextEditor(() => this.update())];
    this.update();
  }

  update(): void {
    const state = this.projects.state;
    if (state === "untrusted") {
      this.item.text = "$(shield) Runyard";
      this.item.tooltip = "Runyard runs nothing in an untrusted folder";
      this.item.command = "workbench.trust.manage";
      this.item.show();
      return;
    }
    if (state === "serverFailed") {
      this.item.text = "$(error) Runyard";
      this.item.tooltip = "The Runyard server is not running: click for its log";
      this.item.command = "runyard.showServerLog";
      this.item.show();
      return;
    }
    const project = this.projects.current;
    if (state !== "ready" || !project) {
      this.item.hide();
      return;
    }
    this.item.text = `$(server-process) ${project.defaultTarget ?? "no target"}`;
    this.item.tooltip = `Runyard: runs go to ${project.defaultTarget ?? "(no default target)"}. Click to change.`;
    this.item.command = "runyard.setDefaultTarget";
    this.item.show();
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.item.dispose();
  }
}
