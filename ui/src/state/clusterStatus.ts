// The local cluster's status as one app-wide store, fed by the backend's push stream.
import { useSyncExternalStore } from "react";
import { watchClusterStatus, type AppError, type ClusterPhase, type ClusterStatus } from "../ipc";

/** What the UI holds before the backend's first message, or if the stream fails. */
export type StatusSnapshot =
  | { kind: "waiting" }
  | { kind: "ipcFailed"; message: string }
  | { kind: "status"; status: ClusterStatus };

let snapshot: StatusSnapshot = { kind: "waiting" };
const listeners = new Set<() => void>();
let started = false;

function publish(next: StatusSnapshot): void {
  snapshot = next;
  for (const listener of listeners) listener();
}

function start(): void {
  if (started) return;
  started = true;
  watchClusterStatus((status) => {
    publish({ kind: "status", status });
  }).catch((error: unknown) => {
    publish({
      kind: "ipcFailed",
      message: `Kubarium's window lost contact with its backend (${String(error)}). Restart the app; if it keeps happening, the log in the data folder says why.`,
    });
  });
}

function subscribe(listener: () => void): () => void {
  start();
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Calls `listener` with every status the backend pushes (outside React); returns an unsubscribe. */
export function onClusterStatus(listener: (status: ClusterStatus) => void): () => void {
  return subscribe(() => {
    if (snapshot.kind === "status") listener(snapshot.status);
  });
}

/** The latest status; re-renders on every change the backend pushes. */
export function useClusterStatus(): StatusSnapshot {
  return useSyncExternalStore(subscribe, () => snapshot);
}

/** Words for a phase, as the status bar shows them. */
export function phaseLabel(phase: ClusterPhase, error: AppError | null = null): string {
  switch (phase) {
    case "starting":
      return "Starting…";
    case "connected":
      return "Connected";
    case "unreachable":
      // It answered, but refused us: say which way, not "not answering".
      switch (error?.code) {
        case "unauthorized":
          return "Credentials refused";
        case "forbidden":
          return "Access denied";
        case "tls":
          return "Certificate not trusted";
        default:
          return "Not answering";
      }
    case "failed":
      return "Failed to start";
    case "stopped":
      return "Stopped";
  }
}

/** Round-trip time for people: sub-millisecond precision where it matters, no noise above. */
export function formatLatency(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms).toString()} ms`;
}

/** "retrying in 8 s" for a cluster tried next at `retryAt` (ms since the epoch); "retrying now" once that has passed. */
export function retryLabel(retryAt: number, now: number): string {
  const seconds = Math.ceil((retryAt - now) / 1000);
  return seconds > 0 ? `retrying in ${String(seconds)} s` : "retrying now";
}
