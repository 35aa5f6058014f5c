// Each lesson's progress, kept in localStorage (`kubarium.learn.v1`) so it outlives the
// window: started, the steps done, captured values, and the nodes the lesson added or stopped
// (Reset undoes those). Pure updates plus a small store React reads with a hook.
import { useSyncExternalStore } from "react";

export const PROGRESS_KEY = "kubarium.learn.v1";

export interface LessonProgress {
  readonly started: boolean;
  /** Step ids, in the order they were done. Done is sticky until Reset. */
  readonly done: readonly string[];
  readonly vars: Readonly<Record<string, string>>;
  readonly addedNodes: readonly string[];
  readonly stoppedNodes: readonly string[];
}

export type Progress = Readonly<Record<string, LessonProgress>>;

export const FRESH: LessonProgress = { started: false, done: [], vars: {}, addedNodes: [], stoppedNodes: [] };

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** Progress from stored text; anything unreadable is dropped rather than trusted. */
export function parseProgress(text: string | null): Progress {
  if (text === null) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const progress: Record<string, LessonProgress> = {};
  for (const [id, entry] of Object.entries(value as Record<string, unknown>)) {
    if (typeof entry !== "object" || entry === null) continue;
    const raw = entry as Record<string, unknown>;
    const vars: Record<string, string> = {};
    if (typeof raw["vars"] === "object" && raw["vars"] !== null) {
      for (const [k, v] of Object.entries(raw["vars"] as Record<string, unknown>)) if (typeof v === "string") vars[k] = v;
    }
    progress[id] = {
      started: raw["started"] === true,
      done: strings(raw["done"]),
      vars,
      addedNodes: strings(raw["addedNodes"]),
      stoppedNodes: strings(raw["stoppedNodes"]),
    };
  }
  return progress;
}

/** One lesson's progress (fresh when it has none). */
export function lessonProgress(progress: Progress, id: string): LessonProgress {
  return progress[id] ?? FRESH;
}

/** `progress` with lesson `id` changed by `change`. */
export function updated(progress: Progress, id: string, change: (p: LessonProgress) => LessonProgress): Progress {
  return { ...progress, [id]: change(lessonProgress(progress, id)) };
}

/** Marks a step done (once). */
export function withDone(p: LessonProgress, step: string): LessonProgress {
  return p.done.includes(step) ? p : { ...p, done: [...p.done, step] };
}

/** Adds `name` to a node list (once) or removes it. */
export function withNode(list: readonly string[], name: string, present: boolean): string[] {
  const rest = list.filter((n) => n !== name);
  return present ? [...rest, name] : rest;
}

// The store: one copy per window, written through to localStorage.
let current: Progress | null = null;
const listeners = new Set<() => void>();

function storage(): Storage | null {
  try {
    return typeof window === "undefined" ? null : window.localStorage;
  } catch {
    return null;
  }
}

/** The progress now. */
export function progressSnapshot(): Progress {
  current ??= parseProgress(storage()?.getItem(PROGRESS_KEY) ?? null);
  return current;
}

/** Changes one lesson's progress and saves it. */
export function updateProgress(id: string, change: (p: LessonProgress) => LessonProgress): void {
  current = updated(progressSnapshot(), id, change);
  try {
    storage()?.setItem(PROGRESS_KEY, JSON.stringify(current));
  } catch {
    // Not saved (storage full or disabled): the progress still holds for this window.
  }
  for (const listener of listeners) listener();
}

/** Every lesson's progress; re-renders on change. */
export function useProgress(): Progress {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    progressSnapshot,
    progressSnapshot,
  );
}

/**
 * The step that is active: the first not done. `null` when every step is done (or the
 * lesson has not started).
 */
export function activeStep(stepIds: readonly string[], p: LessonProgress): string | null {
  if (!p.started) return null;
  return stepIds.find((id) => !p.done.includes(id)) ?? null;
}

/** A step's state for `data-state`. */
export function stepState(stepIds: readonly string[], p: LessonProgress, id: string): "locked" | "active" | "done" {
  if (p.done.includes(id)) return "done";
  return activeStep(stepIds, p) === id ? "active" : "locked";
}
