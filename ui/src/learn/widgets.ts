// What the step widgets show, worked out from objects (pure, tested): pod chips, a
// Deployment's ReplicaSets, a Secret's keys decoded, and a stable colour per distinct text.
import type { KubeObject } from "./checks";
import { valueAt } from "./paths";

/** A hue (0–359) for a text: the same text always gets the same colour. */
export function hueOf(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) >>> 0;
  return hash % 360;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : "";
}

function labelsOf(object: KubeObject): Record<string, string> {
  const labels = valueAt(object, "metadata.labels");
  return typeof labels === "object" && labels !== null ? (labels as Record<string, string>) : {};
}

export interface PodChip {
  readonly name: string;
  readonly node: string;
  readonly phase: string;
  readonly ready: boolean;
  readonly restarts: number;
  /** The template the pod was made from (pod-template-hash or controller-revision-hash), for its colour. */
  readonly template: string;
  readonly deleting: boolean;
}

/** Chips for pods matching `labels` / `name`, oldest first. */
export function podChips(pods: readonly KubeObject[], namespace: string, labels?: Readonly<Record<string, string>>, name?: string): PodChip[] {
  return pods
    .filter((pod) => str(valueAt(pod, "metadata.namespace")) === namespace)
    .filter((pod) => name === undefined || str(valueAt(pod, "metadata.name")) === name)
    .filter((pod) => Object.entries(labels ?? {}).every(([k, v]) => labelsOf(pod)[k] === v))
    .sort((a, b) => str(valueAt(a, "metadata.creationTimestamp")).localeCompare(str(valueAt(b, "metadata.creationTimestamp"))))
    .map((pod) => {
      const statuses = valueAt(pod, "status.containerStatuses");
      const restarts = Array.isArray(statuses) ? (statuses as unknown[]).reduce<number>((n, s) => n + (Number(valueAt(s, "restartCount")) || 0), 0) : 0;
      const podLabels = labelsOf(pod);
      return {
        name: str(valueAt(pod, "metadata.name")),
        node: str(valueAt(pod, "spec.nodeName")),
        phase: str(valueAt(pod, "status.phase")) || "Pending",
        ready: valueAt(pod, "status.conditions[type=Ready].status") === "True",
        restarts,
        template: podLabels["pod-template-hash"] ?? podLabels["controller-revision-hash"] ?? "",
        deleting: valueAt(pod, "metadata.deletionTimestamp") !== undefined,
      };
    });
}

export interface RevisionRow {
  readonly name: string;
  readonly revision: number;
  readonly image: string;
  /** The VERSION env of the first container, which colours the demo page. */
  readonly version: string;
  readonly ready: number;
  readonly desired: number;
  readonly template: string;
  /** The newest revision: the one the Deployment rolls towards. */
  readonly current: boolean;
}

/** The ReplicaSets owned by Deployment `deployment`, newest revision first. */
export function rolloutRows(replicaSets: readonly KubeObject[], namespace: string, deployment: string): RevisionRow[] {
  const rows = replicaSets
    .filter((rs) => str(valueAt(rs, "metadata.namespace")) === namespace)
    .filter((rs) => {
      const owners = valueAt(rs, "metadata.ownerReferences");
      return Array.isArray(owners) && (owners as unknown[]).some((o) => valueAt(o, "kind") === "Deployment" && valueAt(o, "name") === deployment);
    })
    .map((rs) => ({
      name: str(valueAt(rs, "metadata.name")),
      revision: Number(valueAt(rs, 'metadata.annotations["deployment.kubernetes.io/revision"]')) || 0,
      image: str(valueAt(rs, "spec.template.spec.containers[0].image")),
      version: str(valueAt(rs, "spec.template.spec.containers[0].env[name=VERSION].value")),
      ready: Number(valueAt(rs, "status.readyReplicas")) || 0,
      desired: Number(valueAt(rs, "spec.replicas")) || 0,
      template: labelsOf(rs)["pod-template-hash"] ?? "",
      current: false,
    }))
    .sort((a, b) => b.revision - a.revision);
  return rows.map((row, i) => ({ ...row, current: i === 0 }));
}

export interface SecretKey {
  readonly key: string;
  readonly stored: string;
  /** The decoded value; null when it is not text. */
  readonly decoded: string | null;
}

/** Decodes base64 as UTF-8; null when it is not valid base64 or not text. */
export function decodeBase64(stored: string): string | null {
  try {
    const bytes = Uint8Array.from(atob(stored), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** A Secret's keys: as stored (base64) and decoded. */
export function secretKeys(secret: KubeObject | undefined): SecretKey[] {
  const data = secret ? valueAt(secret, "data") : undefined;
  if (typeof data !== "object" || data === null) return [];
  return Object.entries(data as Record<string, unknown>)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => ({ key, stored: str(value), decoded: decodeBase64(str(value)) }));
}
