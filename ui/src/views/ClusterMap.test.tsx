// The cluster map's markup, rendered without a window (react-dom/server) from fixed rows: the
// highlight ring's attributes the Learn e2e reads, and the compact, namespace-narrowed embed.
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it, vi } from "vitest";
import type { HighlightRef } from "../state/highlight";
import type { ResourceSnapshot } from "../state/resources";
import { nodeRow, podRow } from "../test/fixtures";
import type { Row } from "../ipc/resources";

const state: { highlight: readonly HighlightRef[] } = { highlight: [] };

function snapshot(rows: Row[]): ResourceSnapshot {
  return { rows, byUid: new Map(rows.map((r) => [r.uid, r])), state: "live", error: null };
}

const rows: Record<string, ResourceSnapshot> = {
  nodes: snapshot([nodeRow("w1"), nodeRow("w2")]),
  pods: snapshot([
    podRow("web", { node: "w1" }, { namespace: "learn-pods", labels: { app: "web" } }),
    podRow("other", { node: "w2" }, { namespace: "default" }),
    podRow("big", { node: null, phase: "Pending", status: "Pending" }, { namespace: "default" }),
  ]),
  replicasets: snapshot([]),
};

vi.mock("../state/resources", () => ({ useResources: (resource: string) => rows[resource] }));
vi.mock("../state/highlight", async (original) => ({
  ...(await original<typeof import("../state/highlight")>()),
  useHighlight: () => state.highlight,
}));
vi.mock("../state/clusters", () => ({ useCurrentCluster: () => "local" }));
vi.mock("../shell/route", () => ({ useNamespace: () => null, navigate: vi.fn() }));
vi.mock("../actions/ActionsMenu", () => ({ ActionsMenu: () => null }));

const { ClusterMap } = await import("./ClusterMap");

describe("ClusterMap", () => {
  it("marks nothing and shows the legend by default", () => {
    state.highlight = [];
    const html = renderToStaticMarkup(<ClusterMap />);
    expect(html).not.toContain("data-highlighted");
    expect(html).toContain('data-testid="map-pod-other"');
    expect(html).toContain('data-testid="map-unscheduled"');
    expect(html).toContain("<h1>Cluster map</h1>");
    expect(html).toContain("Tile colours");
  });

  it("rings the highlighted pod and node", () => {
    state.highlight = [{ kind: "Pod", labels: { app: "web" } }, { kind: "Node", name: "w2" }];
    const html = renderToStaticMarkup(<ClusterMap />);
    expect(html).toMatch(/<button[^>]*class="tile[^"]* highlighted"[^>]*data-testid="map-pod-web"[^>]*data-highlighted="true"/);
    expect(html).not.toMatch(/data-testid="map-pod-other"[^>]*data-highlighted/);
    expect(html).toMatch(/<section class="map-node highlighted" data-testid="map-node-w2"[^>]*data-highlighted="true"/);
    expect(html).not.toMatch(/data-testid="map-node-w1"[^>]*data-highlighted/);
  });

  it("embeds compactly, narrowed to one namespace", () => {
    state.highlight = [];
    const html = renderToStaticMarkup(<ClusterMap compact namespace="learn-pods" />);
    expect(html).toContain('class="cluster-map compact"');
    expect(html).toContain("<h2>Cluster map</h2>");
    expect(html).not.toContain("Tile colours");
    expect(html).toContain('data-testid="map-pod-web"');
    expect(html).not.toContain('data-testid="map-pod-other"');
    // No unscheduled pods in the namespace: the empty lane is left out of the side pane.
    expect(html).not.toContain('data-testid="map-unscheduled"');
    expect(html).toContain('data-testid="map-node-w1"');
  });
});
