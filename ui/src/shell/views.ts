import type { ComponentType } from "react";
import type { StatusSnapshot } from "../state/clusterStatus";
import { Overview } from "../views/Overview";

/** A view the sidebar offers. */
export interface ViewSpec {
  id: string;
  label: string;
  component: ComponentType<{ status: StatusSnapshot }>;
}

/** Every view, in sidebar order; the first is home. Views join this list as they are built. */
export const VIEWS: readonly [ViewSpec, ...ViewSpec[]] = [
  { id: "overview", label: "Overview", component: Overview },
];
