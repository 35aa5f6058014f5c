// Keyboard plumbing shared by the shell and the views: every shortcut in one list (the `?`
// overlay renders it), the rule that shortcuts never fire while typing, and a matcher for
// two-key sequences (`g p`) in the style of k9s and Gmail.
import type { Route } from "./route";

/** One shortcut as the help overlay lists it. */
export interface ShortcutHelp {
  keys: string;
  what: string;
  /** Where it works: everywhere, or in lists. */
  scope: "Anywhere" | "Lists";
}

/** `g <key>` jumps. */
export const GO_TO: readonly { key: string; label: string; route: Route }[] = [
  { key: "m", label: "the cluster map", route: { view: "map" } },
  { key: "p", label: "pods", route: { view: "browse", resource: "pods" } },
  { key: "d", label: "deployments", route: { view: "browse", resource: "deployments" } },
  { key: "s", label: "services", route: { view: "browse", resource: "services" } },
  { key: "n", label: "nodes", route: { view: "browse", resource: "nodes" } },
  { key: "e", label: "the events timeline", route: { view: "events" } },
  { key: "t", label: "the topology graph", route: { view: "topology" } },
  { key: "c", label: "create from YAML", route: { view: "create" } },
  { key: "o", label: "the cluster overview", route: { view: "overview" } },
];

/** The modifier key as the platform names it. */
export const MOD = typeof navigator !== "undefined" && /Mac/.test(navigator.platform) ? "⌘" : "Ctrl";

/** Every shortcut, in the order the help overlay shows them. */
export const SHORTCUTS: readonly ShortcutHelp[] = [
  { keys: `${MOD}+K`, what: "Open the command palette", scope: "Anywhere" },
  { keys: "?", what: "Show this list of shortcuts", scope: "Anywhere" },
  ...GO_TO.map((g): ShortcutHelp => ({ keys: `g ${g.key}`, what: `Go to ${g.label}`, scope: "Anywhere" })),
  { keys: "Esc", what: "Close a dialog; in lists clear the filter, then go back", scope: "Anywhere" },
  { keys: `${MOD}+Q`, what: "Quit (stops the cluster cleanly)", scope: "Anywhere" },
  { keys: "/", what: "Focus the filter", scope: "Lists" },
  { keys: "j / ↓", what: "Select the next row", scope: "Lists" },
  { keys: "k / ↑", what: "Select the previous row", scope: "Lists" },
  { keys: "Enter", what: "Open the selected object's details", scope: "Lists" },
  { keys: "w", what: "Show or hide the wide (-o wide) columns", scope: "Lists" },
];

interface Closest {
  closest: (selector: string) => unknown;
  isContentEditable?: boolean;
}

function hasClosest(target: unknown): target is Closest {
  return (
    typeof target === "object" &&
    target !== null &&
    "closest" in target &&
    typeof (target).closest === "function"
  );
}

/** Where keys belong to the user's typing: form fields, CodeMirror editors, xterm terminals. */
const TEXT_INPUT =
  "input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit]):not([type=reset]):not([type=range]):not([type=color])";
const TYPING = `${TEXT_INPUT}, textarea, select, [contenteditable]:not([contenteditable="false"]), .cm-editor, .xterm`;

/** Whether a key event's target is somewhere the user types, so shortcuts must keep out. */
export function isTypingTarget(target: unknown): boolean {
  if (!hasClosest(target)) return false;
  if (target.isContentEditable === true) return true;
  return target.closest(TYPING) !== null;
}

/** Whether Enter/Space on `target` already means something (a focused button or link). */
export function isActivatable(target: unknown): boolean {
  return hasClosest(target) && target.closest("button, a[href], [role=button], summary") !== null;
}

/** Whether an event is a plain key press (no Ctrl/Cmd/Alt), the kind single-key shortcuts use. */
export function isPlainKey(event: { ctrlKey: boolean; metaKey: boolean; altKey: boolean }): boolean {
  return !event.ctrlKey && !event.metaKey && !event.altKey;
}

export type SequenceResult<T> = { kind: "matched"; value: T } | { kind: "pending" } | { kind: "none" };

/**
 * Matches multi-key sequences (`g p`) fed one key at a time. A sequence's keys must follow
 * each other within `timeoutMs`; a key that continues no sequence resets it.
 */
export function sequenceMatcher<T>(sequences: readonly { keys: readonly string[]; value: T }[], timeoutMs = 1500) {
  let typed: string[] = [];
  let lastAt = -Infinity;
  return {
    feed(key: string, nowMs: number): SequenceResult<T> {
      if (nowMs - lastAt > timeoutMs) typed = [];
      lastAt = nowMs;
      const attempt = (keys: string[]): SequenceResult<T> => {
        const candidates = sequences.filter((s) => keys.every((k, i) => s.keys[i] === k));
        const exact = candidates.find((s) => s.keys.length === keys.length);
        if (exact) {
          typed = [];
          return { kind: "matched", value: exact.value };
        }
        if (candidates.length > 0) {
          typed = keys;
          return { kind: "pending" };
        }
        return { kind: "none" };
      };
      const continued = attempt([...typed, key]);
      if (continued.kind !== "none" || typed.length === 0) {
        if (continued.kind === "none") typed = [];
        return continued;
      }
      // The key broke a sequence; it may start a new one.
      typed = [];
      const fresh = attempt([key]);
      if (fresh.kind === "none") typed = [];
      return fresh;
    },
    /** Whether a sequence is under way (so its next key is not treated as a shortcut alone). */
    pending(nowMs: number): boolean {
      return typed.length > 0 && nowMs - lastAt <= timeoutMs;
    },
    reset(): void {
      typed = [];
    },
  };
}
