// Pure helpers for the tree views and messages: no `vscode` import, unit-tested.
import { ACTIVE_STATUSES, type RunInfo } from "./protocol";

export function isActive(status: string): boolean {
  return ACTIVE_STATUSES.includes(status);
}

/**
 * A duration as the CLI shows it (runyard.core.formatting.fmt_duration, one table of
 * cases checks both): tenths of a second below a minute, then minutes and seconds,
 * then hours and minutes; the missing-value mark when there is none.
 */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return NO_VALUE;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.trunc(seconds);
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/** How long the run took, or has taken so far when it is still going. */
export function runDuration(run: RunInfo, now: number = Date.now() / 1000): number | null {
  // A live run's duration (as last pushed) is already old: count from its start.
  if (isActive(run.status) && run.started !== null && run.started !== undefined) {
    return Math.max(0, now - run.started);
  }
  if (run.duration !== null && run.duration !== undefined) return run.duration;
  if (run.started !== null && run.started !== undefined) {
    const end = run.ended ?? (isActive(run.status) ? now : null);
    return end === null ? null : Math.max(0, end - run.started);
  }
  return null;
}

const SIGNIFICANT = 4;
const SIZE_UNITS = ["KiB", "MiB", "GiB", "TiB"];

/** Shown for a value that is missing (the server sends NaN and infinities as null too). */
export const NO_VALUE = "—";

/**
 * A metric or parameter value as text, by the one rule of `runyard.core.formatting`
 * (tests/unit/format_cases.json holds cases both sides check): missing as NO_VALUE;
 * integers below 1e15 as they are; NaN, inf, -inf spelled out; otherwise 4 significant
 * digits (never fewer than the digits before the point), trailing zeros dropped, the
 * exponent form when the value rounds below 1e-6 or to 1e6 and above. Strings unchanged.
 * `toFixed` and `toExponential` round the exact binary value, ties away from zero; the
 * Python side does the same.
 */
export function formatValue(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return NO_VALUE;
  if (typeof value === "string") return value;
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const sci = value.toExponential(SIGNIFICANT - 1); // rounded: "-1.235e+6"
  const exp = Number(sci.slice(sci.indexOf("e") + 1));
  if (exp >= 6 || exp < -6) return sci.replace(/\.?0+e/, "e");
  const text = value.toFixed(Math.max(0, SIGNIFICANT - 1 - exp));
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** A size in bytes as text: 512 B, 1.5 KiB, 2.0 MiB (NO_VALUE when missing or negative). */
export function formatSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return NO_VALUE;
  if (bytes < 1024) return `${Math.trunc(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${SIZE_UNITS[unit] ?? ""}`;
}

/** Names that usually say how good a run is, best first. */
const KEY_METRICS = [
  "accuracy",
  "val_accuracy",
  "acc",
  "val_acc",
  "f1",
  "auc",
  "val_loss",
  "loss",
  "rmse",
  "mae",
];

/** The metric a run's row shows: a well-known one if the run has it, else the first by name. */
export function keyMetric(metrics: Record<string, number | null> | undefined): string | null {
  if (!metrics) return null;
  const keys = Object.keys(metrics);
  if (keys.length === 0) return null;
  for (const k of KEY_METRICS) {
    if (k in metrics) return k;
  }
  return [...keys].sort()[0] ?? null;
}

/** The short, stable part of a run id the tree shows (the id is time + a random suffix). */
export function shortId(id: string): string {
  const dash = id.lastIndexOf("-");
  return dash >= 0 && id.length - dash > 3 ? id.slice(dash + 1) : id.slice(-8);
}

export function runLabel(run: RunInfo): string {
  const what = run.job ?? run.script ?? run.command?.slice(-1)[0] ?? "run";
  return `${baseName(what)} ${shortId(run.id)}`;
}

export function runDescription(run: RunInfo, now?: number): string {
  const parts: string[] = [run.status];
  const d = runDuration(run, now);
  if (d !== null && d >= 0) parts.push(formatDuration(d));
  const key = keyMetric(run.metrics);
  if (key !== null) parts.push(`${key}=${formatValue(run.metrics?.[key])}`);
  return parts.join(" · ");
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/** The last `n` non-empty lines of a log text. */
export function lastLines(text: string, n: number): string[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  return lines.slice(Math.max(0, lines.length - n));
}

/**
 * Merge a pushed log chunk into a channel that has shown bytes up to `shown`.
 * Returns the text to append and the new offset, or `gap` when bytes are missing
 * (the caller fetches them with runs/logs first).
 */
export function mergeLogChunk(
  shown: number,
  chunk: { offset: number; nextOffset: number; text: string },
): { append: string; next: number } | { gap: true } {
  if (chunk.nextOffset <= shown) return { append: "", next: shown };
  if (chunk.offset > shown) return { gap: true };
  if (chunk.offset === shown) return { append: chunk.text, next: chunk.nextOffset };
  // Overlap: drop the bytes already shown. Offsets count UTF-8 bytes.
  const bytes = new TextEncoder().encode(chunk.text);
  const rest = new TextDecoder().decode(bytes.subarray(shown - chunk.offset));
  return { append: rest, next: chunk.nextOffset };
}
