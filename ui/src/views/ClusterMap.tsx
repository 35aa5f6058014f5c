// Home: the cluster map. Every node a panel with its pods as tiles, unscheduled pods in a lane
// of their own, all derived from live node/pod/ReplicaSet watches (see state/map.ts).
import { useLayoutEffect, useMemo, useState, useSyncExternalStore } from "react";
import { useNamespace } from "../shell/route";
import { LeavingTiles } from "../state/leaving";
import { buildMap, reusePanels, withLeaving, type MapModel, type PodTile } from "../state/map";
import { useResources } from "../state/resources";
import { LOCAL, type Row } from "../ipc/resources";
import { useCurrentCluster } from "../state/clusters";
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

function UnscheduledLane({ tiles }: { tiles: readonly PodTile[] }) {
  return (
    <section className="map-unscheduled" data-testid="map-unscheduled" aria-label="Unscheduled pods">
      <h2>Unscheduled pods</h2>
      {tiles.length === 0 ? (
        <p className="muted small">Every pod has a node.</p>
      ) : (
        <ul className="unscheduled-list" onClick={openTile}>
          {tiles.map((tile) => (
            <li key={tile.key} className={tile.leaving ? "unscheduled-item leaving" : "unscheduled-item"}>
              <Tile tile={tile} compact enter={false} />
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

/** The cluster map: nodes as panels, pods as tiles. */
export function ClusterMap(): React.JSX.Element {
  const namespace = useNamespace();
  const local = useCurrentCluster() === LOCAL;
  const nodes = useResources("nodes");
  // Every namespace's pods: a node's requests count them all; the filter only hides tiles.
  const pods = useResources("pods");
  const replicaSets = useResources("replicasets");

  const base = useMapModel(nodes.rows, pods.rows, replicaSets.byUid, namespace);

  const [leavingStore] = useState(() => new LeavingTiles());
  const leaving = useSyncExternalStore(leavingStore.subscribe, leavingStore.snapshot);
  // Before paint, so a deleted pod's tile goes straight from shown to leaving.
  useLayoutEffect(() => {
    leavingStore.observe(base, namespace ?? "", !prefersReducedMotion());
  }, [leavingStore, base, namespace]);
  const shown = useMemo(() => withLeaving(base, leaving), [base, leaving]);
  const model = usePanelReuse(shown);

  const loading = nodes.state === "syncing" && nodes.rows.length === 0;
  const podCount = useMemo(() => model.nodes.reduce((n, node) => n + node.tileCount, 0), [model]);

  return (
    <div className="cluster-map">
      <header className="view-header map-header">
        <h1>Cluster map</h1>
        <span className="muted">
          {model.nodes.length} {model.nodes.length === 1 ? "node" : "nodes"} · {podCount}{" "}
          {podCount === 1 ? "pod" : "pods"}
          {namespace ? ` in ${namespace}` : ""}
          {model.unscheduled.length > 0 ? ` · ${String(model.unscheduled.length)} unscheduled` : ""}
        </span>
        <span className="spacer" />
        <Legend />
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
        <UnscheduledLane tiles={model.unscheduled} />
        <div className="map-nodes">
          {model.nodes.map((node) => (
            <NodePanel key={node.name} node={node} showNamespace={namespace === null} />
          ))}
        </div>
      </div>
    </div>
  );
}
