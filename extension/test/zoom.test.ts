// Zooming a chart: the step range a drag asks the server for (zoomStepRange), and the
// page's zoomSeries message as the host checks it, and the host's answer to it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ServerApi } from "../src/api";
import { zoomedSeries } from "../src/webviews/zoom";
import { isWebviewMessage } from "../webview/messages";
import { decimate, inStepRange, zoomStepRange, type Points } from "../webview/series";

function pts(steps: number[], times?: number[]): Points {
  return { steps, times: times ?? steps.map((s) => 1000 + s), values: steps.map((s) => Math.sin(s)) };
}

describe("zoomStepRange", () => {
  it("on a step axis, the steps inside widened to the nearest point on each side", () => {
    const p = pts([0, 10, 20, 30, 40, 50]);
    assert.deepEqual(zoomStepRange(p, "step", 0, 15, 35), { stepFrom: 10, stepTo: 40 });
    assert.deepEqual(zoomStepRange(p, "step", 0, 20, 30), { stepFrom: 10, stepTo: 40 });
    assert.deepEqual(zoomStepRange(p, "step", 0, 35, 15), { stepFrom: 10, stepTo: 40 }, "either way round");
  });

  it("stops at the line's ends", () => {
    const p = pts([0, 10, 20]);
    assert.deepEqual(zoomStepRange(p, "step", 0, -5, 12), { stepFrom: 0, stepTo: 20 });
    assert.deepEqual(zoomStepRange(p, "step", 0, 5, 100), { stepFrom: 0, stepTo: 20 });
  });

  it("between two shown points (a downsampled cut), the two that bracket the range", () => {
    const p = pts([0, 1000, 2000]);
    assert.deepEqual(zoomStepRange(p, "step", 0, 400, 600), { stepFrom: 0, stepTo: 1000 });
  });

  it("brackets every raw point of the range when the chart shows a decimated cut", () => {
    const raw = pts(Array.from({ length: 10_000 }, (_, i) => i));
    const shown = decimate(raw, 200);
    const range = zoomStepRange(shown, "step", 0, 3_333.3, 6_666.6);
    assert.ok(range);
    for (let s = 3_334; s <= 6_666; s++) assert.ok(inStepRange(range, s), `step ${s}`);
  });

  it("is null for an empty line or a range wholly on one side of it", () => {
    assert.equal(zoomStepRange(pts([]), "step", 0, 0, 10), null);
    assert.equal(zoomStepRange(pts([5, 6, 7]), "step", 0, 10, 20), null);
    assert.equal(zoomStepRange(pts([5, 6, 7]), "step", 0, -9, -1), null);
    assert.equal(zoomStepRange(pts([5, 6, 7]), "step", 0, Number.NaN, 3), null);
  });

  it("on a time axis, maps x (relative or wall time) back to the steps", () => {
    const p = pts([0, 1, 2, 3, 4], [100, 110, 120, 130, 140]);
    assert.deepEqual(zoomStepRange(p, "relative", 100, 15, 25), { stepFrom: 1, stepTo: 3 });
    assert.deepEqual(zoomStepRange(p, "wall", 0, 110, 130), { stepFrom: 0, stepTo: 4 });
  });

  it("on a time axis whose times go back (steps logged out of time order), every step inside", () => {
    const p = pts([0, 1, 2, 3], [100, 130, 110, 140]);
    // x in [105, 135]: steps 1 (130) and 2 (110) are inside; step 0 (100) and 3 (140) bracket them.
    assert.deepEqual(zoomStepRange(p, "wall", 0, 105, 135), { stepFrom: 0, stepTo: 3 });
  });
});

describe("the zoomSeries message", () => {
  const ok = { type: "zoomSeries", key: "loss", zoom: 1, ranges: [{ runId: "r1", stepFrom: 0, stepTo: 10 }] };

  it("is accepted when well formed", () => {
    assert.ok(isWebviewMessage(ok));
    assert.ok(isWebviewMessage({ ...ok, ranges: [...ok.ranges, { runId: "r2", stepFrom: 5, stepTo: 5 }] }));
  });

  it("is refused when any part is wrong", () => {
    for (const bad of [
      { ...ok, key: "" },
      { ...ok, zoom: 0 },
      { ...ok, zoom: 1.5 },
      { ...ok, ranges: [] },
      { ...ok, ranges: "r1" },
      { ...ok, ranges: [{ runId: "r1", stepFrom: 10, stepTo: 0 }] },
      { ...ok, ranges: [{ runId: "r1", stepFrom: 0.5, stepTo: 3 }] },
      { ...ok, ranges: [{ runId: "", stepFrom: 0, stepTo: 3 }] },
      { ...ok, ranges: [null] },
      { ...ok, ranges: Array.from({ length: 51 }, (_, i) => ({ runId: `r${i}`, stepFrom: 0, stepTo: 1 })) },
    ]) {
      assert.equal(isWebviewMessage(bad), false, JSON.stringify(bad).slice(0, 120));
    }
  });
});

describe("zoomedSeries (the host's answer)", () => {
  it("asks the server for each shown run's range of the key, and carries the zoom back", async () => {
    const asked: Record<string, unknown>[] = [];
    const api = {
      request: (_method: string, params: Record<string, unknown>) => {
        asked.push(params);
        const runId = (params.runIds as string[])[0] as string;
        return Promise.resolve({
          series: [{ runId, key: "loss", steps: [3], times: [1], values: [0.5], total: 1, downsampled: false }],
        });
      },
    } as unknown as ServerApi;
    const answer = await zoomedSeries(
      api,
      "/p",
      {
        type: "zoomSeries",
        key: "loss",
        zoom: 7,
        ranges: [
          { runId: "a", stepFrom: 1, stepTo: 9 },
          { runId: "not-shown", stepFrom: 0, stepTo: 1 },
        ],
      },
      new Set(["a", "b"]),
      2000,
    );
    assert.deepEqual(asked, [
      { project: "/p", runIds: ["a"], keys: ["loss"], maxPoints: 2000, stepFrom: 1, stepTo: 9 },
    ]);
    assert.equal(answer.type, "zoomedSeries");
    assert.ok(answer.type === "zoomedSeries" && answer.zoom === 7 && answer.key === "loss");
    assert.ok(answer.type === "zoomedSeries" && answer.series.length === 1 && answer.series[0]?.runId === "a");
  });
});
