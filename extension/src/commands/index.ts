// Every command the manifest declares (package.json contributes.commands), one module
// per noun: targets.ts, runs.ts, models.ts, project.ts, notebooks.ts, sweeps.ts; common.ts holds the trust gate,
// error display and run/target pickers they share. Each module is handed only the parts
// it uses. The panel actions (the buttons of the run details, compare and gallery
// panels) are built here from those modules' functions, and handed to the commands that
// open panels. Commands that run code (submit, rerun, target tests, project creation)
// refuse in an untrusted workspace and say why.
import * as path from "node:path";
import * as vscode from "vscode";
import { RUNS_GET } from "../protocol";
import type { RunOutputs } from "../runOutput";
import type { SweepsView } from "../views/sweeps";
import type { PanelActions } from "../webviews";
import { showError } from "./common";
import { type ModelCommandParts, registerModel, registerModelCommands } from "./models";
import { registerNotebookCommands } from "./notebooks";
import { createProject, type ProjectCommandParts, registerProjectCommands } from "./project";
import { cancel, registerRunCommands, restore } from "./runs";
import { registerSweepCommands } from "./sweeps";
import { registerTargetCommands } from "./targets";

/** What the extension hands the commands at activation: the context, the client, the
 * project list, the views and the run output channels. */
export interface Parts extends Omit<ProjectCommandParts, "actions"> {
  outputs: RunOutputs;
  sweeps: SweepsView;
}

export function panelActions(parts: ModelCommandParts & { outputs: RunOutputs }): PanelActions {
  const { client, runs, outputs } = parts;
  return {
    showLogs: (project, runId) => outputs.show(project, runId, false),
    restore: (project, runId) => {
      const run = runs.find(project, runId);
      if (run) void restore(client, { project, run });
    },
    cancel: (project, runId) => void cancel(client, project, runId),
    createProject: (entryId) => void createProject(client, entryId),
    registerModel: (project, runId, outputPath) => {
      // a run older than the Runs view's first page is not in its cache: ask the server
      const known = runs.find(project, runId);
      const run = known ? Promise.resolve(known) : client.request(RUNS_GET, { project, runId }).then((d) => d.run);
      void run.then(
        (r) => registerModel(parts, { project, run: r }, outputPath),
        (err: unknown) => showError(client, `Could not register ${outputPath} as a model`, err),
      );
    },
    openOutput: (outputsDir, rel, reveal) => {
      const target = path.resolve(outputsDir, rel);
      if (!target.startsWith(path.resolve(outputsDir) + path.sep)) return;
      const uri = vscode.Uri.file(target);
      void vscode.commands.executeCommand(reveal ? "revealFileInOS" : "vscode.open", uri);
    },
  };
}

export function registerCommands(parts: Parts): vscode.Disposable[] {
  const { context, client, projects, targets, runs, models, outputs, sweeps } = parts;
  const actions = panelActions({ client, projects, runs, models, outputs });
  return [
    ...registerProjectCommands({ context, client, projects, targets, runs, models, actions }),
    ...registerTargetCommands({ client, projects, targets }),
    ...registerRunCommands({ context, client, projects, runs, outputs, actions }),
    ...registerModelCommands({ client, projects, runs, models }),
    ...registerNotebookCommands({ client, projects, outputs }),
    ...registerSweepCommands({ context, client, projects, sweeps, actions }),
  ];
}
