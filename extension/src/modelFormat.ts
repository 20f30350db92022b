// Pure helpers of the Models view and its commands: no `vscode` import, unit-tested.
import type {
  ArtifactInfo,
  DeploymentInfo,
  DeploymentInvokeResult,
  DeploymentTelemetry,
  ModelInfo,
  ModelRunInfo,
} from "./protocol";
import { formatSize, formatValue } from "./format";

// Sizes and latencies follow the one rule of ./format (shared with the Python side).
export { formatSize } from "./format";

/** "pytorch · 13 B · @production @staging": framework, size, aliases. */
export function versionDescription(model: ModelInfo): string {
  const parts = [model.framework ?? "unknown framework", formatSize(model.size)];
  if (model.aliases.length) parts.push(model.aliases.map((a) => `@${a}`).join(" "));
  return parts.join(" · ");
}

/** The lineage as text, newest first: model ← run ← snapshot commit ← target, env hash. */
export function lineageText(model: ModelInfo, run?: ModelRunInfo): string {
  const lines = [`${model.ref}  ${model.digest.slice(0, 19)}`]; // sha256: and 12 hex digits
  let runLine = `← run ${model.runId}`;
  if (run?.missing) runLine += " (no longer in the store)";
  else if (run) {
    const about = [run.status, run.script, run.experiment && `experiment ${run.experiment}`].filter(Boolean);
    if (about.length) runLine += ` (${about.join(", ")})`;
  }
  lines.push(`${runLine}: ${model.sourcePath}`);
  lines.push(`← snapshot ${model.snapshotCommit ? model.snapshotCommit.slice(0, 12) : "none"}`);
  const where = [`target ${model.target ?? "unknown"}`];
  if (model.envHash) where.push(`env ${model.envHash.slice(0, 12)}`);
  lines.push(`← ${where.join(", ")}`);
  return lines.join("\n");
}

/** "running · 127.0.0.1:8080". */
export function deploymentDescription(d: Pick<DeploymentInfo, "status" | "host" | "port">): string {
  // the address only while something listens there
  const serving = d.status === "running" || d.status === "starting";
  return d.port && serving ? `${d.status} · ${d.host ?? "127.0.0.1"}:${d.port}` : d.status;
}

/** What the Models view shows of one project's deployments (model, status, address,
 * telemetry counts and latencies; not when the telemetry was sampled) as one string, the
 * same whatever the order: equal strings draw the same rows. */
export function deploymentsShown(deployments: readonly DeploymentInfo[]): string {
  const rows = deployments.map((d) => {
    const t = d.telemetry;
    const about = [d.model, d.version, d.status, d.host, d.port, d.created];
    return [d.name, ...about, t?.requests, t?.errors, t?.p50Ms, t?.p95Ms].map((v) => v ?? null);
  });
  rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return JSON.stringify(rows);
}

/** "12 requests · 1 error · p50 3.14 ms · p95 9.8 ms"; "no requests yet" before the first;
 * a percentile the service did not report is left out. */
export function telemetryText(t: Pick<DeploymentTelemetry, "requests" | "errors" | "p50Ms" | "p95Ms">): string {
  if (t.requests <= 0) return "no requests yet";
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = [plural(t.requests, "request"), plural(t.errors, "error")];
  for (const [label, ms] of [
    ["p50", t.p50Ms],
    ["p95", t.p95Ms],
  ] as const) {
    if (ms !== null && ms !== undefined && Number.isFinite(ms)) parts.push(`${label} ${formatValue(ms)} ms`);
  }
  return parts.join(" · ");
}

/** "sampled 14:03:07" (local time), with the date when it was not today. */
export function sampledText(sampled: number, now: Date = new Date()): string {
  const when = new Date(sampled * 1000);
  const two = (n: number): string => String(n).padStart(2, "0");
  const time = `${two(when.getHours())}:${two(when.getMinutes())}:${two(when.getSeconds())}`;
  const sameDay =
    when.getFullYear() === now.getFullYear() && when.getMonth() === now.getMonth() && when.getDate() === now.getDate();
  if (sameDay) return `sampled ${time}`;
  return `sampled ${when.getFullYear()}-${two(when.getMonth() + 1)}-${two(when.getDate())} ${time}`;
}

/** A deployment row's tooltip: what it serves where, its image, its last telemetry sample. */
export function deploymentTooltip(d: DeploymentInfo, now: Date = new Date()): string {
  const lines = [`${d.name}: ${d.model}:${d.version} on ${d.target}`];
  if (d.image) lines.push(`image ${d.image}`);
  if (d.telemetry) lines.push(telemetryText(d.telemetry), sampledText(d.telemetry.sampled, now));
  return lines.join("\n");
}

/** The default model name for an output file: its stem ("checkpoints/net.pt" -> "net"),
 * cut to the characters a model name allows. */
export function defaultModelName(outputPath: string): string {
  const base = outputPath.replace(/[\\/]+$/, "").split(/[\\/]/).pop() ?? "";
  const dot = base.lastIndexOf(".");
  const stem = dot > 0 ? base.slice(0, dot) : base;
  const clean = stem.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return clean.slice(0, 128) || "model";
}

/** Why `name` is not a valid model name, or null when it is (the server's rule). */
export function checkModelName(name: string): string | null {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)
    ? null
    : "Letters, digits, '-', '_' and '.', starting with a letter or digit (at most 128)";
}

/** Why `text` is not a JSON document, or null when it is (for an input box). */
export function checkJson(text: string): string | null {
  if (!text.trim()) return "Enter a JSON document, e.g. {\"inputs\": [[1, 2, 3]]}";
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    return `Not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** The service's answer as a document: pretty JSON, or the text it sent. */
export function responseDocument(result: DeploymentInvokeResult): { language: "json" | "plaintext"; content: string } {
  if (typeof result.body === "string") return { language: "plaintext", content: result.body };
  return { language: "json", content: `${JSON.stringify(result.body, null, 2)}\n` };
}

/** "HTTP 200 in 12.3 ms". */
export function responseSummary(result: DeploymentInvokeResult): string {
  return `HTTP ${result.status} in ${result.ms.toFixed(1)} ms`;
}

/** Deployments of one version, by "name:version". */
export function deploymentsByVersion(deployments: DeploymentInfo[]): Map<string, DeploymentInfo[]> {
  const out = new Map<string, DeploymentInfo[]>();
  for (const d of deployments) {
    const key = `${d.model}:${d.version}`;
    const list = out.get(key) ?? [];
    list.push(d);
    out.set(key, list);
  }
  return out;
}

/** What a run's outputs offer to register: each file, and each folder that holds files
 * (a TensorFlow SavedModel, a Hugging Face checkpoint), folders first, then by path. */
export function outputChoices(
  artifacts: Pick<ArtifactInfo, "path" | "size">[],
): { label: string; description: string; path: string }[] {
  const folders = new Map<string, { files: number; size: number }>();
  for (const a of artifacts) {
    const parts = a.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const f = folders.get(dir) ?? { files: 0, size: 0 };
      f.files += 1;
      f.size += a.size;
      folders.set(dir, f);
    }
  }
  const dirs = [...folders]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([dir, f]) => ({
      label: `${dir}/`,
      description: `folder · ${f.files} file${f.files === 1 ? "" : "s"} · ${formatSize(f.size)}`,
      path: dir,
    }));
  const files = [...artifacts]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((a) => ({ label: a.path, description: formatSize(a.size), path: a.path }));
  return [...dirs, ...files];
}
