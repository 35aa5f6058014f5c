// Every cluster the window can show (the local one first, then the remote ones) as one
// app-wide store fed by the backend's `watch_clusters` push stream, and the current cluster:
// the user's choice, remembered in localStorage, falling back to the local cluster when the
// chosen one is gone. Views read the current cluster from here instead of assuming `LOCAL`.
import { useSyncExternalStore } from "react";
import type { AppError, ClusterStatus } from "../ipc";
import { listClusters, watchClusters, type ClusterEntry } from "../ipc/clusters";
import { LOCAL } from "../ipc/resources";

const STORAGE_KEY = "kubarium.cluster";

/** The cluster list as the UI holds it; replaced (never mutated) on every change. */
export interface ClustersSnapshot {
  /**
   * Local first, then remote in the order added: the pushed statuses, and a "starting" one
   * for each listed entry the backend has not reported yet (just imported). Empty until the
   * first push.
   */
  readonly statuses: readonly ClusterStatus[];
  /** True once the backend pushed a list (or the stream failed): ids can be checked. */
  readonly loaded: boolean;
  /** Why the stream could not start. */
  readonly error: AppError | null;
  /** The entries (auth kind, the context's namespace), refreshed when the list changes. */
  readonly entries: readonly ClusterEntry[];
}

/** The local cluster first, the rest in the order the backend sent them. */
export function localFirst(statuses: readonly ClusterStatus[]): ClusterStatus[] {
  return [...statuses.filter((s) => s.local), ...statuses.filter((s) => !s.local)];
}

/** A status for a remote cluster the backend lists but has not probed yet. */
export function placeholderStatus(entry: ClusterEntry): ClusterStatus {
  return {
    id: entry.id,
    name: entry.name,
    local: entry.local,
    phase: "starting",
    serverUrl: entry.server,
    kubeconfigPath: null,
    kubectlCommand: null,
    dataDir: null,
    logsDir: null,
    version: null,
    latencyMs: null,
    error: null,
    docker: null,
    host: null,
    run: 0,
    prompt: null,
    retryAt: null,
  };
}

/** The pushed statuses (local first), then a placeholder for each remote entry not among them. */
export function mergeStatuses(pushed: readonly ClusterStatus[], entries: readonly ClusterEntry[]): ClusterStatus[] {
  const ordered = localFirst(pushed);
  const ids = new Set(ordered.map((s) => s.id));
  return [...ordered, ...entries.filter((e) => !e.local && !ids.has(e.id)).map(placeholderStatus)];
}

/**
 * The cluster to show: the chosen one while it is listed (or while the list is not known yet,
 * so a remembered remote cluster survives the window's start), else the local cluster.
 */
export function resolveCurrent(chosen: string, snapshot: Pick<ClustersSnapshot, "statuses" | "loaded">): string {
  if (chosen === LOCAL) return LOCAL;
  if (!snapshot.loaded) return chosen;
  return snapshot.statuses.some((s) => s.id === chosen) ? chosen : LOCAL;
}

function readStored(): string {
  try {
    return window.localStorage.getItem(STORAGE_KEY) ?? LOCAL;
  } catch {
    // Storage can be unavailable (private mode, tests without a window): start on the local cluster.
    return LOCAL;
  }
}

let snapshot: ClustersSnapshot = { statuses: [], loaded: false, error: null, entries: [] };
/** The statuses as last pushed by the backend. */
let pushed: readonly ClusterStatus[] = [];
let chosen: string = readStored();
let current: string = resolveCurrent(chosen, snapshot);
const listeners = new Set<() => void>();
let started = false;
/** The ids of the last pushed list, to reload the entries only when clusters come or go. */
let lastIds = "";

function publish(next: ClustersSnapshot): void {
  snapshot = { ...next, statuses: mergeStatuses(pushed, next.entries) };
  current = resolveCurrent(chosen, snapshot);
  for (const listener of listeners) listener();
}

/** Reads the entries again (after an import, an add or a remove). */
export function reloadClusterEntries(): Promise<void> {
  return listClusters().then(
    (entries) => {
      publish({ ...snapshot, entries });
    },
    (error: unknown) => {
      // The switcher still works from the statuses; the entries only add the namespace.
      console.warn("Kubarium could not list the clusters", error);
    },
  );
}

function start(): void {
  if (started) return;
  started = true;
  watchClusters((statuses) => {
    pushed = statuses;
    const ids = localFirst(statuses)
      .map((s) => s.id)
      .join("\u0000");
    publish({ ...snapshot, loaded: true, error: null });
    if (ids !== lastIds) {
      lastIds = ids;
      void reloadClusterEntries();
    }
  }).catch((error: unknown) => {
    publish({
      ...snapshot,
      loaded: true,
      error: {
        code: "local",
        message: `The cluster list did not load (${String(error)}); only the local cluster can be shown. Restart the app; if it keeps happening, the log in the data folder says why.`,
        causes: [],
      },
    });
  });
}

/** Calls `listener` on every change (starting the stream on first use); returns an unsubscribe. */
export function subscribeClusters(listener: () => void): () => void {
  start();
  listeners.add(listener);
  return () => listeners.delete(listener);
}
const subscribe = subscribeClusters;

/** The cluster list right now, outside React. */
export function clustersSnapshot(): ClustersSnapshot {
  return snapshot;
}

/** The whole cluster list (statuses, entries, whether it loaded). */
export function useClusters(): ClustersSnapshot {
  return useSyncExternalStore(subscribe, () => snapshot);
}

/** Every cluster's status, local first; re-renders on every change the backend pushes. */
export function useClusterStatuses(): readonly ClusterStatus[] {
  return useSyncExternalStore(subscribe, () => snapshot.statuses);
}

/** The id of the cluster the window shows. */
export function useCurrentCluster(): string {
  return useSyncExternalStore(subscribe, () => current);
}

/** The current cluster, outside React. */
export function currentCluster(): string {
  return current;
}

/** Shows `id` from now on, and remembers it for the next start. */
export function setCurrentCluster(id: string): void {
  chosen = id;
  try {
    window.localStorage.setItem(STORAGE_KEY, id);
  } catch {
    // Not remembered; the choice still holds for this window.
  }
  publish(snapshot);
}

/** The status of cluster `id`, if it is listed. */
export function statusOf(statuses: readonly ClusterStatus[], id: string): ClusterStatus | undefined {
  return statuses.find((s) => s.id === id);
}

/**
 * The list the switcher shows: the pushed statuses, with the local cluster's own stream
 * standing in for it while the list lacks it (before the first push, or if it failed).
 */
export function withLocal(statuses: readonly ClusterStatus[], local: ClusterStatus | null): readonly ClusterStatus[] {
  if (local === null || statuses.some((s) => s.local)) return statuses;
  return [local, ...statuses];
}
