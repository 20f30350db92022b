// Bundles the extension (Node, CommonJS, `vscode` external), each webview (browser,
// IIFE, chart library included: no CDN) and, with --tests, the unit tests.
// Usage: node extension/build.mjs [--tests] [--watch]
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const tests = process.argv.includes("--tests");
const common = { bundle: true, sourcemap: false, logLevel: "warning", target: "es2022" };

mkdirSync(join(dist, "webview"), { recursive: true });
const builds = [
  esbuild.build({
    ...common,
    entryPoints: [join(root, "extension/src/extension.ts")],
    outfile: join(dist, "extension.js"),
    platform: "node",
    format: "cjs",
    external: ["vscode"],
    minify: true,
  }),
];
const webviews = readdirSync(join(root, "extension/webview")).filter(
  (f) => f.endsWith(".main.ts"),
);
for (const file of webviews) {
  builds.push(
    esbuild.build({
      ...common,
      entryPoints: [join(root, "extension/webview", file)],
      outfile: join(dist, "webview", file.replace(".main.ts", ".js")),
      platform: "browser",
      format: "iife",
      minify: true,
    }),
  );
}
if (tests) {
  const testDir = join(root, "extension/test");
  const entries = readdirSync(testDir)
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => join(testDir, f));
  builds.push(
    esbuild.build({
      ...common,
      entryPoints: entries,
      outdir: join(dist, "test"),
      platform: "node",
      format: "cjs",
      external: ["vscode"],
    }),
  );
}
await Promise.all(builds);
for (const css of readdirSync(join(root, "extension/webview")).filter((f) => f.endsWith(".css"))) {
  copyFileSync(join(root, "extension/webview", css), join(dist, "webview", css));
}
copyFileSync(join(root, "node_modules/uplot/dist/uPlot.min.css"), join(dist, "webview", "uPlot.min.css"));
