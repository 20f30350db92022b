// The Diff Runs document's text (src/runDiff.ts) against the command line's layout:
// the expected lines below are what `runyard runs diff` prints (`_diff_lines` in
// server/runyard/cli/runs.py) for the same causes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RunDiffCauses } from "../src/protocol";
import { causeLines, causeText, changeText, MAX_CHANGES_SHOWN, printable, runDiffText } from "../src/runDiff";

const A = "260101-000000-aaaaaa";
const B = "260101-000100-bbbbbb";

const causes: RunDiffCauses = {
  code: [
    { name: "train.py", after: "modified" },
    { name: "helper.py", after: "added" },
  ],
  environment: [
    { name: "idna", before: null, after: "3.10" },
    { name: "six", before: "1.17.0", after: null },
    { name: "python", before: "3.11.2", after: "3.12.1" },
  ],
  params: [
    { name: "lr", before: "0.25", after: "0.5" },
    { name: "note", before: "a\nb", after: "x\x1by" },
  ],
  target: [],
  host: null,
  metrics: [
    { name: "loss", before: 0.75, after: 0.5 },
    { name: "steps", before: 30 },
    { name: "big", before: 1e20, after: 123456.789 },
  ],
};

describe("Diff Runs text", () => {
  it("names every cause in the command line's layout", () => {
    assert.deepEqual(causeLines(A, B, causes), [
      `runs ${A} → ${B}`,
      "  code         train.py (modified), helper.py (added)",
      "  environment  + idna 3.10, - six 1.17.0, python 3.11.2 → 3.12.1",
      "  parameters   lr 0.25 → 0.5, note a\\nb → x\\x1by",
      "  target       same",
      "  host         unknown: a run has no host facts recorded",
      "  metrics      loss 0.75 → 0.5, - steps 30, big 1e+20 → 123457",
    ]);
  });

  it("says unknown where a cause cannot be told, same where nothing differs", () => {
    const lines = causeLines("a", "b", {
      code: [],
      environment: null,
      params: [],
      target: [
        { name: "target", before: "local", after: "other" },
        { name: "type", before: "local", after: "docker" },
      ],
      host: [],
      metrics: [],
    });
    assert.deepEqual(lines, [
      "runs a → b",
      "  code         same",
      "  environment  unknown: a run has no lock recorded",
      "  parameters   same",
      "  target       target local → other, type local → docker",
      "  host         same",
      "  metrics      same",
    ]);
    // left out (an older server) reads as unknown, as null does
    assert.equal(causeText(undefined, "environment", "unknown: a run has no lock recorded"), "unknown: a run has no lock recorded");
  });

  it("lists twelve changes, then how many more", () => {
    const files = Array.from({ length: 14 }, (_, i) => ({ name: `f${i}.py`, after: "added" }));
    const text = causeText(files, "code");
    assert.equal(MAX_CHANGES_SHOWN, 12);
    assert.ok(text.startsWith("f0.py (added), f1.py (added), "), text);
    assert.ok(text.endsWith("f11.py (added) and 2 more"), text);
    assert.ok(!text.includes("f12.py"), text);
    assert.equal(causeText(files.slice(0, 12), "code").includes("more"), false);
  });

  it("reads each change as added, removed or changed", () => {
    assert.equal(changeText({ name: "idna", after: "3.10" }, "environment"), "+ idna 3.10");
    assert.equal(changeText({ name: "six", before: "1.17.0", after: null }, "environment"), "- six 1.17.0");
    assert.equal(changeText({ name: "lr", before: "0.25", after: "0.5" }, "params"), "lr 0.25 → 0.5");
    assert.equal(changeText({ name: "acc", before: 0.123456, after: 2 }, "metrics"), "acc 0.1235 → 2");
    // both missing (NaN on both sides arrives as null): shown, not dropped
    assert.equal(changeText({ name: "x", before: null, after: null }, "metrics"), "x — → —");
    // a code file reads with its status, whatever `before` holds
    assert.equal(changeText({ name: "old.py", before: null, after: "deleted" }, "code"), "old.py (deleted)");
  });

  it("shows control characters as escapes, on one line", () => {
    assert.equal(printable("a\tb\nc\rd\x1b[31me\x7f\x9f"), "a\\tb\\nc\\rd\\x1b[31me\\x7f\\x9f");
    assert.equal(printable("plain → text"), "plain → text");
    assert.equal(changeText({ name: "a\nb", before: "1", after: "2" }, "params"), "a\\nb 1 → 2");
  });

  it("puts a blank line and the unified diff after the causes", () => {
    const diff = "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-LR = 0.1\n+LR = 0.3\n";
    const text = runDiffText(A, B, { diff, causes });
    const lines = text.split("\n");
    assert.equal(lines[0], `runs ${A} → ${B}`);
    assert.ok(lines[3]?.startsWith("  parameters "), lines[3]);
    assert.equal(lines[7], "");
    assert.equal(lines.slice(8).join("\n"), diff);
    assert.ok(text.endsWith("+LR = 0.3\n"));
    // no code diff: the causes alone, ending with a newline; no causes: the header alone
    assert.equal(runDiffText("a", "b", { diff: "", causes }).split("\n").length, 8);
    assert.equal(runDiffText("a", "b", { diff: "", causes: null }), "runs a → b\n");
    assert.equal(runDiffText("a", "b", { diff: "x", causes: null }), "runs a → b\n\nx\n");
  });
});
