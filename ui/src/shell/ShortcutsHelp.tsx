// The `?` overlay: every keyboard shortcut, from the same list the handlers use.
import { useEffect, useRef } from "react";
import { SHORTCUTS } from "./keys";
import "./overlay.css";

/** Lists every shortcut; Esc, `?` or a click outside closes it. */
export function ShortcutsHelp({ onClose }: { onClose: () => void }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    closeRef.current?.focus();
    function onKey(event: KeyboardEvent) {
      if (event.key === "Escape" || event.key === "?") {
        event.preventDefault();
        event.stopPropagation();
        onClose();
      }
    }
    window.addEventListener("keydown", onKey, true);
    return () => {
      window.removeEventListener("keydown", onKey, true);
    };
  }, [onClose]);
  const scopes = ["Anywhere", "Lists"] as const;
  return (
    <div className="overlay-backdrop" onMouseDown={onClose}>
      <div
        className="overlay-panel shortcuts"
        role="dialog"
        aria-modal="true"
        aria-labelledby="shortcuts-title"
        data-testid="shortcuts-help"
        onMouseDown={(e) => {
          e.stopPropagation();
        }}
      >
        <header className="overlay-header">
          <h2 id="shortcuts-title">Keyboard shortcuts</h2>
          <button type="button" ref={closeRef} onClick={onClose} aria-label="Close the shortcuts list">
            Close
          </button>
        </header>
        {scopes.map((scope) => (
          <section key={scope}>
            <h3>{scope === "Anywhere" ? "Anywhere (not while typing)" : "In lists"}</h3>
            <dl className="shortcut-list">
              {SHORTCUTS.filter((s) => s.scope === scope).map((s) => (
                <div key={s.keys} className="shortcut">
                  <dt>
                    {s.keys.split(" / ").map((k, i) => (
                      <span key={k}>
                        {i > 0 && " or "}
                        <kbd>{k}</kbd>
                      </span>
                    ))}
                  </dt>
                  <dd>{s.what}</dd>
                </div>
              ))}
            </dl>
          </section>
        ))}
      </div>
    </div>
  );
}
