// How the Sweeps view words a sweep and a trial (no VS Code: unit-tested in
// extension/test/sweepFormat.test.ts). Numbers read as everywhere else (format.ts).
import { formatValue } from "./format";
import type { SweepInfo, TrialInfo } from "./protocol";

/** "running · 12/20 trials · 3 pruned · best loss 0.0123 (#4)" (pruned and best only
 * when there are some). */
export function sweepDescription(s: SweepInfo): string {
  const parts = [s.status, `${s.trialsDone}/${s.trialsTotal} trials`];
  const pruned = s.counts.pruned ?? 0;
  if (pruned) parts.push(`${pruned} pruned`);
  if (s.bestTrial !== null && s.bestTrial !== undefined) {
    parts.push(`best ${s.metric} ${formatValue(s.bestValue ?? null)} (#${s.bestTrial})`);
  }
  return parts.join(" · ");
}

/** "#4 lr=0.01 layers=2". */
export function trialLabel(t: TrialInfo): string {
  const params = Object.entries(t.params).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [`#${t.number}`, ...params].join(" ");
}

/** "loss 0.0123" (its objective value), else "latest 0.5 · running", "pruned"... */
export function trialDescription(t: TrialInfo, metric: string, best: boolean): string {
  const parts: string[] = [];
  if (best) parts.push("best");
  if (t.value !== null && t.value !== undefined) parts.push(`${metric} ${formatValue(t.value)}`);
  else if (t.latest !== null && t.latest !== undefined) parts.push(`latest ${formatValue(t.latest)}`);
  if (t.status !== "completed") parts.push(t.status);
  return parts.join(" · ");
}
