// Metric charts (uPlot, canvas) shared by the Run details and Compare views: one chart
// per metric key, one line per run, raw values faint under their exponential moving
// average, x as step / relative time / wall time, linear or log y. Updates are
// batched: a chart redraws at most once per animation frame however many points come.
//
// Zoom: dragging across a chart selects an x range (uPlot's select); the chart then
// asks for each run's points in that range again (`onZoom`: a step range per line,
// `zoomStepRange`), and shows the answer (`showZoomed`) at full resolution where the
// range is short enough; a double-click goes back to the whole series. While zoomed,
// the whole series is kept aside, and live points go to it.
import uPlot from "uplot";
import { cssVar, h, onThemeChange } from "./dom";
import { extraLineColor, formatElapsed, formatValue, NO_VALUE } from "./format";
import {
  alignLines,
  appendLive,
  appendPoints,
  ema,
  fromColumns,
  inStepRange,
  relativeOrigin,
  toLine,
  zoomStepRange,
  type Points,
  type StepRange,
  type XMode,
} from "./series";
import { clampSmoothing, MAX_SMOOTHING, parseChartSettings, type ChartSettings } from "./viewState";
import { saveState } from "./vscodeApi";

// ------------------------------------------------------------------ frame batching

const pending = new Set<() => void>();
let frameRequested = false;

/** Run `fn` in the next animation frame, once, however often it is asked for. */
export function inNextFrame(fn: () => void): void {
  pending.add(fn);
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    const jobs = [...pending];
    pending.clear();
    for (const job of jobs) {
      try {
        job();
      } catch (err) {
        console.error("Runyard chart: redraw failed", err);
      }
    }
  });
}

// ------------------------------------------------------------------ theme

const PALETTE_VARS: readonly [string, string][] = [
  ["--vscode-charts-blue", "#3794ff"],
  ["--vscode-charts-red", "#f14c4c"],
  ["--vscode-charts-green", "#89d185"],
  ["--vscode-charts-yellow", "#cca700"],
  ["--vscode-charts-orange", "#d18616"],
  ["--vscode-charts-purple", "#b180d7"],
];

/** The n-th line's colour: the theme's chart palette first, then generated hues (so a
 * seventh run does not take the first one's colour). */
export function paletteColor(n: number): string {
  const entry = PALETTE_VARS[n];
  if (entry) return cssVar(entry[0], entry[1]);
  return extraLineColor(n - PALETTE_VARS.length);
}

interface Theme {
  foreground: string;
  grid: string;
  font: string;
}

function readTheme(): Theme {
  const family = cssVar("--vscode-font-family", "sans-serif");
  const size = cssVar("--vscode-font-size", "12px");
  return {
    foreground: cssVar("--vscode-editor-foreground", "#cccccc"),
    grid: cssVar("--vscode-editorWidget-border", cssVar("--vscode-panel-border", "#80808040")),
    font: `${size} ${family}`,
  };
}

const charts = new Set<MetricChart>();
let themeWatch = false;

function watchTheme(): void {
  if (themeWatch) return;
  themeWatch = true;
  onThemeChange(() => {
    for (const c of charts) c.refresh();
  });
}

// ------------------------------------------------------------------ the chart

export interface LineInfo {
  /** The run id. */
  id: string;
  label: string;
  color: string;
  /** Where relative time is 0 (epoch seconds): the run's start; null: its first point. */
  origin: number | null;
}

interface LineState extends LineInfo {
  points: Points;
  /** Points the run logged in all (the series may hold a downsampled cut). */
  total: number;
  /** While zoomed: the whole series (`points` holds the zoomed range), else null. */
  whole: Points | null;
  /** While zoomed: the steps asked for. */
  range: StepRange | null;
}

/** One run's steps in a zoomed chart. */
export interface LineRange extends StepRange {
  runId: string;
}

/** Told when a chart was zoomed: the runs' step ranges to read again, numbered `zoom`
 * (the answer goes to `MetricChart.showZoomed` with that number). */
export type ZoomHandler = (key: string, zoom: number, ranges: LineRange[]) => void;

/** A series as the server sends it, for `showZoomed`. */
export interface SeriesColumns {
  runId: string;
  steps: number[];
  times: number[];
  values: (number | null)[];
}

const X_LABELS: Record<XMode, string> = { step: "step", relative: "time", wall: "wall time" };
const HEIGHT = 240;

export class MetricChart {
  /** The element to place: class "chart", data-metric=<key>. */
  readonly root: HTMLElement;
  private readonly plotHost: HTMLElement;
  private readonly note: HTMLElement;
  private readonly lines = new Map<string, LineState>();
  private plot: uPlot | null = null;
  private settings: ChartSettings;
  private needsBuild = true;
  private needsData = false;
  private zoomed = false;
  /** The number of the last zoom asked for; answers to others are dropped. */
  private zoom = 0;
  private width = 0;
  /** Where a zoom's request goes (set by the board). */
  onZoom: ZoomHandler | null = null;
  private readonly resizer: ResizeObserver;
  private readonly flush = (): void => this.redraw();

  constructor(
    readonly key: string,
    settings: ChartSettings,
  ) {
    this.settings = { ...settings };
    this.plotHost = h("div", { className: "chart-plot" });
    this.note = h("span", { className: "chart-note muted" });
    this.root = h(
      "section",
      { className: "chart", attrs: { "data-metric": key } },
      h("h3", { className: "chart-title" }, key),
      this.note,
      this.plotHost,
    );
    this.resizer = new ResizeObserver(() => {
      const w = this.plotHost.clientWidth;
      if (w > 0 && Math.abs(w - this.width) >= 1) inNextFrame(this.flush);
    });
    this.resizer.observe(this.plotHost);
    charts.add(this);
    watchTheme();
  }

  hasLine(id: string): boolean {
    return this.lines.has(id);
  }

  /** Replace a line's points with a full series (columns as the server sends them). */
  setSeries(info: LineInfo, steps: number[], times: number[], values: (number | null)[], total?: number): void {
    const points = fromColumns(steps, times, values);
    const prev = this.lines.get(info.id);
    const all = Math.max(total ?? 0, points.steps.length);
    if (prev?.whole) {
      // Zoomed: the whole series is kept aside for the reset; the zoomed points stay.
      const restyle = prev.label !== info.label || prev.color !== info.color;
      Object.assign(prev, info, { whole: points, total: all });
      this.invalidate(restyle);
      return;
    }
    this.lines.set(info.id, { ...info, points, total: all, whole: null, range: null });
    this.invalidate(!prev || prev.label !== info.label || prev.color !== info.color);
  }

  /** Append live points to a line (created when new); decimated locally when long. */
  append(info: LineInfo, steps: number[], times: number[], values: (number | null)[]): void {
    let line = this.lines.get(info.id);
    const isNew = line === undefined;
    if (!line) {
      line = { ...info, points: { steps: [], times: [], values: [] }, total: 0, whole: null, range: null };
      this.lines.set(info.id, line);
    }
    if (line.whole) {
      // Zoomed: into the whole series, and the points in the zoomed range into view too.
      const { points, added } = appendLive(line.whole, { steps, times, values });
      line.whole = points;
      line.total += added;
      const range = line.range;
      const inside = range ? steps.flatMap((s, i) => (inStepRange(range, s) ? [i] : [])) : [];
      if (inside.length > 0) {
        appendPoints(line.points, {
          steps: inside.map((i) => steps[i] as number),
          times: inside.map((i) => times[i] as number),
          values: inside.map((i) => values[i] ?? null),
        });
        this.invalidate(false);
      }
      return;
    }
    const { points, added } = appendLive(line.points, { steps, times, values });
    line.points = points;
    line.total += added;
    this.invalidate(isNew);
  }

  /** Change a line's label, colour or origin (e.g. the best run changed). */
  updateLine(info: LineInfo): void {
    const line = this.lines.get(info.id);
    if (!line) return;
    if (line.label === info.label && line.color === info.color && line.origin === info.origin) return;
    Object.assign(line, info);
    this.invalidate(true);
  }

  removeLinesExcept(ids: ReadonlySet<string>): void {
    let removed = false;
    for (const id of [...this.lines.keys()]) {
      if (!ids.has(id)) {
        this.lines.delete(id);
        removed = true;
      }
    }
    if (removed) this.invalidate(true);
  }

  /** Zoomed to x in [lo, hi] (axis units): ask for each line's points in that range
   * again (`onZoom`), keeping the whole series aside. Nothing is asked when no line has
   * points in or around the range. */
  zoomTo(lo: number, hi: number): void {
    const { xMode } = this.settings;
    const ranges: LineRange[] = [];
    for (const line of this.lines.values()) {
      // The points shown (a zoom in a zoom brackets the finer ones); time from the whole.
      const origin = line.origin ?? relativeOrigin(line.whole ?? line.points);
      const range = zoomStepRange(line.points, xMode, origin, lo, hi);
      if (range) ranges.push({ runId: line.id, ...range });
    }
    if (ranges.length === 0 || !this.onZoom) return;
    this.zoom += 1;
    for (const line of this.lines.values()) {
      line.whole ??= line.points;
      line.range = ranges.find((r) => r.runId === line.id) ?? null;
    }
    this.updateNote();
    this.onZoom(this.key, this.zoom, ranges);
  }

  /** The answer to zoom request `zoom`: each line asked for shows these points (none
   * when the server had none in its range). An answer to an older zoom, or one that
   * comes after the reset, is dropped. */
  showZoomed(zoom: number, series: readonly SeriesColumns[]): void {
    if (zoom !== this.zoom || !this.isZoomed()) return;
    for (const line of this.lines.values()) {
      if (!line.whole || !line.range) continue;
      const s = series.find((x) => x.runId === line.id);
      line.points = s ? fromColumns(s.steps, s.times, s.values) : { steps: [], times: [], values: [] };
    }
    this.invalidate(false);
  }

  /** Back to the whole series (a double-click, or a new plot). */
  resetZoom(): void {
    this.zoomed = false;
    if (!this.isZoomed()) return;
    this.zoom += 1; // an answer still on its way is for a zoom no longer shown
    for (const line of this.lines.values()) {
      if (line.whole) line.points = line.whole;
      line.whole = null;
      line.range = null;
    }
    this.invalidate(false);
  }

  /** Whether the chart shows (or waits for) a zoomed range. */
  isZoomed(): boolean {
    for (const line of this.lines.values()) if (line.whole) return true;
    return false;
  }

  setSettings(settings: ChartSettings): void {
    const smoothingOnOff = settings.smoothing > 0 !== this.settings.smoothing > 0;
    const rebuild =
      smoothingOnOff || settings.xMode !== this.settings.xMode || settings.logScale !== this.settings.logScale;
    this.settings = { ...settings };
    this.invalidate(rebuild);
  }

  /** Rebuild with the current theme colours. */
  refresh(): void {
    this.invalidate(true);
  }

  destroy(): void {
    this.resizer.disconnect();
    this.plot?.destroy();
    this.plot = null;
    charts.delete(this);
    this.root.remove();
  }

  private invalidate(rebuild: boolean): void {
    if (rebuild) this.needsBuild = true;
    else this.needsData = true;
    inNextFrame(this.flush);
  }

  private data(): uPlot.AlignedData {
    const { xMode, logScale, smoothing } = this.settings;
    const w = clampSmoothing(smoothing);
    const lines = [...this.lines.values()].map((line) => {
      const origin = line.origin ?? relativeOrigin(line.whole ?? line.points);
      const l = toLine(line.points, xMode, origin, logScale);
      return { x: l.x, ys: w > 0 ? [l.y, ema(l.y, w)] : [l.y] };
    });
    if (lines.length === 0) return [[]];
    return alignLines(lines);
  }

  private updateNote(): void {
    let shown = 0;
    let total = 0;
    let hiddenByLog = false;
    for (const line of this.lines.values()) {
      shown += line.points.steps.length;
      total += line.total;
      if (this.settings.logScale && !hiddenByLog) {
        hiddenByLog = line.points.values.some((v) => v !== null && v <= 0);
      }
    }
    const parts: string[] = [];
    const ranges = [...this.lines.values()].flatMap((l) => (l.range ? [l.range] : []));
    if (ranges.length > 0) {
      const from = Math.min(...ranges.map((r) => r.stepFrom)).toLocaleString();
      const to = Math.max(...ranges.map((r) => r.stepTo)).toLocaleString();
      parts.push(`zoomed to steps ${from}–${to}: ${shown.toLocaleString()} points`, "double-click to see all");
    } else if (total > shown) {
      parts.push(`showing ${shown.toLocaleString()} of ${total.toLocaleString()} points`);
    } else {
      parts.push(`${total.toLocaleString()} point${total === 1 ? "" : "s"}`);
    }
    if (hiddenByLog) parts.push("values ≤ 0 are not shown on a log scale");
    this.note.textContent = parts.join(" · ");
  }

  private options(width: number): uPlot.Options {
    const theme = readTheme();
    const { xMode, logScale, smoothing } = this.settings;
    const smooth = smoothing > 0;
    const series: uPlot.Series[] = [
      {
        label: X_LABELS[xMode],
        value: (_u, v) => formatX(xMode, v),
      },
    ];
    for (const line of this.lines.values()) {
      series.push({
        label: line.label,
        stroke: line.color,
        width: smooth ? 1 : 1.5,
        alpha: smooth ? 0.3 : 1,
        class: smooth ? "raw" : "line",
        spanGaps: false,
        points: { show: lonePoint, size: 6 },
        value: (_u, v) => formatValue(v),
      });
      if (smooth) {
        series.push({
          label: `${line.label} (smoothed)`,
          stroke: line.color,
          width: 2,
          class: "smoothed",
          spanGaps: false,
          points: { show: lonePoint, size: 7, fill: line.color },
          value: (_u, v) => formatValue(v),
        });
      }
    }
    const axis = (extra: uPlot.Axis): uPlot.Axis => ({
      stroke: theme.foreground,
      font: theme.font,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1 },
      ...extra,
    });
    const xAxis: uPlot.Axis =
      xMode === "relative"
        ? axis({ values: (_u, splits) => splits.map((v) => formatElapsed(v)) })
        : axis({});
    return {
      width,
      height: HEIGHT,
      series,
      scales: {
        x: { time: xMode === "wall" },
        y: logScale ? { distr: 3, log: 10 } : { distr: 1 },
      },
      axes: [xAxis, axis({ size: 64, values: (_u, splits) => splits.map((v) => formatTick(v)) })],
      cursor: { drag: { x: true, y: false }, focus: { prox: 24 } },
      focus: { alpha: 0.4 },
      legend: { live: true },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width <= 0) return;
            this.zoomed = true;
            this.zoomTo(u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"));
          },
        ],
      },
    };
  }

  private redraw(): void {
    const width = Math.max(this.plotHost.clientWidth, 200);
    this.updateNote();
    if (this.needsBuild || !this.plot) {
      this.needsBuild = false;
      this.needsData = false;
      this.plot?.destroy();
      this.resetZoom(); // a new plot shows the whole series
      this.needsData = false;
      const plot = new uPlot(this.options(width), this.data(), this.plotHost);
      plot.over.addEventListener("dblclick", () => {
        this.resetZoom();
      });
      this.plot = plot;
      this.width = width;
      return;
    }
    if (this.needsData) {
      this.needsData = false;
      this.plot.setData(this.data(), !this.zoomed);
    }
    if (width !== this.width) {
      this.width = width;
      this.plot.setSize({ width, height: HEIGHT });
    }
  }
}

function formatX(mode: XMode, v: number | null): string {
  if (v === null || v === undefined) return NO_VALUE;
  if (mode === "relative") return formatElapsed(v);
  if (mode === "wall") return new Date(v * 1000).toLocaleString();
  return formatValue(v);
}

/** A y-axis tick: short. */
function formatTick(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "";
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return v.toExponential(1).replace(/\.0e/, "e");
  return String(Number(v.toPrecision(4)));
}

// ------------------------------------------------------------------ controls

/** The toolbar above the charts: x axis, smoothing, log scale. */
export function chartControls(
  initial: ChartSettings,
  onChange: (settings: ChartSettings) => void,
): HTMLElement {
  const settings = { ...initial };
  const xSelect = h(
    "select",
    { attrs: { id: "x-mode", "aria-label": "X axis" } },
    h("option", { attrs: { value: "step" } }, "Step"),
    h("option", { attrs: { value: "relative" } }, "Relative time"),
    h("option", { attrs: { value: "wall" } }, "Wall time"),
  );
  xSelect.value = settings.xMode;
  xSelect.addEventListener("change", () => {
    const v = xSelect.value;
    if (v === "step" || v === "relative" || v === "wall") settings.xMode = v;
    onChange({ ...settings });
  });

  const slider = h("input", {
    attrs: {
      id: "smoothing",
      type: "range",
      min: "0",
      max: String(MAX_SMOOTHING),
      step: "0.01",
      "aria-label": "Smoothing",
    },
  });
  slider.value = String(settings.smoothing);
  const sliderValue = h("output", { className: "smoothing-value", attrs: { for: "smoothing" } }, settings.smoothing.toFixed(2));
  slider.addEventListener("input", () => {
    settings.smoothing = clampSmoothing(Number(slider.value));
    sliderValue.textContent = settings.smoothing.toFixed(2);
    onChange({ ...settings });
  });

  const log = h("input", { attrs: { id: "log-scale", type: "checkbox" } });
  log.checked = settings.logScale;
  log.addEventListener("change", () => {
    settings.logScale = log.checked;
    onChange({ ...settings });
  });

  return h(
    "div",
    { className: "toolbar chart-controls" },
    h("label", { attrs: { for: "x-mode" } }, "X axis "),
    xSelect,
    h("label", { attrs: { for: "smoothing" } }, "Smoothing "),
    slider,
    sliderValue,
    h("label", { className: "check" }, log, " Log scale"),
  );
}

// ------------------------------------------------------------------ a set of charts

/** One chart per metric key, kept in key order inside `container`. */
export class ChartBoard {
  private readonly charts = new Map<string, MetricChart>();
  private readonly empty: HTMLElement;

  /** Where every chart's zoom requests go (the page posts them to the host). */
  onZoom: ZoomHandler | null = null;

  constructor(
    private readonly container: HTMLElement,
    private settings: ChartSettings,
    emptyText: string,
  ) {
    this.empty = h("p", { className: "muted charts-empty" }, emptyText);
    container.appendChild(this.empty);
  }

  /** The chart of `key`, created (in key order) when missing. */
  chart(key: string): MetricChart {
    let chart = this.charts.get(key);
    if (chart) return chart;
    chart = new MetricChart(key, this.settings);
    chart.onZoom = (k, zoom, ranges) => this.onZoom?.(k, zoom, ranges);
    this.charts.set(key, chart);
    const next = [...this.charts.keys()].sort(compareKeys).find((k) => compareKeys(k, key) > 0);
    const before = next === undefined ? null : (this.charts.get(next)?.root ?? null);
    this.container.insertBefore(chart.root, before);
    this.empty.hidden = true;
    return chart;
  }

  get(key: string): MetricChart | undefined {
    return this.charts.get(key);
  }

  keys(): string[] {
    return [...this.charts.keys()];
  }

  all(): MetricChart[] {
    return [...this.charts.values()];
  }

  setSettings(settings: ChartSettings): void {
    this.settings = { ...settings };
    for (const c of this.charts.values()) c.setSettings(settings);
  }
}

/** The "Metrics" section of a chart view: the chart controls over a board of charts
 * (`emptyText` until the first metric comes). The settings start from the view's saved
 * state (`saved`) and each change is saved there, so a reopened view keeps them. */
export function metricsSection(
  saved: Record<string, unknown>,
  emptyText: string,
): { section: HTMLElement; board: ChartBoard } {
  const settings = parseChartSettings(saved);
  const chartsHost = h("div", { className: "charts" });
  const board = new ChartBoard(chartsHost, settings, emptyText);
  const controls = chartControls(settings, (next) => {
    saveState({ ...next });
    board.setSettings(next);
  });
  const section = h("section", { className: "metrics" }, h("h2", null, "Metrics"), controls, chartsHost);
  return { section, board };
}

function compareKeys(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" }) || (a < b ? -1 : a > b ? 1 : 0);
}

/** A line draws no segment for a point that has no neighbour in view: mark the points
 * when the visible part of a series holds fewer than two (a metric logged once). */
function lonePoint(u: uPlot, seriesIdx: number, idx0: number, idx1: number): boolean {
  const values = u.data[seriesIdx];
  if (!values) return false;
  let seen = 0;
  for (let i = idx0; i <= idx1 && seen < 2; i++) if (values[i] != null) seen++;
  return seen === 1;
}
