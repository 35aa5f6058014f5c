// Tests for the command palette's fuzzy matching and ranking.
import { describe, expect, it } from "vitest";
import { fuzzyScore, moveIndex, rankEntries, type PaletteEntry } from "./palette";

const entry = (label: string, section: PaletteEntry["section"] = "Object", keywords: string[] = []): PaletteEntry => ({
  id: label,
  label,
  detail: "",
  section,
  keywords,
});

describe("fuzzyScore", () => {
  it("rejects text missing a query letter in order", () => {
    expect(fuzzyScore("xyz", "deployments")).toBeNull();
    expect(fuzzyScore("spd", "deployments")).toBeNull();
  });
  it("ranks exact > prefix > word-start substring > substring > subsequence", () => {
    const exact = fuzzyScore("pods", "pods") ?? -1;
    const prefix = fuzzyScore("pod", "pods") ?? -1;
    const wordStart = fuzzyScore("web", "nginx-web") ?? -1;
    const inner = fuzzyScore("eb", "nginx-web") ?? -1;
    const scattered = fuzzyScore("ngw", "nginx-web") ?? -1;
    expect(exact).toBeGreaterThan(prefix);
    expect(prefix).toBeGreaterThan(wordStart);
    expect(wordStart).toBeGreaterThan(inner);
    expect(inner).toBeGreaterThan(scattered);
    expect(scattered).toBeGreaterThan(0);
  });
  it("prefers subsequences on word starts", () => {
    expect(fuzzyScore("wa", "web-api") ?? 0).toBeGreaterThan(fuzzyScore("wa", "wxyzab") ?? 0);
  });
  it("ignores case and matches everything on an empty query", () => {
    expect(fuzzyScore("POD", "pods")).not.toBeNull();
    expect(fuzzyScore("", "anything")).toBe(0);
  });
});

describe("rankEntries", () => {
  it("finds kinds by short name and puts the best match first", () => {
    const entries = [
      entry("Deployments", "Kind", ["deploy", "deployments"]),
      entry("Pods", "Kind", ["po", "pods"]),
      entry("podinfo-7c9", "Object"),
      entry("Map", "View"),
    ];
    expect(rankEntries(entries, "deploy").map((e) => e.label)[0]).toBe("Deployments");
    expect(rankEntries(entries, "po").map((e) => e.label).slice(0, 2)).toEqual(["Pods", "podinfo-7c9"]);
    expect(rankEntries(entries, "").map((e) => e.label)).toEqual(["Map", "Deployments", "Pods", "podinfo-7c9"]);
    expect(rankEntries(entries, "", 2)).toHaveLength(2);
  });
});

describe("moveIndex", () => {
  it("wraps around both ends", () => {
    expect(moveIndex(0, -1, 3)).toBe(2);
    expect(moveIndex(2, 1, 3)).toBe(0);
    expect(moveIndex(1, 1, 3)).toBe(2);
    expect(moveIndex(0, 1, 0)).toBe(0);
  });
});
