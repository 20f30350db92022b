// What every webview entry point (details, compare, gallery) starts from: the page's
// #app root, its error banner, and the loop that hands each host message to the view's
// handler for its type.
//
// The message guard stays in vscodeApi.start: only objects whose `type` is a known host
// message reach a handler, a handler that throws is logged and the loop goes on, and
// `initialized` is posted once the listener is in place (the host posts nothing before).
// Here an `error` message always goes to the banner, as text; a message a view has no
// handler for is ignored. build.mjs bundles this module into each view's one script
// (esbuild, one IIFE per *.main.ts), so a page still loads a single script, by nonce.
import { byId, h, showError } from "./dom";
import type { HostMessage } from "./messages";
import { start } from "./vscodeApi";

/** A view's handler for each host message type it reads (`error` is the banner's). */
export type HostHandlers = {
  [K in Exclude<HostMessage["type"], "error">]?: (message: Extract<HostMessage, { type: K }>) => void;
};

export interface ViewFrame {
  /** The page's <main id="app">, empty: the view fills it. */
  app: HTMLElement;
  /** The error banner (role=alert), hidden until the host reports an error; the view
   * places it and hides it again (`showError(banner, null)`) when fresh data comes. */
  banner: HTMLElement;
}

export function viewFrame(): ViewFrame {
  const banner = h("div", { className: "error-banner", attrs: { role: "alert" } });
  banner.hidden = true;
  return { app: byId("app"), banner };
}

/** Start listening: each host message goes to `handlers[message.type]`, an `error` to
 * `banner`. Call once, after the view has built its page. */
export function startView(banner: HTMLElement, handlers: HostHandlers): void {
  start((message) => {
    if (message.type === "error") {
      showError(banner, message.message);
      return;
    }
    // The handler under a type's key takes that type's message (HostHandlers says so);
    // TypeScript cannot tie the lookup to the narrowed message, hence the cast.
    const handler = handlers[message.type] as ((m: HostMessage) => void) | undefined;
    handler?.(message);
  });
}
