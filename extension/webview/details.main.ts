// The Run details view: what the run is (status and its timeline, command, target,
// snapshot, environment, params, tags, outputs) and one live chart per metric.
// Environment is the run's lock (interpreter, who built it, the pins; runFields.ts),
// the pins folded into a <details> when there are many; the fold stays as the user
// left it when a run push redraws the summary.
import { ACTIVE_STATUSES, type RunDetails, type RunInfo } from "../src/protocol";
import { startView, viewFrame } from "./bootstrap";
import { metricsSection, paletteColor, type LineInfo } from "./chart";
import { append, button, classToken, clear, h, keyValueTable, onThemeChange, showError } from "./dom";
import { formatDuration, formatSize, formatTime, NO_VALUE } from "./format";
import { hostLine, lockPins, lockSummary } from "./runFields";
import { loadState, post } from "./vscodeApi";

const { app, banner } = viewFrame();
const summary = h("div", { className: "summary" }, h("p", { className: "muted" }, "Loading the run…"));
const { board, section: chartsSection } = metricsSection(loadState(), "No metrics logged yet.");
// A chart zoomed by a drag asks the host for its range again, at full resolution.
board.onZoom = (key, zoom, ranges) => post({ type: "zoomSeries", key, zoom, ranges });
app.append(banner, summary, chartsSection);

let details: RunDetails | null = null;
/** Whether the user opened the folded pins list (kept across redraws). */
let pinsOpen = false;
let lineColor = paletteColor(0);
onThemeChange(() => {
  lineColor = paletteColor(0);
  refreshLines();
});

function lineInfo(key: string, runId: string): LineInfo {
  const run = details?.run;
  return { id: runId, label: key, color: lineColor, origin: run?.started ?? run?.created ?? null };
}

function refreshLines(): void {
  if (!details) return;
  for (const key of board.keys()) board.get(key)?.updateLine(lineInfo(key, details.run.id));
}

function isActive(status: string): boolean {
  return ACTIVE_STATUSES.includes(status);
}

function field(label: string, value: Node | string): HTMLElement[] {
  return [h("dt", null, label), h("dd", null, value)];
}

function code(text: string | null | undefined): Node | string {
  return text ? h("code", null, text) : NO_VALUE;
}

function renderTimeline(d: RunDetails): HTMLElement {
  if (d.history.length === 0) return h("p", { className: "muted" }, "No status changes recorded.");
  const list = h("ol", { className: "timeline" });
  for (const change of d.history) {
    list.appendChild(
      h(
        "li",
        { className: `status-${classToken(change.status)}` },
        h("span", { className: "timeline-status" }, change.status),
        h("time", null, formatTime(change.time)),
        change.reason ? h("span", { className: "timeline-reason muted" }, change.reason) : null,
      ),
    );
  }
  return list;
}

function renderEnvironment(d: RunDetails): HTMLElement {
  const section = h(
    "section",
    { className: "environment", attrs: { "aria-label": "Environment" } },
    h("h2", null, "Environment"),
    h("p", { className: d.lock ? "lock-summary" : "lock-summary muted" }, lockSummary(d.lock)),
    h("p", { className: d.lock?.host ? "host-summary" : "host-summary muted" }, hostLine(d.lock)),
  );
  const { pins, folded } = lockPins(d.lock);
  if (pins.length === 0) return section;
  const list = h("ul", { className: "pins" }, ...pins.map((pin) => h("li", null, h("code", null, pin))));
  if (!folded) {
    section.appendChild(list);
    return section;
  }
  const fold = h("details", { className: "pins-fold" }, h("summary", null, `${pins.length} pinned packages`), list);
  fold.open = pinsOpen;
  fold.addEventListener("toggle", () => {
    pinsOpen = fold.open;
  });
  section.appendChild(fold);
  return section;
}

function renderOutputs(d: RunDetails): HTMLElement {
  if (d.artifacts.length === 0) return h("p", { className: "muted" }, "No outputs.");
  const body = h("tbody");
  for (const a of d.artifacts) {
    body.appendChild(
      h(
        "tr",
        null,
        h("td", { className: "path" }, a.path),
        h("td", { className: "num" }, formatSize(a.size)),
        h(
          "td",
          { className: "row-actions" },
          button("Open", () => post({ type: "openOutput", path: a.path }), "secondary"),
          button("Reveal", () => post({ type: "revealOutput", path: a.path }), "secondary"),
          // a model comes from a run that finished well
          d.run.status === "completed"
            ? button("Register as Model", () => post({ type: "registerModel", path: a.path }), "secondary")
            : null,
        ),
      ),
    );
  }
  return h("table", { className: "outputs" }, body);
}

function renderSummary(d: RunDetails): void {
  const run: RunInfo = d.run;
  const status = run.status;
  const restore = button("Restore snapshot", () => post({ type: "restore", runId: run.id }), "secondary");
  if (!run.snapshotCommit) {
    restore.disabled = true;
    restore.title = "This run has no snapshot.";
  }
  const actions = h(
    "div",
    { className: "toolbar actions" },
    button("Show logs", () => post({ type: "showLogs", runId: run.id })),
    restore,
    isActive(status) ? button("Cancel", () => post({ type: "cancel", runId: run.id }), "secondary danger") : null,
  );
  const target = run.targetType ? `${run.target} (${run.targetType})` : run.target;
  const info = h(
    "dl",
    { className: "info" },
    ...field("Experiment", run.experiment),
    ...field("Command", code(run.command && run.command.length ? run.command.join(" ") : run.script)),
    ...field("Target", target),
    ...field("Snapshot commit", code(run.snapshotCommit)),
    ...field("Environment hash", code(run.envHash)),
    ...field("Created", formatTime(run.created)),
    ...field("Started", formatTime(run.started)),
    ...field("Ended", formatTime(run.ended)),
    ...field("Duration", formatDuration(run.duration)),
    ...field("Exit code", run.exitCode === null || run.exitCode === undefined ? NO_VALUE : String(run.exitCode)),
  );
  const failed = status === "failed" || status === "lost";
  clear(summary);
  append(
    summary,
    h(
      "header",
      { className: "run-header" },
      h("h1", null, "Run ", h("span", { className: "run-id" }, run.id)),
      h("span", { className: `status-badge status-${classToken(status)}` }, status),
    ),
    actions,
    failed && run.reason
      ? h("div", { className: "failure", attrs: { role: "status" } }, h("strong", null, "Failure: "), run.reason)
      : null,
    info,
    h("h2", null, "Status timeline"),
    renderTimeline(d),
    renderEnvironment(d),
    h(
      "div",
      { className: "columns" },
      h("section", null, h("h2", null, "Parameters"), keyValueTable(d.params, "No parameters.")),
      h("section", null, h("h2", null, "Tags"), keyValueTable(d.tags, "No tags.")),
    ),
    h("h2", null, "Outputs"),
    d.outputsDir ? h("p", { className: "muted path" }, d.outputsDir) : null,
    renderOutputs(d),
  );
  document.title = `Run ${run.id}`;
}

startView(banner, {
  details: (message) => {
    details = message.details;
    showError(banner, null);
    renderSummary(message.details);
    refreshLines();
  },
  run: (message) => {
    if (details && message.run.id === details.run.id) {
      details = { ...details, run: message.run };
      renderSummary(details);
    }
  },
  series: (message) => {
    for (const s of message.series) {
      if (details && s.runId !== details.run.id) continue;
      board.chart(s.key).setSeries(lineInfo(s.key, s.runId), s.steps, s.times, s.values, s.total);
    }
  },
  zoomedSeries: (message) => {
    board.get(message.key)?.showZoomed(message.zoom, message.series);
  },
  points: (message) => {
    if (details && message.runId !== details.run.id) return;
    for (const c of message.chunks) {
      board.chart(c.key).append(lineInfo(c.key, message.runId), c.steps, c.times, c.values);
    }
  },
});
