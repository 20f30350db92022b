// Pure series logic for the chart webviews: ordering, live appends, local min/max
// decimation, exponential smoothing and x-axis transforms. No DOM here, so the unit
// tests can import it under Node.

/** One metric of one run, kept sorted by step (ties: by wall time, then arrival). */
export interface Points {
  steps: number[];
  /** Wall time, seconds since the epoch. */
  times: number[];
  /** null: NaN or an infinity (JSON cannot carry them). */
  values: (number | null)[];
}

export type XMode = "step" | "relative" | "wall";

export const X_MODES: readonly XMode[] = ["step", "relative", "wall"];

/** Above this many points a live series is decimated locally ... */
export const LIVE_LIMIT = 5000;
/** ... down to this many, so appends stay amortised O(1) and memory stays bounded. */
export const LIVE_TARGET = 2500;

export function emptyPoints(): Points {
  return { steps: [], times: [], values: [] };
}

function before(a: Points, i: number, b: Points, j: number): boolean {
  const sa = a.steps[i] as number;
  const sb = b.steps[j] as number;
  return sa < sb || (sa === sb && (a.times[i] as number) <= (b.times[j] as number));
}

function isSorted(p: Points): boolean {
  for (let i = 1; i < p.steps.length; i++) {
    if (!before(p, i - 1, p, i)) return false;
  }
  return true;
}

function take(p: Points, order: readonly number[]): Points {
  const out = emptyPoints();
  for (const i of order) {
    out.steps.push(p.steps[i] as number);
    out.times.push(p.times[i] as number);
    out.values.push(p.values[i] ?? null);
  }
  return out;
}

/** Copy columns (as the server sends them, in arrival order) into step order. The
 * columns are cut to the shortest of the three if their lengths disagree. */
export function fromColumns(
  steps: readonly number[],
  times: readonly number[],
  values: readonly (number | null)[],
): Points {
  const n = Math.min(steps.length, times.length, values.length);
  const p: Points = {
    steps: steps.slice(0, n),
    times: times.slice(0, n),
    values: values.slice(0, n).map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null)),
  };
  if (isSorted(p)) return p;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => {
    const ds = (p.steps[i] as number) - (p.steps[j] as number);
    if (ds !== 0) return ds;
    const dt = (p.times[i] as number) - (p.times[j] as number);
    return dt !== 0 ? dt : i - j;
  });
  return take(p, order);
}

/**
 * Append live points to `target` (in place) keeping step order. Points already there
 * (same step and same wall time: a push that overlaps a series just read) are skipped.
 * The common case, new steps after the last one, is a plain push.
 * Returns the number of points added.
 */
export function appendPoints(target: Points, chunk: Points): number {
  const add = fromColumns(chunk.steps, chunk.times, chunk.values);
  const m = add.steps.length;
  if (m === 0) return 0;
  const n = target.steps.length;
  if (n === 0 || before(target, n - 1, add, 0)) {
    // Fast path: everything comes after what we hold; only the boundary can repeat.
    let start = 0;
    while (
      start < m &&
      n > 0 &&
      add.steps[start] === target.steps[n - 1] &&
      add.times[start] === target.times[n - 1]
    ) {
      start++;
    }
    for (let j = start; j < m; j++) {
      target.steps.push(add.steps[j] as number);
      target.times.push(add.times[j] as number);
      target.values.push(add.values[j] ?? null);
    }
    return m - start;
  }
  // General case: merge two sorted runs, dropping exact (step, time) repeats.
  const merged = emptyPoints();
  let i = 0;
  let j = 0;
  let added = 0;
  const push = (src: Points, k: number): void => {
    const last = merged.steps.length - 1;
    if (last >= 0 && merged.steps[last] === src.steps[k] && merged.times[last] === src.times[k]) {
      return;
    }
    merged.steps.push(src.steps[k] as number);
    merged.times.push(src.times[k] as number);
    merged.values.push(src.values[k] ?? null);
    if (src === add) added++;
  };
  while (i < n || j < m) {
    if (j >= m || (i < n && before(target, i, add, j))) push(target, i++);
    else push(add, j++);
  }
  target.steps = merged.steps;
  target.times = merged.times;
  target.values = merged.values;
  return added;
}

/**
 * Min/max decimation: split the points into contiguous buckets and keep, from each,
 * the points holding its minimum and its maximum (a bucket of nulls only keeps one
 * null, so the gap stays visible), plus the first and the last point. Spikes survive,
 * unlike with striding or averaging. The result has at most `maxPoints` points
 * (at least 4) and keeps step order.
 */
export function decimate(p: Points, maxPoints: number): Points {
  const n = p.steps.length;
  const limit = Math.max(4, Math.floor(maxPoints));
  if (n <= limit) return p;
  const buckets = Math.floor((limit - 2) / 2);
  const keep: number[] = [0];
  const values = p.values;
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets);
    const stop = Math.floor(((b + 1) * n) / buckets);
    let lo = -1;
    let hi = -1;
    let loV = Infinity;
    let hiV = -Infinity;
    for (let i = start; i < stop; i++) {
      const v = values[i];
      if (v === null || v === undefined) continue;
      if (v < loV) {
        loV = v;
        lo = i;
      }
      if (v > hiV) {
        hiV = v;
        hi = i;
      }
    }
    if (lo < 0) {
      lo = hi = start; // nothing but nulls: keep one to show the gap
    }
    const first = Math.min(lo, hi);
    const second = Math.max(lo, hi);
    if (first !== keep[keep.length - 1]) keep.push(first);
    if (second !== keep[keep.length - 1]) keep.push(second);
  }
  if (keep[keep.length - 1] !== n - 1) keep.push(n - 1);
  return take(p, keep);
}

/** Append live points, then decimate when the series grew past `limit`. Returns the
 * series to keep (the same object unless it was decimated) and how many points were new. */
export function appendLive(
  target: Points,
  chunk: Points,
  limit = LIVE_LIMIT,
  targetSize = LIVE_TARGET,
): { points: Points; added: number } {
  const added = appendPoints(target, chunk);
  const points = target.steps.length > limit ? decimate(target, targetSize) : target;
  return { points, added };
}

/**
 * Exponential moving average with TensorBoard's debiasing (the first points are not
 * pulled towards zero). `weight` 0 returns the values unchanged; null (NaN,
 * infinities, alignment holes) stays null and does not disturb the average.
 */
export function ema(values: readonly (number | null | undefined)[], weight: number): (number | null)[] {
  const w = Math.min(Math.max(Number.isFinite(weight) ? weight : 0, 0), 0.999);
  const out: (number | null)[] = new Array<number | null>(values.length);
  let last = 0;
  let decay = 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    if (w === 0) {
      out[i] = v;
      continue;
    }
    last = last * w + (1 - w) * v;
    decay *= w;
    out[i] = last / (1 - decay);
  }
  return out;
}

/** x values of `p` for an axis mode; `origin` (seconds) is where relative time is 0. */
export function xValues(p: Points, mode: XMode, origin: number): number[] {
  switch (mode) {
    case "step":
      return p.steps.slice();
    case "relative":
      return p.times.map((t) => t - origin);
    case "wall":
      return p.times.slice();
  }
}

/** The origin of relative time: the run's start, else its creation, else its first point. */
export function relativeOrigin(p: Points, started?: number | null, created?: number | null): number {
  if (typeof started === "number" && Number.isFinite(started)) return started;
  if (typeof created === "number" && Number.isFinite(created)) return created;
  let min = Infinity;
  for (const t of p.times) if (t < min) min = t;
  return Number.isFinite(min) ? min : 0;
}

export interface Line {
  x: number[];
  y: (number | null)[];
}

/**
 * A line ready to plot: x for the axis mode, sorted ascending (points in step order
 * may be out of wall-time order), y with values a log scale cannot show (<= 0) as null.
 */
export function toLine(p: Points, mode: XMode, origin: number, logScale: boolean): Line {
  let x = xValues(p, mode, origin);
  let y: (number | null)[] = logScale
    ? p.values.map((v) => (v !== null && v > 0 ? v : null))
    : p.values.slice();
  let sorted = true;
  for (let i = 1; i < x.length; i++) {
    if ((x[i] as number) < (x[i - 1] as number)) {
      sorted = false;
      break;
    }
  }
  if (!sorted) {
    const order = x.map((_, i) => i).sort((a, b) => (x[a] as number) - (x[b] as number) || a - b);
    x = order.map((i) => x[i] as number);
    const ys = y;
    y = order.map((i) => ys[i] ?? null);
  }
  return { x, y };
}

/** Plot columns: the union of every line's x, and each line's y columns on it; a line
 * with no point at some x holds `undefined` there (a chart spans it), whereas null
 * stays null (a chart shows a gap). Every line's x must be sorted. */
export function alignLines(
  lines: readonly { x: readonly number[]; ys: readonly (readonly (number | null)[])[] }[],
): [number[], ...(number | null | undefined)[][]] {
  if (lines.length === 1) {
    const only = lines[0] as (typeof lines)[number];
    return [only.x.slice(), ...only.ys.map((y) => y.slice())];
  }
  const xs: number[] = [];
  const idx = lines.map(() => 0);
  for (;;) {
    let next = Infinity;
    lines.forEach((line, k) => {
      const i = idx[k] as number;
      if (i < line.x.length && (line.x[i] as number) < next) next = line.x[i] as number;
    });
    if (next === Infinity) break;
    // One union slot per (x, repeat count): a line with the same x twice gets two slots.
    xs.push(next);
    lines.forEach((line, k) => {
      const i = idx[k] as number;
      if (i < line.x.length && line.x[i] === next) idx[k] = i + 1;
    });
  }
  const cols: (number | null | undefined)[][] = [];
  for (const line of lines) {
    const outs = line.ys.map(() => new Array<number | null | undefined>(xs.length).fill(undefined));
    let i = 0;
    for (let u = 0; u < xs.length && i < line.x.length; u++) {
      if (line.x[i] === xs[u]) {
        line.ys.forEach((y, c) => {
          (outs[c] as (number | null | undefined)[])[u] = y[i] ?? null;
        });
        i++;
      }
    }
    cols.push(...outs);
  }
  return [xs, ...cols];
}

/** A step range of one line: what a zoomed chart asks the server for. */
export interface StepRange {
  stepFrom: number;
  stepTo: number;
}

/**
 * The steps to ask the server for when a chart showing `p` (x for `mode`, relative time
 * from `origin`) is zoomed to x in [lo, hi]: the steps of the points inside, widened to
 * the nearest point on each side (so the lines still run to the chart's edges; the
 * points shown may be a downsampled cut, whose neighbours bracket every raw point in
 * between). Null when the line has nothing in or around the range: empty, or wholly on
 * one side of it. Works for time axes too, where x need not follow step order.
 */
export function zoomStepRange(p: Points, mode: XMode, origin: number, lo: number, hi: number): StepRange | null {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return null;
  if (lo > hi) [lo, hi] = [hi, lo];
  const x = xValues(p, mode, origin);
  let from = Infinity;
  let to = -Infinity;
  let beforeX = -Infinity;
  let before: number | null = null;
  let afterX = Infinity;
  let after: number | null = null;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i] as number;
    const step = p.steps[i] as number;
    if (xi >= lo && xi <= hi) {
      if (step < from) from = step;
      if (step > to) to = step;
    } else if (xi < lo) {
      if (xi > beforeX || (xi === beforeX && before !== null && step > before)) {
        beforeX = xi;
        before = step;
      }
    } else if (xi < afterX || (xi === afterX && after !== null && step < after)) {
      afterX = xi;
      after = step;
    }
  }
  const inside = from <= to;
  if (!inside && (before === null || after === null)) return null;
  if (before !== null) from = Math.min(from, before);
  if (after !== null) to = Math.max(to, after);
  return { stepFrom: Math.floor(from), stepTo: Math.ceil(to) };
}

/** Whether `step` lies in `range` (both ends included). */
export function inStepRange(range: StepRange, step: number): boolean {
  return step >= range.stepFrom && step <= range.stepTo;
}
