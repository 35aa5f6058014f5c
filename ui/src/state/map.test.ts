// Tests for the cluster map's model: grouping, requests, the unscheduled lane, leaving tiles.
import { describe, expect, it } from "vitest";
import type { NodeSummary, OwnerRef, PodSummary, Row } from "../ipc/resources";
import {
  buildMap,
  capGroups,
  formatBytes,
  formatCpu,
  reusePanels,
  toneOf,
  trackLeaving,
  withLeaving,
  type MapModel,
} from "./map";
import { nodeRow, podRow, row } from "../test/fixtures";

function node(name: string, over: Partial<NodeSummary> = {}): Row {
  return nodeRow(name, over);
}

function pod(name: string, over: Partial<PodSummary> = {}, rest: Partial<Row> = {}): Row {
  return podRow(name, { cpuRequestMilli: 100, memoryRequestBytes: 64 * 1024 * 1024, ...over }, rest);
}

const owner = (kind: string, name: string, uid = `uid-${name}`): OwnerRef => ({ kind, name, uid, controller: true });
const none = new Map<string, Row>();

describe("toneOf", () => {
  const p = (over: Partial<PodSummary>) => pod("x", over).summary as PodSummary;
  it("tells ready, not ready, pending, failed, finished and terminating apart", () => {
    expect(toneOf(p({}), false)).toBe("ready");
    expect(toneOf(p({ ready: false }), false)).toBe("unready");
    expect(toneOf(p({ phase: "Pending", status: "ContainerCreating" }), false)).toBe("pending");
    expect(toneOf(p({ ready: false, status: "CrashLoopBackOff" }), false)).toBe("failed");
    expect(toneOf(p({ phase: "Pending", status: "Init:ErrImagePull" }), false)).toBe("failed");
    expect(toneOf(p({ phase: "Failed", status: "Error" }), false)).toBe("failed");
    expect(toneOf(p({ phase: "Succeeded", status: "Completed" }), false)).toBe("succeeded");
    expect(toneOf(p({}), true)).toBe("terminating");
  });
});

describe("buildMap", () => {
  it("puts pods in their node's panel, grouped by owner, with a ReplicaSet shown as its Deployment", () => {
    const rs = row("web-7d9f", { owners: [owner("Deployment", "web")] });
    const replicaSets = new Map([[rs.uid, rs]]);
    const pods = [
      pod("web-7d9f-b", {}, { owners: [owner("ReplicaSet", "web-7d9f")] }),
      pod("web-7d9f-a", {}, { owners: [owner("ReplicaSet", "web-7d9f")] }),
      pod("db-0", {}, { owners: [owner("StatefulSet", "db")] }),
      pod("lonely"),
      pod("elsewhere", { node: "w2" }),
    ];
    const model = buildMap([node("w2"), node("w1")], pods, replicaSets, null);
    expect(model.nodes.map((n) => n.name)).toEqual(["w1", "w2"]);
    const w1 = model.nodes[0];
    expect(w1?.groups.map((g) => `${g.owner.kind ?? "-"}/${g.owner.name}`)).toEqual([
      "StatefulSet/db",
      "Deployment/web",
      "-/Standalone pods",
    ]);
    expect(w1?.groups[1]?.tiles.map((t) => t.name)).toEqual(["web-7d9f-a", "web-7d9f-b"]);
    expect(w1?.tileCount).toBe(4);
  });

  it("keeps a ReplicaSet as the owner when its Deployment is not known", () => {
    const pods = [pod("solo-rs-x", {}, { owners: [owner("ReplicaSet", "solo-rs")] })];
    const model = buildMap([node("w1")], pods, none, null);
    expect(model.nodes[0]?.groups[0]?.owner).toMatchObject({ kind: "ReplicaSet", name: "solo-rs" });
  });

  it("sums requests of every running pod on a node, whatever namespace is shown", () => {
    const pods = [
      pod("a", { cpuRequestMilli: 250 }),
      pod("b", { cpuRequestMilli: 500 }, { namespace: "other" }),
      pod("done", { phase: "Succeeded", status: "Completed", cpuRequestMilli: 1000 }),
    ];
    const model = buildMap([node("w1")], pods, none, "default");
    const w1 = model.nodes[0];
    expect(w1?.cpu).toEqual({ requested: 750, allocatable: 4000 });
    expect(w1?.memory.requested).toBe(2 * 64 * 1024 * 1024);
    expect(w1?.groups.flatMap((g) => g.tiles).map((t) => t.name)).toEqual(["a", "done"]);
  });

  it("lists pods without a node in the unscheduled lane with the scheduler's reason", () => {
    const reason = "0/3 nodes are available: 3 Insufficient cpu.";
    const pods = [
      pod("waiting", { node: null, phase: "Pending", status: "Pending", unschedulable: reason }),
      pod("failed-before-binding", { node: null, phase: "Failed", status: "Failed" }),
    ];
    const model = buildMap([node("w1")], pods, none, null);
    expect(model.unscheduled.map((t) => [t.name, t.reason])).toEqual([["waiting", reason]]);
  });

  it("shows a not-ready panel for a node pods still name after it left the cluster", () => {
    const model = buildMap([node("w1")], [pod("orphan", { node: "gone" })], none, null);
    const gone = model.nodes.find((n) => n.name === "gone");
    expect(gone?.row).toBeNull();
    expect(gone?.ready).toBe(false);
    expect(gone?.tileCount).toBe(1);
  });

  it("reports a node's NotReady reason and cordon", () => {
    const model = buildMap(
      [node("w1", { ready: false, notReadyReason: "KubeletStopped: the node was stopped", unschedulable: true })],
      [],
      none,
      null,
    );
    expect(model.nodes[0]).toMatchObject({ ready: false, reason: "KubeletStopped: the node was stopped", cordoned: true });
  });
});

describe("leaving tiles", () => {
  const nodes = [node("w1"), node("w2")];
  const map = (pods: Row[]): MapModel => buildMap(nodes, pods, none, null);

  it("keeps a deleted pod's tile until it expires, then drops it", () => {
    const before = map([pod("a"), pod("b")]);
    const after = map([pod("a")]);
    const leaving = trackLeaving(before, after, [], 1000, 300);
    expect(leaving.map((l) => [l.tile.name, l.tile.leaving, l.until])).toEqual([["b", true, 1300]]);
    const shown = withLeaving(after, leaving);
    expect(shown.nodes[0]?.groups.flatMap((g) => g.tiles).map((t) => [t.name, t.leaving])).toEqual([
      ["a", false],
      ["b", true],
    ]);
    expect(trackLeaving(after, after, leaving, 1299, 300)).toHaveLength(1);
    expect(trackLeaving(after, after, leaving, 1300, 300)).toEqual([]);
  });

  it("a pod moving to another node leaves the old panel and enters the new one", () => {
    const before = map([pod("a", { node: "w1" })]);
    const after = map([pod("a", { node: "w2" })]);
    const leaving = trackLeaving(before, after, [], 0, 300);
    const shown = withLeaving(after, leaving);
    expect(shown.nodes.map((n) => n.groups.flatMap((g) => g.tiles).map((t) => `${t.name}:${String(t.leaving)}`))).toEqual([
      ["a:true"],
      ["a:false"],
    ]);
  });

  it("a tile that comes back stops leaving", () => {
    const full = map([pod("a")]);
    const empty = map([]);
    const leaving = trackLeaving(full, empty, [], 0, 300);
    expect(trackLeaving(empty, full, leaving, 10, 300)).toEqual([]);
  });

  it("animates nothing when too many leave at once", () => {
    const before = map([pod("a"), pod("b"), pod("c")]);
    expect(trackLeaving(before, map([]), [], 0, 300, 2)).toEqual([]);
  });
});

describe("reusing panels", () => {
  it("buildMap keeps the previous model's object for panels that did not change", () => {
    const a = pod("a");
    const nodes = [node("w1"), node("w2")];
    const before = buildMap(nodes, [a, pod("b", { node: "w2" })], none, null);
    const after = buildMap(nodes, [a, pod("b", { node: "w2", restarts: 1 })], none, null, before);
    expect(after.nodes[0]).toBe(before.nodes[0]);
    expect(after.nodes[1]).not.toBe(before.nodes[1]);
    expect(after.nodes[1]?.groups[0]?.tiles[0]?.restarts).toBe(1);
    expect(after.unscheduled).toBe(before.unscheduled);
  });

  it("buildMap redraws a panel whose requests changed through another namespace's pod", () => {
    const nodes = [node("w1")];
    const before = buildMap(nodes, [pod("a")], none, "default");
    const after = buildMap(nodes, [pod("a"), pod("x", {}, { namespace: "other" })], none, "default", before);
    expect(after.nodes[0]).not.toBe(before.nodes[0]);
    expect(after.nodes[0]?.cpu.requested).toBe(200);
  });

  it("reusePanels keeps the previous object for panels that did not change", () => {
    const a = pod("a");
    const b = pod("b", { node: "w2" });
    const nodes = [node("w1"), node("w2")];
    const before = buildMap(nodes, [a, b], none, null);
    const after = reusePanels(before, buildMap(nodes, [a, pod("b", { node: "w2", restarts: 1 })], none, null));
    expect(after.nodes[0]).toBe(before.nodes[0]);
    expect(after.nodes[1]).not.toBe(before.nodes[1]);
  });
});

describe("capGroups", () => {
  it("shows the first tiles across groups and counts the rest", () => {
    const model = buildMap(
      [node("w1")],
      [pod("a1", {}, { owners: [owner("Job", "a")] }), pod("a2", {}, { owners: [owner("Job", "a")] }), pod("b1", {}, { owners: [owner("Job", "b")] })],
      none,
      null,
    );
    const capped = capGroups(model.nodes[0]?.groups ?? [], 1);
    expect(capped.groups.map((g) => g.tiles.map((t) => t.name))).toEqual([["a1"]]);
    expect(capped.hidden).toBe(2);
    expect(capGroups(model.nodes[0]?.groups ?? [], 10).hidden).toBe(0);
  });
});

describe("formatting", () => {
  it("writes CPU and memory like Kubernetes quantities", () => {
    expect(formatCpu(250)).toBe("250m");
    expect(formatCpu(1500)).toBe("1.5");
    expect(formatCpu(4000)).toBe("4");
    expect(formatBytes(512 * 1024 * 1024)).toBe("512Mi");
    expect(formatBytes(7.8 * 1024 ** 3)).toBe("7.8Gi");
    expect(formatBytes(0)).toBe("0");
  });
});
