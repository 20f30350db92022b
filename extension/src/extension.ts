// Runyard's VS Code face. It renders what the language server returns and sends what
// the user does; all the work happens in the server (python -m runyard.lsp).
import * as vscode from "vscode";
import { RunyardClient } from "./client";
import { registerCommands } from "./commands";
import { offerImports } from "./importOffer";
import { Projects } from "./projects";
import { RunOutputs } from "./runOutput";
import { TargetStatus } from "./statusBar";
import { GalleryView } from "./views/gallery";
import { ModelsView } from "./views/models";
import { RunsView } from "./views/runs";
import { SweepsView } from "./views/sweeps";
import { TargetsView } from "./views/targets";

let client: RunyardClient | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const activated = Date.now();
  const log = vscode.window.createOutputChannel("Runyard", { log: true });
  client = new RunyardClient(context, log);
  // The server starts first, before the views and commands are made: its own start
  // (Python importing its libraries) is the longest part of the way to the first rows,
  // and runs meanwhile. Nothing it says can arrive before activate() returns, so the
  // views below still hear it from the start.
  const trusted = vscode.workspace.isTrusted;
  if (trusted) void client.start();
  const projects = new Projects(client);
  const targets = new TargetsView(client, projects);
  const runs = new RunsView(client, projects);
  const models = new ModelsView(client, projects);
  const outputs = new RunOutputs(client);
  const sweeps = new SweepsView(client, projects);
  const sweepsTree = vscode.window.createTreeView("runyard.sweeps", {
    treeDataProvider: sweeps,
    canSelectMany: true,
    showCollapseAll: true,
  });
  const modelsTree = vscode.window.createTreeView("runyard.models", { treeDataProvider: models, showCollapseAll: true });
  models.watch(modelsTree);
  const runsTree = vscode.window.createTreeView("runyard.runs", {
    treeDataProvider: runs,
    canSelectMany: true,
    showCollapseAll: true,
  });
  const parts = { context, client, projects, targets, runs, models, outputs, sweeps };
  context.subscriptions.push(
    log,
    client,
    projects,
    targets,
    runs,
    models,
    outputs,
    runsTree,
    runsTree.onDidChangeSelection((e) => runs.setSelection(e.selection)),
    sweeps,
    sweepsTree,
    sweepsTree.onDidChangeSelection((e) => sweeps.setSelection(e.selection)),
    sweepsTree.onDidCollapseElement((e) => sweeps.collapsed(e.element)),
    vscode.window.createTreeView("runyard.targets", { treeDataProvider: targets }),
    modelsTree,
    vscode.window.createTreeView("runyard.gallery", { treeDataProvider: new GalleryView(client) }),
    new TargetStatus(projects),
    ...registerCommands(parts),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("runyard.pythonPath") && vscode.workspace.isTrusted) {
        void vscode.window
          .showInformationMessage("runyard.pythonPath changed: restart the Runyard server to use it?", "Restart")
          .then((pick) => pick && vscode.commands.executeCommand("runyard.restartServer"));
      }
    }),
  );
  void vscode.commands.executeCommand("setContext", "runyard.hasRuns", false);
  if (!trusted) {
    // Nothing runs until the user trusts the folder: not even the server.
    projects.setState("untrusted");
    log.info("Untrusted workspace: the Runyard server is not started.");
    context.subscriptions.push(
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        projects.setState("starting");
        void client?.start();
        if (client) void offerImports(context, client, projects);
      }),
    );
  } else {
    projects.setState("starting");
    void offerImports(context, client, projects);
  }
  log.info(`Runyard extension activated in ${Date.now() - activated} ms`);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
