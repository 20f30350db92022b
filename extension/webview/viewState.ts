// The persisted state of the chart views (what acquireVsCodeApi().getState returns is
// untrusted shape-wise: an older version may have written it). No DOM here.
import { X_MODES, type XMode } from "./series";

export interface ChartSettings {
  xMode: XMode;
  /** Exponential moving average weight, 0 (off) to 0.99. */
  smoothing: number;
  logScale: boolean;
}

export const DEFAULT_CHART_SETTINGS: ChartSettings = { xMode: "step", smoothing: 0.6, logScale: false };

export const MAX_SMOOTHING = 0.99;

export function clampSmoothing(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.round(Math.min(Math.max(value, 0), MAX_SMOOTHING) * 100) / 100;
}

/** Read chart settings from a saved state, defaulting whatever is missing or wrong. */
export function parseChartSettings(raw: unknown): ChartSettings {
  const out = { ...DEFAULT_CHART_SETTINGS };
  if (typeof raw !== "object" || raw === null) return out;
  const r = raw as Record<string, unknown>;
  if (typeof r.xMode === "string" && (X_MODES as readonly string[]).includes(r.xMode)) {
    out.xMode = r.xMode as XMode;
  }
  if (typeof r.smoothing === "number") out.smoothing = clampSmoothing(r.smoothing);
  if (typeof r.logScale === "boolean") out.logScale = r.logScale;
  return out;
}
