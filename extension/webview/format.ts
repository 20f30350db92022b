// Pure text formatting for the webviews (numbers, durations, times). No DOM here.

// Values, sizes, durations and the missing-value mark follow the one rule shared with the tree views
// and the Python side (extension/src/format.ts, runyard.core.formatting).
import { NO_VALUE } from "../src/format";

export { formatDuration, formatSize, formatValue, NO_VALUE } from "../src/format";

/** An axis tick for relative time (seconds): 0, 30s, 5m, 1h 30m. */
export function formatElapsed(seconds: number): string {
  if (!Number.isFinite(seconds)) return "";
  if (seconds === 0) return "0";
  const sign = seconds < 0 ? "-" : "";
  const s = Math.abs(seconds);
  if (s < 60) return `${sign}${Number(s.toPrecision(3))}s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = Math.round(s % 60);
    return rest ? `${sign}${m}m ${rest}s` : `${sign}${m}m`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${sign}${h}h ${m}m` : `${sign}${h}h`;
}

/** Epoch seconds as local date and time (YYYY-MM-DD HH:MM:SS). */
export function formatTime(epochSeconds: number | null | undefined): string {
  if (epochSeconds === null || epochSeconds === undefined || !Number.isFinite(epochSeconds)) {
    return NO_VALUE;
  }
  const d = new Date(epochSeconds * 1000);
  const pad = (n: number): string => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** Expected run time of a gallery sample: about 45 s, about 3 min, about 1 h 20 min. */
export function formatRuntime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return NO_VALUE;
  if (seconds < 60) return `about ${Math.round(seconds)} s`;
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min`;
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  return m ? `about ${h} h ${m} min` : `about ${h} h`;
}

/** A colour for the n-th line once the theme's six chart colours are used up (n >= 0
 * counts from the seventh): hues a golden angle apart, so neighbours differ most and no
 * two of the first few dozen coincide. */
export function extraLineColor(n: number): string {
  const hue = Math.round((n * 137.508 + 15) % 360);
  const lightness = n % 2 === 0 ? 58 : 46; // alternate, for hues that land close
  return `hsl(${hue}, 70%, ${lightness}%)`;
}
