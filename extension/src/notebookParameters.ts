// What "Submit Notebook as Run" asks for and hands the server: the notebook's
// parameters typed as the command line takes them (`NAME=VALUE` pairs, separated by
// spaces; a value with spaces in quotes), turned into the `-p NAME=VALUE` arguments of
// runyard/runs/submit. The server types each value (True/False, None, int, float, else
// text) and injects them after the notebook's `parameters` cell. No `vscode` here, so
// the parsing is unit-tested on its own.

/** The submit arguments for `text`, or the message saying what is wrong with it. */
export function notebookParameters(text: string): { args: string[] } | { error: string } {
  const args: string[] = [];
  const tokens = text.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
  const rest = text.replace(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g, "").trim();
  if (rest) return { error: `an unclosed quote: ${rest}` };
  for (const token of tokens) {
    const item = token.replace(/"([^"]*)"|'([^']*)'/g, (_m, a: string | undefined, b: string | undefined) => a ?? b ?? "");
    const eq = item.indexOf("=");
    const name = eq < 0 ? item : item.slice(0, eq);
    if (eq < 0) return { error: `${item}: give NAME=VALUE, e.g. lr=0.1` };
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return { error: `${name || "(nothing)"} is not a Python variable name` };
    args.push("-p", item);
  }
  return { args };
}
