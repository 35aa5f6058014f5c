// Which actions apply to which object, and which must be confirmed first.
import { describe, expect, it } from "vitest";
import type { Row, Summary } from "../ipc/resources";
import { row as fixtureRow, nodeSummary } from "../test/fixtures";
import { actionsFor, applicable, clusterActions, confirmation } from "./catalogue";

function row(name: string, summary: Summary = { kind: "none" }, namespace: string | null = "default"): Row {
  return fixtureRow(name, { uid: name, namespace, summary });
}

function node(unschedulable: boolean): Summary {
  return { kind: "node", ...nodeSummary({ unschedulable, cpuAllocatableMilli: 1000, memoryAllocatableBytes: 1024 }) };
}

describe("applicable", () => {
  it("offers delete on everything, scale and rollouts on the workloads that have them", () => {
    expect(applicable("local", "configmaps", row("c"))).toEqual(["delete"]);
    expect(applicable("local", "pods", row("p"))).toEqual(["delete"]);
    expect(applicable("local", "deployments", row("d"))).toEqual(["scale", "restart", "undo", "delete"]);
    expect(applicable("local", "replicasets", row("r"))).toEqual(["scale", "delete"]);
    expect(applicable("local", "statefulsets", row("s"))).toEqual(["scale", "restart", "undo", "delete"]);
    expect(applicable("local", "daemonsets", row("d"))).toEqual(["restart", "undo", "delete"]);
    expect(applicable("local", "jobs", row("j"))).toEqual(["delete"]);
  });

  it("offers cordon or uncordon as the node is, and agent actions on local nodes only", () => {
    expect(applicable("local", "nodes", row("n", node(false), null))).toEqual([
      "cordon",
      "drain",
      "stop-node",
      "start-node",
      "remove-node",
      "delete",
    ]);
    expect(applicable("prod", "nodes", row("n", node(true), null))).toEqual(["uncordon", "drain", "delete"]);
  });
});

describe("actionsFor", () => {
  it("leaves out scale (it needs a number) and asks before destructive actions", () => {
    const actions = actionsFor("local", "deployments", row("web"));
    expect(actions.map((a) => a.id)).toEqual(["restart", "undo", "delete"]);
    for (const action of actions) expect(action.confirm).toBeDefined();
    expect(actions.find((a) => a.id === "delete")?.confirm).toContain("Delete Deployment web?");
  });

  it("runs harmless node actions without asking", () => {
    const actions = actionsFor("local", "nodes", row("kubarium-worker", node(false), null));
    const asks = Object.fromEntries(actions.map((a) => [a.id, a.confirm !== undefined]));
    expect(asks).toEqual({
      cordon: false,
      drain: true,
      "stop-node": false,
      "start-node": false,
      "remove-node": true,
      delete: true,
    });
  });

  it("words confirmations with the kind and name", () => {
    expect(confirmation("drain", "nodes", row("w", node(false), null))).toContain("Drain node w?");
    expect(confirmation("cordon", "nodes", row("w", node(false), null))).toBeUndefined();
  });
});

describe("clusterActions", () => {
  it("belong to the local cluster, with stop and reset confirmed first", () => {
    expect(clusterActions("prod")).toEqual([]);
    const actions = clusterActions("local");
    expect(actions.map((a) => [a.id, a.confirm !== undefined])).toEqual([
      ["add-node", false],
      ["stop-cluster", true],
      ["start-cluster", false],
      ["reset-cluster", true],
    ]);
    expect(actions[3]?.confirm).toContain("deleted");
  });
});
