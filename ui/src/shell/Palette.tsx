// The command palette (Ctrl/Cmd+K): one fuzzy search over places, kinds, the objects of the
// commonly used kinds (watched only while it is open) and actions, run from the keyboard.
import { useEffect, useMemo, useRef, useState } from "react";
import { actionsFor, clusterActions, type Action } from "../actions/catalogue";
import { LOCAL, type KindInfo, type Row } from "../ipc/resources";
import { useKinds, pluralLabel } from "../state/kinds";
import { moveIndex, rankEntries, type PaletteEntry } from "../state/palette";
import { useResources } from "../state/resources";
import { ErrorBanner } from "./ErrorBanner";
import { PLACES } from "./nav";
import { navigate, useNamespace, useRoute, type Route } from "./route";
import { useSelection, type Selection } from "./selection";
import { setTheme } from "./theme";
import "./overlay.css";

/** What choosing an entry does: go somewhere, or run something that may fail. */
interface Entry extends PaletteEntry {
  run: () => void | Promise<void>;
}

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

function actionEntry(action: Action, detail: string, idPrefix: string): Entry {
  return {
    id: `${idPrefix}:${action.id}`,
    label: action.label,
    detail,
    section: "Action",
    keywords: [action.id],
    run: action.run,
  };
}

function buildEntries(
  kinds: readonly KindInfo[],
  objects: { resource: string; rows: readonly Row[] }[],
  target: Selection | null,
  onShowShortcuts: () => void,
): Entry[] {
  const entries: Entry[] = [];
  for (const place of PLACES) {
    entries.push({
      id: `place:${place.id}`,
      label: place.label,
      detail: "View",
      section: "View",
      keywords: place.keywords,
      run: () => {
        navigate(place.route);
      },
    });
  }
  entries.push({
    id: "help:shortcuts",
    label: "Keyboard shortcuts",
    detail: "Help",
    section: "View",
    keywords: ["keys", "help", "?"],
    run: onShowShortcuts,
  });
  for (const theme of ["light", "dark", "system"] as const) {
    entries.push({
      id: `theme:${theme}`,
      label: `Theme: ${theme === "system" ? "follow the system" : theme}`,
      detail: "Appearance",
      section: "View",
      keywords: ["theme", "colour", "color", theme],
      run: () => {
        setTheme(theme);
      },
    });
  }
  const kindByResource = new Map(kinds.map((k) => [k.resource, k]));
  for (const kind of kinds) {
    entries.push({
      id: `kind:${kind.resource}`,
      label: pluralLabel(kind),
      detail: [kind.resource, ...kind.shortNames].join(", "),
      section: "Kind",
      keywords: [kind.resource, kind.kind, ...kind.shortNames],
      run: () => {
        navigate({ view: "browse", resource: kind.resource });
      },
    });
  }
  if (target) {
    const name = target.row.namespace ? `${target.row.namespace}/${target.row.name}` : target.row.name;
    for (const action of actionsFor(LOCAL, target.resource, target.row)) {
      entries.push(actionEntry(action, `${target.resource} ${name}`, `object:${target.row.uid}`));
    }
  }
  for (const action of clusterActions(LOCAL)) entries.push(actionEntry(action, "Cluster", "cluster"));
  for (const { resource, rows } of objects) {
    const kind = kindByResource.get(resource);
    const kindName = kind?.kind ?? resource;
    const short = kind?.shortNames[0] ?? resource;
    for (const row of rows) {
      entries.push({
        id: `object:${resource}:${row.uid}`,
        label: row.name,
        detail: row.namespace ? `${kindName} · ${row.namespace}` : kindName,
        section: "Object",
        keywords: [`${short}/${row.name}`, `${kindName.toLowerCase()}/${row.name}`],
        run: () => {
          navigate({ view: "details", resource, namespace: row.namespace, name: row.name });
        },
      });
    }
  }
  return entries;
}

function PaletteBody({ onClose, onShowShortcuts, target }: Props & { target: Selection | null }) {
  const namespace = useNamespace();
  const kinds = useKinds();
  const objects = useCommonObjects(namespace);
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const [error, setError] = useState<{ label: string; error: unknown } | null>(null);
  const [running, setRunning] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const listRef = useRef<HTMLUListElement>(null);

  const entries = useMemo(
    () => buildEntries(kinds.state === "loaded" ? kinds.kinds : [], objects, target, onShowShortcuts),
    [kinds, objects, target, onShowShortcuts],
  );
  const results = useMemo(() => rankEntries(entries, query), [entries, query]);
  const current = Math.min(active, Math.max(0, results.length - 1));

  useEffect(() => {
    inputRef.current?.focus();
  }, []);
  useEffect(() => {
    listRef.current?.querySelector(".palette-item.active")?.scrollIntoView({ block: "nearest" });
  }, [current, results]);

  function choose(entry: Entry | undefined) {
    if (!entry || running) return;
    setError(null);
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
                className={i === current ? "palette-item active" : "palette-item"}
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
