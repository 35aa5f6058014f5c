// Objects related to the one a details page shows, as links: its owners, the pods it owns
// (through ReplicaSets for a Deployment, Jobs for a CronJob), a Service's endpoints, what a
// pod uses and where it runs. Pure functions over rows and JSON, for tests.
import type { Row } from "../ipc/resources";
import { listAt, recordAt, textAt, type KubeObject } from "./describe";

/** A link to another object's details page. */
export interface RelatedLink {
  /** How it relates: `Owner`, `Pod`, `ConfigMap`, `Node`, `Endpoint`. */
  readonly relation: string;
  readonly resource: string;
  readonly namespace: string | null;
  readonly name: string;
  /** A few words on its state (`Running`, `not ready`). */
  readonly note: string;
}

/** Resources whose pods are theirs to show (Logs tab, owned pods). */
export const WORKLOADS: ReadonlySet<string> = new Set([
  "deployments",
  "replicasets",
  "statefulsets",
  "daemonsets",
  "jobs",
  "cronjobs",
]);

/** The resource of a kind, from `kinds()` (`ReplicaSet` → `replicasets`). */
export type ResourceOf = (kind: string) => string | null;

/** Links to the object's owners (`metadata.ownerReferences`). */
export function ownerLinks(object: KubeObject, namespace: string | null, resourceOf: ResourceOf): RelatedLink[] {
  return listAt(object, "metadata", "ownerReferences").flatMap((ref) => {
    const kind = textAt(ref, "kind");
    const resource = resourceOf(kind);
    if (!resource) return [];
    const controller = textAt(ref, "controller") === "true";
    return [{ relation: `Owner (${kind})`, resource, namespace, name: textAt(ref, "name"), note: controller ? "controller" : "" }];
  });
}

function ownedBy(rows: readonly Row[], uids: ReadonlySet<string>): Row[] {
  return rows.filter((row) => row.owners.some((owner) => uids.has(owner.uid)));
}

/**
 * The pods a workload owns: directly (ReplicaSet, StatefulSet, DaemonSet, Job), through its
 * ReplicaSets (Deployment) or through its Jobs (CronJob). Sorted by name.
 */
export function ownedPods(
  resource: string,
  uid: string,
  pods: readonly Row[],
  replicaSets: readonly Row[],
  jobs: readonly Row[],
): Row[] {
  let owners = new Set([uid]);
  if (resource === "deployments") owners = new Set(ownedBy(replicaSets, owners).map((r) => r.uid));
  if (resource === "cronjobs") owners = new Set(ownedBy(jobs, owners).map((r) => r.uid));
  return ownedBy(pods, owners).sort((a, b) => a.name.localeCompare(b.name));
}

/** Intermediate owned objects: a Deployment's ReplicaSets, a CronJob's Jobs. */
export function ownedControllers(resource: string, uid: string, replicaSets: readonly Row[], jobs: readonly Row[]): RelatedLink[] {
  const uids = new Set([uid]);
  const [rows, target, relation] =
    resource === "deployments"
      ? [replicaSets, "replicasets", "ReplicaSet"]
      : resource === "cronjobs"
        ? [jobs, "jobs", "Job"]
        : [[], "", ""];
  return ownedBy(rows, uids)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((row) => ({ relation, resource: target, namespace: row.namespace, name: row.name, note: cellNote(row) }));
}

function cellNote(row: Row): string {
  switch (row.summary.kind) {
    case "pod":
      return row.summary.status + (row.summary.node ? ` on ${row.summary.node}` : "");
    case "workload":
      return row.summary.desired === null ? "" : `${String(row.summary.ready)}/${String(row.summary.desired)} ready`;
    default:
      return "";
  }
}

/** Pod rows as links. */
export function podLinks(rows: readonly Row[], relation = "Pod"): RelatedLink[] {
  return rows.map((row) => ({ relation, resource: "pods", namespace: row.namespace, name: row.name, note: cellNote(row) }));
}

/** What a pod uses (ConfigMaps, Secrets, claims) and the node it runs on. */
export function podUses(row: Row | undefined): RelatedLink[] {
  if (row?.summary.kind !== "pod") return [];
  const { namespace } = row;
  const s = row.summary;
  return [
    ...(s.node ? [{ relation: "Node", resource: "nodes", namespace: null, name: s.node, note: "" }] : []),
    ...s.configMaps.map((name) => ({ relation: "ConfigMap", resource: "configmaps", namespace, name, note: "" })),
    ...s.secrets.map((name) => ({ relation: "Secret", resource: "secrets", namespace, name, note: "" })),
    ...s.claims.map((name) => ({ relation: "PersistentVolumeClaim", resource: "persistentvolumeclaims", namespace, name, note: "" })),
  ];
}

/** The EndpointSlices of a Service (label `kubernetes.io/service-name`). */
export function serviceSlices(service: string, slices: readonly Row[]): Row[] {
  return slices.filter((row) => row.labels["kubernetes.io/service-name"] === service);
}

/** A Service's endpoints from one EndpointSlice: the pods behind it, ready or not. */
export function sliceEndpoints(slice: KubeObject): RelatedLink[] {
  const ports = listAt(slice, "ports")
    .map((p) => textAt(p, "port"))
    .filter((p) => p !== "");
  return listAt(slice, "endpoints").flatMap((endpoint) => {
    const ref = recordAt(endpoint, "targetRef");
    const addresses = listAt(endpoint, "addresses").filter((a): a is string => typeof a === "string");
    const ready = textAt(endpoint, "conditions", "ready") !== "false";
    const where = addresses.flatMap((a) => (ports.length > 0 ? ports.map((p) => `${a}:${p}`) : [a])).join(", ");
    const note = `${where}${ready ? "" : " (not ready)"}`;
    if (textAt(ref, "kind") !== "Pod") return [];
    return [{ relation: "Endpoint", resource: "pods", namespace: textAt(ref, "namespace") || textAt(slice, "metadata", "namespace") || null, name: textAt(ref, "name"), note }];
  });
}

/** Pods running on a node. */
export function podsOnNode(node: string, pods: readonly Row[]): Row[] {
  return pods.filter((row) => row.summary.kind === "pod" && row.summary.node === node).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * What an object points at by name in its spec: a pod's ServiceAccount and PriorityClass, a
 * PVC's volume, an Ingress's Services.
 */
export function specLinks(resource: string, object: KubeObject, row: Row | undefined): RelatedLink[] {
  const namespace = textAt(object, "metadata", "namespace") || null;
  if (resource === "pods") {
    const account = textAt(object, "spec", "serviceAccountName");
    const priorityClass = textAt(object, "spec", "priorityClassName");
    const priority = textAt(object, "spec", "priority");
    return [
      ...(account ? [{ relation: "ServiceAccount", resource: "serviceaccounts", namespace, name: account, note: "" }] : []),
      ...(priorityClass
        ? [{ relation: "PriorityClass", resource: "priorityclasses", namespace: null, name: priorityClass, note: priority ? `priority ${priority}` : "" }]
        : []),
    ];
  }
  if (resource === "persistentvolumeclaims") {
    const volume = textAt(object, "spec", "volumeName");
    return volume ? [{ relation: "PersistentVolume", resource: "persistentvolumes", namespace: null, name: volume, note: "" }] : [];
  }
  if (resource === "persistentvolumes") {
    const claim = recordAt(object, "spec", "claimRef");
    const name = textAt(claim, "name");
    return name ? [{ relation: "Claim", resource: "persistentvolumeclaims", namespace: textAt(claim, "namespace") || null, name, note: "" }] : [];
  }
  if (row?.summary.kind === "ingress") {
    return row.summary.services.map((name) => ({ relation: "Service", resource: "services", namespace, name, note: "" }));
  }
  return [];
}
