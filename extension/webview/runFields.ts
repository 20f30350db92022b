// Pure text of a run's own fields in the webviews. No DOM here.
//
// - The Run details view's Environment section: the run's lock (what its environment
//   held once it was ready) as one line, "Python 3.11.2 · built by uv · 12 packages",
//   and its pins (name==version), folded away when there are many; below it the host the
//   environment was on (OS, CPU, GPUs: the server's one-line summary of its host facts).
// - The Compare view's Run table: the runs' own fields (status, experiment, target,
//   duration, snapshot) as the server sends them (`RunsCompareResult.fields`, with
//   `differs` set there: the snapshot row differs only when the code does). Built like
//   the params and metrics tables (compareModel.compareTable), then a duration reads as
//   one (src/format.ts formatDuration, as the Runs view shows it, the exact seconds in
//   its title) and a snapshot commit shortened to SNAPSHOT_CHARS (the full id in its
//   title).
import { formatDuration } from "../src/format";
import type { CompareRow, RunInfo, RunLockInfo } from "../src/protocol";
import { compareTable, type CompareTable, type TableCell, type TableRow } from "./compareModel";
import { NO_VALUE } from "./format";

/** Pins shown as they are; more than this are folded (a <details> the user opens). */
export const PINS_SHOWN_OPEN = 12;

/** Characters of a snapshot commit id the Run table shows. */
export const SNAPSHOT_CHARS = 10;

/** The lock as one line; "No lock recorded" when the run has none. */
export function lockSummary(lock: RunLockInfo | null | undefined): string {
  if (!lock) return "No lock recorded";
  const n = lock.packages?.length ?? 0;
  return [
    `Python ${lock.python}`,
    lock.installer ? `built by ${lock.installer}` : "not built by Runyard",
    `${n} package${n === 1 ? "" : "s"}`,
  ].join(" · ");
}

/** Where the run's environment was, as one line ("Linux 6.1 · x86_64 · 16 CPUs …", the
 * server's summary); "Host not recorded" for a lock from before host facts or none. */
export function hostLine(lock: RunLockInfo | null | undefined): string {
  const summary = lock?.host?.summary?.trim();
  return summary ? `Host: ${summary}` : "Host not recorded";
}

/** The lock's pins (name==version) in name order, and whether the list is long enough
 * to be folded. */
export function lockPins(lock: RunLockInfo | null | undefined): { pins: string[]; folded: boolean } {
  const pins = [...(lock?.packages ?? [])].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  return { pins, folded: pins.length > PINS_SHOWN_OPEN };
}

/** A table cell that may say more on hover. */
export interface FieldCell extends TableCell {
  title?: string;
}

export interface FieldRow extends TableRow {
  cells: FieldCell[];
}

export interface FieldsTable extends CompareTable {
  rows: FieldRow[];
}

function fieldCell(key: string, cell: TableCell, value: string | number | null | undefined): FieldCell {
  if (cell.empty) return cell;
  if (key === "duration" && typeof value === "number") {
    return { ...cell, text: formatDuration(value) || NO_VALUE, title: `${value.toFixed(1)} s` };
  }
  if (key === "snapshot" && typeof value === "string") {
    return { ...cell, text: value.slice(0, SNAPSHOT_CHARS), title: value };
  }
  return cell;
}

/** The Run table: one row per field, a column per run in `runs` order. */
export function fieldsTable(
  runs: readonly RunInfo[],
  fields: readonly CompareRow[] | undefined,
  bestRunId: string | null | undefined,
): FieldsTable {
  const rows = fields ?? [];
  const table = compareTable(runs, rows, bestRunId);
  return {
    columns: table.columns,
    rows: table.rows.map((row, r) => ({
      ...row,
      cells: row.cells.map((cell, i) => fieldCell(row.key, cell, rows[r]?.values[i])),
    })),
  };
}
