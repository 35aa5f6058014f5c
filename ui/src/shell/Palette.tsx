// The command palette (Ctrl/Cmd+K): one fuzzy search over places, kinds, the objects of the
// commonly used kinds (watched only while it is open) and actions, run from the keyboard.
import { useEffect, useMemo, useRef, useState } from "react";
import type { Row } from "../ipc/resources";
import { useClusters, useCurrentCluster } from "../state/clusters";
import { switchCluster } from "./ClusterSwitcher";
import { actionsFor } from "../actions/catalogue";
import { useActionRefusals } from "../state/access";
import { kindOf, useKinds } from "../state/kinds";
import { moveIndex, rankEntries } from "../state/palette";
import { useResources } from "../state/resources";
import { ErrorBanner } from "./ErrorBanner";
import { buildEntries, type Entry } from "./paletteEntries";
import { useNamespace, useRoute, type Route } from "./route";
import { useSelection, type Selection } from "./selection";
import "./overlay.css";

interface Props {
  onClose: () => void;
  onShowShortcuts: () => void;
}

/** The palette; mounted only while open, so its watches run only then. */
export function Palette(props: Props) {
  const route = useRoute();
  const selection = useSelection();
  if (route.view === "details") return <DetailsPalette {...props} route={route} />;
  return <PaletteBody {...props} target={selection} />;
}

/** On a details page the palette's object is the one shown. */
function DetailsPalette(props: Props & { route: Extract<Route, { view: "details" }> }) {
  const { route } = props;
  const snapshot = useResources(route.resource, route.namespace);
  const row = snapshot.rows.find((r) => r.name === route.name && r.namespace === route.namespace) ?? null;
  return <PaletteBody {...props} target={row ? { resource: route.resource, row } : null} />;
}

/** Rows of the commonly used kinds, in the selected namespace. Hooks in a fixed order. */
function useCommonObjects(namespace: string | null): { resource: string; rows: readonly Row[] }[] {
  const pods = useResources("pods", namespace).rows;
  const deployments = useResources("deployments", namespace).rows;
  const services = useResources("services", namespace).rows;
  const nodes = useResources("nodes", null).rows;
  const statefulsets = useResources("statefulsets", namespace).rows;
  const daemonsets = useResources("daemonsets", namespace).rows;
  const configmaps = useResources("configmaps", namespace).rows;
  const secrets = useResources("secrets", namespace).rows;
  const ingresses = useResources("ingresses", namespace).rows;
  return useMemo(
    () => [
      { resource: "pods", rows: pods },
      { resource: "deployments", rows: deployments },
      { resource: "services", rows: services },
      { resource: "nodes", rows: nodes },
      { resource: "statefulsets", rows: statefulsets },
      { resource: "daemonsets", rows: daemonsets },
      { resource: "configmaps", rows: configmaps },
      { resource: "secrets", rows: secrets },
      { resource: "ingresses", rows: ingresses },
    ],
    [pods, deployments, services, nodes, statefulsets, daemonsets, configmaps, secrets, ingresses],
  );
}

function PaletteBody({ onClose, onShowShortcuts, target }: Props & { target: Selection | null }) {
  const namespace = useNamespace();
  const kinds = useKinds();
  const objects = useCommonObjects(namespace);
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const [error, setError] = useState<{ label: string; error: unknown } | null>(null);
  const [running, setRunning] = useState(false);
  const [asking, setAsking] = useState<Entry | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const listRef = useRef<HTMLUListElement>(null);

  const cluster = useCurrentCluster();
  const clusters = useClusters();
  const actionIds = target ? actionsFor(cluster, target.resource, target.row).map((a) => a.id) : [];
  const group = kinds.state === "loaded" && target ? kindOf(kinds.kinds, target.resource)?.group : undefined;
  const refusals = useActionRefusals(cluster, actionIds, target?.resource ?? "", target?.row.namespace ?? null, group);
  // The refusals map is new on every render; its content is what matters.
  const refusalKey = JSON.stringify([...refusals]);
  const entries = useMemo(
    () =>
      buildEntries(cluster, kinds.state === "loaded" ? kinds.kinds : [], objects, target, onShowShortcuts, refusals, {
        list: clusters.statuses,
        onSwitch: (id) => {
          switchCluster(id, clusters.entries);
        },
      }),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `refusalKey` stands for `refusals`
    [cluster, kinds, objects, target, onShowShortcuts, refusalKey, clusters.statuses, clusters.entries],
  );
  const results = useMemo(() => rankEntries(entries, query), [entries, query]);
  const current = Math.min(active, Math.max(0, results.length - 1));

  useEffect(() => {
    inputRef.current?.focus();
  }, []);
  useEffect(() => {
    listRef.current?.querySelector(".palette-item.active")?.scrollIntoView({ block: "nearest" });
  }, [current, results]);

  function choose(entry: Entry | undefined, confirmed = false) {
    if (!entry || running) return;
    setError(null);
    if (entry.refused !== undefined) {
      setError({ label: entry.label, error: { code: "forbidden", message: entry.refused, causes: [] } });
      return;
    }
    if (entry.confirm !== undefined && !confirmed) {
      setAsking(entry);
      return;
    }
    setAsking(null);
    const outcome = entry.run();
    if (!outcome) {
      onClose();
      return;
    }
    setRunning(true);
    outcome.then(
      () => {
        setRunning(false);
        onClose();
      },
      (e: unknown) => {
        setRunning(false);
        setError({ label: entry.label, error: e });
      },
    );
  }

  function onKeyDown(event: React.KeyboardEvent) {
    if (asking) {
      // While a question is open only its answers count: Enter (yes) or Esc (no).
      if (event.key === "Enter" || event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        if (event.key === "Enter") choose(asking, true);
        else setAsking(null);
      }
      return;
    }
    switch (event.key) {
      case "ArrowDown":
      case "ArrowUp":
        event.preventDefault();
        setActive(moveIndex(current, event.key === "ArrowDown" ? 1 : -1, results.length));
        return;
      case "PageDown":
      case "PageUp":
        event.preventDefault();
        setActive(Math.min(Math.max(0, current + (event.key === "PageDown" ? 8 : -8)), Math.max(0, results.length - 1)));
        return;
      case "Enter":
        event.preventDefault();
        choose(results[current]);
        return;
      case "Escape":
        event.preventDefault();
        event.stopPropagation();
        onClose();
        return;
      case "Tab":
        // Focus stays in the palette; Tab moves like the arrows.
        event.preventDefault();
        setActive(moveIndex(current, event.shiftKey ? -1 : 1, results.length));
        return;
    }
  }

  const activeId = results[current] ? `palette-option-${String(current)}` : undefined;
  return (
    <div className="overlay-backdrop" onMouseDown={onClose}>
      <div
        className="overlay-panel palette"
        role="dialog"
        aria-modal="true"
        aria-label="Command palette"
        data-testid="palette"
        onMouseDown={(e) => {
          e.stopPropagation();
        }}
        onKeyDown={onKeyDown}
      >
        <input
          ref={inputRef}
          className="palette-input"
          placeholder="Go to a view, kind or object, or run an action…"
          aria-label="Search views, kinds, objects and actions"
          role="combobox"
          aria-expanded="true"
          aria-controls="palette-list"
          aria-activedescendant={activeId}
          data-testid="palette-input"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setActive(0);
          }}
        />
        {error && (
          <div className="palette-error">
            <ErrorBanner
              error={error.error}
              title={`${error.label} failed`}
              onDismiss={() => {
                setError(null);
              }}
            />
          </div>
        )}
        {asking && (
          <div className="palette-confirm" role="alertdialog" aria-label="Confirm">
            <p>{asking.confirm}</p>
            <div className="palette-confirm-buttons">
              <button
                type="button"
                className="danger"
                data-testid="dialog-confirm"
                onClick={() => {
                  choose(asking, true);
                }}
              >
                {asking.label} <kbd>Enter</kbd>
              </button>
              <button
                type="button"
                onClick={() => {
                  setAsking(null);
                  inputRef.current?.focus();
                }}
              >
                Cancel <kbd>Esc</kbd>
              </button>
            </div>
          </div>
        )}
        {results.length === 0 ? (
          <p className="palette-empty">Nothing matches "{query}". Try a kind (pods), a name, or an action.</p>
        ) : (
          <ul className="palette-list" id="palette-list" role="listbox" ref={listRef}>
            {results.map((entry, i) => (
              <li
                key={entry.id}
                id={`palette-option-${String(i)}`}
                role="option"
                aria-selected={i === current}
                className={`palette-item${i === current ? " active" : ""}${entry.refused === undefined ? "" : " refused"}`}
                aria-disabled={entry.refused !== undefined}
                title={entry.refused}
                data-testid="palette-item"
                data-entry={entry.id}
                onMouseMove={() => {
                  if (i !== current) setActive(i);
                }}
                onClick={() => {
                  choose(entry);
                }}
              >
                <span className="palette-section">{entry.section}</span>
                <span className="palette-label">{entry.label}</span>
                <span className="palette-detail">{entry.detail}</span>
              </li>
            ))}
          </ul>
        )}
        <footer className="palette-footer">
          <span>
            <kbd>↑</kbd> <kbd>↓</kbd> move
          </span>
          <span>
            <kbd>Enter</kbd> {running ? "running…" : "open / run"}
          </span>
          <span>
            <kbd>Esc</kbd> close
          </span>
          {target && <span>Actions for {target.row.name}</span>}
        </footer>
      </div>
    </div>
  );
}
