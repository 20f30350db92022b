// Host-side helpers of the panels that need no VS Code: the page and its CSP, and
// matching pushed project paths.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contentSecurityPolicy, escapeHtml, makeNonce, pageHtml } from "../src/webviews/html";
import { errorText, normalizeProjectPath, sameProject } from "../src/webviews/paths";

describe("webview page", () => {
  const csp = "https://file+.vscode-resource.vscode-cdn.net";
  const page = pageHtml({
    title: "Run <script>alert(1)</script>",
    cspSource: csp,
    nonce: "abc123==",
    scriptUri: "https://x/dist/webview/details.js",
    styleUris: ["https://x/dist/webview/uPlot.min.css", "https://x/dist/webview/runyard.css"],
    bodyClass: "runyard details",
  });

  it("has a strict policy: nothing by default, scripts by nonce only", () => {
    const policy = contentSecurityPolicy(csp, "n0nce");
    assert.equal(
      policy,
      `default-src 'none'; img-src ${csp} data:; style-src ${csp}; script-src 'nonce-n0nce'; font-src ${csp}`,
    );
    assert.ok(!policy.includes("unsafe"));
    assert.ok(!policy.includes("*"));
  });

  it("loads its one script with the nonce and has no inline script or style", () => {
    const scripts = page.match(/<script\b[^>]*>/g) ?? [];
    assert.equal(scripts.length, 1);
    assert.match(scripts[0] ?? "", /nonce="abc123=="/);
    assert.match(scripts[0] ?? "", /src="https:\/\/x\/dist\/webview\/details.js"/);
    assert.ok(!/<script[^>]*>[^<]+<\/script>/.test(page), "no inline script body");
    assert.ok(!/<style/i.test(page));
    assert.ok(!/\sstyle=/i.test(page));
    assert.ok(!/\son[a-z]+=/i.test(page));
    assert.equal((page.match(/<link rel="stylesheet"/g) ?? []).length, 2);
  });

  it("escapes the title", () => {
    assert.ok(page.includes("Run &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.equal(escapeHtml(`<a href="x" onclick='y'>&</a>`), "&lt;a href=&quot;x&quot; onclick='y'&gt;&amp;&lt;/a&gt;");
    assert.ok(page.includes(`content="default-src 'none'; img-src ${csp} data:;`));
  });

  it("makes a fresh, long nonce each time", () => {
    const a = makeNonce();
    const b = makeNonce();
    assert.notEqual(a, b);
    assert.ok(Buffer.from(a, "base64").length >= 16);
    assert.match(a, /^[A-Za-z0-9+/=]+$/);
  });
});

describe("project paths", () => {
  it("normalises trailing slashes and file URIs", () => {
    assert.equal(normalizeProjectPath("/home/me/proj/"), "/home/me/proj");
    assert.equal(normalizeProjectPath("/home/me/proj//"), "/home/me/proj");
    assert.equal(normalizeProjectPath("file:///home/me/proj/"), "/home/me/proj");
    assert.equal(normalizeProjectPath("/"), "/");
    assert.equal(normalizeProjectPath("C:\\Users\\me\\proj\\"), "c:/Users/me/proj");
  });

  it("matches a push for the project or a folder inside it", () => {
    assert.ok(sameProject("/home/me/proj", "/home/me/proj/"));
    assert.ok(sameProject("/home/me/proj", "file:///home/me/proj"));
    assert.ok(sameProject("/home/me/proj", "/home/me/proj/src"));
    assert.ok(!sameProject("/home/me/proj", "/home/me/project2"));
    assert.ok(!sameProject("/home/me/proj/src", "/home/me/proj"));
  });

  it("reads error messages", () => {
    assert.equal(errorText(new Error("boom")), "boom");
    assert.equal(errorText({ message: "rpc failed", code: -32010 }), "rpc failed");
    assert.equal(errorText("plain"), "plain");
  });
});
