// Remembering which Python versions were found, so the server starts without first
// starting Python once more to ask its version.
//
// Finding the server's Python used to run `python -c "print(version)"` for each
// candidate before every server start: one more interpreter start (tens of ms, more on a
// busy machine) between activation and the views. The version of an interpreter only
// changes when its executable file does, so the answer is kept (in the extension's
// global state) with the executable's real path, size and modification time, and reused
// while all three are the same. A candidate is resolved as the shell would (a bare name
// along PATH, symbolic links followed), so `python3` that now points at another
// interpreter is probed again.
//
// No `vscode` import: the node unit tests check this module as is.
import * as fs from "node:fs";
import * as path from "node:path";

export interface ProbeRecord {
  /** The executable the candidate resolved to, links followed. */
  real: string;
  size: number;
  mtimeMs: number;
  version: string;
}

/** What is remembered: one record per candidate command, as the user wrote it. */
export type ProbeCache = Record<string, ProbeRecord>;

export interface FileFacts {
  real: string;
  size: number;
  mtimeMs: number;
}

/**
 * The file `command` runs, links followed, with its size and time; null when it
 * cannot be found (then it is probed, and the probe says why it does not run).
 */
export function executableFacts(
  command: string,
  pathVar: string | undefined = process.env.PATH,
  fsApi: Pick<typeof fs, "realpathSync" | "statSync"> = fs,
): FileFacts | null {
  const places = command.includes("/") || command.includes(path.sep)
    ? [command]
    : (pathVar ?? "").split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, command));
  for (const place of places) {
    try {
      const real = fsApi.realpathSync(place);
      const stat = fsApi.statSync(real);
      if (stat.isFile()) return { real, size: stat.size, mtimeMs: stat.mtimeMs };
    } catch {
      // not here; the next PATH entry
    }
  }
  return null;
}

/** The version remembered for `command`, if its executable is still the same file. */
export function rememberedVersion(cache: ProbeCache | undefined, command: string, facts: FileFacts | null): string | null {
  const record = cache?.[command];
  if (!record || !facts) return null;
  const same = record.real === facts.real && record.size === facts.size && record.mtimeMs === facts.mtimeMs;
  return same ? record.version : null;
}

/** `cache` with `command`'s probe result kept (a new object; others' records kept). */
export function remember(cache: ProbeCache | undefined, command: string, facts: FileFacts, version: string): ProbeCache {
  return { ...(cache ?? {}), [command]: { ...facts, version } };
}
