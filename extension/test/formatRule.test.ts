// The one formatting rule (src/format.ts) against the table of cases that the Python
// side (tests/unit/test_format_rule.py, runyard.core.formatting) checks too.
import * as assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { formatDuration, formatSize, formatValue, NO_VALUE } from "../src/format";
import * as webview from "../webview/format";

interface Cases {
  missing: string;
  values: { value?: number | null; float?: "nan" | "inf" | "-inf"; text: string }[];
  sizes: { bytes: number | null; text: string }[];
  durations: { seconds: number | null; text: string }[];
}

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "extension"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("repository root not found");
    dir = up;
  }
  return dir;
}

const cases = JSON.parse(readFileSync(join(repoRoot(), "tests/unit/format_cases.json"), "utf8")) as Cases;
const FLOATS = { nan: Number.NaN, inf: Infinity, "-inf": -Infinity };

describe("the shared formatting rule", () => {
  it("reads metric values as the shared table says", () => {
    const wrong = cases.values
      .map((c) => ({ c, got: formatValue(c.float ? FLOATS[c.float] : c.value) }))
      .filter(({ c, got }) => got !== c.text);
    assert.deepEqual(wrong, []);
  });

  it("reads sizes as the shared table says", () => {
    const wrong = cases.sizes.map((c) => ({ c, got: formatSize(c.bytes) })).filter(({ c, got }) => got !== c.text);
    assert.deepEqual(wrong, []);
  });

  it("reads durations as the shared table says", () => {
    const wrong = cases.durations
      .map((c) => ({ c, got: formatDuration(c.seconds) }))
      .filter(({ c, got }) => got !== c.text);
    assert.deepEqual(wrong, []);
  });

  it("marks a missing value the same in the trees and the webviews", () => {
    assert.equal(NO_VALUE, cases.missing);
    assert.equal(webview.NO_VALUE, cases.missing);
    assert.equal(webview.formatValue, formatValue);
    assert.equal(webview.formatSize, formatSize);
    assert.equal(webview.formatDuration, formatDuration);
  });
});
