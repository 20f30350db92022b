// The Gallery panel: the sample projects, with their pictures; "Create project" goes to
// the command that asks for a folder.
import * as path from "node:path";
import * as vscode from "vscode";
import type { ServerApi } from "../api";
import { GALLERY_LIST, type GalleryEntry } from "../protocol";
import type { PanelActions } from "./actions";
import { WebviewHost, type ActionMessage } from "./panel";
import { errorText } from "./paths";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"]);

let open: GalleryPanel | undefined;

export function showGallery(ctx: vscode.ExtensionContext, api: ServerApi, actions: PanelActions): void {
  if (open) {
    open.host.reveal();
    return;
  }
  open = new GalleryPanel(ctx, api, actions, () => {
    open = undefined;
  });
}

class GalleryPanel {
  readonly host: WebviewHost;
  private generation = 0;
  private entries: GalleryEntry[] = [];

  constructor(
    ctx: vscode.ExtensionContext,
    private readonly api: ServerApi,
    private readonly actions: PanelActions,
    onDispose: () => void,
  ) {
    this.host = new WebviewHost(
      ctx,
      { viewType: "runyard.gallery", title: "Runyard Gallery", script: "gallery", retain: false },
      {
        onReady: () => void this.load(),
        onMessage: (m) => this.onMessage(m),
        onDispose,
      },
    );
  }

  private async load(): Promise<void> {
    const generation = ++this.generation;
    try {
      const result = await this.api.request(GALLERY_LIST, {});
      if (generation !== this.generation) return;
      this.entries = result.entries;
      const files = new Map<string, vscode.Uri>();
      for (const e of result.entries) {
        // Image paths are files on disk; anything else (empty, relative, not a picture) is left out.
        if (e.image && path.isAbsolute(e.image) && IMAGE_EXTENSIONS.has(path.extname(e.image).toLowerCase())) {
          files.set(e.id, vscode.Uri.file(e.image));
        }
      }
      this.host.allowRoots([...files.values()].map((f) => vscode.Uri.joinPath(f, "..")));
      const webview = this.host.panel.webview;
      const images: Record<string, string> = {};
      for (const [id, file] of files) images[id] = webview.asWebviewUri(file).toString();
      this.host.post({ type: "gallery", entries: result.entries, images });
      if (result.problems?.length) {
        const first = result.problems[0];
        const more = result.problems.length > 1 ? ` (and ${result.problems.length - 1} more)` : "";
        if (first) this.host.post({ type: "error", message: `${first.file}: ${first.message}${more}` });
      }
    } catch (err) {
      if (generation === this.generation) this.host.post({ type: "error", message: errorText(err) });
    }
  }

  private onMessage(m: ActionMessage): void {
    if (m.type === "createProject" && this.entries.some((e) => e.id === m.id)) {
      this.actions.createProject(m.id);
    }
  }
}
