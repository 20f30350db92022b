// The parameters "Submit Notebook as Run" reads: NAME=VALUE pairs become -p arguments,
// quoted values keep their spaces, and what is not NAME=VALUE is said, not sent.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { notebookParameters } from "../src/notebookParameters";

describe("notebookParameters", () => {
  it("makes -p arguments of NAME=VALUE pairs", () => {
    assert.deepEqual(notebookParameters(""), { args: [] });
    assert.deepEqual(notebookParameters("  lr=0.1   epochs=3 "), { args: ["-p", "lr=0.1", "-p", "epochs=3"] });
    assert.deepEqual(notebookParameters("empty="), { args: ["-p", "empty="] });
  });

  it("keeps a quoted value's spaces and what follows the first =", () => {
    assert.deepEqual(notebookParameters(`title="a b c" query='x = 1'`), {
      args: ["-p", "title=a b c", "-p", "query=x = 1"],
    });
  });

  it("says what is not a parameter", () => {
    assert.deepEqual(notebookParameters("lr"), { error: "lr: give NAME=VALUE, e.g. lr=0.1" });
    assert.deepEqual(notebookParameters("1x=2"), { error: "1x is not a Python variable name" });
    assert.deepEqual(notebookParameters("=2"), { error: "(nothing) is not a Python variable name" });
    assert.ok("error" in notebookParameters(`title="open`));
  });
});
