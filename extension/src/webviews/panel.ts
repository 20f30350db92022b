// The host end of a webview panel, shared by the three views: creates the panel with a
// strict CSP page, checks every incoming message, and posts nothing until the webview
// says `initialized` (again after VS Code reloads a hidden, non-retained webview).
import * as vscode from "vscode";
import type { HostMessage, WebviewMessage } from "../../webview/messages";
import { isWebviewMessage } from "../../webview/messages";
import { makeNonce, pageHtml } from "./html";

export interface PanelSpec {
  viewType: string;
  title: string;
  /** The bundle's name: dist/webview/<script>.js */
  script: string;
  /** Keep the page alive while hidden (live charts). */
  retain: boolean;
  /** More folders the page may load from (gallery images). */
  extraRoots?: vscode.Uri[];
}

export type ActionMessage = Exclude<WebviewMessage, { type: "initialized" }>;

export interface PanelHandlers {
  /** The page (re)started: send it everything it shows. */
  onReady(): void;
  /** A checked message from the page. */
  onMessage(message: ActionMessage): void;
  onDispose(): void;
}

export function webviewDist(ctx: vscode.ExtensionContext): vscode.Uri {
  return vscode.Uri.joinPath(ctx.extensionUri, "dist", "webview");
}

export class WebviewHost implements vscode.Disposable {
  readonly panel: vscode.WebviewPanel;
  private ready = false;
  private disposed = false;
  private readonly subscriptions: vscode.Disposable[] = [];
  private roots: vscode.Uri[];

  constructor(
    ctx: vscode.ExtensionContext,
    spec: PanelSpec,
    private readonly handlers: PanelHandlers,
  ) {
    const dist = webviewDist(ctx);
    this.roots = [dist, ...(spec.extraRoots ?? [])];
    this.panel = vscode.window.createWebviewPanel(spec.viewType, spec.title, vscode.ViewColumn.Active, {
      enableScripts: true,
      enableCommandUris: false,
      localResourceRoots: this.roots,
      retainContextWhenHidden: spec.retain,
    });
    const webview = this.panel.webview;
    webview.html = pageHtml({
      title: spec.title,
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, `${spec.script}.js`)).toString(),
      styleUris: [
        webview.asWebviewUri(vscode.Uri.joinPath(dist, "uPlot.min.css")).toString(),
        webview.asWebviewUri(vscode.Uri.joinPath(dist, "runyard.css")).toString(),
      ],
      bodyClass: `runyard ${spec.script}`,
    });
    this.subscriptions.push(
      webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
      this.panel.onDidChangeViewState((e) => {
        // A hidden page that is not retained is thrown away; it says `initialized` again.
        if (!spec.retain && !e.webviewPanel.visible) this.ready = false;
      }),
      this.panel.onDidDispose(() => this.dispose()),
    );
  }

  get isReady(): boolean {
    return this.ready && !this.disposed;
  }

  /** Post to the page; dropped while it is not ready (onReady sends everything anew). */
  post(message: HostMessage): void {
    if (!this.isReady) return;
    void this.panel.webview.postMessage(message).then(undefined, () => undefined);
  }

  /** Tie a subscription (server pushes and the like) to the panel's life. */
  track(...disposables: vscode.Disposable[]): void {
    if (this.disposed) {
      for (const d of disposables) d.dispose();
      return;
    }
    this.subscriptions.push(...disposables);
  }

  /** Let the page load files from more folders (gallery images found on disk). */
  allowRoots(folders: readonly vscode.Uri[]): void {
    const have = new Set(this.roots.map((u) => u.toString()));
    const missing = folders.filter((f) => !have.has(f.toString()));
    if (missing.length === 0) return;
    this.roots = [...this.roots, ...missing];
    this.panel.webview.options = { ...this.panel.webview.options, localResourceRoots: this.roots };
  }

  reveal(): void {
    this.panel.reveal(undefined);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ready = false;
    for (const d of this.subscriptions.splice(0)) d.dispose();
    this.handlers.onDispose();
    this.panel.dispose();
  }

  private receive(raw: unknown): void {
    if (this.disposed || !isWebviewMessage(raw)) return;
    if (raw.type === "initialized") {
      this.ready = true;
      this.handlers.onReady();
      return;
    }
    this.handlers.onMessage(raw);
  }
}

/** Runs `fn` now, or once more after the running call ends if asked again meanwhile:
 * bursts of pushes cause at most one request in flight and one queued. */
export function coalesce(fn: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void fn()
      .catch(() => undefined)
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return run;
}
