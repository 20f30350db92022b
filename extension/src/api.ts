// What the views and webviews need from the language server: typed requests and
// pushes. extension/src/client.ts implements it over the language client.
import type * as vscode from "vscode";
import type { Notifications, Requests } from "./protocol";

export interface ServerApi {
  request<M extends keyof Requests>(method: M, params: Requests[M][0]): Promise<Requests[M][1]>;
  onNotification<M extends keyof Notifications>(
    method: M,
    handler: (params: Notifications[M]) => void,
  ): vscode.Disposable;
}
