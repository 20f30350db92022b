// The one message contract between the extension host and its webviews (run details,
// compare, gallery, runs table). Both sides import this file; every message is a union member
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
  /** A zoomed chart's series (the `zoom` it asked with): the points of each run's step
   * range at full resolution where it is short enough, shown until the zoom is reset. */
  | { type: "zoomedSeries"; key: string; zoom: number; series: MetricSeries[] }
  /** New live points of one run, to append. */
  | { type: "points"; runId: string; chunks: MetricPointsChunk[] }
  /** A run changed state. */
  | { type: "run"; run: RunInfo }
  /** Compare view: the runs side by side. */
  | { type: "compare"; result: RunsCompareResult }
  /** Gallery view: the samples; `images` maps entry id to a webview URI of its image. */
  | { type: "gallery"; entries: GalleryEntry[]; images: Record<string, string> }
  /** Runs table: every run it shows (all of a project's, or one sweep's trials) with
   * each run's params (run id -> params), replacing what it held; `objective`: the
   * sweep's objective metric, the charts' default y. */
  | {
      type: "runsTable";
      title: string;
      runs: RunInfo[];
      params: Record<string, Record<string, string>>;
      objective: string | null;
    }
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
  | { type: "createProject"; id: string }
  /** Runs table: open this run's details. */
  | { type: "openRun"; runId: string }
  /** Runs table: compare these runs (two to MAX_COMPARE). */
  | { type: "compareRuns"; runIds: string[] }
  /** A chart of metric `key` was zoomed: each run's step range, to read again at full
   * resolution (one to MAX_COMPARE runs); `zoom` numbers the request, answered in a
   * `zoomedSeries` that carries it back. */
  | { type: "zoomSeries"; key: string; zoom: number; ranges: ZoomRange[] };

/** One run's step range in a zoomed chart (`stepFrom` <= `stepTo`, whole steps). */
export interface ZoomRange {
  runId: string;
  stepFrom: number;
  stepTo: number;
}

function isZoomRange(value: unknown): value is ZoomRange {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.runId === "string" &&
    r.runId.length > 0 &&
    Number.isSafeInteger(r.stepFrom) &&
    Number.isSafeInteger(r.stepTo) &&
    (r.stepFrom as number) <= (r.stepTo as number)
  );
}

/** The most runs one compareRuns message may name. */
export const MAX_COMPARE = 50;

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
    case "openRun":
      return text("runId");
    case "compareRuns":
      return (
        Array.isArray(m.runIds) &&
        m.runIds.length >= 2 &&
        m.runIds.length <= MAX_COMPARE &&
        m.runIds.every((id) => typeof id === "string" && id.length > 0)
      );
    case "bestMetric":
      return text("key") && typeof m.maximize === "boolean";
    case "createProject":
      return text("id");
    case "zoomSeries":
      return (
        text("key") &&
        Number.isSafeInteger(m.zoom) &&
        (m.zoom as number) > 0 &&
        Array.isArray(m.ranges) &&
        m.ranges.length >= 1 &&
        m.ranges.length <= MAX_COMPARE &&
        m.ranges.every(isZoomRange)
      );
    default:
      return false;
  }
}
