// The runs table's pure logic: columns, sorting, the filter expression (a parser, never
// eval), virtualization's visible range and selection, at the 10,000 runs it must
// stay smooth with.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RunInfo } from "../src/protocol";
import {
  allColumns,
  cellValue,
  clickSelection,
  defaultColumns,
  parseFilter,
  sortRows,
  type TableRow,
  tableRow,
  viewRows,
  visibleRange,
} from "../webview/runsTableModel";

function row(id: string, extra: Partial<TableRow> = {}): TableRow {
  return {
    id,
    status: "completed",
    experiment: "default",
    target: "local",
    user: null,
    created: 0,
    duration: 1,
    params: {},
    metrics: {},
    ...extra,
  };
}

const rows = [
  row("a", { params: { lr: "0.1", opt: "adam" }, metrics: { loss: 0.5 }, created: 3 }),
  row("b", { params: { lr: "0.001", opt: "sgd" }, metrics: { loss: 0.2 }, status: "failed", created: 2 }),
  row("c", { params: { lr: "0.02" }, metrics: { loss: null, acc: 0.9 }, target: "docker", user: "ada@example.com", created: 1 }),
  row("d", { params: {}, metrics: {}, status: "running", duration: null, created: 4 }),
];

function ids(list: readonly TableRow[]): string[] {
  return list.map((r) => r.id);
}

function matching(expr: string): string[] {
  const parsed = parseFilter(expr);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  return ids(rows.filter(parsed.filter));
}

describe("runs table columns", () => {
  it("lists the fields, then every param and metric by name", () => {
    assert.deepEqual(allColumns(rows), [
      "id",
      "status",
      "experiment",
      "target",
      "user",
      "created",
      "duration",
      "param:lr",
      "param:opt",
      "metric:acc",
      "metric:loss",
    ]);
  });

  it("keeps a saved choice of columns, adds new ones, drops gone ones", () => {
    const available = allColumns(rows);
    assert.ok(!defaultColumns(available).includes("created"));
    const saved = ["id", "metric:loss", "param:gone"];
    const known = ["id", "status", "metric:loss", "param:gone", "param:lr", "param:opt", "metric:acc"];
    assert.deepEqual(defaultColumns(available, saved, known), [
      "id",
      "metric:loss",
      "experiment",
      "target",
      "user",
      "created",
      "duration",
    ]);
  });

  it("reads cells of fields, params and metrics", () => {
    const first = rows[0] as TableRow;
    assert.equal(cellValue(first, "param:lr"), "0.1");
    assert.equal(cellValue(first, "metric:loss"), 0.5);
    assert.equal(cellValue(first, "metric:acc"), null);
    assert.equal(cellValue(first, "status"), "completed");
  });

  it("makes a row from a run and its params", () => {
    const run: RunInfo = { id: "x", experiment: "e", status: "running", target: "t", targetType: "local", metrics: { m: 1 } };
    const r = tableRow(run, { lr: "1" });
    assert.deepEqual([r.id, r.params, r.metrics, r.duration, r.created, r.user], ["x", { lr: "1" }, { m: 1 }, null, 0, null]);
  });

  it("has a user column: the email, else the name; sorted and filtered as text", () => {
    const base: RunInfo = { id: "x", experiment: "e", status: "completed", target: "t", targetType: "local" };
    assert.equal(tableRow({ ...base, userName: "Ada", userEmail: "ada@example.com" }, {}).user, "ada@example.com");
    assert.equal(tableRow({ ...base, userName: "Ada", userEmail: null }, {}).user, "Ada");
    const withUser = rows[2] as TableRow;
    assert.equal(cellValue(withUser, "user"), "ada@example.com");
    assert.deepEqual(ids(sortRows(rows, "user", false)), ["c", "a", "b", "d"]); // none last
    assert.deepEqual(matching("user ~ ada"), ["c"]);
  });
});

describe("runs table sorting", () => {
  it("sorts params written as numbers by value, not as text", () => {
    assert.deepEqual(ids(sortRows(rows, "param:lr", false)), ["b", "c", "a", "d"]);
    assert.deepEqual(ids(sortRows(rows, "param:lr", true)), ["a", "c", "b", "d"]);
  });

  it("puts runs without a value last in both directions", () => {
    assert.deepEqual(ids(sortRows(rows, "metric:loss", false)), ["b", "a", "c", "d"]);
    assert.deepEqual(ids(sortRows(rows, "metric:loss", true)), ["a", "b", "c", "d"]);
    assert.deepEqual(ids(sortRows(rows, "duration", true)).at(-1), "d");
  });

  it("sorts text and keeps ties in their order", () => {
    assert.deepEqual(ids(sortRows(rows, "status", false)), ["a", "c", "b", "d"]);
    assert.deepEqual(ids(sortRows(rows, "created", true)), ["d", "a", "b", "c"]);
  });
});

describe("runs table filter", () => {
  it("compares numbers as numbers and words as text", () => {
    assert.deepEqual(matching("lr > 0.01"), ["a", "c"]);
    assert.deepEqual(matching("lr > 0.01 and status == completed"), ["a", "c"]);
    assert.deepEqual(matching("loss <= 0.2"), ["b"]);
    assert.deepEqual(matching("opt = adam"), ["a"]);
    assert.deepEqual(matching("target != local"), ["c"]);
    assert.deepEqual(matching('experiment == "default" and lr<0.05'), ["b", "c"]);
  });

  it("has or, not, parentheses and contains", () => {
    assert.deepEqual(matching("status == failed or status == running"), ["b", "d"]);
    assert.deepEqual(matching("not (status == failed or status == running)"), ["a", "c"]);
    assert.deepEqual(matching("lr > 0.01 and (opt ~ AD or target == docker)"), ["a", "c"]);
    assert.deepEqual(matching("id ~ c"), ["c"]);
    assert.deepEqual(matching('opt == "and"'), []);
    // `and` binds tighter than `or`
    assert.deepEqual(matching("status == running or lr > 0.05 and opt == adam"), ["a", "d"]);
  });

  it("reads params.x and metrics.x, and a run without the name matches only !=", () => {
    assert.deepEqual(matching("params.lr >= 0.02"), ["a", "c"]);
    assert.deepEqual(matching("metrics.acc > 0.5"), ["c"]);
    assert.deepEqual(matching("acc != 1"), ["a", "b", "c", "d"]);
    assert.deepEqual(matching("nosuch == 1"), []);
  });

  it("keeps every row for an empty expression", () => {
    assert.deepEqual(matching("   "), ["a", "b", "c", "d"]);
  });

  it("says what is wrong and where, and never runs the text", () => {
    const cases: [string, RegExp, number][] = [
      ["lr >", /expected a value after lr > at the end/, 4],
      ["lr > and", /expected a value after lr > at column 6/, 5],
      ["lr 0.1", /expected a comparison .* after lr at column 4/, 3],
      ["(lr > 1", /expected "\)" at the end/, 7],
      ["lr > 1 status == x", /expected "and", "or" or the end at column 8/, 7],
      ['opt == "adam', /no closing "/, 7],
      ["and lr > 1", /expected a name/, 0],
      ["alert(1)", /expected a comparison/, 5],
    ];
    for (const [text, error, at] of cases) {
      const parsed = parseFilter(text);
      assert.equal(parsed.ok, false, text);
      if (!parsed.ok) {
        assert.match(parsed.error, error, text);
        assert.equal(parsed.at, at, text);
      }
    }
  });
});

describe("runs table at 10,000 runs", () => {
  const many: TableRow[] = Array.from({ length: 10_000 }, (_, i) =>
    row(`r${i}`, {
      params: { lr: String((i % 97) / 1000), layers: String(i % 5) },
      metrics: { loss: (i * 7919) % 1000 },
      status: i % 3 ? "completed" : "failed",
      created: i,
    }),
  );

  it("filters and sorts them all", () => {
    const parsed = parseFilter("lr > 0.05 and status == completed");
    assert.ok(parsed.ok);
    const shown = viewRows(many, parsed.filter, "metric:loss", false);
    assert.ok(shown.length > 1000 && shown.length < 10_000, String(shown.length));
    for (let i = 1; i < shown.length; i++) {
      assert.ok((shown[i - 1]?.metrics.loss ?? 0) <= (shown[i]?.metrics.loss ?? 0));
    }
    assert.ok(shown.every((r) => Number(r.params.lr) > 0.05 && r.status === "completed"));
  });

  it("shows only the rows in view, with some either side", () => {
    assert.deepEqual(visibleRange(0, 600, 24, 10_000), { start: 0, end: 36 });
    assert.deepEqual(visibleRange(24 * 5000, 600, 24, 10_000), { start: 4990, end: 5036 });
    assert.deepEqual(visibleRange(24 * 9990, 600, 24, 10_000), { start: 9980, end: 10_000 });
    assert.deepEqual(visibleRange(0, 600, 24, 0), { start: 0, end: 0 });
    const { start, end } = visibleRange(123_456, 900, 24, 10_000, 5);
    assert.ok(end - start <= 900 / 24 + 1 + 10 + 1);
  });
});

describe("runs table selection", () => {
  it("selects one, toggles with Ctrl/Cmd, extends with Shift", () => {
    const one = clickSelection(new Set(), rows, "b", null, "single");
    assert.deepEqual([...one], ["b"]);
    const two = clickSelection(one, rows, "d", "b", "toggle");
    assert.deepEqual([...two].sort(), ["b", "d"]);
    assert.deepEqual([...clickSelection(two, rows, "d", "b", "toggle")], ["b"]);
    assert.deepEqual([...clickSelection(one, rows, "d", "b", "range")].sort(), ["b", "c", "d"]);
  });
});

describe("runs table messages", () => {
  it("lets the page ask to open a run and to compare two or more runs, nothing malformed", async () => {
    const { isWebviewMessage, MAX_COMPARE } = await import("../webview/messages");
    assert.ok(isWebviewMessage({ type: "openRun", runId: "r1" }));
    assert.ok(isWebviewMessage({ type: "compareRuns", runIds: ["r1", "r2"] }));
    const bad: unknown[] = [
      { type: "openRun" },
      { type: "openRun", runId: "" },
      { type: "compareRuns", runIds: ["r1"] },
      { type: "compareRuns", runIds: "r1,r2" },
      { type: "compareRuns", runIds: ["r1", 2] },
      { type: "compareRuns", runIds: ["r1", ""] },
      { type: "compareRuns", runIds: Array.from({ length: MAX_COMPARE + 1 }, (_, i) => `r${i}`) },
    ];
    for (const m of bad) assert.ok(!isWebviewMessage(m), JSON.stringify(m));
  });
});

describe("runs table charts", () => {
  it("scatters a param against a metric, by x, skipping runs without both", async () => {
    const { scatterPoints } = await import("../webview/runsTableModel");
    const s = scatterPoints(rows, "param:lr", "metric:loss");
    assert.deepEqual(s.xs, [0.001, 0.1]);
    assert.deepEqual(s.ys, [0.2, 0.5]);
    assert.deepEqual(s.ids, ["b", "a"]);
    assert.equal(s.xAxis?.categories, null);
    const byOpt = scatterPoints(rows, "param:opt", "metric:loss");
    assert.deepEqual(byOpt.xAxis?.categories, ["adam", "sgd"]);
    assert.deepEqual([byOpt.xs, byOpt.ids], [[0, 1], ["a", "b"]]);
    assert.deepEqual(scatterPoints(rows, "param:none", "metric:loss").xs, []);
  });

  it("draws parallel coordinates scaled to 0..1 per axis, categories by place", async () => {
    const { parallelLines } = await import("../webview/runsTableModel");
    const p = parallelLines(rows, ["param:lr", "param:opt", "metric:loss", "param:none"]);
    assert.deepEqual(
      p.axes.map((a) => [a.id, a.min, a.max, a.categories]),
      [
        ["param:lr", 0.001, 0.1, null],
        ["param:opt", 0, 1, ["adam", "sgd"]],
        ["metric:loss", 0.2, 0.5, null],
      ],
    );
    const a = p.lines.find((l) => l.id === "a");
    assert.deepEqual(a?.values, [1, 0, 1]);
    const c = p.lines.find((l) => l.id === "c");
    assert.deepEqual(c?.values.map((v) => (v === null ? null : Math.round(v * 1000) / 1000)), [0.192, null, null]);
    assert.equal(parallelLines(rows, ["param:lr"], 2).lines.length, 2);
  });
});
