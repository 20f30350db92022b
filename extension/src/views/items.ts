// What the Runs, Models and Compute Targets views share: the message row (the server is
// starting, a listing failed: a line of text with an icon, in place of the rows) and a
// status's icon read from a table of codicon and theme colour.
import * as vscode from "vscode";

/** A row that only says something; `icon` is a codicon name. */
export type MessageNode = { kind: "message"; text: string; icon: string };

export function messageItem(node: MessageNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.text);
  item.iconPath = new vscode.ThemeIcon(node.icon);
  return item;
}

/** Status -> [codicon, theme colour id or undefined for the default colour]. */
export type StatusIcons = Record<string, [string, string | undefined]>;

/** The icon of `status` in `icons`; a status missing there gets a plain circle. */
export function statusIcon(icons: StatusIcons, status: string): vscode.ThemeIcon {
  const [icon, color] = icons[status] ?? ["circle-outline", undefined];
  return new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
}
