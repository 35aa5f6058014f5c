// Whether the tour is showing: a tiny app-wide store, so Learn's "Take the tour" button can
// replay it with `startTour()` and the window starts it by itself once.
import { useSyncExternalStore } from "react";
import { shouldAutoShow, TOUR_KEY } from "./tour";

let active = false;
const listeners = new Set<() => void>();

function publish(next: boolean): void {
  if (active === next) return;
  active = next;
  for (const listener of listeners) listener();
}

function storage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

/** Shows the tour from its first stop, and remembers it was shown. */
export function startTour(): void {
  try {
    storage()?.setItem(TOUR_KEY, JSON.stringify({ shownAt: new Date().toISOString() }));
  } catch {
    // Not remembered: the tour would only start by itself again next launch.
  }
  publish(true);
}

/** Hides the tour (finished or skipped). */
export function endTour(): void {
  publish(false);
}

/** Starts the tour when this profile never saw it and no WebDriver drives the window; whether it did. */
export function autoStartTour(): boolean {
  const webdriver = typeof navigator !== "undefined" && navigator.webdriver;
  if (!shouldAutoShow(storage(), webdriver)) return false;
  startTour();
  return true;
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Whether the tour is showing; re-renders on change. */
export function useTourActive(): boolean {
  return useSyncExternalStore(subscribe, () => active, () => active);
}
