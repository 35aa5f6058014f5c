// The topology graph's layout: computed at once for small graphs, in a worker for big ones
// (showing the previous layout meanwhile), and only when the graph's shape changes.
import { useEffect, useRef, useState } from "react";
import { structureKey, type Graph } from "../state/topology";
import { layoutGraph, type Layout } from "../state/topologyLayout";

/** Up to this many boxes dagre answers within a frame or two: no worker round trip. */
const SYNC_UP_TO = 80;

let worker: Worker | null | undefined;
let nextId = 0;
const waiting = new Map<number, { graph: Graph; resolve: (layout: Layout) => void }>();

/** The layout of `graph`, from the worker; computed here when workers are unavailable or fail. */
function layoutElsewhere(graph: Graph): Promise<Layout> {
  if (worker === undefined) {
    try {
      worker = new Worker(new URL("../state/topologyLayout.worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = (event: MessageEvent<{ id: number; layout: Layout }>) => {
        waiting.get(event.data.id)?.resolve(event.data.layout);
        waiting.delete(event.data.id);
      };
      worker.onerror = () => {
        // Finish what was asked here, and stop using the worker.
        worker = null;
        for (const { graph: asked, resolve } of waiting.values()) resolve(layoutGraph(asked));
        waiting.clear();
      };
    } catch {
      worker = null;
    }
  }
  const current = worker;
  if (!current) return new Promise((resolve) => setTimeout(() => { resolve(layoutGraph(graph)); }, 0));
  const id = ++nextId;
  return new Promise((resolve) => {
    waiting.set(id, { graph, resolve });
    current.postMessage({ id, graph });
  });
}

/** The layout for `graph` (`null` until the first one is ready) and whether a newer one is coming. */
export function useLayout(graph: Graph, enabled: boolean): { layout: Layout | null; pending: boolean } {
  const key = enabled ? structureKey(graph) : null;
  const small = graph.nodes.length <= SYNC_UP_TO;
  const [placed, setPlaced] = useState<{ key: string; layout: Layout } | null>(null);
  const latest = useRef(graph);
  useEffect(() => {
    latest.current = graph;
  });

  let layout = placed?.layout ?? null;
  if (key !== null && small && placed?.key !== key) {
    layout = layoutGraph(graph);
    setPlaced({ key, layout });
  }

  // One layout in flight at a time; changes meanwhile are laid out together when it is done, and
  // each result is shown even if already outdated: under steady churn a big graph would
  // otherwise queue layouts without end, or never show one.
  const inFlight = useRef(false);
  const dirty = useRef(false);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  useEffect(() => {
    if (key === null || small) return;
    const run = () => {
      inFlight.current = true;
      dirty.current = false;
      const asked = latest.current;
      void layoutElsewhere(asked).then((next) => {
        inFlight.current = false;
        if (!mounted.current) return;
        setPlaced({ key: structureKey(asked), layout: next });
        if (dirty.current) run();
      });
    };
    if (inFlight.current) dirty.current = true;
    else run();
  }, [key, small]);

  return { layout: key === null ? null : layout, pending: key !== null && placed?.key !== key && !small };
}
