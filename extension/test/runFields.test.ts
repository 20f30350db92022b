// A run's own fields in the webviews (webview/runFields.ts): the lock's summary and
// pins of the Run details view, and the Compare view's Run table.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CompareRow, RunInfo } from "../src/protocol";
import { fieldsTable, hostLine, lockPins, lockSummary, PINS_SHOWN_OPEN, SNAPSHOT_CHARS } from "../webview/runFields";
import { NO_VALUE } from "../webview/format";

function run(id: string): RunInfo {
  return { id, experiment: "default", status: "completed", target: "local", targetType: "local" };
}

describe("the run's lock", () => {
  it("reads as one line: interpreter, who built it, how many packages", () => {
    assert.equal(
      lockSummary({ python: "3.11.2", installer: "uv", packages: ["idna==3.10", "six==1.17.0"] }),
      "Python 3.11.2 · built by uv · 2 packages",
    );
    assert.equal(lockSummary({ python: "3.12.1", installer: "pip", packages: ["six==1.17.0"] }), "Python 3.12.1 · built by pip · 1 package");
    assert.equal(lockSummary({ python: "3.10.4", installer: null, packages: [] }), "Python 3.10.4 · not built by Runyard · 0 packages");
    assert.equal(lockSummary({ python: "3.10.4" }), "Python 3.10.4 · not built by Runyard · 0 packages");
  });

  it("says so when none was recorded", () => {
    assert.equal(lockSummary(null), "No lock recorded");
    assert.equal(lockSummary(undefined), "No lock recorded");
    assert.deepEqual(lockPins(null), { pins: [], folded: false });
  });

  it("names the host the environment was on, or says it was not recorded", () => {
    const host = { os: "Linux", cpus: 16, gpus: ["NVIDIA H100"], summary: "Linux 6.1 · x86_64 · 16 CPUs · NVIDIA H100" };
    assert.equal(hostLine({ python: "3.11.2", host }), "Host: Linux 6.1 · x86_64 · 16 CPUs · NVIDIA H100");
    assert.equal(hostLine({ python: "3.11.2", host: null }), "Host not recorded");
    assert.equal(hostLine({ python: "3.11.2", host: { summary: "  " } }), "Host not recorded");
    assert.equal(hostLine(null), "Host not recorded");
  });

  it("lists the pins by name, folded when there are many", () => {
    const few = lockPins({ python: "3.11", installer: "uv", packages: ["six==1.17.0", "Idna==3.10", "certifi==2024.2.2"] });
    assert.deepEqual(few, { pins: ["certifi==2024.2.2", "Idna==3.10", "six==1.17.0"], folded: false });
    const packages = Array.from({ length: PINS_SHOWN_OPEN + 1 }, (_, i) => `p${String(i).padStart(2, "0")}==1.0`);
    assert.equal(lockPins({ python: "3.11", packages }).folded, true);
    assert.equal(lockPins({ python: "3.11", packages: packages.slice(1) }).folded, false);
  });
});

describe("the Compare view's Run table", () => {
  const runs = [run("a"), run("b")];
  const fields: CompareRow[] = [
    { key: "status", values: ["completed", "failed"], differs: true },
    { key: "experiment", values: ["default", "default"], differs: false },
    { key: "target", values: ["local", "local"], differs: false },
    { key: "duration", values: [3.21, 125], differs: true },
    { key: "snapshot", values: ["0123456789abcdef0123456789abcdef01234567", "fedcba9876543210fedcba9876543210fedcba98"], differs: true },
  ];

  it("has a row per field with the server's differs, a column per run", () => {
    const t = fieldsTable(runs, fields, "b");
    assert.deepEqual(
      t.rows.map((r) => [r.key, r.differs]),
      [
        ["status", true],
        ["experiment", false],
        ["target", false],
        ["duration", true],
        ["snapshot", true],
      ],
    );
    assert.deepEqual(
      t.columns.map((c) => [c.runId, c.best]),
      [
        ["a", false],
        ["b", true],
      ],
    );
    assert.deepEqual(
      t.rows[0]?.cells.map((c) => c.text),
      ["completed", "failed"],
    );
  });

  it("reads a duration as one, the seconds in its title", () => {
    const row = fieldsTable(runs, fields, null).rows[3];
    assert.deepEqual(
      row?.cells.map((c) => [c.text, c.title]),
      [
        ["3.2s", "3.2 s"],
        ["2m05s", "125.0 s"],
      ],
    );
  });

  it("shortens a snapshot commit, the full id in its title", () => {
    const row = fieldsTable(runs, fields, null).rows[4];
    assert.equal(SNAPSHOT_CHARS, 10);
    assert.deepEqual(
      row?.cells.map((c) => [c.text, c.title]),
      [
        ["0123456789", "0123456789abcdef0123456789abcdef01234567"],
        ["fedcba9876", "fedcba9876543210fedcba9876543210fedcba98"],
      ],
    );
  });

  it("shows a missing value as empty, and no rows when the server sent none", () => {
    const t = fieldsTable(runs, [{ key: "duration", values: [null, 4], differs: true }, { key: "snapshot", values: [null], differs: true }], null);
    assert.deepEqual(
      t.rows.map((r) => r.cells.map((c) => [c.text, c.empty, c.title])),
      [
        [
          [NO_VALUE, true, undefined],
          ["4.0s", false, "4.0 s"],
        ],
        [
          [NO_VALUE, true, undefined],
          [NO_VALUE, true, undefined],
        ],
      ],
    );
    assert.deepEqual(fieldsTable(runs, undefined, null).rows, []);
  });
});
