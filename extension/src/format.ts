// Pure helpers for the tree views and messages: no `vscode` import, unit-tested.
import { ACTIVE_STATUSES, type RunInfo } from "./protocol";

export function isActive(status: string): boolean {
  return ACTIVE_STATUSES.includes(status);
}

/** 0.4 s, 12 s, 3m 05s, 2h 01m. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return "";
  }
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}m ${String(s).padStart(2, "0")}s`;
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

export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "-∞";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
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
  const d = formatDuration(runDuration(run, now));
  if (d) parts.push(d);
  const key = keyMetric(run.metrics);
  if (key !== null) parts.push(`${key}=${formatValue(run.metrics?.[key])}`);
  return parts.join(" · ");
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/** What "Rerun" submits again: the same job, or the same script with the same arguments. */
export function rerunRequest(run: RunInfo): {
  job?: string;
  script?: string;
  args: string[];
  target: string;
  experiment: string;
} {
  if (run.job) return { job: run.job, args: [], target: run.target, experiment: run.experiment };
  const command = run.command ?? [];
  let args: string[] = [];
  if (run.script) {
    const at = command.findIndex(
      (c) => c === run.script || c.endsWith(`/${run.script}`) || baseName(c) === baseName(run.script ?? ""),
    );
    if (at >= 0) args = command.slice(at + 1);
  }
  return {
    ...(run.script ? { script: run.script } : {}),
    args,
    target: run.target,
    experiment: run.experiment,
  };
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
