// The log view's logic without React: a capped buffer of lines from one or more pods, search
// and filter over it, and the ranges to highlight. Pure or self-contained, so Vitest covers it.

/** One line as shown: which pod wrote it (multi-pod views prefix it) and its text. */
export interface LogLine {
  /** Increases by one per line ever received, so it stays a stable React key after trimming. */
  readonly seq: number;
  readonly pod: string;
  readonly text: string;
}

/** Lines kept by default; older ones are dropped (and the view says how many). */
export const DEFAULT_CAP = 50_000;

/**
 * The last `cap` lines received. Appending is amortised O(batch): the front is cut only once
 * the buffer has grown a tenth past its cap, so a steady stream does not copy 50,000 lines
 * per batch.
 */
export class LineBuffer {
  private items: LogLine[] = [];
  private nextSeq = 0;
  /** Lines dropped from the front so far. */
  dropped = 0;

  constructor(readonly cap: number = DEFAULT_CAP) {}

  /** Appends `texts` written by `pod`. */
  push(pod: string, texts: readonly string[]): void {
    for (const text of texts) this.items.push({ seq: this.nextSeq++, pod, text });
    const slack = Math.max(1, Math.floor(this.cap / 10));
    if (this.items.length > this.cap + slack) this.trim();
  }

  /** The kept lines, oldest first (at most `cap`). */
  lines(): readonly LogLine[] {
    if (this.items.length > this.cap) this.trim();
    return this.items;
  }

  clear(): void {
    this.items = [];
    this.dropped = 0;
  }

  private trim(): void {
    const excess = this.items.length - this.cap;
    this.items = this.items.slice(excess);
    this.dropped += excess;
  }
}

/** Whether `text` contains `query`, ignoring case; an empty query matches everything. */
export function matches(text: string, query: string): boolean {
  return query === "" || text.toLowerCase().includes(query.toLowerCase());
}

/** The lines a filter keeps (all of them for an empty filter). */
export function filterLines(lines: readonly LogLine[], filter: string): readonly LogLine[] {
  if (filter === "") return lines;
  return lines.filter((line) => matches(line.text, filter));
}

/** `[start, end)` of every occurrence of `query` in `text`, ignoring case, not overlapping. */
export function highlightRanges(text: string, query: string): [number, number][] {
  if (query === "") return [];
  const haystack = text.toLowerCase();
  const needle = query.toLowerCase();
  const ranges: [number, number][] = [];
  let from = 0;
  for (;;) {
    const at = haystack.indexOf(needle, from);
    if (at < 0) return ranges;
    ranges.push([at, at + needle.length]);
    from = at + needle.length;
  }
}

/** A line cut into plain and highlighted parts, in order, covering all of it. */
export interface Segment {
  readonly text: string;
  readonly hit: boolean;
}

export function segments(text: string, query: string): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  for (const [start, end] of highlightRanges(text, query)) {
    if (start > at) out.push({ text: text.slice(at, start), hit: false });
    out.push({ text: text.slice(start, end), hit: true });
    at = end;
  }
  if (at < text.length || out.length === 0) out.push({ text: text.slice(at), hit: false });
  return out;
}

/** Indices (into `lines`) of the lines that contain `query`. */
export function matchIndices(lines: readonly LogLine[], query: string): number[] {
  if (query === "") return [];
  const out: number[] = [];
  lines.forEach((line, index) => {
    if (matches(line.text, query)) out.push(index);
  });
  return out;
}

/**
 * The match to go to from `current` (a position in `hits`, or -1 for none yet), wrapping
 * around; -1 when there are no matches. Going back from "none" lands on the last match (the
 * newest lines are at the bottom, where a log is read from).
 */
export function stepMatch(hits: readonly number[], current: number, direction: 1 | -1): number {
  if (hits.length === 0) return -1;
  if (current < 0 || current >= hits.length) return direction === 1 ? 0 : hits.length - 1;
  return (current + direction + hits.length) % hits.length;
}

/** The text of the lines for a download; pod-prefixed when more than one pod is shown. */
export function downloadText(lines: readonly LogLine[], multiPod: boolean): string {
  return lines.map((line) => (multiPod ? `[${line.pod}] ${line.text}` : line.text)).join("\n") + "\n";
}

/** Colours for pod prefixes, cycled by the pod's position in the list. */
const POD_COLOURS = ["#2f81f7", "#3fb950", "#d29922", "#db61a2", "#a371f7", "#39c5cf", "#f0883e", "#8b949e"];

export function podColour(index: number): string {
  return POD_COLOURS[index % POD_COLOURS.length] ?? "#8b949e";
}
