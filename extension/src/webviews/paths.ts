// Project paths as the host compares them: the server pushes a project's root path,
// the caller may have given a path with a trailing slash or a file:// URI. No `vscode`
// import, so it can be unit-tested.
import { fileURLToPath } from "node:url";

/** A path with forward slashes, no trailing slash, a lower-case drive letter; file://
 * URIs are turned into paths first. */
export function normalizeProjectPath(value: string): string {
  let s = value.trim();
  if (/^file:/i.test(s)) {
    try {
      s = fileURLToPath(s);
    } catch {
      // not a usable file URI: compare it as given
    }
  }
  s = s.replace(/\\/g, "/").replace(/\/+$/, "");
  if (s === "") return "/";
  if (/^[A-Za-z]:/.test(s)) s = s.charAt(0).toLowerCase() + s.slice(1);
  return s;
}

/** Whether a push about project root `pushed` concerns the project the panel was opened
 * for (`ours`: that root, or a folder inside it). */
export function sameProject(pushed: string, ours: string): boolean {
  const a = normalizeProjectPath(pushed);
  const b = normalizeProjectPath(ours);
  if (a === b) return true;
  return b.startsWith(a.endsWith("/") ? a : `${a}/`);
}

/** A short message for an error thrown by a request (ResponseError, Error, anything). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === "object" && err !== null && typeof (err as { message?: unknown }).message === "string") {
    return (err as { message: string }).message;
  }
  return String(err);
}
