// DOM helpers for the webviews. Everything that comes from the user or the server is
// inserted as text (text nodes, textContent, setAttribute of plain attributes): never
// as HTML.

type Child = Node | string | null | undefined | false;

export interface Props {
  className?: string;
  /** Plain attributes only; event handler attributes (on*) and style are refused. */
  attrs?: Record<string, string>;
  title?: string;
}

/** Create an element; string children become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    if (props.className) el.className = props.className;
    if (props.title !== undefined) el.title = props.title;
    for (const [name, value] of Object.entries(props.attrs ?? {})) setAttr(el, name, value);
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
}

/** setAttribute for plain attributes: refuses event handlers and inline style. */
export function setAttr(el: Element, name: string, value: string): void {
  const lower = name.toLowerCase();
  if (lower.startsWith("on") || lower === "style" || lower === "srcdoc") {
    throw new Error(`refusing to set attribute ${name}`);
  }
  el.setAttribute(name, value);
}

export function clear(el: Element): void {
  el.replaceChildren();
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

/** A CSS class name safe to build from a server value (status names and the like). */
export function classToken(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9-]/g, "");
}

/** A button. */
export function button(label: string, onClick: () => void, className = ""): HTMLButtonElement {
  const b = h("button", { className, attrs: { type: "button" } }, label);
  b.addEventListener("click", onClick);
  return b;
}

/** A two-column key/value table (params, tags); an empty map shows `empty`. */
export function keyValueTable(map: Record<string, string>, empty: string): HTMLElement {
  const keys = Object.keys(map).sort();
  if (keys.length === 0) return h("p", { className: "muted" }, empty);
  const body = h("tbody");
  for (const k of keys) body.appendChild(h("tr", null, h("th", { attrs: { scope: "row" } }, k), h("td", null, map[k] ?? "")));
  return h("table", { className: "kv" }, body);
}

/** The banner that shows an error as text. */
export function showError(banner: HTMLElement, message: string | null): void {
  banner.textContent = message ?? "";
  banner.hidden = !message;
}

/** The computed value of a CSS custom property (VS Code's theme variables). */
export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  if (v) return v;
  const b = document.body ? getComputedStyle(document.body).getPropertyValue(name).trim() : "";
  return b || fallback;
}

/** Call `fn` whenever VS Code switches the colour theme (it changes body's classes and
 * the variables on the html element). */
export function onThemeChange(fn: () => void): void {
  const observer = new MutationObserver(() => fn());
  observer.observe(document.body, { attributes: true, attributeFilter: ["class"] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ["style"] });
}
