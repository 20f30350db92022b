// The Compare view: two or more runs side by side. One chart per metric with a line per
// run, the Run table (the runs' own fields: status, experiment, target, duration,
// snapshot; runFields.ts), the params and metrics tables (rows that differ highlighted,
// as the server says), and a picker that asks the host which run is best for a metric.
import type { RunInfo, RunsCompareResult } from "../src/protocol";
import { startView, viewFrame } from "./bootstrap";
import { metricsSection, paletteColor, type LineInfo } from "./chart";
import { compareTable, metricKeys, runLabel } from "./compareModel";
import { clear, h, onThemeChange, showError } from "./dom";
import { fieldsTable, type FieldsTable } from "./runFields";
import { loadState, post, saveState } from "./vscodeApi";

const saved = loadState();
let bestKey = typeof saved.bestKey === "string" ? saved.bestKey : "";
let maximize = typeof saved.maximize === "boolean" ? saved.maximize : false;

const { app, banner } = viewFrame();
const title = h("h1", null, "Compare runs");
const legend = h("ul", { className: "run-legend" });
const metricSelect = h("select", { attrs: { id: "best-metric", "aria-label": "Best run by metric" } });
const maximizeBox = h("input", { attrs: { id: "maximize", type: "checkbox" } });
maximizeBox.checked = maximize;
const picker = h(
  "div",
  { className: "toolbar best-picker" },
  h("label", { attrs: { for: "best-metric" } }, "Best run by "),
  metricSelect,
  h("label", { className: "check" }, maximizeBox, " higher is better"),
);
const { board, section: chartsSection } = metricsSection(saved, "No metrics logged by these runs.");
// A chart zoomed by a drag asks the host for its range again, at full resolution.
board.onZoom = (key, zoom, ranges) => post({ type: "zoomSeries", key, zoom, ranges });
const fieldsHost = h("div", { className: "table-host" });
const paramsHost = h("div", { className: "table-host" });
const metricsHost = h("div", { className: "table-host" });

app.append(
  banner,
  h("header", { className: "run-header" }, title),
  picker,
  legend,
  chartsSection,
  h("section", { className: "run-fields" }, h("h2", null, "Run"), fieldsHost),
  h("section", null, h("h2", null, "Parameters"), paramsHost),
  h("section", null, h("h2", null, "Metric values"), metricsHost),
);

let result: RunsCompareResult | null = null;
/** Each run's line colour, by its place in the result. */
const colors = new Map<string, string>();

function colorOf(runId: string): string {
  let c = colors.get(runId);
  if (c === undefined) {
    const index = result ? result.runs.findIndex((r) => r.id === runId) : -1;
    c = paletteColor(index >= 0 ? index : colors.size);
    colors.set(runId, c);
  }
  return c;
}

function runOf(runId: string): RunInfo | undefined {
  return result?.runs.find((r) => r.id === runId);
}

function lineInfo(runId: string): LineInfo {
  const run = runOf(runId);
  return {
    id: runId,
    label: runLabel(runId, result?.bestRunId),
    color: colorOf(runId),
    origin: run?.started ?? run?.created ?? null,
  };
}

function refreshLines(): void {
  if (!result) return;
  for (const chart of board.all()) {
    for (const run of result.runs) if (chart.hasLine(run.id)) chart.updateLine(lineInfo(run.id));
  }
}

onThemeChange(() => {
  colors.clear();
  refreshLines();
  if (result) renderRuns(result);
});

function renderTable(table: FieldsTable, keyHeader: string, empty: string): HTMLElement {
  if (table.rows.length === 0) return h("p", { className: "muted" }, empty);
  const headRow = h("tr", null, h("th", { attrs: { scope: "col" } }, keyHeader));
  for (const col of table.columns) {
    headRow.appendChild(
      h(
        "th",
        { className: col.best ? "best" : "", attrs: { scope: "col" }, title: col.best ? "Best run" : col.runId },
        col.runId,
        col.best ? h("span", { className: "best-mark", attrs: { "aria-label": "best run" } }, " ★") : null,
      ),
    );
  }
  const body = h("tbody");
  for (const row of table.rows) {
    const tr = h("tr", { className: row.differs ? "differs" : "" }, h("th", { attrs: { scope: "row" } }, row.key));
    for (const cell of row.cells) {
      const classes = [cell.best ? "best" : "", cell.empty ? "empty" : "", "num"].filter(Boolean).join(" ");
      tr.appendChild(
        h("td", { className: classes, title: cell.empty ? "No value (missing, NaN or infinite)" : cell.title }, cell.text),
      );
    }
    body.appendChild(tr);
  }
  return h("table", { className: "compare" }, h("thead", null, headRow), body);
}

function renderRuns(r: RunsCompareResult): void {
  clear(legend);
  r.runs.forEach((run) => {
    const best = run.id === r.bestRunId;
    const swatch = h("span", { className: "swatch" });
    swatch.style.backgroundColor = colorOf(run.id);
    legend.appendChild(
      h(
        "li",
        { className: best ? "best" : "" },
        swatch,
        h("span", { className: "run-id" }, run.id),
        h("span", { className: "muted" }, ` ${run.status}`),
        best ? h("span", { className: "best-mark" }, " ★ best") : null,
      ),
    );
  });
}

function renderPicker(r: RunsCompareResult): void {
  const keys = metricKeys(r);
  clear(metricSelect);
  metricSelect.appendChild(h("option", { attrs: { value: "" } }, "(choose a metric)"));
  for (const k of keys) metricSelect.appendChild(h("option", { attrs: { value: k } }, k));
  metricSelect.value = keys.includes(bestKey) ? bestKey : "";
}

function askBest(): void {
  saveState({ bestKey, maximize });
  if (bestKey) post({ type: "bestMetric", key: bestKey, maximize });
}

metricSelect.addEventListener("change", () => {
  bestKey = metricSelect.value;
  askBest();
});
maximizeBox.addEventListener("change", () => {
  maximize = maximizeBox.checked;
  askBest();
});

function render(r: RunsCompareResult): void {
  const first = result === null;
  result = r;
  colors.clear();
  title.textContent = `Compare ${r.runs.length} runs`;
  document.title = title.textContent;
  renderRuns(r);
  renderPicker(r);
  fieldsHost.replaceChildren(renderTable(fieldsTable(r.runs, r.fields, r.bestRunId), "Field", "No run fields."));
  paramsHost.replaceChildren(renderTable(compareTable(r.runs, r.params, r.bestRunId), "Parameter", "No parameters."));
  metricsHost.replaceChildren(renderTable(compareTable(r.runs, r.metrics, r.bestRunId), "Metric", "No metrics."));
  const ids = new Set(r.runs.map((run) => run.id));
  for (const chart of board.all()) chart.removeLinesExcept(ids);
  refreshLines();
  // A saved pick is re-applied once when the view is restored (the host does not know it).
  if (first && bestKey && metricKeys(r).includes(bestKey) && !r.bestRunId) askBest();
}

startView(banner, {
  compare: (message) => {
    showError(banner, null);
    render(message.result);
  },
  series: (message) => {
    for (const s of message.series) {
      if (result && !runOf(s.runId)) continue;
      board.chart(s.key).setSeries(lineInfo(s.runId), s.steps, s.times, s.values, s.total);
    }
  },
  zoomedSeries: (message) => {
    board.get(message.key)?.showZoomed(message.zoom, message.series);
  },
  points: (message) => {
    if (result && !runOf(message.runId)) return;
    for (const c of message.chunks) {
      board.chart(c.key).append(lineInfo(message.runId), c.steps, c.times, c.values);
    }
  },
  run: (message) => {
    if (result && runOf(message.run.id)) {
      result = { ...result, runs: result.runs.map((r) => (r.id === message.run.id ? message.run : r)) };
      renderRuns(result);
    }
  },
});
