// Details derivations: related objects, conditions, containers, Secret values.
import { describe, expect, it } from "vitest";
import type { PodSummary, Row, Summary } from "../ipc/resources";
import { row as fixtureRow, podSummary } from "../test/fixtures";
import { conditions, containers, decodeSecretValue, headerStatus, scalarFields } from "./describe";
import { eventsOf } from "./events";
import { ownedControllers, ownedPods, ownerLinks, podUses, serviceSlices, sliceEndpoints, specLinks } from "./related";

function row(name: string, uid: string, owners: string[], summary: Summary = { kind: "none" }, labels: Record<string, string> = {}): Row {
  return fixtureRow(name, { uid, labels, owners: owners.map((o) => ({ kind: "X", name: o, uid: o, controller: true })), summary });
}

function pod(name: string, owner: string, extra: Partial<PodSummary> = {}): Row {
  return row(name, `uid-${name}`, [owner], { kind: "pod", ...podSummary({ node: "worker-1", containers: ["web"], ...extra }) });
}

describe("ownedPods", () => {
  const replicaSets = [row("web-1", "rs1", ["dep"]), row("other-1", "rs2", ["other"])];
  const jobs = [row("nightly-1", "job1", ["cron"])];
  const pods = [pod("web-1-b", "rs1"), pod("web-1-a", "rs1"), pod("other-1-a", "rs2"), pod("nightly-1-x", "job1"), pod("solo", "ds")];
  it("goes through ReplicaSets for a Deployment", () => {
    expect(ownedPods("deployments", "dep", pods, replicaSets, jobs).map((p) => p.name)).toEqual(["web-1-a", "web-1-b"]);
    expect(ownedControllers("deployments", "dep", replicaSets, jobs).map((l) => l.name)).toEqual(["web-1"]);
  });
  it("goes through Jobs for a CronJob", () => {
    expect(ownedPods("cronjobs", "cron", pods, replicaSets, jobs).map((p) => p.name)).toEqual(["nightly-1-x"]);
  });
  it("takes direct children otherwise", () => {
    expect(ownedPods("daemonsets", "ds", pods, replicaSets, jobs).map((p) => p.name)).toEqual(["solo"]);
    expect(ownedPods("replicasets", "rs2", pods, replicaSets, jobs).map((p) => p.name)).toEqual(["other-1-a"]);
  });
});

describe("links", () => {
  it("links owners by their kind's resource", () => {
    const object = { metadata: { ownerReferences: [{ kind: "ReplicaSet", name: "web-1", uid: "u", controller: true }, { kind: "Unknown", name: "x", uid: "v" }] } };
    const links = ownerLinks(object, "default", (kind) => (kind === "ReplicaSet" ? "replicasets" : null));
    expect(links).toEqual([{ relation: "Owner (ReplicaSet)", resource: "replicasets", namespace: "default", name: "web-1", note: "controller" }]);
  });
  it("links what a pod uses and its node", () => {
    const links = podUses(pod("p", "o", { configMaps: ["settings"], secrets: ["token"], claims: ["data"] }));
    expect(links.map((l) => `${l.resource}/${l.name}`)).toEqual(["nodes/worker-1", "configmaps/settings", "secrets/token", "persistentvolumeclaims/data"]);
    expect(links[0]?.namespace).toBeNull();
  });
  it("links a pod to its ServiceAccount and PriorityClass", () => {
    const object = { metadata: { namespace: "shop" }, spec: { serviceAccountName: "web", priorityClassName: "critical", priority: 1000 } };
    const links = specLinks("pods", object, undefined);
    expect(links.map((l) => `${l.resource}/${String(l.namespace)}/${l.name}/${l.note}`)).toEqual(["serviceaccounts/shop/web/", "priorityclasses/null/critical/priority 1000"]);
    expect(specLinks("pods", { metadata: {}, spec: {} }, undefined)).toEqual([]);
  });
  it("finds a Service's pods through its EndpointSlices", () => {
    const slices = [row("web-abc", "s1", [], { kind: "none" }, { "kubernetes.io/service-name": "web" }), row("db-x", "s2", [], { kind: "none" }, { "kubernetes.io/service-name": "db" })];
    expect(serviceSlices("web", slices).map((s) => s.name)).toEqual(["web-abc"]);
    const slice = {
      metadata: { namespace: "default" },
      ports: [{ port: 8080 }],
      endpoints: [
        { addresses: ["10.0.0.5"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "web-a", namespace: "default" } },
        { addresses: ["10.0.0.6"], conditions: { ready: false }, targetRef: { kind: "Pod", name: "web-b" } },
      ],
    };
    expect(sliceEndpoints(slice)).toEqual([
      { relation: "Endpoint", resource: "pods", namespace: "default", name: "web-a", note: "10.0.0.5:8080" },
      { relation: "Endpoint", resource: "pods", namespace: "default", name: "web-b", note: "10.0.0.6:8080 (not ready)" },
    ]);
  });
});

describe("describe", () => {
  const object = {
    spec: { replicas: 2, containers: [{ name: "web", image: "kubarium.dev/demo:v1", ports: [{ containerPort: 8080 }] }], initContainers: [{ name: "init", image: "i" }] },
    status: {
      phase: "Running",
      podIPs: [{ ip: "10.0.0.5" }],
      conditions: [{ type: "Ready", status: "False", reason: "ContainersNotReady", message: "containers with unready status: [web]", lastTransitionTime: "2026-11-28T10:00:00Z" }],
      containerStatuses: [{ name: "web", ready: false, restartCount: 3, state: { waiting: { reason: "CrashLoopBackOff" } } }],
      initContainerStatuses: [{ name: "init", ready: false, restartCount: 0, state: { terminated: { reason: "Completed", exitCode: 0 } } }],
    },
  };
  it("lists conditions as kubectl describe does", () => {
    expect(conditions(object)).toEqual([
      { type: "Ready", status: "False", reason: "ContainersNotReady", message: "containers with unready status: [web]", lastTransition: "2026-11-28T10:00:00Z" },
    ]);
  });
  it("shows scalar fields and IP lists, not nested objects", () => {
    expect(scalarFields(object, "status")).toEqual([
      ["phase", "Running"],
      ["podIPs", "10.0.0.5"],
    ]);
  });
  it("pairs containers with their statuses, init containers first", () => {
    expect(containers(object).map((c) => [c.name, c.init, c.restarts, c.state])).toEqual([
      ["init", true, 0, "Terminated: Completed (exit 0)"],
      ["web", false, 3, "Waiting: CrashLoopBackOff"],
    ]);
  });
  it("words the header status of rows", () => {
    expect(headerStatus(pod("p", "o", { status: "CrashLoopBackOff", ready: false }), null)).toEqual({ text: "CrashLoopBackOff", tone: "bad" });
    expect(headerStatus(undefined, { status: { phase: "Bound" } })).toEqual({ text: "Bound", tone: "ok" });
  });
});

describe("decodeSecretValue", () => {
  it("decodes UTF-8 text", () => {
    expect(decodeSecretValue(btoa("hunter2"))).toEqual({ kind: "text", text: "hunter2" });
    const bytes = new TextEncoder().encode("grüße");
    expect(decodeSecretValue(btoa(String.fromCharCode(...bytes)))).toEqual({ kind: "text", text: "grüße" });
  });
  it("says binary and its size otherwise", () => {
    expect(decodeSecretValue(btoa(String.fromCharCode(0xff, 0xfe, 0x00, 0x01)))).toEqual({ kind: "binary", bytes: 4 });
    expect(decodeSecretValue("not base64!")).toEqual({ kind: "binary", bytes: 0 });
  });
});

describe("eventsOf", () => {
  function event(name: string, involvedUid: string | null, involvedName: string, lastSeen: string): Row {
    return row(name, `e-${name}`, [], {
      kind: "event",
      eventType: "Normal",
      reason: "Scheduled",
      message: "",
      involvedKind: "Pod",
      involvedName,
      involvedNamespace: "default",
      involvedUid,
      count: 1,
      lastSeen,
      source: "scheduler",
    });
  }
  it("matches by uid, or by kind and name without one, newest first", () => {
    const rows = [
      event("a", "pod-uid", "web", "2026-11-28T10:00:00Z"),
      event("b", null, "web", "2026-11-28T11:00:00Z"),
      event("c", "other-uid", "web", "2026-11-28T12:00:00Z"),
      event("d", null, "db", "2026-11-28T12:00:00Z"),
    ];
    expect(eventsOf(rows, "pod-uid", "Pod", "web").map((e) => e.name)).toEqual(["b", "a"]);
  });
});

describe("objectYaml", () => {
  it("puts apiVersion, kind, metadata first and status last, without managedFields", async () => {
    const { objectYaml } = await import("./YamlTab");
    const text = objectYaml({ data: { a: "1" }, status: { phase: "x" }, kind: "ConfigMap", apiVersion: "v1", metadata: { name: "c", managedFields: [{}] } });
    expect(text.split("\n").filter((l) => /^\S/.test(l)).map((l) => l.split(":")[0])).toEqual(["apiVersion", "kind", "metadata", "data", "status"]);
    expect(text).not.toContain("managedFields");
  });
  it("reads a workload's readiness from the object before its row arrives", () => {
    expect(headerStatus(undefined, { spec: { replicas: 3 }, status: { readyReplicas: 1 } })).toEqual({ text: "1/3 ready", tone: "warn" });
  });
});

describe("rebase", () => {
  const base = { kind: "Deployment", metadata: { name: "web", resourceVersion: "5" }, spec: { replicas: 2 }, status: { readyReplicas: 1 } };
  it("allows a newer version that differs in status only", async () => {
    const { sameApartFromStatus } = await import("./rebase");
    expect(sameApartFromStatus(base, { ...base, metadata: { resourceVersion: "9", name: "web" }, status: { readyReplicas: 2 } })).toBe(true);
    expect(sameApartFromStatus(base, { ...base, metadata: { name: "web", resourceVersion: "9" }, spec: { replicas: 3 } })).toBe(false);
    expect(sameApartFromStatus(base, { ...base, metadata: { name: "web", resourceVersion: "9", labels: { a: "b" } } })).toBe(false);
  });
  it("moves only the version the edit began from", async () => {
    const { withVersion } = await import("./rebase");
    const moved = withVersion([{ metadata: { resourceVersion: "5" } }, { metadata: { resourceVersion: "7" } }], "5", "9");
    expect(moved.map((o) => (o["metadata"] as { resourceVersion: string }).resourceVersion)).toEqual(["9", "7"]);
  });
});
