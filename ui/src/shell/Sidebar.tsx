// The sidebar: brand, cluster switcher, namespace selector, the fixed places, every kind by
// category (from `kinds()`), the running port-forwards, and the theme switch.
import { useMemo } from "react";
import type { StatusSnapshot } from "../state/clusterStatus";
import { CATEGORIES, pluralLabel, reloadKinds, useKinds } from "../state/kinds";
import { useResources } from "../state/resources";
import { Forwards } from "../streams/Forwards";
import { compareNatural } from "../state/table";
import { ClusterSwitcher } from "./ClusterSwitcher";
import { ErrorBanner } from "./ErrorBanner";
import { MOD } from "./keys";
import { PLACES, routeIsPlace, routeResource } from "./nav";
import { navigate, setNamespace, useNamespace, useRoute } from "./route";
import { setTheme, THEME_CHOICES, useTheme } from "./theme";
import "./sidebar.css";

interface Props {
  status: StatusSnapshot;
  onShowShortcuts: () => void;
  onOpenPalette: () => void;
}

/** Brand, the cluster this window shows, its namespaces, and everything one can open. */
export function Sidebar({ status, onShowShortcuts, onOpenPalette }: Props) {
  const route = useRoute();
  const current = routeResource(route);
  return (
    <nav className="sidebar" aria-label="Kubarium">
      <div className="brand">
        <img src="/kubarium.svg" alt="" width={28} height={28} />
        <span>Kubarium</span>
      </div>
      <ClusterSwitcher local={status} />
      <NamespaceSelect />
      <div className="sidebar-scroll">
        <ul className="nav">
          {PLACES.map((place) => {
            const active = routeIsPlace(route, place);
            return (
              <li key={place.id}>
                <button
                  type="button"
                  className={active ? "nav-item active" : "nav-item"}
                  aria-current={active ? "page" : undefined}
                  data-testid={`nav-${place.id}`}
                  onClick={() => {
                    navigate(place.route);
                  }}
                >
                  {place.label}
                </button>
              </li>
            );
          })}
        </ul>
        <KindSections current={current} />
        <section className="nav-section sidebar-forwards" aria-labelledby="nav-h-forwards">
          <h2 id="nav-h-forwards" className="nav-heading">
            Port-forwards
          </h2>
          <Forwards />
        </section>
      </div>
      <footer className="sidebar-footer">
        <div className="theme-switch" role="group" aria-label="Colour theme">
          <ThemeButtons />
        </div>
        <div className="sidebar-hints">
          <button type="button" className="hint" onClick={onOpenPalette} data-testid="open-palette">
            Palette <kbd>{MOD}+K</kbd>
          </button>
          <button type="button" className="hint" onClick={onShowShortcuts} data-testid="open-shortcuts">
            Keys <kbd>?</kbd>
          </button>
        </div>
      </footer>
    </nav>
  );
}

function KindSections({ current }: { current: string | null }) {
  const kinds = useKinds();
  if (kinds.state === "loading") return <p className="muted small nav-note">Loading kinds…</p>;
  if (kinds.state === "failed") {
    return (
      <div className="nav-note">
        <ErrorBanner error={kinds.error} title="Could not load the kinds to browse" />
        <button type="button" onClick={reloadKinds}>
          Try again
        </button>
      </div>
    );
  }
  return (
    <>
      {CATEGORIES.map((category) => {
        const members = kinds.kinds.filter((k) => k.category === category.id);
        if (members.length === 0) return null;
        return (
          <section key={category.id} className="nav-section" aria-labelledby={`nav-h-${category.id}`}>
            <h2 id={`nav-h-${category.id}`} className="nav-heading">
              {category.label}
            </h2>
            <ul className="nav">
              {members.map((kind) => {
                const active = kind.resource === current;
                return (
                  <li key={kind.resource}>
                    <button
                      type="button"
                      className={active ? "nav-item nav-kind active" : "nav-item nav-kind"}
                      aria-current={active ? "page" : undefined}
                      data-testid={`nav-${kind.resource}`}
                      onClick={() => {
                        navigate({ view: "browse", resource: kind.resource });
                      }}
                    >
                      {pluralLabel(kind)}
                    </button>
                  </li>
                );
              })}
            </ul>
          </section>
        );
      })}
    </>
  );
}

const ALL = "";

function NamespaceSelect() {
  const namespace = useNamespace();
  const namespaces = useResources("namespaces");
  const names = useMemo(() => {
    const list = namespaces.rows.map((r) => r.name);
    // Keep the chosen one listed even if it was deleted, so the select shows the truth.
    if (namespace !== null && !list.includes(namespace)) list.push(namespace);
    return list.sort(compareNatural);
  }, [namespaces.rows, namespace]);
  return (
    <label className="namespace-field">
      <span className="field-label">Namespace</span>
      <select
        data-testid="namespace-select"
        value={namespace ?? ALL}
        title={namespaces.error ? `Namespaces could not be listed: ${namespaces.error.message}` : undefined}
        onChange={(e) => {
          setNamespace(e.target.value === ALL ? null : e.target.value);
        }}
      >
        <option value={ALL}>All namespaces</option>
        {names.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}

function ThemeButtons() {
  const theme = useTheme();
  return (
    <>
      {THEME_CHOICES.map((choice) => (
        <button
          key={choice.id}
          type="button"
          className={choice.id === theme ? "theme-option active" : "theme-option"}
          aria-pressed={choice.id === theme}
          data-testid={`theme-${choice.id}`}
          onClick={() => {
            setTheme(choice.id);
          }}
        >
          {choice.label}
        </button>
      ))}
    </>
  );
}
