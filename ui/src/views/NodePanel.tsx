// One node on the cluster map: its state, how full it is, and its pods as tiles grouped by owner.
// Memoised on the panel's NodeView (kept identical while nothing on the node changed) and drawn
// only while near the screen, so a 1,000-node map re-renders just the panels that moved.
import { memo, useRef, useState, type MouseEvent } from "react";
import { ActionsMenu } from "../actions/ActionsMenu";
import { useCurrentCluster } from "../state/clusters";
import type { HighlightRef } from "../state/highlight";
import { groupHighlighted, nodeHighlighted, tileHighlighted } from "../state/mapHighlight";
import { navigate } from "../shell/route";
import {
  capGroups,
  formatBytes,
  formatCpu,
  usageRatio,
  type NodeView,
  type OwnerGroup,
  type PodTile,
  type Usage,
} from "../state/map";
import { useInView } from "./useInView";
import "./chips.css";

/** Tiles a panel shows before "+N more"; past this a panel would dwarf its neighbours. */
const TILE_CAP = 60;
/** Above this many tiles a panel draws small squares without names. */
const COMPACT_FROM = 24;

/** Opens a pod's details from a click on (or Enter in) one of the tiles below `event.target`. */
export function openTile(event: MouseEvent<HTMLElement>): void {
  const target = event.target;
  if (!(target instanceof Element)) return;
  const tile = target.closest<HTMLElement>("[data-pod-name]");
  const name = tile?.dataset.podName;
  if (!tile || !name) return;
  navigate({ view: "details", resource: "pods", namespace: tile.dataset.podNamespace ?? null, name });
}

function tileTitle(tile: PodTile): string {
  const pod = tile.row.summary.kind === "pod" ? tile.row.summary : null;
  const containers = pod ? ` · ${String(pod.readyContainers)}/${String(pod.totalContainers)} ready` : "";
  const restarts = tile.restarts > 0 ? ` · ${String(tile.restarts)} restarts` : "";
  const gone = tile.leaving ? " · gone" : "";
  return `${tile.namespace}/${tile.name}\n${tile.status}${containers}${restarts}${gone}\nClick for details`;
}

/** The part of a pod's name after its owner's (`web-7d9f-x2k` under `web` → `7d9f-x2k`). */
function shortName(tile: PodTile): string {
  const prefix = `${tile.group.name}-`;
  return tile.group.kind !== null && tile.name.startsWith(prefix) ? tile.name.slice(prefix.length) : tile.name;
}

interface TileProps {
  tile: PodTile;
  compact: boolean;
  enter: boolean;
  /** Named by a lesson's highlight: drawn with a ring. */
  highlighted?: boolean;
}

/** One pod tile: a button so it is reachable by keyboard; clicks are handled by the container. */
export function Tile({ tile, compact, enter, highlighted = false }: TileProps) {
  const classes = `tile tone-${tile.tone}${tile.leaving ? " leaving" : enter ? " entering" : ""}${compact ? " compact" : ""}${highlighted ? " highlighted" : ""}`;
  return (
    <button
      type="button"
      className={classes}
      title={tileTitle(tile)}
      aria-label={`Pod ${tile.name}, ${tile.status}`}
      data-testid={tile.leaving ? undefined : `map-pod-${tile.name}`}
      data-pod-name={tile.name}
      data-pod-namespace={tile.namespace}
      data-node={tile.node ?? ""}
      data-phase={tile.phase}
      data-ready={String(tile.ready)}
      data-highlighted={highlighted ? "true" : undefined}
      tabIndex={tile.leaving ? -1 : 0}
    >
      {!compact && <span className="tile-name">{shortName(tile)}</span>}
      {tile.restarts > 0 && <span className="tile-restarts">{tile.restarts}</span>}
    </button>
  );
}

function UsageBar({ label, usage, format }: { label: string; usage: Usage; format: (n: number) => string }) {
  const ratio = usageRatio(usage);
  const over = usage.allocatable > 0 && usage.requested > usage.allocatable;
  const text = `${format(usage.requested)} / ${usage.allocatable > 0 ? format(usage.allocatable) : "?"}`;
  return (
    <div className="usage" title={`${label} requested by pods on this node / allocatable: ${text}`}>
      <span className="usage-label">{label}</span>
      <span className="bar" role="meter" aria-label={`${label} requested`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(ratio * 100)}>
        <span className={over ? "bar-fill over" : ratio > 0.85 ? "bar-fill high" : "bar-fill"} style={{ width: `${String(ratio * 100)}%` }} />
      </span>
      <span className="usage-text">{text}</span>
    </div>
  );
}

interface GroupProps {
  group: OwnerGroup;
  compact: boolean;
  showNamespace: boolean;
  /** Tiles drawn when the panel appeared: they were there already and do not animate in. */
  initial: ReadonlySet<string>;
  highlight: readonly HighlightRef[];
}

function GroupTiles({ group, compact, showNamespace, initial, highlight }: GroupProps) {
  const marked = groupHighlighted(highlight, group.owner);
  return (
    <div className={marked ? "owner-group highlighted" : "owner-group"} data-highlighted={marked ? "true" : undefined}>
      <div className="owner-label" title={`${group.owner.kind ?? "No owner"} ${group.owner.namespace}/${group.owner.name}`}>
        {group.owner.kind && <span className="owner-kind">{group.owner.kind}</span>}
        <span className="owner-name">
          {showNamespace && group.owner.kind !== null ? <span className="owner-kind">{group.owner.namespace}/</span> : null}
          {group.owner.name}
          {showNamespace && group.owner.kind === null ? <span className="owner-kind"> in {group.owner.namespace}</span> : null}
        </span>
      </div>
      <div className="tiles">
        {group.tiles.map((tile) => (
          <Tile key={tile.key} tile={tile} compact={compact} enter={!initial.has(tile.key)} highlighted={tileHighlighted(highlight, tile)} />
        ))}
      </div>
    </div>
  );
}

interface PanelProps {
  node: NodeView;
  showNamespace: boolean;
  /** What a lesson highlights (state/highlight.ts); the same array while it is unchanged. */
  highlight: readonly HighlightRef[];
}

function PanelBody({ node, showNamespace, highlight }: PanelProps) {
  const cluster = useCurrentCluster();
  const [expanded, setExpanded] = useState(false);
  const [initial] = useState(() => new Set(node.tiles.map((t) => t.key)));
  const compact = node.tileCount > COMPACT_FROM;
  const { groups, hidden } = expanded ? { groups: node.groups, hidden: 0 } : capGroups(node.groups, TILE_CAP);
  return (
    <>
      <header className="node-header">
        <button
          type="button"
          className="node-name"
          title="Open the node's details"
          onClick={() => {
            if (node.row) navigate({ view: "details", resource: "nodes", namespace: null, name: node.name });
          }}
        >
          <span className={node.ready ? "dot dot-connected" : "dot dot-failed"} aria-hidden="true" />
          {node.name}
        </button>
        <span className={node.ready ? "chip chip-ok" : "chip chip-bad"}>{node.ready ? "Ready" : "NotReady"}</span>
        {node.cordoned && (
          <span className="chip chip-warn" title="Cordoned: the scheduler places no new pods here. Uncordon it from the actions menu.">
            Cordoned
          </span>
        )}
        {node.roles.map((role) => (
          <span key={role} className="chip">
            {role}
          </span>
        ))}
        {node.hollow && (
          <span className="chip chip-muted" title="Hollow node: its pods are simulated, no containers run">
            hollow
          </span>
        )}
        {node.taints.length > 0 && (
          <span className="chip chip-muted" title={`Taints:\n${node.taints.join("\n")}`}>
            {node.taints.length === 1 ? "1 taint" : `${String(node.taints.length)} taints`}
          </span>
        )}
        <span className="spacer" />
        {node.row && <ActionsMenu cluster={cluster} resource="nodes" row={node.row} />}
      </header>
      {node.reason && <p className="node-reason">{node.reason}</p>}
      <div className="usages">
        <UsageBar label="CPU" usage={node.cpu} format={formatCpu} />
        <UsageBar label="Memory" usage={node.memory} format={formatBytes} />
        <div className="usage">
          <span className="usage-label">Pods</span>
          <span className="usage-text">
            {node.tileCount}
            {showNamespace ? "" : " in this namespace"}
          </span>
        </div>
      </div>
      {/* One click handler for every tile (they are buttons, so Enter clicks them too). */}
      <div className="node-pods" onClick={openTile}>
        {groups.length === 0 && <p className="muted small">No pods{showNamespace ? "" : " in this namespace"}.</p>}
        {groups.map((group) => (
          <GroupTiles
            key={group.owner.key}
            group={group}
            compact={compact}
            showNamespace={showNamespace}
            initial={initial}
            highlight={highlight}
          />
        ))}
        {(hidden > 0 || expanded) && node.tileCount > TILE_CAP && (
          <button
            type="button"
            className="more"
            onClick={() => {
              setExpanded(!expanded);
            }}
          >
            {expanded ? "Show fewer" : `+${String(hidden)} more`}
          </button>
        )}
      </div>
    </>
  );
}

/** A rough height for a panel never drawn yet, so the scrollbar is about right. */
function estimateHeight(node: NodeView): number {
  const tiles = Math.min(node.tileCount, TILE_CAP);
  const perRow = node.tileCount > COMPACT_FROM ? 16 : 4;
  return 110 + node.groups.length * 22 + Math.ceil(tiles / perRow) * 28;
}

function Panel({ node, showNamespace, highlight }: PanelProps) {
  const ref = useRef<HTMLElement>(null);
  const { visible, height } = useInView(ref);
  const marked = nodeHighlighted(highlight, node);
  return (
    <section
      ref={ref}
      className={`map-node${node.ready ? "" : " not-ready"}${marked ? " highlighted" : ""}`}
      data-testid={`map-node-${node.name}`}
      data-ready={String(node.ready)}
      data-highlighted={marked ? "true" : undefined}
      aria-label={`Node ${node.name}`}
      style={visible ? undefined : { height: height > 0 ? height : estimateHeight(node) }}
    >
      {visible ? <PanelBody node={node} showNamespace={showNamespace} highlight={highlight} /> : <span className="node-name placeholder-name">{node.name}</span>}
    </section>
  );
}

/** A node panel; re-renders only when its NodeView object changes (see `reusePanels`). */
export const NodePanel = memo(Panel);
