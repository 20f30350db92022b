// Project and extension commands: make a folder a Runyard project, create a project
// from a gallery sample (into a new folder, optionally opened), open the gallery,
// refresh every view, restart the language server and show its log. They need the
// client, the project list, the views that "Refresh" reloads, and (for the gallery
// panel) the extension context and the panel actions.
import * as path from "node:path";
import * as vscode from "vscode";
import type { RunyardClient } from "../client";
import type { Projects } from "../projects";
import { GALLERY_CREATE, GALLERY_LIST, PROJECT_INIT } from "../protocol";
import type { GalleryNode } from "../views/gallery";
import type { ModelsView } from "../views/models";
import type { RunsView } from "../views/runs";
import type { TargetsView } from "../views/targets";
import { type PanelActions, showGallery } from "../webviews";
import { command, requireTrust, showError } from "./common";

export interface ProjectCommandParts {
  context: vscode.ExtensionContext;
  client: RunyardClient;
  projects: Projects;
  targets: TargetsView;
  runs: RunsView;
  models: ModelsView;
  actions: PanelActions;
}

async function init(client: RunyardClient, projects: Projects): Promise<void> {
  if (!requireTrust()) return;
  const folders = vscode.workspace.workspaceFolders ?? [];
  const folder =
    folders.length <= 1
      ? folders[0]
      : await vscode.window.showWorkspaceFolderPick({ placeHolder: "Folder to make a Runyard project" });
  if (!folder) return void vscode.window.showInformationMessage("Open a folder first.");
  try {
    const r = await client.request(PROJECT_INIT, { folder: folder.uri.fsPath });
    await projects.refresh();
    void vscode.window.showInformationMessage(
      r.created.length ? `Runyard project initialized: ${r.created.join(", ")}` : "This folder is already a Runyard project.",
    );
  } catch (err) {
    showError(client, "Could not initialize Runyard here", err);
  }
}

/** Create a project from a gallery sample (`entryId`, else one picked). */
export async function createProject(client: RunyardClient, entryId?: string): Promise<void> {
  if (!requireTrust()) return;
  let id = entryId;
  if (!id) {
    try {
      const g = await client.request(GALLERY_LIST, {});
      const pick = await vscode.window.showQuickPick(
        g.entries.map((e) => ({ label: e.title, description: e.framework, detail: e.description, id: e.id })),
        { title: "Create Project from Sample", matchOnDetail: true },
      );
      id = pick?.id;
    } catch (err) {
      showError(client, "Could not read the gallery", err);
      return;
    }
  }
  if (!id) return;
  const parent = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    openLabel: "Create the project in this folder",
    title: "Where should the new project go?",
  });
  if (!parent?.[0]) return;
  const name = await vscode.window.showInputBox({ title: "Project folder name", value: id });
  if (!name) return;
  const folder = path.join(parent[0].fsPath, name);
  try {
    const r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Creating ${name} from sample ${id}` },
      () => client.request(GALLERY_CREATE, { id: id ?? "", folder }),
    );
    const open = await vscode.window.showInformationMessage(
      `Project created in ${r.root} (${r.files.length} files${r.committed ? ", first commit made" : ""}). Next: ${r.nextCommand}`,
      "Open Folder",
      "Open in New Window",
    );
    if (open) {
      await vscode.commands.executeCommand("vscode.openFolder", vscode.Uri.file(r.root), {
        forceNewWindow: open === "Open in New Window",
      });
    }
  } catch (err) {
    showError(client, `Could not create the project from ${id}`, err);
  }
}

export function registerProjectCommands(parts: ProjectCommandParts): vscode.Disposable[] {
  const { client, projects, context, actions } = parts;
  return [
    command(client, "init", () => init(client, projects)),
    command(client, "refresh", async () => {
      await projects.refresh();
      parts.targets.refresh(true);
      parts.runs.reload();
      parts.models.refresh();
    }),
    command(client, "restartServer", async () => {
      if (!vscode.workspace.isTrusted) return void requireTrust();
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: "Restarting the Runyard server" },
        () => client.restart(),
      );
    }),
    command(client, "showServerLog", () => client.log.show()),
    command(client, "openGallery", () => showGallery(context, client, actions)),
    command(client, "createFromSample", (node) => {
      const n = node as GalleryNode | undefined;
      return createProject(client, n?.kind === "sample" ? n.entry.id : undefined);
    }),
  ];
}
