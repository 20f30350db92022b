// The Gallery view: one card per sample project, a search box and a framework filter,
// and "Create project" on each card (the host asks where).
import type { GalleryEntry } from "../src/protocol";
import { startView, viewFrame } from "./bootstrap";
import { button, clear, h, showError } from "./dom";
import { formatRuntime, formatValue } from "./format";
import { filterEntries, frameworks } from "./galleryModel";
import { loadState, post, saveState } from "./vscodeApi";

const saved = loadState();
let query = typeof saved.query === "string" ? saved.query : "";
let framework = typeof saved.framework === "string" ? saved.framework : "";
let entries: GalleryEntry[] = [];
let images: Record<string, string> = {};

const { app, banner } = viewFrame();
const search = h("input", {
  attrs: { id: "search", type: "search", placeholder: "Search samples", "aria-label": "Search samples" },
});
search.value = query;
const frameworkSelect = h("select", { attrs: { id: "framework", "aria-label": "Framework" } });
const count = h("span", { className: "muted count" });
const grid = h("div", { className: "gallery-grid" }, h("p", { className: "muted" }, "Loading samples…"));

app.append(
  h("header", { className: "run-header" }, h("h1", null, "Runyard Gallery")),
  banner,
  h("div", { className: "toolbar" }, search, frameworkSelect, count),
  grid,
);

search.addEventListener("input", () => {
  query = search.value;
  saveState({ query });
  renderCards();
});
frameworkSelect.addEventListener("change", () => {
  framework = frameworkSelect.value;
  saveState({ framework });
  renderCards();
});

function renderFrameworks(): void {
  const names = frameworks(entries);
  clear(frameworkSelect);
  frameworkSelect.appendChild(h("option", { attrs: { value: "" } }, "All frameworks"));
  for (const name of names) frameworkSelect.appendChild(h("option", { attrs: { value: name } }, name));
  if (!names.includes(framework)) framework = "";
  frameworkSelect.value = framework;
}

function meta(label: string, value: string): HTMLElement[] {
  return [h("dt", null, label), h("dd", null, value)];
}

function card(entry: GalleryEntry): HTMLElement {
  const src = images[entry.id];
  const picture = src
    ? h("img", { className: "card-image", attrs: { src, alt: entry.title } })
    : h("div", { className: "card-image placeholder", attrs: { "aria-hidden": "true" } });
  const metric = entry.metric
    ? `${entry.metric.name} ${formatValue(entry.metric.value)}${entry.metric.goal ? ` (${entry.metric.goal})` : ""}`
    : "";
  const tags = h("ul", { className: "tags" });
  for (const tag of entry.tags ?? []) tags.appendChild(h("li", null, tag));
  return h(
    "article",
    { className: "card", attrs: { "data-entry": entry.id } },
    picture,
    h(
      "div",
      { className: "card-body" },
      h("h2", null, entry.title),
      h("p", { className: "description" }, entry.description),
      h(
        "dl",
        { className: "info" },
        ...meta("Framework", entry.framework),
        ...meta("Task", entry.task),
        ...(metric ? meta("Metric", metric) : []),
        ...meta("Run time", formatRuntime(entry.expectedRuntimeSeconds)),
      ),
      tags,
      h(
        "div",
        { className: "toolbar" },
        button("Create project", () => post({ type: "createProject", id: entry.id })),
      ),
    ),
  );
}

function renderCards(): void {
  const shown = filterEntries(entries, query, framework);
  count.textContent = `${shown.length} of ${entries.length} samples`;
  if (shown.length === 0) {
    grid.replaceChildren(
      h("p", { className: "muted" }, entries.length ? "No sample matches the search." : "The gallery is empty."),
    );
    return;
  }
  grid.replaceChildren(...shown.map(card));
}

startView(banner, {
  gallery: (message) => {
    entries = message.entries;
    images = message.images;
    showError(banner, null);
    renderFrameworks();
    renderCards();
  },
});
