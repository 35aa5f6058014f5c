// RBAC-aware actions: which access check each action needs, and the answers the cluster gives
// (`can_i`, a SelfSubjectAccessReview per check), cached per cluster and check for 30 s so
// menus and the palette do not ask again on every render; a new cluster asks afresh.
import { useMemo, useSyncExternalStore } from "react";
import type { ActionId } from "../actions/catalogue";
import { canI, type AccessCheck } from "../ipc/clusters";

/** How long an answer is trusted. */
export const ACCESS_TTL_MS = 30_000;

/** Actions beyond the catalogue's that a cluster's RBAC may refuse (the details page's streams). */
export type StreamAction = "logs" | "exec" | "port-forward";

/** API groups of the resources actions apply to; anything else is looked up by the caller. */
const GROUPS: Readonly<Record<string, string>> = {
  pods: "",
  nodes: "",
  services: "",
  configmaps: "",
  secrets: "",
  namespaces: "",
  persistentvolumeclaims: "",
  persistentvolumes: "",
  serviceaccounts: "",
  events: "",
  endpoints: "",
  deployments: "apps",
  replicasets: "apps",
  statefulsets: "apps",
  daemonsets: "apps",
  jobs: "batch",
  cronjobs: "batch",
  poddisruptionbudgets: "policy",
  ingresses: "networking.k8s.io",
  ingressclasses: "networking.k8s.io",
  endpointslices: "discovery.k8s.io",
  storageclasses: "storage.k8s.io",
  priorityclasses: "scheduling.k8s.io",
};

/** The API group of `resource` (`apps` for deployments), or `fallback` for one not listed. */
export function groupOf(resource: string, fallback = ""): string {
  return GROUPS[resource] ?? fallback;
}

/** One check, with the optional parts spelled out. */
export function check(
  verb: string,
  resource: string,
  namespace: string | null,
  subresource: string | null = null,
  group: string = groupOf(resource),
): AccessCheck {
  return { verb, group, resource, subresource, namespace, name: null };
}

/**
 * What `id` on an object of `resource` in `namespace` needs the cluster to allow. Actions the
 * app runs itself (the local cluster's nodes, stopping and resetting it) need nothing.
 */
export function checksFor(id: ActionId | StreamAction, resource: string, namespace: string | null, group?: string): AccessCheck[] {
  const g = group ?? groupOf(resource);
  switch (id) {
    case "delete":
      return [check("delete", resource, namespace, null, g)];
    case "scale":
      return [check("update", resource, namespace, "scale", g)];
    case "restart":
    case "undo":
      return [check("patch", resource, namespace, null, g)];
    case "cordon":
    case "uncordon":
      return [check("patch", "nodes", null)];
    case "drain":
      // Drain cordons the node, then evicts its pods wherever they run.
      return [check("patch", "nodes", null), check("create", "pods", null, "eviction")];
    case "logs":
      return [check("get", "pods", namespace, "log")];
    case "exec":
      return [check("create", "pods", namespace, "exec")];
    case "port-forward":
      return [check("create", "pods", namespace, "portforward")];
    case "stop-node":
    case "start-node":
    case "remove-node":
    case "add-node":
    case "stop-cluster":
    case "start-cluster":
    case "reset-cluster":
      return [];
  }
}

/** The words for a refused check: "RBAC: you may not delete deployments in default". */
export function deniedReason(denied: AccessCheck): string {
  const what = denied.subresource ? `${denied.resource}/${denied.subresource}` : denied.resource;
  const where = denied.namespace ? ` in ${denied.namespace}` : denied.resource === "nodes" ? "" : " in any namespace";
  return `RBAC: you may not ${denied.verb} ${what}${where}. Ask the cluster's administrator for this permission.`;
}

/** Why `checks` are not all allowed (the first refused one), or `null` when none is known refused. */
export function refusal(checks: readonly AccessCheck[], answers: readonly (boolean | undefined)[]): string | null {
  const i = answers.findIndex((a) => a === false);
  const denied = i < 0 ? undefined : checks[i];
  return denied === undefined ? null : deniedReason(denied);
}

function keyOf(cluster: string, c: AccessCheck): string {
  return [cluster, c.verb, c.group, c.resource, c.subresource ?? "", c.namespace ?? "", c.name ?? ""].join("\u0000");
}

interface Answer {
  allowed: boolean;
  at: number;
}

/**
 * Answers per cluster and check, trusted for `ttl` ms. Asks only for what it does not know
 * (once, however many ask at the same time). A failed `can_i` leaves the checks unknown, so
 * actions stay offered and the API server says no itself if it must.
 */
export class AccessCache {
  private readonly answers = new Map<string, Answer>();
  private readonly asking = new Set<string>();
  /** When asking last failed, per check: not asked again (in a loop) before the TTL passes. */
  private readonly failed = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  /** Bumped on every new answer, so React sees a change. */
  version = 0;

  constructor(
    private readonly ask: (cluster: string, checks: AccessCheck[]) => Promise<boolean[]>,
    private readonly now: () => number = Date.now,
    private readonly ttl: number = ACCESS_TTL_MS,
  ) {}

  /** The known answers for `checks` (`undefined` where unknown or stale); asks for those. */
  lookup(cluster: string, checks: readonly AccessCheck[]): (boolean | undefined)[] {
    const now = this.now();
    const missing: AccessCheck[] = [];
    const result = checks.map((c) => {
      const key = keyOf(cluster, c);
      const answer = this.answers.get(key);
      const fresh = answer !== undefined && now - answer.at < this.ttl;
      const failedAt = this.failed.get(key);
      const resting = failedAt !== undefined && now - failedAt < this.ttl;
      if (!fresh && !resting && !this.asking.has(key)) missing.push(c);
      return fresh ? answer.allowed : undefined;
    });
    if (missing.length > 0) this.request(cluster, missing);
    return result;
  }

  private request(cluster: string, checks: AccessCheck[]): void {
    const keys = checks.map((c) => keyOf(cluster, c));
    for (const key of keys) this.asking.add(key);
    this.ask(cluster, checks)
      .then(
        (allowed) => {
          const at = this.now();
          keys.forEach((key, i) => {
            const answer = allowed[i];
            if (answer !== undefined) this.answers.set(key, { allowed: answer, at });
            this.failed.delete(key);
          });
        },
        (error: unknown) => {
          const at = this.now();
          for (const key of keys) this.failed.set(key, at);
          console.warn("Kubarium could not ask the cluster what it allows", error);
        },
      )
      .finally(() => {
        for (const key of keys) this.asking.delete(key);
        this.version += 1;
        for (const listener of this.listeners) listener();
      });
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const cache = new AccessCache(canI);
const subscribe = (listener: () => void) => cache.subscribe(listener);
const version = () => cache.version;

/**
 * What `cluster` allows of `checks`, in order: `true`, `false`, or `undefined` while it is
 * being asked (treat as allowed: the API server still refuses what it must).
 */
export function useAccess(cluster: string, checks: readonly AccessCheck[]): (boolean | undefined)[] {
  const v = useSyncExternalStore(subscribe, version);
  // The checks' identity changes on every render; their content is what matters.
  const key = JSON.stringify(checks);
  // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` stands for `checks`; `v` re-reads after new answers
  return useMemo(() => cache.lookup(cluster, checks), [cluster, key, v]);
}

/**
 * Why each of `ids` is refused (or `null` when allowed or not known yet), from the answers to
 * their checks concatenated in the same order. Pure: `useActionRefusals` feeds it.
 */
export function actionRefusals<Id extends string>(
  ids: readonly Id[],
  checksById: readonly (readonly AccessCheck[])[],
  answers: readonly (boolean | undefined)[],
): Map<Id, string | null> {
  const refusals = new Map<Id, string | null>();
  let at = 0;
  ids.forEach((id, i) => {
    const checks = checksById[i] ?? [];
    refusals.set(id, refusal(checks, answers.slice(at, at + checks.length)));
    at += checks.length;
  });
  return refusals;
}

/** Why each action on an object of `resource` in `namespace` is refused on `cluster` (`null`: offered). */
export function useActionRefusals<Id extends ActionId | StreamAction>(
  cluster: string,
  ids: readonly Id[],
  resource: string,
  namespace: string | null,
  group?: string,
): Map<Id, string | null> {
  const checksById = ids.map((id) => checksFor(id, resource, namespace, group));
  const answers = useAccess(cluster, checksById.flat());
  return actionRefusals(ids, checksById, answers);
}

/** The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → core). */
export function groupOfApiVersion(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/**
 * The `create` checks for applying `objects` (each once): their resource from the kind, their
 * namespace (or `fallbackNamespace`; none for cluster-scoped kinds). Kinds the app does not
 * know are left to the API server.
 */
export function createChecks(
  objects: readonly Record<string, unknown>[],
  fallbackNamespace: string,
  resourceOf: (kind: string) => string | null,
  clusterScoped: (kind: string) => boolean,
): AccessCheck[] {
  const seen = new Set<string>();
  const checks: AccessCheck[] = [];
  for (const object of objects) {
    const kind = typeof object["kind"] === "string" ? object["kind"] : "";
    const resource = resourceOf(kind);
    if (resource === null) continue;
    const apiVersion = typeof object["apiVersion"] === "string" ? object["apiVersion"] : "v1";
    const metadata = object["metadata"];
    const ns =
      typeof metadata === "object" && metadata !== null && typeof (metadata as Record<string, unknown>)["namespace"] === "string"
        ? ((metadata as Record<string, unknown>)["namespace"] as string)
        : fallbackNamespace;
    const namespace = clusterScoped(kind) ? null : ns;
    const c = check("create", resource, namespace, null, groupOfApiVersion(apiVersion));
    const key = keyOf("", c);
    if (seen.has(key)) continue;
    seen.add(key);
    checks.push(c);
  }
  return checks;
}
