// The runs table: every run of a project (or one sweep's trials) as rows, columns for
// the runs' fields, params and metrics. Only the rows in view are in the DOM (a spacer
// as tall as all rows, the visible ones placed in it; runsTableModel.visibleRange), so
// 10,000 runs scroll as 50 do. Sorting (click a header; again to reverse), the filter
// expression and the column choice are runsTableModel's; the choice and the sort are
// kept in the page's saved state. Click selects (Ctrl/Cmd toggles, Shift extends);
// "Compare" sends the selection to the host's Compare panel, a double click opens a
// run's details. Live: the host's `run` messages update a row in place.
//
// "Charts…" shows, drawn with the bundled uPlot, a scatter of a param (or metric)
// against the objective (a sweep's own metric by default) and parallel coordinates
// (every param, then the objective, a line per run coloured by its objective: blue low,
// red high), for the selected rows when two or more are selected, else for every row the
// filter keeps (runsTableModel's scatterPoints and parallelLines). Layout styles are set
// through the DOM's style properties (the CSP allows no inline style attribute).
import uPlot from "uplot";
import type { RunInfo } from "../src/protocol";
import { startView, viewFrame } from "./bootstrap";
import { paletteColor } from "./chart";
import { clear, classToken, cssVar, h, onThemeChange, showError } from "./dom";
import { formatDuration, formatTime, formatValue } from "./format";
import { MAX_COMPARE } from "./messages";
import {
  allColumns,
  cellValue,
  clickSelection,
  type ColumnId,
  column,
  defaultColumns,
  type Filter,
  parallelLines,
  parseFilter,
  scatterPoints,
  type TableRow,
  tableRow,
  viewRows,
  visibleRange,
} from "./runsTableModel";
import { loadState, post, saveState } from "./vscodeApi";

const ROW_HEIGHT = 24;
const saved = loadState();
const savedColumns = Array.isArray(saved.columns) ? (saved.columns as unknown[]).filter((c): c is string => typeof c === "string") : undefined;
const savedKnown = Array.isArray(saved.known) ? (saved.known as unknown[]).filter((c): c is string => typeof c === "string") : undefined;
let sortColumn: ColumnId = typeof saved.sort === "string" ? saved.sort : "created";
let descending = typeof saved.descending === "boolean" ? saved.descending : true;
let filterText = typeof saved.filter === "string" ? saved.filter : "";

const { app, banner } = viewFrame();
const title = h("h1", null, "Runs");
const count = h("span", { className: "muted", attrs: { id: "row-count" } });
const filterInput = h("input", {
  attrs: {
    id: "filter",
    type: "text",
    spellcheck: "false",
    placeholder: "filter: lr > 0.01 and status == completed",
    "aria-label": "Filter expression",
  },
});
filterInput.value = filterText;
const filterError = h("div", { className: "filter-error", attrs: { role: "status", id: "filter-error" } });
const compareButton = h("button", { attrs: { id: "compare", type: "button" } }, "Compare selected");
const columnsButton = h("button", { attrs: { id: "columns", type: "button", "aria-expanded": "false" } }, "Columns…");
const chartsButton = h("button", { attrs: { id: "charts", type: "button", "aria-expanded": "false" } }, "Charts…");
const chooser = h("div", { className: "column-chooser", attrs: { id: "column-chooser" } });
const xSelect = h("select", { attrs: { id: "chart-x", "aria-label": "Scatter x: a param or metric" } });
const ySelect = h("select", { attrs: { id: "chart-y", "aria-label": "Objective: a metric" } });
const chartNote = h("p", { className: "muted", attrs: { id: "chart-note" } });
const scatterHost = h("div", { attrs: { id: "scatter" } });
const parallelHost = h("div", { attrs: { id: "parallel" } });
const parallelAxesNote = h("p", { className: "muted", attrs: { id: "parallel-axes" } });
const charts = h(
  "section",
  { attrs: { id: "chart-section" } },
  h(
    "div",
    { className: "toolbar" },
    h("label", { attrs: { for: "chart-x" } }, "x "),
    xSelect,
    h("label", { attrs: { for: "chart-y" } }, " objective "),
    ySelect,
  ),
  chartNote,
  h("h2", null, "Param vs objective"),
  scatterHost,
  h("h2", null, "Parallel coordinates"),
  parallelHost,
  parallelAxesNote,
);
charts.hidden = true;
chooser.hidden = true;
const header = h("div", { className: "rt-header", attrs: { role: "row" } });
const spacer = h("div", { className: "rt-spacer" });
const scroller = h("div", { className: "rt-scroller", attrs: { id: "rows", role: "rowgroup", tabindex: "0" } }, spacer);

app.append(
  banner,
  h("header", { className: "run-header" }, title, " ", count),
  h("div", { className: "toolbar" }, filterInput, compareButton, columnsButton, chartsButton),
  filterError,
  chooser,
  charts,
  h("div", { className: "rt-table", attrs: { role: "table", "aria-label": "Runs" } }, header, scroller),
);

// layout: the page has no inline styles; these are set through the DOM
app.style.maxWidth = "none";
filterInput.style.flex = "1";
filterInput.style.minWidth = "20em";
filterError.style.minHeight = "1.4em";
filterError.style.color = "var(--vscode-errorForeground)";
header.style.display = "flex";
header.style.fontWeight = "600";
header.style.borderBottom = "1px solid var(--vscode-panel-border, #8884)";
scroller.style.position = "relative";
scroller.style.overflow = "auto";
scroller.style.height = "70vh";
spacer.style.position = "relative";
chooser.style.display = "flex";
chooser.style.flexWrap = "wrap";
chooser.style.gap = "0.25em 1em";
chooser.style.margin = "0.5em 0";

let rows: TableRow[] = [];
const byId = new Map<string, TableRow>();
let shown: TableRow[] = [];
let filter: Filter = () => true;
let columns: ColumnId[] = [];
let known: ColumnId[] = savedKnown ?? [];
let chosen: ColumnId[] | undefined = savedColumns;
let selected = new Set<string>();
let anchor: string | null = null;
let drawn = { start: -1, end: -1 };

function width(id: ColumnId): number {
  if (id === "id") return 200;
  if (id === "created") return 150;
  return 110;
}

function label(id: ColumnId): string {
  const c = column(id);
  return c.kind === "field" ? c.name : c.name;
}

function cellText(row: TableRow, id: ColumnId): string {
  const v = cellValue(row, id);
  if (id === "created") return typeof v === "number" && v > 0 ? formatTime(v) : "";
  if (id === "duration") return typeof v === "number" ? formatDuration(v) : formatValue(null);
  if (typeof v === "number") return formatValue(v);
  return v ?? formatValue(null);
}

function renderHeader(): void {
  clear(header);
  for (const id of columns) {
    const c = column(id);
    const arrow = id === sortColumn ? (descending ? " ▼" : " ▲") : "";
    const cell = h(
      "div",
      {
        className: `rt-cell rt-head ${c.kind}`,
        attrs: { role: "columnheader", "data-column": id, "aria-sort": id === sortColumn ? (descending ? "descending" : "ascending") : "none" },
        title: c.kind === "field" ? c.name : `${c.kind} ${c.name}: click to sort`,
      },
      label(id) + arrow,
    );
    cell.style.width = `${width(id)}px`;
    cell.style.flex = "none";
    cell.style.cursor = "pointer";
    cell.style.overflow = "hidden";
    cell.style.textOverflow = "ellipsis";
    cell.style.whiteSpace = "nowrap";
    cell.style.padding = "2px 6px";
    cell.addEventListener("click", () => {
      if (sortColumn === id) descending = !descending;
      else {
        sortColumn = id;
        descending = column(id).kind === "metric" ? false : id === "created";
      }
      saveState({ sort: sortColumn, descending });
      refresh();
    });
    header.appendChild(cell);
  }
  const total = columns.reduce((n, id) => n + width(id), 0);
  header.style.width = `${total}px`;
  spacer.style.width = `${total}px`;
}

function renderRow(row: TableRow, index: number): HTMLElement {
  const el = h("div", {
    className: `rt-row status-${classToken(row.status)}${selected.has(row.id) ? " selected" : ""}`,
    attrs: { role: "row", "data-run": row.id, "aria-selected": selected.has(row.id) ? "true" : "false" },
  });
  el.style.position = "absolute";
  el.style.top = `${index * ROW_HEIGHT}px`;
  el.style.height = `${ROW_HEIGHT}px`;
  el.style.lineHeight = `${ROW_HEIGHT - 4}px`;
  el.style.display = "flex";
  el.style.left = "0";
  el.style.cursor = "default";
  if (selected.has(row.id)) {
    el.style.background = "var(--vscode-list-activeSelectionBackground)";
    el.style.color = "var(--vscode-list-activeSelectionForeground)";
  }
  for (const id of columns) {
    const text = cellText(row, id);
    const cell = h("div", { className: "rt-cell", attrs: { role: "cell" }, title: text }, text);
    cell.style.width = `${width(id)}px`;
    cell.style.flex = "none";
    cell.style.overflow = "hidden";
    cell.style.textOverflow = "ellipsis";
    cell.style.whiteSpace = "nowrap";
    cell.style.padding = "2px 6px";
    if (column(id).kind !== "field" || id === "duration") cell.style.textAlign = "right";
    el.appendChild(cell);
  }
  return el;
}

/** Put the rows in view in the DOM (and only those). */
function draw(force = false): void {
  const range = visibleRange(scroller.scrollTop, scroller.clientHeight || 600, ROW_HEIGHT, shown.length);
  if (!force && range.start === drawn.start && range.end === drawn.end) return;
  drawn = range;
  const frag = document.createDocumentFragment();
  for (let i = range.start; i < range.end; i++) {
    const row = shown[i];
    if (row) frag.appendChild(renderRow(row, i));
  }
  spacer.replaceChildren(frag);
}

function updateCount(): void {
  const sel = selected.size ? `, ${selected.size} selected` : "";
  count.textContent = shown.length === rows.length ? `${rows.length} runs${sel}` : `${shown.length} of ${rows.length} runs${sel}`;
  compareButton.disabled = selected.size < 2 || selected.size > MAX_COMPARE;
}

/** Filter, sort and draw again (after new data, a sort, a filter or a column change). */
function refresh(): void {
  const available = allColumns(rows);
  columns = defaultColumns(available, chosen, known);
  if (!columns.includes(sortColumn)) sortColumn = "created";
  shown = viewRows(rows, filter, sortColumn, descending);
  spacer.style.height = `${shown.length * ROW_HEIGHT}px`;
  renderHeader();
  renderChooser(available);
  draw(true);
  updateCount();
  drawCharts();
}

function renderChooser(available: ColumnId[]): void {
  if (chooser.hidden) return;
  clear(chooser);
  for (const id of available) {
    const c = column(id);
    const box = h("input", { attrs: { type: "checkbox", "data-column": id } });
    box.checked = columns.includes(id);
    box.addEventListener("change", () => {
      const next = box.checked ? [...columns, id] : columns.filter((x) => x !== id);
      chosen = available.filter((x) => next.includes(x));
      known = available;
      saveState({ columns: chosen, known });
      refresh();
    });
    chooser.appendChild(h("label", { className: "check" }, box, ` ${c.kind === "field" ? "" : `${c.kind} `}${c.name}`));
  }
}

function applyFilter(): void {
  filterText = filterInput.value;
  const parsed = parseFilter(filterText);
  if (parsed.ok) {
    filter = parsed.filter;
    filterError.textContent = "";
    filterInput.removeAttribute("aria-invalid");
    saveState({ filter: filterText });
    refresh();
  } else {
    filterError.textContent = `Filter: ${parsed.error}`;
    filterInput.setAttribute("aria-invalid", "true");
  }
}

let filterTimer: ReturnType<typeof setTimeout> | undefined;
filterInput.addEventListener("input", () => {
  if (filterTimer) clearTimeout(filterTimer);
  filterTimer = setTimeout(applyFilter, 150);
});
filterInput.addEventListener("keydown", (e) => {
  if (e.key === "Enter") applyFilter();
});

columnsButton.addEventListener("click", () => {
  chooser.hidden = !chooser.hidden;
  columnsButton.setAttribute("aria-expanded", chooser.hidden ? "false" : "true");
  renderChooser(allColumns(rows));
});

let scheduled = false;
scroller.addEventListener("scroll", () => {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    draw();
  });
});
window.addEventListener("resize", () => draw(true));

function rowOf(target: EventTarget | null): string | null {
  const el = target instanceof Element ? target.closest("[data-run]") : null;
  return el?.getAttribute("data-run") ?? null;
}

spacer.addEventListener("click", (e) => {
  const id = rowOf(e.target);
  if (!id) return;
  const mode = e.shiftKey ? "range" : e.ctrlKey || e.metaKey ? "toggle" : "single";
  selected = clickSelection(selected, shown, id, anchor, mode);
  if (mode !== "range") anchor = id;
  draw(true);
  updateCount();
  drawCharts();
});
spacer.addEventListener("dblclick", (e) => {
  const id = rowOf(e.target);
  if (id) post({ type: "openRun", runId: id });
});
compareButton.addEventListener("click", () => {
  const ids = shown.filter((r) => selected.has(r.id)).map((r) => r.id);
  if (ids.length >= 2 && ids.length <= MAX_COMPARE) post({ type: "compareRuns", runIds: ids });
});

// ------------------------------------------------------------------ charts (uPlot)

const CHART_HEIGHT = 260;
const PARALLEL_LIMIT = 300;
let chartX = typeof saved.chartX === "string" ? saved.chartX : "";
let chartY = typeof saved.chartY === "string" ? saved.chartY : "";
let scatterPlot: uPlot | null = null;
let parallelPlot: uPlot | null = null;
let chartTimer: ReturnType<typeof setTimeout> | undefined;

function options(select: HTMLSelectElement, ids: ColumnId[], current: string): string {
  clear(select);
  for (const id of ids) {
    const c = column(id);
    select.appendChild(h("option", { attrs: { value: id } }, `${c.kind} ${c.name}`));
  }
  const value = ids.includes(current) ? current : (ids[0] ?? "");
  select.value = value;
  return value;
}

function axisStyle(): Partial<uPlot.Axis> {
  const fg = cssVar("--vscode-foreground", "#ccc");
  const grid = cssVar("--vscode-panel-border", "#8884");
  return { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
}

/** The rows the charts show: the selection when two or more are selected, else every
 * row the filter keeps (in the table's order). */
function chartRows(): TableRow[] {
  const picked = shown.filter((r) => selected.has(r.id));
  return picked.length >= 2 ? picked : shown;
}

function drawCharts(): void {
  if (charts.hidden) return;
  if (chartTimer) clearTimeout(chartTimer);
  chartTimer = setTimeout(drawChartsNow, 50);
}

function drawChartsNow(): void {
  const available = allColumns(rows).filter((id) => column(id).kind !== "field");
  const metrics = available.filter((id) => column(id).kind === "metric");
  const params = available.filter((id) => column(id).kind === "param");
  chartX = options(xSelect, [...params, ...metrics], chartX);
  chartY = options(ySelect, metrics, chartY);
  scatterPlot?.destroy();
  parallelPlot?.destroy();
  scatterPlot = parallelPlot = null;
  const data = chartRows();
  const width = Math.max(300, app.clientWidth - 40);
  if (!chartX || !chartY) {
    chartNote.textContent = "No params and metrics to chart: the runs logged none.";
    return;
  }
  const scatter = scatterPoints(data, chartX, chartY);
  const cats = scatter.xAxis?.categories ?? null;
  chartNote.textContent =
    `${scatter.xs.length} of ${data.length} ${data === shown ? "runs kept by the filter" : "selected runs"} ` +
    `have both ${column(chartX).name} and ${column(chartY).name}.`;
  const color = paletteColor(0);
  scatterPlot = new uPlot(
    {
      width,
      height: CHART_HEIGHT,
      scales: { x: { time: false } },
      series: [
        { label: column(chartX).name, value: (_u, v) => (cats ? (cats[v] ?? "") : formatValue(v)) },
        {
          label: column(chartY).name,
          stroke: color,
          fill: color,
          paths: () => null,
          points: { show: true, size: 6, space: 0, stroke: color, fill: color },
          value: (_u, v) => formatValue(v),
        },
      ],
      axes: [
        { ...axisStyle(), values: (_u, splits) => splits.map((v) => (cats ? (Number.isInteger(v) ? (cats[v] ?? "") : "") : formatValue(v))) },
        { ...axisStyle(), size: 64, values: (_u, splits) => splits.map((v) => formatValue(v)) },
      ],
      legend: { live: true },
    },
    [scatter.xs, scatter.ys],
    scatterHost,
  );

  // parallel coordinates: every param, then the objective last
  const axesIds = [...params, chartY];
  const parallel = parallelLines(data, axesIds, PARALLEL_LIMIT);
  if (parallel.axes.length < 2) {
    parallelAxesNote.textContent = "Parallel coordinates need two or more params or metrics with values.";
    return;
  }
  const objective = parallel.axes.length - 1;
  const series: uPlot.Series[] = [{ label: "axis" }];
  for (const line of parallel.lines) {
    const v = line.values[objective];
    // the objective's place colours the line: low values one end of the palette, high the other
    series.push({
      label: line.id,
      stroke: v === null || v === undefined ? cssVar("--vscode-disabledForeground", "#888") : lineColor(v),
      width: 1,
      points: { show: false },
      spanGaps: false,
    });
  }
  parallelPlot = new uPlot(
    {
      width,
      height: CHART_HEIGHT,
      scales: { x: { time: false, range: [0, parallel.axes.length - 1] }, y: { range: [0, 1] } },
      series,
      axes: [
        {
          ...axisStyle(),
          splits: () => parallel.axes.map((_a, i) => i),
          values: (_u, splits) => splits.map((i) => column(parallel.axes[i]?.id ?? "").name),
        },
        { ...axisStyle(), show: false },
      ],
      legend: { show: false },
      cursor: { show: false },
    },
    [parallel.axes.map((_a, i) => i), ...parallel.lines.map((l) => l.values)],
    parallelHost,
  );
  const ranges = parallel.axes.map((a) =>
    a.categories ? `${column(a.id).name}: ${a.categories.join(", ")}` : `${column(a.id).name}: ${formatValue(a.min)} to ${formatValue(a.max)}`,
  );
  const cut = data.length > PARALLEL_LIMIT ? ` (the first ${PARALLEL_LIMIT} of ${data.length} runs)` : "";
  parallelAxesNote.textContent = `Axes, bottom to top${cut}: ${ranges.join(" · ")}`;
}

/** A colour between the palette's first (low) and second (high) chart colours. */
function lineColor(t: number): string {
  const hue = 210 - 210 * Math.max(0, Math.min(1, t)); // blue (low) to red (high)
  return `hsl(${hue.toFixed(0)}, 70%, 55%)`;
}

xSelect.addEventListener("change", () => {
  chartX = xSelect.value;
  saveState({ chartX });
  drawCharts();
});
ySelect.addEventListener("change", () => {
  chartY = ySelect.value;
  saveState({ chartY });
  drawCharts();
});
chartsButton.addEventListener("click", () => {
  charts.hidden = !charts.hidden;
  chartsButton.setAttribute("aria-expanded", charts.hidden ? "false" : "true");
  saveState({ charts: !charts.hidden });
  if (charts.hidden) {
    scatterPlot?.destroy();
    parallelPlot?.destroy();
    scatterPlot = parallelPlot = null;
  } else drawCharts();
});
onThemeChange(() => drawCharts());
if (saved.charts === true) {
  charts.hidden = false;
  chartsButton.setAttribute("aria-expanded", "true");
}

let liveTimer: ReturnType<typeof setTimeout> | undefined;

/** A run changed: its row now, the order and the charts at most four times a second
 * (live runs push often, and 10,000 rows are sorted anew each time). */
function updateRun(run: RunInfo): void {
  const row = byId.get(run.id);
  if (!row) return; // a new run: the host sends the table again
  row.status = run.status;
  row.duration = run.duration ?? row.duration;
  row.metrics = { ...(run.metrics ?? {}) };
  if (liveTimer) return;
  liveTimer = setTimeout(() => {
    liveTimer = undefined;
    refresh();
  }, 250);
}

const initial = parseFilter(filterText);
if (initial.ok) filter = initial.filter;
else filterError.textContent = `Filter: ${initial.error}`;

startView(banner, {
  runsTable: (m) => {
    showError(banner, null);
    title.textContent = m.title;
    if (m.objective && !chartY) chartY = `metric:${m.objective}`;
    rows = m.runs.map((r) => tableRow(r, m.params[r.id]));
    byId.clear();
    for (const r of rows) byId.set(r.id, r);
    const ids = new Set(rows.map((r) => r.id));
    selected = new Set([...selected].filter((id) => ids.has(id)));
    refresh();
  },
  run: (m) => updateRun(m.run),
});
