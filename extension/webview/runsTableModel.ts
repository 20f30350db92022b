// The runs table's pure parts, without the DOM (unit-tested in extension/test/
// runsTable.test.ts): the rows as the table reads them, its columns (the runs' own
// fields, then every param and every metric the runs have), sorting by any column, the
// filter expression, and which rows a scroll position shows (the page keeps only those
// in the DOM, so 10,000 runs scroll like 50).
//
// Filter expressions: comparisons joined by `and` / `or`, negated by `not`, grouped by
// parentheses:  lr > 0.01 and status == completed,  not (target == local or loss >= 1).
// A comparison is `name OP value`; OP is == != < <= > >= or ~ (contains, as text). The
// name is a field (id, status, experiment, target, user, duration, created), a param or a
// metric, by its bare name (a field first, then a param, then a metric) or written
// `params.<name>` / `metrics.<name>`; the value is a number, a word, or a quoted string
// (quoted when it is one of the words and, or, not).
// Numbers compare as numbers when both sides are numbers, text otherwise; a run without
// that param or metric matches no comparison but `!=`. A small hand-written parser: no
// eval, no Function, nothing of the text is ever run.
import type { RunInfo } from "../src/protocol";
import { runUser } from "../src/teamStore";

export interface TableRow {
  id: string;
  status: string;
  experiment: string;
  target: string;
  /** Who ran it: `runUser`. */
  user: string | null;
  created: number;
  duration: number | null;
  params: Record<string, string>;
  metrics: Record<string, number | null>;
}

export function tableRow(run: RunInfo, params: Record<string, string> | undefined): TableRow {
  return {
    id: run.id,
    status: run.status,
    experiment: run.experiment,
    target: run.target,
    user: runUser(run),
    created: run.created ?? 0,
    duration: run.duration ?? null,
    params: { ...(params ?? {}) },
    metrics: { ...(run.metrics ?? {}) },
  };
}

// ------------------------------------------------------------------ columns

/** "id", "status"…, "param:<name>" or "metric:<name>". */
export type ColumnId = string;

export const FIELD_COLUMNS: readonly ColumnId[] = ["id", "status", "experiment", "target", "user", "created", "duration"];

export interface Column {
  id: ColumnId;
  kind: "field" | "param" | "metric";
  name: string;
}

export function column(id: ColumnId): Column {
  if (id.startsWith("param:")) return { id, kind: "param", name: id.slice("param:".length) };
  if (id.startsWith("metric:")) return { id, kind: "metric", name: id.slice("metric:".length) };
  return { id, kind: "field", name: id };
}

/** Every column the rows can show: the fields, then params and metrics by name. */
export function allColumns(rows: readonly TableRow[]): ColumnId[] {
  const params = new Set<string>();
  const metrics = new Set<string>();
  for (const r of rows) {
    for (const k in r.params) params.add(k);
    for (const k in r.metrics) metrics.add(k);
  }
  const sorted = (s: Set<string>): string[] => [...s].sort((a, b) => a.localeCompare(b));
  return [...FIELD_COLUMNS, ...sorted(params).map((k) => `param:${k}`), ...sorted(metrics).map((k) => `metric:${k}`)];
}

/** The columns shown by default: the fields but `created`, every param, every metric;
 * a saved choice is kept where its columns still exist, and new columns are added. */
export function defaultColumns(available: readonly ColumnId[], saved?: readonly ColumnId[], known?: readonly ColumnId[]): ColumnId[] {
  if (!saved) return available.filter((c) => c !== "created");
  const seen = new Set(known ?? []);
  return [...saved.filter((c) => available.includes(c)), ...available.filter((c) => !seen.has(c) && !saved.includes(c))];
}

/** A cell's value: a number, a string, or null (none). */
export function cellValue(row: TableRow, id: ColumnId): string | number | null {
  const c = column(id);
  if (c.kind === "param") return row.params[c.name] ?? null;
  if (c.kind === "metric") return row.metrics[c.name] ?? null;
  switch (c.name) {
    case "id":
      return row.id;
    case "status":
      return row.status;
    case "experiment":
      return row.experiment;
    case "target":
      return row.target;
    case "user":
      return row.user;
    case "created":
      return row.created;
    case "duration":
      return row.duration;
    default:
      return null;
  }
}

// ------------------------------------------------------------------ sorting

function asNumber(v: string | number | null): number | null {
  if (typeof v === "number") return Number.isNaN(v) ? null : v;
  if (typeof v === "string" && v.trim() !== "" && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v.trim())) return Number(v);
  return null;
}

/** Order two cells: numbers (params written as numbers too) by value, then text; none last. */
export function compareCells(a: string | number | null, b: string | number | null): number {
  if (a === null || b === null) return a === null ? (b === null ? 0 : 1) : -1;
  const na = asNumber(a);
  const nb = asNumber(b);
  if (na !== null && nb !== null) return na - nb;
  if (na !== null) return -1;
  if (nb !== null) return 1;
  return String(a).localeCompare(String(b));
}

/** The rows sorted by a column (a new array, stable; runs with no value last either way). */
export function sortRows(rows: readonly TableRow[], id: ColumnId, descending: boolean): TableRow[] {
  const keyed = rows.map((row, i) => ({ row, i, v: cellValue(row, id) }));
  keyed.sort((x, y) => {
    if (x.v === null || y.v === null) return x.v === y.v ? x.i - y.i : x.v === null ? 1 : -1;
    const c = compareCells(x.v, y.v);
    return (descending ? -c : c) || x.i - y.i;
  });
  return keyed.map((k) => k.row);
}

// ------------------------------------------------------------------ filter

export type Filter = (row: TableRow) => boolean;
export type FilterResult = { ok: true; filter: Filter } | { ok: false; error: string; at: number };

type Token =
  | { t: "word"; v: string; at: number }
  | { t: "string"; v: string; at: number }
  | { t: "op"; v: string; at: number }
  | { t: "("; at: number }
  | { t: ")"; at: number }
  | { t: "end"; at: number };

const OPS = ["==", "!=", "<=", ">=", "<", ">", "~", "="];
/** Words that join comparisons: a value spelled so is quoted ("and"). */
const KEYWORDS = ["and", "or", "not"];

class FilterSyntaxError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? "";
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "(" || ch === ")") {
      out.push({ t: ch, at: i });
      i++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) throw new FilterSyntaxError(`the string at column ${i + 1} has no closing ${ch}`, i);
      out.push({ t: "string", v: text.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op) {
      out.push({ t: "op", v: op === "=" ? "==" : op, at: i });
      i += op.length;
      continue;
    }
    const m = /^[^\s()<>=!~"']+/.exec(text.slice(i));
    if (!m) throw new FilterSyntaxError(`unexpected ${JSON.stringify(ch)} at column ${i + 1}`, i);
    out.push({ t: "word", v: m[0], at: i });
    i += m[0].length;
  }
  out.push({ t: "end", at: text.length });
  return out;
}

/** The value a filter name reads from a row (see the header for the lookup order). */
function lookup(name: string): (row: TableRow) => string | number | null {
  if (name.startsWith("params.")) {
    const k = name.slice("params.".length);
    return (r) => r.params[k] ?? null;
  }
  if (name.startsWith("metrics.")) {
    const k = name.slice("metrics.".length);
    return (r) => r.metrics[k] ?? null;
  }
  if (FIELD_COLUMNS.includes(name)) return (r) => cellValue(r, name);
  return (r) => (name in r.params ? (r.params[name] ?? null) : (r.metrics[name] ?? null));
}

function comparison(op: string, left: (row: TableRow) => string | number | null, raw: string): Filter {
  const number = asNumber(raw);
  const lower = raw.toLowerCase();
  return (row) => {
    const v = left(row);
    if (v === null) return op === "!=";
    if (op === "~") return String(v).toLowerCase().includes(lower);
    const nv = asNumber(v);
    const c = nv !== null && number !== null ? nv - number : String(v).localeCompare(raw);
    switch (op) {
      case "==":
        return c === 0;
      case "!=":
        return c !== 0;
      case "<":
        return c < 0;
      case "<=":
        return c <= 0;
      case ">":
        return c > 0;
      default:
        return c >= 0;
    }
  };
}

/** Parse a filter expression; an empty one keeps every row. Errors say where. */
export function parseFilter(text: string): FilterResult {
  if (!text.trim()) return { ok: true, filter: () => true };
  let tokens: Token[];
  try {
    tokens = tokenize(text);
  } catch (err) {
    const e = err as FilterSyntaxError;
    return { ok: false, error: e.message, at: e.at };
  }
  let pos = 0;
  const peek = (): Token => tokens[pos] ?? { t: "end", at: text.length };
  const isWord = (tok: Token, w: string): boolean => tok.t === "word" && tok.v.toLowerCase() === w;
  const where = (tok: Token): string => (tok.t === "end" ? "at the end" : `at column ${tok.at + 1}`);

  function orExpr(): Filter {
    let left = andExpr();
    while (isWord(peek(), "or")) {
      pos++;
      const a = left;
      const b = andExpr();
      left = (r) => a(r) || b(r);
    }
    return left;
  }
  function andExpr(): Filter {
    let left = notExpr();
    while (isWord(peek(), "and")) {
      pos++;
      const a = left;
      const b = notExpr();
      left = (r) => a(r) && b(r);
    }
    return left;
  }
  function notExpr(): Filter {
    if (isWord(peek(), "not")) {
      pos++;
      const inner = notExpr();
      return (r) => !inner(r);
    }
    return primary();
  }
  function primary(): Filter {
    const tok = peek();
    if (tok.t === "(") {
      pos++;
      const inner = orExpr();
      const close = peek();
      if (close.t !== ")") throw new FilterSyntaxError(`expected ")" ${where(close)}`, close.at);
      pos++;
      return inner;
    }
    if (tok.t !== "word" || KEYWORDS.includes(tok.v.toLowerCase())) {
      throw new FilterSyntaxError(`expected a name (a field, param or metric) ${where(tok)}`, tok.at);
    }
    pos++;
    const op = peek();
    if (op.t !== "op") {
      throw new FilterSyntaxError(`expected a comparison (== != < <= > >= ~) after ${tok.v} ${where(op)}`, op.at);
    }
    pos++;
    const value = peek();
    if ((value.t !== "word" && value.t !== "string") || (value.t === "word" && KEYWORDS.includes(value.v.toLowerCase()))) {
      throw new FilterSyntaxError(`expected a value after ${tok.v} ${op.v} ${where(value)}`, value.at);
    }
    pos++;
    return comparison(op.v, lookup(tok.v), value.v);
  }

  try {
    const filter = orExpr();
    const rest = peek();
    if (rest.t !== "end") throw new FilterSyntaxError(`expected "and", "or" or the end ${where(rest)}`, rest.at);
    return { ok: true, filter };
  } catch (err) {
    if (err instanceof FilterSyntaxError) return { ok: false, error: err.message, at: err.at };
    throw err;
  }
}

// ------------------------------------------------------------------ the view's rows

/** The rows the table shows: filtered, then sorted. */
export function viewRows(rows: readonly TableRow[], filter: Filter, sort: ColumnId, descending: boolean): TableRow[] {
  return sortRows(
    rows.filter((r) => filter(r)),
    sort,
    descending,
  );
}

/** Which rows [start, end) a scroll position shows, with `overscan` rows either side. */
export function visibleRange(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  total: number,
  overscan = 10,
): { start: number; end: number } {
  if (total <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const count = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(total, first - overscan));
  const end = Math.min(total, first + count + overscan);
  return { start, end: Math.max(start, end) };
}

/** A selection after a click on row `id` (of `ordered`, the rows as shown): a plain
 * click selects it alone, Ctrl/Cmd toggles it, Shift extends from `anchor`. */
export function clickSelection(
  selected: ReadonlySet<string>,
  ordered: readonly TableRow[],
  id: string,
  anchor: string | null,
  mode: "single" | "toggle" | "range",
): Set<string> {
  if (mode === "toggle") {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return next;
  }
  if (mode === "range" && anchor !== null) {
    const a = ordered.findIndex((r) => r.id === anchor);
    const b = ordered.findIndex((r) => r.id === id);
    if (a >= 0 && b >= 0) {
      const next = new Set(selected);
      for (let i = Math.min(a, b); i <= Math.max(a, b); i++) {
        const row = ordered[i];
        if (row) next.add(row.id);
      }
      return next;
    }
  }
  return new Set([id]);
}

// ------------------------------------------------------------------ charts

/** A column's values on a chart axis: numbers as they are, anything else (a param such
 * as opt=adam) by its place among the column's distinct values, sorted. */
export interface Axis {
  id: ColumnId;
  /** The distinct non-numeric values, in axis order; null for a numeric column. */
  categories: string[] | null;
  min: number;
  max: number;
}

export function chartAxis(rows: readonly TableRow[], id: ColumnId): Axis | null {
  const values = rows.map((r) => cellValue(r, id)).filter((v): v is string | number => v !== null);
  if (values.length === 0) return null;
  const numbers = values.map(asNumber).filter((n): n is number => n !== null);
  if (numbers.length === values.length) {
    let min = Infinity;
    let max = -Infinity;
    for (const n of numbers) {
      if (n < min) min = n;
      if (n > max) max = n;
    }
    return { id, categories: null, min, max };
  }
  const categories = [...new Set(values.map(String))].sort((a, b) => a.localeCompare(b));
  return { id, categories, min: 0, max: Math.max(0, categories.length - 1) };
}

/** Where a row sits on an axis (null: no value). */
export function axisValue(axis: Axis, row: TableRow): number | null {
  const v = cellValue(row, axis.id);
  if (v === null) return null;
  if (axis.categories) {
    const i = axis.categories.indexOf(String(v));
    return i < 0 ? null : i;
  }
  return asNumber(v);
}

/** A param-vs-objective scatter: the rows with a value on both axes, by x ascending
 * (uPlot's order), with their run ids. */
export function scatterPoints(
  rows: readonly TableRow[],
  x: ColumnId,
  y: ColumnId,
): { xAxis: Axis | null; xs: number[]; ys: number[]; ids: string[] } {
  const xAxis = chartAxis(rows, x);
  const points: [number, number, string][] = [];
  if (xAxis) {
    for (const r of rows) {
      const xv = axisValue(xAxis, r);
      const yv = asNumber(cellValue(r, y));
      if (xv !== null && yv !== null && Number.isFinite(yv)) points.push([xv, yv, r.id]);
    }
  }
  points.sort((a, b) => a[0] - b[0]);
  return { xAxis, xs: points.map((p) => p[0]), ys: points.map((p) => p[1]), ids: points.map((p) => p[2]) };
}

/** Parallel coordinates: one axis per column (those with a value in some row), each
 * row a line through its place on every axis, scaled to 0..1 (null where it has no
 * value). At most `limit` rows, in the order given. */
export function parallelLines(
  rows: readonly TableRow[],
  columnIds: readonly ColumnId[],
  limit = 300,
): { axes: Axis[]; lines: { id: string; values: (number | null)[] }[] } {
  const kept = rows.slice(0, limit);
  const axes = columnIds.map((id) => chartAxis(kept, id)).filter((a): a is Axis => a !== null);
  const lines = kept.map((r) => ({
    id: r.id,
    values: axes.map((a) => {
      const v = axisValue(a, r);
      if (v === null) return null;
      return a.max > a.min ? (v - a.min) / (a.max - a.min) : 0.5;
    }),
  }));
  return { axes, lines };
}
