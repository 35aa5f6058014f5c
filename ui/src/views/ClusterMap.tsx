// Home: the cluster map. Every node a panel with its pods as tiles, unscheduled pods in a lane
// of their own, all derived from live node/pod/ReplicaSet watches (see state/map.ts). What a
// lesson highlights (state/highlight.ts) is ringed and scrolled to; Learn embeds the map in a
// compact layout narrowed to the lesson's namespace.
import { useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { useNamespace } from "../shell/route";
import { LeavingTiles } from "../state/leaving";
import { buildMap, reusePanels, withLeaving, type MapModel, type PodTile } from "../state/map";
import { useResources } from "../state/resources";
import { LOCAL, type Row } from "../ipc/resources";
import { useCurrentCluster } from "../state/clusters";
import { useHighlight, type HighlightRef } from "../state/highlight";
import { firstHighlighted, tileHighlighted, type HighlightSpot } from "../state/mapHighlight";
import { NodePanel, openTile, Tile } from "./NodePanel";
import { WatchTrouble } from "./WatchTrouble";
import "./map.css";

function prefersReducedMotion(): boolean {
  return typeof window.matchMedia === "function" && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

/** The map for the current rows, built on the previous one so unchanged panels keep identity. */
function useMapModel(nodes: readonly Row[], pods: readonly Row[], replicaSets: ReadonlyMap<string, Row>, namespace: string | null): MapModel {
  const [last, setLast] = useState<{ nodes: readonly Row[]; pods: readonly Row[]; replicaSets: ReadonlyMap<string, Row>; namespace: string | null; model: MapModel } | null>(null);
  if (last && last.nodes === nodes && last.pods === pods && last.replicaSets === replicaSets && last.namespace === namespace) {
    return last.model;
  }
  const model = buildMap(nodes, pods, replicaSets, namespace, last?.namespace === namespace ? last.model : null);
  setLast({ nodes, pods, replicaSets, namespace, model });
  return model;
}

/** Keeps the previous model's unchanged panels, so memoised panels skip rendering. */
function usePanelReuse(model: MapModel): MapModel {
  const [kept, setKept] = useState<{ input: MapModel; output: MapModel } | null>(null);
  if (kept?.input === model) return kept.output;
  const output = reusePanels(kept?.output ?? null, model);
  setKept({ input: model, output });
  return output;
}

/** Scrolls the first highlighted spot into view when it (or the highlight) changes. */
function useScrollToHighlight(root: React.RefObject<HTMLElement | null>, spot: HighlightSpot | null, refs: readonly HighlightRef[]): void {
  const last = useRef<{ refs: readonly HighlightRef[]; key: string } | null>(null);
  useEffect(() => {
    const element = root.current;
    if (!spot || !element) return;
    if (last.current?.refs === refs && last.current.key === spot.key) return;
    const byTestId = (id: string) => element.querySelector(`[data-testid="${typeof CSS === "undefined" ? id : CSS.escape(id)}"]`);
    // A tile is not drawn while its panel is off screen; the panel (or its placeholder) always is.
    const target = byTestId(spot.testId) ?? byTestId(spot.panelTestId);
    if (!target) return;
    last.current = { refs, key: spot.key };
    target.scrollIntoView({ block: "nearest", behavior: prefersReducedMotion() ? "auto" : "smooth" });
  }, [root, spot, refs]);
}

function UnscheduledLane({ tiles, highlight }: { tiles: readonly PodTile[]; highlight: readonly HighlightRef[] }) {
  return (
    <section className="map-unscheduled" data-testid="map-unscheduled" aria-label="Unscheduled pods">
      <h2>Unscheduled pods</h2>
      {tiles.length === 0 ? (
        <p className="muted small">Every pod has a node.</p>
      ) : (
        <ul className="unscheduled-list" onClick={openTile}>
          {tiles.map((tile) => (
            <li key={tile.key} className={tile.leaving ? "unscheduled-item leaving" : "unscheduled-item"}>
              <Tile tile={tile} compact enter={false} highlighted={tileHighlighted(highlight, tile)} />
              <span className="unscheduled-name">
                {tile.namespace}/{tile.name}
              </span>
              <span className="unscheduled-reason">{tile.reason ?? "Waiting for the scheduler to pick a node."}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Legend() {
  const tones: [string, string][] = [
    ["ready", "Running, ready"],
    ["unready", "Running, not ready"],
    ["pending", "Pending"],
    ["failed", "Failed / crashing"],
    ["succeeded", "Completed"],
    ["terminating", "Terminating"],
  ];
  return (
    <ul className="map-legend" aria-label="Tile colours">
      {tones.map(([tone, label]) => (
        <li key={tone}>
          <span className={`tile compact tone-${tone}`} aria-hidden="true" />
          {label}
        </li>
      ))}
    </ul>
  );
}

/** How a page embeds the map; the home page passes nothing. */
export interface ClusterMapProps {
  /** A smaller layout for a side pane (Learn): a small header, no legend, narrower panels, no empty unscheduled lane. */
  readonly compact?: boolean;
  /** Show only this namespace's pods (`null`: every namespace); by default the namespace picked in the sidebar. */
  readonly namespace?: string | null;
}

/** The cluster map: nodes as panels, pods as tiles. */
export function ClusterMap({ compact = false, namespace: only }: ClusterMapProps = {}): React.JSX.Element {
  const picked = useNamespace();
  const namespace = only === undefined ? picked : only;
  const local = useCurrentCluster() === LOCAL;
  const nodes = useResources("nodes");
  // Every namespace's pods: a node's requests count them all; the filter only hides tiles.
  const pods = useResources("pods");
  const replicaSets = useResources("replicasets");

  const base = useMapModel(nodes.rows, pods.rows, replicaSets.byUid, namespace);

  const [leavingStore] = useState(() => new LeavingTiles());
  // The snapshot doubles as the server one, so the map renders in markup tests too.
  const leaving = useSyncExternalStore(leavingStore.subscribe, leavingStore.snapshot, leavingStore.snapshot);
  // Before paint, so a deleted pod's tile goes straight from shown to leaving.
  useLayoutEffect(() => {
    leavingStore.observe(base, namespace ?? "", !prefersReducedMotion());
  }, [leavingStore, base, namespace]);
  const shown = useMemo(() => withLeaving(base, leaving), [base, leaving]);
  const model = usePanelReuse(shown);

  const loading = nodes.state === "syncing" && nodes.rows.length === 0;
  const podCount = useMemo(() => model.nodes.reduce((n, node) => n + node.tileCount, 0), [model]);

  const highlight = useHighlight();
  const spot = useMemo(() => firstHighlighted(model, highlight), [model, highlight]);
  const root = useRef<HTMLDivElement>(null);
  useScrollToHighlight(root, spot, highlight);

  return (
    <div ref={root} className={compact ? "cluster-map compact" : "cluster-map"} data-highlighting={highlight.length > 0 ? "true" : undefined}>
      <header className="view-header map-header">
        {compact ? <h2>Cluster map</h2> : <h1>Cluster map</h1>}
        <span className="muted">
          {model.nodes.length} {model.nodes.length === 1 ? "node" : "nodes"} · {podCount}{" "}
          {podCount === 1 ? "pod" : "pods"}
          {namespace ? ` in ${namespace}` : ""}
          {model.unscheduled.length > 0 ? ` · ${String(model.unscheduled.length)} unscheduled` : ""}
        </span>
        <span className="spacer" />
        {!compact && <Legend />}
      </header>
      <WatchTrouble
        watches={[
          ["nodes", nodes],
          ["pods", pods],
          ["ReplicaSets", replicaSets],
        ]}
      />
      <div className="map-body">
        {loading ? (
          <p className="muted">Loading nodes and pods from the cluster…</p>
        ) : model.nodes.length === 0 ? (
          <p className="muted">
            {local
              ? "The cluster has no nodes yet. Nodes register a few seconds after the cluster starts; add one from the command palette if none appear."
              : "No nodes to show: the cluster lists none, or your credentials may not list nodes (see above)."}
          </p>
        ) : null}
        {(!compact || model.unscheduled.length > 0) && <UnscheduledLane tiles={model.unscheduled} highlight={highlight} />}
        <div className="map-nodes">
          {model.nodes.map((node) => (
            <NodePanel key={node.name} node={node} showNamespace={namespace === null} highlight={highlight} />
          ))}
        </div>
      </div>
    </div>
  );
}
