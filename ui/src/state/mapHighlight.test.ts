// Tests for what a highlight marks on the cluster map and which spot the map scrolls to.
import { describe, expect, it } from "vitest";
import type { OwnerRef, Row } from "../ipc/resources";
import { buildMap } from "./map";
import { firstHighlighted, groupHighlighted, nodeHighlighted, tileHighlighted } from "./mapHighlight";
import { nodeRow, podRow, row } from "../test/fixtures";

const owner = (kind: string, name: string): OwnerRef => ({ kind, name, uid: `uid-${name}`, controller: true });

function model() {
  const rs = row("web-7d9f", { owners: [owner("Deployment", "web")] });
  const pods: Row[] = [
    podRow("web-7d9f-a", { node: "w2" }, { namespace: "learn", labels: { app: "web" }, owners: [owner("ReplicaSet", "web-7d9f")] }),
    podRow("db-0", { node: "w1" }, { namespace: "learn", labels: { app: "db" }, owners: [owner("StatefulSet", "db")] }),
    podRow("big", { node: null, phase: "Pending", status: "Pending" }, { namespace: "learn", labels: { app: "big" } }),
  ];
  return buildMap([nodeRow("w1", {}, { labels: { zone: "a" } }), nodeRow("w2")], pods, new Map([[rs.uid, rs]]), null);
}

describe("map highlights", () => {
  const m = model();
  const w1 = m.nodes[0];
  const w2 = m.nodes[1];
  const web = w2?.groups[0]?.tiles[0];
  const db = w1?.groups[0]?.tiles[0];
  if (!w1 || !w2 || !web || !db) throw new Error("fixture model is not as expected");

  it("marks pods by name or labels and namespace, and nothing with no references", () => {
    expect(tileHighlighted([], web)).toBe(false);
    expect(tileHighlighted([{ kind: "Pod", name: "web-7d9f-a" }], web)).toBe(true);
    expect(tileHighlighted([{ kind: "Pod", labels: { app: "web" } }], web)).toBe(true);
    expect(tileHighlighted([{ kind: "Pod", labels: { app: "web" } }], db)).toBe(false);
    expect(tileHighlighted([{ kind: "Pod", namespace: "default", name: "web-7d9f-a" }], web)).toBe(false);
    expect(tileHighlighted([{ kind: "Pod", namespace: "learn" }], db)).toBe(true);
  });

  it("never marks a tile that is leaving", () => {
    expect(tileHighlighted([{ kind: "Pod" }], { ...web, leaving: true })).toBe(false);
  });

  it("marks nodes by name or labels", () => {
    expect(nodeHighlighted([{ kind: "Node", name: "w1" }], w1)).toBe(true);
    expect(nodeHighlighted([{ kind: "Node", name: "w1" }], w2)).toBe(false);
    expect(nodeHighlighted([{ kind: "Node", labels: { zone: "a" } }], w1)).toBe(true);
    expect(nodeHighlighted([{ kind: "Pod", name: "w1" }], w1)).toBe(false);
  });

  it("marks a workload's group, with a ReplicaSet's pods under their Deployment", () => {
    const group = w2.groups[0];
    if (!group) throw new Error("no group");
    expect(groupHighlighted([{ kind: "Deployment", name: "web" }], group.owner)).toBe(true);
    expect(groupHighlighted([{ kind: "Deployment", name: "web", namespace: "learn" }], group.owner)).toBe(true);
    expect(groupHighlighted([{ kind: "StatefulSet", name: "web" }], group.owner)).toBe(false);
    expect(groupHighlighted([{ kind: "Deployment", labels: { app: "web" } }], group.owner)).toBe(false);
  });

  it("scrolls to the unscheduled lane first, then nodes in order", () => {
    expect(firstHighlighted(m, [])).toBeNull();
    expect(firstHighlighted(m, [{ kind: "Pod" }])).toEqual({
      key: "pod/uid-big",
      testId: "map-pod-big",
      panelTestId: "map-unscheduled",
    });
    expect(firstHighlighted(m, [{ kind: "Pod", namespace: "learn", labels: { app: "web" } }])).toEqual({
      key: "pod/uid-web-7d9f-a@w2",
      testId: "map-pod-web-7d9f-a",
      panelTestId: "map-node-w2",
    });
    expect(firstHighlighted(m, [{ kind: "Node", name: "w2" }])?.testId).toBe("map-node-w2");
    expect(firstHighlighted(m, [{ kind: "Deployment", name: "web" }])?.panelTestId).toBe("map-node-w2");
    expect(firstHighlighted(m, [{ kind: "Service", name: "web" }])).toBeNull();
  });
});
