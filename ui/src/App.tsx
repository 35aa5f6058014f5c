import { useState } from "react";
import { Sidebar } from "./shell/Sidebar";
import { StatusBar } from "./shell/StatusBar";
import { useGlobalShortcuts } from "./shell/shortcuts";
import { VIEWS } from "./shell/views";
import { useClusterStatus } from "./state/clusterStatus";

/** The window: navigation on the left, the chosen view, the status bar along the bottom. */
export function App() {
  const status = useClusterStatus();
  const [viewId, setViewId] = useState(VIEWS[0].id);
  useGlobalShortcuts();
  const view = VIEWS.find((v) => v.id === viewId) ?? VIEWS[0];
  const View = view.component;
  return (
    <div className="shell">
      <Sidebar status={status} viewId={view.id} onSelect={setViewId} />
      <main className="main" aria-label={view.label} data-testid={`view-${view.id}`}>
        <View status={status} />
      </main>
      <StatusBar status={status} />
    </div>
  );
}
