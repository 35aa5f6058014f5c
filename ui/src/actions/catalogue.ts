// The actions a user can run on an object or on the cluster: which apply where, in what
// words, and whether they must be confirmed first. The actions menu and the command palette
// both read this catalogue, so they always offer the same things.
import {
  addNode,
  cordon,
  deleteObject,
  drain,
  removeNode,
  resetCluster,
  rolloutRestart,
  rolloutUndo,
  startCluster,
  startNode,
  stopCluster,
  stopNode,
} from "../ipc/actions";
import { LOCAL, type Row } from "../ipc/resources";

/** Every action id; `action-<id>` is its test id. */
export type ActionId =
  | "delete"
  | "scale"
  | "restart"
  | "undo"
  | "cordon"
  | "uncordon"
  | "drain"
  | "stop-node"
  | "start-node"
  | "remove-node"
  | "add-node"
  | "stop-cluster"
  | "start-cluster"
  | "reset-cluster";

/**
 * One action a user can run on an object or on the cluster.
 *
 * `confirm`, when set, is the question to ask first: whoever offers the action (the palette,
 * the map's node panels) must show it and call `run()` only once the user agrees. Actions
 * without it are harmless and reversible, and run at once.
 */
export interface Action {
  id: ActionId;
  label: string;
  /** Ask this, and run only on "yes". */
  confirm?: string;
  /** Runs it; rejects with an `AppError` the caller shows. */
  run: () => Promise<void>;
}

/** Kinds whose replicas the scale subresource sets. */
const SCALABLE = new Set(["deployments", "replicasets", "statefulsets"]);
/** Kinds `kubectl rollout restart` and `rollout undo` work on. */
const ROLLABLE = new Set(["deployments", "statefulsets", "daemonsets"]);

/** `deployments` → `Deployment`, for sentences. */
export function kindWord(resource: string): string {
  const words: Record<string, string> = {
    deployments: "Deployment",
    replicasets: "ReplicaSet",
    statefulsets: "StatefulSet",
    daemonsets: "DaemonSet",
    nodes: "node",
    pods: "pod",
  };
  return words[resource] ?? resource.replace(/s$/, "");
}

/** Which actions apply to `row` of `resource`, in menu order. */
export function applicable(cluster: string, resource: string, row: Row): ActionId[] {
  const ids: ActionId[] = [];
  if (SCALABLE.has(resource)) ids.push("scale");
  if (ROLLABLE.has(resource)) ids.push("restart", "undo");
  if (resource === "nodes") {
    const cordoned = row.summary.kind === "node" && row.summary.unschedulable;
    ids.push(cordoned ? "uncordon" : "cordon", "drain");
    if (cluster === LOCAL) ids.push("stop-node", "start-node", "remove-node");
  }
  ids.push("delete");
  return ids;
}

/** The label each action shows. */
export function actionLabel(id: ActionId): string {
  const labels: Record<ActionId, string> = {
    delete: "Delete…",
    scale: "Scale…",
    restart: "Restart (rollout)",
    undo: "Undo rollout…",
    cordon: "Cordon (no new pods)",
    uncordon: "Uncordon",
    drain: "Drain…",
    "stop-node": "Stop node",
    "start-node": "Start node",
    "remove-node": "Remove node…",
    "add-node": "Add a node",
    "stop-cluster": "Stop the local cluster",
    "start-cluster": "Start the local cluster",
    "reset-cluster": "Reset the local cluster…",
  };
  return labels[id];
}

/** What the user must agree to before `id` runs on `row`, or `undefined` when it needs no confirmation. */
export function confirmation(id: ActionId, resource: string, row: Row): string | undefined {
  const what = `${kindWord(resource)} ${row.name}`;
  switch (id) {
    case "delete":
      return `Delete ${what}? Objects it owns are deleted after it (background cascade).`;
    case "restart":
      return `Restart every pod of ${what}? They are replaced as a rollout, a few at a time.`;
    case "undo":
      return `Roll ${what} back to its previous revision?`;
    case "drain":
      return `Drain node ${row.name}? It is cordoned and every pod but DaemonSet pods is evicted.`;
    case "remove-node":
      return `Remove node ${row.name}? Its pods are deleted; their controllers recreate them on other nodes.`;
    default:
      return undefined;
  }
}

function action(id: ActionId, run: () => Promise<void>, confirm: string | undefined): Action {
  const base = { id, label: actionLabel(id), run };
  return confirm === undefined ? base : { ...base, confirm };
}

/**
 * The actions for `row` of `resource` that run without further input (scaling needs a
 * number, so it is offered only by the actions menu's dialog). Destructive ones carry
 * `confirm`.
 */
export function actionsFor(cluster: string, resource: string, row: Row): Action[] {
  const ns = row.namespace ?? "";
  const runners: Partial<Record<ActionId, () => Promise<void>>> = {
    delete: () => deleteObject(cluster, resource, row.namespace, row.name, "background"),
    restart: () => rolloutRestart(cluster, resource, ns, row.name),
    undo: () => rolloutUndo(cluster, resource, ns, row.name, null).then(() => undefined),
    cordon: () => cordon(cluster, row.name, true),
    uncordon: () => cordon(cluster, row.name, false),
    drain: () => drain(cluster, row.name).then(() => undefined),
    "stop-node": () => stopNode(cluster, row.name),
    "start-node": () => startNode(cluster, row.name),
    "remove-node": () => removeNode(cluster, row.name),
  };
  return applicable(cluster, resource, row).flatMap((id) => {
    const run = runners[id];
    return run === undefined ? [] : [action(id, run, confirmation(id, resource, row))];
  });
}

/** Cluster-wide actions: nodes, stopping, starting and resetting (the local cluster only). */
export function clusterActions(cluster: string): Action[] {
  if (cluster !== LOCAL) return [];
  return [
    action("add-node", () => addNode(cluster).then(() => undefined), undefined),
    action(
      "stop-cluster",
      () => stopCluster(cluster),
      "Stop the local cluster? Its pods stop running; everything is kept and comes back when you start it again.",
    ),
    action("start-cluster", () => startCluster(cluster), undefined),
    action(
      "reset-cluster",
      () => resetCluster(cluster),
      "Reset the local cluster? Every object, volume and credential in it is deleted and it starts empty; tools using its kubeconfig need the new file (same path).",
    ),
  ];
}
