// Pure logic of the Models view and its commands: descriptions, lineage text, inputs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkJson,
  checkModelName,
  defaultModelName,
  deploymentDescription,
  deploymentsByVersion,
  deploymentsShown,
  deploymentTooltip,
  formatSize,
  lineageText,
  outputChoices,
  responseDocument,
  responseSummary,
  sampledText,
  telemetryText,
  versionDescription,
} from "../src/modelFormat";
import type { DeploymentInfo, ModelInfo } from "../src/protocol";

const model = (over: Partial<ModelInfo> = {}): ModelInfo => ({
  name: "net",
  version: 2,
  ref: "net:2",
  digest: "sha256:0123456789abcdef0123456789abcdef",
  size: 2048,
  kind: "file",
  framework: "pytorch",
  runId: "261129-182040-a1b2c3",
  sourcePath: "model.pt",
  snapshotCommit: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
  target: "local",
  envHash: "abcdef0123456789abcdef",
  created: 0,
  tags: {},
  aliases: [],
  path: "/store/net/2",
  ...over,
});

const deployment = (over: Partial<DeploymentInfo> = {}): DeploymentInfo => ({
  name: "net-2",
  model: "net",
  version: 2,
  target: "docker",
  status: "running",
  host: "127.0.0.1",
  port: 49153,
  created: 0,
  ...over,
});

describe("model versions", () => {
  it("describe framework, size and aliases", () => {
    assert.equal(versionDescription(model()), "pytorch · 2.0 KiB");
    assert.equal(
      versionDescription(model({ framework: null, size: 13, aliases: ["production", "staging"] })),
      "unknown framework · 13 B · @production @staging",
    );
  });

  it("sizes read in bytes up to terabytes", () => {
    assert.equal(formatSize(0), "0 B");
    assert.equal(formatSize(1023), "1023 B");
    assert.equal(formatSize(1536), "1.5 KiB");
    assert.equal(formatSize(5 * 1024 * 1024), "5.0 MiB");
    assert.equal(formatSize(-1), "—");
  });

  it("show the lineage chain run → snapshot → target and env", () => {
    assert.equal(
      lineageText(model()),
      [
        "net:2  sha256:0123456789ab",
        "← run 261129-182040-a1b2c3: model.pt",
        "← snapshot 9f8e7d6c5b4a",
        "← target local, env abcdef012345",
      ].join("\n"),
    );
    const text = lineageText(model({ snapshotCommit: null, target: null, envHash: null }), {
      id: "r",
      status: "completed",
      script: "train.py",
      experiment: "default",
    });
    assert.match(text, /← run 261129-182040-a1b2c3 \(completed, train\.py, experiment default\): model\.pt/);
    assert.match(text, /← snapshot none\n← target unknown$/);
    assert.match(lineageText(model(), { id: "r", missing: true }), /no longer in the store/);
  });
});

describe("deployments", () => {
  it("show status and address", () => {
    assert.equal(deploymentDescription(deployment()), "running · 127.0.0.1:49153");
    assert.equal(deploymentDescription(deployment({ status: "stopped", port: null })), "stopped");
    assert.equal(deploymentDescription(deployment({ status: "stopped" })), "stopped");
    assert.equal(deploymentDescription(deployment({ status: "exited" })), "exited");
  });

  it("group by model version", () => {
    const grouped = deploymentsByVersion([
      deployment(),
      deployment({ name: "b", version: 1 }),
      deployment({ name: "c" }),
    ]);
    assert.deepEqual(
      grouped.get("net:2")?.map((d) => d.name),
      ["net-2", "c"],
    );
    assert.deepEqual(
      grouped.get("net:1")?.map((d) => d.name),
      ["b"],
    );
  });
});

describe("what the view shows of deployments", () => {
  const t = (requests: number, sampled: number) => ({ requests, errors: 0, p50Ms: 1.5, p95Ms: 4, sampled });
  const a = deployment({ name: "a", telemetry: t(3, 100) });
  const b = deployment({ name: "b", status: "stopped" });

  it("is the same whatever the order, and when only the sample's time moved", () => {
    assert.equal(deploymentsShown([a, b]), deploymentsShown([b, a]));
    assert.equal(deploymentsShown([a]), deploymentsShown([{ ...a, telemetry: t(3, 200) }]));
    assert.equal(deploymentsShown([b]), deploymentsShown([{ ...b, telemetry: null }]));
  });

  it("changes with a request served, a status, an address or a redeploy", () => {
    const shown = deploymentsShown([a, b]);
    for (const changed of [
      { ...a, telemetry: t(4, 100) },
      { ...a, telemetry: { ...t(3, 100), p95Ms: 9 } },
      { ...a, status: "exited" },
      { ...a, port: 49154 },
      { ...a, created: 5 },
      { ...a, version: 3 },
    ]) {
      assert.notEqual(deploymentsShown([changed, b]), shown, JSON.stringify(changed));
    }
    assert.notEqual(deploymentsShown([a]), shown);
    assert.notEqual(deploymentsShown([]), deploymentsShown([b]));
  });
});

describe("deployment telemetry", () => {
  const at = (y: number, mo: number, d: number, h: number, mi: number, s: number): number =>
    new Date(y, mo - 1, d, h, mi, s).getTime() / 1000;

  it("reads as counts and percentiles, singular or plural", () => {
    assert.equal(
      telemetryText({ requests: 12, errors: 1, p50Ms: 3.14, p95Ms: 9.8 }),
      "12 requests · 1 error · p50 3.14 ms · p95 9.8 ms",
    );
    assert.equal(
      telemetryText({ requests: 1, errors: 0, p50Ms: 250.4, p95Ms: 1234.56 }),
      "1 request · 0 errors · p50 250.4 ms · p95 1235 ms",
    );
    assert.equal(telemetryText({ requests: 3, errors: 2, p50Ms: 0.04, p95Ms: 0.06 }), "3 requests · 2 errors · p50 0.04 ms · p95 0.06 ms");
  });

  it("says when there were no requests yet", () => {
    assert.equal(telemetryText({ requests: 0, errors: 0, p50Ms: null, p95Ms: null }), "no requests yet");
    assert.equal(telemetryText({ requests: 0, errors: 0 }), "no requests yet");
  });

  it("leaves out percentiles the service did not report", () => {
    assert.equal(telemetryText({ requests: 5, errors: 0, p50Ms: 2, p95Ms: null }), "5 requests · 0 errors · p50 2 ms");
    assert.equal(telemetryText({ requests: 5, errors: 5 }), "5 requests · 5 errors");
    assert.equal(telemetryText({ requests: 5, errors: 0, p50Ms: Number.NaN, p95Ms: 7 }), "5 requests · 0 errors · p95 7 ms");
  });

  it("says when it was sampled, with the date when not today", () => {
    const now = new Date(2026, 2, 4, 18, 0, 0);
    assert.equal(sampledText(at(2026, 3, 4, 9, 5, 7), now), "sampled 09:05:07");
    assert.equal(sampledText(at(2026, 3, 3, 23, 59, 59), now), "sampled 2026-03-03 23:59:59");
  });

  it("joins the deployment's tooltip, without a telemetry line before any sample", () => {
    const now = new Date(2026, 2, 4, 18, 0, 0);
    assert.equal(
      deploymentTooltip(deployment({ image: "runyard-model-net:2" }), now),
      "net-2: net:2 on docker\nimage runyard-model-net:2",
    );
    const sampled = at(2026, 3, 4, 17, 59, 30);
    assert.equal(
      deploymentTooltip(
        deployment({ telemetry: { requests: 2, errors: 0, p50Ms: 1.5, p95Ms: 4, sampled } }),
        now,
      ),
      "net-2: net:2 on docker\n2 requests · 0 errors · p50 1.5 ms · p95 4 ms\nsampled 17:59:30",
    );
    // The row's description stays status and address.
    assert.equal(
      deploymentDescription(deployment({ telemetry: { requests: 2, errors: 0, sampled } })),
      "running · 127.0.0.1:49153",
    );
  });
});

describe("inputs", () => {
  it("name a model after the file's stem", () => {
    assert.equal(defaultModelName("model.pt"), "model");
    assert.equal(defaultModelName("checkpoints/best model.ckpt"), "best-model");
    assert.equal(defaultModelName("saved_model/"), "saved_model");
    assert.equal(defaultModelName(".hidden"), "hidden");
    assert.equal(defaultModelName("___"), "model");
  });

  it("check model names like the server", () => {
    assert.equal(checkModelName("net-v2.1"), null);
    assert.notEqual(checkModelName("-net"), null);
    assert.notEqual(checkModelName("a b"), null);
    assert.notEqual(checkModelName(""), null);
  });

  it("accept only JSON payloads", () => {
    assert.equal(checkJson('{"inputs": [[1, 2]]}'), null);
    assert.equal(checkJson("[1, 2]"), null);
    assert.equal(checkJson("3"), null);
    assert.match(checkJson("") ?? "", /Enter a JSON document/);
    assert.match(checkJson("{inputs: 1}") ?? "", /^Not JSON: /);
  });

  it("show the service's answer as JSON, or its text", () => {
    const json = { status: 200, body: { outputs: [1] }, ms: 12.34 };
    assert.deepEqual(responseDocument(json), { language: "json", content: '{\n  "outputs": [\n    1\n  ]\n}\n' });
    assert.equal(responseSummary(json), "HTTP 200 in 12.3 ms");
    assert.deepEqual(responseDocument({ status: 500, body: "Internal Server Error", ms: 1 }), {
      language: "plaintext",
      content: "Internal Server Error",
    });
  });
});

describe("outputChoices", () => {
  it("offers each folder that holds files, then each file", () => {
    const choices = outputChoices([
      { path: "model.joblib", size: 2048 },
      { path: "saved/variables/data", size: 1000 },
      { path: "saved/saved_model.pb", size: 24 },
      { path: "logs/events", size: 10 },
    ]);
    assert.deepEqual(
      choices.map((c) => [c.label, c.path, c.description]),
      [
        ["logs/", "logs", "folder · 1 file · 10 B"],
        ["saved/", "saved", "folder · 2 files · 1.0 KiB"],
        ["saved/variables/", "saved/variables", "folder · 1 file · 1000 B"],
        ["logs/events", "logs/events", "10 B"],
        ["model.joblib", "model.joblib", "2.0 KiB"],
        ["saved/saved_model.pb", "saved/saved_model.pb", "24 B"],
        ["saved/variables/data", "saved/variables/data", "1000 B"],
      ],
    );
    assert.deepEqual(outputChoices([]), []);
  });
});
