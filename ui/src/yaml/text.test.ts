// minimalChange keeps the common start and end.
import { describe, expect, it } from "vitest";
import { minimalChange } from "./text";

function applied(before: string, after: string): string {
  const change = minimalChange(before, after);
  return change ? before.slice(0, change.from) + change.insert + before.slice(change.to) : before;
}

describe("minimalChange", () => {
  it("replaces only the middle that differs", () => {
    expect(minimalChange("status: a\nspec: x\n", "status: b\nspec: x\n")).toEqual({ from: 8, to: 9, insert: "b" });
    expect(minimalChange("same", "same")).toBeNull();
  });
  it("always yields the new text", () => {
    for (const [a, b] of [["", "abc"], ["abc", ""], ["aaa", "aa"], ["aa", "aaa"], ["abcabc", "abc"], ["xyz", "xaz"]] as const) {
      expect(applied(a, b)).toBe(b);
    }
  });
});
