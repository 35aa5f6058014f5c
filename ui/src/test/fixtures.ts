// Builders for the rows Vitest tests feed to the views' pure logic, shaped as the backend sends them (typed by the bindings).
import type { NodeSummary, PodSummary, Row } from "../ipc/resources";

/** A namespaced row in `default` with no summary; `overrides` replace any field. */
export function row(name: string, overrides: Partial<Row> = {}): Row {
  return {
    uid: `uid-${name}`,
    namespace: "default",
    name,
    resourceVersion: "1",
    createdAt: null,
    labels: {},
    owners: [],
    deleting: false,
    cells: [],
    summary: { kind: "none" },
    ...overrides,
  };
}

/** A Running, Ready pod on `w1` with one container `app` and no requests. */
export function podSummary(overrides: Partial<PodSummary> = {}): PodSummary {
  return {
    node: "w1",
    phase: "Running",
    status: "Running",
    ready: true,
    readyContainers: 1,
    totalContainers: 1,
    restarts: 0,
    podIp: null,
    cpuRequestMilli: 0,
    memoryRequestBytes: 0,
    unschedulable: null,
    containers: ["app"],
    configMaps: [],
    secrets: [],
    claims: [],
    ...overrides,
  };
}

/** A pod's row: `row(name, rowOverrides)` with a `podSummary(summaryOverrides)`. */
export function podRow(name: string, summaryOverrides: Partial<PodSummary> = {}, rowOverrides: Partial<Row> = {}): Row {
  return row(name, { ...rowOverrides, summary: { kind: "pod", ...podSummary(summaryOverrides) } });
}

/** A Ready, schedulable hollow node with 4 CPUs and 8 GiB. */
export function nodeSummary(overrides: Partial<NodeSummary> = {}): NodeSummary {
  return {
    ready: true,
    notReadyReason: null,
    unschedulable: false,
    roles: [],
    cpuAllocatableMilli: 4000,
    memoryAllocatableBytes: 8 * 1024 ** 3,
    hollow: true,
    internalIp: null,
    taints: [],
    ...overrides,
  };
}

/** A node's row (cluster-scoped, uid `node-<name>`). */
export function nodeRow(name: string, summaryOverrides: Partial<NodeSummary> = {}, rowOverrides: Partial<Row> = {}): Row {
  return row(name, { uid: `node-${name}`, namespace: null, ...rowOverrides, summary: { kind: "node", ...nodeSummary(summaryOverrides) } });
}
