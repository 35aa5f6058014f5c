// Kind → resource names for links built from owner references and events' involved objects,
// which name a kind (`ReplicaSet`) where routes and watches take a resource (`replicasets`).

const RESOURCES: Readonly<Record<string, string>> = {
  Pod: "pods",
  Deployment: "deployments",
  ReplicaSet: "replicasets",
  StatefulSet: "statefulsets",
  DaemonSet: "daemonsets",
  Job: "jobs",
  CronJob: "cronjobs",
  PodDisruptionBudget: "poddisruptionbudgets",
  Service: "services",
  Endpoints: "endpoints",
  EndpointSlice: "endpointslices",
  Ingress: "ingresses",
  IngressClass: "ingressclasses",
  ConfigMap: "configmaps",
  Secret: "secrets",
  PersistentVolumeClaim: "persistentvolumeclaims",
  PersistentVolume: "persistentvolumes",
  StorageClass: "storageclasses",
  Node: "nodes",
  Namespace: "namespaces",
  Event: "events",
  ServiceAccount: "serviceaccounts",
  PriorityClass: "priorityclasses",
};

/** Kinds whose objects live outside namespaces (their details routes take `namespace: null`). */
const CLUSTER_SCOPED = new Set(["Node", "Namespace", "PersistentVolume", "StorageClass", "IngressClass", "PriorityClass"]);

/** The resource the app browses for `kind`, or `null` for a kind it does not know. */
export function resourceForKind(kind: string): string | null {
  return RESOURCES[kind] ?? null;
}

/** Whether objects of `kind` are cluster-scoped. */
export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}
