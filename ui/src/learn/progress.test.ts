// Lesson progress: stored form, step states and updates.
import { describe, expect, it } from "vitest";
import { FRESH, activeStep, parseProgress, stepState, updated, withDone, withNode } from "./progress";

describe("progress", () => {
  it("reads what it stored and drops what it cannot trust", () => {
    const stored = JSON.stringify({ pods: { started: true, done: ["run", 3], vars: { node: "w1", n: 1 }, addedNodes: ["w3"], stoppedNodes: [] }, bad: "x" });
    expect(parseProgress(stored)).toEqual({ pods: { started: true, done: ["run"], vars: { node: "w1" }, addedNodes: ["w3"], stoppedNodes: [] } });
    expect(parseProgress("{nope")).toEqual({});
    expect(parseProgress(null)).toEqual({});
    expect(parseProgress("[1]")).toEqual({});
  });

  it("gives the first step not done as active, and none before start", () => {
    const ids = ["a", "b", "c"];
    expect(activeStep(ids, FRESH)).toBeNull();
    const started = { ...FRESH, started: true };
    expect(activeStep(ids, started)).toBe("a");
    const p = withDone(withDone(started, "a"), "a");
    expect(p.done).toEqual(["a"]);
    expect(ids.map((id) => stepState(ids, p, id))).toEqual(["done", "active", "locked"]);
    expect(activeStep(ids, { ...p, done: ["a", "b", "c"] })).toBeNull();
  });

  it("updates one lesson and keeps node lists without duplicates", () => {
    const next = updated({}, "nodes", (p) => ({ ...p, addedNodes: withNode(withNode(p.addedNodes, "w3", true), "w3", true) }));
    expect(next["nodes"]?.addedNodes).toEqual(["w3"]);
    expect(withNode(["w3", "w4"], "w3", false)).toEqual(["w4"]);
  });
});
