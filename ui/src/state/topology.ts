// The topology graph, derived from watched rows: which Ingress routes to which Service, which
// Pods a Service selects, who owns whom (Deployment → ReplicaSet → Pod, StatefulSet/DaemonSet/
// Job → Pod, CronJob → Job), and what a Pod mounts (ConfigMaps, Secrets, PVCs). Pure, so it is
// tested without a cluster; layout lives in topologyLayout.ts.
import type { Row } from "../ipc/resources";
import { toneOf } from "./map";

/** How a graph node is coloured. */
export type GraphTone = "ok" | "warn" | "bad" | "idle";

export interface GraphNode {
  /** The object's uid, or `missing:<resource>/<namespace>/<name>` for a reference to nothing. */
  readonly id: string;
  readonly kind: string;
  /** The resource for its details route. */
  readonly resource: string;
  readonly namespace: string | null;
  readonly name: string;
  readonly tone: GraphTone;
  /** One short line under the name: a pod's status, a workload's ready count… */
  readonly detail: string;
  /** Referenced (by an Ingress or a Pod) but not in the cluster. */
  readonly missing: boolean;
  /** How many objects it stands for: more than 1 for a bundle of alike pods (see `collapsePods`). */
  readonly count: number;
}

/** `routes`: Ingress → Service; `selects`: Service → Pod; `owns`: owner → owned; `uses`: ConfigMap/Secret → Pod; `claims`: Pod → PVC. */
export type EdgeKind = "routes" | "selects" | "owns" | "uses" | "claims";

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
}

export interface Graph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** The rows the graph is drawn from, each already scoped to the namespace shown. */
export interface TopologyInput {
  readonly ingresses: readonly Row[];
  readonly services: readonly Row[];
  readonly deployments: readonly Row[];
  readonly replicasets: readonly Row[];
  readonly statefulsets: readonly Row[];
  readonly daemonsets: readonly Row[];
  readonly jobs: readonly Row[];
  readonly cronjobs: readonly Row[];
  readonly pods: readonly Row[];
  readonly configmaps: readonly Row[];
  readonly secrets: readonly Row[];
  readonly persistentvolumeclaims: readonly Row[];
}

/** The resources `TopologyInput` holds, for the view to watch. */
export const TOPOLOGY_RESOURCES = [
  "ingresses",
  "services",
  "deployments",
  "replicasets",
  "statefulsets",
  "daemonsets",
  "jobs",
  "cronjobs",
  "pods",
  "configmaps",
  "secrets",
  "persistentvolumeclaims",
] as const satisfies readonly (keyof TopologyInput)[];

const KIND_OF: Record<keyof TopologyInput, string> = {
  ingresses: "Ingress",
  services: "Service",
  deployments: "Deployment",
  replicasets: "ReplicaSet",
  statefulsets: "StatefulSet",
  daemonsets: "DaemonSet",
  jobs: "Job",
  cronjobs: "CronJob",
  pods: "Pod",
  configmaps: "ConfigMap",
  secrets: "Secret",
  persistentvolumeclaims: "PersistentVolumeClaim",
};

/**
 * The API server mounts this ConfigMap into every pod (service-account token projection):
 * drawing it would tie every pod to one node and bury the edges that say something.
 */
const EVERYWHERE_CONFIGMAP = "kube-root-ca.crt";

function podTone(row: Row): { tone: GraphTone; detail: string } {
  if (row.summary.kind !== "pod") return { tone: "idle", detail: "" };
  const tone = toneOf(row.summary, row.deleting);
  const detail = row.deleting ? "Terminating" : row.summary.status;
  switch (tone) {
    case "ready":
      return { tone: "ok", detail };
    case "unready":
      return { tone: "warn", detail };
    case "failed":
      return { tone: "bad", detail };
    default:
      return { tone: "idle", detail };
  }
}

function workloadTone(row: Row): { tone: GraphTone; detail: string } {
  if (row.summary.kind !== "workload") return { tone: "idle", detail: "" };
  const { desired, ready } = row.summary;
  if (desired === null) return { tone: ready > 0 ? "ok" : "idle", detail: `${String(ready)} ready` };
  const detail = `${String(ready)}/${String(desired)} ready`;
  if (desired === 0) return { tone: "idle", detail };
  return { tone: ready >= desired ? "ok" : "warn", detail };
}

function firstCell(row: Row): string {
  const cell = row.cells[0];
  return typeof cell === "string" ? cell : "";
}

function appearance(resource: keyof TopologyInput, row: Row): { tone: GraphTone; detail: string } {
  switch (resource) {
    case "pods":
      return podTone(row);
    case "deployments":
    case "replicasets":
    case "statefulsets":
    case "daemonsets":
    case "jobs":
      return workloadTone(row);
    case "persistentvolumeclaims": {
      const status = firstCell(row);
      return { tone: status === "Bound" ? "ok" : status === "Lost" ? "bad" : "warn", detail: status };
    }
    case "services":
      return { tone: "idle", detail: row.summary.kind === "service" ? row.summary.serviceType : "" };
    case "ingresses":
      return { tone: "idle", detail: row.summary.kind === "ingress" ? row.summary.hosts.join(", ") : "" };
    default:
      return { tone: "idle", detail: "" };
  }
}

function nodeOf(resource: keyof TopologyInput, row: Row): GraphNode {
  const { tone, detail } = appearance(resource, row);
  return { id: row.uid, kind: KIND_OF[resource], resource, namespace: row.namespace, name: row.name, tone, detail, missing: false, count: 1 };
}

/** Whether `labels` carry every pair of `selector` (an empty selector selects nothing here). */
export function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  const pairs = Object.entries(selector);
  return pairs.length > 0 && pairs.every(([key, value]) => labels[key] === value);
}

/** The graph for these rows. */
export function buildTopology(input: TopologyInput): Graph {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  const byName = new Map<string, string>();
  // Shown only when something points from them (see `prune`).
  const droppable = new Set<string>();
  const nameKey = (resource: string, namespace: string | null, name: string) => `${resource}/${namespace ?? ""}/${name}`;

  for (const resource of TOPOLOGY_RESOURCES) {
    for (const row of input[resource]) {
      if (resource === "configmaps" && row.name === EVERYWHERE_CONFIGMAP) continue;
      nodes.set(row.uid, nodeOf(resource, row));
      const retired = resource === "replicasets" && row.summary.kind === "workload" && row.summary.desired === 0;
      if (retired || resource === "configmaps" || resource === "secrets") droppable.add(row.uid);
      byName.set(nameKey(resource, row.namespace, row.name), row.uid);
    }
  }

  /** The node for a reference by name, adding a "not found" one when nothing has that name. */
  const target = (resource: keyof TopologyInput, namespace: string | null, name: string): string => {
    const key = nameKey(resource, namespace, name);
    const found = byName.get(key);
    if (found) return found;
    const id = `missing:${key}`;
    if (!nodes.has(id)) {
      nodes.set(id, { id, kind: KIND_OF[resource], resource, namespace, name, tone: "bad", detail: "not found", missing: true, count: 1 });
    }
    return id;
  };

  for (const ingress of input.ingresses) {
    if (ingress.summary.kind !== "ingress") continue;
    for (const service of new Set(ingress.summary.services)) {
      edges.push({ from: ingress.uid, to: target("services", ingress.namespace, service), kind: "routes" });
    }
  }

  const podsByNamespace = new Map<string, Row[]>();
  for (const pod of input.pods) {
    const list = podsByNamespace.get(pod.namespace ?? "");
    if (list) list.push(pod);
    else podsByNamespace.set(pod.namespace ?? "", [pod]);
  }
  for (const service of input.services) {
    if (service.summary.kind !== "service" || !service.summary.selector) continue;
    const selector = service.summary.selector;
    let selected = 0;
    let ready = 0;
    for (const pod of podsByNamespace.get(service.namespace ?? "") ?? []) {
      if (!selects(selector, pod.labels)) continue;
      edges.push({ from: service.uid, to: pod.uid, kind: "selects" });
      selected += 1;
      if (pod.summary.kind === "pod" && pod.summary.ready) ready += 1;
    }
    const node = nodes.get(service.uid);
    if (node) {
      const tone: GraphTone = selected === 0 ? "warn" : ready === 0 ? "bad" : "ok";
      const detail = `${node.detail} · ${String(ready)}/${String(selected)} ready`;
      nodes.set(service.uid, { ...node, tone, detail });
    }
  }

  for (const resource of ["replicasets", "jobs", "pods"] as const) {
    for (const row of input[resource]) {
      for (const owner of row.owners) {
        if (nodes.has(owner.uid)) edges.push({ from: owner.uid, to: row.uid, kind: "owns" });
      }
    }
  }

  for (const pod of input.pods) {
    if (pod.summary.kind !== "pod") continue;
    for (const name of new Set(pod.summary.configMaps)) {
      if (name === EVERYWHERE_CONFIGMAP) continue;
      edges.push({ from: target("configmaps", pod.namespace, name), to: pod.uid, kind: "uses" });
    }
    for (const name of new Set(pod.summary.secrets)) {
      edges.push({ from: target("secrets", pod.namespace, name), to: pod.uid, kind: "uses" });
    }
    for (const name of new Set(pod.summary.claims)) {
      edges.push({ from: pod.uid, to: target("persistentvolumeclaims", pod.namespace, name), kind: "claims" });
    }
  }

  return collapsePods(prune({ nodes: [...nodes.values()], edges }, droppable));
}

/** Past this many pods with the same links (a Deployment's replicas), they are drawn as one box. */
export const BUNDLE_FROM = 6;

/**
 * Draws pods that link to exactly the same objects (the replicas of one workload behind the
 * same Services) as one "N pods" box once there are more than `BUNDLE_FROM`: fifty identical
 * boxes say less than one, and the layout's cost grows much faster than the graph.
 */
export function collapsePods(graph: Graph): Graph {
  const links = new Map<string, string[]>();
  const note = (pod: string, link: string) => {
    const list = links.get(pod);
    if (list) list.push(link);
    else links.set(pod, [link]);
  };
  const pods = graph.nodes.filter((n) => n.kind === "Pod" && !n.missing);
  const isPod = new Set(pods.map((p) => p.id));
  for (const e of graph.edges) {
    if (isPod.has(e.to)) note(e.to, `<${e.kind}:${e.from}`);
    if (isPod.has(e.from)) note(e.from, `>${e.kind}:${e.to}`);
  }
  const bundles = new Map<string, GraphNode[]>();
  for (const pod of pods) {
    const signature = `${pod.namespace ?? ""}|${(links.get(pod.id) ?? []).sort().join(",")}`;
    const list = bundles.get(signature);
    if (list) list.push(pod);
    else bundles.set(signature, [pod]);
  }
  const into = new Map<string, string>();
  const added: GraphNode[] = [];
  for (const [signature, members] of bundles) {
    if (members.length <= BUNDLE_FROM) continue;
    const id = `pods:${signature}`;
    for (const m of members) into.set(m.id, id);
    const ready = members.filter((m) => m.tone === "ok").length;
    const failing = members.filter((m) => m.tone === "bad").length;
    const tone: GraphTone = failing > 0 ? "bad" : ready < members.length ? "warn" : "ok";
    const first = members[0];
    added.push({
      id,
      kind: "Pod",
      resource: "pods",
      namespace: first?.namespace ?? null,
      name: `${String(members.length)} pods`,
      tone,
      detail: `${String(ready)} ready${failing > 0 ? ` · ${String(failing)} failing` : ""}`,
      missing: false,
      count: members.length,
    });
  }
  if (into.size === 0) return graph;
  const seen = new Set<string>();
  const edges: GraphEdge[] = [];
  for (const e of graph.edges) {
    const edge = { from: into.get(e.from) ?? e.from, to: into.get(e.to) ?? e.to, kind: e.kind };
    const key = `${edge.from}>${edge.to}:${edge.kind}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push(edge);
  }
  return { nodes: graph.nodes.filter((n) => !into.has(n.id)).concat(added), edges };
}

/**
 * Drops what only clutters: a Deployment's old ReplicaSets (scaled to zero, no pods left), and
 * ConfigMaps and Secrets no pod uses (service-account tokens, Helm releases…).
 */
function prune(graph: Graph, droppable: ReadonlySet<string>): Graph {
  const outgoing = new Set(graph.edges.map((e) => e.from));
  const drop = new Set([...droppable].filter((id) => !outgoing.has(id)));
  if (drop.size === 0) return graph;
  return {
    nodes: graph.nodes.filter((n) => !drop.has(n.id)),
    edges: graph.edges.filter((e) => !drop.has(e.from) && !drop.has(e.to)),
  };
}

/** A string that changes only when nodes or edges come or go, so layout reruns only then. */
export function structureKey(graph: Graph): string {
  const nodes = graph.nodes.map((n) => n.id).sort();
  const edges = graph.edges.map((e) => `${e.from}>${e.to}`).sort();
  return `${nodes.join(",")}|${edges.join(",")}`;
}
