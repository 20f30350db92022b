import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isWebviewMessage } from "../webview/messages";

describe("isWebviewMessage", () => {
  it("accepts every well-formed message", () => {
    const good: unknown[] = [
      { type: "initialized" },
      { type: "openOutput", path: "model.pkl" },
      { type: "revealOutput", path: "sub/dir/x.txt" },
      { type: "registerModel", path: "model.joblib" },
      { type: "showLogs", runId: "250101-120000-abcdef" },
      { type: "restore", runId: "r" },
      { type: "cancel", runId: "r" },
      { type: "bestMetric", key: "loss", maximize: false },
      { type: "createProject", id: "keras-digits" },
    ];
    for (const m of good) assert.ok(isWebviewMessage(m), JSON.stringify(m));
  });

  it("rejects non-objects, unknown types and missing or mistyped fields", () => {
    const bad: unknown[] = [
      null,
      undefined,
      "initialized",
      42,
      [],
      {},
      { type: "details" },
      { type: "INITIALIZED" },
      { type: "openOutput" },
      { type: "openOutput", path: 3 },
      { type: "revealOutput", path: "" },
      { type: "registerModel" },
      { type: "registerModel", path: ["model.pt"] },
      { type: "showLogs" },
      { type: "cancel", runId: null },
      { type: "bestMetric", key: "loss" },
      { type: "bestMetric", key: "loss", maximize: "yes" },
      { type: "createProject", id: {} },
    ];
    for (const m of bad) assert.ok(!isWebviewMessage(m), JSON.stringify(m) ?? String(m));
  });
});
