import assert from "node:assert/strict";
import { test } from "node:test";
import {
  formatDuration,
  NO_VALUE,
  formatValue,
  keyMetric,
  lastLines,
  mergeLogChunk,
  runDescription,
  runDuration,
  runLabel,
  shortId,
} from "../src/format";
import type { RunInfo } from "../src/protocol";

const run = (over: Partial<RunInfo>): RunInfo => ({
  id: "261129-182040-a1b2c3",
  experiment: "default",
  status: "completed",
  target: "local",
  targetType: "local",
  ...over,
});

test("durations read like a person writes them", () => {
  assert.equal(formatDuration(0.42), "0.4s");
  assert.equal(formatDuration(42), "42.0s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(7260), "2h01m");
  assert.equal(formatDuration(null), NO_VALUE);
  assert.equal(formatDuration(-1), "-1.0s"); // as the CLI reads it (no run lasts that)
});

test("a running run's duration counts up to now; an ended one's is fixed", () => {
  assert.equal(runDuration(run({ status: "running", started: 100, duration: null }), 130), 30);
  // The server's duration of a live run is as old as its last push: it must not stick.
  assert.equal(runDuration(run({ status: "running", started: 100, duration: 0.2 }), 140), 40);
  assert.equal(runDuration(run({ status: "completed", started: 100, ended: 110, duration: 10 }), 500), 10);
  assert.equal(runDuration(run({ status: "queued", started: null })), null);
});

test("values: null as the missing mark, NaN spelled out, 4 significant digits, integers as they are", () => {
  assert.equal(formatValue(null), "—");
  assert.equal(formatValue(Number.NaN), "NaN");
  assert.equal(formatValue(0.93456), "0.9346");
  assert.equal(formatValue(12345678), "12345678");
  assert.equal(formatValue(0), "0");
});

test("the key metric prefers well-known names, else the first by name", () => {
  assert.equal(keyMetric({ loss: 0.2, accuracy: 0.9 }), "accuracy");
  assert.equal(keyMetric({ zeta: 1, alpha: 2 }), "alpha");
  assert.equal(keyMetric({}), null);
  assert.equal(keyMetric(undefined), null);
});

test("labels and descriptions carry script, short id, status, duration, metric", () => {
  const r = run({ script: "src/train.py", duration: 3.21, metrics: { accuracy: 0.93 } });
  assert.equal(shortId(r.id), "a1b2c3");
  assert.equal(runLabel(r), "train.py a1b2c3");
  assert.equal(runDescription(r), "completed · 3.2s · accuracy=0.93");
  assert.equal(runLabel(run({ job: "nightly" })), "nightly a1b2c3");
});

test("log chunks: in order appended, overlaps trimmed by bytes, gaps reported", () => {
  assert.deepEqual(mergeLogChunk(0, { offset: 0, nextOffset: 4, text: "abc\n" }), { append: "abc\n", next: 4 });
  assert.deepEqual(mergeLogChunk(4, { offset: 0, nextOffset: 4, text: "abc\n" }), { append: "", next: 4 });
  // "é" is two bytes: shown up to byte 3 means "aé" is shown.
  assert.deepEqual(mergeLogChunk(3, { offset: 0, nextOffset: 6, text: "aéb\n" }), { append: "b\n", next: 6 });
  assert.deepEqual(mergeLogChunk(4, { offset: 9, nextOffset: 12, text: "xy\n" }), { gap: true });
});

test("last lines skip blanks", () => {
  assert.deepEqual(lastLines("a\n\nb\nc\n\n", 2), ["b", "c"]);
});
