// The app's running port-forwards, shared by every component that shows them. Forwards change
// only through this module (start, stop) or by ending on their own, so it re-reads the list
// after each change it makes and whenever a view mounts; nothing polls.
import { useEffect, useSyncExternalStore } from "react";
import type { Forward, ForwardTarget } from "../ipc/streams";
import { portForwardStart, portForwardStop, portForwards } from "../ipc/streams";

let forwards: readonly Forward[] = [];
const listeners = new Set<() => void>();

function publish(next: readonly Forward[]): void {
  forwards = next;
  for (const listener of listeners) listener();
}

/** Re-reads the list from the backend. */
export async function refreshForwards(): Promise<void> {
  publish(await portForwards());
}

/** Starts a forward and adds it to the list; rejects with the backend's `AppError`. */
export async function startForward(
  cluster: string,
  namespace: string,
  target: ForwardTarget,
  remotePort: number,
  localPort: number | null,
): Promise<Forward> {
  const forward = await portForwardStart(cluster, namespace, target, remotePort, localPort);
  publish([...forwards.filter((f) => f.id !== forward.id), forward]);
  return forward;
}

/** Stops a forward and drops it from the list. */
export async function stopForward(id: number): Promise<void> {
  await portForwardStop(id);
  publish(forwards.filter((f) => f.id !== id));
}

/** The running forwards, kept current; re-read from the backend when a view mounts. */
export function useForwards(): readonly Forward[] {
  useEffect(() => {
    refreshForwards().catch(() => undefined);
  }, []);
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => forwards,
  );
}

/** Whether `forward` reaches `target` in `namespace` of `cluster`. */
export function forwardsTo(forward: Forward, cluster: string, namespace: string, target: ForwardTarget): boolean {
  return (
    forward.cluster === cluster &&
    forward.namespace === namespace &&
    forward.target.kind === target.kind &&
    forward.target.name === target.name
  );
}

/** Parses the local port field: empty = any free port (null); otherwise 1–65535 or an error text. */
export function parseLocalPort(text: string): { port: number | null } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { port: null };
  if (!/^\d+$/.test(trimmed)) return { error: `"${trimmed}" is not a port number; enter 1–65535 or leave it empty for any free port.` };
  const port = Number(trimmed);
  if (port < 1 || port > 65535) return { error: `${trimmed} is out of range; enter 1–65535 or leave it empty for any free port.` };
  return { port };
}
