// The HTML page of a webview: a strict Content Security Policy (nothing by default;
// scripts only by a fresh nonce; styles, images and fonts only from the extension's
// own resources) and no inline script or style. No `vscode` import, so it can be
// unit-tested.
import { randomBytes } from "node:crypto";

/** A fresh nonce for one page load (128 bits from the OS's CSPRNG, base64). */
export function makeNonce(): string {
  return randomBytes(16).toString("base64");
}

/** Escape text for element content and double-quoted attributes (the only kind this
 * page uses; single quotes stay readable, as CSP keywords need them). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
  ].join("; ");
}

export interface PageOptions {
  title: string;
  /** webview.cspSource */
  cspSource: string;
  nonce: string;
  /** webview URIs (as strings) of the script and the style sheets. */
  scriptUri: string;
  styleUris: readonly string[];
  /** A class for <body>, naming the view. */
  bodyClass: string;
}

export function pageHtml(o: PageOptions): string {
  const styles = o.styleUris
    .map((uri) => `    <link rel="stylesheet" href="${escapeHtml(uri)}">`)
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(o.cspSource, o.nonce))}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
${styles}
    <title>${escapeHtml(o.title)}</title>
  </head>
  <body class="${escapeHtml(o.bodyClass)}">
    <main id="app"></main>
    <script nonce="${escapeHtml(o.nonce)}" src="${escapeHtml(o.scriptUri)}"></script>
  </body>
</html>
`;
}
