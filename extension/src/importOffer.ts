// The offer to import a project made for another tool: when a trusted workspace folder
// has aml_config/ (Azure ML Workbench) or an MLproject file (MLflow) and no .runyard/,
// a notification offers "Import"; the server writes Runyard's files
// (runyard/project/import, as `runyard import` does) and they are opened for review.
// What was done and not done goes to the Runyard log. "Don't Ask Again" is kept per
// folder in the workspace state. The pure part (which importer, the summary) is in
// importOfferText.ts, unit-tested without VS Code.
import * as vscode from "vscode";
import type { RunyardClient } from "./client";
import { showError } from "./commands/common";
import type { Projects } from "./projects";
import { type ImportKind, importKind, offerText, summary, type FolderShape } from "./importOfferText";
import { PROJECT_IMPORT } from "./protocol";

async function exists(uri: vscode.Uri, type: vscode.FileType): Promise<boolean> {
  try {
    return ((await vscode.workspace.fs.stat(uri)).type & type) !== 0;
  } catch {
    return false;
  }
}

async function shapeOf(folder: vscode.Uri): Promise<FolderShape> {
  const [amlConfig, mlproject, runyard] = await Promise.all([
    exists(vscode.Uri.joinPath(folder, "aml_config"), vscode.FileType.Directory),
    exists(vscode.Uri.joinPath(folder, "MLproject"), vscode.FileType.File),
    exists(vscode.Uri.joinPath(folder, ".runyard"), vscode.FileType.Directory),
  ]);
  return { amlConfig, mlproject, runyard };
}

async function runImport(
  client: RunyardClient,
  projects: Projects,
  folder: vscode.WorkspaceFolder,
  kind: ImportKind,
): Promise<void> {
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Importing ${folder.name} into Runyard` },
    () => client.request(PROJECT_IMPORT, { folder: folder.uri.fsPath, kind }),
  );
  const { message, lines, ok } = summary(result);
  for (const line of lines) client.log.info(`import ${folder.name}: ${line}`);
  await projects.refresh();
  for (const rel of result.written) {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, rel));
    await vscode.window.showTextDocument(doc, { preview: false, preserveFocus: true });
  }
  const show = ok ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
  void show(message, "Show Log").then((pick) => pick && client.log.show());
}

/** Offer the import for each workspace folder that fits (trusted workspaces only). */
export async function offerImports(
  context: vscode.ExtensionContext,
  client: RunyardClient,
  projects: Projects,
): Promise<void> {
  if (!vscode.workspace.isTrusted) return;
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    if (folder.uri.scheme !== "file") continue;
    const kind = importKind(await shapeOf(folder.uri));
    const declined = `runyard.importOffer.declined:${folder.uri.toString()}`;
    if (!kind || context.workspaceState.get<boolean>(declined)) continue;
    const pick = await vscode.window.showInformationMessage(offerText(folder.name, kind), "Import", "Don't Ask Again");
    if (pick === "Don't Ask Again") {
      await context.workspaceState.update(declined, true);
    } else if (pick === "Import") {
      try {
        await runImport(client, projects, folder, kind);
      } catch (err) {
        showError(client, `Could not import ${folder.name}`, err);
      }
    }
  }
}
