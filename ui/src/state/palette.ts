// The command palette's matching: a small fuzzy scorer (substring hits first, then
// subsequences that land on word starts) and ranking of entries by their label and keywords.

/** One thing the palette offers. */
export interface PaletteEntry {
  id: string;
  /** What the user reads and matches against. */
  label: string;
  /** Grey text beside the label (namespace, kind, "Action"). */
  detail: string;
  section: "View" | "Kind" | "Object" | "Action";
  /** More words that should find it (short names, the kind). */
  keywords: readonly string[];
}

function isWordStart(text: string, i: number): boolean {
  if (i === 0) return true;
  const before = text[i - 1] ?? "";
  return /[\s\-_./:]/.test(before);
}

/**
 * How well `query` matches `text`, or `null` when it does not. Higher is better: an exact
 * match beats a prefix, a prefix beats a substring, a substring beats a scattered subsequence;
 * among subsequences, hits on word starts and runs of adjacent letters win. Case-insensitive.
 */
export function fuzzyScore(query: string, text: string): number | null {
  const q = query.toLowerCase().trim();
  const t = text.toLowerCase();
  if (q === "") return 0;
  if (t === q) return 10_000;
  const at = t.indexOf(q);
  if (at === 0) return 5_000 - t.length;
  if (at > 0) return (isWordStart(t, at) ? 3_000 : 2_000) - at - t.length;
  let score = 0;
  let ti = 0;
  let previous = -2;
  for (const ch of q) {
    if (ch === " ") continue;
    const found = t.indexOf(ch, ti);
    if (found < 0) return null;
    score += 1;
    if (found === previous + 1) score += 5;
    if (isWordStart(t, found)) score += 8;
    score -= Math.min(found - ti, 10) * 0.5;
    previous = found;
    ti = found + 1;
  }
  return score;
}

/** The best score of an entry over its label and keywords (keywords count a little less). */
export function entryScore(entry: PaletteEntry, query: string): number | null {
  let best = fuzzyScore(query, entry.label);
  for (const keyword of entry.keywords) {
    const s = fuzzyScore(query, keyword);
    if (s !== null && (best === null || s - 1 > best)) best = s - 1;
  }
  return best;
}

const SECTION_ORDER: Record<PaletteEntry["section"], number> = { View: 0, Kind: 1, Action: 2, Object: 3 };

/** The entries matching `query`, best first (ties: section order, then given order), at most `limit`. */
export function rankEntries<T extends PaletteEntry>(entries: readonly T[], query: string, limit = 60): T[] {
  const scored: { entry: T; score: number }[] = [];
  for (const entry of entries) {
    const score = entryScore(entry, query);
    if (score !== null) scored.push({ entry, score });
  }
  scored.sort(
    (a, b) =>
      b.score - a.score ||
      SECTION_ORDER[a.entry.section] - SECTION_ORDER[b.entry.section],
  );
  return scored.slice(0, limit).map((s) => s.entry);
}

/** The index after moving `delta` within `count` items, wrapping around. */
export function moveIndex(index: number, delta: number, count: number): number {
  if (count === 0) return 0;
  return (((index + delta) % count) + count) % count;
}
