// Pure logic of the views: gallery filtering, saved chart settings, text formats.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GalleryEntry } from "../src/protocol";
import { extraLineColor, formatDuration, formatElapsed, formatRuntime, formatSize, NO_VALUE } from "../webview/format";
import { filterEntries, frameworks } from "../webview/galleryModel";
import { DEFAULT_CHART_SETTINGS, parseChartSettings } from "../webview/viewState";

function entry(id: string, framework: string, extra: Partial<GalleryEntry> = {}): GalleryEntry {
  return {
    id,
    title: `${id} title`,
    description: "",
    framework,
    task: "classification",
    tags: [],
    targets: ["local"],
    expectedRuntimeSeconds: 30,
    metric: { name: "accuracy", goal: "max", value: 0.9 },
    image: "",
    run: "",
    ...extra,
  };
}

describe("gallery", () => {
  const entries = [
    entry("keras-digits", "tensorflow", { tags: ["cnn"] }),
    entry("pytorch-digits", "pytorch", { description: "A small convnet" }),
    entry("sklearn-digits", "scikit-learn", { task: "regression" }),
  ];

  it("lists each framework once, sorted", () => {
    assert.deepEqual(frameworks([...entries, entry("x", "pytorch")]), ["pytorch", "scikit-learn", "tensorflow"]);
  });

  it("filters by every search word and by framework", () => {
    assert.deepEqual(
      filterEntries(entries, "", "").map((e) => e.id),
      ["keras-digits", "pytorch-digits", "sklearn-digits"],
    );
    assert.deepEqual(
      filterEntries(entries, "CNN", "").map((e) => e.id),
      ["keras-digits"],
    );
    assert.deepEqual(
      filterEntries(entries, "digits  small", "").map((e) => e.id),
      ["pytorch-digits"],
    );
    assert.deepEqual(
      filterEntries(entries, "digits", "scikit-learn").map((e) => e.id),
      ["sklearn-digits"],
    );
    assert.deepEqual(filterEntries(entries, "nothing-like-this", ""), []);
  });
});

describe("saved chart settings", () => {
  it("defaults what is missing or wrong", () => {
    assert.deepEqual(parseChartSettings(undefined), DEFAULT_CHART_SETTINGS);
    assert.deepEqual(parseChartSettings({ xMode: "bogus", smoothing: "x", logScale: 1 }), DEFAULT_CHART_SETTINGS);
  });

  it("keeps valid values and clamps smoothing to 0..0.99", () => {
    assert.deepEqual(parseChartSettings({ xMode: "wall", smoothing: 2, logScale: true }), {
      xMode: "wall",
      smoothing: 0.99,
      logScale: true,
    });
    assert.equal(parseChartSettings({ smoothing: -1 }).smoothing, 0);
  });
});

describe("formats", () => {
  it("durations", () => {
    assert.equal(formatDuration(null), NO_VALUE);
    assert.equal(formatDuration(0.25), "0.3s");
    assert.equal(formatDuration(42), "42.0s");
    assert.equal(formatDuration(185), "3m05s");
    assert.equal(formatDuration(7380), "2h03m");
  });

  it("elapsed axis ticks", () => {
    assert.equal(formatElapsed(0), "0");
    assert.equal(formatElapsed(30), "30s");
    assert.equal(formatElapsed(300), "5m");
    assert.equal(formatElapsed(5400), "1h 30m");
  });

  it("sizes and run times", () => {
    assert.equal(formatSize(512), "512 B");
    assert.equal(formatSize(1536), "1.5 KiB");
    assert.equal(formatRuntime(25), "about 25 s");
    assert.equal(formatRuntime(180), "about 3 min");
    assert.equal(formatRuntime(0), NO_VALUE);
  });
});

describe("extraLineColor", () => {
  it("gives every line past the theme's six its own colour", () => {
    const colors = Array.from({ length: 40 }, (_, n) => extraLineColor(n));
    assert.equal(new Set(colors).size, colors.length);
    for (const c of colors) assert.match(c, /^hsl\(\d{1,3}, 70%, (58|46)%\)$/);
    // neighbours are far apart in hue
    const hue = (c: string): number => Number(/^hsl\((\d+)/.exec(c)?.[1]);
    for (let n = 1; n < colors.length; n++) {
      const d = Math.abs(hue(colors[n] ?? "") - hue(colors[n - 1] ?? ""));
      assert.ok(Math.min(d, 360 - d) > 90, `${colors[n - 1]} then ${colors[n]}`);
    }
  });
});
