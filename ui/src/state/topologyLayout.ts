// Places the topology graph left to right with dagre: owners and routers on the left, pods in
// the middle, what pods mount on the right. Kept apart from the graph so the graph's tests need
// no layout and the layout reruns only when the graph's shape changes (see `structureKey`).
import dagre, { type EdgeLabel, type GraphLabel, type NodeLabel } from "@dagrejs/dagre";
import type { Graph } from "./topology";

/** Every graph node is drawn as a box this size. */
export const NODE_WIDTH = 190;
export const NODE_HEIGHT = 46;

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface Layout {
  /** Top-left corners by node id. */
  readonly positions: ReadonlyMap<string, Point>;
  /** Polyline points by `from>to`. */
  readonly edges: ReadonlyMap<string, readonly Point[]>;
  readonly width: number;
  readonly height: number;
}

/** Where every node and edge goes. */
export function layoutGraph(graph: Graph): Layout {
  const g = new dagre.graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>();
  // network-simplex ranks most compactly but its cost climbs steeply; past a few hundred boxes
  // longest-path keeps the layout under a second.
  const ranker = graph.nodes.length > 150 ? "longest-path" : "network-simplex";
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 80, marginx: 20, marginy: 20, ranker });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const edge of graph.edges) {
    if (edge.from !== edge.to) g.setEdge(edge.from, edge.to);
  }
  dagre.layout(g);

  const positions = new Map<string, Point>();
  for (const id of g.nodes()) {
    const label = g.node(id);
    positions.set(id, { x: (label.x ?? 0) - NODE_WIDTH / 2, y: (label.y ?? 0) - NODE_HEIGHT / 2 });
  }
  const edges = new Map<string, readonly Point[]>();
  for (const e of g.edges()) {
    edges.set(`${e.v}>${e.w}`, g.edge(e).points ?? []);
  }
  const size = g.graph();
  return { positions, edges, width: size.width ?? 0, height: size.height ?? 0 };
}
