// Request errors as the extension shows them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ResponseError } from "vscode-jsonrpc";
import { asRunyardError, RunyardError } from "../src/errors";

describe("asRunyardError", () => {
  it("takes the message and the hint apart from the server's data, so the hint shows once", () => {
    const err = new ResponseError(-32001, "Port 8080 is in use. Next: pick another --port", {
      message: "Port 8080 is in use.",
      hint: "pick another --port",
    });
    const e = asRunyardError(err);
    assert.equal(e.message, "Port 8080 is in use.");
    assert.equal(e.hint, "pick another --port");
    assert.equal(e.code, -32001);
  });

  it("keeps the message of an error without data", () => {
    const e = asRunyardError(new ResponseError(-32603, "internal error", "Traceback ..."));
    assert.deepEqual([e.message, e.hint, e.code], ["internal error", null, -32603]);
  });

  it("wraps anything else, and passes a RunyardError through", () => {
    const own = new RunyardError("x", null, "y");
    assert.equal(asRunyardError(own), own);
    assert.deepEqual([asRunyardError(new Error("boom")).message, asRunyardError("text").message], ["boom", "text"]);
  });
});

describe("RunyardError.withHint", () => {
  it("is the message and the hint, for a line in a view", () => {
    assert.equal(new RunyardError("Engine down.", null, "start it").withHint, "Engine down. Next: start it");
    assert.equal(new RunyardError("Engine down.", null, null).withHint, "Engine down.");
  });
});
