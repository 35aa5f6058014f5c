// Tests for the topology graph's nodes and edges, and that its layout runs left to right.
import { describe, expect, it } from "vitest";
import type { OwnerRef, PodSummary, Row, Summary } from "../ipc/resources";
import { buildTopology, selects, structureKey, type Graph, type TopologyInput } from "./topology";
import { layoutGraph } from "./topologyLayout";
import { row as fixtureRow, podRow } from "../test/fixtures";

function row(name: string, summary: Summary = { kind: "none" }, over: Partial<Row> = {}): Row {
  return fixtureRow(name, { summary, ...over });
}

const owned = (kind: string, name: string): OwnerRef[] => [{ kind, name, uid: `uid-${name}`, controller: true }];

function pod(name: string, over: Partial<PodSummary> = {}, rowOver: Partial<Row> = {}): Row {
  return podRow(name, over, rowOver);
}

const workload = (desired: number | null, ready: number): Summary => ({ kind: "workload", selector: {}, desired, ready, claimTemplates: [] });

function input(over: Partial<TopologyInput>): TopologyInput {
  return {
    ingresses: [],
    services: [],
    deployments: [],
    replicasets: [],
    statefulsets: [],
    daemonsets: [],
    jobs: [],
    cronjobs: [],
    pods: [],
    configmaps: [],
    secrets: [],
    persistentvolumeclaims: [],
    ...over,
  };
}

function edgeNames(graph: Graph): string[] {
  const name = new Map(graph.nodes.map((n) => [n.id, `${n.kind}/${n.name}`]));
  return graph.edges.map((e) => `${name.get(e.from) ?? e.from} -${e.kind}-> ${name.get(e.to) ?? e.to}`).sort();
}

const web = input({
  ingresses: [row("web", { kind: "ingress", services: ["web"], hosts: ["web.local"] }, { uid: "uid-ing-web" })],
  services: [row("web", { kind: "service", selector: { app: "web" }, serviceType: "ClusterIP", ports: ["80/TCP"] }, { uid: "uid-svc-web" })],
  deployments: [row("web", workload(2, 2))],
  replicasets: [
    row("web-1", workload(2, 2), { owners: owned("Deployment", "web") }),
    row("web-0", workload(0, 0), { owners: owned("Deployment", "web") }),
  ],
  pods: [
    pod("web-1-a", { configMaps: ["web-conf", "kube-root-ca.crt"], secrets: ["web-tls"] }, { labels: { app: "web" }, owners: owned("ReplicaSet", "web-1") }),
    pod("web-1-b", { ready: false }, { labels: { app: "web", extra: "x" }, owners: owned("ReplicaSet", "web-1") }),
    pod("other", {}, { labels: { app: "other" } }),
  ],
  configmaps: [row("web-conf"), row("unused"), row("kube-root-ca.crt")],
  secrets: [row("web-tls")],
});

describe("buildTopology", () => {
  it("draws Ingress → Service → Pods ← ReplicaSet ← Deployment and what pods use", () => {
    expect(edgeNames(buildTopology(web))).toEqual([
      "ConfigMap/web-conf -uses-> Pod/web-1-a",
      "Deployment/web -owns-> ReplicaSet/web-1",
      "Ingress/web -routes-> Service/web",
      "ReplicaSet/web-1 -owns-> Pod/web-1-a",
      "ReplicaSet/web-1 -owns-> Pod/web-1-b",
      "Secret/web-tls -uses-> Pod/web-1-a",
      "Service/web -selects-> Pod/web-1-a",
      "Service/web -selects-> Pod/web-1-b",
    ]);
  });

  it("leaves out retired ReplicaSets, unused ConfigMaps and the root CA every pod mounts", () => {
    const names = buildTopology(web).nodes.map((n) => `${n.kind}/${n.name}`);
    expect(names).not.toContain("ReplicaSet/web-0");
    expect(names).not.toContain("ConfigMap/unused");
    expect(names).not.toContain("ConfigMap/kube-root-ca.crt");
    expect(names).toContain("Pod/other");
  });

  it("colours a Service by how many of its pods are ready", () => {
    const service = buildTopology(web).nodes.find((n) => n.kind === "Service");
    expect(service).toMatchObject({ tone: "ok", detail: "ClusterIP · 1/2 ready" });
    const none = buildTopology({ ...web, pods: [] }).nodes.find((n) => n.kind === "Service");
    expect(none?.tone).toBe("warn");
  });

  it("shows references to objects that do not exist as missing nodes", () => {
    const graph = buildTopology(
      input({
        ingresses: [row("ing", { kind: "ingress", services: ["nowhere"], hosts: [] })],
        pods: [pod("p", { configMaps: ["absent"], claims: ["data-p"] })],
      }),
    );
    expect(graph.nodes.filter((n) => n.missing).map((n) => `${n.kind}/${n.name}`).sort()).toEqual([
      "ConfigMap/absent",
      "PersistentVolumeClaim/data-p",
      "Service/nowhere",
    ]);
    expect(edgeNames(graph)).toContain("Pod/p -claims-> PersistentVolumeClaim/data-p");
    expect(graph.nodes.find((n) => n.name === "data-p")?.id).toBe("missing:persistentvolumeclaims/default/data-p");
  });

  it("matches selectors only within a namespace", () => {
    const graph = buildTopology(
      input({
        services: [row("s", { kind: "service", selector: { app: "a" }, serviceType: "ClusterIP", ports: [] })],
        pods: [pod("p", {}, { namespace: "elsewhere", labels: { app: "a" } })],
      }),
    );
    expect(graph.edges).toEqual([]);
  });

  it("links StatefulSet pods to their claims and DaemonSet/Job/CronJob owners", () => {
    const graph = buildTopology(
      input({
        statefulsets: [row("db", workload(1, 1))],
        daemonsets: [row("agent", workload(null, 1))],
        cronjobs: [row("nightly")],
        jobs: [row("nightly-1", workload(1, 0), { owners: owned("CronJob", "nightly") })],
        pods: [
          pod("db-0", { claims: ["data-db-0"] }, { owners: owned("StatefulSet", "db") }),
          pod("agent-x", {}, { owners: owned("DaemonSet", "agent") }),
          pod("nightly-1-x", { phase: "Succeeded", status: "Completed" }, { owners: owned("Job", "nightly-1") }),
        ],
        persistentvolumeclaims: [row("data-db-0", { kind: "none" }, { cells: ["Bound", "pv-1"] })],
      }),
    );
    expect(edgeNames(graph)).toEqual([
      "CronJob/nightly -owns-> Job/nightly-1",
      "DaemonSet/agent -owns-> Pod/agent-x",
      "Job/nightly-1 -owns-> Pod/nightly-1-x",
      "Pod/db-0 -claims-> PersistentVolumeClaim/data-db-0",
      "StatefulSet/db -owns-> Pod/db-0",
    ]);
    expect(graph.nodes.find((n) => n.kind === "PersistentVolumeClaim")?.tone).toBe("ok");
  });
});

describe("collapsePods", () => {
  it("draws many alike replicas as one box with their readiness, keeping the links", () => {
    const replicas = Array.from({ length: 9 }, (_, i) =>
      pod(`web-1-${String(i)}`, { ready: i !== 0 }, { labels: { app: "web" }, owners: owned("ReplicaSet", "web-1") }),
    );
    const graph = buildTopology({ ...web, pods: [...replicas, pod("other", {}, { labels: { app: "other" } })] });
    const bundle = graph.nodes.find((n) => n.count > 1);
    expect(bundle).toMatchObject({ kind: "Pod", name: "9 pods", detail: "8 ready", tone: "warn", count: 9 });
    expect(graph.nodes.filter((n) => n.kind === "Pod").map((n) => n.name).sort()).toEqual(["9 pods", "other"]);
    expect(edgeNames(graph)).toEqual([
      "Deployment/web -owns-> ReplicaSet/web-1",
      "Ingress/web -routes-> Service/web",
      "ReplicaSet/web-1 -owns-> Pod/9 pods",
      "Service/web -selects-> Pod/9 pods",
    ]);
  });

  it("keeps a few replicas, and pods with different links, as they are", () => {
    const graph = buildTopology(web);
    expect(graph.nodes.every((n) => n.count === 1)).toBe(true);
  });
});

describe("selects", () => {
  it("needs every selector pair, and selects nothing with an empty selector", () => {
    expect(selects({ app: "a" }, { app: "a", tier: "x" })).toBe(true);
    expect(selects({ app: "a", tier: "y" }, { app: "a", tier: "x" })).toBe(false);
    expect(selects({}, { app: "a" })).toBe(false);
  });
});

describe("structureKey", () => {
  it("changes when nodes or edges change, not when a status does", () => {
    const before = buildTopology(web);
    const statusOnly = buildTopology({ ...web, pods: web.pods.map((p) => ({ ...p, resourceVersion: "2" })) });
    expect(structureKey(statusOnly)).toBe(structureKey(before));
    const fewer = buildTopology({ ...web, pods: web.pods.slice(1) });
    expect(structureKey(fewer)).not.toBe(structureKey(before));
  });
});

describe("layoutGraph", () => {
  it("places ingresses left of services left of pods, deployments left of ReplicaSets", () => {
    const graph = buildTopology(web);
    const layout = layoutGraph(graph);
    const x = (kind: string, name: string) => {
      const node = graph.nodes.find((n) => n.kind === kind && n.name === name);
      return node ? (layout.positions.get(node.id)?.x ?? NaN) : NaN;
    };
    expect(x("Ingress", "web")).toBeLessThan(x("Service", "web"));
    expect(x("Service", "web")).toBeLessThan(x("Pod", "web-1-a"));
    expect(x("Deployment", "web")).toBeLessThan(x("ReplicaSet", "web-1"));
    expect(x("ReplicaSet", "web-1")).toBeLessThan(x("Pod", "web-1-b"));
    expect(layout.edges.size).toBe(graph.edges.length);
    expect(layout.width).toBeGreaterThan(0);
  });
});
