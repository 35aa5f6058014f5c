// The cluster list's commands: remote clusters (import, add, remove), their statuses, RBAC
// questions, the OS keychain in use, and the local cluster's kubeconfig (copy, export, merge).
import { Channel, invoke } from "@tauri-apps/api/core";
import type { AccessCheck } from "./bindings/AccessCheck";
import type { ClusterEntry } from "./bindings/ClusterEntry";
import type { ClusterStatus } from "./bindings/ClusterStatus";
import type { KeychainInfo } from "./bindings/KeychainInfo";
import type { KubeconfigPreview } from "./bindings/KubeconfigPreview";
import type { KubeconfigSource } from "./bindings/KubeconfigSource";
import type { ManualCluster } from "./bindings/ManualCluster";
import type { MergeOutcome } from "./bindings/MergeOutcome";

export type { AccessCheck } from "./bindings/AccessCheck";
export type { AuthKind } from "./bindings/AuthKind";
export type { ClusterEntry } from "./bindings/ClusterEntry";
export type { ContextChoice } from "./bindings/ContextChoice";
export type { EnvVar } from "./bindings/EnvVar";
export type { KeychainInfo } from "./bindings/KeychainInfo";
export type { KubeconfigPreview } from "./bindings/KubeconfigPreview";
export type { KubeconfigSource } from "./bindings/KubeconfigSource";
export type { ManualAuth } from "./bindings/ManualAuth";
export type { ManualCluster } from "./bindings/ManualCluster";
export type { MergeOutcome } from "./bindings/MergeOutcome";

/** Which OS keychain keeps the credentials, or why there is none. */
export function keychainInfo(): Promise<KeychainInfo> {
  return invoke<KeychainInfo>("keychain_info");
}

/** Every cluster: the local one first, then the remote ones in the order added. */
export function listClusters(): Promise<ClusterEntry[]> {
  return invoke<ClusterEntry[]>("list_clusters");
}

/**
 * Streams every cluster's status (local first), the whole list on every change. Resolves once
 * the stream is set up.
 */
export function watchClusters(onStatuses: (statuses: ClusterStatus[]) => void): Promise<void> {
  const channel = new Channel<ClusterStatus[]>();
  channel.onmessage = onStatuses;
  return invoke("watch_clusters", { onStatuses: channel });
}

/** Reads a kubeconfig and lists its contexts, importing nothing. */
export function previewKubeconfig(source: KubeconfigSource): Promise<KubeconfigPreview> {
  return invoke<KubeconfigPreview>("preview_kubeconfig", { source });
}

/** Imports the chosen contexts; their secrets go to the keychain. Returns the clusters added. */
export function importKubeconfig(source: KubeconfigSource, contexts: string[]): Promise<ClusterEntry[]> {
  return invoke<ClusterEntry[]>("import_kubeconfig", { source, contexts });
}

/** Adds a cluster typed in by hand; its secrets go to the keychain. */
export function addCluster(cluster: ManualCluster): Promise<ClusterEntry> {
  return invoke<ClusterEntry>("add_cluster", { cluster });
}

/** Forgets a remote cluster and deletes its credentials from the keychain. */
export function removeCluster(id: string): Promise<void> {
  return invoke("remove_cluster", { id });
}

/** Asks the cluster (SelfSubjectAccessReview) whether each check is allowed, in order. */
export function canI(cluster: string, checks: AccessCheck[]): Promise<boolean[]> {
  return invoke<boolean[]>("can_i", { cluster, checks });
}

/** The local cluster's kubeconfig, as text (for the clipboard). */
export function localKubeconfig(): Promise<string> {
  return invoke<string>("local_kubeconfig");
}

/** Writes the local cluster's kubeconfig to `path` (a leading `~/` is the home folder); returns the path written. */
export function exportLocalKubeconfig(path: string): Promise<string> {
  return invoke<string>("export_local_kubeconfig", { path });
}

/** The exact file a merge writes: the first `KUBECONFIG` path, else `~/.kube/config`, resolved. */
export function kubeconfigMergeTarget(): Promise<string> {
  return invoke<string>("kubeconfig_merge_target");
}

/**
 * Adds the local cluster as context `kubarium` to the kubeconfig at `path` (what
 * `kubeconfigMergeTarget` named when the user confirmed; refused if that changed), keeping a backup.
 */
export function mergeLocalKubeconfig(path: string): Promise<MergeOutcome> {
  return invoke<MergeOutcome>("merge_local_kubeconfig", { path });
}

/** Tries a remote cluster again now, rather than after its wait between failed tries. */
export function retryCluster(cluster: string): Promise<void> {
  return invoke("retry_cluster", { cluster });
}
