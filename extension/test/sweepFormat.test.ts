// How the Sweeps view words sweeps and trials: counts, the best trial, pruned ones.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SweepInfo, TrialInfo } from "../src/protocol";
import { sweepDescription, trialDescription, trialLabel } from "../src/sweepFormat";

function sweep(extra: Partial<SweepInfo> = {}): SweepInfo {
  return {
    id: "s1",
    name: "lr-search",
    status: "running",
    sampler: "tpe",
    metric: "loss",
    direction: "minimize",
    trialsDone: 12,
    trialsTotal: 20,
    counts: { completed: 9, pruned: 3, running: 2 },
    bestValue: 0.0123,
    bestTrial: 4,
    created: 0,
    ...extra,
  };
}

function trial(extra: Partial<TrialInfo> = {}): TrialInfo {
  return { number: 4, status: "completed", params: { lr: 0.01, opt: "adam", layers: 2 }, ...extra };
}

describe("sweep rows", () => {
  it("say the status, trials done of the total, pruned ones and the best trial", () => {
    assert.equal(sweepDescription(sweep()), "running · 12/20 trials · 3 pruned · best loss 0.0123 (#4)");
    assert.equal(
      sweepDescription(sweep({ counts: { running: 2 }, bestTrial: null, bestValue: null, trialsDone: 0 })),
      "running · 0/20 trials",
    );
  });
});

describe("trial rows", () => {
  it("are labelled by number and params", () => {
    assert.equal(trialLabel(trial()), "#4 lr=0.01 opt=adam layers=2");
  });

  it("show the objective value, else the latest, and any status but completed", () => {
    assert.equal(trialDescription(trial({ value: 0.5 }), "loss", true), "best · loss 0.5");
    assert.equal(trialDescription(trial({ status: "running", latest: 2 }), "loss", false), "latest 2 · running");
    assert.equal(trialDescription(trial({ status: "pruned", latest: 100.25 }), "loss", false), "latest 100.3 · pruned");
    assert.equal(trialDescription(trial({ status: "failed" }), "loss", false), "failed");
  });
});
