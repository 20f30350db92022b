// The status-bar item: the current project's default target; a click changes it. Its
// tooltip also says where the project's runs are kept (its own SQLite file, or a team
// store).
import * as vscode from "vscode";
import type { Projects } from "./projects";
import { targetTooltip } from "./teamStore";

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
      this.show("$(shield) Runyard", "Runyard runs nothing in an untrusted folder", "workbench.trust.manage");
      return;
    }
    if (state === "serverFailed") {
      this.show("$(error) Runyard", "The Runyard server is not running: click for its log", "runyard.showServerLog");
      return;
    }
    const project = this.projects.current;
    if (state !== "ready" || !project) {
      this.item.hide();
      return;
    }
    this.show(
      `$(server-process) ${project.defaultTarget ?? "no target"}`,
      targetTooltip(project.defaultTarget, project.root, project.store),
      "runyard.setDefaultTarget",
    );
  }

  private show(text: string, tooltip: string, command: string): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.command = command;
    this.item.show();
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.item.dispose();
  }
}
