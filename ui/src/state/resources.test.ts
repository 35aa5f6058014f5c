import { describe, expect, it } from "vitest";
import type { Row } from "../ipc/resources";
import { EMPTY, applyBatch, newRuns, retryDelay } from "./resources";
import { row as fixtureRow } from "../test/fixtures";

function row(uid: string, name = uid): Row {
  return fixtureRow(name, { uid });
}

describe("applyBatch", () => {
  it("a reset replaces every row and goes live", () => {
    const before = applyBatch(EMPTY, { type: "reset", rows: [row("a"), row("b")] });
    const after = applyBatch(before, { type: "reset", rows: [row("c")] });
    expect(after.rows.map((r) => r.uid)).toEqual(["c"]);
    expect(after.state).toBe("live");
    expect(before.rows).toHaveLength(2);
  });

  it("changes upsert and delete by uid without touching the input", () => {
    const before = applyBatch(EMPTY, { type: "reset", rows: [row("a"), row("b")] });
    const after = applyBatch(before, {
      type: "changes",
      upserts: [row("b", "renamed"), row("c")],
      deletes: ["a"],
    });
    expect(after.rows.map((r) => r.name)).toEqual(["renamed", "c"]);
    expect(after.byUid.get("b")?.name).toBe("renamed");
    expect(before.byUid.has("a")).toBe(true);
  });

  it("an empty change keeps the same snapshot, so nothing re-renders", () => {
    const before = applyBatch(EMPTY, { type: "reset", rows: [row("a")] });
    expect(applyBatch(before, { type: "changes", upserts: [], deletes: [] })).toBe(before);
  });

  it("a state message keeps the rows and carries the error", () => {
    const before = applyBatch(EMPTY, { type: "reset", rows: [row("a")] });
    const error = { code: "unreachable" as const, message: "gone", causes: [] };
    const after = applyBatch(before, { type: "state", state: "reconnecting", error });
    expect(after.rows).toBe(before.rows);
    expect(after.state).toBe("reconnecting");
    expect(after.error).toEqual(error);
  });
});

describe("retryDelay", () => {
  it("backs off from half a second to five seconds", () => {
    expect([1, 2, 3, 4, 5, 9].map(retryDelay)).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
  });
});

describe("newRuns", () => {
  it("names the remote clusters whose run changed, once, ignoring the local one and unconnected ones", () => {
    const last = new Map<string, number>();
    const at = (prod: number, local = 1) => [
      { id: "local", local: true, run: local },
      { id: "prod", local: false, run: prod },
    ];
    expect(newRuns(last, at(0))).toEqual([]);
    expect(newRuns(last, at(3))).toEqual([]);
    expect(newRuns(last, at(3, 2))).toEqual([]);
    expect(newRuns(last, at(4))).toEqual(["prod"]);
    expect(newRuns(last, at(4))).toEqual([]);
  });
});
