import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RunInfo, RunsCompareResult } from "../src/protocol";
import { bestRunIndex, compareTable, metricKeys, runLabel } from "../webview/compareModel";
import { formatValue, NO_VALUE } from "../webview/format";

function run(id: string): RunInfo {
  return { id, experiment: "default", status: "completed", target: "local", targetType: "local" };
}

const runs = [run("a"), run("b"), run("c")];

describe("compare tables", () => {
  it("finds the best run's column", () => {
    assert.equal(bestRunIndex(runs, "b"), 1);
    assert.equal(bestRunIndex(runs, null), -1);
    assert.equal(bestRunIndex(runs, undefined), -1);
    assert.equal(bestRunIndex(runs, "zzz"), -1);
  });

  it("marks the best column in headers and cells", () => {
    const t = compareTable(runs, [{ key: "loss", values: [0.5, 0.25, 1], differs: true }], "b");
    assert.deepEqual(
      t.columns.map((c) => c.best),
      [false, true, false],
    );
    assert.deepEqual(
      t.rows[0]?.cells.map((c) => c.best),
      [false, true, false],
    );
    assert.equal(t.rows[0]?.differs, true);
  });

  it("marks nothing without a best run", () => {
    const t = compareTable(runs, [{ key: "lr", values: ["0.1", "0.1", "0.1"], differs: false }], null);
    assert.ok(t.columns.every((c) => !c.best));
    assert.ok(t.rows[0]?.cells.every((c) => !c.best));
  });

  it("shows null (NaN/inf from the server) and missing values as empty", () => {
    const t = compareTable(runs, [{ key: "acc", values: [null, 0.9], differs: true }], null);
    const cells = t.rows[0]?.cells ?? [];
    assert.equal(cells.length, 3);
    assert.deepEqual(
      cells.map((c) => [c.text, c.empty]),
      [
        [NO_VALUE, true],
        ["0.9", false],
        [NO_VALUE, true],
      ],
    );
  });

  it("keeps values in the order of the runs", () => {
    const t = compareTable(runs, [{ key: "seed", values: [1, 2, 3], differs: true }], null);
    assert.deepEqual(
      t.rows[0]?.cells.map((c) => c.text),
      ["1", "2", "3"],
    );
  });

  it("offers each metric key once", () => {
    const result: RunsCompareResult = {
      runs,
      params: [],
      metrics: [
        { key: "loss", values: [], differs: false },
        { key: "acc", values: [], differs: false },
        { key: "loss", values: [], differs: false },
      ],
    };
    assert.deepEqual(metricKeys(result), ["loss", "acc"]);
  });

  it("labels the best run in legends", () => {
    assert.equal(runLabel("a", "a"), "a ★ best");
    assert.equal(runLabel("a", "b"), "a");
  });
});

describe("formatValue", () => {
  it("formats null, NaN and infinities", () => {
    assert.equal(formatValue(null), NO_VALUE);
    assert.equal(formatValue(undefined), NO_VALUE);
    assert.equal(formatValue(Number.NaN), "NaN");
    assert.equal(formatValue(Infinity), "inf");
    assert.equal(formatValue(-Infinity), "-inf");
  });

  it("formats numbers compactly and strings as they are", () => {
    assert.equal(formatValue(3), "3");
    assert.equal(formatValue(0), "0");
    assert.equal(formatValue(0.123456789), "0.1235");
    assert.equal(formatValue(1.5e-7), "1.5e-7");
    assert.equal(formatValue(2.5e12), "2500000000000");
    assert.equal(formatValue(1234567890.5), "1.235e+9");
    assert.equal(formatValue("<b>x</b>"), "<b>x</b>");
  });
});
