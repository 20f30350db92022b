// Compute target commands: add (a few questions per target type, then the server writes
// .runyard/targets/<name>.yml), remove, make default, test (the server's checks, with a
// host-key trust step when SSH does not know the host yet). They need the client, the
// project list and the Compute Targets view, which they refresh after a change.
import * as vscode from "vscode";
import type { RunyardClient } from "../client";
import type { Projects } from "../projects";
import { TARGETS_ADD, TARGETS_REMOVE, TARGETS_SET_DEFAULT, TARGETS_TEST, TARGETS_TRUST } from "../protocol";
import type { TargetNode, TargetsView } from "../views/targets";
import { command, pickTarget, projectFor, requireTrust, showError } from "./common";

export interface TargetCommandParts {
  client: RunyardClient;
  projects: Projects;
  targets: TargetsView;
}

async function addTarget(parts: TargetCommandParts): Promise<void> {
  if (!requireTrust()) return;
  const project = parts.projects.current?.root;
  if (!project) return void vscode.window.showInformationMessage("Initialize a Runyard project first.");
  const type = await vscode.window.showQuickPick(
    [
      { label: "local", description: "A subprocess on this machine, in a cached virtual environment" },
      { label: "docker", description: "A container on the local Docker engine, or a remote one over SSH" },
      { label: "ssh", description: "A remote machine over SSH, in a virtual environment there (no Docker)" },
      { label: "spark", description: "spark-submit to local[N], a standalone spark:// master, YARN or Kubernetes" },
      { label: "ray", description: "A job on an existing Ray cluster, through its dashboard's job API" },
    ],
    { title: "Add Compute Target: type" },
  );
  if (!type) return;
  const name = await vscode.window.showInputBox({
    title: "Add Compute Target: name",
    value: type.label === "local" ? "local2" : type.label,
    validateInput: (v) => (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v) ? null : "Letters, digits, '.', '_' and '-'"),
  });
  if (!name) return;
  const settings: Record<string, unknown> = {};
  if (type.label === "docker") {
    const address = await vscode.window.showInputBox({
      title: "Docker engine address",
      prompt: "Empty: the local engine. Or unix://..., tcp://host:port, ssh://user@host[:port]",
      value: "",
    });
    if (address === undefined) return;
    if (address) settings.address = address;
    const image = await vscode.window.showInputBox({
      title: "Base image",
      prompt: "The image environments are built on (it needs python3)",
      value: "python:3.11-slim",
    });
    if (!image) return;
    settings.base_image = image;
  } else if (type.label === "ssh") {
    const where = await vscode.window.showInputBox({
      title: "Remote machine",
      prompt: "user@host[:port]. Keys come from the SSH agent or ~/.ssh (set identity_file in the target file to pick one); passwords are never stored.",
      validateInput: (v) => (/^([^@\s]+@)?[^@:\s]+(:\d+)?$/.test(v) ? null : "user@host or user@host:port"),
    });
    if (!where) return;
    const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(where);
    if (m?.[1]) settings.user = m[1];
    settings.host = m?.[2] ?? where;
    if (m?.[3]) settings.port = Number(m[3]);
  } else if (type.label === "spark") {
    const master = await vscode.window.showInputBox({
      title: "Spark master",
      prompt: "local[2], spark://host:7077, yarn or k8s://https://host:port",
      value: "local[2]",
    });
    if (!master) return;
    settings.master = master;
  } else if (type.label === "ray") {
    const address = await vscode.window.showInputBox({
      title: "Ray dashboard address",
      prompt: "The cluster's dashboard, where its job API answers: http://host:8265",
      value: "http://127.0.0.1:8265",
      validateInput: (v) => (/^https?:\/\/[^\s/]+/.test(v) ? null : "http://host:port or https://host:port"),
    });
    if (!address) return;
    settings.address = address;
  }
  try {
    await parts.client.request(TARGETS_ADD, { project, name, type: type.label, settings });
    parts.targets.refresh(true);
    void vscode.window.showInformationMessage(`Target ${name} added (.runyard/targets/${name}.yml).`);
  } catch (err) {
    showError(parts.client, `Could not add target ${name}`, err);
  }
}

async function removeTarget(parts: TargetCommandParts, node?: TargetNode): Promise<void> {
  const project = projectFor(parts.projects, node);
  if (!project) return;
  const target = node?.kind === "target" ? node.target : await pickTarget(parts.client, project, "Remove Compute Target");
  if (!target) return;
  const ok = await vscode.window.showWarningMessage(
    `Remove target ${target.name}?`,
    { modal: true, detail: `This deletes ${target.file}. Runs made on it are kept.` },
    "Remove",
  );
  if (ok !== "Remove") return;
  try {
    await parts.client.request(TARGETS_REMOVE, { project, name: target.name });
    parts.targets.refresh();
  } catch (err) {
    showError(parts.client, `Could not remove target ${target.name}`, err);
  }
}

async function testTarget(parts: TargetCommandParts, node?: TargetNode): Promise<void> {
  if (!requireTrust()) return;
  const project = projectFor(parts.projects, node);
  if (!project) return;
  const target = node?.kind === "target" ? node.target : await pickTarget(parts.client, project, "Test Compute Target");
  if (!target) return;
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Testing target ${target.name}` },
      () => parts.client.request(TARGETS_TEST, { project, name: target.name }),
    );
    parts.targets.refresh(true);
    for (const c of result.checks) {
      parts.client.log.info(`target ${target.name}: ${c.ok ? "ok" : "FAILED"} ${c.name}: ${c.detail}${c.fix ? ` (${c.fix})` : ""}`);
    }
    if (result.ok) {
      void vscode.window.showInformationMessage(
        `Target ${target.name} is ready: ${result.checks.map((c) => c.detail).join("; ")}`,
      );
      return;
    }
    const failed = result.checks.filter((c) => !c.ok);
    const hostKey = failed.some((c) => /host key/i.test(`${c.name} ${c.detail} ${c.fix ?? ""}`));
    const text = failed.map((c) => `${c.name}: ${c.detail}${c.fix ? ` Fix: ${c.fix}` : ""}`).join(" ");
    const actions = hostKey ? ["Trust Host Key…", "Show Logs"] : ["Show Logs"];
    const pick = await vscode.window.showErrorMessage(`Target ${target.name} is not ready. ${text}`, ...actions);
    if (pick === "Show Logs") parts.client.log.show();
    else if (pick === "Trust Host Key…") await trustHostKey(parts, project, target.name);
  } catch (err) {
    showError(parts.client, `Could not test target ${target.name}`, err);
  }
}

async function trustHostKey(parts: TargetCommandParts, project: string, name: string): Promise<void> {
  try {
    const seen = await parts.client.request(TARGETS_TRUST, { project, name });
    const ok = await vscode.window.showWarningMessage(
      `Trust the SSH host key of ${seen.host}?`,
      { modal: true, detail: `Fingerprint: ${seen.fingerprint}\nCheck it against the machine's own before you trust it.` },
      "Trust",
    );
    if (ok !== "Trust") return;
    await parts.client.request(TARGETS_TRUST, { project, name, fingerprint: seen.fingerprint });
    void vscode.window.showInformationMessage(`Host key of ${seen.host} recorded in ~/.ssh/known_hosts.`);
    parts.targets.refresh(true);
  } catch (err) {
    showError(parts.client, "Could not trust the host key", err);
  }
}

async function setDefaultTarget(parts: TargetCommandParts, node?: TargetNode): Promise<void> {
  const project = projectFor(parts.projects, node);
  if (!project) return;
  const target = node?.kind === "target" ? node.target : await pickTarget(parts.client, project, "Set Default Target");
  if (!target) return;
  try {
    await parts.client.request(TARGETS_SET_DEFAULT, { project, name: target.name });
    await parts.projects.refresh();
  } catch (err) {
    showError(parts.client, `Could not make ${target.name} the default target`, err);
  }
}

export function registerTargetCommands(parts: TargetCommandParts): vscode.Disposable[] {
  const { client } = parts;
  return [
    command(client, "addTarget", () => addTarget(parts)),
    command(client, "removeTarget", (node) => removeTarget(parts, node as TargetNode | undefined)),
    command(client, "testTarget", (node) => testTarget(parts, node as TargetNode | undefined)),
    command(client, "setDefaultTarget", (node) => setDefaultTarget(parts, node as TargetNode | undefined)),
  ];
}
