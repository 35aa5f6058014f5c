// The topology graph: how the namespace's objects connect (Ingress → Service → Pods ← ReplicaSet
// ← Deployment, StatefulSet → Pods → PVCs, ConfigMaps/Secrets → Pods), live from watches, laid
// out by dagre and drawn as SVG with wheel zoom and drag to pan. Click an object for its details.
import { useEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { navigate, useNamespace } from "../shell/route";
import { useResources, type ResourceSnapshot } from "../state/resources";
import { buildTopology, type Graph, type GraphNode, type TopologyInput } from "../state/topology";
import { NODE_HEIGHT, NODE_WIDTH, type Layout, type Point } from "../state/topologyLayout";
import { useLayout } from "./useLayout";
import { WatchTrouble } from "./WatchTrouble";
import "./topology.css";

/** Past this many boxes a graph is unreadable and slow to lay out: ask for a namespace. */
const MAX_NODES = 800;

interface View {
  readonly x: number;
  readonly y: number;
  readonly k: number;
}

function useTopologyInput(namespace: string | null): { input: TopologyInput; watches: [string, ResourceSnapshot][] } {
  const ingresses = useResources("ingresses", namespace);
  const services = useResources("services", namespace);
  const deployments = useResources("deployments", namespace);
  const replicasets = useResources("replicasets", namespace);
  const statefulsets = useResources("statefulsets", namespace);
  const daemonsets = useResources("daemonsets", namespace);
  const jobs = useResources("jobs", namespace);
  const cronjobs = useResources("cronjobs", namespace);
  const pods = useResources("pods", namespace);
  const configmaps = useResources("configmaps", namespace);
  const secrets = useResources("secrets", namespace);
  const persistentvolumeclaims = useResources("persistentvolumeclaims", namespace);
  const snapshots = { ingresses, services, deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs, pods, configmaps, secrets, persistentvolumeclaims };
  const input: TopologyInput = {
    ingresses: ingresses.rows,
    services: services.rows,
    deployments: deployments.rows,
    replicasets: replicasets.rows,
    statefulsets: statefulsets.rows,
    daemonsets: daemonsets.rows,
    jobs: jobs.rows,
    cronjobs: cronjobs.rows,
    pods: pods.rows,
    configmaps: configmaps.rows,
    secrets: secrets.rows,
    persistentvolumeclaims: persistentvolumeclaims.rows,
  };
  return { input, watches: Object.entries(snapshots) };
}

/** Builds the graph when any input changes (the same rows give the same graph object). */
function useGraph(input: TopologyInput): Graph {
  const [memo, setMemo] = useState<{ input: TopologyInput; graph: Graph } | null>(null);
  const same = memo !== null && Object.keys(input).every((k) => input[k as keyof TopologyInput] === memo.input[k as keyof TopologyInput]);
  if (same) return memo.graph;
  const graph = buildTopology(input);
  setMemo({ input, graph });
  return graph;
}

/**
 * The whole graph in view, unless that would make its text unreadable: then readable size from
 * the top-left corner, and the rest a drag or a wheel away.
 */
function fit(layout: Layout, width: number, height: number): View {
  if (layout.width === 0 || width === 0) return { x: 0, y: 0, k: 1 };
  const k = Math.min(1.2, Math.max(0.5, Math.min(width / layout.width, height / layout.height)));
  const x = layout.width * k <= width ? (width - layout.width * k) / 2 : 10;
  const y = layout.height * k <= height ? (height - layout.height * k) / 2 : 10;
  return { x, y, k };
}

function pathOf(points: readonly Point[]): string {
  return points.map((p, i) => `${i === 0 ? "M" : "L"}${String(p.x)},${String(p.y)}`).join(" ");
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function open(node: GraphNode): void {
  if (node.missing) return;
  // A bundle of alike pods has no one object to show: the pod list has them all.
  if (node.count > 1) navigate({ view: "browse", resource: node.resource });
  else navigate({ view: "details", resource: node.resource, namespace: node.namespace, name: node.name });
}

function GraphBox({ node, at }: { node: GraphNode; at: Point }) {
  const label = `${node.kind} ${node.namespace ? `${node.namespace}/` : ""}${node.name}${node.detail ? ` — ${node.detail}` : ""}`;
  const action = node.count > 1 ? "Open the pod list" : "Open details";
  return (
    <g
      className={`topo-node tone-${node.tone}${node.missing ? " missing" : ""}`}
      transform={`translate(${String(at.x)},${String(at.y)})`}
      role={node.missing ? "img" : "button"}
      tabIndex={node.missing ? -1 : 0}
      aria-label={node.missing ? `${label}: referenced but not in the cluster` : `${label}. ${action}`}
      data-kind={node.kind}
      data-name={node.name}
      onClick={() => {
        open(node);
      }}
      onKeyDown={(e: KeyboardEvent) => {
        if (e.key === "Enter") open(node);
      }}
    >
      <title>{node.missing ? `${label}: referenced but not in the cluster; create it or fix the reference` : `${label}\n${action}`}</title>
      {node.count > 1 && <rect className="topo-stack" x={5} y={-5} width={NODE_WIDTH} height={NODE_HEIGHT} rx={7} />}
      <rect className="topo-box" width={NODE_WIDTH} height={NODE_HEIGHT} rx={7} />
      <rect className="topo-stripe" width={5} height={NODE_HEIGHT} rx={2} />
      <text className="topo-kind" x={12} y={14}>
        {node.kind}
      </text>
      <text className="topo-name" x={12} y={29}>
        {clip(node.name, 26)}
      </text>
      <text className="topo-detail" x={12} y={41}>
        {clip(node.detail, 30)}
      </text>
    </g>
  );
}

function Canvas({ graph, layout, scope }: { graph: Graph; layout: Layout; scope: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ width: 0, height: 0 });
  const [chosen, setChosen] = useState<{ scope: string; view: View } | null>(null);
  const drag = useRef<{ x: number; y: number; view: View; moved: boolean } | null>(null);
  const view = chosen?.scope === scope ? chosen.view : fit(layout, size.width, size.height);

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setSize({ width: entry.contentRect.width, height: entry.contentRect.height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
    };
  }, []);

  // A native listener: React's wheel handlers are passive and cannot stop the page scrolling.
  const viewRef = useRef(view);
  useEffect(() => {
    viewRef.current = view;
  });
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const rect = element.getBoundingClientRect();
      const px = e.clientX - rect.left;
      const py = e.clientY - rect.top;
      const current = viewRef.current;
      const k = Math.min(4, Math.max(0.05, current.k * Math.exp(-e.deltaY * 0.0015)));
      const next = { k, x: px - ((px - current.x) * k) / current.k, y: py - ((py - current.y) * k) / current.k };
      setChosen({ scope, view: next });
    };
    element.addEventListener("wheel", onWheel, { passive: false });
    return () => {
      element.removeEventListener("wheel", onWheel);
    };
  }, [scope]);

  function onPointerDown(e: PointerEvent<SVGSVGElement>) {
    if (e.button !== 0) return;
    drag.current = { x: e.clientX, y: e.clientY, view, moved: false };
  }
  function onPointerMove(e: PointerEvent<SVGSVGElement>) {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved && Math.hypot(dx, dy) < 4) return;
    if (!d.moved) e.currentTarget.setPointerCapture(e.pointerId);
    d.moved = true;
    setChosen({ scope, view: { ...d.view, x: d.view.x + dx, y: d.view.y + dy } });
  }
  function onPointerUp(e: PointerEvent<SVGSVGElement>) {
    const d = drag.current;
    drag.current = null;
    if (d?.moved) {
      e.currentTarget.releasePointerCapture(e.pointerId);
      // The click that ends a drag must not open whatever is under the pointer.
      const swallow = (click: MouseEvent) => {
        click.stopPropagation();
      };
      window.addEventListener("click", swallow, { capture: true, once: true });
      setTimeout(() => {
        window.removeEventListener("click", swallow, { capture: true });
      }, 0);
    }
  }
  function zoomBy(factor: number) {
    const cx = size.width / 2;
    const cy = size.height / 2;
    const k = Math.min(4, Math.max(0.05, view.k * factor));
    setChosen({ scope, view: { k, x: cx - ((cx - view.x) * k) / view.k, y: cy - ((cy - view.y) * k) / view.k } });
  }

  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  return (
    <div className="topo-canvas" ref={box}>
      <div className="topo-tools">
        <button type="button" onClick={() => { zoomBy(1.25); }} aria-label="Zoom in">+</button>
        <button type="button" onClick={() => { zoomBy(0.8); }} aria-label="Zoom out">−</button>
        <button type="button" onClick={() => { setChosen(null); }}>Fit</button>
      </div>
      <svg
        className="topo-svg"
        width="100%"
        height="100%"
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => (drag.current = null)}
      >
        <defs>
          <marker id="topo-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="topo-arrowhead" />
          </marker>
        </defs>
        <g transform={`translate(${String(view.x)},${String(view.y)}) scale(${String(view.k)})`}>
          {graph.edges.map((edge) => {
            const points = layout.edges.get(`${edge.from}>${edge.to}`);
            if (!points || points.length === 0) return null;
            return <path key={`${edge.from}>${edge.to}:${edge.kind}`} className={`topo-edge edge-${edge.kind}`} d={pathOf(points)} markerEnd="url(#topo-arrow)" />;
          })}
          {[...layout.positions].map(([id, at]) => {
            const node = byId.get(id);
            return node ? <GraphBox key={id} node={node} at={at} /> : null;
          })}
        </g>
      </svg>
    </div>
  );
}

function Legend() {
  const edges: [string, string][] = [
    ["routes", "routes to"],
    ["selects", "selects"],
    ["owns", "owns"],
    ["uses", "used by"],
    ["claims", "claims"],
  ];
  return (
    <ul className="topo-legend" aria-label="Edge kinds">
      {edges.map(([kind, label]) => (
        <li key={kind}>
          <svg width="26" height="8" aria-hidden="true">
            <path className={`topo-edge edge-${kind}`} d="M1,4 L25,4" />
          </svg>
          {label}
        </li>
      ))}
    </ul>
  );
}

/** The topology graph. */
export function Topology(): React.JSX.Element {
  const namespace = useNamespace();
  const { input, watches } = useTopologyInput(namespace);
  const [forced, setForced] = useState<string | null>(null);
  const scope = namespace ?? "";
  const graph = useGraph(input);
  const allowed = graph.nodes.length <= MAX_NODES || forced === scope;
  const { layout, pending } = useLayout(graph, allowed);
  const syncing = watches.some(([, s]) => s.state === "syncing");

  return (
    <div className="topology">
      <header className="view-header topo-header">
        <h1>Topology</h1>
        <span className="muted">
          {namespace ? `Namespace ${namespace}` : "All namespaces"} · {graph.nodes.length} objects · {graph.edges.length} links
        </span>
        <span className="spacer" />
        <Legend />
      </header>
      <WatchTrouble watches={watches} />
      <div data-testid="topology" className="topo-body">
        {!allowed ? (
          <div className="card topo-too-big">
            <p>
              {graph.nodes.length} objects are too many to draw readably{namespace ? "" : " across all namespaces"}. Pick a
              namespace in the namespace selector to see how its objects connect.
            </p>
            <button
              type="button"
              onClick={() => {
                setForced(scope);
              }}
            >
              Draw all {graph.nodes.length} anyway (slow)
            </button>
          </div>
        ) : graph.nodes.length === 0 ? (
          <p className="muted">
            {syncing
              ? "Loading objects from the cluster…"
              : `Nothing to draw${namespace ? ` in ${namespace}` : ""}: create a Deployment and a Service to see them connect here.`}
          </p>
        ) : layout === null ? (
          <p className="muted">Laying out {graph.nodes.length} objects…</p>
        ) : (
          <>
            {pending && (
              <p className="topo-pending muted small" role="status">
                Laying out the changes…
              </p>
            )}
            <Canvas graph={graph} layout={layout} scope={scope} />
          </>
        )}
      </div>
    </div>
  );
}
