// The command modules against the manifest: every command package.json declares is
// registered exactly once under extension/src/commands/, nothing undeclared is, and
// each noun module (targets, runs, models, project) is handed its own parts: it imports
// the shared helpers (common.ts) but no other command module.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "extension"))) {
    const up = dirname(dir);
    assert.notEqual(up, dir, "the repository root (package.json beside extension/) is above the test");
    dir = up;
  }
  return dir;
}

const root = repoRoot();
const commandsDir = join(root, "extension", "src", "commands");
const sources = new Map(
  readdirSync(commandsDir)
    .filter((f) => f.endsWith(".ts"))
    .map((f) => [f, readFileSync(join(commandsDir, f), "utf8")] as const),
);

describe("command modules", () => {
  it("register every command of the manifest exactly once, and no other", () => {
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      contributes: { commands: { command: string }[] };
    };
    const declared = manifest.contributes.commands.map((c) => c.command).sort();
    const registered = [...sources.values()]
      .flatMap((text) => [...text.matchAll(/\bcommand\(client, "([A-Za-z]+)"/g)].map((m) => `runyard.${m[1]}`))
      .sort();
    assert.ok(declared.length > 0);
    assert.deepEqual(registered, declared);
  });

  it("are one per noun, each importing only the shared helpers among its siblings", () => {
    for (const noun of ["targets.ts", "runs.ts", "models.ts", "project.ts"]) {
      const text = sources.get(noun);
      assert.ok(text !== undefined, `extension/src/commands/${noun} exists`);
      const siblings = [...text.matchAll(/from "\.\/([^"]+)"/g)].map((m) => m[1]);
      assert.deepEqual(siblings, ["common"], `${noun} imports ${siblings.join(", ")}`);
    }
  });
});
