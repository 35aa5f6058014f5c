import { useEffect } from "react";
import { quit } from "../ipc";

/** App-wide keys: Ctrl+Q (Cmd+Q on macOS) quits, stopping the cluster cleanly. */
export function useGlobalShortcuts(): void {
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "q") {
        event.preventDefault();
        void quit();
      }
    }
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
    };
  }, []);
}
