// The Run details panel: one per run. Sends the run's details and metric series, then
// follows it live (metric points, state changes) until the panel closes.
import type * as vscode from "vscode";
import type { ServerApi } from "../api";
import {
  ACTIVE_STATUSES,
  METRIC_POINTS,
  METRICS_SERIES,
  RUN_CHANGED,
  RUNS_GET,
  type RunDetails,
} from "../protocol";
import type { PanelActions } from "./actions";
import { coalesce, WebviewHost, type ActionMessage } from "./panel";
import { errorText, normalizeProjectPath, sameProject } from "./paths";
import { zoomedSeries } from "./zoom";

/** Points per series the chart asks for; the server keeps each bucket's min and max. */
export const MAX_POINTS = 2000;

const panels = new Map<string, DetailsPanel>();

export function showRunDetails(
  ctx: vscode.ExtensionContext,
  api: ServerApi,
  actions: PanelActions,
  project: string,
  runId: string,
): void {
  const key = `${normalizeProjectPath(project)}\n${runId}`;
  const open = panels.get(key);
  if (open) {
    open.host.reveal();
    return;
  }
  panels.set(key, new DetailsPanel(ctx, api, actions, project, runId, () => panels.delete(key)));
}

class DetailsPanel {
  readonly host: WebviewHost;
  private details: RunDetails | null = null;
  /** Bumped by every full load, so that answers to an older load are dropped. */
  private generation = 0;
  private status: string | null = null;
  private readonly refreshDetails = coalesce(() => this.fetchDetails());
  private readonly refreshSeries = coalesce(() => this.fetchSeries(this.generation));

  constructor(
    ctx: vscode.ExtensionContext,
    private readonly api: ServerApi,
    private readonly actions: PanelActions,
    private readonly project: string,
    private readonly runId: string,
    onDispose: () => void,
  ) {
    this.host = new WebviewHost(
      ctx,
      { viewType: "runyard.runDetails", title: `Run ${runId}`, script: "details", retain: true },
      {
        onReady: () => void this.load(),
        onMessage: (m) => this.onMessage(m),
        onDispose,
      },
    );
    this.host.track(
      api.onNotification(METRIC_POINTS, (n) => {
        if (n.runId === this.id && sameProject(n.project, project)) {
          this.host.post({ type: "points", runId: n.runId, chunks: n.chunks });
        }
      }),
      api.onNotification(RUN_CHANGED, (n) => {
        if (n.run.id !== this.id || !sameProject(n.project, project)) return;
        this.host.post({ type: "run", run: n.run });
        const wasActive = this.status !== null && ACTIVE_STATUSES.includes(this.status);
        this.status = n.run.status;
        this.refreshDetails();
        // The run ended: read its whole series once more (live pushes may have been cut).
        if (wasActive && !ACTIVE_STATUSES.includes(n.run.status)) this.refreshSeries();
      }),
    );
  }

  /** The run's full id once known (the panel may have been opened with a short one). */
  private get id(): string {
    return this.details?.run.id ?? this.runId;
  }

  private async load(): Promise<void> {
    const generation = ++this.generation;
    try {
      const details = await this.api.request(RUNS_GET, { project: this.project, runId: this.runId });
      if (generation !== this.generation) return;
      this.setDetails(details);
    } catch (err) {
      if (generation === this.generation) this.host.post({ type: "error", message: errorText(err) });
      return;
    }
    await this.fetchSeries(generation);
  }

  private async fetchSeries(generation: number): Promise<void> {
    try {
      const result = await this.api.request(METRICS_SERIES, {
        project: this.project,
        runIds: [this.id],
        maxPoints: MAX_POINTS,
      });
      if (generation === this.generation) this.host.post({ type: "series", series: result.series });
    } catch (err) {
      if (generation === this.generation) this.host.post({ type: "error", message: errorText(err) });
    }
  }

  private async fetchDetails(): Promise<void> {
    const generation = this.generation;
    try {
      const details = await this.api.request(RUNS_GET, { project: this.project, runId: this.id });
      if (generation === this.generation) this.setDetails(details);
    } catch (err) {
      if (generation === this.generation) this.host.post({ type: "error", message: errorText(err) });
    }
  }

  /** A zoomed chart's range, read again at full resolution where it is short enough. */
  private async zoom(m: Extract<ActionMessage, { type: "zoomSeries" }>): Promise<void> {
    try {
      this.host.post(await zoomedSeries(this.api, this.project, m, new Set([this.id]), MAX_POINTS));
    } catch (err) {
      this.host.post({ type: "error", message: errorText(err) });
    }
  }

  private setDetails(details: RunDetails): void {
    this.details = details;
    this.status = details.run.status;
    this.host.post({ type: "details", details });
  }

  private onMessage(m: ActionMessage): void {
    const id = this.id;
    switch (m.type) {
      case "showLogs":
        if (m.runId === id) this.actions.showLogs(this.project, id);
        break;
      case "restore":
        if (m.runId === id) this.actions.restore(this.project, id);
        break;
      case "cancel":
        if (m.runId === id) this.actions.cancel(this.project, id);
        break;
      case "zoomSeries":
        void this.zoom(m);
        break;
      case "openOutput":
      case "revealOutput": {
        // Only files the run's outputs list holds: the page cannot name any other path.
        const d = this.details;
        if (d && d.artifacts.some((a) => a.path === m.path)) {
          this.actions.openOutput(d.outputsDir, m.path, m.type === "revealOutput");
        }
        break;
      }
      case "registerModel": {
        const d = this.details;
        if (d && d.artifacts.some((a) => a.path === m.path)) this.actions.registerModel(this.project, id, m.path);
        break;
      }
      default:
        break;
    }
  }
}
