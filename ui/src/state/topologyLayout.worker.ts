// Runs the topology layout off the main thread: dagre takes a second or more for a few hundred
// boxes, which would freeze the window while pods come and go.
import type { Graph } from "./topology";
import { layoutGraph } from "./topologyLayout";

self.onmessage = (event: MessageEvent<{ id: number; graph: Graph }>) => {
  const { id, graph } = event.data;
  self.postMessage({ id, layout: layoutGraph(graph) });
};
