// The events timeline's derivations: event rows as entries newest first, the filter (type,
// reason, involved kind, free text), the choices the filter offers, and relative times.
import type { EventSummary, Row } from "../ipc/resources";

export interface EventEntry {
  readonly uid: string;
  /** `Normal` or `Warning` (other values pass through as the API gives them). */
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly kind: string;
  readonly name: string;
  /** The involved object's namespace (`null` for cluster-scoped objects). */
  readonly namespace: string | null;
  readonly count: number;
  readonly source: string;
  /** When it last happened, ms since the epoch; `null` when the event carries no time. */
  readonly time: number | null;
  /** Lower-cased text the free-text filter searches. */
  readonly haystack: string;
}

export type TypeFilter = "all" | "Normal" | "Warning";

export interface EventFilter {
  readonly type: TypeFilter;
  /** `null`: any reason. */
  readonly reason: string | null;
  /** `null`: any involved kind. */
  readonly kind: string | null;
  /** Words that must all appear (case-insensitive) in reason, message, object or source. */
  readonly text: string;
}

export const NO_FILTER: EventFilter = { type: "all", reason: null, kind: null, text: "" };

function timeOf(summary: EventSummary, row: Row): number | null {
  const at = summary.lastSeen ?? row.createdAt;
  if (at === null) return null;
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? null : ms;
}

/** Event rows as entries, newest first (events without a time last). */
export function toEntries(rows: readonly Row[]): EventEntry[] {
  const entries: EventEntry[] = [];
  for (const row of rows) {
    if (row.summary.kind !== "event") continue;
    const e = row.summary;
    const namespace = e.involvedNamespace ?? null;
    entries.push({
      uid: row.uid,
      type: e.eventType,
      reason: e.reason,
      message: e.message,
      kind: e.involvedKind,
      name: e.involvedName,
      namespace,
      count: e.count,
      source: e.source,
      time: timeOf(e, row),
      haystack: [e.reason, e.message, e.involvedKind, namespace ?? "", e.involvedName, e.source].join("\n").toLowerCase(),
    });
  }
  return entries.sort((a, b) => (b.time ?? -Infinity) - (a.time ?? -Infinity) || a.uid.localeCompare(b.uid));
}

/** The entries `filter` lets through, in the order given. */
export function filterEvents(entries: readonly EventEntry[], filter: EventFilter): readonly EventEntry[] {
  const words = filter.text.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
  if (filter.type === "all" && filter.reason === null && filter.kind === null && words.length === 0) return entries;
  return entries.filter(
    (e) =>
      (filter.type === "all" || e.type === filter.type) &&
      (filter.reason === null || e.reason === filter.reason) &&
      (filter.kind === null || e.kind === filter.kind) &&
      words.every((w) => e.haystack.includes(w)),
  );
}

/** A value the filter can pick, with how many entries have it. */
export interface Facet {
  readonly value: string;
  readonly count: number;
}

function countBy(entries: readonly EventEntry[], key: (e: EventEntry) => string): Facet[] {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(key(e), (counts.get(key(e)) ?? 0) + 1);
  return [...counts]
    .map(([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
}

/** The reasons and involved kinds present, most frequent first, and the Warning count. */
export function facets(entries: readonly EventEntry[]): { reasons: Facet[]; kinds: Facet[]; warnings: number } {
  return {
    reasons: countBy(entries, (e) => e.reason),
    kinds: countBy(entries, (e) => e.kind),
    warnings: entries.reduce((n, e) => n + (e.type === "Warning" ? 1 : 0), 0),
  };
}

/** How long ago `time` was, as short as kubectl's ages: `12s`, `4m`, `3h`, `2d`. */
export function formatAgo(time: number | null, now: number): string {
  if (time === null) return "—";
  const seconds = Math.max(0, Math.floor((now - time) / 1000));
  if (seconds < 120) return `${String(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${String(minutes)}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${String(hours)}h`;
  return `${String(Math.floor(hours / 24))}d`;
}
