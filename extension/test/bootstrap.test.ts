// The webviews' message loop (webview/bootstrap.ts over vscodeApi.start), run with a
// stand-in for the page: `window` keeps the message listener, `acquireVsCodeApi` records
// what the view posts. Checks the contract every view relies on: `initialized` once
// listening, each known message to its handler, `error` to the banner as text, anything
// else ignored, a throwing handler logged without stopping the loop.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { startView } from "../webview/bootstrap";
import type { HostMessage } from "../webview/messages";

type Listener = (event: { data: unknown }) => void;
const page = globalThis as unknown as Record<string, unknown>;

describe("startView", () => {
  let listeners: Listener[];
  /** What the page saw, in order: "listen" for each listener added, then each posted message. */
  let events: unknown[];
  let banner: { textContent: string; hidden: boolean };

  beforeEach(() => {
    listeners = [];
    events = [];
    banner = { textContent: "", hidden: true };
    page.window = {
      addEventListener: (_type: string, fn: Listener) => {
        listeners.push(fn);
        events.push("listen");
      },
    };
    // vscodeApi acquires the API once per page (this file is one page): it posts through
    // this closure, which reads `events` afresh each test.
    page.acquireVsCodeApi = () => ({
      postMessage: (m: unknown) => events.push(m),
      getState: () => undefined,
      setState: () => undefined,
    });
  });

  afterEach(() => {
    delete page.window;
  });

  const deliver = (data: unknown): void => {
    for (const fn of listeners) fn({ data });
  };

  it("listens, then says initialized, and hands each message to its handler", () => {
    const seen: HostMessage[] = [];
    startView(banner as unknown as HTMLElement, {
      run: (m) => seen.push(m),
      gallery: (m) => seen.push(m),
    });
    assert.deepEqual(events, ["listen", { type: "initialized" }]);
    const run = { type: "run", run: { id: "r1" } };
    const gallery = { type: "gallery", entries: [], images: {} };
    deliver(run);
    deliver(gallery);
    assert.deepEqual(seen, [run, gallery]);
  });

  it("shows an error in the banner as text, and ignores what the view does not handle", () => {
    const seen: unknown[] = [];
    startView(banner as unknown as HTMLElement, { run: (m) => seen.push(m) });
    deliver({ type: "series", series: [] }); // known, but no handler here
    deliver({ type: "<b>nope</b>" });
    deliver("run");
    deliver(null);
    assert.deepEqual(seen, []);
    assert.equal(banner.hidden, true);
    deliver({ type: "error", message: "<b>boom</b>" });
    assert.equal(banner.textContent, "<b>boom</b>");
    assert.equal(banner.hidden, false);
  });

  it("logs a handler that throws and goes on", (t) => {
    const logged = t.mock.method(console, "error", () => undefined);
    let calls = 0;
    startView(banner as unknown as HTMLElement, {
      run: () => {
        calls += 1;
        throw new Error("bad");
      },
    });
    deliver({ type: "run", run: { id: "r1" } });
    deliver({ type: "run", run: { id: "r2" } });
    assert.equal(calls, 2);
    assert.equal(logged.mock.callCount(), 2);
  });
});
