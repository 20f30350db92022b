// Pure table logic of the Compare view: which column is the best run, how each cell
// reads. No DOM here.
import type { CompareRow, RunInfo, RunsCompareResult } from "../src/protocol";
import { formatValue } from "./format";

export interface TableColumn {
  runId: string;
  best: boolean;
}

export interface TableCell {
  text: string;
  /** The cell is in the best run's column. */
  best: boolean;
  /** The value was null: missing, or NaN/infinite (JSON has no such numbers). */
  empty: boolean;
}

export interface TableRow {
  key: string;
  differs: boolean;
  cells: TableCell[];
}

export interface CompareTable {
  columns: TableColumn[];
  rows: TableRow[];
}

/** Index of the best run in `runs`, or -1 when there is none (or it is not listed). */
export function bestRunIndex(runs: readonly RunInfo[], bestRunId: string | null | undefined): number {
  if (!bestRunId) return -1;
  return runs.findIndex((r) => r.id === bestRunId);
}

/** One table (params or metrics) with a column per run in `runs` order. Rows with
 * fewer values than runs get empty cells; extra values are ignored. */
export function compareTable(
  runs: readonly RunInfo[],
  rows: readonly CompareRow[],
  bestRunId: string | null | undefined,
): CompareTable {
  const best = bestRunIndex(runs, bestRunId);
  return {
    columns: runs.map((r, i) => ({ runId: r.id, best: i === best })),
    rows: rows.map((row) => ({
      key: row.key,
      differs: row.differs,
      cells: runs.map((_, i) => {
        const v = row.values[i];
        const empty = v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
        return { text: formatValue(v), best: i === best, empty };
      }),
    })),
  };
}

/** Metric keys the best-run picker offers (in the server's row order, unique). */
export function metricKeys(result: RunsCompareResult): string[] {
  return [...new Set(result.metrics.map((r) => r.key))];
}

/** A run's label in legends: its id, with a star when it is the best run. */
export function runLabel(runId: string, bestRunId: string | null | undefined): string {
  return runId === bestRunId ? `${runId} ★ best` : runId;
}
