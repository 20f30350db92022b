// The one message contract between the extension host and its webviews (run details,
// compare, gallery). Both sides import this file; every message is a union member
// keyed on `type`. The host posts nothing until the webview says `initialized`.
import type {
  GalleryEntry,
  MetricPointsChunk,
  MetricSeries,
  RunDetails,
  RunInfo,
  RunsCompareResult,
} from "../src/protocol";

// ------------------------------------------------------------------ host -> webview

export type HostMessage =
  /** Run details view: everything about the run (sent again when it changes). */
  | { type: "details"; details: RunDetails }
  /** Full (downsampled) series, replacing what the chart holds for those runs/keys. */
  | { type: "series"; series: MetricSeries[] }
  /** New live points of one run, to append. */
  | { type: "points"; runId: string; chunks: MetricPointsChunk[] }
  /** A run changed state. */
  | { type: "run"; run: RunInfo }
  /** Compare view: the runs side by side. */
  | { type: "compare"; result: RunsCompareResult }
  /** Gallery view: the samples; `images` maps entry id to a webview URI of its image. */
  | { type: "gallery"; entries: GalleryEntry[]; images: Record<string, string> }
  /** Something failed on the host side; shown in the view, as text. */
  | { type: "error"; message: string };

// ------------------------------------------------------------------ webview -> host

export type WebviewMessage =
  | { type: "initialized" }
  /** Open a file of the run's outputs (path relative to the outputs folder). */
  | { type: "openOutput"; path: string }
  /** Reveal it in the OS file manager / Explorer. */
  | { type: "revealOutput"; path: string }
  /** Register this output file of the run as a model version (the host asks for a name). */
  | { type: "registerModel"; path: string }
  | { type: "showLogs"; runId: string }
  | { type: "restore"; runId: string }
  | { type: "cancel"; runId: string }
  /** Compare view: mark the best run for this metric. */
  | { type: "bestMetric"; key: string; maximize: boolean }
  /** Gallery view: create a project from this sample (the host asks for a folder). */
  | { type: "createProject"; id: string };

/** Whether `value` is a well-formed WebviewMessage: the host checks every message it
 * receives with this before acting on it (a webview is untrusted input). */
export function isWebviewMessage(value: unknown): value is WebviewMessage {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Record<string, unknown>;
  const text = (key: string): boolean => {
    const v = m[key];
    return typeof v === "string" && v.length > 0;
  };
  switch (m.type) {
    case "initialized":
      return true;
    case "openOutput":
    case "revealOutput":
    case "registerModel":
      return text("path");
    case "showLogs":
    case "restore":
    case "cancel":
      return text("runId");
    case "bestMetric":
      return text("key") && typeof m.maximize === "boolean";
    case "createProject":
      return text("id");
    default:
      return false;
  }
}
