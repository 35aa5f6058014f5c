// Live rows per (cluster, resource, namespace): one backend watch shared by every component
// that asks for the same rows, started on first use and stopped when the last one leaves.
// Batches are applied by pure functions (`applyBatch`) so the logic is tested without IPC.
import { useSyncExternalStore } from "react";
import type { AppError } from "../ipc";
import { onClusterStatus } from "./clusterStatus";
import { clustersSnapshot, subscribeClusters, useCurrentCluster } from "./clusters";
import {
  LOCAL,
  stopStream,
  watchResources,
  type ResourceBatch,
  type Row,
  type StreamId,
  type WatchState,
} from "../ipc/resources";

/** What a component sees of a watched resource. Replaced (never mutated) on every change. */
export interface ResourceSnapshot {
  /** Rows in arrival order; views sort and filter them. */
  readonly rows: readonly Row[];
  readonly byUid: ReadonlyMap<string, Row>;
  readonly state: WatchState;
  /** Why the watch is reconnecting or could not start. */
  readonly error: AppError | null;
}

export const EMPTY: ResourceSnapshot = {
  rows: [],
  byUid: new Map(),
  state: "syncing",
  error: null,
};

/** The snapshot after one batch. Pure: the input snapshot is left as it was. */
export function applyBatch(current: ResourceSnapshot, batch: ResourceBatch): ResourceSnapshot {
  switch (batch.type) {
    case "reset": {
      const byUid = new Map<string, Row>();
      for (const row of batch.rows) byUid.set(row.uid, row);
      return { rows: [...byUid.values()], byUid, state: "live", error: null };
    }
    case "changes": {
      if (batch.upserts.length === 0 && batch.deletes.length === 0) return current;
      const byUid = new Map(current.byUid);
      for (const uid of batch.deletes) byUid.delete(uid);
      for (const row of batch.upserts) byUid.set(row.uid, row);
      return { ...current, rows: [...byUid.values()], byUid };
    }
    case "state":
      return { ...current, state: batch.state, error: batch.error };
  }
}

interface Entry {
  cluster: string;
  resource: string;
  namespace: string | null;
  snapshot: ResourceSnapshot;
  listeners: Set<() => void>;
  stream: Promise<StreamId | null> | null;
  stopTimer: ReturnType<typeof setTimeout> | null;
  retryTimer: ReturnType<typeof setTimeout> | null;
  /** Consecutive failures to start, for the retry back-off. */
  failures: number;
}

/** How long to wait before trying again to start a watch that could not start. */
export function retryDelay(failures: number): number {
  return Math.min(500 * 2 ** Math.max(failures - 1, 0), 5000);
}

const entries = new Map<string, Entry>();

function keyOf(cluster: string, resource: string, namespace: string | null): string {
  return `${cluster}\u0000${resource}\u0000${namespace ?? ""}`;
}

function entryFor(cluster: string, resource: string, namespace: string | null): Entry {
  const key = keyOf(cluster, resource, namespace);
  let entry = entries.get(key);
  if (!entry) {
    entry = {
      cluster,
      resource,
      namespace,
      snapshot: EMPTY,
      listeners: new Set(),
      stream: null,
      stopTimer: null,
      retryTimer: null,
      failures: 0,
    };
    entries.set(key, entry);
  }
  return entry;
}

function publish(entry: Entry, next: ResourceSnapshot): void {
  if (next === entry.snapshot) return;
  entry.snapshot = next;
  for (const listener of entry.listeners) listener();
}

function start(entry: Entry): void {
  if (entry.stopTimer) {
    clearTimeout(entry.stopTimer);
    entry.stopTimer = null;
  }
  if (entry.stream || entry.retryTimer) return;
  const stream = watchResources(entry.cluster, entry.resource, entry.namespace, (batch) => {
    // Batches of a watch that was replaced (the cluster restarted) are dropped.
    if (entry.stream !== stream) return;
    if (batch.type === "reset") {
      entry.failures = 0;
      // For the Web Inspector's timeline and `cargo xtask bench ui`: when a list last
      // arrived (one mark per name, so a long session does not pile them up).
      const mark = `kubarium:reset:${entry.resource}`;
      performance.clearMarks(mark);
      performance.mark(mark, { detail: batch.rows.length });
    }
    publish(entry, applyBatch(entry.snapshot, batch));
  }).catch((error: unknown) => {
    // Could not start (the cluster is still starting, or went away): say so and try again
    // while anyone still looks.
    publish(entry, { ...entry.snapshot, state: "reconnecting", error: asAppError(error) });
    if (entry.stream === stream) entry.stream = null;
    entry.failures += 1;
    entry.retryTimer = setTimeout(() => {
      entry.retryTimer = null;
      if (entry.listeners.size > 0) start(entry);
    }, retryDelay(entry.failures));
    return null;
  });
  entry.stream = stream;
}

/** Stops an entry's backend watch, if one runs. */
function stopWatch(entry: Entry): void {
  const stream = entry.stream;
  entry.stream = null;
  if (entry.retryTimer) {
    clearTimeout(entry.retryTimer);
    entry.retryTimer = null;
  }
  void stream?.then((id) => (id === null ? undefined : stopStream(id)));
}

/**
 * Starts every watched resource afresh: after the local cluster was stopped and started or
 * reset, the old watches follow a cluster that is gone. Rows are dropped (they were the old
 * cluster's) and arrive again with the new watch's reset.
 */
export function restartWatches(cluster: string): void {
  for (const entry of entries.values()) {
    if (entry.cluster !== cluster) continue;
    stopWatch(entry);
    entry.failures = 0;
    publish(entry, EMPTY);
    if (entry.listeners.size > 0) start(entry);
  }
}

let lastRun: number | null = null;
let followingRuns = false;

/** The remote clusters whose run changed since `last`; updates `last`. Pure apart from it. */
export function newRuns(last: Map<string, number>, statuses: readonly { id: string; local: boolean; run: number }[]): string[] {
  const changed: string[] = [];
  for (const status of statuses) {
    // The local cluster's own stream is followed apart; run 0 is a cluster not connected yet.
    if (status.local || status.run === 0) continue;
    const before = last.get(status.id);
    if (before !== undefined && before !== status.run) changed.push(status.id);
    last.set(status.id, status.run);
  }
  return changed;
}

/**
 * From the first watch on, restarts a cluster's watches when it starts a new run: the local
 * one after a stop and start or a reset, a remote one when it is imported again (new
 * credentials, maybe a new server).
 */
function followRuns(): void {
  if (followingRuns) return;
  followingRuns = true;
  onClusterStatus((status) => {
    if (lastRun !== null && status.run !== lastRun) restartWatches(LOCAL);
    lastRun = status.run;
  });
  const remoteRuns = new Map<string, number>();
  subscribeClusters(() => {
    for (const id of newRuns(remoteRuns, clustersSnapshot().statuses)) restartWatches(id);
  });
}

/** Stops the watch a moment after the last user leaves, so switching views reuses it. */
function release(entry: Entry, key: string): void {
  if (entry.listeners.size > 0 || entry.stopTimer) return;
  entry.stopTimer = setTimeout(() => {
    entry.stopTimer = null;
    if (entry.listeners.size > 0) return;
    entries.delete(key);
    stopWatch(entry);
  }, 5000);
}

/** An `AppError` from whatever a rejected `invoke` gave. */
export function asAppError(error: unknown): AppError {
  if (typeof error === "object" && error !== null && "code" in error && "message" in error) {
    return error as AppError;
  }
  return { code: "local", message: String(error), causes: [] };
}

/**
 * Follows the rows of one resource on `cluster`: `listener` is called on every change of
 * [`resourceSnapshot`]; the returned function stops following. The backend watch starts with
 * the first follower and stops a moment after the last one leaves.
 */
export function followResources(
  cluster: string,
  resource: string,
  namespace: string | null,
  listener: () => void,
): () => void {
  const key = keyOf(cluster, resource, namespace);
  const entry = entryFor(cluster, resource, namespace);
  entry.listeners.add(listener);
  followRuns();
  start(entry);
  return () => {
    entry.listeners.delete(listener);
    release(entry, key);
  };
}

/** The rows of one resource on `cluster` now (empty and syncing when nobody follows it). */
export function resourceSnapshot(
  cluster: string,
  resource: string,
  namespace: string | null,
): ResourceSnapshot {
  return entries.get(keyOf(cluster, resource, namespace))?.snapshot ?? EMPTY;
}

/**
 * Live rows of one resource; `namespace: null` means every namespace. Without `cluster`, of
 * the cluster the window shows (switching clusters switches the rows).
 */
export function useResources(
  resource: string,
  namespace: string | null = null,
  chosenCluster?: string,
): ResourceSnapshot {
  const current = useCurrentCluster();
  const cluster = chosenCluster ?? current;
  return useSyncExternalStore(
    (listener) => followResources(cluster, resource, namespace, listener),
    () => resourceSnapshot(cluster, resource, namespace),
  );
}
