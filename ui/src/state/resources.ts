// Live rows per (cluster, resource, namespace): one backend watch shared by every component
// that asks for the same rows, started on first use and stopped when the last one leaves.
// Batches are applied by pure functions (`applyBatch`) so the logic is tested without IPC.
import { useSyncExternalStore } from "react";
import type { AppError } from "../ipc";
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
  snapshot: ResourceSnapshot;
  listeners: Set<() => void>;
  stream: Promise<StreamId | null> | null;
  stopTimer: ReturnType<typeof setTimeout> | null;
}

const entries = new Map<string, Entry>();

function keyOf(cluster: string, resource: string, namespace: string | null): string {
  return `${cluster}\u0000${resource}\u0000${namespace ?? ""}`;
}

function entryFor(cluster: string, resource: string, namespace: string | null): Entry {
  const key = keyOf(cluster, resource, namespace);
  let entry = entries.get(key);
  if (!entry) {
    entry = { snapshot: EMPTY, listeners: new Set(), stream: null, stopTimer: null };
    entries.set(key, entry);
  }
  return entry;
}

function publish(entry: Entry, next: ResourceSnapshot): void {
  if (next === entry.snapshot) return;
  entry.snapshot = next;
  for (const listener of entry.listeners) listener();
}

function start(entry: Entry, cluster: string, resource: string, namespace: string | null): void {
  if (entry.stopTimer) {
    clearTimeout(entry.stopTimer);
    entry.stopTimer = null;
  }
  if (entry.stream) return;
  entry.stream = watchResources(cluster, resource, namespace, (batch) => {
    publish(entry, applyBatch(entry.snapshot, batch));
  }).catch((error: unknown) => {
    publish(entry, { ...entry.snapshot, state: "reconnecting", error: asAppError(error) });
    entry.stream = null;
    return null;
  });
}

/** Stops the watch a moment after the last user leaves, so switching views reuses it. */
function release(entry: Entry, key: string): void {
  if (entry.listeners.size > 0 || entry.stopTimer) return;
  entry.stopTimer = setTimeout(() => {
    entry.stopTimer = null;
    if (entry.listeners.size > 0) return;
    const stream = entry.stream;
    entries.delete(key);
    void stream?.then((id) => (id === null ? undefined : stopStream(id)));
  }, 5000);
}

/** An `AppError` from whatever a rejected `invoke` gave. */
export function asAppError(error: unknown): AppError {
  if (typeof error === "object" && error !== null && "code" in error && "message" in error) {
    return error as AppError;
  }
  return { code: "local", message: String(error), causes: [] };
}

/** Live rows of one resource; `namespace: null` means every namespace. */
export function useResources(
  resource: string,
  namespace: string | null = null,
  cluster: string = LOCAL,
): ResourceSnapshot {
  const key = keyOf(cluster, resource, namespace);
  return useSyncExternalStore(
    (listener) => {
      const entry = entryFor(cluster, resource, namespace);
      entry.listeners.add(listener);
      start(entry, cluster, resource, namespace);
      return () => {
        entry.listeners.delete(listener);
        release(entry, key);
      };
    },
    () => entries.get(key)?.snapshot ?? EMPTY,
  );
}
