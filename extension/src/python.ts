// Finds the Python that runs the server: the `runyard.pythonPath` setting, then the
// Python extension's active interpreter (when that extension is installed), then
// `python3` on PATH. The server needs 3.11 or later; each candidate is checked, by a
// probe the first time and from what the last probe of the same executable file said
// after that (pythonProbe.ts).
import { execFile } from "node:child_process";
import * as vscode from "vscode";
import { executableFacts, type ProbeCache, remember, rememberedVersion } from "./pythonProbe";

const PROBES_KEY = "runyard.pythonProbes";

export interface PythonChoice {
  command: string;
  source: "setting" | "python extension" | "PATH";
  version: string;
}

export class PythonNotFound extends Error {
  constructor(
    message: string,
    readonly tried: string[],
  ) {
    super(message);
  }
}

const MIN = [3, 11] as const;

function probe(command: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      command,
      ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
      { timeout: 10_000 },
      (err, stdout) => resolve(err ? null : stdout.trim()),
    );
  });
}

export function versionOk(version: string): boolean {
  const [major, minor] = version.split(".").map((p) => Number.parseInt(p, 10));
  if (major === undefined || minor === undefined) return false;
  return major > MIN[0] || (major === MIN[0] && minor >= MIN[1]);
}

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment(
      env: { path: string },
    ): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  };
}

async function fromPythonExtension(): Promise<string | null> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>("ms-python.python");
  if (!ext) return null;
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    const envs = api?.environments;
    if (!envs) return null;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const active = envs.getActiveEnvironmentPath(folder);
    if (!active) return null;
    const resolved = await envs.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch {
    return null;
  }
}

/** The candidate's version: remembered in `state` for the same executable, else probed. */
async function versionOf(command: string, state: vscode.Memento | undefined): Promise<string | null> {
  const facts = executableFacts(command);
  const cache = state?.get<ProbeCache>(PROBES_KEY);
  const known = rememberedVersion(cache, command, facts);
  if (known !== null) return known;
  const version = await probe(command);
  if (version !== null && facts && state) await state.update(PROBES_KEY, remember(cache, command, facts, version));
  return version;
}

/**
 * The candidates in order, each looked up only when the ones before it did not do: the
 * Python extension is not asked (nor activated, which can take seconds) when the
 * setting names a Python that runs.
 */
async function* candidates(): AsyncGenerator<{ command: string; source: PythonChoice["source"] }> {
  const setting = vscode.workspace.getConfiguration("runyard").get<string>("pythonPath", "").trim();
  if (setting) yield { command: setting, source: "setting" };
  const fromExt = await fromPythonExtension();
  if (fromExt) yield { command: fromExt, source: "python extension" };
  yield { command: "python3", source: "PATH" };
}

export async function findPython(state?: vscode.Memento): Promise<PythonChoice> {
  const tried: string[] = [];
  for await (const c of candidates()) {
    const version = await versionOf(c.command, state);
    if (version === null) {
      tried.push(`${c.command} (${c.source}): does not run`);
      continue;
    }
    if (!versionOk(version)) {
      tried.push(`${c.command} (${c.source}): Python ${version}, needs 3.11 or later`);
      // A setting the user chose is not silently replaced by another Python.
      if (c.source === "setting") break;
      continue;
    }
    return { ...c, version };
  }
  throw new PythonNotFound(
    "Runyard needs Python 3.11 or later to run its server. Set `runyard.pythonPath` or install python3.",
    tried,
  );
}
