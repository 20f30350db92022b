// Pure filtering for the Gallery view. No DOM here.
import type { GalleryEntry } from "../src/protocol";

/** The frameworks the filter offers: every entry's, unique, sorted (case-insensitively). */
export function frameworks(entries: readonly GalleryEntry[]): string[] {
  const seen = new Set<string>();
  for (const e of entries) if (e.framework) seen.add(e.framework);
  return [...seen].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
}

/** Entries matching every word of `query` (in id, title, description, framework, task,
 * tags or metric name; case-insensitive) and the framework (empty: any). */
export function filterEntries(
  entries: readonly GalleryEntry[],
  query: string,
  framework: string,
): GalleryEntry[] {
  const words = query.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
  return entries.filter((e) => {
    if (framework && e.framework !== framework) return false;
    if (words.length === 0) return true;
    const hay = [e.id, e.title, e.description, e.framework, e.task, e.metric?.name ?? "", ...(e.tags ?? [])]
      .join("\n")
      .toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}
