import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  alignLines,
  appendLive,
  appendPoints,
  decimate,
  ema,
  fromColumns,
  LIVE_LIMIT,
  relativeOrigin,
  toLine,
  xValues,
  type Points,
} from "../webview/series";

function pts(steps: number[], values: (number | null)[], times?: number[]): Points {
  return { steps, times: times ?? steps.map((s) => 1000 + s), values };
}

describe("ema", () => {
  it("returns the values unchanged with weight 0", () => {
    assert.deepEqual(ema([1, 2, null, 4], 0), [1, 2, null, 4]);
  });

  it("is debiased: a constant series stays constant", () => {
    for (const v of ema([5, 5, 5, 5, 5], 0.9)) assert.ok(Math.abs((v as number) - 5) < 1e-12);
  });

  it("follows the EMA recurrence", () => {
    const w = 0.5;
    const out = ema([0, 10], w);
    // last1 = 0, debiased 0; last2 = 0*0.5 + 0.5*10 = 5, debias 1 - 0.25 = 0.75
    assert.equal(out[0], 0);
    assert.ok(Math.abs((out[1] as number) - 5 / 0.75) < 1e-12);
  });

  it("keeps nulls (NaN/inf) as null and skips them in the average", () => {
    const withGap = ema([1, null, 3], 0.6);
    const without = ema([1, 3], 0.6);
    assert.equal(withGap[1], null);
    assert.equal(withGap[0], without[0]);
    assert.equal(withGap[2], without[1]);
  });

  it("treats undefined and non-finite numbers as holes", () => {
    assert.deepEqual(ema([undefined, Number.NaN, Infinity], 0.5), [null, null, null]);
  });

  it("clamps weights outside 0..0.999", () => {
    assert.deepEqual(ema([1, 2], -3), [1, 2]);
    const out = ema([1, 2], 7);
    assert.ok(out.every((v) => v !== null && Number.isFinite(v)));
  });
});

describe("x-axis transforms", () => {
  const p = pts([0, 1, 2], [1, 2, 3], [100, 110, 130]);

  it("step", () => assert.deepEqual(xValues(p, "step", 0), [0, 1, 2]));
  it("relative time from the origin", () => assert.deepEqual(xValues(p, "relative", 100), [0, 10, 30]));
  it("wall time as is", () => assert.deepEqual(xValues(p, "wall", 100), [100, 110, 130]));

  it("relative origin: started, then created, then the first point", () => {
    assert.equal(relativeOrigin(p, 90, 80), 90);
    assert.equal(relativeOrigin(p, null, 80), 80);
    assert.equal(relativeOrigin(p, null, undefined), 100);
    assert.equal(relativeOrigin(pts([], []), null, null), 0);
  });

  it("toLine sorts by time when step order and time order disagree", () => {
    const q = pts([0, 1, 2], [10, 20, 30], [5, 3, 4]);
    const line = toLine(q, "wall", 0, false);
    assert.deepEqual(line.x, [3, 4, 5]);
    assert.deepEqual(line.y, [20, 30, 10]);
  });

  it("toLine hides values <= 0 on a log scale", () => {
    const line = toLine(pts([0, 1, 2], [1, 0, -2]), "step", 0, true);
    assert.deepEqual(line.y, [1, null, null]);
  });
});

describe("fromColumns", () => {
  it("sorts by step, ties by time, and stays stable", () => {
    const p = fromColumns([2, 0, 1, 1], [5, 1, 4, 3], [20, 0, 11, 10]);
    assert.deepEqual(p.steps, [0, 1, 1, 2]);
    assert.deepEqual(p.values, [0, 10, 11, 20]);
  });

  it("cuts to the shortest column and nulls non-finite values", () => {
    const p = fromColumns([0, 1, 2], [0, 1], [Number.NaN, 1, 2]);
    assert.deepEqual(p.steps, [0, 1]);
    assert.deepEqual(p.values, [null, 1]);
  });
});

describe("decimate", () => {
  it("leaves short series alone", () => {
    const p = pts([0, 1, 2], [1, 2, 3]);
    assert.equal(decimate(p, 10), p);
  });

  it("bounds the size and keeps the global min and max, first and last", () => {
    const n = 100_000;
    const steps = Array.from({ length: n }, (_, i) => i);
    const values = steps.map((i) => Math.sin(i / 50));
    values[31_337] = 99; // spike
    values[77_777] = -99; // dip
    const out = decimate(pts(steps, values), 2000);
    assert.ok(out.steps.length <= 2000, `got ${out.steps.length}`);
    assert.ok(out.steps.length > 1000);
    assert.ok(out.values.includes(99));
    assert.ok(out.values.includes(-99));
    assert.equal(out.steps[0], 0);
    assert.equal(out.steps[out.steps.length - 1], n - 1);
    for (let i = 1; i < out.steps.length; i++) assert.ok((out.steps[i] as number) > (out.steps[i - 1] as number));
  });

  it("keeps every bucket's min and max", () => {
    const n = 1000;
    const steps = Array.from({ length: n }, (_, i) => i);
    const values = steps.map((i) => ((i * 7919) % 1000) / 10);
    const out = decimate(pts(steps, values), 100);
    const buckets = Math.floor((100 - 2) / 2);
    for (let b = 0; b < buckets; b++) {
      const start = Math.floor((b * n) / buckets);
      const stop = Math.floor(((b + 1) * n) / buckets);
      const slice = values.slice(start, stop);
      const kept = out.steps
        .map((s, i) => ({ s, v: out.values[i] }))
        .filter(({ s }) => s >= start && s < stop)
        .map(({ v }) => v);
      assert.ok(kept.includes(Math.min(...slice)), `bucket ${b} lost its minimum`);
      assert.ok(kept.includes(Math.max(...slice)), `bucket ${b} lost its maximum`);
    }
  });

  it("keeps a gap for an all-null bucket and never picks null as min or max", () => {
    const n = 400;
    const steps = Array.from({ length: n }, (_, i) => i);
    const values: (number | null)[] = steps.map((i) => (i >= 100 && i < 200 ? null : i % 7));
    const out = decimate(pts(steps, values), 20);
    assert.ok(out.values.includes(null));
    assert.ok(out.steps.length <= 20);
  });

  it("handles a million points quickly", () => {
    const n = 1_000_000;
    const steps = new Array<number>(n);
    const values = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      steps[i] = i;
      values[i] = Math.exp(-i / 2e5) + 0.01 * Math.sin(i);
    }
    const out = decimate(pts(steps, values), 2000);
    assert.ok(out.steps.length <= 2000);
  });
});

describe("live appends", () => {
  it("appends new steps in order", () => {
    const p = pts([0, 1], [1, 2]);
    assert.equal(appendPoints(p, pts([2, 3], [3, 4])), 2);
    assert.deepEqual(p.steps, [0, 1, 2, 3]);
    assert.deepEqual(p.values, [1, 2, 3, 4]);
  });

  it("merges out-of-order steps by step", () => {
    const p = pts([0, 2, 4], [0, 2, 4]);
    assert.equal(appendPoints(p, pts([3, 1, 5], [3, 1, 5])), 3);
    assert.deepEqual(p.steps, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(p.values, [0, 1, 2, 3, 4, 5]);
  });

  it("skips points it already holds (same step and time)", () => {
    const p = pts([0, 1, 2], [0, 1, 2]);
    assert.equal(appendPoints(p, pts([2, 3], [2, 3])), 1);
    assert.deepEqual(p.steps, [0, 1, 2, 3]);
    assert.equal(appendPoints(p, pts([1], [1])), 0);
    assert.deepEqual(p.steps, [0, 1, 2, 3]);
  });

  it("keeps two values logged at the same step at different times", () => {
    const p = pts([0, 1], [0, 1], [10, 11]);
    appendPoints(p, pts([1], [5], [12]));
    assert.deepEqual(p.steps, [0, 1, 1]);
    assert.deepEqual(p.values, [0, 1, 5]);
  });

  it("stays bounded however many points arrive", () => {
    let p = pts([], []);
    let step = 0;
    let max = 0;
    for (let chunk = 0; chunk < 500; chunk++) {
      const steps = Array.from({ length: 100 }, () => step++);
      p = appendLive(p, pts(steps, steps.map((s) => (s === 12_345 ? 1e6 : s % 10)))).points;
      max = Math.max(max, p.steps.length);
    }
    assert.ok(max <= LIVE_LIMIT + 100, `grew to ${max}`);
    assert.ok(p.values.includes(1e6), "the spike survived repeated decimation");
    assert.equal(p.steps[p.steps.length - 1], step - 1);
  });

  it("reports how many points were new", () => {
    const p = pts([0], [0]);
    assert.equal(appendLive(p, pts([0, 1, 2], [0, 1, 2])).added, 2);
  });
});

describe("alignLines", () => {
  it("passes one line through", () => {
    assert.deepEqual(alignLines([{ x: [1, 2], ys: [[3, null]] }]), [[1, 2], [3, null]]);
  });

  it("joins x values; holes are undefined, nulls stay null", () => {
    const out = alignLines([
      { x: [0, 1, 2], ys: [[10, null, 12]] },
      { x: [1, 3], ys: [[21, 23], [31, 33]] },
    ]);
    assert.deepEqual(out, [
      [0, 1, 2, 3],
      [10, null, 12, undefined],
      [undefined, 21, undefined, 23],
      [undefined, 31, undefined, 33],
    ]);
  });

  it("keeps repeated x values of one line", () => {
    const out = alignLines([
      { x: [1, 1, 2], ys: [[1, 2, 3]] },
      { x: [1], ys: [[9]] },
    ]);
    assert.deepEqual(out, [
      [1, 1, 2],
      [1, 2, 3],
      [9, undefined, undefined],
    ]);
  });
});
