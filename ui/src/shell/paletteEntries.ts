// The command palette's entries: places, theme choices, the other clusters to switch to,
// kinds, the selected object's actions, cluster actions and the objects of the commonly used
// kinds. Built here, apart from the component, so what the palette offers is tested directly.
import { actionsFor, clusterActions, type Action } from "../actions/catalogue";
import { type KindInfo, type Row } from "../ipc/resources";
import { pluralLabel } from "../state/kinds";
import type { PaletteEntry } from "../state/palette";
import { PLACES } from "./nav";
import { navigate } from "./route";
import type { Selection } from "./selection";
import { setTheme } from "./theme";

/** What choosing an entry does: go somewhere, or run something that may fail. */
export interface Entry extends PaletteEntry {
  run: () => void | Promise<void>;
  /** Asked first (a destructive action); `run` only on "yes". */
  confirm?: string;
  /** Why the cluster's RBAC refuses it: shown instead of running it. */
  refused?: string;
}

/** A catalogue action as an entry, keeping its confirmation question. */
export function actionEntry(action: Action, detail: string, idPrefix: string): Entry {
  // The catalogue's actions may carry a question to ask before running (`confirm`).
  const confirm = (action as { confirm?: unknown }).confirm;
  const entry: Entry = {
    id: `${idPrefix}:${action.id}`,
    label: action.label,
    detail,
    section: "Action",
    keywords: [action.id],
    run: action.run,
  };
  if (typeof confirm === "string") entry.confirm = confirm;
  return entry;
}

/** Everything the palette offers, in the order shown for an empty query. */
export function buildEntries(
  cluster: string,
  kinds: readonly KindInfo[],
  objects: { resource: string; rows: readonly Row[] }[],
  target: Selection | null,
  onShowShortcuts: () => void,
  refusals: ReadonlyMap<string, string | null> = new Map(),
  clusters: { list: readonly { id: string; name: string; local: boolean }[]; onSwitch: (id: string) => void } | null = null,
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
  for (const other of clusters?.list ?? []) {
    if (other.id === cluster) continue;
    entries.push({
      id: `cluster-switch:${other.id}`,
      label: `Switch to ${other.name}${other.local ? " (local)" : ""}`,
      detail: "Cluster",
      section: "View",
      keywords: ["cluster", "context", "switch", other.name],
      run: () => {
        clusters?.onSwitch(other.id);
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
    for (const action of actionsFor(cluster, target.resource, target.row)) {
      const entry = actionEntry(action, `${target.resource} ${name}`, `object:${target.row.uid}`);
      const refused = refusals.get(action.id) ?? null;
      entries.push(refused === null ? entry : { ...entry, detail: refused, refused });
    }
  }
  for (const action of clusterActions(cluster)) entries.push(actionEntry(action, "Cluster", "cluster"));
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

