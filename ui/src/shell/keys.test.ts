// Tests for shortcut plumbing: typing detection and key sequences.
import { describe, expect, it } from "vitest";
import { GO_TO, isActivatable, isTypingTarget, sequenceMatcher, SHORTCUTS } from "./keys";

/** A stand-in element: `matches` lists the selectors its ancestors-or-self satisfy. */
function fakeElement(matches: string[], isContentEditable = false) {
  return {
    isContentEditable,
    closest: (selector: string) =>
      selector.split(",").some((s) => matches.some((m) => s.trim() === m || s.trim().startsWith(`${m}:`)))
        ? {}
        : null,
  };
}

describe("isTypingTarget", () => {
  it("is true in inputs, text areas, CodeMirror and xterm", () => {
    expect(isTypingTarget(fakeElement(["input"]))).toBe(true);
    expect(isTypingTarget(fakeElement(["textarea"]))).toBe(true);
    expect(isTypingTarget(fakeElement([".cm-editor"]))).toBe(true);
    expect(isTypingTarget(fakeElement([".xterm"]))).toBe(true);
    expect(isTypingTarget(fakeElement([], true))).toBe(true);
  });
  it("is false elsewhere and for non-elements", () => {
    expect(isTypingTarget(fakeElement(["div"]))).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
    expect(isTypingTarget({})).toBe(false);
  });
  it("knows focused buttons already act on Enter", () => {
    expect(isActivatable(fakeElement(["button"]))).toBe(true);
    expect(isActivatable(fakeElement(["div"]))).toBe(false);
  });
});

describe("sequenceMatcher", () => {
  const seqs = [
    { keys: ["g", "p"], value: "pods" },
    { keys: ["g", "d"], value: "deployments" },
    { keys: ["?"], value: "help" },
  ];

  it("matches two-key sequences and single keys", () => {
    const m = sequenceMatcher(seqs);
    expect(m.feed("g", 0)).toEqual({ kind: "pending" });
    expect(m.pending(100)).toBe(true);
    expect(m.feed("p", 100)).toEqual({ kind: "matched", value: "pods" });
    expect(m.pending(100)).toBe(false);
    expect(m.feed("?", 200)).toEqual({ kind: "matched", value: "help" });
  });

  it("forgets a prefix after the timeout", () => {
    const m = sequenceMatcher(seqs, 1000);
    m.feed("g", 0);
    expect(m.feed("p", 2000)).toEqual({ kind: "none" });
  });

  it("lets a key that breaks a sequence start a new one", () => {
    const m = sequenceMatcher(seqs);
    m.feed("g", 0);
    expect(m.feed("x", 10)).toEqual({ kind: "none" });
    expect(m.feed("d", 20)).toEqual({ kind: "none" });
    m.feed("g", 30);
    expect(m.feed("?", 40)).toEqual({ kind: "matched", value: "help" });
    m.feed("g", 50);
    expect(m.feed("g", 60)).toEqual({ kind: "pending" });
    expect(m.feed("d", 70)).toEqual({ kind: "matched", value: "deployments" });
  });
});

describe("SHORTCUTS", () => {
  it("lists every g-jump, the palette and the help overlay", () => {
    const keys = SHORTCUTS.map((s) => s.keys);
    for (const g of GO_TO) expect(keys).toContain(`g ${g.key}`);
    expect(keys).toContain("?");
    expect(keys.some((k) => k.endsWith("+K"))).toBe(true);
  });
});
