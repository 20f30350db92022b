// The Compare panel: two or more runs side by side (tables and overlaid charts),
// following live runs' metric points; the page may ask which run is best for a metric.
import * as vscode from "vscode";
import type { ServerApi } from "../api";
import {
  ACTIVE_STATUSES,
  METRIC_POINTS,
  METRICS_SERIES,
  RUN_CHANGED,
  RUNS_COMPARE,
} from "../protocol";
import type { PanelActions } from "./actions";
import { MAX_POINTS } from "./details";
import { coalesce, WebviewHost, type ActionMessage } from "./panel";
import { errorText, normalizeProjectPath, sameProject } from "./paths";
import { zoomedSeries } from "./zoom";

const panels = new Map<string, ComparePanel>();

export function showCompare(
  ctx: vscode.ExtensionContext,
  api: ServerApi,
  _actions: PanelActions, // the page has no action buttons yet
  project: string,
  runIds: string[],
): void {
  const ids = [...new Set(runIds)];
  if (ids.length < 2) {
    void vscode.window.showWarningMessage("Runyard: select two or more runs to compare.");
    return;
  }
  const key = `${normalizeProjectPath(project)}\n${[...ids].sort().join("\n")}`;
  const open = panels.get(key);
  if (open) {
    open.host.reveal();
    return;
  }
  panels.set(key, new ComparePanel(ctx, api, project, ids, () => panels.delete(key)));
}

class ComparePanel {
  readonly host: WebviewHost;
  private generation = 0;
  /** Full run ids once the server answered (the caller may have given short ones). */
  private ids: string[];
  private readonly statuses = new Map<string, string>();
  private bestMetric: string | null = null;
  private maximize = false;
  private readonly refreshCompare = coalesce(async () => {
    await this.fetchCompare(this.generation);
  });
  private readonly refreshSeries = coalesce(() => this.fetchSeries(this.generation));

  constructor(
    ctx: vscode.ExtensionContext,
    private readonly api: ServerApi,
    private readonly project: string,
    private readonly runIds: string[],
    onDispose: () => void,
  ) {
    this.ids = [...runIds];
    this.host = new WebviewHost(
      ctx,
      { viewType: "runyard.compare", title: `Compare ${runIds.length} runs`, script: "compare", retain: false },
      {
        onReady: () => void this.load(),
        onMessage: (m) => this.onMessage(m),
        onDispose,
      },
    );
    this.host.track(
      api.onNotification(METRIC_POINTS, (n) => {
        if (this.ids.includes(n.runId) && sameProject(n.project, project)) {
          this.host.post({ type: "points", runId: n.runId, chunks: n.chunks });
        }
      }),
      api.onNotification(RUN_CHANGED, (n) => {
        if (!this.ids.includes(n.run.id) || !sameProject(n.project, project)) return;
        this.host.post({ type: "run", run: n.run });
        const before = this.statuses.get(n.run.id);
        this.statuses.set(n.run.id, n.run.status);
        if (before !== undefined && ACTIVE_STATUSES.includes(before) && !ACTIVE_STATUSES.includes(n.run.status)) {
          // A run ended: its final metrics change the tables, and its full series is in.
          this.refreshCompare();
          this.refreshSeries();
        }
      }),
    );
  }

  private async load(): Promise<void> {
    const generation = ++this.generation;
    if (await this.fetchCompare(generation)) await this.fetchSeries(generation);
  }

  private async fetchCompare(generation: number): Promise<boolean> {
    try {
      const result = await this.api.request(RUNS_COMPARE, {
        project: this.project,
        runIds: this.runIds,
        bestMetric: this.bestMetric,
        maximize: this.maximize,
      });
      if (generation !== this.generation) return false;
      this.ids = result.runs.map((r) => r.id);
      for (const r of result.runs) this.statuses.set(r.id, r.status);
      this.host.post({ type: "compare", result });
      return true;
    } catch (err) {
      if (generation === this.generation) this.host.post({ type: "error", message: errorText(err) });
      return false;
    }
  }

  private async fetchSeries(generation: number): Promise<void> {
    try {
      const result = await this.api.request(METRICS_SERIES, {
        project: this.project,
        runIds: this.ids,
        maxPoints: MAX_POINTS,
      });
      if (generation === this.generation) this.host.post({ type: "series", series: result.series });
    } catch (err) {
      if (generation === this.generation) this.host.post({ type: "error", message: errorText(err) });
    }
  }

  private onMessage(m: ActionMessage): void {
    if (m.type === "bestMetric") {
      this.bestMetric = m.key;
      this.maximize = m.maximize;
      this.refreshCompare();
    } else if (m.type === "zoomSeries") {
      void this.zoom(m);
    }
  }

  /** A zoomed chart's ranges, read again at full resolution where they are short enough. */
  private async zoom(m: Extract<ActionMessage, { type: "zoomSeries" }>): Promise<void> {
    try {
      this.host.post(await zoomedSeries(this.api, this.project, m, new Set(this.ids), MAX_POINTS));
    } catch (err) {
      this.host.post({ type: "error", message: errorText(err) });
    }
  }
}
