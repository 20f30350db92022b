// The runs table panel: a project's runs (or one sweep's trials) with their params and
// metrics, for the page (extension/webview/runsTable.main.ts) to filter, sort and scroll.
// The host fetches every run in pages of runyard/runs/list with `includeParams` (and
// `sweep` for a sweep's trials): it sends the first 200 at once and all of them once
// they are in, then follows runs/didChange: a known run's change is posted as is (the
// page updates its row), a run the table does not hold yet makes it fetch everything
// again, at most once every two seconds. The page's Compare and a double click open the
// existing Compare and Run Details panels.
import * as vscode from "vscode";
import type { ServerApi } from "../api";
import { RUN_CHANGED, RUNS_LIST, type RunInfo } from "../protocol";
import type { PanelActions } from "./actions";
import { showCompare } from "./compare";
import { showRunDetails } from "./details";
import { type ActionMessage, WebviewHost } from "./panel";
import { errorText, normalizeProjectPath, sameProject } from "./paths";

/** Runs in the first runs/list request (shown while the rest comes), then per request
 * (the server's most is 10,000). */
const FIRST = 200;
const PAGE = 2000;
/** The least time between two full fetches caused by new runs. */
const RELOAD_MS = 2000;

const panels = new Map<string, RunsTablePanel>();

/** Open (or reveal) the runs table of `project`, or of one of its sweeps. */
export function showRunsTable(
  ctx: vscode.ExtensionContext,
  api: ServerApi,
  actions: PanelActions,
  project: string,
  sweep?: { id: string; name: string; metric: string },
): void {
  const key = `${normalizeProjectPath(project)}\n${sweep?.id ?? ""}`;
  const open = panels.get(key);
  if (open) {
    open.host.reveal();
    return;
  }
  panels.set(key, new RunsTablePanel(ctx, api, actions, project, sweep, () => panels.delete(key)));
}

class RunsTablePanel {
  readonly host: WebviewHost;
  private generation = 0;
  private readonly ids = new Set<string>();
  private lastLoad = 0;
  private reloadTimer: NodeJS.Timeout | undefined;
  private readonly title: string;

  constructor(
    private readonly ctx: vscode.ExtensionContext,
    private readonly api: ServerApi,
    private readonly actions: PanelActions,
    private readonly project: string,
    private readonly sweep: { id: string; name: string; metric: string } | undefined,
    onDispose: () => void,
  ) {
    this.title = sweep ? `Trials of ${sweep.name}` : "Runs Table";
    this.host = new WebviewHost(
      ctx,
      { viewType: "runyard.runsTable", title: this.title, script: "runsTable", retain: true },
      {
        onReady: () => void this.load(),
        onMessage: (m) => this.onMessage(m),
        onDispose: () => {
          if (this.reloadTimer) clearTimeout(this.reloadTimer);
          onDispose();
        },
      },
    );
    this.host.track(
      api.onNotification(RUN_CHANGED, (n) => {
        if (!sameProject(n.project, project)) return;
        if (this.ids.has(n.run.id)) this.host.post({ type: "run", run: n.run });
        else this.reloadSoon();
      }),
    );
  }

  private reloadSoon(): void {
    if (this.reloadTimer) return;
    const wait = Math.max(0, this.lastLoad + RELOAD_MS - Date.now());
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      void this.load();
    }, wait);
  }

  private async load(): Promise<void> {
    const generation = ++this.generation;
    this.lastLoad = Date.now();
    try {
      const runs: RunInfo[] = [];
      const params: Record<string, Record<string, string>> = {};
      const post = (): void => {
        this.ids.clear();
        for (const r of runs) this.ids.add(r.id);
        this.host.post({ type: "runsTable", title: this.title, runs: [...runs], params, objective: this.sweep?.metric ?? null });
      };
      for (let offset = 0; ; ) {
        // a first screenful at once, then the rest in big pages
        const limit = offset === 0 ? FIRST : PAGE;
        const page = await this.api.request(RUNS_LIST, {
          project: this.project,
          sort: "created",
          descending: true,
          offset,
          limit,
          includeParams: true,
          sweep: this.sweep?.id ?? null,
        });
        if (generation !== this.generation) return;
        runs.push(...page.runs);
        Object.assign(params, page.params ?? {});
        offset += limit;
        if (page.runs.length < limit || offset >= page.total) break;
        if (offset === FIRST) post();
      }
      post();
    } catch (err) {
      if (generation === this.generation) this.host.post({ type: "error", message: errorText(err) });
    }
  }

  private onMessage(m: ActionMessage): void {
    if (m.type === "compareRuns") showCompare(this.ctx, this.api, this.actions, this.project, m.runIds);
    else if (m.type === "openRun") showRunDetails(this.ctx, this.api, this.actions, this.project, m.runId);
  }
}
