// The colour theme: follow the OS (default) or a choice saved in localStorage. The choice is
// applied as `data-theme` on <html>, which theme.css turns into the matching variables.
import { useSyncExternalStore } from "react";
import "./theme.css";

export type ThemeChoice = "system" | "light" | "dark";

export const THEME_CHOICES: readonly { id: ThemeChoice; label: string }[] = [
  { id: "system", label: "System" },
  { id: "light", label: "Light" },
  { id: "dark", label: "Dark" },
];

const STORAGE_KEY = "kubarium.theme";

/** A stored value as a choice; anything unknown (or nothing) follows the OS. */
export function parseThemeChoice(value: string | null): ThemeChoice {
  return value === "light" || value === "dark" ? value : "system";
}

function readStored(): ThemeChoice {
  try {
    return parseThemeChoice(window.localStorage.getItem(STORAGE_KEY));
  } catch {
    // Storage can be unavailable (private mode, a locked profile): the OS theme still works.
    return "system";
  }
}

let choice: ThemeChoice = typeof window === "undefined" ? "system" : readStored();
const listeners = new Set<() => void>();

function apply(next: ThemeChoice): void {
  const root = document.documentElement;
  if (next === "system") delete root.dataset.theme;
  else root.dataset.theme = next;
}

// Applied as soon as the shell loads, before the first paint.
if (typeof document !== "undefined") apply(choice);

/** Chooses and saves a theme. */
export function setTheme(next: ThemeChoice): void {
  choice = next;
  apply(next);
  try {
    window.localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Not saved; the choice still holds for this window.
  }
  for (const listener of listeners) listener();
}

/** The current choice. */
export function useTheme(): ThemeChoice {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => choice,
  );
}
