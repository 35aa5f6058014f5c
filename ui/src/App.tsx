// The window: sidebar, the routed view, the status bar; the command palette and the
// shortcuts overlay on top when open, and the first-launch tour.
import { lazy, Suspense, useCallback, useState } from "react";
import { Palette } from "./shell/Palette";
import { PluginPromptBanner } from "./shell/PluginPrompt";
import { useRoute, type Route } from "./shell/route";
import { ShortcutsHelp } from "./shell/ShortcutsHelp";
import { useGlobalShortcuts } from "./shell/shortcuts";
import { Sidebar } from "./shell/Sidebar";
import { StatusBar } from "./shell/StatusBar";
import { useClusterStatus, type StatusSnapshot } from "./state/clusterStatus";
import { statusOf, useClusterStatuses, useCurrentCluster } from "./state/clusters";
import { TourHost } from "./tour/TourHost";
import { ClusterMap } from "./views/ClusterMap";
import { EventsTimeline } from "./views/EventsTimeline";
import { Overview } from "./views/Overview";
import { ResourceTable } from "./views/ResourceTable";

// The heavier views load on first use, so the window opens on the map without parsing the
// YAML editor (CodeMirror), the terminal (xterm.js) or the graph layout (dagre) first.
const Details = lazy(() => import("./details/Details").then((m) => ({ default: m.Details })));
const Create = lazy(() => import("./create/Create").then((m) => ({ default: m.Create })));
const Topology = lazy(() => import("./views/Topology").then((m) => ({ default: m.Topology })));
const LearnPage = lazy(() => import("./learn/LearnPage").then((m) => ({ default: m.LearnPage })));

/** Which overlay has the keyboard, if any. */
type Overlay = "palette" | "shortcuts" | null;

/** The window: navigation on the left, the chosen view, the status bar along the bottom. */
export function App() {
  const status = useClusterStatus();
  const cluster = useCurrentCluster();
  const statuses = useClusterStatuses();
  const route = useRoute();
  const [overlay, setOverlay] = useState<Overlay>(null);
  const close = useCallback(() => {
    setOverlay(null);
  }, []);
  const openPalette = useCallback(() => {
    setOverlay("palette");
  }, []);
  const showShortcuts = useCallback(() => {
    setOverlay("shortcuts");
  }, []);
  const togglePalette = useCallback(() => {
    setOverlay((o) => (o === "palette" ? null : "palette"));
  }, []);
  useGlobalShortcuts({ togglePalette, showShortcuts });
  return (
    <div className="shell">
      <Sidebar status={status} onOpenPalette={openPalette} onShowShortcuts={showShortcuts} />
      <main className={`main main-${route.view}`} data-testid={`view-${route.view}`}>
        <PluginPromptBanner status={statusOf(statuses, cluster)} />
        {/* Keyed by cluster: a switch starts every view afresh (no rows, tiles or edits of the other cluster). */}
        <Suspense key={cluster} fallback={<p className="muted">Loading…</p>}>
          <RoutedView route={route} status={status} />
        </Suspense>
      </main>
      <StatusBar status={status} />
      {overlay === "palette" && <Palette onClose={close} onShowShortcuts={showShortcuts} />}
      {overlay === "shortcuts" && <ShortcutsHelp onClose={close} />}
      <TourHost />
    </div>
  );
}

function RoutedView({ route, status }: { route: Route; status: StatusSnapshot }) {
  switch (route.view) {
    case "map":
      return <ClusterMap />;
    case "browse":
      return <ResourceTable key={route.resource} resource={route.resource} />;
    case "details":
      return <Details key={`${route.resource}/${route.namespace ?? ""}/${route.name}`} route={route} />;
    case "topology":
      return <Topology />;
    case "events":
      return <EventsTimeline />;
    case "create":
      return route.template === undefined ? <Create /> : <Create template={route.template} />;
    case "overview":
      return <Overview status={status} />;
    case "learn":
      return route.lesson === undefined ? <LearnPage /> : <LearnPage lesson={route.lesson} />;
  }
}
