// The remembered Python versions: reused only for the very same executable file.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { executableFacts, remember, rememberedVersion } from "../src/pythonProbe";

function folderWithPython(): { dir: string; exe: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "runyard-probe-"));
  const exe = path.join(dir, "python3.12");
  fs.writeFileSync(exe, "#!/bin/sh\necho 3.12.1\n", { mode: 0o755 });
  fs.symlinkSync(exe, path.join(dir, "python3"));
  return { dir, exe };
}

describe("python probe cache", () => {
  it("finds a bare name along PATH and follows its link to the real file", () => {
    const { dir, exe } = folderWithPython();
    const facts = executableFacts("python3", ["/nonexistent-dir", dir].join(path.delimiter));
    assert.equal(facts?.real, fs.realpathSync(exe));
    assert.equal(facts?.size, fs.statSync(exe).size);
    assert.equal(executableFacts("python3", "/nonexistent-dir"), null);
    assert.equal(executableFacts(path.join(dir, "missing")), null);
  });

  it("reuses a version only while the executable is the same file, size and time", () => {
    const { dir, exe } = folderWithPython();
    const pathVar = dir;
    const facts = executableFacts("python3", pathVar);
    assert.ok(facts);
    const cache = remember(undefined, "python3", facts, "3.12.1");
    assert.equal(rememberedVersion(cache, "python3", executableFacts("python3", pathVar)), "3.12.1");
    assert.equal(rememberedVersion(cache, "python", executableFacts("python3", pathVar)), null, "another command");
    assert.equal(rememberedVersion(undefined, "python3", facts), null, "nothing remembered");
    assert.equal(rememberedVersion(cache, "python3", null), null, "the command is gone");

    // the interpreter is upgraded in place: another size and time
    fs.writeFileSync(exe, "#!/bin/sh\necho 3.13.0 and more\n");
    fs.utimesSync(exe, new Date(), new Date(Date.now() + 5000));
    assert.equal(rememberedVersion(cache, "python3", executableFacts("python3", pathVar)), null);

    // the link now points at another interpreter
    const other = path.join(dir, "python3.11");
    fs.copyFileSync(exe, other);
    fs.unlinkSync(path.join(dir, "python3"));
    fs.symlinkSync(other, path.join(dir, "python3"));
    const moved = executableFacts("python3", pathVar);
    assert.equal(moved?.real, fs.realpathSync(other));
    assert.equal(rememberedVersion(cache, "python3", moved), null);
  });

  it("keeps the other commands' records when one is remembered", () => {
    const facts = { real: "/x/python", size: 1, mtimeMs: 2 };
    const cache = remember(remember(undefined, "a", facts, "3.11.0"), "b", facts, "3.12.0");
    assert.deepEqual(Object.keys(cache).sort(), ["a", "b"]);
    assert.equal(rememberedVersion(cache, "a", facts), "3.11.0");
  });
});
