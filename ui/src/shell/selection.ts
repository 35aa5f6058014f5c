// The object selected in the list on screen, so the command palette can offer its actions.
// The table sets it; it is cleared when the table goes away.
import { useSyncExternalStore } from "react";
import type { Row } from "../ipc/resources";

/** An object of one resource, as the palette's actions need it. */
export interface Selection {
  resource: string;
  row: Row;
}

let selection: Selection | null = null;
const listeners = new Set<() => void>();

/** Publishes the selected object (`null`: nothing selected). */
export function setSelection(next: Selection | null): void {
  if (next?.row === selection?.row && next?.resource === selection?.resource) return;
  selection = next;
  for (const listener of listeners) listener();
}

/** The selected object, if any. */
export function useSelection(): Selection | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => selection,
  );
}

/** Whether a modal (the palette, the help, a confirmation dialog) has the keyboard. */
export function modalOpen(): boolean {
  return document.querySelector('[aria-modal="true"], dialog[open]') !== null;
}
