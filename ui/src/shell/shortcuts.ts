// App-wide keys: Ctrl/Cmd+Q quits, Ctrl/Cmd+K toggles the command palette, `?` shows the
// shortcuts, `g <key>` jumps to a view. None of them fire while the user types (inputs,
// CodeMirror editors, xterm terminals) or while a dialog holds the keyboard.
import { useEffect, useRef } from "react";
import { quit } from "../ipc";
import { GO_TO, isPlainKey, isTypingTarget, sequenceMatcher } from "./keys";
import { navigate, type Route } from "./route";
import { modalOpen } from "./selection";

interface Handlers {
  togglePalette: () => void;
  showShortcuts: () => void;
}

type Command = { kind: "go"; route: Route } | { kind: "help" };

const SEQUENCES: { keys: string[]; value: Command }[] = [
  ...GO_TO.map((g): { keys: string[]; value: Command } => ({ keys: ["g", g.key], value: { kind: "go", route: g.route } })),
  { keys: ["?"], value: { kind: "help" } },
];

/** Installs the app-wide keys for the window's lifetime. */
export function useGlobalShortcuts(handlers: Handlers): void {
  const latest = useRef(handlers);
  useEffect(() => {
    latest.current = handlers;
  });
  useEffect(() => {
    const matcher = sequenceMatcher(SEQUENCES);
    function onKey(event: KeyboardEvent) {
      const mod = event.ctrlKey || event.metaKey;
      const inTerminal = event.target instanceof Element && event.target.closest(".xterm") !== null;
      if (mod && !event.altKey && event.key.toLowerCase() === "q") {
        event.preventDefault();
        void quit();
        return;
      }
      // Ctrl+K works from inputs and editors too (the way out of them), but a terminal needs
      // it for itself (kill-line).
      if (mod && !event.altKey && event.key.toLowerCase() === "k" && !inTerminal) {
        event.preventDefault();
        latest.current.togglePalette();
        return;
      }
      if (event.defaultPrevented || !isPlainKey(event) || isTypingTarget(event.target) || modalOpen()) return;
      if (event.key === "Shift") return;
      const result = matcher.feed(event.key, event.timeStamp);
      if (result.kind === "pending") {
        event.preventDefault();
      } else if (result.kind === "matched") {
        event.preventDefault();
        if (result.value.kind === "help") latest.current.showShortcuts();
        else navigate(result.value.route);
      }
    }
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
    };
  }, []);
}
