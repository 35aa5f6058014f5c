// What a lesson asks the cluster map to emphasise: a small app-wide store of object
// references (kind, optional namespace, name and labels). The Learn view sets it for the
// active step; the cluster map reads it and marks the objects that match.
import { useSyncExternalStore } from "react";

/** An object (or every object of a kind, optionally narrowed by labels) to highlight. */
export interface HighlightRef {
  readonly kind: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** The part of an object a reference is matched against. */
export interface HighlightTarget {
  readonly kind: string;
  readonly namespace?: string | null;
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>> | null;
}

let current: readonly HighlightRef[] = [];
const listeners = new Set<() => void>();

function publish(refs: readonly HighlightRef[]): void {
  current = refs;
  for (const listener of listeners) listener();
}

/** Replaces what is highlighted. */
export function setHighlight(refs: readonly HighlightRef[]): void {
  publish([...refs]);
}

/** Highlights nothing. */
export function clearHighlight(): void {
  if (current.length > 0) publish([]);
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The references highlighted now; re-renders on change. */
export function useHighlight(): readonly HighlightRef[] {
  return useSyncExternalStore(subscribe, () => current);
}

/** Whether `target` is one of the objects `refs` name. */
export function isHighlighted(refs: readonly HighlightRef[], target: HighlightTarget): boolean {
  return refs.some(
    (ref) =>
      ref.kind === target.kind &&
      (ref.namespace === undefined || ref.namespace === (target.namespace ?? "")) &&
      (ref.name === undefined || ref.name === target.name) &&
      Object.entries(ref.labels ?? {}).every(([key, value]) => target.labels?.[key] === value),
  );
}
