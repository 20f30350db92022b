// The text of the "Diff Runs" document: every cause two runs differ by, one line each,
// then the unified diff of their code. Pure (no `vscode` import), unit-tested.
//
// The layout is the command line's (`runyard runs diff A B`, `_diff_lines` in
// server/runyard/cli/runs.py), so the two faces read alike:
//
//   runs A → B
//     code         train.py (modified), helper.py (added)
//     environment  + idna 3.10, - six 1.17.0
//     parameters   lr 0.25 → 0.5
//     target       same
//     host         unknown: a run has no host facts recorded
//     metrics      loss 0.75 → 0.5
//
//   <unified diff>
//
// A cause reads "same" when nothing differs and "unknown: …" when it cannot be told (the
// server sends null: a run without a lock, or without host facts). Values read by the
// one rule of format.ts (formatValue) and text from a run has its control characters
// shown as escapes, as the CLI prints it (runyard.core.text.printable). JSON cannot
// carry NaN: a metric that is NaN on one side arrives as null, so it reads as added or
// removed here where the command line names it.
import { formatValue, NO_VALUE } from "./format";
import type { Change, RunDiffCauses, RunDiffResult } from "./protocol";

/** The changes a cause line lists before it says how many more there are. */
export const MAX_CHANGES_SHOWN = 12;

type Section = keyof RunDiffCauses;

/** The causes in the order the lines show them: the section, its label, and what an
 * unknown one says. */
const SECTIONS: readonly { section: Section; label: string; unknown: string }[] = [
  { section: "code", label: "code", unknown: "unknown" },
  { section: "environment", label: "environment", unknown: "unknown: a run has no lock recorded" },
  { section: "params", label: "parameters", unknown: "unknown" },
  { section: "target", label: "target", unknown: "unknown" },
  { section: "host", label: "host", unknown: "unknown: a run has no host facts recorded" },
  { section: "metrics", label: "metrics", unknown: "unknown" },
];

const LABEL_WIDTH = 12;

/** `text` with every control character (C0, DEL, C1) as a visible escape (a newline as
 * `\n`, ESC as `\x1b`): one line, as runyard.core.text.printable makes it. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    if (c === "\t") return "\\t";
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

function shown(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return NO_VALUE;
  return typeof value === "number" ? formatValue(value) : printable(value);
}

/** One change as a cause line lists it: a code file with its status, `+ name value`
 * (only the second run has it), `- name value` (only the first), or `name a → b`. */
export function changeText(change: Change, section: Section): string {
  const name = printable(change.name);
  const before = change.before ?? null;
  const after = change.after ?? null;
  if (section === "code") return `${name} (${shown(after)})`;
  if (before === null && after !== null) return `+ ${name} ${shown(after)}`;
  if (after === null && before !== null) return `- ${name} ${shown(before)}`;
  return `${name} ${shown(before)} → ${shown(after)}`;
}

/** What one cause's line says after its label. */
export function causeText(changes: Change[] | null | undefined, section: Section, unknown = "unknown"): string {
  if (changes === null || changes === undefined) return unknown;
  if (changes.length === 0) return "same";
  const listed = changes.slice(0, MAX_CHANGES_SHOWN).map((c) => changeText(c, section));
  const more = changes.length - MAX_CHANGES_SHOWN;
  return listed.join(", ") + (more > 0 ? ` and ${more} more` : "");
}

/** The header line and one line per cause (only the header when there are no causes). */
export function causeLines(runA: string, runB: string, causes: RunDiffCauses | null | undefined): string[] {
  const lines = [`runs ${runA} → ${runB}`];
  if (!causes) return lines;
  for (const { section, label, unknown } of SECTIONS) {
    lines.push(`  ${label.padEnd(LABEL_WIDTH)} ${causeText(causes[section], section, unknown)}`);
  }
  return lines;
}

/** The whole document: the cause lines, then a blank line and the code diff when there
 * is one; it ends with a newline. */
export function runDiffText(runA: string, runB: string, result: RunDiffResult): string {
  const head = causeLines(runA, runB, result.causes).join("\n");
  const diff = result.diff ? `\n\n${result.diff}` : "";
  return `${head}${diff}${diff.endsWith("\n") ? "" : "\n"}`;
}
