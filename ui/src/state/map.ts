// The cluster map's model, derived from watched node, pod and ReplicaSet rows: one panel per
// node with its pods grouped by owner and its requests summed, the unscheduled lane, and the
// tiles kept on screen briefly after their pod went away so they can leave with an animation.
// Pure functions only, so the view stays a thin renderer and all of this is tested.
import type { NodeSummary, PodSummary, Row } from "../ipc/resources";

/** How a tile is coloured. */
export type TileTone = "ready" | "unready" | "pending" | "failed" | "succeeded" | "terminating";

/** One pod as the map draws it. */
export interface PodTile {
  /** `uid@node` (`uid@` while unscheduled): a pod that moves leaves one panel and enters another. */
  readonly key: string;
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly node: string | null;
  readonly phase: string;
  /** kubectl's STATUS column. */
  readonly status: string;
  readonly ready: boolean;
  readonly restarts: number;
  readonly tone: TileTone;
  /** The scheduler's reason while unscheduled. */
  readonly reason: string | null;
  readonly group: OwnerLabel;
  /** Set on a tile kept after its pod left, while it plays its exit animation. */
  readonly leaving: boolean;
  /** The row it was made from: unchanged rows keep their identity, so panels can skip renders. */
  readonly row: Row;
}

/** What pods are grouped under: their controller, with a ReplicaSet's Deployment resolved. */
export interface OwnerLabel {
  readonly key: string;
  /** `null` for pods nothing owns. */
  readonly kind: string | null;
  readonly name: string;
  readonly namespace: string;
}

export interface OwnerGroup {
  readonly owner: OwnerLabel;
  readonly tiles: readonly PodTile[];
}

/** Requested against allocatable, in millicores or bytes. */
export interface Usage {
  readonly requested: number;
  readonly allocatable: number;
}

export interface NodeView {
  readonly name: string;
  /** `null` when pods still name a node the cluster no longer has. */
  readonly row: Row | null;
  readonly ready: boolean;
  readonly reason: string | null;
  readonly cordoned: boolean;
  readonly roles: readonly string[];
  readonly hollow: boolean;
  readonly taints: readonly string[];
  readonly cpu: Usage;
  readonly memory: Usage;
  /** Tiles shown (namespace filter applied), leaving ones included. */
  readonly tileCount: number;
  readonly groups: readonly OwnerGroup[];
  /** The same tiles ungrouped, in arrival order: compared to tell whether the panel changed. */
  readonly tiles: readonly PodTile[];
}

export interface MapModel {
  readonly nodes: readonly NodeView[];
  readonly unscheduled: readonly PodTile[];
}

const FAILED_STATUSES = new Set([
  "CrashLoopBackOff",
  "Error",
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
  "OOMKilled",
  "ContainerStatusUnknown",
  "Evicted",
]);

/** The tile colour for a pod: what a glance at the map should tell. */
export function toneOf(pod: PodSummary, deleting: boolean): TileTone {
  if (deleting || pod.status === "Terminating") return "terminating";
  const status = pod.status.startsWith("Init:") ? pod.status.slice(5) : pod.status;
  if (pod.phase === "Failed" || FAILED_STATUSES.has(status)) return "failed";
  if (pod.phase === "Succeeded") return "succeeded";
  if (pod.phase === "Running") return pod.ready ? "ready" : "unready";
  if (pod.phase === "Pending") return "pending";
  return "unready";
}

function podSummary(row: Row): PodSummary | null {
  return row.summary.kind === "pod" ? row.summary : null;
}

function nodeSummary(row: Row): NodeSummary | null {
  return row.summary.kind === "node" ? row.summary : null;
}

/** The controller owner of `row` (or its first owner), with ReplicaSets resolved to Deployments. */
export function ownerLabel(row: Row, replicaSets: ReadonlyMap<string, Row>): OwnerLabel {
  const namespace = row.namespace ?? "";
  const ref = row.owners.find((o) => o.controller) ?? row.owners[0];
  if (!ref) return { key: `${namespace}/`, kind: null, name: "Standalone pods", namespace };
  let kind = ref.kind;
  let name = ref.name;
  if (kind === "ReplicaSet") {
    const rs = replicaSets.get(ref.uid);
    const deployment = rs?.owners.find((o) => o.controller && o.kind === "Deployment");
    if (deployment) {
      kind = deployment.kind;
      name = deployment.name;
    }
  }
  return { key: `${namespace}/${kind}/${name}`, kind, name, namespace };
}

function tileOf(row: Row, pod: PodSummary, replicaSets: ReadonlyMap<string, Row>): PodTile {
  return {
    key: `${row.uid}@${pod.node ?? ""}`,
    uid: row.uid,
    name: row.name,
    namespace: row.namespace ?? "",
    node: pod.node,
    phase: pod.phase,
    status: row.deleting ? "Terminating" : pod.status,
    ready: pod.ready,
    restarts: pod.restarts,
    tone: toneOf(pod, row.deleting),
    reason: pod.node === null ? pod.unschedulable : null,
    group: ownerLabel(row, replicaSets),
    leaving: false,
    row,
  };
}

/**
 * Tiles by row: rows that did not change keep their object across batches, so a batch of 100
 * changes among 10,000 pods builds 100 tiles. Rebuilt when the ReplicaSets (owners) changed.
 */
const tileCache = new WeakMap<Row, { replicaSets: ReadonlyMap<string, Row>; tile: PodTile }>();

function cachedTile(row: Row, pod: PodSummary, replicaSets: ReadonlyMap<string, Row>): PodTile {
  const hit = tileCache.get(row);
  if (hit?.replicaSets === replicaSets) return hit.tile;
  const tile = tileOf(row, pod, replicaSets);
  tileCache.set(row, { replicaSets, tile });
  return tile;
}

const collator = new Intl.Collator(undefined, { numeric: true });

function byName(a: { name: string }, b: { name: string }): number {
  return collator.compare(a.name, b.name);
}

/** Groups tiles by owner; owned groups by name, standalone pods last, tiles by name. */
export function groupByOwner(tiles: readonly PodTile[]): OwnerGroup[] {
  const groups = new Map<string, { owner: OwnerLabel; tiles: PodTile[] }>();
  for (const tile of tiles) {
    const group = groups.get(tile.group.key);
    if (group) group.tiles.push(tile);
    else groups.set(tile.group.key, { owner: tile.group, tiles: [tile] });
  }
  const sorted = [...groups.values()];
  for (const group of sorted) group.tiles.sort(byName);
  return sorted.sort((a, b) => {
    if ((a.owner.kind === null) !== (b.owner.kind === null)) return a.owner.kind === null ? 1 : -1;
    return (
      collator.compare(a.owner.namespace, b.owner.namespace) ||
      collator.compare(a.owner.name, b.owner.name) ||
      collator.compare(a.owner.kind ?? "", b.owner.kind ?? "")
    );
  });
}

/** Pods that still hold their node's resources (the scheduler ignores finished ones). */
function holdsResources(pod: PodSummary): boolean {
  return pod.phase !== "Succeeded" && pod.phase !== "Failed";
}

/**
 * The map for these rows. Requests count every pod on a node (the namespace filter changes
 * which tiles show, not how full a node is). Panels that draw the same as in `previous` (built
 * with the same namespace filter) are that model's objects, so memoised panels skip rendering
 * and only changed panels are regrouped: with 1,000 nodes one pod's change redraws one panel.
 */
export function buildMap(
  nodeRows: readonly Row[],
  podRows: readonly Row[],
  replicaSets: ReadonlyMap<string, Row>,
  namespace: string | null,
  previous: MapModel | null = null,
): MapModel {
  const requested = new Map<string, { cpu: number; memory: number }>();
  const tilesByNode = new Map<string, PodTile[]>();
  const unscheduled: PodTile[] = [];
  for (const row of podRows) {
    const pod = podSummary(row);
    if (!pod) continue;
    if (pod.node !== null && holdsResources(pod)) {
      const sum = requested.get(pod.node) ?? { cpu: 0, memory: 0 };
      sum.cpu += pod.cpuRequestMilli;
      sum.memory += pod.memoryRequestBytes;
      requested.set(pod.node, sum);
    }
    if (namespace !== null && row.namespace !== namespace) continue;
    const tile = cachedTile(row, pod, replicaSets);
    if (pod.node === null) {
      if (holdsResources(pod)) unscheduled.push(tile);
      continue;
    }
    const list = tilesByNode.get(pod.node);
    if (list) list.push(tile);
    else tilesByNode.set(pod.node, [tile]);
  }

  const before = new Map(previous?.nodes.map((n) => [n.name, n]));
  const nodes: NodeView[] = [];
  const seen = new Set<string>();
  for (const row of nodeRows) {
    const node = nodeSummary(row);
    if (!node) continue;
    seen.add(row.name);
    const tiles = tilesByNode.get(row.name) ?? [];
    const sum = requested.get(row.name) ?? { cpu: 0, memory: 0 };
    const old = before.get(row.name);
    if (old?.row === row && old.cpu.requested === sum.cpu && old.memory.requested === sum.memory && sameTiles(old.tiles, tiles)) {
      nodes.push(old);
      continue;
    }
    nodes.push({
      name: row.name,
      row,
      ready: node.ready,
      reason: node.ready ? null : (node.notReadyReason ?? "The node's kubelet has not reported Ready"),
      cordoned: node.unschedulable,
      roles: node.roles,
      hollow: node.hollow,
      taints: node.taints,
      cpu: { requested: sum.cpu, allocatable: node.cpuAllocatableMilli },
      memory: { requested: sum.memory, allocatable: node.memoryAllocatableBytes },
      tileCount: tiles.length,
      groups: groupByOwner(tiles),
      tiles,
    });
  }
  for (const [name, tiles] of tilesByNode) {
    if (seen.has(name)) continue;
    const sum = requested.get(name) ?? { cpu: 0, memory: 0 };
    const old = before.get(name);
    nodes.push(old?.row === null && sameTiles(old.tiles, tiles) ? old : missingNode(name, tiles, sum));
  }
  nodes.sort(byName);
  unscheduled.sort(byName);
  const lane = previous && sameTiles(previous.unscheduled, unscheduled) ? previous.unscheduled : unscheduled;
  return { nodes, unscheduled: lane };
}

function missingNode(name: string, tiles: PodTile[], sum: { cpu: number; memory: number }): NodeView {
  return {
    name,
    row: null,
    ready: false,
    reason: "This node is no longer in the cluster; its pods stay listed until they are deleted or evicted.",
    cordoned: false,
    roles: [],
    hollow: false,
    taints: [],
    cpu: { requested: sum.cpu, allocatable: 0 },
    memory: { requested: sum.memory, allocatable: 0 },
    tileCount: tiles.length,
    groups: groupByOwner(tiles),
    tiles,
  };
}

/** A tile kept on screen after its pod left, until `until` (ms, same clock as `now`). */
export interface LeavingTile {
  readonly tile: PodTile;
  readonly until: number;
}

/** Whether `model` shows a tile with `tile`'s key (in the panel or lane it would be in). */
function shows(model: MapModel, tile: PodTile): boolean {
  const tiles = tile.node === null ? model.unscheduled : model.nodes.find((n) => n.name === tile.node)?.tiles;
  return tiles?.some((t) => t.key === tile.key) ?? false;
}

/** Tiles of `previous` that `next` no longer shows; panels and lane unchanged by identity are skipped. */
function departed(previous: MapModel, next: MapModel): PodTile[] {
  const after = new Map(next.nodes.map((n) => [n.name, n]));
  const gone: PodTile[] = [];
  const diff = (was: readonly PodTile[], now: readonly PodTile[] | undefined) => {
    if (was === now) return;
    const keys = new Set(now?.map((t) => t.key));
    for (const tile of was) if (!keys.has(tile.key)) gone.push(tile);
  };
  for (const node of previous.nodes) diff(node.tiles, after.get(node.name)?.tiles);
  diff(previous.unscheduled, next.unscheduled);
  return gone;
}

/**
 * The tiles to keep for an exit animation: tiles in `previous` but not in `next` join for `ms`;
 * ones already leaving stay until they expire or their key comes back. When more than `burst`
 * leave at once (a node removed with thousands of pods) none are kept: animating that many
 * would stutter and tell nothing.
 */
export function trackLeaving(
  previous: MapModel,
  next: MapModel,
  leaving: readonly LeavingTile[],
  now: number,
  ms: number,
  burst = 500,
): LeavingTile[] {
  const kept = leaving.filter((l) => l.until > now && !shows(next, l.tile));
  const gone = departed(previous, next);
  if (gone.length === 0 || gone.length > burst) return kept;
  const keys = new Set(kept.map((l) => l.tile.key));
  for (const tile of gone) {
    if (!keys.has(tile.key)) kept.push({ tile: { ...tile, leaving: true }, until: now + ms });
  }
  return kept;
}

/** `model` with leaving tiles put back in their panels or lane; untouched panels keep identity. */
export function withLeaving(model: MapModel, leaving: readonly LeavingTile[]): MapModel {
  if (leaving.length === 0) return model;
  const byNode = new Map<string, PodTile[]>();
  const lane: PodTile[] = [];
  for (const { tile } of leaving) {
    if (tile.node === null) {
      lane.push(tile);
      continue;
    }
    const list = byNode.get(tile.node);
    if (list) list.push(tile);
    else byNode.set(tile.node, [tile]);
  }
  const nodes = model.nodes.map((node) => {
    const extra = byNode.get(node.name);
    if (!extra) return node;
    const tiles = node.tiles.concat(extra);
    return { ...node, tileCount: tiles.length, groups: groupByOwner(tiles), tiles };
  });
  const unscheduled = lane.length === 0 ? model.unscheduled : [...model.unscheduled, ...lane].sort(byName);
  return { nodes, unscheduled };
}

function sameTiles(a: readonly PodTile[], b: readonly PodTile[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((tile, i) => {
    const other = b[i];
    return (
      other !== undefined &&
      tile.row === other.row &&
      tile.leaving === other.leaving &&
      tile.group.key === other.group.key
    );
  });
}

/** Whether two panels would draw the same. */
export function sameNodeView(a: NodeView, b: NodeView): boolean {
  if (a === b) return true;
  if (a.row !== b.row || a.name !== b.name || a.groups.length !== b.groups.length) return false;
  if (a.cpu.requested !== b.cpu.requested || a.memory.requested !== b.memory.requested) return false;
  return a.groups.every((group, i) => {
    const other = b.groups[i];
    return other !== undefined && group.owner.key === other.owner.key && sameTiles(group.tiles, other.tiles);
  });
}

/**
 * `next` with every panel that draws the same as in `previous` replaced by the previous object
 * (for models with leaving tiles merged in, which `buildMap` cannot reuse by itself).
 */
export function reusePanels(previous: MapModel | null, next: MapModel): MapModel {
  if (!previous) return next;
  const old = new Map(previous.nodes.map((n) => [n.name, n]));
  const nodes = next.nodes.map((node) => {
    const before = old.get(node.name);
    return before && sameNodeView(before, node) ? before : node;
  });
  const unscheduled = sameTiles(previous.unscheduled, next.unscheduled) ? previous.unscheduled : next.unscheduled;
  return { nodes, unscheduled };
}

/** The first `limit` tiles across groups (a panel's "+N more" cap); `hidden` counts the rest. */
export function capGroups(
  groups: readonly OwnerGroup[],
  limit: number,
): { groups: readonly OwnerGroup[]; hidden: number } {
  let left = limit;
  let hidden = 0;
  const shown: OwnerGroup[] = [];
  for (const group of groups) {
    if (left >= group.tiles.length) {
      shown.push(group);
      left -= group.tiles.length;
      continue;
    }
    if (left > 0) shown.push({ owner: group.owner, tiles: group.tiles.slice(0, left) });
    hidden += group.tiles.length - Math.max(left, 0);
    left = 0;
  }
  return { groups: shown, hidden };
}

/** Millicores as kubectl writes CPU: `250m`, `1.5`, `4`. */
export function formatCpu(milli: number): string {
  if (milli < 1000) return `${String(Math.round(milli))}m`;
  return String(Math.round(milli / 100) / 10);
}

const UNITS = ["", "Ki", "Mi", "Gi", "Ti"] as const;

/** Bytes in binary units, as Kubernetes quantities read: `512Mi`, `7.8Gi`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const rounded = value >= 100 || unit === 0 ? Math.round(value) : Math.round(value * 10) / 10;
  return `${String(rounded)}${UNITS[unit] ?? ""}`;
}

/** Requested as a share of allocatable, 0–1 (over-commit is shown full). */
export function usageRatio(usage: Usage): number {
  if (usage.allocatable <= 0) return usage.requested > 0 ? 1 : 0;
  return Math.min(1, usage.requested / usage.allocatable);
}
