// Which parts of the cluster map a highlight (state/highlight.ts) marks: node panels, pod
// tiles, and owner groups (a lesson that names a Deployment rings its pods' group). Pure, so
// the map only asks and the matching is tested.
import { isHighlighted, type HighlightRef } from "./highlight";
import type { MapModel, NodeView, OwnerLabel, PodTile } from "./map";

/** Whether a pod's tile is highlighted: the Pod itself is named (by name or labels). */
export function tileHighlighted(refs: readonly HighlightRef[], tile: PodTile): boolean {
  if (refs.length === 0 || tile.leaving) return false;
  return isHighlighted(refs, { kind: "Pod", namespace: tile.namespace, name: tile.name, labels: tile.row.labels });
}

/** Whether a node's panel is highlighted. */
export function nodeHighlighted(refs: readonly HighlightRef[], node: NodeView): boolean {
  if (refs.length === 0) return false;
  return isHighlighted(refs, { kind: "Node", name: node.name, labels: node.row?.labels ?? null });
}

/**
 * Whether the group of pods under `owner` is highlighted: its controller (a Deployment,
 * StatefulSet, DaemonSet, Job…) is named. Owners carry no labels here, so a reference that
 * narrows by labels only matches the pods themselves.
 */
export function groupHighlighted(refs: readonly HighlightRef[], owner: OwnerLabel): boolean {
  if (refs.length === 0 || owner.kind === null) return false;
  return isHighlighted(refs, { kind: owner.kind, namespace: owner.namespace, name: owner.name, labels: null });
}

/** Where the first highlighted thing is, to scroll to: an element's test id and a fallback. */
export interface HighlightSpot {
  /** Identifies the spot across renders: scroll again only when it changes. */
  readonly key: string;
  /** The highlighted element's `data-testid` (a tile may not be drawn while its panel is off screen). */
  readonly testId: string;
  /** The panel holding it, always drawn (as a placeholder when off screen). */
  readonly panelTestId: string;
}

/** The first highlighted spot in the map's reading order: the unscheduled lane, then the nodes. */
export function firstHighlighted(model: MapModel, refs: readonly HighlightRef[]): HighlightSpot | null {
  if (refs.length === 0) return null;
  for (const tile of model.unscheduled) {
    if (tileHighlighted(refs, tile)) {
      return { key: `pod/${tile.uid}`, testId: `map-pod-${tile.name}`, panelTestId: "map-unscheduled" };
    }
  }
  for (const node of model.nodes) {
    const panelTestId = `map-node-${node.name}`;
    if (nodeHighlighted(refs, node)) return { key: `node/${node.name}`, testId: panelTestId, panelTestId };
    for (const group of node.groups) {
      if (groupHighlighted(refs, group.owner)) {
        return { key: `group/${group.owner.key}@${node.name}`, testId: panelTestId, panelTestId };
      }
      const tile = group.tiles.find((t) => tileHighlighted(refs, t));
      if (tile) return { key: `pod/${tile.uid}@${node.name}`, testId: `map-pod-${tile.name}`, panelTestId };
    }
  }
  return null;
}
