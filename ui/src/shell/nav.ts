// The app's fixed places (the views that are not a kind's list), shared by the sidebar and
// the command palette so both offer the same things under the same names.
import type { Route } from "./route";

export interface Place {
  /** The `nav-<id>` test id and the palette entry id. */
  id: string;
  label: string;
  route: Route;
  /** Words that also find it in the palette. */
  keywords: readonly string[];
}

export const PLACES: readonly Place[] = [
  { id: "map", label: "Map", route: { view: "map" }, keywords: ["home", "cluster map", "nodes pods"] },
  { id: "topology", label: "Topology", route: { view: "topology" }, keywords: ["graph", "owners"] },
  { id: "events", label: "Events", route: { view: "events" }, keywords: ["timeline"] },
  { id: "create", label: "Create", route: { view: "create" }, keywords: ["new", "yaml", "apply"] },
  { id: "overview", label: "Overview", route: { view: "overview" }, keywords: ["kubeconfig", "kubectl", "status"] },
  { id: "learn", label: "Learn", route: { view: "learn" }, keywords: ["lessons", "tutorial", "course"] },
];

/** Whether `route` is on the place (or inside it); highlights the sidebar entry. */
export function routeIsPlace(route: Route, place: Place): boolean {
  return route.view === place.route.view;
}

/** The resource a route shows, for highlighting its kind in the sidebar. */
export function routeResource(route: Route): string | null {
  return route.view === "browse" || route.view === "details" ? route.resource : null;
}
