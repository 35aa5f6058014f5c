// Actions on objects and on the local cluster: typed wrappers around the backend's commands.
// Every one rejects with an `AppError` the caller shows.
import { invoke } from "@tauri-apps/api/core";
import type { DrainOutcome } from "./bindings/DrainOutcome";
import type { Propagation } from "./bindings/Propagation";
import type { Revision } from "./bindings/Revision";
import type { UndoOutcome } from "./bindings/UndoOutcome";

export type { DockerState } from "./bindings/DockerState";
export type { DrainOutcome } from "./bindings/DrainOutcome";
export type { EvictionResult } from "./bindings/EvictionResult";
export type { HostStats } from "./bindings/HostStats";
export type { PodEviction } from "./bindings/PodEviction";
export type { Propagation } from "./bindings/Propagation";
export type { Revision } from "./bindings/Revision";
export type { UndoOutcome } from "./bindings/UndoOutcome";

/** Deletes an object; its dependents as `propagation` says (kubectl's `--cascade`). */
export function deleteObject(
  cluster: string,
  resource: string,
  namespace: string | null,
  name: string,
  propagation: Propagation,
): Promise<void> {
  return invoke("delete_object", { cluster, resource, namespace, name, propagation });
}

/** Sets a Deployment's, ReplicaSet's or StatefulSet's replicas (the scale subresource). */
export function scale(
  cluster: string,
  resource: string,
  namespace: string,
  name: string,
  replicas: number,
): Promise<void> {
  return invoke("scale", { cluster, resource, namespace, name, replicas });
}

/** `kubectl rollout restart`. */
export function rolloutRestart(cluster: string, resource: string, namespace: string, name: string): Promise<void> {
  return invoke("rollout_restart", { cluster, resource, namespace, name });
}

/** `kubectl rollout history`, oldest revision first. */
export function rolloutHistory(
  cluster: string,
  resource: string,
  namespace: string,
  name: string,
): Promise<Revision[]> {
  return invoke<Revision[]>("rollout_history", { cluster, resource, namespace, name });
}

/** `kubectl rollout undo [--to-revision]`; `null` is the revision before the current. */
export function rolloutUndo(
  cluster: string,
  resource: string,
  namespace: string,
  name: string,
  revision: number | null,
): Promise<UndoOutcome> {
  return invoke<UndoOutcome>("rollout_undo", { cluster, resource, namespace, name, revision });
}

/** Cordons (`true`) or uncordons (`false`) a node. */
export function cordon(cluster: string, node: string, unschedulable: boolean): Promise<void> {
  return invoke("cordon", { cluster, node, unschedulable });
}

/** Cordons a node and evicts its pods (not DaemonSet or mirror pods); says what became of each. */
export function drain(cluster: string, node: string): Promise<DrainOutcome> {
  return invoke<DrainOutcome>("drain", { cluster, node });
}

/** Adds a node to the local cluster; resolves to its name. */
export function addNode(cluster: string): Promise<string> {
  return invoke<string>("add_node", { cluster });
}

/** Removes a node of the local cluster. */
export function removeNode(cluster: string, node: string): Promise<void> {
  return invoke("remove_node", { cluster, node });
}

/** Stops a local node's agent, as if its kubelet crashed. */
export function stopNode(cluster: string, node: string): Promise<void> {
  return invoke("stop_node", { cluster, node });
}

/** Starts a local node's agent again. */
export function startNode(cluster: string, node: string): Promise<void> {
  return invoke("start_node", { cluster, node });
}

/** Stops the local cluster (its state is kept). */
export function stopCluster(cluster: string): Promise<void> {
  return invoke("stop_cluster", { cluster });
}

/** Starts the local cluster again. */
export function startCluster(cluster: string): Promise<void> {
  return invoke("start_cluster", { cluster });
}

/** Stops the local cluster, deletes everything in it, and starts it empty. */
export function resetCluster(cluster: string): Promise<void> {
  return invoke("reset_cluster", { cluster });
}
