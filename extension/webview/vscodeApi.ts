// The webview end of the message contract: acquireVsCodeApi (declared here, it is a
// global VS Code injects), typed posting, saved state, and host messages.
import type { HostMessage, WebviewMessage } from "./messages";

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;

/** acquireVsCodeApi may be called once per page: every module goes through this. */
function vscodeApi(): VsCodeApi {
  api ??= acquireVsCodeApi();
  return api;
}

export function post(message: WebviewMessage): void {
  vscodeApi().postMessage(message);
}

/** The saved state as a plain object (empty when none). */
export function loadState(): Record<string, unknown> {
  const s = vscodeApi().getState();
  return typeof s === "object" && s !== null ? { ...(s as Record<string, unknown>) } : {};
}

/** Merge `patch` into the saved state. */
export function saveState(patch: Record<string, unknown>): void {
  vscodeApi().setState({ ...loadState(), ...patch });
}

const HOST_TYPES = new Set(["details", "series", "points", "run", "compare", "gallery", "runsTable", "error"]);

/** Listen for the host's messages, then tell it we are ready (it posts nothing before). */
export function start(handler: (message: HostMessage) => void): void {
  window.addEventListener("message", (event: MessageEvent<unknown>) => {
    const data = event.data;
    if (typeof data !== "object" || data === null) return;
    const type = (data as { type?: unknown }).type;
    if (typeof type !== "string" || !HOST_TYPES.has(type)) return;
    try {
      handler(data as HostMessage);
    } catch (err) {
      console.error("Runyard webview: failed to handle", type, err);
    }
  });
  post({ type: "initialized" });
}
