// The action dialogs' pure parts: cascade choices, replica input, revisions, drain plans.
import { describe, expect, it } from "vitest";
import type { DrainOutcome, Revision } from "../ipc/actions";
import type { OwnerRef, Row } from "../ipc/resources";
import { podRow } from "../test/fixtures";
import {
  CASCADES,
  describeRevision,
  drainBlocked,
  drainPlan,
  drainSummary,
  mergeDrain,
  opening,
  parseReplicas,
  previousRevision,
} from "./dialogs";

function pod(name: string, node: string | null, owners: OwnerRef[] = [], deleting = false): Row {
  return podRow(name, { node, containers: ["c"] }, { uid: name, owners, deleting });
}

function revision(n: number, current = false, cause: string | null = null): Revision {
  return { revision: n, changeCause: cause, images: [`nginx:${String(n)}`], createdAt: null, current };
}

describe("delete dialog", () => {
  it("offers background first, each choice explained", () => {
    expect(CASCADES.map((c) => c.value)).toEqual(["background", "foreground", "orphan"]);
    for (const c of CASCADES) expect(c.explanation.length).toBeGreaterThan(20);
  });
});

describe("scale dialog", () => {
  it("accepts whole numbers only", () => {
    expect(parseReplicas(" 3 ")).toEqual({ ok: true, replicas: 3 });
    expect(parseReplicas("0")).toEqual({ ok: true, replicas: 0 });
    for (const bad of ["", "-1", "1.5", "three", "20000"]) {
      expect(parseReplicas(bad).ok, bad).toBe(false);
    }
  });
});

describe("undo dialog", () => {
  it("picks the revision before the newest, as kubectl does", () => {
    expect(previousRevision([revision(3), revision(1), revision(4, true)])).toBe(3);
    expect(previousRevision([revision(1, true)])).toBeNull();
    expect(previousRevision([])).toBeNull();
  });

  it("shows images and change-cause", () => {
    expect(describeRevision(revision(2, true, "bump"))).toBe("#2 — nginx:2 — bump (current)");
    expect(describeRevision(revision(1))).toBe("#1 — nginx:1 — no change-cause recorded");
  });
});

describe("drain dialog", () => {
  it("lists the node's pods to evict and leaves DaemonSet and terminating pods", () => {
    const ds: OwnerRef = { kind: "DaemonSet", name: "agent", uid: "d", controller: true };
    const rs: OwnerRef = { kind: "ReplicaSet", name: "web-1", uid: "r", controller: true };
    const plan = drainPlan(
      [pod("web-b", "w1", [rs]), pod("web-a", "w1", [rs]), pod("agent-x", "w1", [ds]), pod("gone", "w1", [], true), pod("other", "w2")],
      "w1",
    );
    expect(plan.evict.map((p) => p.name)).toEqual(["web-a", "web-b"]);
    expect(plan.skip.map((s) => [s.row.name, s.reason])).toEqual([
      ["agent-x", "DaemonSet agent runs it on every node"],
      ["gone", "already being deleted"],
    ]);
  });

  it("sums up the outcome and says what to do about pods left", () => {
    const outcome: DrainOutcome = {
      node: "w1",
      pods: [
        { namespace: "default", name: "a", result: "evicted", reason: null, error: null },
        { namespace: "default", name: "b", result: "skipped", reason: "DaemonSet", error: null },
        { namespace: "default", name: "c", result: "blocked", reason: "budget", error: null },
      ],
    };
    expect(drainSummary(outcome)).toBe(
      "Node w1 is cordoned: 1 evicted, 1 skipped, 1 blocked by a PodDisruptionBudget. Drain again to retry the pods left.",
    );
    expect(drainSummary({ node: "w1", pods: [] })).toBe("Node w1 is cordoned: 0 evicted, 0 skipped.");
    expect(drainSummary(outcome, true)).toBe(
      "Node w1 is cordoned: 1 evicted, 1 skipped, 1 blocked by a PodDisruptionBudget. Trying the blocked pods again every 5 s until their budget allows it; stop to leave them.",
    );
  });

  it("tries blocked pods again and keeps what earlier tries evicted", () => {
    const first: DrainOutcome = {
      node: "w1",
      pods: [
        { namespace: "default", name: "a", result: "evicted", reason: null, error: null },
        { namespace: "default", name: "c", result: "blocked", reason: "The disruption budget web needs 2", error: null },
      ],
    };
    expect(drainBlocked(first)).toBe(true);
    // The second try sees `a` terminating (skipped) and evicts `c`.
    const second: DrainOutcome = {
      node: "w1",
      pods: [
        { namespace: "default", name: "a", result: "skipped", reason: "already being deleted", error: null },
        { namespace: "default", name: "c", result: "evicted", reason: null, error: null },
      ],
    };
    const merged = mergeDrain(first, second);
    expect(merged.pods.map((p) => [p.name, p.result])).toEqual([
      ["a", "evicted"],
      ["c", "evicted"],
    ]);
    expect(drainBlocked(merged)).toBe(false);
    // A pod evicted earlier and gone since is still reported.
    expect(mergeDrain(first, { node: "w1", pods: [] }).pods.map((p) => p.name)).toEqual(["a"]);
  });
});

describe("opening", () => {
  const run = () => Promise.resolve();
  it("gives options dialogs their own, asks questions first, and runs harmless actions at once", () => {
    expect(opening("delete", { id: "delete", label: "Delete…", confirm: "Delete it?", run })).toBe("dialog");
    expect(opening("scale", undefined)).toBe("dialog");
    expect(opening("drain", { id: "drain", label: "Drain…", confirm: "Drain?", run })).toBe("dialog");
    expect(opening("restart", { id: "restart", label: "Restart", confirm: "Restart?", run })).toBe("confirm");
    expect(opening("remove-node", { id: "remove-node", label: "Remove", confirm: "Remove?", run })).toBe("confirm");
    expect(opening("cordon", { id: "cordon", label: "Cordon", run })).toBe("run");
  });
});
