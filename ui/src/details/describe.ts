// What a details page shows of an object, derived from its JSON and its row: the status in
// the header, conditions as `kubectl describe` lists them, scalar facts, containers, and a
// Secret's values decoded. Pure, for tests.
import type { Row } from "../ipc/resources";

/** A Kubernetes object as JSON. */
export type KubeObject = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The mapping at `path`, or an empty one. */
export function recordAt(object: unknown, ...path: string[]): Record<string, unknown> {
  let value: unknown = object;
  for (const key of path) value = isRecord(value) ? value[key] : undefined;
  return isRecord(value) ? value : {};
}

/** The list at `path`, or an empty one. */
export function listAt(object: unknown, ...path: string[]): unknown[] {
  let value: unknown = object;
  for (const key of path) value = isRecord(value) ? value[key] : undefined;
  return Array.isArray(value) ? (value as unknown[]) : [];
}

/** The text at `path`, or `""`. */
export function textAt(object: unknown, ...path: string[]): string {
  let value: unknown = object;
  for (const key of path) value = isRecord(value) ? value[key] : undefined;
  return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : "";
}

/** A string map (labels, annotations, a Secret's data). */
export function stringMap(object: unknown, ...path: string[]): [string, string][] {
  return Object.entries(recordAt(object, ...path)).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
}

/** The header's one-word status, as `kubectl get` would put it, with a tone for colour. */
export function headerStatus(row: Row | undefined, object: KubeObject | null): { text: string; tone: "ok" | "warn" | "bad" | "idle" } {
  if (row?.deleting) return { text: "Terminating", tone: "warn" };
  const summary = row?.summary;
  switch (summary?.kind) {
    case "pod": {
      const bad = /Err|BackOff|Failed|Unknown|OOM|Invalid/.test(summary.status);
      return { text: summary.status, tone: bad ? "bad" : summary.ready || summary.phase === "Succeeded" ? "ok" : "warn" };
    }
    case "node":
      return {
        text: (summary.ready ? "Ready" : "NotReady") + (summary.unschedulable ? ",SchedulingDisabled" : ""),
        tone: summary.ready ? (summary.unschedulable ? "warn" : "ok") : "bad",
      };
    case "workload": {
      if (summary.desired === null) return { text: `${String(summary.ready)} ready`, tone: "idle" };
      const tone = summary.ready >= summary.desired ? "ok" : "warn";
      return { text: `${String(summary.ready)}/${String(summary.desired)} ready`, tone };
    }
    default:
      break;
  }
  // Before the row arrives (or without one), what the object itself says.
  const desired = recordAt(object, "spec")["replicas"];
  if (typeof desired === "number") {
    const ready = Number(textAt(object, "status", "readyReplicas") || "0");
    return { text: `${String(ready)}/${String(desired)} ready`, tone: ready >= desired ? "ok" : "warn" };
  }
  const phase = textAt(object, "status", "phase");
  if (phase !== "") return { text: phase, tone: /Bound|Active|Running|Succeeded|Available/.test(phase) ? "ok" : "warn" };
  return { text: "", tone: "idle" };
}

/** One condition, as `kubectl describe` shows it. */
export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly message: string;
  /** `lastTransitionTime` (or `lastUpdateTime`/`lastHeartbeatTime` when absent). */
  readonly lastTransition: string;
}

/** `status.conditions`, in the object's order. */
export function conditions(object: KubeObject): Condition[] {
  return listAt(object, "status", "conditions").filter(isRecord).map((c) => ({
    type: textAt(c, "type"),
    status: textAt(c, "status"),
    reason: textAt(c, "reason"),
    message: textAt(c, "message"),
    lastTransition: textAt(c, "lastTransitionTime") || textAt(c, "lastUpdateTime") || textAt(c, "lastHeartbeatTime"),
  }));
}

/**
 * The scalar fields of a section (`spec`, `status`) as name/value pairs, lists of scalars
 * joined; nested objects are left to the YAML tab.
 */
export function scalarFields(object: KubeObject, section: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(recordAt(object, section))) {
    if (key === "conditions") continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      out.push([key, String(value)]);
    } else if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string" || typeof v === "number")) {
      out.push([key, value.join(", ")]);
    } else if (Array.isArray(value) && value.length > 0 && value.every(isRecord) && key.endsWith("IPs")) {
      out.push([key, value.map((v) => textAt(v, "ip")).join(", ")]);
    }
  }
  return out;
}

/** One container of a pod, its spec and status side by side. */
export interface ContainerView {
  readonly name: string;
  readonly image: string;
  readonly init: boolean;
  readonly ready: boolean;
  readonly restarts: number;
  /** `Running since …`, `Waiting: CrashLoopBackOff`, `Terminated: Completed (exit 0)`. */
  readonly state: string;
  readonly ports: readonly number[];
}

function stateText(status: Record<string, unknown>): string {
  const state = recordAt(status, "state");
  if (isRecord(state["running"])) return `Running since ${textAt(state, "running", "startedAt")}`;
  if (isRecord(state["waiting"])) {
    const reason = textAt(state, "waiting", "reason") || "Waiting";
    const message = textAt(state, "waiting", "message");
    return `Waiting: ${reason}${message ? ` — ${message}` : ""}`;
  }
  if (isRecord(state["terminated"])) {
    const reason = textAt(state, "terminated", "reason") || "Terminated";
    return `Terminated: ${reason} (exit ${textAt(state, "terminated", "exitCode") || "?"})`;
  }
  return "Not started";
}

/** A pod's containers (init containers first, as they run). */
export function containers(pod: KubeObject): ContainerView[] {
  const build = (specKey: string, statusKey: string, init: boolean): ContainerView[] => {
    const statuses = new Map(
      listAt(pod, "status", statusKey)
        .filter(isRecord)
        .map((s) => [textAt(s, "name"), s] as const),
    );
    return listAt(pod, "spec", specKey)
      .filter(isRecord)
      .map((c) => {
        const status = statuses.get(textAt(c, "name")) ?? {};
        return {
          name: textAt(c, "name"),
          image: textAt(c, "image"),
          init,
          ready: status["ready"] === true,
          restarts: typeof status["restartCount"] === "number" ? status["restartCount"] : 0,
          state: stateText(status),
          ports: listAt(c, "ports")
            .filter(isRecord)
            .map((p) => p["containerPort"])
            .filter((p): p is number => typeof p === "number"),
        };
      });
  };
  return [...build("initContainers", "initContainerStatuses", true), ...build("containers", "containerStatuses", false)];
}

/** Ports a port-forward to this object can target: a pod's container ports, a Service's ports. */
export function forwardPorts(resource: string, object: KubeObject): number[] {
  if (resource === "pods") return [...new Set(containers(object).flatMap((c) => c.ports))];
  if (resource === "services") {
    return listAt(object, "spec", "ports")
      .filter(isRecord)
      .map((p) => p["port"])
      .filter((p): p is number => typeof p === "number");
  }
  return [];
}

/** A Secret value decoded for showing: UTF-8 text, or how many bytes of binary it is. */
export type DecodedValue = { readonly kind: "text"; readonly text: string } | { readonly kind: "binary"; readonly bytes: number };

/** Decodes a Secret's base64 `data` value. Invalid base64 reads as binary of unknown size 0. */
export function decodeSecretValue(base64: string): DecodedValue {
  let binary: string;
  try {
    binary = atob(base64.replace(/\s+/g, ""));
  } catch {
    return { kind: "binary", bytes: 0 };
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    // Control characters other than whitespace mean binary data, not text.
    // eslint-disable-next-line no-control-regex -- detecting exactly these
    if (/[\u0000-\u0008\u000e-\u001f]/.test(text)) return { kind: "binary", bytes: bytes.length };
    return { kind: "text", text };
  } catch {
    return { kind: "binary", bytes: bytes.length };
  }
}
