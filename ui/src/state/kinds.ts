// The kinds the UI can browse, loaded from the backend once per window and shared by the
// sidebar, the table and the palette. A failed load can be retried.
import { useSyncExternalStore } from "react";
import type { AppError } from "../ipc";
import { kinds as fetchKinds, type Category, type KindInfo } from "../ipc/resources";
import { asAppError } from "./resources";

export type KindsSnapshot =
  | { state: "loading" }
  | { state: "loaded"; kinds: readonly KindInfo[] }
  | { state: "failed"; error: AppError };

let snapshot: KindsSnapshot = { state: "loading" };
let started = false;
const listeners = new Set<() => void>();

function set(next: KindsSnapshot): void {
  snapshot = next;
  for (const listener of listeners) listener();
}

function load(): void {
  started = true;
  set({ state: "loading" });
  fetchKinds().then(
    (kinds) => {
      set({ state: "loaded", kinds });
    },
    (error: unknown) => {
      set({ state: "failed", error: asAppError(error) });
    },
  );
}

/** Asks the backend again after a failure. */
export function reloadKinds(): void {
  load();
}

/** Every browsable kind, in the backend's (sidebar) order. */
export function useKinds(): KindsSnapshot {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      if (!started) load();
      return () => listeners.delete(listener);
    },
    () => snapshot,
  );
}

/** The kind whose plural resource name is `resource`. */
export function kindOf(kinds: readonly KindInfo[], resource: string): KindInfo | undefined {
  return kinds.find((k) => k.resource === resource);
}

/** Sidebar sections, in order, with their headings. */
export const CATEGORIES: readonly { id: Category; label: string }[] = [
  { id: "workloads", label: "Workloads" },
  { id: "network", label: "Network" },
  { id: "config", label: "Config" },
  { id: "storage", label: "Storage" },
  { id: "cluster", label: "Cluster" },
];

/** `Deployment` → `Deployments`; `Ingress` → `Ingresses`; `StorageClass` → `StorageClasses`. */
export function pluralLabel(kind: KindInfo): string {
  const k = kind.kind;
  if (k === "Endpoints") return k;
  if (/(s|x|ch|sh)$/.test(k)) return `${k}es`;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}
