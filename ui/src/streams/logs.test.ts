// Tests of the log view's pure logic: the capped buffer, search, filter and highlighting.
import { describe, expect, it } from "vitest";
import {
  LineBuffer,
  downloadText,
  filterLines,
  highlightRanges,
  matchIndices,
  segments,
  stepMatch,
  type LogLine,
} from "./logs";

const line = (text: string, pod = "p", seq = 0): LogLine => ({ seq, pod, text });

describe("LineBuffer", () => {
  it("keeps the last `cap` lines and counts what it dropped", () => {
    const buffer = new LineBuffer(10);
    for (let i = 0; i < 25; i++) buffer.push("web", [`line ${String(i)}`]);
    const lines = buffer.lines();
    expect(lines).toHaveLength(10);
    expect(lines[0]?.text).toBe("line 15");
    expect(lines[9]?.text).toBe("line 24");
    expect(buffer.dropped).toBe(15);
  });

  it("numbers lines so keys survive trimming, and remembers each line's pod", () => {
    const buffer = new LineBuffer(3);
    buffer.push("a", ["1", "2"]);
    buffer.push("b", ["3", "4"]);
    expect(buffer.lines().map((l) => [l.seq, l.pod, l.text])).toEqual([
      [1, "a", "2"],
      [2, "b", "3"],
      [3, "b", "4"],
    ]);
  });

  it("clears", () => {
    const buffer = new LineBuffer(2);
    buffer.push("a", ["1", "2", "3", "4"]);
    buffer.clear();
    expect(buffer.lines()).toEqual([]);
    expect(buffer.dropped).toBe(0);
  });
});

describe("search and filter", () => {
  const lines = [line("GET /health 200"), line("error: boom"), line("GET /api 500"), line("Error again")];

  it("filters lines ignoring case; an empty filter keeps all", () => {
    expect(filterLines(lines, "error").map((l) => l.text)).toEqual(["error: boom", "Error again"]);
    expect(filterLines(lines, "")).toBe(lines);
  });

  it("finds the lines that match", () => {
    expect(matchIndices(lines, "get")).toEqual([0, 2]);
    expect(matchIndices(lines, "")).toEqual([]);
  });

  it("highlights every occurrence, ignoring case", () => {
    expect(highlightRanges("aXa xa", "xA")).toEqual([[1, 3], [4, 6]]);
    expect(highlightRanges("aaaa", "aa")).toEqual([[0, 2], [2, 4]]);
    expect(highlightRanges("abc", "")).toEqual([]);
  });

  it("cuts a line into plain and highlighted parts covering all of it", () => {
    expect(segments("an error here", "ERROR")).toEqual([
      { text: "an ", hit: false },
      { text: "error", hit: true },
      { text: " here", hit: false },
    ]);
    expect(segments("", "x")).toEqual([{ text: "", hit: false }]);
    expect(segments("xx", "x")).toEqual([
      { text: "x", hit: true },
      { text: "x", hit: true },
    ]);
  });

  it("steps through matches, wrapping around", () => {
    const hits = [3, 7, 9];
    expect(stepMatch(hits, -1, 1)).toBe(0);
    expect(stepMatch(hits, -1, -1)).toBe(2);
    expect(stepMatch(hits, 2, 1)).toBe(0);
    expect(stepMatch(hits, 0, -1)).toBe(2);
    expect(stepMatch([], 0, 1)).toBe(-1);
  });
});

describe("downloadText", () => {
  it("prefixes pods only when several are shown", () => {
    const lines = [line("one", "a"), line("two", "b")];
    expect(downloadText(lines, false)).toBe("one\ntwo\n");
    expect(downloadText(lines, true)).toBe("[a] one\n[b] two\n");
  });
});
