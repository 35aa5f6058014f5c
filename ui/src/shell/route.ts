// Where the window is: one app-wide route with a back stack, and the namespace filter every
// list shares. Views read them with hooks and move with `navigate`/`back`.
import { useSyncExternalStore } from "react";

/** A place in the app. */
export type Route =
  | { view: "map" }
  | { view: "browse"; resource: string }
  | {
      view: "details";
      resource: string;
      namespace: string | null;
      name: string;
      /** The tab to open on (`overview` when absent). */
      tab?: string;
    }
  | { view: "topology" }
  | { view: "events" }
  | { view: "create"; template?: string }
  | { view: "overview" }
  /** The Learn section: the lesson list, or one lesson. */
  | { view: "learn"; lesson?: string };

const HOME: Route = { view: "map" };

let current: Route = HOME;
const stack: Route[] = [];
let namespace: string | null = null;
const listeners = new Set<() => void>();

function notify(): void {
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Goes to `route`; `back()` returns to where this was called from. */
export function navigate(route: Route): void {
  stack.push(current);
  if (stack.length > 100) stack.shift();
  current = route;
  notify();
}

/** Returns to the previous place; at the start of history, stays home. */
export function back(): void {
  current = stack.pop() ?? HOME;
  notify();
}

/** The current route; re-renders on every move. */
export function useRoute(): Route {
  return useSyncExternalStore(subscribe, () => current);
}

/** The namespace lists show; `null` means all namespaces. */
export function useNamespace(): string | null {
  return useSyncExternalStore(subscribe, () => namespace);
}

/** Chooses the namespace lists show (`null`: all). */
export function setNamespace(next: string | null): void {
  if (next === namespace) return;
  namespace = next;
  notify();
}
